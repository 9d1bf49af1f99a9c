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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::client::{parse_error, parse_json};
use super::wire::AccessTokenResponse;
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse};
use crate::provider::token_source::TokenAnswer;
pub use crate::provider::token_source::{AccessToken, TokenSource};
use crate::secret::ClientSecret;

/// Assumed lifetime of an access token whose answer has no `expires_in`.
pub const ASSUMED_TOKEN_TTL: Duration = Duration::from_secs(600);

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

/// The token source of a CSP account: `credentials` exchanged at `url` (the
/// API-token authorize endpoint) through `exec`.
pub fn token_source(
    url: Url,
    credentials: &CspCredentials,
    exec: Executor,
) -> Result<Arc<TokenSource>, ProviderError> {
    Ok(TokenSource::new(
        url,
        credentials.form_body()?,
        exec,
        "a CSP access token",
        ASSUMED_TOKEN_TTL,
        interpret_exchange,
    ))
}

/// The exchange's answer: the token, or why the API token was refused.
fn interpret_exchange(raw: RawResponse) -> Result<TokenAnswer, ProviderError> {
    if raw.status.is_success() {
        return parse_json::<AccessTokenResponse>(&raw.body)
            .map(|a| TokenAnswer {
                access_token: a.access_token,
                expires_in: a.expires_in,
            })
            .map_err(|e| ProviderError::decode(format!("token exchange: {e}")));
    }
    Err(auth_error(parse_error(raw.status, &raw.headers, &raw.body)))
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
