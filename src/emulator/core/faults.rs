//! Fault injection: added latency, and a chance per request of a 500, a 503, a
//! 429, or "apply the change, then drop the connection".
//!
//! Set through the admin API (`PUT /__emulator/faults`). Faults apply only to the
//! provider's API, never to `/__emulator/`.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::ConnInfo;

/// What the admin API accepts and shows. Probabilities are per matching request,
/// in `[0, 1]`, and together at most 1.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Added to every matching request, before it is handled.
    #[serde(default)]
    pub latency_ms: u64,
    /// A uniformly random extra delay in `[0, latency_jitter_ms]`.
    #[serde(default)]
    pub latency_jitter_ms: u64,
    /// Answer 500 without handling the request.
    #[serde(default)]
    pub p_500: f64,
    /// Answer 503 without handling the request.
    #[serde(default)]
    pub p_503: f64,
    /// Answer 429 (with `Retry-After: 1`) without handling the request.
    #[serde(default)]
    pub p_429: f64,
    /// Handle the request (commit the change), then drop the connection without
    /// sending a response.
    #[serde(default)]
    pub p_drop_after_commit: f64,
    /// Only requests whose path contains this string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Only these methods (case-insensitive); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// Inject at most this many faults (500/503/429/drop), then clear the whole
    /// configuration. Absent: until changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
}

impl FaultConfig {
    /// Check the probabilities.
    pub fn validate(&self) -> Result<(), String> {
        let ps = [
            ("p_500", self.p_500),
            ("p_503", self.p_503),
            ("p_429", self.p_429),
            ("p_drop_after_commit", self.p_drop_after_commit),
        ];
        for (name, p) in ps {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be between 0 and 1, got {p}"));
            }
        }
        let sum: f64 = ps.iter().map(|(_, p)| p).sum();
        if sum > 1.0 + 1e-9 {
            return Err(format!("the probabilities add up to {sum}, more than 1"));
        }
        if self.latency_ms > 600_000 || self.latency_jitter_ms > 600_000 {
            return Err("latency_ms and latency_jitter_ms must be at most 600000".into());
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.path.as_deref().is_none_or(|p| path.contains(p))
            && (self.methods.is_empty()
                || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
    }
}

/// A fault that replaces the provider's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// HTTP 500.
    InternalError,
    /// HTTP 503.
    Unavailable,
    /// HTTP 429.
    Throttled,
}

/// Put into a response's extensions when a fault shaped it, for the request log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOutcome {
    /// The answer is an injected error; the request was not handled.
    Injected(FaultKind),
    /// The request was handled and the connection dropped; nothing was sent.
    Dropped,
}

enum Roll {
    None,
    Error(FaultKind),
    Drop,
}

/// The fault configuration in force, shared.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    inner: Arc<RwLock<FaultConfig>>,
}

impl Faults {
    /// The configuration in force.
    pub fn get(&self) -> FaultConfig {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replace the configuration.
    pub fn set(&self, cfg: FaultConfig) -> Result<(), String> {
        cfg.validate()?;
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = cfg;
        Ok(())
    }

    /// No faults.
    pub fn clear(&self) {
        *self.inner.write().unwrap_or_else(|e| e.into_inner()) = FaultConfig::default();
    }

    /// Decide this request's fate: (delay, outcome).
    fn roll(&self, method: &str, path: &str) -> (Duration, Roll) {
        let mut cfg = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if !cfg.matches(method, path) {
            return (Duration::ZERO, Roll::None);
        }
        let mut rng = rand::rng();
        let jitter = if cfg.latency_jitter_ms > 0 {
            rng.random_range(0..=cfg.latency_jitter_ms)
        } else {
            0
        };
        let delay = Duration::from_millis(cfg.latency_ms + jitter);
        let r: f64 = rng.random();
        let mut acc = 0.0;
        let mut roll = Roll::None;
        for (p, outcome) in [
            (cfg.p_500, Roll::Error(FaultKind::InternalError)),
            (cfg.p_503, Roll::Error(FaultKind::Unavailable)),
            (cfg.p_429, Roll::Error(FaultKind::Throttled)),
            (cfg.p_drop_after_commit, Roll::Drop),
        ] {
            acc += p;
            if p > 0.0 && r < acc {
                roll = outcome;
                break;
            }
        }
        if !matches!(roll, Roll::None)
            && let Some(t) = cfg.times.as_mut()
        {
            *t = t.saturating_sub(1);
            if *t == 0 {
                *cfg = FaultConfig::default();
            }
        }
        (delay, roll)
    }
}

/// State of [`fault_middleware`]: the faults and how the provider renders an
/// injected error in its own envelope.
#[derive(Clone)]
pub struct FaultLayer {
    /// The configuration in force.
    pub faults: Faults,
    /// Renders an injected error as the provider would send it.
    pub render: fn(FaultKind) -> Response,
}

/// Middleware applying the faults in force to one request.
pub async fn fault_middleware(
    State(layer): State<FaultLayer>,
    req: Request,
    next: Next,
) -> Response {
    let conn = req.extensions().get::<ConnectInfo<ConnInfo>>().cloned();
    let (delay, roll) = layer.faults.roll(req.method().as_str(), req.uri().path());
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match roll {
        Roll::None => next.run(req).await,
        Roll::Error(kind) => {
            let mut resp = (layer.render)(kind);
            resp.extensions_mut().insert(FaultOutcome::Injected(kind));
            resp
        }
        Roll::Drop => {
            let mut resp = next.run(req).await;
            match conn {
                Some(ConnectInfo(c)) => {
                    c.kill();
                    resp.extensions_mut().insert(FaultOutcome::Dropped);
                }
                None => tracing::warn!("drop-after-commit fault without a killable connection"),
            }
            resp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rejects_bad_probabilities() {
        let ok = FaultConfig {
            p_500: 0.5,
            p_drop_after_commit: 0.5,
            ..Default::default()
        };
        assert!(ok.validate().is_ok());
        let too_much = FaultConfig {
            p_500: 0.6,
            p_503: 0.6,
            ..Default::default()
        };
        assert!(too_much.validate().is_err());
        let negative = FaultConfig {
            p_429: -0.1,
            ..Default::default()
        };
        assert!(negative.validate().is_err());
        assert!(serde_json::from_str::<FaultConfig>(r#"{"p_5000": 1}"#).is_err());
    }

    #[test]
    fn filters_and_times() {
        let f = Faults::default();
        f.set(FaultConfig {
            p_503: 1.0,
            path: Some("rotate_secret".into()),
            methods: vec!["post".into()],
            times: Some(2),
            ..Default::default()
        })
        .unwrap();
        assert!(matches!(f.roll("GET", "/x/rotate_secret").1, Roll::None));
        assert!(matches!(f.roll("POST", "/x").1, Roll::None));
        assert!(matches!(
            f.roll("POST", "/x/rotate_secret").1,
            Roll::Error(FaultKind::Unavailable)
        ));
        assert_eq!(f.get().times, Some(1));
        assert!(matches!(
            f.roll("POST", "/x/rotate_secret").1,
            Roll::Error(_)
        ));
        assert_eq!(f.get(), FaultConfig::default());
        assert!(matches!(f.roll("POST", "/x/rotate_secret").1, Roll::None));
    }
}
