//! Secret rotation end to end beyond what every provider shares (rotation with
//! grace, retire-previous, a grace period ending by itself, deleting during grace
//! and rotating an import are in the behaviour suite, tests/provider_behaviour.rs):
//! what a rotation records and stamps, the schedule, back-to-back and burst
//! requests, edits during grace, publishPrevious, and the CLI. A real apiserver,
//! the Cloudflare emulator over real HTTP and `clientops run` as a process. Every
//! step checks with the emulator that the Secret's current secret (and, during grace,
//! the previous one) works, and that a retired secret no longer does. Durations
//! are short (`gracePeriod: 3s`); the schedule is exercised by moving
//! `status.rotation.lastRotatedAt` into the past (the CRD requires `every >= 1h`).

mod support;

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use clientops::api::OAuthClient;
use clientops::api::client::{RotationPhase, RotationStatus};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use reqwest::Method;
use serde_json::{Value, json};
use support::scenario::{ACCOUNT, Scenario, is_ready};

const WAIT: Duration = Duration::from_secs(60);
const ROTATE: &str = "clientops.dev/rotate";
const RETIRE: &str = "clientops.dev/retire-previous";
const ROTATED_AT: &str = "clientops.dev/rotated-at";
/// The field manager this file's own annotation patches use, so managedFields
/// show who wrote the trigger annotations.
const MANAGER: &str = "rotation-test";

fn rotation(o: &OAuthClient) -> RotationStatus {
    o.status
        .clone()
        .unwrap_or_default()
        .rotation
        .unwrap_or_default()
}

fn phase(o: &OAuthClient) -> Option<RotationPhase> {
    rotation(o).phase
}

/// Set an annotation the way `kubectl annotate --overwrite` does, as [`MANAGER`].
async fn annotate(s: &Scenario, name: &str, key: &str, value: &str) {
    let patch = json!({"metadata": {"annotations": {key: value}}});
    s.api()
        .patch(
            name,
            &PatchParams {
                field_manager: Some(MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(patch),
        )
        .await
        .expect("annotate");
}

/// Wait until the rotate request `value` is handled and the object is Ready again.
async fn wait_rotated(s: &Scenario, name: &str, value: &str) -> OAuthClient {
    s.wait_until(name, WAIT, &format!("rotated for {value}"), |o| {
        is_ready(o)
            && rotation(o).last_request.as_deref() == Some(value)
            && o.status
                .as_ref()
                .is_some_and(|s| s.pending_rotation.is_none())
    })
    .await
}

async fn wait_idle(s: &Scenario, name: &str, timeout: Duration) -> OAuthClient {
    s.wait_until(name, timeout, "Idle", |o| {
        is_ready(o) && phase(o) == Some(RotationPhase::Idle)
    })
    .await
}

/// Notes of this object's events with `reason`.
async fn events(s: &Scenario, name: &str, reason: &str) -> Vec<String> {
    let api: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    api.list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
        })
        .filter_map(|e| e.note)
        .collect()
}

/// Wait until at least `n` events with `reason` exist (events are published after
/// the status write, so they may trail it a little).
async fn wait_events(s: &Scenario, name: &str, reason: &str, n: usize) -> Vec<String> {
    let got = support::wait_for(Duration::from_secs(15), || async {
        let e = events(s, name, reason).await;
        (e.len() >= n).then_some(e)
    })
    .await;
    match got {
        Some(e) => e,
        None => panic!(
            "fewer than {n} {reason} events for {name}: {:?}",
            events(s, name, reason).await
        ),
    }
}

/// The emulator's count of answered (`200`) calls of one operation.
async fn ok_calls(s: &Scenario, operation: &str) -> u64 {
    let r = s.emu.admin(Method::GET, "requests", None).await;
    r["operations"][operation]["by_status"]["200"]
        .as_u64()
        .unwrap_or(0)
}

async fn secret_annotation(s: &Scenario, secret: &str, key: &str) -> Option<String> {
    s.secret(secret)
        .await
        .and_then(|sec| sec.annotations().get(key).cloned())
}

