//! `/metrics`, `/healthz` and `/readyz` of a running `clientops run`, scraped after
//! a create and a rotation against the Cloudflare emulator.

mod support;

use std::time::Duration;

use serde_json::json;
use support::scenario::Scenario;
use support::wait_for;

/// The telemetry address the controller logged (`--metrics-addr 127.0.0.1:0`).
async fn metrics_addr(s: &Scenario) -> String {
    wait_for(Duration::from_secs(20), || async {
        let logs = s.ctl.logs();
        let line = logs.lines().find(|l| l.contains("serving /metrics"))?;
        let at = line.find("127.0.0.1:")?;
        let port: String = line[at + "127.0.0.1:".len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        Some(format!("http://127.0.0.1:{port}"))
    })
    .await
    .unwrap_or_else(|| panic!("no telemetry address in the log:\n{}", s.ctl.logs()))
}

/// The value of the sample whose line starts with `series` (name and labels).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_health_and_readiness_after_a_create_and_a_rotation() {
    let s = Scenario::new("metrics", &[]).await;
    // A tight client-side limit, so provider calls wait and the wait is measured.
    s.set_rate_limit(1, "1s").await;
    let base = metrics_addr(&s).await;
    let http = reqwest::Client::new();

    let health = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = wait_for(Duration::from_secs(20), || async {
        let r = http.get(format!("{base}/readyz")).send().await.ok()?;
        (r.status() == 200).then_some(r.text().await.ok()?)
    })
    .await
    .expect("/readyz never became 200");
    assert!(ready.contains("synced"), "{ready}");

    s.apply_client("app", json!({})).await;
    s.wait_ready("app").await;
    s.annotate("app", "clientops.dev/rotate", "r1").await;
    s.wait_until("app", Duration::from_secs(60), "rotated", |o| {
        support::scenario::rotated_for(o, "r1")
    })
    .await;

    // The per-condition gauges are computed from the watch cache at scrape time,
    // which may trail the last status write by a moment: scrape until it caught up.
    let mut text = String::new();
    for _ in 0..50 {
        let resp = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let ctype = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
        text = resp.text().await.unwrap();
        if sample(
            &text,
            r#"clientops_clients{condition="Ready",status="True"}"#,
        ) == Some(1.0)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = text;
    let at_least = |series: &str, min: f64| {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        assert!(v >= min, "{series} = {v}, want >= {min}\n{text}");
    };
    at_least(r#"clientops_reconciles_total{result="success"}"#, 2.0);
    at_least(
        r#"clientops_reconcile_duration_seconds_count{result="success"}"#,
        2.0,
    );
    at_least(
        r#"clientops_provider_requests_total{provider="cloudflare",operation="create",status="200"}"#,
        1.0,
    );
    at_least(
        r#"clientops_provider_requests_total{provider="cloudflare",operation="rotate_secret",status="200"}"#,
        1.0,
    );
    at_least(
        r#"clientops_provider_request_duration_seconds_count{provider="cloudflare",operation="list"}"#,
        1.0,
    );
    at_least(
        &format!(
            r#"clientops_ratelimit_wait_seconds_count{{account="{}"}}"#,
            support::scenario::ACCOUNT
        ),
        1.0,
    );
    at_least("clientops_rotations_started_total", 1.0);
    at_least("clientops_rotations_completed_total", 1.0);
    assert_eq!(sample(&text, "clientops_rotations_failed_total"), Some(0.0));
    assert_eq!(
        sample(
            &text,
            r#"clientops_clients{condition="Ready",status="True"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"clientops_clients{condition="Stalled",status="True"}"#
        ),
        Some(0.0)
    );
    let since = sample(
        &text,
        &format!(
            r#"clientops_since_last_rotation_seconds{{namespace="{}",name="app"}}"#,
            s.ns
        ),
    )
    .unwrap_or_else(|| panic!("no since_last_rotation for app in\n{text}"));
    assert!((0.0..120.0).contains(&since), "{since}");
    assert_eq!(sample(&text, "clientops_leader"), Some(1.0));
    assert!(text.trim_end().ends_with("# EOF"));
}
