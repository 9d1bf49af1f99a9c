//! Whether a provider accepts a client secret, asked of its OAuth token endpoint
//! without changing the client and without obtaining a token: the shared part of
//! every [`Provider::verify_secret`](super::model::Provider::verify_secret).
//!
//! The request is an `authorization_code` grant with a code nobody issued. An
//! OAuth server authenticates the client before it looks at the grant
//! (RFC 6749 §3.2.1, §5.2), so a wrong secret is refused with `invalid_client`
//! (usually HTTP 401), and the right one gets past authentication and fails on
//! the grant instead (`invalid_grant` for the unknown code, `unauthorized_client`
//! when the client may not use the grant, `unsupported_grant_type` when the
//! server does not offer it). Any answer that proves neither is an error, as are
//! 429 and 5xx (retried by the executor like any idempotent call).

use serde_json::Value;
use url::Url;

use super::error::{Operation, ProviderError, ProviderMessage, sanitize};
use super::http::{Executor, RawResponse, retry_after};
use super::model::SecretCheck;
use crate::secret::ClientSecret;

/// The OAuth `error` codes a server answers only after it authenticated the
/// client: the secret was accepted.
pub const AUTHENTICATED_ERRORS: [&str; 4] = [
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

/// How the client authenticates at the token endpoint (its registered
/// `token_endpoint_auth_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic`: HTTP Basic. `form_encoded`: id and secret are
    /// `application/x-www-form-urlencoded` first, as RFC 6749 §2.3.1 asks (and
    /// Ory Hydra requires); otherwise sent as they are.
    Basic { form_encoded: bool },
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    Post,
}

impl ClientAuth {
    /// The method for a registered `token_endpoint_auth_method`; `Err` with a
    /// reason for the user when it proves nothing with a secret (`none`: a
    /// public client; `private_key_jwt` and the like: no secret involved).
    pub fn for_method(id: &str, method: &str, form_encoded: bool) -> Result<Self, String> {
        match method {
            "" | "client_secret_basic" => Ok(ClientAuth::Basic { form_encoded }),
            "client_secret_post" => Ok(ClientAuth::Post),
            "none" => Err(public_client(id)),
            other => Err(format!(
                "client {id} authenticates with {other:?}, not with a client secret: \
                 a secret cannot prove ownership of it"
            )),
        }
    }
}

/// Why a public client's ownership cannot be proven with a secret.
pub fn public_client(id: &str) -> String {
    format!(
        "client {id} is a public client (token_endpoint_auth_method: none): it has no \
         secret, so ownership cannot be proven with one"
    )
}

