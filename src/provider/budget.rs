//! What one reconcile may spend at the providers, carried with the task that
//! spends it: the tenant it works for (the OAuthClient's namespace: the unit of
//! fairness at a shared rate limiter) and its deadline (no provider call, limiter
//! wait or account lock outlives it).
//!
//! The controller wraps each reconcile in [`scoped`]; the HTTP layer and the rate
//! limiter read [`current`]. Outside a scope (the CLI, tests of a provider client)
//! there is no tenant and no deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

// Tokio's clock, so a test with a paused clock moves deadlines too.
use tokio::time::Instant;

/// Who is calling, and until when.
#[derive(Clone, Debug)]
pub struct CallScope {
    /// The namespace a call is made for; calls of one tenant queue behind each
    /// other at a shared limiter, tenants take turns.
    pub tenant: Arc<str>,
    /// No provider work of this scope may go on after this instant.
    pub deadline: Option<Instant>,
}

impl CallScope {
    /// A scope for `tenant` that ends `budget` from now.
    pub fn new(tenant: &str, budget: Option<Duration>) -> Self {
        Self {
            tenant: Arc::from(tenant),
            deadline: budget.map(|b| Instant::now() + b),
        }
    }
}

tokio::task_local! {
    static SCOPE: CallScope;
}

/// Run `f` within `scope`.
pub async fn scoped<F: Future>(scope: CallScope, f: F) -> F::Output {
    SCOPE.scope(scope, f).await
}

/// The scope of the running task, if any.
pub fn current() -> Option<CallScope> {
    SCOPE.try_with(|s| s.clone()).ok()
}

/// The tenant of the running task, if any.
pub fn tenant() -> Option<Arc<str>> {
    SCOPE.try_with(|s| s.tenant.clone()).ok()
}

/// The deadline of the running task, if any.
pub fn deadline() -> Option<Instant> {
    SCOPE.try_with(|s| s.deadline).ok().flatten()
}

/// Time left before the running task's deadline (`None`: no deadline;
/// `Some(ZERO)`: it has passed).
pub fn remaining() -> Option<Duration> {
    deadline().map(|d| d.saturating_duration_since(Instant::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_scope_is_seen_inside_and_not_outside() {
        assert!(current().is_none());
        assert!(remaining().is_none());
        let seen = scoped(
            CallScope::new("team-a", Some(Duration::from_secs(60))),
            async { (tenant(), remaining()) },
        )
        .await;
        assert_eq!(seen.0.as_deref(), Some("team-a"));
        assert!(seen.1.is_some_and(|r| r > Duration::from_secs(50)));
        assert!(tenant().is_none());
    }
}
