//! Request counters: how many requests each operation received and how each was
//! answered. Benchmarks and chaos tests read them to count provider calls.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use super::Clock;
use super::faults::{FaultKind, FaultOutcome};

/// How many recent requests are kept in full.
pub const RECENT_CAPACITY: usize = 1000;

/// One request as the log keeps it (no headers, no bodies).
#[derive(Serialize, Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// 1, 2, 3, ... since the last reset.
    pub seq: u64,
    /// Emulated time the request was answered.
    pub at: String,
    pub method: String,
    pub path: String,
    /// The provider operation, e.g. `create`.
    pub operation: String,
    /// The status sent, or the status the handler produced when the connection
    /// was dropped (`dropped` is then true and the caller saw none).
    pub status: u16,
    /// `500`, `503`, `429` (injected, not handled) or `dropped` (handled, not answered).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Counts for one operation.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct OperationCounts {
    pub total: u64,
    /// Keyed by the status the caller saw, or `dropped`.
    pub by_status: BTreeMap<String, u64>,
    /// Injected faults among them (500/503/429 that the handler never saw).
    pub injected: u64,
}

/// What `GET /__emulator/requests` returns.
#[derive(Serialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub total: u64,
    pub operations: BTreeMap<String, OperationCounts>,
    /// The most recent requests, oldest first (at most [`RECENT_CAPACITY`]).
    pub recent: Vec<Entry>,
}

#[derive(Default)]
struct Inner {
    seq: u64,
    operations: BTreeMap<String, OperationCounts>,
    recent: VecDeque<Entry>,
}

/// The request log.
pub struct RequestLog {
    clock: Clock,
    inner: Mutex<Inner>,
}

impl RequestLog {
    /// An empty log.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Record one answered request.
    pub fn record(
        &self,
        method: &Method,
        path: &str,
        operation: &str,
        status: u16,
        fault: Option<FaultOutcome>,
    ) {
        let at = self.clock.now().to_rfc3339();
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.seq += 1;
        let seq = inner.seq;
        let ops = inner.operations.entry(operation.to_owned()).or_default();
        ops.total += 1;
        let key = match fault {
            Some(FaultOutcome::Dropped) => "dropped".to_owned(),
            _ => status.to_string(),
        };
        *ops.by_status.entry(key).or_default() += 1;
        if matches!(fault, Some(FaultOutcome::Injected(_))) {
            ops.injected += 1;
        }
        let fault = fault.map(|f| match f {
            FaultOutcome::Dropped => "dropped".to_owned(),
            FaultOutcome::Injected(FaultKind::InternalError) => "500".to_owned(),
            FaultOutcome::Injected(FaultKind::Unavailable) => "503".to_owned(),
            FaultOutcome::Injected(FaultKind::Throttled) => "429".to_owned(),
        });
        if inner.recent.len() == RECENT_CAPACITY {
            inner.recent.pop_front();
        }
        inner.recent.push_back(Entry {
            seq,
            at,
            method: method.to_string(),
            path: path.to_owned(),
            operation: operation.to_owned(),
            status,
            fault,
        });
    }

    /// Counters and recent requests.
    pub fn snapshot(&self) -> Snapshot {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        Snapshot {
            total: inner.seq,
            operations: inner.operations.clone(),
            recent: inner.recent.iter().cloned().collect(),
        }
    }

    /// Forget everything.
    pub fn reset(&self) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = Inner::default();
    }
}

/// State of [`log_middleware`]: the log and the provider's operation classifier.
#[derive(Clone)]
pub struct LogLayer {
    pub log: Arc<RequestLog>,
    /// Names the provider operation of a request, e.g. `("POST", "/client/v4/accounts/x/oauth_clients")` → `create`.
    pub classify: fn(&Method, &str) -> &'static str,
}

/// Middleware counting every request it sees (put it outside the fault layer so
/// injected faults are counted too).
pub async fn log_middleware(State(layer): State<LogLayer>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let op = (layer.classify)(&method, &path);
    let resp = next.run(req).await;
    let fault = resp.extensions().get::<FaultOutcome>().copied();
    tracing::debug!(%method, %path, operation = op, status = resp.status().as_u16(), ?fault, "request");
    layer
        .log
        .record(&method, &path, op, resp.status().as_u16(), fault);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation_and_status() {
        let log = RequestLog::new(Clock::default());
        log.record(&Method::POST, "/a", "create", 200, None);
        log.record(
            &Method::POST,
            "/a",
            "create",
            200,
            Some(FaultOutcome::Dropped),
        );
        log.record(
            &Method::GET,
            "/a",
            "list",
            500,
            Some(FaultOutcome::Injected(FaultKind::InternalError)),
        );
        let s = log.snapshot();
        assert_eq!(s.total, 3);
        assert_eq!(s.operations["create"].by_status["200"], 1);
        assert_eq!(s.operations["create"].by_status["dropped"], 1);
        assert_eq!(s.operations["list"].injected, 1);
        assert_eq!(s.recent[2].fault.as_deref(), Some("500"));
        log.reset();
        assert_eq!(log.snapshot(), Snapshot::default());
    }
}