async fn secret_version(s: &Scenario, secret: &str) -> String {
    s.secret(secret)
        .await
        .and_then(|sec| sec.resource_version())
        .expect("Secret resourceVersion")
}

/// Assert that every managedFields entry owning `annotation` belongs to `allowed`:
/// the controller never writes the trigger annotations.
fn assert_annotation_owned_only_by(o: &OAuthClient, annotation: &str, allowed: &[&str]) {
    for mf in o.metadata.managed_fields.iter().flatten() {
        let fields = mf
            .fields_v1
            .as_ref()
            .map(|f| f.0.to_string())
            .unwrap_or_default();
        if fields.contains(&format!("f:{annotation}")) {
            let manager = mf.manager.as_deref().unwrap_or_default();
            assert!(
                allowed.contains(&manager),
                "{annotation} is owned by field manager {manager:?}: the controller must never write it"
            );
        }
    }
}

/// A client with `grace`, Ready, and its first credentials (which work).
async fn ready_client(s: &Scenario, name: &str, extra: Value) -> (OAuthClient, String, String) {
    s.apply_client(name, extra).await;
    let o = s.wait_ready(name).await;
    let c = s.assert_working(name).await;
    let id = c.client_id.unwrap();
    assert_eq!(phase(&o), Some(RotationPhase::Idle));
    (o, id, c.secret.unwrap())
}

#[tokio::test]
async fn an_on_demand_rotation_publishes_the_new_secret_and_keeps_the_old_one_working_during_grace()
{
    let s = Scenario::new("rot-demand", &[]).await;
    let (_, id, original) =
        ready_client(&s, "app", json!({"rotation": {"gracePeriod": "1h"}})).await;
    let stamp_before = secret_annotation(&s, "app", ROTATED_AT).await;
    assert!(stamp_before.is_some(), "the create stamps rotated-at");

    let requested = Utc::now();
    annotate(&s, "app", ROTATE, "r1").await;
    let o = wait_rotated(&s, "app", "r1").await;

    // The Secret: the new secret, and the old one as the previous secret.
    let c = s.assert_working("app").await;
    assert_eq!(c.client_id.as_deref(), Some(id.as_str()));
    let new = c.secret.clone().unwrap();
    assert_ne!(new, original, "a new secret was issued");
    assert_eq!(
        c.previous.as_deref(),
        Some(original.as_str()),
        "the previous secret is published during grace"
    );
    assert!(
        s.emu.check(&id, &original).await,
        "the previous secret still works during grace"
    );
    assert!(s.emu.check(&id, &new).await);

    // Status: Retiring until now + grace.
    let r = rotation(&o);
    assert_eq!(r.phase, Some(RotationPhase::Retiring));
    let retires_at = clientops::controller::plan::parse_time(
        r.previous_retires_at
            .as_deref()
            .expect("status.rotation.previousRetiresAt"),
    )
    .unwrap();
    let expect = requested + chrono::Duration::hours(1);
    assert!(
        (retires_at - expect).num_seconds().abs() <= 30,
        "previousRetiresAt {retires_at} is about an hour after the request ({expect})"
    );
    let last =
        clientops::controller::plan::parse_time(r.last_rotated_at.as_deref().unwrap()).unwrap();
    assert!((last - requested).num_seconds().abs() <= 30);

    // The Secret write that carried the new secret changed rotated-at.
    let stamp_after = secret_annotation(&s, "app", ROTATED_AT).await;
    assert!(stamp_after.is_some());
    assert_ne!(
        stamp_after, stamp_before,
        "rotated-at changes with a new secret"
    );

    // An event says what happened, and never shows a secret.
    let notes = wait_events(&s, "app", "Rotated", 1).await;
    assert!(
        notes.iter().any(|n| n.contains(&id) && n.contains("r1")),
        "{notes:?}"
    );
    for n in &notes {
        assert!(!n.contains(&new) && !n.contains(&original));
    }
    // No secret value in status either.
    let status_json = serde_json::to_string(&o.status).unwrap();
    assert!(!status_json.contains(&new) && !status_json.contains(&original));

    // Exactly one rotation at the provider, and it stays that way.
    assert_eq!(ok_calls(&s, "rotate_secret").await, 1);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        ok_calls(&s, "rotate_secret").await,
        1,
        "the request is handled once"
    );
    assert_eq!(s.creds("app").await.secret.as_deref(), Some(new.as_str()));

    // The controller never touched the annotation.
    let o = s.get("app").await.unwrap();
    assert_eq!(o.annotations().get(ROTATE).map(String::as_str), Some("r1"));
    assert_annotation_owned_only_by(&o, ROTATE, &[MANAGER]);
    assert_eq!(s.remote_count().await, 1);
}

