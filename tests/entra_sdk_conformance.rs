//! Runs Microsoft's JavaScript Graph client (`@microsoft/microsoft-graph-client`
//! 3.0.7, pinned in tests/conformance/entra/package-lock.json), unmodified,
//! through the application lifecycle against `clientops emulate entra` over
//! https: tests/conformance/run-entra. Needs node and npm, and the npm registry
//! the first time (the install is cached under ~/.cache/clientops).

use std::process::Command;

#[test]
fn microsoft_graph_javascript_client_conforms() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new("bash")
        .arg(format!("{root}/tests/conformance/run-entra"))
        .current_dir(root)
        .env("CLIENTOPS_BIN", env!("CARGO_BIN_EXE_clientops"))
        .output()
        .expect("running tests/conformance/run-entra");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/conformance/run-entra failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    // The script's summary, e.g. "16 passed"; make sure the steps really ran.
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.ends_with(" passed"))
        .unwrap_or_else(|| panic!("no summary in:\n{stdout}"));
    let n: usize = summary
        .trim_end_matches(" passed")
        .parse()
        .unwrap_or_else(|_| panic!("unreadable summary {summary:?}"));
    assert!(n >= 16, "only {n} steps ran:\n{stdout}");
    eprintln!("Graph client conformance: {summary}");
}
