//! CSP credentials (`provider-contracts.md` B.1): an organisation API token,
//! exchanged at `POST /csp/gateway/am/api/auth/api-tokens/authorize` (form field
//! `api_token`) for a short-lived access token, which every API call sends as
//! `Authorization: Bearer`.
//!
//! The access token is cached and refreshed shortly before it expires (a fifth of
//! its lifetime early, at most a minute). Refreshing is single-flight: callers
//! that find the token stale wait for the one exchange in progress instead of
//! starting their own. A 401 from an API call invalidates exactly the token that
//! call used (see [`TokenSource::invalidate`]), so many calls failing together
//! cause one refresh, not many.
//!
//! The cache outlives the client: the controller builds a client per reconcile,
//! and an exchange per reconcile would double the calls to CSP. Caches live in a
//! process-wide map keyed by a SHA-256 of the token URL and the API token (never
//! the token itself); entries whose token has expired are dropped whenever a new
//! key is added.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::client::{parse_error, parse_json};
use super::wire::AccessTokenResponse;
use crate::provider::error::{Operation, ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse};
use crate::secret::ClientSecret;

/// Assumed lifetime of an access token whose answer has no `expires_in`.
pub const ASSUMED_TOKEN_TTL: Duration = Duration::from_secs(600);
/// Refresh at most this long before expiry.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How the client authenticates: an organisation API token. `Debug` redacts it.
#[derive(Clone)]
pub struct CspCredentials {
    api_token: SecretString,
}

impl fmt::Debug for CspCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CspCredentials(api_token: [REDACTED])")
    }
}

impl CspCredentials {
    /// An API token. Surrounding whitespace (a trailing newline from a Secret
    /// created with `echo`) is removed.
    pub fn api_token(token: impl Into<String>) -> Self {
        Self {
            api_token: SecretString::from(token.into().trim().to_string()),
        }
    }

    /// The form body of the exchange, `api_token=<url-encoded token>`. Fails
    /// (without echoing the value) when the token is empty.
    pub fn form_body(&self) -> Result<ClientSecret, ProviderError> {
        let token = self.api_token.expose_secret();
        if token.is_empty() {
            return Err(ProviderError::config("the CSP API token is empty"));
        }
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("api_token", token)
            .finish();
        Ok(ClientSecret::new(body))
    }
}