#[tokio::test]
async fn a_retire_request_made_while_idle_does_not_cut_the_next_grace_period_short() {
    let s = Scenario::new("rot-stale-retire", &[]).await;
    let (_, id, original) =
        ready_client(&s, "app", json!({"rotation": {"gracePeriod": "1h"}})).await;
    // Nothing is retiring: the request has nothing to do, and is recorded as handled.
    annotate(&s, "app", RETIRE, "early").await;
    s.wait_until("app", WAIT, "retire request recorded", |o| {
        is_ready(o) && rotation(o).last_retire_request.as_deref() == Some("early")
    })
    .await;
    assert_eq!(ok_calls(&s, "delete_rotated_secret").await, 0);
    // A later rotation keeps its full grace period.
    annotate(&s, "app", ROTATE, "r1").await;
    wait_rotated(&s, "app", "r1").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let o = s.get("app").await.unwrap();
    assert_eq!(phase(&o), Some(RotationPhase::Retiring));
    let c = s.assert_working("app").await;
    assert_eq!(c.previous.as_deref(), Some(original.as_str()));
    assert!(
        s.emu.check(&id, &original).await,
        "a stale retire-previous value must not retire the new rotation's previous secret"
    );
}

#[tokio::test]
async fn a_scheduled_rotation_happens_when_every_has_elapsed_since_the_last_one() {
    // A 10 minute resync: the controller must wake up when the rotation is due.
    let s = Scenario::with_controller_args("rot-schedule", &[], &["--resync", "10m"]).await;
    let (_, id, original) = ready_client(
        &s,
        "app",
        json!({"rotation": {"every": "1h", "gracePeriod": "3s"}}),
    )
    .await;
    // Nothing happens before the schedule says so.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ok_calls(&s, "rotate_secret").await, 0);

    // Pretend the last rotation was 1h - 4s ago: due in 4 seconds.
    let due = Utc::now() + chrono::Duration::seconds(4);
    let past = (due - chrono::Duration::hours(1)).to_rfc3339_opts(SecondsFormat::Secs, true);
    // Truncated to seconds, like the controller writes it.
    let due = clientops::controller::plan::parse_time(&past).unwrap() + chrono::Duration::hours(1);
    s.api()
        .patch_status(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"rotation": {"lastRotatedAt": past}}})),
        )
        .await
        .expect("patch status.rotation.lastRotatedAt");
    let o = s
        .wait_until("app", Duration::from_secs(30), "rotated on schedule", |o| {
            rotation(o).last_rotated_at.as_deref() != Some(past.as_str())
                && phase(o) == Some(RotationPhase::Retiring)
        })
        .await;
    let rotated_at =
        clientops::controller::plan::parse_time(rotation(&o).last_rotated_at.as_deref().unwrap())
            .unwrap();
    assert!(
        rotated_at >= due - chrono::Duration::seconds(1),
        "rotated at {rotated_at}, before it was due at {due}"
    );
    assert!(
        rotated_at - due < chrono::Duration::seconds(4),
        "rotated at {rotated_at}, long after it was due at {due}: the controller must requeue at the due time"
    );
    assert_eq!(
        rotation(&o).last_request,
        None,
        "a scheduled rotation is not a request"
    );
    let c = s.assert_working("app").await;
    assert_ne!(c.secret.as_deref(), Some(original.as_str()));
    assert_eq!(c.previous.as_deref(), Some(original.as_str()));
    assert!(
        s.emu.check(&id, &original).await,
        "grace after a scheduled rotation"
    );
    let notes = wait_events(&s, "app", "Rotated", 1).await;
    assert!(notes.iter().any(|n| n.contains("scheduled")), "{notes:?}");

    // The grace period ends; the next rotation is an hour away, so nothing more.
    wait_idle(&s, "app", Duration::from_secs(20)).await;
    assert!(!s.emu.check(&id, &original).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(ok_calls(&s, "rotate_secret").await, 1);
    s.assert_working("app").await;
}

