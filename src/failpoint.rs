//! Crash points for the crash-safety tests.
//!
//! `CLIENTOPS_FAILPOINTS=after-create-call,after-rotate-call` makes the process abort
//! (no cleanup, no flushing: as close to SIGKILL as a process can do to itself) the
//! first time it reaches one of the named points. Unset, a point costs one atomic
//! load.

use std::sync::OnceLock;

/// Every point, in the order a create or rotation passes them.
pub const POINTS: &[&str] = &[
    "after-pending-create",
    "after-create-call",
    "after-create-secret-write",
    "after-pending-rotation",
    "after-rotate-call",
    "after-rotate-secret-write",
    "after-retire-call",
    "after-recovery-retire",
];

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("CLIENTOPS_FAILPOINTS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Abort here if `name` is armed.
pub fn hit(name: &str) {
    if armed().iter().any(|p| p == name) {
        eprintln!("clientops: failpoint {name} reached: aborting");
        std::process::abort();
    }
}
