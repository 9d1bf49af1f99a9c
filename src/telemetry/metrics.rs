//! The controller's Prometheus metrics (names and meanings in `docs/metrics.md`).
//!
//! Counters and histograms are updated where things happen (a reconcile ends, a
//! provider request returns, a caller waits for the rate limiter, a rotation
//! starts or ends); the per-client gauges are computed from the informer's cache
//! at scrape time, so they never go stale when a client is deleted.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::api::OAuthClient;
use crate::provider::http::{RequestHook, RequestRecord};
use crate::provider::ratelimit::{LimiterKey, WaitHook};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    provider: String,
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    provider: String,
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    condition: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    namespace: String,
    name: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 5 ms .. ~80 s
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The most distinct `account` label values (the admin's accounts); later ones
/// are counted under [`OTHER_ACCOUNTS`].
pub const MAX_ACCOUNT_LABELS: usize = 64;
/// The `account` label of every namespaced (tenant-written) provider's limiter:
/// a tenant chooses its account id, so it never becomes a label value.
pub const NAMESPACED_ACCOUNTS: &str = "_namespaced";
/// The `account` label past [`MAX_ACCOUNT_LABELS`].
pub const OTHER_ACCOUNTS: &str = "_other";

/// The conditions counted by `clientops_clients`.
pub const CONDITIONS: [&str; 3] = ["Ready", "Stalled", "Reconciling"];

/// Every metric of the controller, in one registry.
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: HistogramFamily<ResultLabels>,
    provider_requests: Family<RequestLabels, Counter>,
    provider_request_duration: HistogramFamily<OperationLabels>,
    ratelimit_wait: HistogramFamily<AccountLabels>,
    /// The `account` values in use (at most [`MAX_ACCOUNT_LABELS`]).
    accounts: std::sync::Mutex<std::collections::HashSet<String>>,
    rotations_started: Counter,
    rotations_completed: Counter,
    rotations_failed: Counter,
    clients: Family<ConditionLabels, Gauge>,
    since_rotation: Family<ClientLabels, Gauge<f64, AtomicU64>>,
    leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered under the `clientops_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("clientops");
        let m = Metrics {
            reconciles: Family::default(),
            reconcile_duration: Family::new_with_constructor(duration_histogram),
            provider_requests: Family::default(),
            provider_request_duration: Family::new_with_constructor(duration_histogram),
            ratelimit_wait: Family::new_with_constructor(|| {
                // 10 ms .. ~5.5 min
                Histogram::new(exponential_buckets(0.01, 2.0, 16))
            }),
            accounts: Default::default(),
            rotations_started: Counter::default(),
            rotations_completed: Counter::default(),
            rotations_failed: Counter::default(),
            clients: Family::default(),
            since_rotation: Family::default(),
            leader: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "reconciles",
            "OAuthClient reconciles by result (success: the reconcile ran to its end, including one that recorded a provider failure in the conditions; error: it failed against the Kubernetes API and was requeued; deferred: it gave its worker back before it began, because its namespace held its share of the workers)",
            m.reconciles.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "Duration of one OAuthClient reconcile",
            Unit::Seconds,
            m.reconcile_duration.clone(),
        );
        registry.register(
            "provider_requests",
            "Provider API requests (every attempt, retries included) by provider, operation and HTTP status (or the error class when no response arrived)",
            m.provider_requests.clone(),
        );
        registry.register_with_unit(
            "provider_request_duration",
            "Duration of one provider API request",
            Unit::Seconds,
            m.provider_request_duration.clone(),
        );
        registry.register_with_unit(
            "ratelimit_wait",
            "Time a provider call waited for the account's client-side rate limiter",
            Unit::Seconds,
            m.ratelimit_wait.clone(),
        );
        registry.register(
            "rotations_started",
            "Secret rotations started (intent recorded)",
            m.rotations_started.clone(),
        );
        registry.register(
            "rotations_completed",
            "Secret rotations whose new secret is in the Secret",
            m.rotations_completed.clone(),
        );
        registry.register(
            "rotations_failed",
            "Secret rotation attempts that failed at the provider",
            m.rotations_failed.clone(),
        );
        registry.register(
            "clients",
            "OAuthClients watched by this controller, by condition type and status (Unknown when the condition is absent)",
            m.clients.clone(),
        );
        registry.register_with_unit(
            "since_last_rotation",
            "Seconds since each OAuthClient's secret was last issued (creation or rotation)",
            Unit::Seconds,
            m.since_rotation.clone(),
        );
        registry.register(
            "leader",
            "1 when this process holds the leader Lease (or runs without leader election), else 0",
            m.leader.clone(),
        );
        Metrics { registry, ..m }
    }

    /// A reconcile ended.
    pub fn reconcile_done(&self, ok: bool, took: Duration) {
        let labels = ResultLabels {
            result: if ok { "success" } else { "error" }.into(),
        };
        self.reconciles.get_or_create(&labels).inc();
        self.reconcile_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A reconcile gave its worker back before it began (its namespace held its
    /// share of the workers): counted apart from the reconciles that ran.
    pub fn reconcile_deferred(&self) {
        let labels = ResultLabels {
            result: "deferred".into(),
        };
        self.reconciles.get_or_create(&labels).inc();
    }

    /// A hook for the HTTP executor of one provider type (`cloudflare`, ...).
    pub fn request_hook(self: &Arc<Self>, provider: &'static str) -> RequestHook {
        let m = self.clone();
        Arc::new(move |r: &RequestRecord<'_>| m.provider_request(provider, r))
    }

    fn provider_request(&self, provider: &str, r: &RequestRecord<'_>) {
        let status = match (r.status, r.error) {
            (Some(code), _) => code.to_string(),
            (None, Some(kind)) => kind.to_string(),
            (None, None) => "unknown".into(),
        };
        self.provider_requests
            .get_or_create(&RequestLabels {
                provider: provider.into(),
                operation: r.operation.as_str().into(),
                status,
            })
            .inc();
        self.provider_request_duration
            .get_or_create(&OperationLabels {
                provider: provider.into(),
                operation: r.operation.as_str().into(),
            })
            .observe(r.duration.as_secs_f64());
    }

    /// A hook for the rate limiter registry.
    pub fn wait_hook(self: &Arc<Self>) -> WaitHook {
        let m = self.clone();
        Arc::new(move |key: &LimiterKey, waited: Duration| {
            m.ratelimit_wait
                .get_or_create(&AccountLabels {
                    account: m.account_label(key),
                })
                .observe(waited.as_secs_f64());
        })
    }

    /// The `account` label of a limiter: the account id for the admin's
    /// providers (the cluster scope), up to [`MAX_ACCOUNT_LABELS`] of them;
    /// never a tenant's (see [`NAMESPACED_ACCOUNTS`]).
    fn account_label(&self, key: &LimiterKey) -> String {
        if !key.scope.is_empty() {
            return NAMESPACED_ACCOUNTS.into();
        }
        let mut seen = self.accounts.lock().unwrap();
        if seen.contains(&key.account) {
            return key.account.clone();
        }
        if seen.len() < MAX_ACCOUNT_LABELS {
            seen.insert(key.account.clone());
            return key.account.clone();
        }
        OTHER_ACCOUNTS.into()
    }

    pub fn rotation_started(&self) {
        self.rotations_started.inc();
    }

    pub fn rotation_completed(&self) {
        self.rotations_completed.inc();
    }

    pub fn rotation_failed(&self) {
        self.rotations_failed.inc();
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// Recompute the per-client gauges from the watched objects.
    pub fn refresh_clients<'a>(
        &self,
        clients: impl IntoIterator<Item = &'a OAuthClient>,
        now: DateTime<Utc>,
    ) {
        self.clients.clear();
        self.since_rotation.clear();
        for cond in CONDITIONS {
            for status in ["True", "False", "Unknown"] {
                let _ = self.clients.get_or_create(&ConditionLabels {
                    condition: cond.into(),
                    status: status.into(),
                });
            }
        }
        for c in clients {
            let status = c.status.as_ref();
            for cond in CONDITIONS {
                let value = status
                    .and_then(|s| s.conditions.iter().find(|x| x.type_ == cond))
                    .map_or("Unknown", |x| x.status.as_str());
                let value = match value {
                    "True" | "False" => value,
                    _ => "Unknown",
                };
                self.clients
                    .get_or_create(&ConditionLabels {
                        condition: cond.into(),
                        status: value.into(),
                    })
                    .inc();
            }
            let last = status
                .and_then(|s| s.rotation.as_ref())
                .and_then(|r| r.last_rotated_at.as_deref())
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
            if let Some(last) = last {
                let secs = (now - last.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0;
                self.since_rotation
                    .get_or_create(&ClientLabels {
                        namespace: c.metadata.namespace.clone().unwrap_or_default(),
                        name: c.metadata.name.clone().unwrap_or_default(),
                    })
                    .set(secs.max(0.0));
            }
        }
    }

    /// The registry in the Prometheus / OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::error::Operation;

    fn client(name: &str, ready: &str, rotated: Option<&str>) -> OAuthClient {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"providerRef": {"kind": "ClusterOAuthProvider", "name": "p"}, "clientName": name},
            "status": {
                "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                "rotation": rotated.map(|t| serde_json::json!({"phase": "Idle", "lastRotatedAt": t})),
            },
        }))
        .unwrap()
    }

    #[test]
    fn encodes_every_family_with_labels() {
        let m = Arc::new(Metrics::new());
        m.reconcile_done(true, Duration::from_millis(20));
        m.reconcile_done(false, Duration::from_millis(20));
        let key = LimiterKey::new("http://x/client/v4", "acct");
        (m.request_hook("cloudflare"))(&RequestRecord {
            key: &key,
            operation: Operation::Create,
            attempt: 0,
            status: Some(200),
            error: None,
            duration: Duration::from_millis(5),
        });
        (m.wait_hook())(&key, Duration::from_millis(300));
        m.rotation_started();
        m.rotation_completed();
        m.set_leader(true);
        let now = DateTime::parse_from_rfc3339("2026-01-01T01:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let objs = [
            client("a", "True", Some("2026-01-01T00:00:00Z")),
            client("b", "False", None),
        ];
        m.refresh_clients(objs.iter(), now);
        let text = m.encode();
        for want in [
            r#"clientops_reconciles_total{result="success"} 1"#,
            r#"clientops_reconciles_total{result="error"} 1"#,
            r#"clientops_reconcile_duration_seconds_count{result="success"} 1"#,
            r#"clientops_provider_requests_total{provider="cloudflare",operation="create",status="200"} 1"#,
            r#"clientops_ratelimit_wait_seconds_count{account="acct"} 1"#,
            "clientops_rotations_started_total 1",
            "clientops_rotations_completed_total 1",
            "clientops_rotations_failed_total 0",
            r#"clientops_clients{condition="Ready",status="True"} 1"#,
            r#"clientops_clients{condition="Ready",status="False"} 1"#,
            r#"clientops_clients{condition="Stalled",status="Unknown"} 2"#,
            r#"clientops_since_last_rotation_seconds{namespace="ns",name="a"} 3600"#,
            "clientops_leader 1",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        assert!(!text.contains(r#"name="b""#), "no rotation time, no series");
    }

    /// Issue 24: a tenant's account id (any string it likes, one per
    /// OAuthProvider) became a label value without bound.
    #[test]
    fn account_labels_are_bounded_and_never_a_tenants() {
        let m = Arc::new(Metrics::new());
        let hook = m.wait_hook();
        for i in 0..1000 {
            let tenant =
                LimiterKey::scoped(&format!("team/p{i}/uid"), "http://x", &format!("t{i}"));
            hook(&tenant, Duration::from_millis(10));
        }
        for i in 0..(MAX_ACCOUNT_LABELS + 10) {
            hook(
                &LimiterKey::new("http://x", &format!("admin{i}")),
                Duration::from_millis(10),
            );
        }
        let text = m.encode();
        let series: std::collections::HashSet<&str> = text
            .lines()
            .filter(|l| l.starts_with("clientops_ratelimit_wait_seconds_count{"))
            .collect();
        assert_eq!(series.len(), MAX_ACCOUNT_LABELS + 2, "{series:#?}");
        assert!(!text.contains(r#"account="t1""#), "no tenant's account id");
        assert!(
            text.contains(r#"clientops_ratelimit_wait_seconds_count{account="_namespaced"} 1000"#)
        );
        assert!(text.contains(r#"clientops_ratelimit_wait_seconds_count{account="_other"} 10"#));
        assert!(
            text.contains(r#"account="admin0""#),
            "the admin's first accounts keep their names"
        );
    }
}
