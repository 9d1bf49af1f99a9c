//! Runs the official Cloudflare Python SDK (`cloudflare==5.9.0`, pinned in
//! tests/conformance/requirements.txt) through the whole OAuth client lifecycle
//! against the emulator: tests/conformance/run. Needs python3 and PyPI the first
//! time (the venv is cached under ~/.cache/clientops).

use std::process::Command;

#[test]
fn official_python_sdk_conforms() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tests/conformance/run"))
        .current_dir(root)
        .env("CLIENTOPS_BIN", env!("CARGO_BIN_EXE_clientops"))
        .output()
        .expect("running tests/conformance/run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/conformance/run failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // pytest's summary, e.g. "13 passed in 1.45s"; make sure tests really ran.
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains(" passed"))
        .unwrap_or_else(|| panic!("no pytest summary in:\n{stdout}"));
    assert!(!summary.contains("failed"), "{summary}");
    eprintln!("SDK conformance: {summary}");
}
