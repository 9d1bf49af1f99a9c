//! The controller behaviours every provider shares, run against each provider's
//! emulator (Cloudflare and VMware CSP), plus what only CSP has: the old secret
//! expiring by itself, bulk delete's partial failure, and access tokens expiring
//! mid-run.

mod support;

use std::time::Duration;

use serde_json::json;
use support::scenario::{Kind, Scenario, condition, is_ready, rotated_for};

async fn scenario(kind: Kind, prefix: &str, env: &[(&str, &str)]) -> Scenario {
    Scenario::for_provider(kind, prefix, env, &[]).await
}

fn rotation_phase(
    o: &clientops::api::OAuthClient,
) -> Option<clientops::api::client::RotationPhase> {
    o.status.as_ref()?.rotation.as_ref()?.phase
}

async fn lifecycle(kind: Kind) {
    let s = scenario(kind, "lifecycle", &[]).await;
    s.apply_client("app", json!({})).await;
    let o = s.wait_ready("app").await;
    let c = s.assert_working("app").await;
    assert_eq!(c.client_id, o.status.unwrap().client_id);
    assert_eq!(s.remote_count().await, 1);

    // An edit reaches the provider; no second client.
    s.apply_client("app", json!({"clientName": "App renamed"}))
        .await;
    s.wait_ready("app").await;
    let listed = serde_json::to_string(&s.emu.clients().await).unwrap();
    assert!(
        listed.contains("App renamed"),
        "{kind:?}: the rename did not reach the provider: {listed}"
    );
    assert_eq!(s.remote_count().await, 1);

    s.delete_client("app").await;
    s.wait_gone("app").await;
    assert_eq!(
        s.remote_count().await,
        0,
        "{kind:?}: deletionPolicy Delete removes the remote client"
    );
}

async fn rotation_with_grace(kind: Kind) {
    let s = scenario(kind, "rotation", &[]).await;
    s.apply_client("app", json!({"rotation": {"gracePeriod": "1h"}}))
        .await;
    s.wait_ready("app").await;
    let before = s.assert_working("app").await;
    s.annotate("app", "clientops.dev/rotate", "r1").await;
    s.wait_until("app", Duration::from_secs(60), "rotated", |o| {
        is_ready(o) && rotation_phase(o) == Some(clientops::api::client::RotationPhase::Retiring)
    })
    .await;
    let after = s.assert_working("app").await;
    let id = after.client_id.clone().unwrap();
    assert_ne!(after.secret, before.secret);
    assert_eq!(
        after.previous, before.secret,
        "{kind:?}: the previous secret is published during grace"
    );
    assert!(
        s.emu.check(&id, before.secret.as_deref().unwrap()).await,
        "{kind:?}: the previous secret works during grace"
    );

    s.annotate("app", "clientops.dev/retire-previous", "now")
        .await;
    s.wait_until("app", Duration::from_secs(60), "retired", |o| {
        is_ready(o) && rotation_phase(o) == Some(clientops::api::client::RotationPhase::Idle)
    })
    .await;
    let retired = s.assert_working("app").await;
    assert!(retired.previous.is_none());
    assert!(
        !s.emu.check(&id, before.secret.as_deref().unwrap()).await,
        "{kind:?}: the retired secret no longer works"
    );
    let secret = s.secret("app").await.unwrap();
    assert!(
        !secret
            .data
            .unwrap()
            .contains_key("clientops.pending-secret"),
        "no pending secret is left behind"
    );
}

async fn crash_at(kind: Kind, point: &str) {
    let mut s = scenario(kind, "crash", &[]).await;
    let rotating = point.contains("rotat");
    if rotating {
        s.apply_client("app", json!({"rotation": {"gracePeriod": "1h"}}))
            .await;
        s.wait_ready("app").await;
    }
    s.ctl.restart(&[("CLIENTOPS_FAILPOINTS", point)]);
    if rotating {
        s.annotate("app", "clientops.dev/rotate", "r1").await;
    } else {
        s.apply_client("app", json!({})).await;
    }
    assert!(
        s.ctl.wait_exit(Duration::from_secs(60)).await,
        "{kind:?} {point}: the failpoint was not reached; log:\n{}",
        s.ctl.logs()
    );
    s.ctl.restart(&[]);
    s.wait_until("app", Duration::from_secs(60), "settled", |o| {
        if rotating {
            rotated_for(o, "r1")
        } else {
            is_ready(o)
        }
    })
    .await;
    assert_eq!(
        s.remote_count().await,
        1,
        "{kind:?} {point}: exactly one remote client"
    );
    s.assert_working("app").await;
}

