//! Certificate client assertions at the token endpoint (facts doc §1): a JWT
//! signed with the private key of a certificate registered in the
//! application's `keyCredentials` (`AsymmetricX509Cert`, usage `Verify`, within
//! its start and end on the emulator's clock).
//!
//! The header is `alg: RS256` with `x5t` (base64url SHA-1 of the DER
//! certificate) or `alg: PS256` with `x5t#S256` (base64url SHA-256); either
//! thumbprint is accepted with either algorithm. The claims: `aud` the token
//! endpoint (`https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, or
//! the emulator's own URL of it; tenant id or domain), `iss` = `sub` = the
//! client id, `exp` after and `nbf` (if present) before now, with five minutes
//! of leeway. An assertion whose `iss` is a URL is a federated one
//! ([`super::federation`]).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use rustls::pki_types::CertificateDer;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::store::StoredApp;

/// The `client_assertion_type` of a JWT assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Leeway on `exp` and `nbf`, seconds.
pub const LEEWAY_SECS: i64 = 300;

/// Why an assertion is refused: (AADSTS code, description).
pub type Refusal = (u32, String);

/// The base64url SHA-1 and SHA-256 thumbprints of a DER certificate.
pub fn thumbprints(der: &[u8]) -> (String, String) {
    let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    let sha256 = Sha256::digest(der);
    (URL_SAFE_NO_PAD.encode(sha1), URL_SAFE_NO_PAD.encode(sha256))
}

/// The SHA-1 thumbprint as Graph's `customKeyIdentifier` shows it (Base64).
pub fn custom_key_identifier(der: &[u8]) -> String {
    STANDARD.encode(ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        der,
    ))
}

/// Whether `der` parses as an X.509 certificate.
pub fn is_certificate(der: &[u8]) -> bool {
    let cert = CertificateDer::from(der.to_vec());
    webpki::EndEntityCert::try_from(&cert).is_ok()
}

fn malformed() -> Refusal {
    (50027, "JWT token is invalid or malformed.".into())
}

fn part(s: &str) -> Result<Vec<u8>, Refusal> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| malformed())
}

fn json(bytes: &[u8]) -> Result<serde_json::Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(malformed()),
    }
}

