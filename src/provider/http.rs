//! The HTTP layer every provider client shares: one reqwest client builder with
//! the project's rules, and an [`Executor`] that runs one provider operation with
//! the account's rate limiter, the retry policy and a bounded response body, within
//! the deadline of the reconcile it runs for ([`budget`]).
//!
//! Rules: a timeout on every call (connect and total), `User-Agent:
//! clientops/<version>`, redirects never followed (a provider that redirects is
//! misconfigured: the error names the target), TLS through rustls with the ring
//! provider ([`crate::tls`]), and certificate checks off only through the explicit
//! `insecure_skip_tls_verify`, which logs a warning.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, StatusCode};
// Tokio's clock, as the deadlines of [`budget`] use it.
use tokio::time::Instant;

use super::budget;
use super::error::{Operation, ProviderError, ProviderMessage, sanitize};
use super::ratelimit::{LimiterKey, RateLimiter};
use super::retry::RetryPolicy;

/// The `User-Agent` of every provider request.
pub const USER_AGENT: &str = concat!("clientops/", env!("CARGO_PKG_VERSION"));

/// The least time an attempt is started with: with less left before the
/// reconcile's deadline, a request is not sent at all (`DeadlineExceeded`), since
/// it would almost surely time out, and a create or rotate cut short is an
/// unknown outcome that costs a LIST to resolve.
pub const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(100);

/// The largest response body read by default for one object (8 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The largest response body read by default for a LIST (64 MiB). Cloudflare's
/// LIST is one page with every client of the account (~600 bytes each): 8 MiB
/// would leave an account of more than ~14,000 clients unlistable, and so
/// unmanageable. 64 MiB is ~110,000 clients.
pub const DEFAULT_MAX_LIST_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How many bytes of a response body are read before it is refused as too large.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// For operations on one object (and the scope catalogue, the token exchange).
    pub object: usize,
    /// For [`Operation::List`]: a page, or for Cloudflare the whole account.
    pub list: usize,
}

impl BodyLimits {
    /// The limit for `operation`.
    pub fn for_operation(self, operation: Operation) -> usize {
        match operation {
            Operation::List => self.list,
            _ => self.object,
        }
    }
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            object: DEFAULT_MAX_BODY_BYTES,
            list: DEFAULT_MAX_LIST_BODY_BYTES,
        }
    }
}

/// Settings of the shared reqwest client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    /// Whole-call timeout: connect, send, and read the full response.
    pub timeout: Duration,
    /// Connect timeout (TCP and TLS handshake).
    pub connect_timeout: Duration,
    /// Accept any server certificate. For a self-signed emulator in development
    /// only; logs a warning when a client is built with it.
    pub insecure_skip_tls_verify: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            insecure_skip_tls_verify: false,
        }
    }
}

/// Build a reqwest client with the rules above. Installs the ring crypto provider
/// first, so it never panics for want of one.
pub fn build_client(options: &HttpOptions) -> Result<reqwest::Client, ProviderError> {
    client_builder(options)
        .build()
        .map_err(|e| ProviderError::config(format!("building the HTTP client: {}", chain(&e))))
}

/// The builder behind [`build_client`], for a caller that adds to it (the URL
/// policy's guarded resolver).
pub fn client_builder(options: &HttpOptions) -> reqwest::ClientBuilder {
    crate::tls::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Provider names are looked up fully qualified, never with the pod's
        // search list (super::dns); a tenant's client replaces this resolver
        // with the URL policy's, which does the same.
        .dns_resolver(super::dns::FullyQualifiedResolver::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .tls_backend_rustls();
    if options.insecure_skip_tls_verify {
        tracing::warn!(
            "insecure_skip_tls_verify is set: provider TLS certificates are NOT verified; \
             use this only against a development emulator"
        );
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
}

/// What a delete found (every provider client's `delete`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The object was deleted by this call.
    Deleted,
    /// There was nothing to delete (404), e.g. a retried delete whose first
    /// attempt succeeded, or a client deleted by hand.
    AlreadyAbsent,
}

/// A response as read from the wire, body capped at the executor's limit.
#[derive(Debug)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body, at most the limit long.
    pub body: Vec<u8>,
    /// Whether the body was longer than the limit (and cut).
    pub truncated: bool,
}

