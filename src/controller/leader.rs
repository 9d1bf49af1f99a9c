//! Leader election on a `coordination.k8s.io/v1` Lease, with the semantics of
//! client-go's `leaderelection` package: only the holder of the Lease runs the
//! controllers; a standby takes over once the holder has not renewed for a lease
//! duration (measured on the standby's own clock from when it last saw the Lease
//! change, so clock skew between nodes does not matter); a holder that cannot renew
//! within the renew deadline gives up.
//!
//! Losing the Lease ends the process (see [`Leadership::lost`] and
//! `controller::run`): the Deployment restarts it as a standby. That is the simplest
//! way to be sure no reconcile of the old leader is still in flight while the new
//! one starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};

/// Lease timing and identity.
#[derive(Clone, Debug)]
pub struct LeaseConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease (`--leader-election-id`).
    pub name: String,
    /// Who we are: the pod name, or hostname and pid.
    pub identity: String,
    /// How long a standby waits after the last renewal it saw before taking over.
    pub lease_duration: Duration,
    /// How long the holder keeps retrying a failed renewal before giving up.
    pub renew_deadline: Duration,
    /// How often the holder renews and a standby retries.
    pub retry_period: Duration,
}

impl LeaseConfig {
    /// The defaults of `clientops run`: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// `POD_NAME` when set (the Deployment sets it from the downward API), else
/// `<hostname>-<pid>`.
pub fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME")
        && !pod.is_empty()
    {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into());
    format!("{host}-{}", std::process::id())
}

/// What the rest of the process may know about the election (for `/readyz` and
/// metrics).
#[derive(Debug, Default)]
pub struct ElectionState {
    leader: AtomicBool,
    /// When a Lease read or write last succeeded.
    last_ok: std::sync::Mutex<Option<Instant>>,
}

impl ElectionState {
    /// Whether this process holds the Lease.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::SeqCst)
    }

    /// How long ago the apiserver last answered a Lease call.
    pub fn since_last_ok(&self) -> Option<Duration> {
        self.last_ok.lock().unwrap().map(|t| t.elapsed())
    }

    fn ok(&self) {
        *self.last_ok.lock().unwrap() = Some(Instant::now());
    }
}

/// Why leadership ended.
#[derive(Debug)]
pub struct Lost {
    pub reason: String,
}

/// One participant in the election.
pub struct Elector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The Lease as last seen (resourceVersion) and when, on our clock.
    observed: Option<(String, Instant)>,
    /// The holder we last logged, so a standby logs each new holder once.
    logged_holder: Option<String>,
    pub state: Arc<ElectionState>,
}

enum Attempt {
    /// We hold the Lease (acquired or renewed).
    Held,
    /// Someone else holds it and it has not expired.
    HeldBy(String),
}

