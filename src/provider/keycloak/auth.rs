//! The admin API's access token: obtained at
//! `{url}/realms/{authRealm}/protocol/openid-connect/token` with the
//! `client_credentials` grant of a confidential admin client (recommended) or
//! the `password` grant of a user, and sent as `Authorization: Bearer`.
//!
//! Keycloak's admin tokens are short-lived (60 s in the master realm by
//! default), so the token is cached and refreshed before it expires (a fifth of
//! its lifetime early, at most a minute). Refreshing is single-flight: callers
//! that find the token stale wait for the one request in progress. A 401 from an
//! admin call invalidates exactly the token that call used
//! ([`TokenSource::invalidate`]), so many calls failing together cause one
//! refresh.
//!
//! The cache outlives the client (the controller builds a client per
//! reconcile): caches live in a process-wide map keyed by a SHA-256 of the token
//! URL and the form (never the credentials themselves). Times come from tokio's
//! clock, so tests drive expiry with a paused clock.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;
use url::Url;

use super::client::status_error;
use super::wire::TokenResponse;
use crate::provider::error::{Operation, ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse, serde_message};
use crate::secret::ClientSecret;

/// Assumed lifetime of a token whose answer has no `expires_in`.
pub const ASSUMED_TOKEN_TTL: Duration = Duration::from_secs(60);
/// Refresh at most this long before expiry.
pub const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How clientops authenticates to Keycloak. `Debug` redacts the secrets.
#[derive(Clone)]
pub enum KeycloakCredentials {
    /// A confidential client's id and secret (`client_credentials`).
    ClientCredentials {
        client_id: String,
        secret: ClientSecret,
    },
    /// A user's name and password (`password`), through the public client
    /// `client_id` (usually `admin-cli`).
    Password {
        client_id: String,
        username: String,
        password: ClientSecret,
    },
}

impl fmt::Debug for KeycloakCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeycloakCredentials::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("secret", &"[REDACTED]")
                .finish(),
            KeycloakCredentials::Password {
                client_id,
                username,
                ..
            } => f
                .debug_struct("Password")
                .field("client_id", client_id)
                .field("username", username)
                .field("password", &"[REDACTED]")
                .finish(),
        }
    }
}

impl KeycloakCredentials {
    /// A confidential client's credentials; surrounding whitespace is removed.
    pub fn client_credentials(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        KeycloakCredentials::ClientCredentials {
            client_id: client_id.into().trim().to_string(),
            secret: ClientSecret::new(secret.into().trim().to_string()),
        }
    }

    /// A user's credentials through `client_id`; surrounding whitespace of the
    /// password (a trailing newline from `echo`) is removed.
    pub fn password(
        client_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        KeycloakCredentials::Password {
            client_id: client_id.into().trim().to_string(),
            username: username.into().trim().to_string(),
            password: ClientSecret::new(password.into().trim().to_string()),
        }
    }

    /// The form body of the token request. Fails (naming the field, not the
    /// value) when a part is empty.
    pub fn form_body(&self) -> Result<ClientSecret, ProviderError> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        match self {
            KeycloakCredentials::ClientCredentials { client_id, secret } => {
                if client_id.is_empty() {
                    return Err(ProviderError::config(
                        "spec.keycloak.auth.clientCredentials.clientId is empty",
                    ));
                }
                if secret.expose().is_empty() {
                    return Err(ProviderError::config(
                        "the admin client's secret (spec.keycloak.auth.clientCredentials.secretRef) is empty",
                    ));
                }
                form.append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", client_id)
                    .append_pair("client_secret", secret.expose());
            }
            KeycloakCredentials::Password {
                client_id,
                username,
                password,
            } => {
                if username.is_empty() {
                    return Err(ProviderError::config(
                        "spec.keycloak.auth.password.username is empty",
                    ));
                }
                if password.expose().is_empty() {
                    return Err(ProviderError::config(
                        "the password (spec.keycloak.auth.password.passwordSecretRef) is empty",
                    ));
                }
                form.append_pair("grant_type", "password")
                    .append_pair("client_id", client_id)
                    .append_pair("username", username)
                    .append_pair("password", password.expose());
            }
        }
        Ok(ClientSecret::new(form.finish()))
    }
}

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

/// When a token obtained now with lifetime `ttl` should be refreshed.
pub fn refresh_after(ttl: Duration) -> Duration {
    ttl.saturating_sub((ttl / 5).min(MAX_REFRESH_MARGIN))
}

/// The admin token of one Keycloak and set of credentials, shared by every call.
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

