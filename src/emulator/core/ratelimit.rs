//! Per-credential token buckets, the way providers meter API calls.
//!
//! Each credential gets a bucket of `requests` tokens that refills continuously at
//! `requests / period`. A request takes one token; with none left it is refused
//! with a `Retry-After` (whole seconds, rounded up) until the next token. Every
//! answer carries `Ratelimit: "default";r=<remaining>;t=<seconds until full>` and
//! `Ratelimit-Policy: "default";q=<requests>;w=<period seconds>`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};

use super::Clock;

/// `N/PERIOD`, e.g. `1200/5m`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per period (the bucket size).
    pub requests: u32,
    /// The period over which the bucket refills completely.
    pub period: Duration,
}

impl Default for RateLimit {
    /// Cloudflare's global limit: 1,200 requests per five minutes.
    fn default() -> Self {
        Self {
            requests: 1200,
            period: Duration::from_secs(300),
        }
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}s", self.requests, self.period.as_secs_f64())
    }
}

/// Parse a duration such as `300`, `300s`, `5m`, `1h`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 300s, 5m, 1h"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit {unit:?} in {s:?}: use ms, s, m or h"
            ));
        }
    };
    if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
        return Err(format!("duration {s:?} must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl FromStr for RateLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (n, p) = s
            .split_once('/')
            .ok_or_else(|| format!("invalid rate limit {s:?}: expected N/PERIOD, e.g. 1200/5m"))?;
        let requests: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("invalid request count {n:?} in rate limit {s:?}"))?;
        if requests == 0 {
            return Err(format!("rate limit {s:?} must allow at least one request"));
        }
        Ok(Self {
            requests,
            period: parse_duration(p)?,
        })
    }
}

/// The outcome of [`RateLimiter::check`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateDecision {
    /// No limit is configured.
    Unlimited,
    /// Allowed; `remaining` tokens left, full again in `reset_secs`.
    Allowed { remaining: u32, reset_secs: u64 },
    /// Refused; retry in `retry_after_secs`.
    Limited {
        retry_after_secs: u64,
        reset_secs: u64,
    },
}

impl RateDecision {
    /// True when the request must be refused with 429.
    pub fn is_limited(&self) -> bool {
        matches!(self, Self::Limited { .. })
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: DateTime<Utc>,
}

/// Token buckets keyed by credential.
#[derive(Debug)]
pub struct RateLimiter {
    limit: Option<RateLimit>,
    clock: Clock,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter; `None` never refuses.
    pub fn new(limit: Option<RateLimit>, clock: Clock) -> Self {
        Self {
            limit,
            clock,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The configured limit.
    pub fn limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// Take one token from `key`'s bucket.
    pub fn check(&self, key: &str) -> RateDecision {
        let Some(limit) = self.limit else {
            return RateDecision::Unlimited;
        };
        let now = self.clock.now();
        let cap = f64::from(limit.requests);
        let rate = cap / limit.period.as_secs_f64(); // tokens per second
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: cap,
            at: now,
        });
        let elapsed = (now - b.at).num_milliseconds().max(0) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(cap);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            RateDecision::Allowed {
                remaining: b.tokens.floor() as u32,
                reset_secs: ((cap - b.tokens) / rate).ceil() as u64,
            }
        } else {
            RateDecision::Limited {
                retry_after_secs: (((1.0 - b.tokens) / rate).ceil() as u64).max(1),
                reset_secs: ((cap - b.tokens) / rate).ceil() as u64,
            }
        }
    }

    /// The `Ratelimit`, `Ratelimit-Policy` and (when limited) `Retry-After` headers.
    pub fn headers(&self, decision: &RateDecision) -> HeaderMap {
        let mut h = HeaderMap::new();
        let Some(limit) = self.limit else {
            return h;
        };
        let (remaining, reset) = match *decision {
            RateDecision::Unlimited => return h,
            RateDecision::Allowed {
                remaining,
                reset_secs,
            } => (remaining, reset_secs),
            RateDecision::Limited {
                retry_after_secs,
                reset_secs,
            } => {
                h.insert("retry-after", HeaderValue::from(retry_after_secs));
                (0, reset_secs)
            }
        };
        if let Ok(v) = HeaderValue::from_str(&format!("\"default\";r={remaining};t={reset}")) {
            h.insert("ratelimit", v);
        }
        let window = limit.period.as_secs().max(1);
        if let Ok(v) =
            HeaderValue::from_str(&format!("\"default\";q={};w={window}", limit.requests))
        {
            h.insert("ratelimit-policy", v);
        }
        h
    }

    /// Refill every bucket.
    pub fn reset(&self) {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rate_limits() {
        assert_eq!(
            "1200/5m".parse::<RateLimit>().unwrap(),
            RateLimit::default()
        );
        let r: RateLimit = "3/10s".parse().unwrap();
        assert_eq!((r.requests, r.period), (3, Duration::from_secs(10)));
        assert_eq!(
            "5/300".parse::<RateLimit>().unwrap().period,
            Duration::from_secs(300)
        );
        assert_eq!(
            "5/500ms".parse::<RateLimit>().unwrap().period,
            Duration::from_millis(500)
        );
        for bad in ["", "5", "0/5m", "x/5m", "5/", "5/5d", "5/-1s", "5/0s"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bucket_empties_and_refills_with_the_clock() {
        let clock = Clock::default();
        let l = RateLimiter::new(Some("2/10s".parse().unwrap()), clock.clone());
        assert!(matches!(
            l.check("a"),
            RateDecision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            l.check("a"),
            RateDecision::Allowed { remaining: 0, .. }
        ));
        let d = l.check("a");
        let RateDecision::Limited {
            retry_after_secs, ..
        } = d
        else {
            panic!("{d:?}")
        };
        assert!((1..=5).contains(&retry_after_secs), "{retry_after_secs}");
        let h = l.headers(&d);
        assert_eq!(h["retry-after"], retry_after_secs.to_string().as_str());
        assert!(
            h["ratelimit"]
                .to_str()
                .unwrap()
                .starts_with("\"default\";r=0;t=")
        );
        assert_eq!(h["ratelimit-policy"], "\"default\";q=2;w=10");
        // another credential has its own bucket
        assert!(!l.check("b").is_limited());
        clock.advance(Duration::from_secs(10));
        assert!(!l.check("a").is_limited());
    }
}
