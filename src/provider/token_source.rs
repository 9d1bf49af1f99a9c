//! An access token obtained by a form POST to a token endpoint (VMware CSP's API
//! token exchange, Keycloak's admin token), cached per endpoint and credentials
//! across every client of the process, refreshed shortly before it expires, and
//! fetched once however many callers ask at the same time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

use super::error::{Operation, ProviderError};
use super::http::{Executor, RawResponse};
use crate::secret::ClientSecret;

/// Refresh at most this long before expiry.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// What a token endpoint answered: the token and its lifetime in seconds (`Debug`
/// redacts the token: it is a `ClientSecret`).
#[derive(Debug)]
pub struct TokenAnswer {
    pub access_token: ClientSecret,
    pub expires_in: Option<i64>,
}

/// Reads a token endpoint's answer: the token, or why the credentials were
/// refused (each provider words that for its own configuration).
pub type Interpret = fn(RawResponse) -> Result<TokenAnswer, ProviderError>;

/// Makes a fresh signed assertion for each token request (`client_assertion`,
/// e.g. Entra's certificate credentials: a JWT that lives minutes).
pub type Assertion = Arc<dyn Fn() -> Result<ClientSecret, ProviderError> + Send + Sync>;

/// An access token and the generation of the cache that produced it.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub value: ClientSecret,
    /// Increases with every token request; passed back to
    /// [`TokenSource::invalidate`].
    pub generation: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken([REDACTED], generation {})", self.generation)
    }
}

struct Cached {
    token: Option<(ClientSecret, Instant)>,
    generation: u64,
}

type SharedCache = Arc<tokio::sync::Mutex<Cached>>;

/// Every token cache of the process, by SHA-256 of (token URL, form body).
static CACHES: LazyLock<Mutex<HashMap<[u8; 32], SharedCache>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The cache shared by every source of the same URL and credentials.
fn shared_cache(url: &Url, form: &ClientSecret) -> SharedCache {
    shared_cache_of(url, form, "")
}

/// The cache of `url`, `form` and `identity` (what tells credentials apart that
/// the form does not carry, such as the key that signs an assertion).
fn shared_cache_of(url: &Url, form: &ClientSecret, identity: &str) -> SharedCache {
    let mut h = Sha256::new();
    h.update(url.as_str().as_bytes());
    h.update([0u8]);
    h.update(form.expose().as_bytes());
    if !identity.is_empty() {
        h.update([0u8]);
        h.update(identity.as_bytes());
    }
    let key: [u8; 32] = h.finalize().into();
    let mut caches = CACHES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = caches.get(&key) {
        return c.clone();
    }
    // Drop caches nobody uses whose token is stale (changed credentials').
    let now = Instant::now();
    caches.retain(|_, c| {
        Arc::strong_count(c) > 1
            || c.try_lock()
                .map(|g| g.token.as_ref().is_some_and(|(_, at)| *at > now))
                .unwrap_or(true)
    });
    let c: SharedCache = Arc::new(tokio::sync::Mutex::new(Cached {
        token: None,
        generation: 0,
    }));
    caches.insert(key, c.clone());
    c
}

/// When a token obtained now with lifetime `ttl` should be refreshed: a fifth
/// early, at most [`MAX_REFRESH_MARGIN`].
pub fn refresh_after(ttl: Duration) -> Duration {
    ttl.saturating_sub((ttl / 5).min(MAX_REFRESH_MARGIN))
}

/// The access token of one token endpoint and set of credentials.
pub struct TokenSource {
    url: Url,
    form: ClientSecret,
    exec: Executor,
    cache: SharedCache,
    /// For logs: whose token, e.g. `a CSP access token`.
    what: &'static str,
    /// The lifetime assumed when the answer has no `expires_in`.
    assumed_ttl: Duration,
    interpret: Interpret,
    /// Appended to `form` as `client_assertion`, made afresh per request.
    assertion: Option<Assertion>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A source POSTing `form` (the credentials, URL-encoded) to `url` through
    /// `exec` (the account's limiter and retry policy; a token request is
    /// idempotent, so it is retried).
    pub fn new(
        url: Url,
        form: ClientSecret,
        exec: Executor,
        what: &'static str,
        assumed_ttl: Duration,
        interpret: Interpret,
    ) -> Arc<Self> {
        let cache = shared_cache(&url, &form);
        Arc::new(Self {
            url,
            form,
            exec,
            cache,
            what,
            assumed_ttl,
            interpret,
            assertion: None,
        })
    }

    /// A source POSTing `form` and a fresh `client_assertion` from `assertion`
    /// with each request. The cache is shared by sources of the same URL, form
    /// and `identity` (a digest of the signing key: never sent).
    #[allow(clippy::too_many_arguments)]
    pub fn with_assertion(
        url: Url,
        form: ClientSecret,
        identity: &str,
        assertion: Assertion,
        exec: Executor,
        what: &'static str,
        assumed_ttl: Duration,
        interpret: Interpret,
    ) -> Arc<Self> {
        let cache = shared_cache_of(&url, &form, identity);
        Arc::new(Self {
            url,
            form,
            exec,
            cache,
            what,
            assumed_ttl,
            interpret,
            assertion: Some(assertion),
        })
    }

