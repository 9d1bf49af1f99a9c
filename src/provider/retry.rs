//! When and how long to wait before repeating a failed provider call.
//!
//! - Full-jitter exponential backoff: attempt `n` (0-based) waits a uniformly random
//!   time in `[0, min(cap, base · 2ⁿ)]`, so many callers that failed together do not
//!   retry together.
//! - A provider's `Retry-After` (seconds or an HTTP-date) wins over the backoff when
//!   it is longer; a Retry-After longer than `max_retry_after` is not waited for in
//!   process: the error goes back to the caller, which requeues.
//! - Only what is safe is retried: reads, PATCH and DELETE on rate limits, 5xx and
//!   transport errors. Create and rotate are retried only when the provider cannot
//!   have acted: a 429, or a connection that failed before the request was sent.
//!   Anything else after sending is `OutcomeUnknown` (see
//!   [`ProviderError::for_operation`]).

use std::time::{Duration, SystemTime};

use super::error::{Operation, ProviderError};

/// Retry settings; `Default` suits a reconciler (a handful of quick retries, then
/// the error goes back to the work queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first; 1 disables retries.
    pub max_attempts: u32,
    /// Backoff of the first retry (before jitter).
    pub base: Duration,
    /// Longest backoff (before jitter).
    pub cap: Duration,
    /// The longest Retry-After (or limiter wait) honoured in process; longer ones are
    /// returned to the caller as `RateLimited { retry_after }`.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The backoff ceiling of retry `attempt` (0 = the first retry):
    /// `min(cap, base · 2^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Full jitter: `unit` (uniform in `[0, 1)`) scaled onto `[0, ceiling(attempt)]`.
    pub fn backoff_with(&self, attempt: u32, unit: f64) -> Duration {
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.ceiling(attempt).mul_f64(unit)
    }

    /// Full-jitter backoff of retry `attempt` with a random draw.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.backoff_with(attempt, rand::random::<f64>())
    }

    /// Whether `operation`, having failed with `error` on attempt `attempt` (0 = the
    /// first), is tried again. `sent` says whether the request may have reached the
    /// provider (false only for failures before the first byte was written, such as
    /// a refused connection).
    pub fn should_retry(
        &self,
        operation: Operation,
        error: &ProviderError,
        attempt: u32,
        sent: bool,
    ) -> bool {
        if attempt + 1 >= self.max_attempts {
            return false;
        }
        if let Some(after) = error.retry_after()
            && after > self.max_retry_after
        {
            return false;
        }
        if operation.is_idempotent() {
            return error.is_retryable();
        }
        match error {
            // The provider refused before doing anything.
            ProviderError::RateLimited { .. } => true,
            // Never left this process.
            ProviderError::Transport { .. } => !sent,
            _ => false,
        }
    }

    /// How long to wait before retry `attempt` after `error`: the provider's
    /// Retry-After when it is longer than the backoff, else the backoff.
    pub fn delay_with(&self, attempt: u32, error: &ProviderError, unit: f64) -> Duration {
        let backoff = self.backoff_with(attempt, unit);
        match error.retry_after() {
            Some(after) => after.max(backoff),
            None => backoff,
        }
    }

    /// [`delay_with`](Self::delay_with) with a random draw.
    pub fn delay(&self, attempt: u32, error: &ProviderError) -> Duration {
        self.delay_with(attempt, error, rand::random::<f64>())
    }
}

/// Parse a `Retry-After` value: delta-seconds (`"120"`) or an HTTP-date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`, also the obsolete RFC 850 and asctime
/// forms). A date in the past gives zero. `None` when unparseable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Huge values saturate rather than fail: the caller compares with a cap.
        let secs = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parse an HTTP-date (RFC 9110 §5.6.7) in any of its three forms.
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    use chrono::{DateTime, NaiveDateTime, Utc};
    let value = value.trim();
    let naive = if let Ok(dt) = DateTime::parse_from_rfc2822(value) {
        dt.naive_utc()
    } else {
        let rfc850 = value
            .strip_suffix(" GMT")
            .and_then(|v| NaiveDateTime::parse_from_str(v, "%A, %d-%b-%y %H:%M:%S").ok());
        match rfc850 {
            Some(n) => n,
            None => {
                let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
                NaiveDateTime::parse_from_str(&collapsed, "%a %b %e %H:%M:%S %Y").ok()?
            }
        }
    };
    let utc: DateTime<Utc> = naive.and_utc();
    let secs = utc.timestamp();
    if secs < 0 {
        return Some(SystemTime::UNIX_EPOCH);
    }
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs as u64))
}

