//! The README's first command works: `scripts/demo --check` brings up the control
//! plane, the emulator and the controller, applies examples/, waits for Ready and
//! proves the Secret's credentials work, then cleans up.

#[test]
fn the_local_demo_runs_and_its_credentials_work() {
    let out = std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/demo"))
        .arg("--check")
        .env_remove("KUBECONFIG")
        .output()
        .expect("run scripts/demo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "scripts/demo --check failed:\n{text}");
    assert!(text.contains("\"valid\":true"), "{text}");
    assert!(text.contains("demo check passed"), "{text}");
}
