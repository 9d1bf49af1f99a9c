//! Authentication: API tokens are exchanged for access tokens at
//! `POST /csp/gateway/am/api/auth/api-tokens/authorize`; API calls carry the
//! access token as `Authorization: Bearer <token>` or `csp-auth-token: <token>`
//! (both are in use, `provider-contracts.md` B.1).
//!
//! Access tokens live in memory only and expire after the configured TTL on the
//! emulator's clock, so advancing the clock through the admin API expires them.
//! Credential values are never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use super::errors::{CspError, code};
use super::store::random_hex;
use crate::emulator::core::RateLimited;
use crate::secret::ClientSecret;

/// Which API tokens the emulator accepts.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// API tokens (`--token`); compared in constant time. Empty: any non-empty.
    pub tokens: Vec<ClientSecret>,
}

impl AuthConfig {
    /// True when no token was configured: any non-empty one is accepted.
    pub fn accepts_any(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Whether `token` may be exchanged.
    pub fn accepts(&self, token: &ClientSecret) -> bool {
        !token.expose().is_empty()
            && (self.accepts_any() || self.tokens.iter().fold(false, |acc, t| acc | (t == token)))
    }
}

/// The authenticated caller: the rate limiter's bucket key (derived from the API
/// token, so refreshing the access token does not reset the bucket). Its `Debug`
/// shows nothing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    key: String,
}

impl Caller {
    /// A caller identified by its API token.
    pub fn for_api_token(token: &ClientSecret) -> Self {
        Self {
            key: format!("api-token\n{}", token.expose()),
        }
    }
}

impl RateLimited for Caller {
    fn bucket_key(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Caller(api token)")
    }
}

struct Issued {
    caller: Caller,
    expires_at: DateTime<Utc>,
}

/// Access tokens handed out, in memory.
#[derive(Default)]
pub struct AccessTokens {
    issued: Mutex<HashMap<String, Issued>>,
}

impl AccessTokens {
    /// A new access token for `caller`, valid for `ttl` from `now`.
    pub fn issue(&self, caller: Caller, now: DateTime<Utc>, ttl: Duration) -> ClientSecret {
        let token = random_hex(32);
        let expires_at = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|_, i| i.expires_at > now);
        issued.insert(token.clone(), Issued { caller, expires_at });
        ClientSecret::new(token)
    }

    /// The caller of a valid access token.
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Caller, CspError> {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match issued.get(token) {
            Some(i) if now < i.expires_at => Ok(i.caller.clone()),
            Some(_) => Err(CspError::unauthorized(
                "The access token has expired; exchange the API token again",
            )),
            None => Err(CspError::unauthorized("The access token is invalid")),
        }
    }

    /// Forget every access token (admin reset).
    pub fn clear(&self) {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// How many unexpired tokens exist at `now`.
    pub fn live(&self, now: DateTime<Utc>) -> usize {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|i| now < i.expires_at)
            .count()
    }
}

/// The access token of an API request: `Authorization: Bearer` or
/// `csp-auth-token`.
pub fn access_token(headers: &HeaderMap) -> Result<String, CspError> {
    if let Some(v) = headers.get("authorization") {
        let v = v
            .to_str()
            .map_err(|_| CspError::unauthorized("Invalid Authorization header"))?;
        return match v.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
                Ok(t.trim().to_string())
            }
            _ => Err(CspError::unauthorized(
                "Invalid Authorization header: expected Bearer <access token>",
            )),
        };
    }
    if let Some(v) = headers.get("csp-auth-token") {
        return match v.to_str() {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
            _ => Err(CspError::unauthorized("Invalid csp-auth-token header")),
        };
    }
    Err(CspError::unauthorized(
        "Missing access token: send Authorization: Bearer <token> or csp-auth-token",
    ))
}

/// The API token of an exchange request: form field `api_token`, or the
/// deprecated form field or query parameter `refresh_token`.
pub fn api_token_of(form: &[(String, String)], query: &[(String, String)]) -> Option<ClientSecret> {
    let find = |pairs: &[(String, String)], key: &str| {
        pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    find(form, "api_token")
        .or_else(|| find(form, "refresh_token"))
        .or_else(|| find(query, "refresh_token"))
        .or_else(|| find(query, "api_token"))
        .map(ClientSecret::new)
}

/// The answer for a refused API token (400 `invalid_grant`, a guess).
pub fn invalid_grant() -> CspError {
    CspError::new(
        axum::http::StatusCode::BAD_REQUEST,
        code::INVALID_GRANT,
        "invalid_grant: the API token is invalid or expired",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_with_the_clock_and_hide_in_debug() {
        let tokens = AccessTokens::default();
        let api = ClientSecret::new("api-very-secret");
        let caller = Caller::for_api_token(&api);
        assert!(!format!("{caller:?}").contains("very-secret"));
        let now = Utc::now();
        let t = tokens.issue(caller.clone(), now, Duration::from_secs(60));
        assert_eq!(tokens.check(t.expose(), now).unwrap(), caller);
        let e = tokens
            .check(t.expose(), now + chrono::Duration::seconds(60))
            .unwrap_err();
        assert!(e.message.contains("expired"));
        assert!(tokens.check("nope", now).is_err());
        assert_eq!(tokens.live(now), 1);
    }

    #[test]
    fn headers_and_form_fields() {
        let mut h = HeaderMap::new();
        assert!(access_token(&h).is_err());
        h.insert("csp-auth-token", "abc".parse().unwrap());
        assert_eq!(access_token(&h).unwrap(), "abc");
        h.insert("authorization", "Bearer xyz".parse().unwrap());
        assert_eq!(access_token(&h).unwrap(), "xyz");
        h.insert("authorization", "Basic xyz".parse().unwrap());
        assert!(access_token(&h).is_err());
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(
            api_token_of(&[pair("api_token", "a")], &[])
                .unwrap()
                .expose(),
            "a"
        );
        assert_eq!(
            api_token_of(&[], &[pair("refresh_token", "b")])
                .unwrap()
                .expose(),
            "b"
        );
        assert!(api_token_of(&[], &[]).is_none());
        let cfg = AuthConfig {
            tokens: vec![ClientSecret::new("good")],
        };
        assert!(cfg.accepts(&ClientSecret::new("good")));
        assert!(!cfg.accepts(&ClientSecret::new("bad")));
        assert!(AuthConfig::default().accepts(&ClientSecret::new("x")));
        assert!(!AuthConfig::default().accepts(&ClientSecret::new("")));
    }
}