#[cfg(test)]
impl RawResponse {
    /// A whole response without headers, for tests of response interpreters.
    pub fn for_test(status: u16, body: &str) -> Self {
        Self {
            status: StatusCode::from_u16(status).expect("a valid status"),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }
}

/// One attempt as seen by a [`RequestHook`].
#[derive(Debug)]
pub struct RequestRecord<'a> {
    /// The account the call was for.
    pub key: &'a LimiterKey,
    /// The operation.
    pub operation: Operation,
    /// 0 for the first attempt.
    pub attempt: u32,
    /// The HTTP status, when a response arrived.
    pub status: Option<u16>,
    /// The error class (`ProviderError::kind`), when the attempt failed.
    pub error: Option<&'static str>,
    /// From sending to the end of the body.
    pub duration: Duration,
}

/// Called once per attempt (for request metrics).
pub type RequestHook = Arc<dyn Fn(&RequestRecord<'_>) + Send + Sync>;

/// Runs provider operations for one account: rate limiter, retries, body limit.
#[derive(Clone)]
pub struct Executor {
    client: reqwest::Client,
    limiter: Arc<RateLimiter>,
    retry: RetryPolicy,
    body_limits: BodyLimits,
    on_request: Option<RequestHook>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("limiter", &self.limiter.key())
            .field("retry", &self.retry)
            .field("body_limits", &self.body_limits)
            .finish()
    }
}

impl Executor {
    /// An executor with the default body limits and no request hook.
    pub fn new(client: reqwest::Client, limiter: Arc<RateLimiter>, retry: RetryPolicy) -> Self {
        Self {
            client,
            limiter,
            retry,
            body_limits: BodyLimits::default(),
            on_request: None,
        }
    }

    /// Cap response bodies at `limits`.
    pub fn with_body_limits(mut self, limits: BodyLimits) -> Self {
        self.body_limits = limits;
        self
    }

    /// Report every attempt to `hook`.
    pub fn with_request_hook(mut self, hook: RequestHook) -> Self {
        self.on_request = Some(hook);
        self
    }

