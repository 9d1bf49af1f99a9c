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

use sha2::{Digest, Sha256};
use url::Url;

use super::client::status_error;
use super::wire::{TokenError, TokenResponse};
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::federated_token::FederatedToken;
use crate::provider::http::{Executor, RawResponse, serde_message};
use crate::provider::token_source::TokenAnswer;
pub use crate::provider::token_source::{AccessToken, TokenSource};
use crate::secret::ClientSecret;

/// Assumed lifetime of a token whose answer has no `expires_in` (Entra's are
/// about an hour).
pub const ASSUMED_TOKEN_TTL: Duration = Duration::from_secs(300);

/// Entra's code for "the application has no service principal in the tenant".
pub const MISSING_SERVICE_PRINCIPAL: i64 = 7_000_229;

/// How long a certificate assertion is valid ("keep it short - 5-10 minutes").
pub const ASSERTION_LIFETIME_SECS: i64 = 600;

/// The `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How clientops authenticates to Entra. `Debug` redacts the secret and the key.
#[derive(Clone)]
pub enum EntraCredentials {
    /// clientops' own application id and one of its client secrets.
    ClientSecret {
        client_id: String,
        secret: ClientSecret,
    },
    /// clientops' own application id and a certificate of it: each token
    /// request carries a fresh assertion signed with its key.
    Certificate {
        client_id: String,
        signer: Arc<CertificateSigner>,
    },
    /// clientops' own application id and the operator's projected
    /// service-account token (workload identity federation): each token request
    /// carries the token as it is now in its file.
    Federated {
        client_id: String,
        token: FederatedToken,
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
            EntraCredentials::Certificate { client_id, signer } => f
                .debug_struct("Certificate")
                .field("client_id", client_id)
                .field("x5t#S256", &signer.thumbprint)
                .field("key", &"[REDACTED]")
                .finish(),
            EntraCredentials::Federated { client_id, token } => f
                .debug_struct("Federated")
                .field("client_id", client_id)
                .field("token", token)
                .finish(),
        }
    }
}

/// A certificate's RSA key and the certificate's SHA-256 thumbprint
/// (base64url), which signs Entra's client assertions.
pub struct CertificateSigner {
    key: ring::signature::RsaKeyPair,
    /// `x5t#S256`: base64url of the SHA-256 of the certificate's DER.
    pub thumbprint: String,
    /// A SHA-256 of the certificate and the key, which tells token caches apart.
    identity: String,
}

