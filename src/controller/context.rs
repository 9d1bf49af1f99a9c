//! Everything a reconcile needs, shared by all reconciles: no globals.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};
use kube::runtime::reflector::Store;

use super::accounts::AccountCache;
use super::cache::{OwnWrites, ReadCache};
use super::fairness::{ForcedResyncs, InFlight, Workers};
use super::secret_memo::SecretMemo;
use crate::api::OAuthClient;
use crate::provider::list_budget::ListBudget;
use crate::provider::ratelimit::RateLimiterRegistry;
use crate::provider::url_policy::UrlPolicy;
use crate::telemetry::Metrics;

/// Controller settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The operator's own namespace: a ClusterOAuthProvider without
    /// `namespaceSelector` admits only this one.
    pub operator_namespace: String,
    /// How often each client is compared with the provider (the drift LIST period).
    pub resync: Duration,
    /// Field manager for server-side apply and status patches.
    pub field_manager: String,
    /// Allow TLS without verification towards providers (never the default).
    pub insecure_skip_tls_verify: bool,
    /// The most one reconcile may spend (provider calls, limiter waits, the
    /// account lock); then it ends and is retried later.
    pub reconcile_deadline: Duration,
    /// The most one LIST of an account may read, across all its pages.
    pub list_budget: ListBudget,
    /// How many reconciles one namespace may hold on a saturated provider account
    /// (the rest of the workers stay free for other namespaces).
    pub fair_share: usize,
    /// Where a tenant's provider (a namespaced OAuthProvider) may point.
    pub url_policy: Arc<UrlPolicy>,
    /// How often each client's Secret is proven to work at the provider, besides
    /// after rotations and repairs and on a forced resync; `None`: only then.
    pub credential_check_every: Option<Duration>,
    /// The operator's projected service-account token for workload identity
    /// federation (`--federated-token-file`), which only the admin's provider
    /// objects may use; `None`: not configured.
    pub federated_token_file: Option<std::path::PathBuf>,
}

impl Settings {
    /// Settings with every limit at its default (tests and tools).
    pub fn new(operator_namespace: &str, resync: Duration) -> Self {
        Self {
            operator_namespace: operator_namespace.into(),
            resync,
            field_manager: "clientops".into(),
            insecure_skip_tls_verify: false,
            reconcile_deadline: DEFAULT_RECONCILE_DEADLINE,
            list_budget: ListBudget::default(),
            fair_share: 4,
            url_policy: Arc::new(UrlPolicy::default()),
            credential_check_every: Some(DEFAULT_CREDENTIAL_CHECK_INTERVAL),
            federated_token_file: None,
        }
    }
}

/// How often each client's credentials are checked by default: once a day.
pub const DEFAULT_CREDENTIAL_CHECK_INTERVAL: Duration = Duration::from_secs(86_400);

/// How long one reconcile may take at most, by default.
pub const DEFAULT_RECONCILE_DEADLINE: Duration = Duration::from_secs(60);

/// The shortest interval between two provider reads forced by
/// `clientops.dev/reconcile` on one object.
pub const FORCED_RESYNC_INTERVAL: Duration = Duration::from_secs(10);

/// The clock, replaceable in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Shared state of the controller.
pub struct Context {
    pub client: Client,
    /// Who publishes events (see [`Context::publish`]).
    pub reporter: Reporter,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    /// The reqwest client for the admin's providers (ClusterOAuthProviders).
    pub http: reqwest::Client,
    /// The reqwest client for tenants' providers (namespaced OAuthProviders): its
    /// resolver refuses addresses outside `url_policy`.
    pub tenant_http: reqwest::Client,
    /// Reconciles in flight per namespace (a worker is always left for others).
    pub workers: Workers,
    /// Reconciles in flight per provider account and namespace (fairness).
    pub in_flight: InFlight,
    /// `clientops.dev/reconcile` honoured at most once per interval per object.
    pub forced: ForcedResyncs,
    /// One rate limiter per provider account and scope (the cluster, or one
    /// namespaced provider object).
    pub limiters: RateLimiterRegistry,
    /// The last LIST of each provider account.
    pub accounts: AccountCache,
    /// Provider objects, namespace labels and credentials Secrets, cached.
    pub cache: ReadCache,
    /// OAuthClient versions written by this controller: not a reason to reconcile.
    pub own_writes: Arc<OwnWrites>,
    /// What each OAuthClient's Secret held when last read (forgotten on every
    /// change the Secret watch reports).
    pub secret_memo: Arc<SecretMemo>,
    /// Every OAuthClient the controller watches: which remote ids are claimed.
    pub clients: Store<OAuthClient>,
    /// The keys that prove an intent annotation is clientops' own (read once per
    /// process: `intent_key`).
    pub intent_keys: Arc<super::intent_proof::IntentKeys>,
    /// Prometheus metrics; `metrics.request_hook(provider)` instruments a provider client.
    pub metrics: Arc<Metrics>,
}

impl Context {
    /// Publish an event without waiting for it: events are a record for people,
    /// never a step a reconcile depends on. A recorder per event: kube's `Recorder`
    /// keeps every event it published for minutes (to count repeats), which at
    /// 10,000 clients is megabytes for events that never repeat.
    pub fn publish(&self, ev: Event, reference: k8s_openapi::api::core::v1::ObjectReference) {
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        tokio::spawn(async move {
            if let Err(e) = recorder.publish(&ev, &reference).await {
                tracing::warn!(error = %e, "could not publish event");
            }
        });
    }
}