#[tokio::test]
async fn back_to_back_requests_finish_the_first_retirement_before_the_second_rotation() {
    let s = Scenario::new("rot-b2b", &[]).await;
    let (_, id, original) =
        ready_client(&s, "app", json!({"rotation": {"gracePeriod": "1h"}})).await;
    annotate(&s, "app", ROTATE, "r1").await;
    wait_rotated(&s, "app", "r1").await;
    let first = s.assert_working("app").await.secret.unwrap();
    let stamp_first = secret_annotation(&s, "app", ROTATED_AT).await;
    // The provider refuses a second rotation while the previous secret lives: the
    // controller retires it first, then rotates.
    annotate(&s, "app", ROTATE, "r2").await;
    let o = wait_rotated(&s, "app", "r2").await;
    assert_eq!(phase(&o), Some(RotationPhase::Retiring));
    let c = s.assert_working("app").await;
    let second = c.secret.clone().unwrap();
    assert_ne!(second, first);
    assert_eq!(
        c.previous.as_deref(),
        Some(first.as_str()),
        "the first rotation's secret is now the previous one"
    );
    assert!(s.emu.check(&id, &first).await);
    assert!(
        !s.emu.check(&id, &original).await,
        "the original secret was retired before the second rotation"
    );
    assert_ne!(
        secret_annotation(&s, "app", ROTATED_AT).await,
        stamp_first,
        "rotated-at changes with each new secret, even within one second"
    );
    let retired = wait_events(&s, "app", "Retired", 1).await;
    assert!(
        retired.iter().any(|n| n.contains("new rotation is due")),
        "{retired:?}"
    );
    // Each request handled exactly once; no 409 from a premature second rotate.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(ok_calls(&s, "rotate_secret").await, 2);
    assert_eq!(ok_calls(&s, "delete_rotated_secret").await, 1);
    let r = s.emu.admin(Method::GET, "requests", None).await;
    assert!(
        r["operations"]["rotate_secret"]["by_status"]["409"].is_null(),
        "a second rotate was sent while the first one's previous secret lived: {r}"
    );
    assert_eq!(
        s.creds("app").await.secret.as_deref(),
        Some(second.as_str())
    );
}

#[tokio::test]
async fn requests_stamped_faster_than_the_controller_reacts_end_with_the_last_one() {
    let s = Scenario::new("rot-burst", &[]).await;
    let (_, id, _) = ready_client(&s, "app", json!({"rotation": {"gracePeriod": "1h"}})).await;
    annotate(&s, "app", ROTATE, "r1").await;
    annotate(&s, "app", ROTATE, "r2").await;
    wait_rotated(&s, "app", "r2").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let o = s.get("app").await.unwrap();
    assert_eq!(rotation(&o).last_request.as_deref(), Some("r2"));
    let n = ok_calls(&s, "rotate_secret").await;
    assert!(
        (1..=2).contains(&n),
        "r1 (if seen) and r2 are handled once each: {n} rotations"
    );
    let c = s.assert_working("app").await;
    if let Some(p) = &c.previous {
        assert!(s.emu.check(&id, p).await);
    }
}