    /// The same source (URL, credentials, cache) over another executor.
    pub fn with_executor(&self, exec: Executor) -> Arc<Self> {
        Arc::new(Self {
            url: self.url.clone(),
            form: self.form.clone(),
            exec,
            cache: self.cache.clone(),
            what: self.what,
            assumed_ttl: self.assumed_ttl,
            interpret: self.interpret,
            assertion: self.assertion.clone(),
        })
    }

    /// A valid access token: the cached one, or a fresh one from a single
    /// request however many callers ask at once.
    pub async fn token(&self) -> Result<AccessToken, ProviderError> {
        let mut cache = self.cache.lock().await;
        if let Some((value, refresh_at)) = &cache.token
            && Instant::now() < *refresh_at
        {
            return Ok(AccessToken {
                value: value.clone(),
                generation: cache.generation,
            });
        }
        let started = Instant::now();
        let answer = self.request().await?;
        let ttl = match answer.expires_in {
            Some(s) if s > 0 => Duration::from_secs(s as u64),
            Some(_) => Duration::ZERO,
            None => self.assumed_ttl,
        };
        cache.generation += 1;
        cache.token = Some((answer.access_token.clone(), started + refresh_after(ttl)));
        tracing::debug!(
            ttl_secs = ttl.as_secs(),
            generation = cache.generation,
            "obtained {}",
            self.what
        );
        Ok(AccessToken {
            value: answer.access_token,
            generation: cache.generation,
        })
    }

    /// Forget the token of `generation` (the API refused it with 401). A newer
    /// token, obtained meanwhile by another caller, is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if cache.generation == generation {
            cache.token = None;
        }
    }

    async fn request(&self) -> Result<TokenAnswer, ProviderError> {
        let body = match &self.assertion {
            None => self.form.clone(),
            Some(make) => ClientSecret::new(format!(
                "{}&{}",
                self.form.expose(),
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("client_assertion", make()?.expose())
                    .finish()
            )),
        };
        self.exec
            .execute(
                Operation::Authenticate,
                |client| {
                    client
                        .post(self.url.clone())
                        .header(
                            http::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .header(http::header::ACCEPT, "application/json")
                        .body(body.expose().to_string())
                },
                self.interpret,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::provider::http::{HttpOptions, build_client};
    use crate::provider::ratelimit::{RateLimitConfig, RateLimiterRegistry};
    use crate::provider::retry::RetryPolicy;

    /// A token endpoint on loopback that counts its requests and answers tokens
    /// that live 60 s.
    async fn token_endpoint() -> (Url, Arc<AtomicU32>) {
        let count = Arc::new(AtomicU32::new(0));
        let c = count.clone();
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move || {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    axum::Json(
                        serde_json::json!({"access_token": format!("token-{n}"), "expires_in": 60}),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/token", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, count)
    }

    /// Move tokio's clock on by `d` (the requests themselves run on the real clock).
    async fn advance(d: Duration) {
        tokio::time::pause();
        tokio::time::advance(d).await;
        tokio::time::resume();
    }

    #[tokio::test]
    async fn one_request_serves_every_caller_until_shortly_before_expiry() {
        let (url, count) = token_endpoint().await;
        let http = build_client(&HttpOptions::default()).unwrap();
        let limiter = RateLimiterRegistry::new().limiter(
            url.as_str(),
            "token-source",
            RateLimitConfig::new(1000, Duration::from_secs(1)),
        );
        let exec = Executor::new(http, limiter, RetryPolicy::default());
        // Credentials of their own: the cache is shared process-wide by them.
        let form = ClientSecret::new(format!("secret=s-{}", rand::random::<u64>()));
        let tokens = TokenSource::new(
            url,
            form,
            exec,
            "a test token",
            Duration::from_secs(60),
            |raw| {
                let v: serde_json::Value = serde_json::from_slice(&raw.body).unwrap();
                Ok(TokenAnswer {
                    access_token: ClientSecret::new(v["access_token"].as_str().unwrap()),
                    expires_in: v["expires_in"].as_i64(),
                })
            },
        );

        let all = futures::future::join_all((0..8).map(|_| tokens.token())).await;
        assert!(
            all.iter()
                .all(|t| t.as_ref().unwrap().value.expose() == "token-1")
        );
        assert_eq!(count.load(Ordering::SeqCst), 1, "single-flight");

        // 60 s tokens are refreshed 12 s early.
        advance(Duration::from_secs(47)).await;
        assert_eq!(tokens.token().await.unwrap().value.expose(), "token-1");
        advance(Duration::from_secs(2)).await;
        let t = tokens.token().await.unwrap();
        assert_eq!(t.value.expose(), "token-2");
        assert_eq!(count.load(Ordering::SeqCst), 2);

        // A 401 with an older token does not throw the newer one away; with the
        // current one it does.
        tokens.invalidate(t.generation - 1).await;
        assert_eq!(tokens.token().await.unwrap().value.expose(), "token-2");
        tokens.invalidate(t.generation).await;
        assert_eq!(tokens.token().await.unwrap().value.expose(), "token-3");
        // Another source with the same credentials shares the cache.
        let again = tokens.with_executor(tokens.exec.clone());
        assert_eq!(again.token().await.unwrap().value.expose(), "token-3");
        assert_eq!(count.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn refresh_happens_a_fifth_early_at_most_a_minute() {
        assert_eq!(
            refresh_after(Duration::from_secs(1800)),
            Duration::from_secs(1740)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(10)),
            Duration::from_secs(8)
        );
        assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
    }
}