    /// The reqwest client, for building requests.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The account's shared limiter.
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Run `operation`: `build` makes the request (called again for each attempt),
    /// `interpret` turns a response into the result or a typed error. Retries follow
    /// the policy; the final error passes through
    /// [`ProviderError::for_operation`], so a create or rotate whose outcome is
    /// unknown says so.
    ///
    /// Within a [`budget`] scope nothing outlives its deadline: the limiter wait is
    /// at most the time left (less [`MIN_ATTEMPT_TIME`]), an attempt in flight is
    /// cut at the deadline (a timeout, as any other), and no retry or backoff
    /// starts that would end past it (the last attempt's error is returned). With
    /// too little time left before anything was sent, the error is
    /// [`ProviderError::DeadlineExceeded`].
    pub async fn execute<T>(
        &self,
        operation: Operation,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        interpret: impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let mut attempt = 0u32;
        // The last attempt's error and whether its request may have been sent: what
        // is returned when the deadline stops a retry.
        let mut last: Option<(ProviderError, bool)> = None;
        loop {
            let max_wait = match budget::remaining() {
                None => self.retry.max_retry_after,
                Some(left) if left < MIN_ATTEMPT_TIME => {
                    return Err(out_of_time(
                        operation,
                        attempt,
                        last,
                        "too little time left to start a request",
                    ));
                }
                Some(left) => self.retry.max_retry_after.min(left - MIN_ATTEMPT_TIME),
            };
            if let Err(wait) = self.limiter.acquire_within(max_wait).await {
                if max_wait < self.retry.max_retry_after && wait <= self.retry.max_retry_after {
                    // Only the deadline was in the way.
                    return Err(out_of_time(
                        operation,
                        attempt,
                        last,
                        "waiting for the rate limiter",
                    ));
                }
                return Err(ProviderError::RateLimited {
                    retry_after: Some(wait),
                    messages: vec![ProviderMessage::new(
                        None,
                        &format!(
                            "client-side rate limit of {} is exhausted",
                            self.limiter.key()
                        ),
                        None,
                    )],
                });
            }
            let deadline = budget::deadline();
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(out_of_time(
                    operation,
                    attempt,
                    last,
                    "waiting for the rate limiter",
                ));
            }
            let started = Instant::now();
            let attempt_once = self.attempt(
                build(&self.client),
                self.body_limits.for_operation(operation),
                &interpret,
            );
            // Cut at the deadline here rather than through the request's own
            // timeout, which would replace (and could lengthen) the client's.
            let (result, sent) = match deadline {
                None => attempt_once.await,
                Some(deadline) => match tokio::time::timeout_at(deadline, attempt_once).await {
                    Ok(outcome) => outcome,
                    Err(_) => (
                        Err((
                            None,
                            ProviderError::transport(
                                "timed out: the reconcile's time budget ran out while the \
                                 request was in flight",
                            ),
                        )),
                        true,
                    ),
                },
            };
            if let Some(hook) = &self.on_request {
                let (status, error) = match &result {
                    Ok((status, _)) => (Some(*status), None),
                    Err((status, e)) => (*status, Some(e.kind())),
                };
                hook(&RequestRecord {
                    key: self.limiter.key(),
                    operation,
                    attempt,
                    status,
                    error,
                    duration: started.elapsed(),
                });
            }
            let error = match result {
                Ok((_, value)) => return Ok(value),
                Err((_, e)) => e,
            };
            // The provider throttles the whole account: hold every caller of it
            // until its Retry-After, whether or not this call is retried.
            let retry_after = error.retry_after();
            if let Some(after) = retry_after {
                self.limiter.block_for(after);
            }
            if !self.retry.should_retry(operation, &error, attempt, sent) {
                tracing::debug!(operation = %operation, attempt, error = %error, "provider call failed");
                return Err(error.for_operation(operation, sent));
            }
            let delay = self.retry.delay(attempt, &error);
            if budget::remaining().is_some_and(|left| delay.saturating_add(MIN_ATTEMPT_TIME) > left)
            {
                // The retry would start too late: give the error as it is.
                return Err(out_of_time(
                    operation,
                    attempt,
                    Some((error, sent)),
                    "a retry",
                ));
            }
            tracing::warn!(
                operation = %operation,
                attempt,
                delay_ms = delay.as_millis() as u64,
                error = %error,
                "provider call failed; retrying"
            );
            // With a Retry-After, the limiter already holds the next attempt until
            // then; sleep only the rest of the backoff.
            tokio::time::sleep(delay.saturating_sub(retry_after.unwrap_or_default())).await;
            last = Some((error, sent));
            attempt += 1;
        }
    }

    /// One attempt. Returns the status (if a response came) with the outcome, and
    /// whether the request may have reached the provider.
    async fn attempt<T>(
        &self,
        request: reqwest::RequestBuilder,
        max_body_bytes: usize,
        interpret: &impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> (Result<(u16, T), (Option<u16>, ProviderError)>, bool) {
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                // Only a failed connect proves nothing was sent.
                let sent = !e.is_connect();
                return (Err((None, transport_error(&e))), sent);
            }
        };
        let status = response.status();
        let code = status.as_u16();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(no Location)")
                .to_string();
            let e = ProviderError::UnexpectedStatus {
                status: code,
                message: sanitize(&format!(
                    "the provider redirected to {location}; redirects are not followed: \
                     set the base URL to the final address"
                )),
            };
            return (Err((Some(code), e)), true);
        }
        let raw = match read_body(response, max_body_bytes).await {
            Ok(raw) => raw,
            Err(e) => return (Err((Some(code), e)), true),
        };
        if raw.truncated && status.is_success() {
            let e = ProviderError::decode(format!(
                "the response body is larger than {max_body_bytes} bytes"
            ));
            return (Err((Some(code), e)), true);
        }
        match interpret(raw) {
            Ok(v) => (Ok((code, v)), true),
            Err(e) => (Err((Some(code), e)), true),
        }
    }
}