#[tokio::test]
async fn a_spec_edit_during_grace_patches_the_client_and_keeps_both_secrets() {
    let s = Scenario::new("rot-edit", &[]).await;
    let (_, id, original) =
        ready_client(&s, "app", json!({"rotation": {"gracePeriod": "1h"}})).await;
    annotate(&s, "app", ROTATE, "r1").await;
    wait_rotated(&s, "app", "r1").await;
    let rotated = s.assert_working("app").await;

    s.apply_client(
        "app",
        json!({"rotation": {"gracePeriod": "1h"}, "redirectUris": ["https://app.example.com/v2/callback"]}),
    )
    .await;
    let o = s.wait_ready("app").await;
    let remote = s
        .emu
        .api(
            Method::GET,
            &format!("accounts/{ACCOUNT}/oauth_clients/{id}"),
            None,
        )
        .await;
    assert_eq!(
        remote["result"]["redirect_uris"],
        json!(["https://app.example.com/v2/callback"])
    );
    assert_eq!(
        phase(&o),
        Some(RotationPhase::Retiring),
        "the edit does not end the grace period"
    );
    let c = s.assert_working("app").await;
    assert_eq!(c.secret, rotated.secret, "an edit issues no new secret");
    assert_eq!(c.previous.as_deref(), Some(original.as_str()));
    assert!(s.emu.check(&id, &original).await);
    assert_eq!(ok_calls(&s, "rotate_secret").await, 1);

    // The retirement still works after the edit.
    annotate(&s, "app", RETIRE, "x1").await;
    wait_idle(&s, "app", WAIT).await;
    assert!(!s.emu.check(&id, &original).await);
    assert!(s.assert_working("app").await.previous.is_none());
}

#[tokio::test]
async fn publish_previous_false_writes_the_secret_once_per_rotation_and_grace_still_holds() {
    let s = Scenario::new("rot-nopublish", &[]).await;
    let (_, id, original) = ready_client(
        &s,
        "app",
        json!({"rotation": {"gracePeriod": "3s"}, "secret": {"publishPrevious": false}}),
    )
    .await;
    annotate(&s, "app", ROTATE, "r1").await;
    s.wait_until("app", WAIT, "Retiring for r1", |o| {
        rotation(o).last_request.as_deref() == Some("r1")
            && phase(o) == Some(RotationPhase::Retiring)
    })
    .await;
    let c = s.assert_working("app").await;
    assert_ne!(c.secret.as_deref(), Some(original.as_str()));
    assert!(c.previous.is_none(), "the previous key is never published");
    let data = s.secret("app").await.unwrap().data.unwrap_or_default();
    assert!(
        data.values().all(|v| v.0 != original.as_bytes()),
        "the old secret is nowhere in the Secret"
    );
    assert!(
        s.emu.check(&id, &original).await,
        "the old secret still works at the provider during grace"
    );
    let version = secret_version(&s, "app").await;

    wait_idle(&s, "app", Duration::from_secs(20)).await;
    assert!(!s.emu.check(&id, &original).await);
    let c = s.assert_working("app").await;
    assert!(c.previous.is_none());
    assert_eq!(
        secret_version(&s, "app").await,
        version,
        "retiring changes nothing in the Secret: one change per rotation"
    );
    // Still a valid MAC and shape: nothing is repaired later.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(secret_version(&s, "app").await, version);
    assert_eq!(ok_calls(&s, "rotate_secret").await, 1);
}

// ---------------------------------------------------------------------------
// The CLI, as a user runs it.

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

async fn cli(args: &[&str]) -> Run {
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_clientops"))
        .args(args)
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .env_remove("KUBECONFIG")
        .env_remove("CLIENTOPS_KUBECONFIG")
        .output()
        .await
        .expect("run clientops");
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        took: started.elapsed(),
    };
    // Shown with --nocapture or on failure.
    eprintln!(
        "$ clientops {}\n{}{}(exit {:?})",
        args.join(" "),
        run.stdout,
        run.stderr,
        run.code
    );
    run
}

