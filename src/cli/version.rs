//! `clientops --version`: the crate version, the commit it was built from and the
//! build date. `scripts/release` passes the commit (`CLIENTOPS_COMMIT`) and the
//! commit's own date (`SOURCE_DATE_EPOCH`), never the clock, so two builds of one
//! commit print the same and are byte for byte the same binary. A plain
//! `cargo build` has neither and says so.

use std::sync::OnceLock;

/// The version line after the program name, e.g.
/// `0.1.0 (commit 41f439f…, built 2026-12-07T04:45:12Z)`.
pub fn long_version() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| {
        describe(
            env!("CARGO_PKG_VERSION"),
            option_env!("CLIENTOPS_COMMIT"),
            option_env!("SOURCE_DATE_EPOCH"),
        )
    })
}

/// The version line from the build's inputs; an absent or empty input is `unknown`.
fn describe(version: &str, commit: Option<&str>, source_date_epoch: Option<&str>) -> String {
    let commit = commit.filter(|c| !c.is_empty()).unwrap_or("unknown");
    let built = match source_date_epoch.filter(|s| !s.is_empty()) {
        None => "unknown".to_string(),
        Some(secs) => match secs.parse().ok().and_then(date) {
            Some(date) => date,
            None => format!("invalid SOURCE_DATE_EPOCH {secs:?}"),
        },
    };
    format!("{version} (commit {commit}, built {built})")
}

/// Seconds since the epoch as an RFC 3339 UTC date, to the second.
fn date(secs: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(secs, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn a_release_build_names_its_commit_and_the_commit_date() {
        assert_eq!(
            describe("0.1.0", Some("41f439f0c2"), Some("1796618712")),
            "0.1.0 (commit 41f439f0c2, built 2026-12-07T04:45:12Z)"
        );
    }

    #[test]
    fn a_plain_cargo_build_says_what_it_does_not_know() {
        assert_eq!(
            describe("0.1.0", None, Some("")),
            "0.1.0 (commit unknown, built unknown)"
        );
        assert_eq!(
            describe("0.1.0", Some(""), Some("yesterday")),
            "0.1.0 (commit unknown, built invalid SOURCE_DATE_EPOCH \"yesterday\")"
        );
    }
}