/// The error of a call the deadline stopped: the last attempt's error (a retry was
/// not started), or `DeadlineExceeded` when nothing was sent yet.
fn out_of_time(
    operation: Operation,
    attempt: u32,
    last: Option<(ProviderError, bool)>,
    waiting_for: &'static str,
) -> ProviderError {
    tracing::debug!(operation = %operation, attempt, waiting_for, "the reconcile's time budget ran out");
    match last {
        Some((error, sent)) => error.for_operation(operation, sent),
        None => ProviderError::DeadlineExceeded {
            operation,
            waiting_for,
        },
    }
}

/// Read at most `limit` bytes of the body; the rest is dropped (and the connection
/// with it) and `truncated` is set.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<RawResponse, ProviderError> {
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let announced = response.content_length().unwrap_or(0);
    // Sized by Content-Length (never beyond the limit): no regrowth for big bodies.
    let mut body = Vec::with_capacity((announced as usize).min(limit));
    let mut truncated = announced > limit as u64;
    while !truncated {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                } else {
                    body.extend_from_slice(&chunk);
                }
            }
            Ok(None) => break,
            Err(e) => return Err(transport_error(&e)),
        }
    }
    Ok(RawResponse {
        status,
        headers,
        body,
        truncated,
    })
}

/// A reqwest error as a sanitized `Transport` error (its class and cause chain,
/// without the URL), or `UntrustedCertificate` when rustls refused the server's
/// certificate.
pub fn transport_error(e: &reqwest::Error) -> ProviderError {
    // The URL policy's resolver refused every address: our decision, in our words,
    // and a configuration error (waiting cannot change it; nothing was sent).
    if let Some(refusal) = super::url_policy::refusal_in(e) {
        return refusal.clone().into();
    }
    if let Some(tls) = rustls_error(e)
        && matches!(
            tls,
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
        )
    {
        return ProviderError::untrusted_certificate(tls.to_string());
    }
    let class = if e.is_connect() {
        "connecting failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "reading the response failed"
    } else if e.is_request() {
        "sending the request failed"
    } else {
        "request failed"
    };
    ProviderError::transport(format!("{class}: {}", chain(e)))
}

/// The rustls error somewhere in `e`'s cause chain. The connector wraps it in
/// `io::Error`s (two, nested), whose `source()` skips the wrapped error itself:
/// look inside each.
fn rustls_error(e: &reqwest::Error) -> Option<&rustls::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let mut inner: &(dyn std::error::Error + 'static) = s;
        loop {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        source = s.source();
    }
    None
}

/// An error and its sources, joined with `: `, without reqwest's URL.
fn chain(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        let text = e.to_string();
        parts.push(match e.url() {
            Some(url) => text.replace(url.as_str(), "<url>"),
            None => text,
        });
    }
    parts.join(": ")
}

/// Encode a request body.
pub fn to_json<T: serde::Serialize + ?Sized>(body: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body).map_err(|e| ProviderError::config(format!("encoding the body: {e}")))
}

