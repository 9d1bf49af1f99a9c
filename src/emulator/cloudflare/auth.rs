//! Request authentication: `Authorization: Bearer <token>` or the legacy
//! `X-Auth-Email` + `X-Auth-Key` pair.
//!
//! When the pair is present it is used, even if an `Authorization` header is sent
//! too (the TypeScript SDK sends every configured credential; the Python SDK sends
//! only the pair when it has one). Credential values are never logged.

use axum::http::{HeaderMap, StatusCode};

use super::envelope::{CfError, code};
use crate::emulator::core::RateLimited;
use crate::secret::ClientSecret;

/// Which credentials the emulator accepts.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// API tokens (`--token`); compared in constant time.
    pub tokens: Vec<ClientSecret>,
    /// `(email, key)` pairs (`--api-key EMAIL:KEY`).
    pub api_keys: Vec<(String, ClientSecret)>,
}

impl AuthConfig {
    /// True when no credential was configured: any well-formed one is accepted.
    pub fn accepts_any(&self) -> bool {
        self.tokens.is_empty() && self.api_keys.is_empty()
    }
}

/// The authenticated caller: the rate limiter's bucket key. Its `Debug` shows
/// only the kind (and email).
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    key: String,
}

impl RateLimited for Caller {
    fn bucket_key(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.key.split_once('\n') {
            Some(("key", rest)) => {
                let email = rest.split_once('\n').map_or("", |(e, _)| e);
                write!(f, "Caller(api key of {email})")
            }
            _ => f.write_str("Caller(api token)"),
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<Result<&'a str, ()>> {
    headers.get(name).map(|v| v.to_str().map_err(|_| ()))
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_graphic()
}

fn auth_error() -> CfError {
    CfError::new(
        StatusCode::FORBIDDEN,
        code::AUTHENTICATION_ERROR,
        "Authentication error",
    )
}

/// Authenticate a request from its headers.
pub fn authenticate(cfg: &AuthConfig, headers: &HeaderMap) -> Result<Caller, CfError> {
    let email = header(headers, "x-auth-email");
    let key = header(headers, "x-auth-key");
    if let (Some(email), Some(key)) = (email, key) {
        let email = match email {
            Ok(e)
                if !e.trim().is_empty() && e.contains('@') && !e.contains(char::is_whitespace) =>
            {
                e
            }
            _ => {
                return Err(CfError::invalid_headers(
                    code::INVALID_EMAIL_HEADER,
                    "Invalid format for X-Auth-Email header",
                ));
            }
        };
        let key = match key {
            Ok(k) if !k.is_empty() && k.chars().all(is_token_char) => ClientSecret::new(k),
            _ => {
                return Err(CfError::invalid_headers(
                    code::INVALID_KEY_HEADER,
                    "Invalid format for X-Auth-Key header",
                ));
            }
        };
        let known = cfg.accepts_any()
            || cfg.api_keys.iter().fold(false, |acc, (e, k)| {
                acc | (e.eq_ignore_ascii_case(email) & (*k == key))
            });
        if !known {
            return Err(CfError::new(
                StatusCode::FORBIDDEN,
                code::UNKNOWN_API_KEY,
                "Unknown X-Auth-Key or X-Auth-Email",
            ));
        }
        return Ok(Caller {
            key: format!("key\n{}\n{}", email.to_ascii_lowercase(), key.expose()),
        });
    }
    let Some(authz) = header(headers, "authorization") else {
        return Err(CfError::new(
            StatusCode::BAD_REQUEST,
            code::MISSING_AUTH_HEADERS,
            "Missing X-Auth-Key, X-Auth-Email or Authorization headers",
        ));
    };
    let token = match authz {
        Ok(v) => match v.split_once(' ') {
            Some((scheme, t))
                if scheme.eq_ignore_ascii_case("bearer")
                    && !t.is_empty()
                    && t.chars().all(is_token_char) =>
            {
                ClientSecret::new(t)
            }
            _ => {
                return Err(CfError::invalid_headers(
                    code::INVALID_AUTHORIZATION_HEADER,
                    "Invalid format for Authorization header",
                ));
            }
        },
        Err(()) => {
            return Err(CfError::invalid_headers(
                code::INVALID_AUTHORIZATION_HEADER,
                "Invalid format for Authorization header",
            ));
        }
    };
    let known = cfg.accepts_any() || cfg.tokens.iter().fold(false, |acc, t| acc | (*t == token));
    if !known {
        return Err(auth_error());
    }
    Ok(Caller {
        key: format!("token\n{}", token.expose()),
    })
}

/// The answer for an account the caller may not use (`--strict-accounts`).
pub fn no_account_access() -> CfError {
    auth_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, v.parse().unwrap());
        }
        m
    }

    fn codes(e: &CfError) -> Vec<i64> {
        let mut v: Vec<i64> = e.errors.iter().map(|m| m.code).collect();
        v.extend(
            e.errors
                .iter()
                .flat_map(|m| m.error_chain.iter().map(|c| c.code)),
        );
        v
    }

    #[test]
    fn any_mode_accepts_well_formed_credentials() {
        let cfg = AuthConfig::default();
        assert!(authenticate(&cfg, &h(&[("authorization", "Bearer abc")])).is_ok());
        assert!(authenticate(&cfg, &h(&[("x-auth-email", "a@b.c"), ("x-auth-key", "k")])).is_ok());
        let e = authenticate(&cfg, &h(&[])).unwrap_err();
        assert_eq!((e.status, codes(&e)), (StatusCode::BAD_REQUEST, vec![9106]));
        let e = authenticate(&cfg, &h(&[("authorization", "Basic abc")])).unwrap_err();
        assert_eq!(codes(&e), [6003, 6111]);
        let e = authenticate(&cfg, &h(&[("authorization", "Bearer ")])).unwrap_err();
        assert_eq!(codes(&e), [6003, 6111]);
        let e =
            authenticate(&cfg, &h(&[("x-auth-email", "nope"), ("x-auth-key", "k")])).unwrap_err();
        assert_eq!(codes(&e), [6003, 6102]);
        // only half of the pair: falls back to Authorization, else missing
        let e = authenticate(&cfg, &h(&[("x-auth-key", "k")])).unwrap_err();
        assert_eq!(codes(&e), [9106]);
    }

    #[test]
    fn restricted_mode_checks_values_and_hides_them_in_debug() {
        let cfg = AuthConfig {
            tokens: vec![ClientSecret::new("good-token")],
            api_keys: vec![("ops@example.com".into(), ClientSecret::new("good-key"))],
        };
        let c = authenticate(&cfg, &h(&[("authorization", "Bearer good-token")])).unwrap();
        assert!(!format!("{c:?}").contains("good-token"));
        let e = authenticate(&cfg, &h(&[("authorization", "Bearer bad")])).unwrap_err();
        assert_eq!((e.status, codes(&e)), (StatusCode::FORBIDDEN, vec![10000]));
        let c = authenticate(
            &cfg,
            &h(&[
                ("x-auth-email", "OPS@example.com"),
                ("x-auth-key", "good-key"),
            ]),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("good-key"));
        let e = authenticate(
            &cfg,
            &h(&[("x-auth-email", "ops@example.com"), ("x-auth-key", "bad")]),
        )
        .unwrap_err();
        assert_eq!((e.status, codes(&e)), (StatusCode::FORBIDDEN, vec![9103]));
    }
}
