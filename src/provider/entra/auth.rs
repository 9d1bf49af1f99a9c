//! clientops' access token for Microsoft Graph: the `client_credentials` grant of
//! its own app registration at `{authority}/{tenant}/oauth2/v2.0/token`, scope
//! `00000003-0000-0000-c000-000000000000/.default` (Graph, in every cloud), sent as `Authorization: Bearer`. Cached and refreshed
//! before it expires, single-flight, shared process-wide
//! ([`TokenSource`]); a 401 from Graph invalidates exactly the token it refused.
//!
//! The same endpoint proves a managed application's secret
//! ([`credentials_form`] with the application's id): Entra answers a token to
//! the right secret and `401 invalid_client` to a wrong one
//! (entra-graph-facts.md §1).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::client::status_error;
use super::wire::{TokenError, TokenResponse};
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse, serde_message};
use crate::provider::token_source::TokenAnswer;
pub use crate::provider::token_source::{AccessToken, TokenSource};
use crate::secret::ClientSecret;

/// Assumed lifetime of a token whose answer has no `expires_in` (Entra's are
/// about an hour).
pub const ASSUMED_TOKEN_TTL: Duration = Duration::from_secs(300);

/// Entra's code for "the application has no service principal in the tenant".
pub const MISSING_SERVICE_PRINCIPAL: i64 = 7_000_229;

/// How clientops authenticates to Entra. `Debug` redacts the secret.
#[derive(Clone)]
pub enum EntraCredentials {
    /// clientops' own application id and one of its client secrets.
    ClientSecret {
        client_id: String,
        secret: ClientSecret,
    },
}

impl fmt::Debug for EntraCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntraCredentials::ClientSecret { client_id, .. } => f
                .debug_struct("ClientSecret")
                .field("client_id", client_id)
                .field("secret", &"[REDACTED]")
                .finish(),
        }
    }
}

impl EntraCredentials {
    /// An application id and client secret; surrounding whitespace is removed.
    pub fn client_secret(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        EntraCredentials::ClientSecret {
            client_id: client_id.into().trim().to_string(),
            secret: ClientSecret::new(secret.into().trim().to_string()),
        }
    }

    /// The token request's form for `scope`. Fails (naming the field, not the
    /// value) when a part is empty.
    pub fn form_body(&self, scope: &str) -> Result<ClientSecret, ProviderError> {
        match self {
            EntraCredentials::ClientSecret { client_id, secret } => {
                if client_id.is_empty() {
                    return Err(ProviderError::config("spec.entra.auth.clientId is empty"));
                }
                if secret.expose().is_empty() {
                    return Err(ProviderError::config(
                        "the client secret (spec.entra.auth.clientSecretSecretRef) is empty",
                    ));
                }
                Ok(credentials_form(client_id, secret, scope))
            }
        }
    }
}

/// A `client_credentials` token request's form for `client_id` and `secret`.
pub fn credentials_form(client_id: &str, secret: &ClientSecret, scope: &str) -> ClientSecret {
    ClientSecret::new(
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", client_id)
            .append_pair("client_secret", secret.expose())
            .append_pair("scope", scope)
            .finish(),
    )
}

/// Microsoft Graph's application id, the same in every cloud.
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The scope of a Graph token: `{Graph's application id}/.default`, which
/// names Graph whatever its URL (a national cloud's, the emulator's).
pub fn graph_scope() -> String {
    format!("{GRAPH_APP_ID}/.default")
}

/// The Graph token source for `credentials` at `token_url`, through `exec`.
pub fn token_source(
    token_url: Url,
    credentials: &EntraCredentials,
    exec: Executor,
) -> Result<Arc<TokenSource>, ProviderError> {
    Ok(TokenSource::new(
        token_url,
        credentials.form_body(&graph_scope())?,
        exec,
        "a Microsoft Graph token",
        ASSUMED_TOKEN_TTL,
        interpret_token,
    ))
}

/// The token endpoint's answer: the token, or why the credentials were refused.
fn interpret_token(raw: RawResponse) -> Result<TokenAnswer, ProviderError> {
    if raw.status.is_success() {
        return serde_json::from_slice::<TokenResponse>(&raw.body)
            .map(|t| TokenAnswer {
                access_token: t.access_token,
                expires_in: t.expires_in,
            })
            .map_err(|e| {
                ProviderError::decode(format!(
                    "the Entra token answer is not the expected JSON: {}",
                    serde_message(&e)
                ))
            });
    }
    let oauth: TokenError = serde_json::from_slice(&raw.body).unwrap_or_default();
    let e = status_error(&raw);
    let mut messages = e.messages().to_vec();
    let refused = matches!(
        oauth.error.as_deref(),
        Some("invalid_client" | "unauthorized_client" | "invalid_grant")
    );
    Err(match e {
        _ if oauth.error_codes.contains(&90002) => ProviderError::config(
            "Entra does not know the tenant: check spec.entra.tenantId (the directory id or a verified domain)",
        ),
        ProviderError::Unauthorized { .. } | ProviderError::Invalid { .. } if refused => {
            messages.insert(
                0,
                ProviderMessage::new(
                    None,
                    "Entra refused clientops' credentials (spec.entra.auth): check the application id and that the client secret is current",
                    None,
                ),
            );
            ProviderError::Unauthorized { messages }
        }
        ProviderError::NotFound { .. } => ProviderError::config(
            "Entra's token endpoint was not found: check spec.entra.authorityUrl (e.g. https://login.microsoftonline.com) and spec.entra.tenantId",
        ),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_encodes_and_debug_redacts() {
        let c = EntraCredentials::client_secret("app-1", " s3+cr/et&x~ \n");
        assert!(!format!("{c:?}").contains("s3"));
        let f = c.form_body(&graph_scope()).unwrap();
        assert_eq!(
            f.expose(),
            "grant_type=client_credentials&client_id=app-1&client_secret=s3%2Bcr%2Fet%26x%7E&scope=00000003-0000-0000-c000-000000000000%2F.default"
        );
        assert!(!format!("{f:?}").contains("s3"));
        let e = EntraCredentials::client_secret("app-1", "  ")
            .form_body("x")
            .unwrap_err();
        assert!(e.to_string().contains("clientSecretSecretRef"), "{e}");
    }

    #[test]
    fn refused_credentials_are_unauthorized_and_name_the_field() {
        let e = interpret_token(RawResponse::for_test(
            401,
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#,
        ))
        .unwrap_err();
        assert!(matches!(e, ProviderError::Unauthorized { .. }), "{e}");
        assert!(e.to_string().contains("spec.entra.auth"), "{e}");
        let e = interpret_token(RawResponse::for_test(
            400,
            r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant 'x' not found.","error_codes":[90002]}"#,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("spec.entra.tenantId"), "{e}");
        let e = interpret_token(RawResponse::for_test(404, "")).unwrap_err();
        assert!(e.to_string().contains("spec.entra.authorityUrl"), "{e}");
        let e = interpret_token(RawResponse::for_test(503, "")).unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let ok = interpret_token(RawResponse::for_test(
            200,
            r#"{"token_type":"Bearer","access_token":"tok-hunter2","expires_in":3599}"#,
        ))
        .unwrap();
        assert_eq!(ok.expires_in, Some(3599));
        assert!(!format!("{ok:?}").contains("hunter2"));
    }
}
