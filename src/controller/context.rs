//! Everything a reconcile needs, shared by all reconciles: no globals.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};
use kube::runtime::reflector::Store;

use super::accounts::AccountCache;
use super::cache::{OwnWrites, ReadCache};
use super::secret_memo::SecretMemo;
use crate::api::OAuthClient;
use crate::provider::ratelimit::RateLimiterRegistry;
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
}

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
    /// One reqwest client for every provider call.
    pub http: reqwest::Client,
    /// One rate limiter per provider account.
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
