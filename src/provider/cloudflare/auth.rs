//! Cloudflare API credentials (`provider-contracts.md` A.6): an API token sent as
//! `Authorization: Bearer`, or the legacy global API key sent as `X-Auth-Email` +
//! `X-Auth-Key`. The token and the key live in `SecretString`; `Debug` redacts them
//! and the header values are marked sensitive.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::provider::error::ProviderError;

/// `X-Auth-Email`.
pub const X_AUTH_EMAIL: HeaderName = HeaderName::from_static("x-auth-email");
/// `X-Auth-Key`.
pub const X_AUTH_KEY: HeaderName = HeaderName::from_static("x-auth-key");

/// How the client authenticates.
#[derive(Clone)]
pub enum CloudflareCredentials {
    /// An API token (preferred), sent as `Authorization: Bearer <token>`.
    ApiToken(SecretString),
    /// The legacy global API key with the account's e-mail address.
    ApiKey {
        /// Sent as `X-Auth-Email`.
        email: String,
        /// Sent as `X-Auth-Key`.
        key: SecretString,
    },
}

impl fmt::Debug for CloudflareCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloudflareCredentials::ApiToken(_) => f.write_str("ApiToken([REDACTED])"),
            CloudflareCredentials::ApiKey { email, .. } => f
                .debug_struct("ApiKey")
                .field("email", email)
                .field("key", &"[REDACTED]")
                .finish(),
        }
    }
}

impl CloudflareCredentials {
    /// An API token. Surrounding whitespace (a trailing newline from a Secret
    /// created with `echo`) is removed.
    pub fn api_token(token: impl Into<String>) -> Self {
        CloudflareCredentials::ApiToken(SecretString::from(token.into().trim().to_string()))
    }

    /// The legacy API key scheme. Surrounding whitespace is removed from both parts.
    pub fn api_key(email: impl Into<String>, key: impl Into<String>) -> Self {
        CloudflareCredentials::ApiKey {
            email: email.into().trim().to_string(),
            key: SecretString::from(key.into().trim().to_string()),
        }
    }

    /// `"api_token"` or `"api_key"`, for logs.
    pub fn scheme(&self) -> &'static str {
        match self {
            CloudflareCredentials::ApiToken(_) => "api_token",
            CloudflareCredentials::ApiKey { .. } => "api_key",
        }
    }

    /// The authentication headers, secret values marked sensitive. Fails (without
    /// echoing the value) on an empty credential or one a header cannot carry.
    pub fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        match self {
            CloudflareCredentials::ApiToken(token) => {
                let token = token.expose_secret();
                if token.is_empty() {
                    return Err(ProviderError::config("the Cloudflare API token is empty"));
                }
                let value = sensitive(&format!("Bearer {token}"), "the Cloudflare API token")?;
                headers.insert(http::header::AUTHORIZATION, value);
            }
            CloudflareCredentials::ApiKey { email, key } => {
                if email.is_empty() || key.expose_secret().is_empty() {
                    return Err(ProviderError::config(
                        "the Cloudflare API key scheme needs both an e-mail address and a key",
                    ));
                }
                let email = HeaderValue::from_str(email).map_err(|_| {
                    ProviderError::config(
                        "the Cloudflare e-mail contains characters an HTTP header cannot carry",
                    )
                })?;
                headers.insert(X_AUTH_EMAIL, email);
                headers.insert(
                    X_AUTH_KEY,
                    sensitive(key.expose_secret(), "the Cloudflare API key")?,
                );
            }
        }
        Ok(headers)
    }
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        ProviderError::config(format!(
            "{what} contains characters an HTTP header cannot carry"
        ))
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_becomes_a_sensitive_bearer_header() {
        let c = CloudflareCredentials::api_token("tok-123\n");
        let h = c.headers().unwrap();
        let v = h.get(http::header::AUTHORIZATION).unwrap();
        assert_eq!(v.to_str().unwrap(), "Bearer tok-123");
        assert!(v.is_sensitive());
        assert!(!format!("{c:?}").contains("tok-123"));
        assert!(!format!("{h:?}").contains("tok-123"));
        assert_eq!(c.scheme(), "api_token");
    }

    #[test]
    fn api_key_sends_email_and_key() {
        let c = CloudflareCredentials::api_key("a@example.com", " key-456 ");
        let h = c.headers().unwrap();
        assert_eq!(h.get(X_AUTH_EMAIL).unwrap(), "a@example.com");
        assert_eq!(h.get(X_AUTH_KEY).unwrap(), "key-456");
        assert!(h.get(X_AUTH_KEY).unwrap().is_sensitive());
        assert!(h.get(http::header::AUTHORIZATION).is_none());
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("key-456") && dbg.contains("a@example.com"));
    }

    #[test]
    fn bad_credentials_are_config_errors_without_the_value() {
        for c in [
            CloudflareCredentials::api_token("  "),
            CloudflareCredentials::api_token("abc\u{1}def-secretish"),
            CloudflareCredentials::api_key("", "k"),
            CloudflareCredentials::api_key("a@b.c", "bad\u{7f}key-secretish"),
        ] {
            let e = c.headers().unwrap_err();
            assert!(matches!(e, ProviderError::Config { .. }));
            assert!(!e.to_string().contains("secretish"), "{e}");
        }
    }
}
