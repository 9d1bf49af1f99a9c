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

/// `kubectl` with the test apiserver's admin kubeconfig; its stdout.
fn kubectl(args: &[&str]) -> String {
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(support::kubeconfig())
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Issue 24: the metrics name every tenant's OAuthClients. With
/// `--metrics-auth kubernetes` (what `auto` means off loopback, as deployed),
/// `/metrics` answers only a bearer token the apiserver authenticates and
/// authorises for `get /metrics`: the ClusterRole `clientops-metrics-reader` of
/// deploy/base grants it. Everything is real: the apiserver's TokenReview and
/// SubjectAccessReview, ServiceAccount tokens from the TokenRequest API.
#[tokio::test]
async fn metrics_answer_only_a_scraper_the_apiserver_authorises() {
    let s = Scenario::with_controller_args("metrics-auth", &[], &["--metrics-auth", "kubernetes"])
        .await;
    let base = metrics_addr(&s).await;
    let http = reqwest::Client::new();
    let ns = s.ns.clone();

    // The deployed reader role, and two ServiceAccounts: one bound to it.
    let roles = support::repo_root().join("deploy/base/metrics-auth-role.yaml");
    kubectl(&["apply", "--server-side", "-f", &roles.to_string_lossy()]);
    for sa in ["scraper", "stranger"] {
        kubectl(&["-n", &ns, "create", "serviceaccount", sa]);
    }
    let binding = format!("metrics-reader-{ns}");
    kubectl(&[
        "create",
        "clusterrolebinding",
        &binding,
        "--clusterrole=clientops-metrics-reader",
        &format!("--serviceaccount={ns}:scraper"),
    ]);
    let token = |sa: &str| kubectl(&["-n", &ns, "create", "token", sa, "--duration=1h"]);
    let (scraper, stranger) = (token("scraper"), token("stranger"));

    let scrape = |token: Option<String>| {
        let mut r = http.get(format!("{base}/metrics"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { r.send().await.unwrap() }
    };
    // No token: 401, and how to authenticate.
    let r = scrape(None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body = r.text().await.unwrap();
    assert!(!body.contains("clientops_"), "{body}");
    // A token the apiserver does not know: 401.
    assert_eq!(scrape(Some("not-a-token".into())).await.status(), 401);
    // Authenticated, not allowed: 403, naming the role to bind.
    let r = scrape(Some(stranger)).await;
    assert_eq!(r.status(), 403);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("clientops-metrics-reader") && !body.contains("clientops_"),
        "{body}"
    );
    // Allowed: the metrics (twice: the second from the verdict cache).
    for _ in 0..2 {
        let r = scrape(Some(scraper.clone())).await;
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(text.contains("clientops_leader") && text.trim_end().ends_with("# EOF"));
    }
    // The probes stay open (the kubelet sends no token).
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    kubectl(&["delete", "clusterrolebinding", &binding]);
}
