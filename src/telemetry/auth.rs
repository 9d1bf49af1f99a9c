//! Who may read `/metrics`: the metrics name every tenant's OAuthClients
//! (`clientops_since_last_rotation_seconds{namespace,name}`) and the accounts the
//! operator calls, so a scraper must show a bearer token that the apiserver
//! authenticates (a TokenReview) and authorises for `get` on the non-resource
//! URL `/metrics` (a SubjectAccessReview), as controller-runtime's
//! `WithAuthenticationAndAuthorization` filter does. Prometheus in a cluster
//! sends its ServiceAccount token; bind it to ClusterRole
//! `clientops-metrics-reader` (deploy/base/metrics-reader-clusterrole.yaml).
//!
//! `/healthz` and `/readyz` stay open: the kubelet probes them without a token,
//! and they tell nothing about tenants.
//!
//! Verdicts are remembered for [`CACHE_TTL`] per token digest (the token itself is
//! never kept), so a scrape every few seconds costs the apiserver two requests per
//! token and TTL, not per scrape.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;
use sha2::{Digest, Sha256};

/// How long a verdict on one token is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(10);
/// The most tokens remembered at once (the cache is emptied when full).
const CACHE_MAX: usize = 256;

/// `--metrics-auth`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsAuthMode {
    /// `kubernetes` unless `--metrics-addr` is a loopback address (nothing
    /// outside the pod can reach it then).
    #[default]
    Auto,
    /// A bearer token, authenticated and authorised by the apiserver.
    Kubernetes,
    /// No check: anyone who reaches the port reads the metrics.
    None,
}

impl MetricsAuthMode {
    /// Whether scrapes of a server bound to `addr` must authenticate.
    pub fn required(self, addr: SocketAddr) -> bool {
        match self {
            MetricsAuthMode::Auto => !addr.ip().is_loopback(),
            MetricsAuthMode::Kubernetes => true,
            MetricsAuthMode::None => false,
        }
    }
}

/// What became of one scrape's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated and allowed to `get` `/metrics`.
    Allowed,
    /// No bearer token, or one the apiserver does not authenticate (401).
    Unauthenticated,
    /// Authenticated, not allowed (403).
    Forbidden,
    /// The apiserver could not be asked (503; not remembered).
    Unavailable,
}

/// The TokenReview and SubjectAccessReview check, with its cache.
pub struct MetricsAuth {
    client: kube::Client,
    cache: Mutex<HashMap<[u8; 32], (Instant, Verdict)>>,
}

impl MetricsAuth {
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict on an `Authorization` header value.
    pub async fn check(&self, authorization: Option<&str>) -> Verdict {
        let Some(token) = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
        else {
            return Verdict::Unauthenticated;
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(&(at, verdict)) = self.cache.lock().unwrap().get(&key)
            && at.elapsed() < CACHE_TTL
        {
            return verdict;
        }
        let verdict = self.ask(token).await;
        if verdict != Verdict::Unavailable {
            let mut cache = self.cache.lock().unwrap();
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, (Instant::now(), verdict));
        }
        verdict
    }

    async fn ask(&self, token: &str) -> Verdict {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: token.to_string(),
                audiences: None,
            },
            ..Default::default()
        };
        let reviewed = match Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "/metrics: the TokenReview failed");
                return Verdict::Unavailable;
            }
        };
        let status = reviewed.status.unwrap_or_default();
        let Some(user) = status.user.filter(|_| status.authenticated == Some(true)) else {
            return Verdict::Unauthenticated;
        };
        let access = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username.clone(),
                uid: user.uid,
                groups: user.groups,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some("/metrics".into()),
                    verb: Some("get".into()),
                }),
                resource_attributes: None,
            },
            ..Default::default()
        };
        match Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &access)
            .await
        {
            Ok(r) if r.status.as_ref().is_some_and(|s| s.allowed) => Verdict::Allowed,
            Ok(_) => {
                tracing::debug!(user = ?user.username, "/metrics: not allowed to get /metrics");
                Verdict::Forbidden
            }
            Err(e) => {
                tracing::warn!(error = %e, "/metrics: the SubjectAccessReview failed");
                Verdict::Unavailable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_requires_authentication_off_loopback() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let pod_ip: SocketAddr = "10.1.2.3:8080".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let local6: SocketAddr = "[::1]:8080".parse().unwrap();
        assert!(MetricsAuthMode::Auto.required(any));
        assert!(MetricsAuthMode::Auto.required(pod_ip));
        assert!(!MetricsAuthMode::Auto.required(local));
        assert!(!MetricsAuthMode::Auto.required(local6));
        assert!(MetricsAuthMode::Kubernetes.required(local));
        assert!(!MetricsAuthMode::None.required(any));
    }
}