fn time(claims: &serde_json::Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

/// A decoded (not yet verified) JWT.
pub struct Jwt {
    pub header: serde_json::Map<String, Value>,
    pub claims: serde_json::Map<String, Value>,
    /// `base64url(header).base64url(claims)`, what the signature covers.
    pub signed: String,
    pub signature: Vec<u8>,
}

impl Jwt {
    /// Decode a compact JWT.
    pub fn parse(s: &str) -> Result<Self, Refusal> {
        let parts: Vec<&str> = s.split('.').collect();
        let [h, p, sig] = parts.as_slice() else {
            return Err(malformed());
        };
        Ok(Self {
            header: json(&part(h)?)?,
            claims: json(&part(p)?)?,
            signed: format!("{h}.{p}"),
            signature: part(sig)?,
        })
    }

    /// A string claim.
    pub fn claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// Whether `exp` is after and `nbf` (if present) before `now`, with leeway.
    pub fn current(&self, now: DateTime<Utc>) -> bool {
        let t = now.timestamp();
        time(&self.claims, "exp").is_some_and(|e| t < e + LEEWAY_SECS)
            && time(&self.claims, "nbf").is_none_or(|n| n - LEEWAY_SECS <= t)
    }
}

/// Check `assertion` for `app` (whose appId is the request's client id): a
/// certificate assertion when `iss` is not a URL, else a federated one
/// ([`super::federation`]). `audiences`: the token endpoint URLs a
/// certificate assertion may name; `issuers`: the registered JWKS by issuer.
pub fn verify(
    app: &StoredApp,
    assertion: &str,
    audiences: &[String],
    issuers: &std::collections::BTreeMap<String, Value>,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let jwt = Jwt::parse(assertion)?;
    let federated = jwt
        .claim("iss")
        .is_some_and(|i| i.starts_with("https://") || i.starts_with("http://"));
    if federated {
        return super::federation::verify(app, &jwt, issuers, now);
    }
    certificate(app, &jwt, audiences, now)
}

fn certificate(
    app: &StoredApp,
    jwt: &Jwt,
    audiences: &[String],
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let (header, claims, signature) = (&jwt.header, &jwt.claims, &jwt.signature);
    let alg: &'static dyn rustls::pki_types::SignatureVerificationAlgorithm = match header
        .get("alg")
        .and_then(Value::as_str)
    {
        Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        other => {
            return Err((
                5002738,
                format!(
                    "Invalid JWT token. '{}' is not a supported signature algorithm. Supported algorithms are RS256 and PS256.",
                    other.unwrap_or("none")
                ),
            ));
        }
    };
    let x5t = header.get("x5t").and_then(Value::as_str);
    let x5t256 = header.get("x5t#S256").and_then(Value::as_str);
    if x5t.is_none() && x5t256.is_none() {
        return Err((
            700027,
            "Client assertion contains an invalid signature. [Reason - The key was not found.] The header has neither x5t nor x5t#S256.".into(),
        ));
    }
    let thumb = x5t256.or(x5t).unwrap_or_default();
    let mut expired = false;
    let key = app.key_credentials.iter().find_map(|k| {
        if k["type"] != "AsymmetricX509Cert" || k["usage"] != "Verify" {
            return None;
        }
        let der = STANDARD.decode(k["key"].as_str()?).ok()?;
        let (s1, s256) = thumbprints(&der);
        let matches = x5t256.is_some_and(|t| t == s256) || x5t.is_some_and(|t| t == s1);
        if !matches {
            return None;
        }
        let within = |field: &str, before: bool| {
            k[field]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_none_or(|t| if before { t <= now } else { now < t })
        };
        if within("startDateTime", true) && within("endDateTime", false) {
            Some(der)
        } else {
            expired = true;
            None
        }
    });
    let Some(der) = key else {
        let reason = if expired {
            "The key used is expired."
        } else {
            "The key was not found."
        };
        return Err((
            700027,
            format!(
                "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of key used by client: '{thumb}']"
            ),
        ));
    };
    let cert = CertificateDer::from(der);
    let ok = webpki::EndEntityCert::try_from(&cert)
        .ok()
        .is_some_and(|c| {
            c.verify_signature(alg, jwt.signed.as_bytes(), signature)
                .is_ok()
        });
    if !ok {
        return Err((
            700027,
            "Client assertion failed signature validation.".into(),
        ));
    }
    let client_id = app.app_id.as_str();
    let same = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .is_some_and(|v| v.eq_ignore_ascii_case(client_id))
    };
    if !same("iss") || !same("sub") {
        return Err((
            700021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter ({client_id})."
            ),
        ));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audiences.iter().any(|x| x.eq_ignore_ascii_case(a)),
        Some(Value::Array(list)) => list.iter().any(|a| {
            a.as_str()
                .is_some_and(|a| audiences.iter().any(|x| x.eq_ignore_ascii_case(a)))
        }),
        _ => false,
    };
    if !aud_ok {
        return Err((
            700212,
            format!(
                "Client assertion audience claim does not match the token endpoint: expected one of {}.",
                audiences.join(", ")
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_assertions_are_refused() {
        let app = StoredApp {
            id: "i".into(),
            app_id: "a".into(),
            seq: 1,
            unique_name: None,
            display_name: "d".into(),
            sign_in_audience: "AzureADMyOrg".into(),
            props: Default::default(),
            passwords: vec![],
            key_credentials: vec![],
            owners: vec![],
            roles: vec![],
            created: Utc::now(),
            federated: vec![],
        };
        assert_eq!(
            verify(&app, "a.b", &[], &Default::default(), Utc::now())
                .unwrap_err()
                .0,
            50027
        );
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#);
        let p = URL_SAFE_NO_PAD.encode("{}");
        assert_eq!(
            verify(
                &app,
                &format!("{h}.{p}.eA"),
                &[],
                &Default::default(),
                Utc::now()
            )
            .unwrap_err()
            .0,
            5002738
        );
        let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","x5t":"abc"}"#);
        let e = verify(
            &app,
            &format!("{h}.{p}.eA"),
            &[],
            &Default::default(),
            Utc::now(),
        )
        .unwrap_err();
        assert!(e.1.contains("not found"), "{}", e.1);
        assert!(!is_certificate(b"nope"));
    }
}