#[tokio::test]
async fn the_cli_rotates_and_retires_and_says_what_happened() {
    let s = Scenario::new("rot-cli", &[]).await;
    let (_, id, original) =
        ready_client(&s, "app", json!({"rotation": {"gracePeriod": "1h"}})).await;

    let r = cli(&["rotate", "app", "-n", &s.ns, "--timeout", "60s"]).await;
    assert_eq!(r.code, Some(0), "rotate failed: {}\n{}", r.stdout, r.stderr);
    let o = s.get("app").await.unwrap();
    let value = o
        .annotations()
        .get(ROTATE)
        .cloned()
        .expect("the CLI set the rotate annotation");
    assert!(
        clientops::controller::plan::parse_time(&value).is_some(),
        "the value is an RFC 3339 timestamp: {value}"
    );
    assert_eq!(rotation(&o).last_request.as_deref(), Some(value.as_str()));
    assert_annotation_owned_only_by(&o, ROTATE, &["clientops-cli"]);
    let c = s.assert_working("app").await;
    let new = c.secret.clone().unwrap();
    assert_eq!(c.previous.as_deref(), Some(original.as_str()));
    assert!(r.stdout.contains(&id), "names the client id: {}", r.stdout);
    assert!(r.stdout.contains("Retiring"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains(rotation(&o).previous_retires_at.as_deref().unwrap()),
        "says when the previous secret retires: {}",
        r.stdout
    );
    for out in [&r.stdout, &r.stderr] {
        assert!(
            !out.contains(&new) && !out.contains(&original),
            "never prints a secret"
        );
    }

    // A second rotate makes a fresh value and finishes the running grace first.
    let r2 = cli(&["rotate", "app", "-n", &s.ns]).await;
    assert_eq!(r2.code, Some(0), "{}\n{}", r2.stdout, r2.stderr);
    let o = s.get("app").await.unwrap();
    assert_ne!(o.annotations().get(ROTATE), Some(&value));
    assert!(!s.emu.check(&id, &original).await);
    let newer = s.assert_working("app").await;
    assert_eq!(newer.previous.as_deref(), Some(new.as_str()));

    let r = cli(&["retire", "app", "-n", &s.ns]).await;
    assert_eq!(r.code, Some(0), "retire failed: {}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Retired the previous secret") && r.stdout.contains(&id),
        "{}",
        r.stdout
    );
    let o = s.get("app").await.unwrap();
    assert_eq!(phase(&o), Some(RotationPhase::Idle));
    assert_eq!(
        rotation(&o).last_retire_request.as_ref(),
        o.annotations().get(RETIRE)
    );
    assert!(
        !s.emu.check(&id, &new).await,
        "the previous secret is retired"
    );
    assert!(s.assert_working("app").await.previous.is_none());
    for out in [&r.stdout, &r.stderr] {
        assert!(!out.contains(newer.secret.as_deref().unwrap()));
    }

    // Nothing to retire: says so and succeeds.
    let r = cli(&["retire", "app", "-n", &s.ns]).await;
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("nothing to do"), "{}", r.stdout);

    // A missing object is an error.
    let r = cli(&["rotate", "nope", "-n", &s.ns, "--timeout", "5s"]).await;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("not found"), "{}", r.stderr);
}

#[tokio::test]
async fn the_cli_times_out_with_the_ready_condition_when_no_controller_acts() {
    let mut s = Scenario::new("rot-cli-timeout", &[]).await;
    let (_, _, original) = ready_client(&s, "app", json!({})).await;
    s.ctl.kill();

    let r = cli(&["rotate", "app", "-n", &s.ns, "--timeout", "3s"]).await;
    assert_eq!(r.code, Some(1), "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Ready: True"),
        "names the Ready condition: {}",
        r.stderr
    );
    assert!(
        r.took < Duration::from_secs(20),
        "the timeout is honoured: {:?}",
        r.took
    );
    assert!(!r.stderr.contains(&original) && !r.stdout.contains(&original));

    // --no-wait only sets the annotation.
    let r = cli(&["rotate", "app", "-n", &s.ns, "--no-wait"]).await;
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert!(r.took < Duration::from_secs(10));
    let o = s.get("app").await.unwrap();
    let value = o.annotations().get(ROTATE).cloned().unwrap();
    assert!(r.stdout.contains(&value), "{}", r.stdout);
    assert_ne!(rotation(&o).last_request.as_deref(), Some(value.as_str()));

    // The controller comes back and handles the request that was left.
    s.ctl.restart(&[]);
    wait_rotated(&s, "app", &value).await;
    assert_ne!(
        s.assert_working("app").await.secret.as_deref(),
        Some(original.as_str())
    );
}
