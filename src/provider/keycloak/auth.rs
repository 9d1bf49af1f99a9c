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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use super::client::status_error;
use super::wire::TokenResponse;
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse, serde_message};
use crate::provider::token_source::TokenAnswer;
pub use crate::provider::token_source::{AccessToken, TokenSource};
use crate::secret::ClientSecret;

/// Assumed lifetime of a token whose answer has no `expires_in`.
pub const ASSUMED_TOKEN_TTL: Duration = Duration::from_secs(60);

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

/// The admin token source of one Keycloak and set of credentials: `credentials`
/// at `url` (the auth realm's token endpoint) through `exec`.
pub fn token_source(
    url: Url,
    credentials: &KeycloakCredentials,
    exec: Executor,
) -> Result<Arc<TokenSource>, ProviderError> {
    Ok(TokenSource::new(
        url,
        credentials.form_body()?,
        exec,
        "a Keycloak admin token",
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
    use super::*;

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
