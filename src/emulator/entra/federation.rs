//! Federated client assertions (workload identity federation, facts doc §1):
//! a JWT from an external issuer (e.g. a Kubernetes service-account token
//! projected with audience `api://AzureADTokenExchange`) authenticates as the
//! application when one of its federated identity credentials names the
//! token's `iss`, `sub` and `aud` exactly, the token is signed RS256 by a key
//! of the issuer, and it is within `nbf`–`exp`.
//!
//! Entra fetches the issuer's keys from its OIDC discovery document; the
//! emulator makes no outgoing requests and uses the JWKS registered through
//! `PUT /__emulator/issuers` instead.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::assertion::{Jwt, Refusal};
use super::store::StoredApp;

fn audiences(jwt: &Jwt) -> Vec<String> {
    match jwt.claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

fn b64(v: &Value) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(v.as_str()?.trim_end_matches('='))
        .ok()
}

/// Whether one of the RSA keys of `jwks` (the one named by `kid`, if given)
/// signed `jwt` with RS256.
pub fn signed_by(jwt: &Jwt, jwks: &Value) -> bool {
    let kid = jwt.header.get("kid").and_then(Value::as_str);
    jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|k| k["kty"] == "RSA")
        .filter(|k| kid.is_none_or(|kid| k["kid"].as_str() == Some(kid)))
        .any(|k| {
            let (Some(n), Some(e)) = (b64(&k["n"]), b64(&k["e"])) else {
                return false;
            };
            ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
                .verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    jwt.signed.as_bytes(),
                    &jwt.signature,
                )
                .is_ok()
        })
}

/// Check a federated assertion for `app`.
pub fn verify(
    app: &StoredApp,
    jwt: &Jwt,
    issuers: &BTreeMap<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let iss = jwt.claim("iss").unwrap_or_default();
    let sub = jwt.claim("sub").unwrap_or_default();
    let aud = audiences(jwt);
    let shown = format!(
        "Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
        aud.join(",")
    );
    let by_issuer: Vec<_> = app.federated.iter().filter(|f| f.issuer == iss).collect();
    if by_issuer.is_empty() {
        return Err((
            700211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{iss}'. {shown}"
            ),
        ));
    }
    let by_subject: Vec<_> = by_issuer.iter().filter(|f| f.subject == sub).collect();
    if by_subject.is_empty() {
        return Err((
            700213,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. {shown}"
            ),
        ));
    }
    if !by_subject
        .iter()
        .any(|f| f.audiences.iter().any(|a| aud.contains(a)))
    {
        return Err((
            700212,
            format!(
                "No matching federated identity record found for presented assertion audience. {shown}"
            ),
        ));
    }
    if jwt.header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err((
            5002738,
            "Invalid JWT token. Only tokens signed with RS256 are supported for federated credentials.".into(),
        ));
    }
    let Some(jwks) = issuers.get(iss) else {
        return Err((
            90061,
            format!(
                "Request to External OIDC endpoint failed. (The emulator knows no signing keys of '{iss}': register them with PUT /__emulator/issuers.)"
            ),
        ));
    };
    if !signed_by(jwt, jwks) {
        return Err((
            700027,
            "Client assertion failed signature validation.".into(),
        ));
    }
    if !jwt.current(now) {
        return Err((
            700024,
            "Client assertion is not within its valid time range.".into(),
        ));
    }
    Ok(())
}
