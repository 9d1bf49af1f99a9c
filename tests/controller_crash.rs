//! Crash safety: the controller process dies at every point between "remote call
//! sent" and "status written" (failpoints abort the process there, as close to a
//! SIGKILL as a process can do to itself), or the provider's response is lost
//! (the emulator commits the change and drops the connection). After a restart:
//! exactly one remote client, and the Secret holds credentials the provider
//! accepts.
//!
//! The crash points of every create and rotation run for every provider in the
//! behaviour suite (`tests/provider_behaviour.rs`); here are the Cloudflare-only
//! paths of a lost rotation (a provider that generates secrets) and their recovery.

mod support;

use std::time::Duration;

use serde_json::json;
use support::scenario::{Scenario, rotated_for};

const CRASH_WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_lost_rotate_response_ends_with_a_working_secret_and_one_rotation_state() {
    let s = Scenario::new("lost-rotate", &[]).await;
    s.apply_client("app", json!({"rotation": {"gracePeriod": "1h"}}))
        .await;
    s.wait_ready("app").await;
    let before = s.assert_working("app").await;
    s.emu
        .set_faults(
            json!({"p_drop_after_commit": 1.0, "methods": ["POST"], "path": "rotate_secret"}),
        )
        .await;
    s.annotate("app", "clientops.dev/rotate", "r1").await;
    // The rotation took effect but its response is lost: the Secret must keep
    // working meanwhile (the old secret is still valid at the provider).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = s.assert_working("app").await;
    assert_eq!(during.secret, before.secret);
    s.emu.clear_faults().await;
    s.wait_until("app", CRASH_WAIT, "rotated", |o| rotated_for(o, "r1"))
        .await;
    let after = s.assert_working("app").await;
    assert_ne!(after.secret, before.secret);
    assert_eq!(s.remote_count().await, 1);
}

/// Found by the chaos suite: a spec edit between a lost create and its resolution
/// must not hide the client that create made (it is matched by what was sent).
#[tokio::test]
async fn a_lost_create_followed_by_a_rename_still_adopts_the_client_it_made() {
    let s = Scenario::new("lost-create-rename", &[]).await;
    s.apply_losing_the_create_response("app", json!({})).await;
    s.apply_client("app", json!({"clientName": "Renamed meanwhile", "redirectUris": ["https://app.example.com/other"]}))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.emu.clear_faults().await;
    s.wait_ready("app").await;
    assert_eq!(
        s.remote_count().await,
        1,
        "the rename must not lead to a second client"
    );
    let listed = serde_json::to_string(&s.emu.clients().await).unwrap();
    assert!(
        listed.contains("Renamed meanwhile"),
        "the adopted client is updated to the new spec: {listed}"
    );
    s.assert_working("app").await;
}

/// Found by the chaos suite: a lost rotate response is recovered by retiring the
/// secret the Secret holds and rotating again. A crash (or a failed rotate) between
/// those two steps must not later publish that retired secret as the previous one
/// "valid during grace": it no longer works anywhere.
#[tokio::test]
async fn a_crash_inside_lost_rotation_recovery_never_publishes_the_retired_secret() {
    let mut s = Scenario::new("recovery-crash", &[]).await;
    s.apply_client("app", json!({"rotation": {"gracePeriod": "1h"}}))
        .await;
    s.wait_ready("app").await;
    let before = s.assert_working("app").await;
    let id = before.client_id.clone().unwrap();
    s.ctl
        .restart(&[("CLIENTOPS_FAILPOINTS", "after-recovery-retire")]);
    s.emu
        .set_faults(
            json!({"p_drop_after_commit": 1.0, "methods": ["POST"], "path": "rotate_secret"}),
        )
        .await;
    s.annotate("app", "clientops.dev/rotate", "r1").await;
    assert!(
        s.ctl.wait_exit(CRASH_WAIT).await,
        "the recovery never reached its retire step; log:\n{}",
        s.ctl.logs()
    );
    s.emu.clear_faults().await;
    s.ctl.restart(&[]);
    s.wait_until("app", CRASH_WAIT, "rotated", |o| rotated_for(o, "r1"))
        .await;
    let after = s.assert_working("app").await;
    assert_ne!(after.secret, before.secret);
    assert!(
        !s.emu.check(&id, before.secret.as_deref().unwrap()).await,
        "the recovery retired the old secret"
    );
    if let Some(prev) = &after.previous {
        assert_ne!(
            Some(prev),
            before.secret.as_ref(),
            "the retired secret is published as the previous one"
        );
        assert!(
            s.emu.check(&id, prev).await,
            "a published previous secret must work"
        );
    }
    assert_eq!(s.remote_count().await, 1);
}