impl CertificateSigner {
    /// From the PEM certificate and its PEM private key (PKCS#8 or PKCS#1 RSA).
    /// Errors name the fields, never the values.
    pub fn from_pem(certificate: &str, private_key: &str) -> Result<Self, ProviderError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from_pem_slice(certificate.as_bytes()).map_err(|_| {
            ProviderError::config(
                "spec.entra.auth.certificate.certificateSecretRef does not hold a PEM certificate",
            )
        })?;
        let bad_key = || {
            ProviderError::config(
                "spec.entra.auth.certificate.privateKeySecretRef does not hold a PEM RSA private key (PKCS#8 or PKCS#1)",
            )
        };
        let key = match PrivateKeyDer::from_pem_slice(private_key.as_bytes())
            .map_err(|_| bad_key())?
        {
            PrivateKeyDer::Pkcs8(k) => {
                ring::signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der())
            }
            PrivateKeyDer::Pkcs1(k) => ring::signature::RsaKeyPair::from_der(k.secret_pkcs1_der()),
            _ => return Err(bad_key()),
        }
        .map_err(|_| bad_key())?;
        let thumbprint = b64(&Sha256::digest(cert.as_ref()));
        let mut h = Sha256::new();
        h.update(cert.as_ref());
        h.update(private_key.as_bytes());
        let identity = b64(&h.finalize());
        Ok(Self {
            key,
            thumbprint,
            identity,
        })
    }

    /// A signed assertion for `client_id` at `token_url`, valid from `now` for
    /// [`ASSERTION_LIFETIME_SECS`]: header `PS256` + `x5t#S256`, claims `aud`,
    /// `iss` = `sub` = the client id, `jti`, `nbf`, `iat`, `exp`.
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        now: i64,
    ) -> Result<ClientSecret, ProviderError> {
        let header = serde_json::json!({"alg": "PS256", "typ": "JWT", "x5t#S256": self.thumbprint});
        let jti: String = (0..32)
            .map(|_| format!("{:x}", rand::random::<u8>() % 16))
            .collect();
        let claims = serde_json::json!({
            "aud": token_url, "iss": client_id, "sub": client_id,
            "jti": format!("{}-{}-{}-{}-{}", &jti[..8], &jti[8..12], &jti[12..16], &jti[16..20], &jti[20..]),
            "nbf": now, "iat": now, "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PSS_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| ProviderError::config("signing the certificate assertion failed"))?;
        Ok(ClientSecret::new(format!("{input}.{}", b64(&sig))))
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl EntraCredentials {
    /// An application id and client secret; surrounding whitespace is removed.
    pub fn client_secret(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        EntraCredentials::ClientSecret {
            client_id: client_id.into().trim().to_string(),
            secret: ClientSecret::new(secret.into().trim().to_string()),
        }
    }

    /// The token request's form for `scope` (for a certificate: without the
    /// assertion, which each request adds). Fails (naming the field, not the
    /// value) when a part is empty.
    pub fn form_body(&self, scope: &str) -> Result<ClientSecret, ProviderError> {
        match self {
            EntraCredentials::Certificate { client_id, .. }
            | EntraCredentials::Federated { client_id, .. } => {
                if client_id.is_empty() {
                    return Err(ProviderError::config("spec.entra.auth.clientId is empty"));
                }
                Ok(ClientSecret::new(
                    url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("grant_type", "client_credentials")
                        .append_pair("client_id", client_id)
                        .append_pair("scope", scope)
                        .append_pair("client_assertion_type", JWT_BEARER)
                        .finish(),
                ))
            }
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
    let form = credentials.form_body(&graph_scope())?;
    Ok(match credentials {
        EntraCredentials::ClientSecret { .. } => TokenSource::new(
            token_url,
            form,
            exec,
            "a Microsoft Graph token",
            ASSUMED_TOKEN_TTL,
            interpret_token,
        ),
        EntraCredentials::Certificate { client_id, signer } => {
            let (client_id, signer, aud) =
                (client_id.clone(), signer.clone(), token_url.to_string());
            let identity = signer.identity.clone();
            TokenSource::with_assertion(
                token_url,
                form,
                &identity,
                Arc::new(move || {
                    signer.assertion(&client_id, &aud, chrono::Utc::now().timestamp())
                }),
                exec,
                "a Microsoft Graph token",
                ASSUMED_TOKEN_TTL,
                interpret_token,
            )
        }
        EntraCredentials::Federated { token, .. } => {
            let identity = format!("federated:{}", token.path().display());
            let token = token.clone();
            TokenSource::with_assertion(
                token_url,
                form,
                &identity,
                Arc::new(move || token.read()),
                exec,
                "a Microsoft Graph token",
                ASSUMED_TOKEN_TTL,
                interpret_token,
            )
        }
    })
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
    fn a_certificate_assertion_is_a_ps256_jwt_for_the_token_endpoint() {
        use base64::Engine;
        let signer = CertificateSigner::from_pem(
            include_str!("../../../tests/fixtures/entra-test-cert.pem"),
            include_str!("../../../tests/fixtures/entra-test-key.pem"),
        )
        .unwrap();
        let url = "https://login.microsoftonline.com/t/oauth2/v2.0/token";
        let jwt = signer.assertion("app-1", url, 1_000_000).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let json = |s: &str| -> serde_json::Value {
            serde_json::from_slice(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(s)
                    .unwrap(),
            )
            .unwrap()
        };
        let header = json(parts[0]);
        assert_eq!(header["alg"], "PS256");
        assert_eq!(header["x5t#S256"], signer.thumbprint.as_str());
        let claims = json(parts[1]);
        assert_eq!(claims["aud"], url);
        assert_eq!(
            (claims["iss"].clone(), claims["sub"].clone()),
            ("app-1".into(), "app-1".into())
        );
        assert_eq!(claims["exp"], 1_000_000 + ASSERTION_LIFETIME_SECS);
        // The signature verifies with the certificate's key.
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PSS_2048_8192_SHA256,
            signer.key.public().as_ref(),
        );
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[2])
            .unwrap();
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .unwrap();
        let c = EntraCredentials::Certificate {
            client_id: "app-1".into(),
            signer: Arc::new(signer),
        };
        assert!(!format!("{c:?}").contains("PRIVATE"));
        let e = CertificateSigner::from_pem("not a certificate", "")
            .err()
            .unwrap();
        assert!(e.to_string().contains("certificateSecretRef"), "{e}");
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