/// A code no server issued: `clientops-ownership-check-` and 128 random bits.
fn made_up_code() -> String {
    format!("clientops-ownership-check-{:032x}", rand::random::<u128>())
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Ask `token_url` whether `secret` authenticates client `id` (see the module
/// documentation), through `exec` as [`Operation::VerifySecret`].
pub async fn verify(
    exec: &Executor,
    token_url: &Url,
    id: &str,
    secret: &ClientSecret,
    auth: ClientAuth,
) -> Result<SecretCheck, ProviderError> {
    tracing::debug!(client_id = %id, path = token_url.path(), "checking a client secret at the token endpoint");
    let code = made_up_code();
    exec.execute(
        Operation::VerifySecret,
        |client| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", &code);
            let mut req = client
                .post(token_url.clone())
                .header(http::header::ACCEPT, "application/json")
                .header(
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                );
            match auth {
                ClientAuth::Basic { form_encoded: true } => {
                    req = req.basic_auth(form_encode(id), Some(form_encode(secret.expose())));
                }
                ClientAuth::Basic {
                    form_encoded: false,
                } => {
                    req = req.basic_auth(id, Some(secret.expose()));
                }
                ClientAuth::Post => {
                    form.append_pair("client_id", id)
                        .append_pair("client_secret", secret.expose());
                }
            }
            req.body(form.finish())
        },
        interpret,
    )
    .await
}

/// A token endpoint's answer to the probe as a [`SecretCheck`] or an error.
pub fn interpret(raw: RawResponse) -> Result<SecretCheck, ProviderError> {
    let status = raw.status.as_u16();
    let body: Option<Value> = serde_json::from_slice(&raw.body).ok();
    if raw.status.is_success() {
        // Cannot happen for a made-up code. Only a real token answer says the
        // client authenticated; any other 2xx (a gateway or catch-all that answers
        // 200 to every POST) proves nothing: failing open here would let any
        // secret claim any client.
        let issued = body
            .as_ref()
            .and_then(|b| b.get("access_token"))
            .is_some_and(Value::is_string);
        tracing::warn!(
            issued,
            "the token endpoint answered success to a made-up authorization code"
        );
        return if issued {
            Ok(SecretCheck::Accepted)
        } else {
            Err(ProviderError::UnexpectedStatus {
                status,
                message: "the token endpoint answered success without a token: it proves neither that the secret is valid nor that it is not".into(),
            })
        };
    }
    let field = |k: &str| {
        body.as_ref()
            .and_then(|b| b.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let error = field("error");
    let messages = || {
        let text = match (&error, field("error_description")) {
            (Some(e), Some(d)) => format!("{e}: {d}"),
            (Some(e), None) => e.clone(),
            (None, _) => String::from_utf8_lossy(&raw.body[..raw.body.len().min(200)]).into(),
        };
        if text.trim().is_empty() {
            vec![]
        } else {
            vec![ProviderMessage::new(None, &text, None)]
        }
    };
    match (status, error.as_deref()) {
        (_, Some("invalid_client")) | (401, _) => Ok(SecretCheck::Rejected),
        (429, _) => Err(ProviderError::RateLimited {
            retry_after: retry_after(&raw.headers),
            messages: messages(),
        }),
        (500..=599, _) => Err(ProviderError::Server {
            status,
            messages: messages(),
        }),
        (400..=499, Some(e)) if AUTHENTICATED_ERRORS.contains(&e) => Ok(SecretCheck::Accepted),
        _ => Err(ProviderError::UnexpectedStatus {
            status,
            message: sanitize(&format!(
                "the token endpoint's answer proves neither that the secret is valid nor \
                 that it is not{}",
                messages()
                    .first()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            )),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(status: u16, error: &str) -> Result<SecretCheck, ProviderError> {
        interpret(RawResponse::for_test(
            status,
            &format!(r#"{{"error":"{error}","error_description":"d"}}"#),
        ))
    }

    #[test]
    fn answers_map_to_checks() {
        assert_eq!(oauth(401, "invalid_client"), Ok(SecretCheck::Rejected));
        assert_eq!(oauth(400, "invalid_client"), Ok(SecretCheck::Rejected));
        assert_eq!(
            interpret(RawResponse::for_test(401, "")),
            Ok(SecretCheck::Rejected)
        );
        for e in AUTHENTICATED_ERRORS {
            assert_eq!(oauth(400, e), Ok(SecretCheck::Accepted), "{e}");
        }
        assert_eq!(
            interpret(RawResponse::for_test(200, r#"{"access_token":"x"}"#)),
            Ok(SecretCheck::Accepted)
        );
        // A catch-all that answers 200 to any POST proves nothing (fail closed).
        for body in ["", "ok", "{}", r#"{"access_token": null}"#] {
            assert!(
                matches!(
                    interpret(RawResponse::for_test(200, body)),
                    Err(ProviderError::UnexpectedStatus { status: 200, .. })
                ),
                "{body:?}"
            );
        }
        assert!(matches!(
            oauth(503, "temporarily_unavailable"),
            Err(ProviderError::Server { status: 503, .. })
        ));
        assert!(matches!(
            interpret(RawResponse::for_test(429, "slow down")),
            Err(ProviderError::RateLimited { .. })
        ));
        // Proves nothing: an error the server may give before authenticating.
        let e = oauth(400, "invalid_request").unwrap_err();
        assert!(matches!(
            e,
            ProviderError::UnexpectedStatus { status: 400, .. }
        ));
        assert!(e.to_string().contains("invalid_request"), "{e}");
        assert!(matches!(
            interpret(RawResponse::for_test(404, "<html>not here</html>")),
            Err(ProviderError::UnexpectedStatus { status: 404, .. })
        ));
    }

    #[test]
    fn errors_never_echo_a_secret() {
        let e = interpret(RawResponse::for_test(
            400,
            r#"{"error":"invalid_request","error_description":"client_secret=hunter2xyz is odd"}"#,
        ))
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2xyz"), "{e}");
        assert!(!format!("{e:?}").contains("hunter2xyz"), "{e:?}");
    }

    #[test]
    fn methods() {
        assert_eq!(
            ClientAuth::for_method("c", "client_secret_post", true),
            Ok(ClientAuth::Post)
        );
        assert_eq!(
            ClientAuth::for_method("c", "client_secret_basic", false),
            Ok(ClientAuth::Basic {
                form_encoded: false
            })
        );
        assert!(
            ClientAuth::for_method("c", "none", true)
                .unwrap_err()
                .contains("public client")
        );
        assert!(
            ClientAuth::for_method("c", "private_key_jwt", true)
                .unwrap_err()
                .contains("private_key_jwt")
        );
    }
}