/// A non-2xx answer as a typed error, by its status: 401 `Unauthorized`, 403
/// `Forbidden`, 404 `NotFound`, 409 `Conflict`, 429 `RateLimited` (when to try
/// again from [`retry_after`]), any other 4xx `Invalid`, 5xx `Server`, anything
/// else (1xx, 3xx) `UnexpectedStatus` with the first message. Every provider client
/// maps statuses with this; what is its own is how it reads `messages` from its
/// error body, and the few answers its body says more about (decided before).
pub fn error_for_status(
    status: StatusCode,
    headers: &HeaderMap,
    messages: Vec<ProviderMessage>,
) -> ProviderError {
    let code = status.as_u16();
    match code {
        401 => ProviderError::Unauthorized { messages },
        403 => ProviderError::Forbidden { messages },
        404 => ProviderError::NotFound { messages },
        409 => ProviderError::Conflict { messages },
        429 => ProviderError::RateLimited {
            retry_after: retry_after(headers),
            messages,
        },
        500..=599 => ProviderError::Server {
            status: code,
            messages,
        },
        400..=499 => ProviderError::Invalid {
            status: code,
            messages,
        },
        _ => ProviderError::UnexpectedStatus {
            status: code,
            message: messages.first().map(|m| m.to_string()).unwrap_or_default(),
        },
    }
}

/// When to try again after a 429: `Retry-After` (seconds or an HTTP date), else the
/// reset of a `RateLimit` header.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| super::retry::parse_retry_after(v, std::time::SystemTime::now()))
        .or_else(|| {
            headers
                .get("ratelimit")
                .and_then(|v| v.to_str().ok())
                .and_then(super::retry::parse_ratelimit_reset)
        })
}

/// A serde_json error without any quoted input (which could be a secret): quoted
/// strings become `"…"`; field names (in backticks) and positions stay.
pub fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let mut out = String::with_capacity(text.len());
    let mut in_quotes = false;
    for c in text.chars() {
        if c == '"' {
            if in_quotes {
                out.push_str("…\"");
            } else {
                out.push('"');
            }
            in_quotes = !in_quotes;
        } else if !in_quotes {
            out.push(c);
        }
    }
    sanitize(&out)
}