/// The wait a Cloudflare-style `Ratelimit` header announces when the budget is used
/// up (`"default";r=0;t=30` → 30 s); `None` when budget remains or it is absent.
pub fn parse_ratelimit_reset(value: &str) -> Option<Duration> {
    let mut remaining = None;
    let mut reset = None;
    for part in value.split([';', ',']) {
        let part = part.trim();
        if let Some(r) = part.strip_prefix("r=") {
            remaining = r.trim().parse::<u64>().ok();
        } else if let Some(t) = part.strip_prefix("t=") {
            reset = t.trim().parse::<u64>().ok();
        }
    }
    match (remaining, reset) {
        (Some(0), Some(t)) => Some(Duration::from_secs(t)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(10),
        }
    }

    fn server(status: u16) -> ProviderError {
        ProviderError::Server {
            status,
            messages: vec![],
        }
    }

    fn limited(secs: u64) -> ProviderError {
        ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
            messages: vec![],
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = policy();
        let ceilings: Vec<u64> = (0..6).map(|a| p.ceiling(a).as_millis() as u64).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(1));
        assert_eq!(p.backoff_with(2, 0.0), Duration::ZERO);
        assert_eq!(p.backoff_with(2, 0.5), Duration::from_millis(200));
        assert_eq!(p.backoff_with(2, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff_with(2, f64::NAN), Duration::ZERO);
        assert_eq!(p.backoff_with(2, 7.0), Duration::from_millis(400));
    }

    #[test]
    fn random_backoff_stays_within_the_ceiling() {
        let p = policy();
        for attempt in 0..8 {
            for _ in 0..200 {
                assert!(p.backoff(attempt) <= p.ceiling(attempt));
            }
        }
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let p = policy();
        assert_eq!(p.delay_with(0, &limited(3), 1.0), Duration::from_secs(3));
        assert_eq!(
            p.delay_with(
                4,
                &ProviderError::RateLimited {
                    retry_after: Some(Duration::from_millis(10)),
                    messages: vec![]
                },
                1.0
            ),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay_with(1, &server(503), 0.5),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn idempotent_operations_retry_transient_errors() {
        let p = policy();
        for op in [
            Operation::List,
            Operation::Get,
            Operation::Update,
            Operation::Delete,
            Operation::DeleteRotatedSecret,
        ] {
            assert!(p.should_retry(op, &server(503), 0, true));
            assert!(p.should_retry(op, &limited(1), 0, true));
            assert!(p.should_retry(op, &ProviderError::transport("reset"), 0, true));
            assert!(!p.should_retry(op, &ProviderError::NotFound { messages: vec![] }, 0, true));
            assert!(!p.should_retry(op, &ProviderError::Conflict { messages: vec![] }, 0, true));
            // Attempts run out.
            assert!(!p.should_retry(op, &server(503), 4, true));
            // A Retry-After beyond the cap goes back to the caller.
            assert!(!p.should_retry(op, &limited(11), 0, true));
        }
    }

    #[test]
    fn create_and_rotate_are_never_retried_blindly() {
        let p = policy();
        for op in [Operation::Create, Operation::RotateSecret] {
            assert!(!p.should_retry(op, &server(500), 0, true));
            assert!(!p.should_retry(op, &server(503), 0, true));
            assert!(!p.should_retry(op, &ProviderError::transport("timeout"), 0, true));
            assert!(!p.should_retry(op, &ProviderError::outcome_unknown(op, "x"), 0, true));
            // Safe: the provider refused before acting, or nothing was sent.
            assert!(p.should_retry(op, &limited(1), 0, true));
            assert!(p.should_retry(op, &ProviderError::transport("refused"), 0, false));
        }
        assert!(!RetryPolicy::never().should_retry(Operation::Get, &server(503), 0, true));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // 2015-10-21 07:28:00 UTC
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:05 2015", now),
            Some(Duration::from_secs(5))
        );
        // A date in the past: retry now.
        assert_eq!(
            parse_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        for bad in ["", "-1", "1.5", "soon", "Wed, 99 Oct 2015 07:28:00 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn ratelimit_header_gives_the_reset_only_when_exhausted() {
        assert_eq!(
            parse_ratelimit_reset(r#""default";r=0;t=30"#),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_ratelimit_reset(r#""default";r=5;t=30"#), None);
        assert_eq!(parse_ratelimit_reset("garbage"), None);
    }
}