impl Elector {
    pub fn new(client: Client, cfg: LeaseConfig) -> Self {
        Self {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            logged_holder: None,
            state: Arc::new(ElectionState::default()),
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }

    /// Wait until we hold the Lease.
    pub async fn acquire(&mut self) {
        tracing::info!(
            lease = %format!("{}/{}", self.cfg.namespace, self.cfg.name),
            identity = %self.cfg.identity,
            "waiting for leadership"
        );
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Held) => {
                    self.state.leader.store(true, Ordering::SeqCst);
                    tracing::info!(
                        lease = %format!("{}/{}", self.cfg.namespace, self.cfg.name),
                        identity = %self.cfg.identity,
                        "became leader"
                    );
                    return;
                }
                Ok(Attempt::HeldBy(holder)) => {
                    if self.logged_holder.as_ref() != Some(&holder) {
                        tracing::info!(%holder, "another instance is the leader; standing by");
                        self.logged_holder = Some(holder);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "{}", self.describe_error("acquire", &e)),
            }
            tokio::time::sleep(self.cfg.retry_period).await;
        }
    }

    /// Renew the Lease every retry period until leadership is lost; returns why.
    pub async fn hold(&mut self) -> Lost {
        let mut last_renew = Instant::now();
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            let left = self.cfg.renew_deadline.saturating_sub(last_renew.elapsed());
            let outcome = tokio::time::timeout(
                left.max(Duration::from_millis(100)),
                self.try_acquire_or_renew(),
            )
            .await;
            match outcome {
                Ok(Ok(Attempt::Held)) => last_renew = Instant::now(),
                Ok(Ok(Attempt::HeldBy(holder))) => {
                    self.state.leader.store(false, Ordering::SeqCst);
                    return Lost {
                        reason: format!("the Lease is now held by {holder}"),
                    };
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "{}", self.describe_error("renew", &e));
                }
                Err(_) => tracing::warn!("renewing the Lease timed out"),
            }
            if last_renew.elapsed() >= self.cfg.renew_deadline {
                self.state.leader.store(false, Ordering::SeqCst);
                return Lost {
                    reason: format!(
                        "could not renew the Lease within the renew deadline of {:?}",
                        self.cfg.renew_deadline
                    ),
                };
            }
        }
    }

    /// Give the Lease up (on a clean shutdown) so a standby takes over at once
    /// instead of after a lease duration.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => tracing::info!("released the Lease"),
            Err(e) => tracing::warn!(error = %e, "could not release the Lease"),
        }
        self.state.leader.store(false, Ordering::SeqCst);
    }

    fn describe_error(&self, what: &str, e: &kube::Error) -> String {
        match e {
            kube::Error::Api(s) if s.code == 403 => format!(
                "cannot {what} the Lease {}/{}: forbidden; the ServiceAccount needs get, create and update on leases.coordination.k8s.io in namespace {}",
                self.cfg.namespace, self.cfg.name, self.cfg.namespace
            ),
            _ => format!(
                "cannot {what} the Lease {}/{}",
                self.cfg.namespace, self.cfg.name
            ),
        }
    }

    /// One step of client-go's `tryAcquireOrRenew`.
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let now = Timestamp::now();
        let me = self.cfg.identity.clone();
        let duration_secs = self.cfg.lease_duration.as_secs() as i32;
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.state.ok();
                    self.observe(&created);
                    Ok(Attempt::Held)
                }
                // Someone else created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    self.state.ok();
                    Ok(Attempt::HeldBy("another instance".into()))
                }
                Err(e) => Err(e),
            };
        };
        self.state.ok();
        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let held_by_other = holder.as_ref().is_some_and(|h| *h != me);
        if held_by_other {
            let lease_for = spec
                .lease_duration_seconds
                .map_or(self.cfg.lease_duration, |s| {
                    Duration::from_secs(s.max(0) as u64)
                });
            let seen_at = self.observed.as_ref().map(|(_, t)| *t);
            if seen_at.is_some_and(|t| t.elapsed() < lease_for) {
                return Ok(Attempt::HeldBy(holder.unwrap()));
            }
        }
        let new_spec = LeaseSpec {
            holder_identity: Some(me.clone()),
            lease_duration_seconds: Some(duration_secs),
            acquire_time: if holder.as_deref() == Some(me.as_str()) {
                spec.acquire_time.clone()
            } else {
                Some(MicroTime(now))
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: if holder.as_deref() == Some(me.as_str()) {
                spec.lease_transitions
            } else {
                Some(spec.lease_transitions.unwrap_or(0) + 1)
            },
            ..spec
        };
        lease.spec = Some(new_spec);
        // replace carries the resourceVersion we read: a concurrent writer makes
        // this fail with 409 instead of both believing they lead.
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(&updated);
                if held_by_other {
                    tracing::info!(
                        previous = %holder.unwrap_or_default(),
                        "the previous leader's Lease expired; taking over"
                    );
                }
                Ok(Attempt::Held)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::HeldBy(
                holder.unwrap_or_else(|| "another instance".into()),
            )),
            Err(e) => Err(e),
        }
    }

    /// Remember when the Lease last changed, on our clock.
    fn observe(&mut self, lease: &Lease) {
        let rv = lease.resource_version().unwrap_or_default();
        if self.observed.as_ref().map(|(v, _)| v) != Some(&rv) {
            self.observed = Some((rv, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_the_pod_name_or_host_and_pid() {
        let id = default_identity();
        assert!(!id.is_empty());
        if std::env::var("POD_NAME").is_err() {
            assert!(id.ends_with(&format!("-{}", std::process::id())), "{id}");
        }
    }

    #[test]
    fn defaults_match_client_go() {
        let c = LeaseConfig::new("ns", "clientops");
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
    }
}