impl TokenSource {
    /// A source asking `url` with `credentials` through `exec` (the server's
    /// limiter and retry policy; a token request is idempotent).
    pub fn new(
        url: Url,
        credentials: &KeycloakCredentials,
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

    /// The same source (URL, credentials, cache) over another executor.
    pub fn with_executor(&self, exec: Executor) -> Arc<Self> {
        Arc::new(Self {
            url: self.url.clone(),
            form: self.form.clone(),
            exec,
            cache: self.cache.clone(),
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
            None => ASSUMED_TOKEN_TTL,
        };
        cache.generation += 1;
        cache.token = Some((answer.access_token.clone(), started + refresh_after(ttl)));
        tracing::debug!(
            ttl_secs = ttl.as_secs(),
            generation = cache.generation,
            "obtained a Keycloak admin token"
        );
        Ok(AccessToken {
            value: answer.access_token,
            generation: cache.generation,
        })
    }

    /// Forget the token of `generation` (an admin call got 401 with it). A newer
    /// token, obtained meanwhile by another caller, is kept.
    pub async fn invalidate(&self, generation: u64) {
        let mut cache = self.cache.lock().await;
        if cache.generation == generation {
            cache.token = None;
        }
    }

    async fn request(&self) -> Result<TokenResponse, ProviderError> {
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
                        .body(self.form.expose().to_string())
                },
                interpret_token,
            )
            .await
    }
}

/// The token endpoint's answer: the token, or why the credentials were refused.
fn interpret_token(raw: RawResponse) -> Result<TokenResponse, ProviderError> {
    if raw.status.is_success() {
        return serde_json::from_slice::<TokenResponse>(&raw.body).map_err(|e| {
            ProviderError::decode(format!(
                "the Keycloak token answer is not the expected JSON: {}",
                serde_message(&e)
            ))
        });
    }
    let e = status_error(&raw);
    let mut messages = e.messages().to_vec();
    Err(match e {
        // Keycloak answers 400 invalid_grant for a wrong password, 401
        // unauthorized_client for a wrong client secret.
        ProviderError::Unauthorized { .. } | ProviderError::Invalid { status: 400, .. } => {
            messages.insert(
                0,
                ProviderMessage::new(
                    None,
                    "Keycloak refused the admin credentials (spec.keycloak.auth): check the client id and secret, or the user name and password, and spec.keycloak.authRealm",
                    None,
                ),
            );
            ProviderError::Unauthorized { messages }
        }
        ProviderError::NotFound { .. } => ProviderError::config(
            "Keycloak's token endpoint was not found: check spec.keycloak.url (the base URL, e.g. https://sso.example.com, or with /auth for an old setup) and spec.keycloak.authRealm",
        ),
        other => other,
    })
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
            "keycloak",
            RateLimitConfig::new(1000, Duration::from_secs(1)),
        );
        let exec = Executor::new(http, limiter, RetryPolicy::default());
        // Credentials of their own: the cache is shared process-wide by them.
        let creds = KeycloakCredentials::client_credentials(
            "clientops",
            format!("s-{}", rand::random::<u64>()),
        );
        let tokens = TokenSource::new(url, &creds, exec).unwrap();

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
    fn forms_encode_and_debug_redacts() {
        let c = KeycloakCredentials::client_credentials("clientops", " s3+cr/et&x \n");
        assert!(!format!("{c:?}").contains("s3"));
        let f = c.form_body().unwrap();
        assert_eq!(
            f.expose(),
            "grant_type=client_credentials&client_id=clientops&client_secret=s3%2Bcr%2Fet%26x"
        );
        assert!(!format!("{f:?}").contains("s3"));
        let p = KeycloakCredentials::password("admin-cli", "admin", "pw=1\n");
        assert!(!format!("{p:?}").contains("pw=1"));
        assert_eq!(
            p.form_body().unwrap().expose(),
            "grant_type=password&client_id=admin-cli&username=admin&password=pw%3D1"
        );
        let e = KeycloakCredentials::password("admin-cli", "admin", " ")
            .form_body()
            .unwrap_err();
        assert!(e.to_string().contains("passwordSecretRef"), "{e}");
    }

    #[test]
    fn refresh_happens_a_fifth_early_at_most_a_minute() {
        assert_eq!(
            refresh_after(Duration::from_secs(60)),
            Duration::from_secs(48)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
    }

    #[test]
    fn refused_credentials_are_unauthorized_and_name_the_field() {
        let e = interpret_token(RawResponse::for_test(
            400,
            r#"{"error":"invalid_grant","error_description":"Invalid user credentials"}"#,
        ))
        .unwrap_err();
        assert!(matches!(e, ProviderError::Unauthorized { .. }), "{e}");
        assert!(e.to_string().contains("spec.keycloak.auth"), "{e}");
        let e = interpret_token(RawResponse::for_test(404, "{}")).unwrap_err();
        assert!(e.to_string().contains("spec.keycloak.url"), "{e}");
        let ok = interpret_token(RawResponse::for_test(
            200,
            r#"{"access_token":"tok-hunter2","expires_in":60}"#,
        ))
        .unwrap();
        assert_eq!(ok.expires_in, Some(60));
        assert!(!format!("{ok:?}").contains("hunter2"));
    }
}