async fn lost_create_response(kind: Kind) {
    let s = scenario(kind, "lost-create", &[]).await;
    s.apply_losing_the_create_response("app", json!({})).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    s.emu.clear_faults().await;
    s.wait_ready("app").await;
    assert_eq!(
        s.remote_count().await,
        1,
        "{kind:?}: a lost response never leads to a second client"
    );
    s.assert_working("app").await;
}

#[tokio::test]
async fn cloudflare_lifecycle() {
    lifecycle(Kind::Cloudflare).await;
}
#[tokio::test]
async fn csp_lifecycle() {
    lifecycle(Kind::Csp).await;
}
#[tokio::test]
async fn cloudflare_rotation_with_grace() {
    rotation_with_grace(Kind::Cloudflare).await;
}
#[tokio::test]
async fn csp_rotation_with_grace() {
    rotation_with_grace(Kind::Csp).await;
}
#[tokio::test]
async fn cloudflare_crash_after_create_call() {
    crash_at(Kind::Cloudflare, "after-create-call").await;
}
#[tokio::test]
async fn csp_crash_after_create_call() {
    crash_at(Kind::Csp, "after-create-call").await;
}
#[tokio::test]
async fn csp_crash_after_create_secret_write() {
    crash_at(Kind::Csp, "after-create-secret-write").await;
}
#[tokio::test]
async fn cloudflare_crash_after_rotate_call() {
    crash_at(Kind::Cloudflare, "after-rotate-call").await;
}
#[tokio::test]
async fn csp_crash_after_rotate_call() {
    crash_at(Kind::Csp, "after-rotate-call").await;
}
#[tokio::test]
async fn csp_crash_after_recording_the_rotation() {
    crash_at(Kind::Csp, "after-pending-rotation").await;
}
#[tokio::test]
async fn cloudflare_lost_create_response() {
    lost_create_response(Kind::Cloudflare).await;
}
#[tokio::test]
async fn csp_lost_create_response() {
    lost_create_response(Kind::Csp).await;
}

#[tokio::test]
async fn csp_previous_secret_expires_without_retirement() {
    let s = scenario(Kind::Csp, "csp-expiry", &[]).await;
    s.apply_client("app", json!({"rotation": {"gracePeriod": "1h"}}))
        .await;
    s.wait_ready("app").await;
    let before = s.assert_working("app").await;
    s.annotate("app", "clientops.dev/rotate", "r1").await;
    s.wait_until("app", Duration::from_secs(60), "rotated", |o| {
        is_ready(o) && rotation_phase(o) == Some(clientops::api::client::RotationPhase::Retiring)
    })
    .await;
    let id = before.client_id.clone().unwrap();
    assert!(s.emu.check(&id, before.secret.as_deref().unwrap()).await);
    // CSP retires the old secret itself when the rotation's expiry (the grace
    // period clientops sent) passes.
    s.emu.advance_clock("2h").await;
    assert!(
        !s.emu.check(&id, before.secret.as_deref().unwrap()).await,
        "the old secret expired at the provider"
    );
    s.assert_working("app").await;
}

#[tokio::test]
async fn csp_bulk_delete_partial_failure_is_reported_and_retried() {
    let s = scenario(Kind::Csp, "csp-bulk", &[]).await;
    s.apply_client("app", json!({})).await;
    let id = s.wait_ready("app").await.status.unwrap().client_id.unwrap();
    s.emu
        .admin(
            reqwest::Method::POST,
            &format!("clients/{id}/immutable"),
            Some(json!({"immutable": true})),
        )
        .await;
    s.delete_client("app").await;
    let o = s
        .wait_until(
            "app",
            Duration::from_secs(30),
            "reporting the failed delete",
            |o| condition(o, "Ready").is_some_and(|c| c.message.contains("delete")),
        )
        .await;
    assert!(
        o.metadata.deletion_timestamp.is_some(),
        "the finalizer holds the object while the remote client lives"
    );
    assert_eq!(s.remote_count().await, 1);
    s.emu
        .admin(
            reqwest::Method::POST,
            &format!("clients/{id}/immutable"),
            Some(json!({"immutable": false})),
        )
        .await;
    s.wait_gone("app").await;
    assert_eq!(s.remote_count().await, 0);
}

#[tokio::test]
async fn csp_access_token_expiry_mid_run_is_handled() {
    let s = scenario(Kind::Csp, "csp-token", &[]).await;
    s.apply_client("app", json!({})).await;
    s.wait_ready("app").await;
    s.emu
        .admin(reqwest::Method::POST, "tokens/expire", None)
        .await;
    s.apply_client("app", json!({"clientName": "After token expiry"}))
        .await;
    s.wait_ready("app").await;
    let listed = serde_json::to_string(&s.emu.clients().await).unwrap();
    assert!(listed.contains("After token expiry"));
    s.assert_working("app").await;
}