/// A provider's base URL: http(s), no query, fragment or credentials; `provider`
/// names it in the error (e.g. `Cloudflare`).
pub fn parse_base_url(provider: &str, base_url: &str) -> Result<url::Url, ProviderError> {
    let url = url::Url::parse(base_url.trim()).map_err(|e| {
        ProviderError::config(format!("the {provider} base URL is not a valid URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::config(format!(
            "the {provider} base URL must be an http:// or https:// URL"
        )));
    }
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(ProviderError::config(format!(
            "the {provider} base URL must be a plain URL without query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ProviderError::config(format!(
            "the {provider} base URL must not carry credentials"
        )));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_names_the_version() {
        assert_eq!(
            USER_AGENT,
            format!("clientops/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn clients_build_with_and_without_verification() {
        build_client(&HttpOptions::default()).unwrap();
        build_client(&HttpOptions {
            insecure_skip_tls_verify: true,
            ..HttpOptions::default()
        })
        .unwrap();
    }

    #[test]
    fn every_status_maps_to_one_error_class() {
        let message = || vec![ProviderMessage::new(Some("E1".into()), "refused", None)];
        let mut throttled = HeaderMap::new();
        throttled.insert(http::header::RETRY_AFTER, "7".parse().unwrap());
        let err = |status: u16, headers: &HeaderMap| {
            error_for_status(StatusCode::from_u16(status).unwrap(), headers, message())
        };
        let none = HeaderMap::new();
        assert_eq!(err(401, &none).kind(), "unauthorized");
        assert_eq!(err(403, &none).kind(), "forbidden");
        assert_eq!(err(404, &none).kind(), "not_found");
        assert_eq!(err(409, &none).kind(), "conflict");
        for status in [400, 402, 418, 422, 499] {
            let e = err(status, &none);
            assert_eq!(
                e,
                ProviderError::Invalid {
                    status,
                    messages: message()
                }
            );
        }
        for status in [500, 502, 503, 599] {
            assert!(
                matches!(err(status, &none), ProviderError::Server { status: s, .. } if s == status)
            );
        }
        let e = err(429, &throttled);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(e.messages(), message().as_slice());
        assert_eq!(err(429, &none).retry_after(), None);
        // A redirect is a misconfiguration the condition names, with the message.
        let e = err(302, &none);
        assert_eq!(e.misconfiguration(), Some("ProviderRedirects"));
        assert!(e.to_string().contains("refused (code E1)"), "{e}");
        assert!(matches!(
            err(101, &none),
            ProviderError::UnexpectedStatus { status: 101, .. }
        ));
    }

    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::provider::budget::{CallScope, scoped};
    use crate::provider::ratelimit::RateLimitConfig;

    /// A provider on loopback that counts connections and requests and answers
    /// each request with `response` (`None`: never answers).
    struct Provider {
        url: String,
        connections: Arc<AtomicUsize>,
        requests: Arc<AtomicUsize>,
    }

    async fn provider(response: Option<&'static str>) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let r = r.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while let Ok(n @ 1..) = socket.read(&mut chunk).await {
                        buf.extend_from_slice(&chunk[..n]);
                        // Bodiless requests: each ends with its headers.
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            r.fetch_add(1, Ordering::SeqCst);
                            if let Some(response) = response {
                                let _ = socket.write_all(response.as_bytes()).await;
                            }
                        }
                    }
                });
            }
        });
        Provider {
            url,
            connections,
            requests,
        }
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    const THROTTLED: &str =
        "HTTP/1.1 429 Too Many Requests\r\nretry-after: 10\r\ncontent-length: 0\r\n\r\n";

    /// Keeps the paused clock creeping 1 ms at a time: the clock jumps to the next
    /// timer whenever the runtime is idle, also while a response is on its way
    /// over loopback; without a near timer that jump would fire the deadline.
    fn creep() -> tokio::task::JoinHandle<()> {
        tokio::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    }

    fn interpret(raw: RawResponse) -> Result<u16, ProviderError> {
        match raw.status.as_u16() {
            s @ 200..=299 => Ok(s),
            429 => Err(ProviderError::RateLimited {
                retry_after: retry_after(&raw.headers),
                messages: vec![],
            }),
            s => Err(ProviderError::Server {
                status: s,
                messages: vec![],
            }),
        }
    }

    fn executor(limit: RateLimitConfig, retry: RetryPolicy) -> Executor {
        let limiter = Arc::new(RateLimiter::new(
            LimiterKey::new("http://p", "acc"),
            limit,
            None,
        ));
        Executor::new(
            build_client(&HttpOptions::default()).unwrap(),
            limiter,
            retry,
        )
    }

    async fn call(
        exec: &Executor,
        p: &Provider,
        operation: Operation,
        budget: Option<Duration>,
    ) -> Result<u16, ProviderError> {
        let url = format!("{}/clients", p.url);
        let run = exec.execute(operation, |c| c.post(&url), interpret);
        match budget {
            Some(b) => scoped(CallScope::new("team-a", Some(b)), run).await,
            None => run.await,
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_sends_nothing_and_fails_cleanly() {
        let trap = provider(Some(OK)).await;
        let exec = executor(RateLimitConfig::new(10, secs(1)), RetryPolicy::default());
        for budget in [Duration::ZERO, Duration::from_millis(50)] {
            for op in [Operation::Create, Operation::RotateSecret, Operation::Get] {
                let e = call(&exec, &trap, op, Some(budget)).await.unwrap_err();
                assert!(
                    matches!(e, ProviderError::DeadlineExceeded { operation, .. } if operation == op),
                    "{e:?}"
                );
                assert!(e.is_retryable());
            }
        }
        assert_eq!(trap.connections.load(Ordering::SeqCst), 0);
        // Outside a scope the same executor calls as before.
        let _creep = creep();
        assert_eq!(call(&exec, &trap, Operation::Create, None).await, Ok(200));
    }

    #[tokio::test(start_paused = true)]
    async fn the_limiter_wait_ends_at_the_deadline() {
        let trap = provider(Some(OK)).await;
        let exec = executor(RateLimitConfig::new(1, secs(20)), RetryPolicy::default());
        exec.limiter().acquire().await; // the next token is 20 s away
        let start = Instant::now();
        // 5 s left: the token comes too late; refused at once, nothing sent.
        let e = call(&exec, &trap, Operation::Create, Some(secs(5)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ProviderError::DeadlineExceeded {
                    waiting_for: "waiting for the rate limiter",
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        // Longer than the policy's longest in-process wait (30 s): requeue after
        // it, as before, whatever the deadline.
        let exec = executor(RateLimitConfig::new(1, secs(60)), RetryPolicy::default());
        exec.limiter().acquire().await;
        let e = call(&exec, &trap, Operation::Get, Some(secs(5)))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ProviderError::RateLimited { retry_after: Some(w), .. } if w == secs(60)),
            "{e:?}"
        );
        assert_eq!(trap.connections.load(Ordering::SeqCst), 0);
        assert_eq!(
            exec.limiter().waiting("team-a"),
            0,
            "refused callers never queue"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_token_due_before_the_deadline_is_waited_for() {
        let p = provider(Some(OK)).await;
        let _creep = creep();
        let exec = executor(RateLimitConfig::new(1, secs(10)), RetryPolicy::default());
        exec.limiter().acquire().await;
        let start = Instant::now();
        assert_eq!(
            call(&exec, &p, Operation::Create, Some(secs(20))).await,
            Ok(200)
        );
        assert!(start.elapsed() >= secs(10));
        assert_eq!(p.requests.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_cut_at_the_deadline() {
        let hang = provider(None).await;
        let exec = executor(RateLimitConfig::new(10, secs(1)), RetryPolicy::default());
        let start = Instant::now();
        let e = call(&exec, &hang, Operation::Get, Some(secs(2)))
            .await
            .unwrap_err();
        assert!(matches!(e, ProviderError::Transport { .. }), "{e:?}");
        assert!(e.to_string().contains("time budget ran out"), "{e}");
        // Cut at the deadline (2 s), not at the client's 30 s timeout.
        let took = start.elapsed();
        assert!(took >= secs(2) && took < secs(3), "{took:?}");
        // A create cut in flight may have reached the provider: outcome unknown.
        let e = call(&exec, &hang, Operation::Create, Some(secs(2)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ProviderError::OutcomeUnknown {
                    operation: Operation::Create,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_retry_starts_that_would_end_past_the_deadline() {
        let p = provider(Some(THROTTLED)).await;
        let _creep = creep();
        let retry = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(1),
            cap: Duration::from_millis(1),
            max_retry_after: secs(30),
        };
        let exec = executor(RateLimitConfig::new(100, secs(1)), retry);
        let start = Instant::now();
        // Retry-After 10 s: the first retry (at 10 s) fits in 15 s, a second
        // (at 20 s) would not. The last answer is returned as it is.
        let e = call(&exec, &p, Operation::Create, Some(secs(15)))
            .await
            .unwrap_err();
        assert!(
            matches!(e, ProviderError::RateLimited { retry_after: Some(w), .. } if w == secs(10)),
            "{e:?}"
        );
        assert_eq!(p.requests.load(Ordering::SeqCst), 2);
        assert!(start.elapsed() < secs(15), "{:?}", start.elapsed());
        // Without a deadline every attempt is made.
        tokio::time::sleep(secs(10)).await; // the last 429's block ends
        p.requests.store(0, Ordering::SeqCst);
        let e = call(&exec, &p, Operation::Create, None).await.unwrap_err();
        assert!(matches!(e, ProviderError::RateLimited { .. }), "{e:?}");
        assert_eq!(p.requests.load(Ordering::SeqCst), 5);
    }
}