/// An access token and the generation of the cache that produced it.
#[derive(Clone)]
pub struct AccessToken {
    /// The bearer token.
    pub value: ClientSecret,
    /// Increases with every exchange; passed back to [`TokenSource::invalidate`].
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

/// The cache shared by every source of the same URL and API token.
fn shared_cache(url: &Url, form: &ClientSecret) -> SharedCache {
    let mut h = Sha256::new();
    h.update(url.as_str().as_bytes());
    h.update([0u8]);
    h.update(form.expose().as_bytes());
    let key: [u8; 32] = h.finalize().into();
    let mut caches = CACHES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = caches.get(&key) {
        return c.clone();
    }
    // Drop caches nobody uses whose token is stale (a rotated API token's).
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

/// The access token of one CSP account, shared by every call of its client.
pub struct TokenSource {
    url: Url,
    form: ClientSecret,
    exec: Executor,
    cache: SharedCache,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

/// When a token obtained now with lifetime `ttl` should be refreshed.
pub fn refresh_after(ttl: Duration) -> Duration {
    let margin = (ttl / 5).min(MAX_REFRESH_MARGIN);
    ttl.saturating_sub(margin)
}

impl TokenSource {
    /// A source exchanging `credentials` at `url` through `exec` (the account's
    /// limiter and retry policy; the exchange is idempotent, so it is retried).
    pub fn new(
        url: Url,
        credentials: &CspCredentials,
        exec: Executor,
    ) -> Result<Arc<Self>, ProviderError> {
        let form = credentials.form_body()?;
        let cache = shared_cache(&url, &form);
        Ok(Arc::new(Self {
            url,
            form,
            exec,
            cache,
        }))
    }

    /// The same source (URL, credentials and cache) over another executor.
    pub fn with_executor(&self, exec: Executor) -> Arc<Self> {
        Arc::new(Self {
            url: self.url.clone(),
            form: self.form.clone(),
            exec,
            cache: self.cache.clone(),
        })
    }

    /// A valid access token: the cached one, or a fresh one from a single
    /// exchange however many callers ask at once.
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
        let answer = self.exchange().await?;
        let ttl = match answer.expires_in {
            Some(s) if s > 0 => Duration::from_secs(s as u64),
            Some(_) => Duration::ZERO,
            None => ASSUMED_TOKEN_TTL,
        };
        cache.generation += 1;
        cache.token = Some((answer.access_token.clone(), started + refresh_after(ttl)));
        tracing::debug!(
            ttl_secs = ttl.as_secs(),
            generation = cache.generation,
            "obtained a CSP access token"
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

    async fn exchange(&self) -> Result<AccessTokenResponse, ProviderError> {
        let form = self.form.clone();
        let url = self.url.clone();
        self.exec
            .execute(
                Operation::Authenticate,
                |client| {
                    client
                        .post(url.clone())
                        .header(
                            http::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .header(http::header::ACCEPT, "application/json")
                        .body(form.expose().to_string())
                },
                |raw: RawResponse| {
                    if raw.status.is_success() {
                        return parse_json::<AccessTokenResponse>(&raw.body)
                            .map_err(|e| ProviderError::decode(format!("token exchange: {e}")));
                    }
                    Err(auth_error(parse_error(raw.status, &raw.headers, &raw.body)))
                },
            )
            .await
    }
}

/// A failed exchange: a refused token is `Unauthorized` whatever 4xx CSP uses
/// for it; a 404 means the base URL is wrong.
fn auth_error(e: ProviderError) -> ProviderError {
    let mut messages = e.messages().to_vec();
    match e {
        ProviderError::Invalid { status, .. } if status == 400 || status == 422 => {
            messages.insert(
                0,
                ProviderMessage::new(
                    None,
                    "CSP refused the API token (is it valid, not expired, and for this organisation?)",
                    None,
                ),
            );
            ProviderError::Unauthorized { messages }
        }
        ProviderError::Unauthorized { .. } => {
            messages.insert(
                0,
                ProviderMessage::new(None, "CSP refused the API token", None),
            );
            ProviderError::Unauthorized { messages }
        }
        ProviderError::NotFound { .. } => ProviderError::config(
            "the CSP token endpoint /csp/gateway/am/api/auth/api-tokens/authorize was not found: check the base URL",
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_body_encodes_and_debug_redacts() {
        let c = CspCredentials::api_token(" zq+en/with=chars&x \n");
        assert!(!format!("{c:?}").contains("zq"));
        let body = c.form_body().unwrap();
        assert_eq!(body.expose(), "api_token=zq%2Ben%2Fwith%3Dchars%26x");
        assert!(!format!("{body:?}").contains("zq"));
        let e = CspCredentials::api_token("  ").form_body().unwrap_err();
        assert!(matches!(e, ProviderError::Config { .. }));
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

    #[test]
    fn refused_tokens_are_unauthorized() {
        let e = auth_error(ProviderError::Invalid {
            status: 400,
            messages: vec![ProviderMessage::new(
                Some("invalid_grant".into()),
                "bad",
                None,
            )],
        });
        assert!(matches!(e, ProviderError::Unauthorized { ref messages } if messages.len() == 2));
        assert!(matches!(
            auth_error(ProviderError::NotFound { messages: vec![] }),
            ProviderError::Config { .. }
        ));
        let s = ProviderError::Server {
            status: 503,
            messages: vec![],
        };
        assert_eq!(auth_error(s.clone()), s);
    }
}
