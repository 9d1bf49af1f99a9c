//! Access tokens and Graph callers.
//!
//! The token endpoint ([`super::token`]) hands out opaque bearer tokens, kept in
//! memory only, that expire after `expires_in` (3599 s) on the emulator's clock.
//! Graph requests carry one as `Authorization: Bearer <token>`; a token issued
//! for another resource than Graph (`{appId}/.default`) is refused by Graph.
//! Token values are never logged.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use super::errors::GraphError;
use crate::emulator::core::RateLimited;
use crate::secret::ClientSecret;

/// Seconds an access token lives (Entra's `expires_in`).
pub const TOKEN_LIFETIME_SECS: i64 = 3599;

/// Who a token was issued to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The tenant id.
    pub tenant: String,
    /// The client's appId.
    pub app_id: String,
    /// True for a Graph token; false for one issued for another resource.
    pub graph: bool,
}

/// An authenticated Graph caller. Its `Debug` shows no token.
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: String,
    pub app_id: String,
    /// The Graph application roles the caller holds now.
    pub roles: Vec<String>,
    key: String,
}

impl Caller {
    /// A caller; its rate-limit bucket is its (tenant, appId), as Graph meters
    /// per app and tenant.
    pub fn new(tenant: &str, app_id: &str, roles: Vec<String>) -> Self {
        Self {
            key: format!("{tenant}/{app_id}"),
            tenant: tenant.to_string(),
            app_id: app_id.to_string(),
            roles,
        }
    }

    /// Whether it holds `role`.
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl RateLimited for Caller {
    fn bucket_key(&self) -> &str {
        &self.key
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Caller({})", self.key)
    }
}

struct Issued {
    subject: Subject,
    expires_at: DateTime<Utc>,
}

/// Access tokens handed out, in memory.
#[derive(Default)]
pub struct AccessTokens {
    issued: Mutex<HashMap<String, Issued>>,
}

impl AccessTokens {
    /// A new token for `subject`, valid [`TOKEN_LIFETIME_SECS`] from `now`.
    pub fn issue(&self, subject: Subject, now: DateTime<Utc>) -> ClientSecret {
        let token = format!("emu.{}", super::store::generate_secret().expose());
        let expires_at = now + chrono::Duration::seconds(TOKEN_LIFETIME_SECS);
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        issued.retain(|_, i| i.expires_at > now);
        issued.insert(
            token.clone(),
            Issued {
                subject,
                expires_at,
            },
        );
        ClientSecret::new(token)
    }

    /// Who holds a valid Graph token.
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Subject, GraphError> {
        let issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        match issued.get(token) {
            Some(i) if now >= i.expires_at => Err(GraphError::invalid_token(
                "Lifetime validation failed, the token is expired.",
            )),
            Some(i) if !i.subject.graph => Err(GraphError::invalid_token(
                "Access token validation failure. Invalid audience.",
            )),
            Some(i) => Ok(i.subject.clone()),
            None => Err(GraphError::invalid_token(
                "IDX14100: JWT is not well formed, there are no dots (.).",
            )),
        }
    }

    /// Forget every token.
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

/// The bearer token of a Graph request.
pub fn bearer(headers: &HeaderMap) -> Result<String, GraphError> {
    let Some(v) = headers.get("authorization") else {
        return Err(GraphError::invalid_token("Access token is empty."));
    };
    let v = v
        .to_str()
        .map_err(|_| GraphError::invalid_token("Access token is empty."))?;
    match v.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            Ok(t.trim().to_string())
        }
        _ => Err(GraphError::invalid_token("Access token is empty.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_and_other_audiences_are_refused() {
        let tokens = AccessTokens::default();
        let now = Utc::now();
        let graph = Subject {
            tenant: "t".into(),
            app_id: "a".into(),
            graph: true,
        };
        let t = tokens.issue(graph.clone(), now);
        assert_eq!(tokens.check(t.expose(), now).unwrap(), graph);
        let later = now + chrono::Duration::seconds(TOKEN_LIFETIME_SECS);
        assert!(
            tokens
                .check(t.expose(), later)
                .unwrap_err()
                .message
                .contains("expired")
        );
        let other = tokens.issue(
            Subject {
                graph: false,
                ..graph
            },
            now,
        );
        assert!(
            tokens
                .check(other.expose(), now)
                .unwrap_err()
                .message
                .contains("audience")
        );
        assert!(tokens.check("nope", now).is_err());
        let c = Caller::new("t", "a", vec![]);
        assert_eq!(format!("{c:?}"), "Caller(t/a)");
    }

    #[test]
    fn bearer_header() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_err());
        h.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h).unwrap(), "abc");
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert!(bearer(&h).is_err());
    }
}
