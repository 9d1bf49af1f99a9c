//! Hydra's client from and to the shared model: pure mapping, defaults,
//! refusals, drift and update operations, no I/O (that is the adapter's).
//!
//! **Field mapping.** `clientName` → `client_name`; `redirectUris`,
//! `postLogoutRedirectUris`, `grantTypes`, `responseTypes`,
//! `tokenEndpointAuthMethod`, `allowedCorsOrigins`, `clientUri`, `logoUri`,
//! `policyUri`, `tosUri` as they are; `scopes` → `scope` (one space-separated
//! string); `spec.hydra`: `audience`, `skipConsent`, `skipLogoutConsent`,
//! `accessTokenStrategy`, `metadata` (string values; the marker key is reserved),
//! `tokenLifespans.*` → `*_lifespan` (Go durations).
//!
//! **Drift: only managed fields are compared.** Hydra fills in defaults for what a
//! request leaves out (`scope` = `offline_access offline openid`, `subject_type`,
//! `userinfo_signed_response_alg`, lifespans `null`, `[]` for lists, ...). The
//! shared fields are always managed (the spec's defaults are sent explicitly,
//! and a missing `scopes` means Hydra's default scope: [`apply_defaults`] puts it
//! into the desired state, so both sides agree); the optional URIs and every
//! `spec.hydra` field are managed only when the spec sets them
//! ([`hydra_differs`]): a field the spec leaves out is Hydra's business, so a
//! value Hydra or an administrator chose there is not drift. Durations compare by
//! value (`1h` = Hydra's `1h0m0s`), lists as sets, metadata as a map without the
//! marker.
//!
//! **Unsupported fields** (the Cloudflare and CSP blocks, scopes with spaces,
//! a reserved metadata key, an unparsable lifespan, a grace period) are refused
//! naming the spec field ([`unsupported`]), before planning (the desired state is
//! checked in `controller::desired`) and again before any request.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::kind::HYDRA_BLOCK;
use super::wire::{self, DEFAULT_SCOPE, LIFESPANS, MARKER_KEY, OAuth2Client, PatchOp};
use crate::api::hydra::{HydraAccessTokenStrategy, HydraClientFields, HydraTokenLifespans};
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::model::{ClientFields, Field, OwnFields, RemoteClient};
use crate::secret::ClientSecret;

/// The code of the messages clientops itself produces for unsupported fields.
pub const UNSUPPORTED_CODE: &str = "clientops.unsupported_field";

/// Length of the secrets clientops generates for Hydra clients.
pub const GENERATED_SECRET_LEN: usize = 40;

/// A new random secret (CSPRNG, [`GENERATED_SECRET_LEN`] alphanumerics: Hydra
/// URL-decodes HTTP Basic credentials, so a secret without reserved characters works
/// unencoded too).
pub fn generate_secret() -> ClientSecret {
    ClientSecret::random_alphanumeric(GENERATED_SECRET_LEN)
}

fn strategy_str(s: HydraAccessTokenStrategy) -> &'static str {
    match s {
        HydraAccessTokenStrategy::Jwt => "jwt",
        HydraAccessTokenStrategy::Opaque => "opaque",
    }
}

fn lifespan_get(l: &HydraTokenLifespans, json_name: &str) -> Option<String> {
    match json_name {
        "authorization_code_grant_access_token_lifespan" => {
            l.authorization_code_grant_access_token.clone()
        }
        "authorization_code_grant_id_token_lifespan" => l.authorization_code_grant_id_token.clone(),
        "authorization_code_grant_refresh_token_lifespan" => {
            l.authorization_code_grant_refresh_token.clone()
        }
        "client_credentials_grant_access_token_lifespan" => {
            l.client_credentials_grant_access_token.clone()
        }
        "refresh_token_grant_access_token_lifespan" => l.refresh_token_grant_access_token.clone(),
        "refresh_token_grant_refresh_token_lifespan" => l.refresh_token_grant_refresh_token.clone(),
        _ => None,
    }
}

fn lifespan_set(l: &mut HydraTokenLifespans, json_name: &str, v: Option<String>) {
    match json_name {
        "authorization_code_grant_access_token_lifespan" => {
            l.authorization_code_grant_access_token = v
        }
        "authorization_code_grant_id_token_lifespan" => l.authorization_code_grant_id_token = v,
        "authorization_code_grant_refresh_token_lifespan" => {
            l.authorization_code_grant_refresh_token = v
        }
        "client_credentials_grant_access_token_lifespan" => {
            l.client_credentials_grant_access_token = v
        }
        "refresh_token_grant_access_token_lifespan" => l.refresh_token_grant_access_token = v,
        "refresh_token_grant_refresh_token_lifespan" => l.refresh_token_grant_refresh_token = v,
        _ => {}
    }
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// Hydra's `metadata` as string values, without the marker. Non-string values are
/// shown as their JSON text (so they differ from any string the spec asks for).
fn user_metadata(m: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Object(m)) = m else {
        return BTreeMap::new();
    };
    m.iter()
        .filter(|(k, _)| k.as_str() != MARKER_KEY)
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// The remote client in the neutral model. `spec.hydra` is reported with every
/// field Hydra returns (lifespans as whole seconds); [`hydra_differs`] decides
/// which of them are managed.
pub fn to_remote(c: &OAuth2Client) -> RemoteClient {
    let set = |v: &Option<Vec<String>>| v.iter().flatten().cloned().collect::<BTreeSet<_>>();
    let mut lifespans = HydraTokenLifespans::default();
    for (json_name, _) in LIFESPANS {
        let v = c
            .lifespans
            .get(json_name)
            .and_then(Value::as_str)
            .and_then(wire::go_duration)
            .map(wire::format_duration);
        lifespan_set(&mut lifespans, json_name, v);
    }
    let hydra = HydraClientFields {
        audience: Some(c.audience.clone().unwrap_or_default()),
        skip_consent: Some(c.skip_consent.unwrap_or(false)),
        skip_logout_consent: Some(c.skip_logout_consent.unwrap_or(false)),
        access_token_strategy: match c.access_token_strategy.as_deref() {
            Some("jwt") => Some(HydraAccessTokenStrategy::Jwt),
            Some("opaque") => Some(HydraAccessTokenStrategy::Opaque),
            _ => None,
        },
        metadata: Some(user_metadata(c.metadata.as_ref())),
        token_lifespans: Some(lifespans),
    };
    RemoteClient {
        id: c.client_id.clone().unwrap_or_default(),
        fields: ClientFields {
            name: c.client_name.clone().unwrap_or_default(),
            redirect_uris: c.redirect_uris.clone().unwrap_or_default(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone().unwrap_or_default(),
            grant_types: set(&c.grant_types),
            response_types: set(&c.response_types),
            scopes: c
                .scope
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from)
                .collect(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.clone().unwrap_or_default(),
            allowed_cors_origins: set(&c.allowed_cors_origins),
            client_uri: non_empty(&c.client_uri),
            logo_uri: non_empty(&c.logo_uri),
            policy_uri: non_empty(&c.policy_uri),
            tos_uri: non_empty(&c.tos_uri),
            own: OwnFields::new(hydra),
        },
        // Hydra keeps one secret: there is never a previous one.
        has_rotated_secret: false,
        created_at: c
            .created_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        marker: c.marker(),
        secret_changed_at: None,
        secret_expires_at: None,
    }
}

fn millis(s: &Option<String>) -> Option<u64> {
    s.as_deref()
        .and_then(crate::api::common::parse_duration)
        .map(|d| d.as_millis() as u64)
}

/// Whether the remote `spec.hydra` (`have`) differs from the desired one (`want`)
/// in a field the spec sets: audience as a set, durations by value, metadata as a
/// map (the marker excluded), flags with Hydra's default `false`.
pub fn hydra_differs(want: Option<&HydraClientFields>, have: Option<&HydraClientFields>) -> bool {
    let Some(want) = want else {
        return false;
    };
    let empty = HydraClientFields::default();
    let have = have.unwrap_or(&empty);
    let set = |v: &Option<Vec<String>>| v.iter().flatten().cloned().collect::<BTreeSet<_>>();
    let flag = |w: Option<bool>, h: Option<bool>| w.is_some_and(|w| w != h.unwrap_or(false));
    let audience = want.audience.is_some() && set(&want.audience) != set(&have.audience);
    let strategy = want.access_token_strategy.is_some()
        && want.access_token_strategy != have.access_token_strategy;
    let metadata = want.metadata.as_ref().is_some_and(|w| {
        let mut w = w.clone();
        w.remove(MARKER_KEY);
        w != have.metadata.clone().unwrap_or_default()
    });
    let lifespans = want.token_lifespans.as_ref().is_some_and(|w| {
        let h = have.token_lifespans.clone().unwrap_or_default();
        LIFESPANS.iter().any(|(json_name, _)| {
            let w = lifespan_get(w, json_name);
            w.is_some() && millis(&w) != millis(&lifespan_get(&h, json_name))
        })
    });
    audience
        || flag(want.skip_consent, have.skip_consent)
        || flag(want.skip_logout_consent, have.skip_logout_consent)
        || strategy
        || metadata
        || lifespans
}

/// Hydra's defaults in the desired state, so they are never seen as drift: no
/// `scopes` means Hydra's default scope.
pub fn apply_defaults(f: &mut ClientFields) {
    if f.scopes.is_empty() {
        f.scopes = DEFAULT_SCOPE.iter().map(|s| s.to_string()).collect();
    }
}

/// What Hydra cannot represent, as `(spec field, message with the fix)`; empty when
/// everything can be sent.
pub fn unsupported(f: &ClientFields) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    let mut refuse = |field: &str, message: String| out.push((field.to_string(), message));
    if let Some(s) = f
        .scopes
        .iter()
        .find(|s| s.is_empty() || s.chars().any(char::is_whitespace))
    {
        refuse(
            "spec.scopes",
            format!(
                "{s:?}: Ory Hydra stores scopes as one space-separated string, so a scope cannot be empty or contain whitespace; split it into separate scopes"
            ),
        );
    }
    if !f.token_endpoint_auth_method.is_empty()
        && !wire::AUTH_METHODS.contains(&f.token_endpoint_auth_method.as_str())
    {
        refuse(
            "spec.tokenEndpointAuthMethod",
            format!(
                "Ory Hydra does not know {:?}; use client_secret_basic, client_secret_post or none",
                f.token_endpoint_auth_method
            ),
        );
    }
    if let Some(h) = own(f) {
        if h.metadata
            .as_ref()
            .is_some_and(|m| m.contains_key(MARKER_KEY))
        {
            refuse(
                "spec.hydra.metadata",
                format!(
                    "the key {MARKER_KEY:?} is reserved for clientops (it records which OAuthClient created the client); use another key"
                ),
            );
        }
        if let Some(l) = &h.token_lifespans {
            for (json_name, spec_name) in LIFESPANS {
                if let Some(v) = lifespan_get(l, json_name)
                    && crate::api::common::parse_duration(&v).is_none()
                {
                    refuse(
                        &format!("spec.hydra.tokenLifespans.{spec_name}"),
                        format!("{v:?} is not a duration; use e.g. 1h or 30m"),
                    );
                }
            }
        }
    }
    out
}

/// A grace period cannot be represented: Hydra keeps one secret per client.
/// `grace_period` is `spec.rotation.gracePeriod` as written (absent: fine).
pub fn check_grace(grace_period: Option<&str>) -> Result<(), (String, String)> {
    match grace_period.map(crate::api::common::parse_duration) {
        None | Some(Some(Duration::ZERO)) => Ok(()),
        Some(_) => Err((
            "spec.rotation.gracePeriod".into(),
            "Ory Hydra keeps one secret per client, so a rotation replaces the secret at once and the previous one stops working immediately; a grace period is impossible: remove gracePeriod (or set it to 0s)".into(),
        )),
    }
}

/// [`unsupported`] as the error returned before any request.
pub fn check_supported(f: &ClientFields) -> Result<(), ProviderError> {
    let errors = unsupported(f);
    if errors.is_empty() {
        return Ok(());
    }
    Err(ProviderError::Invalid {
        status: 422,
        messages: errors
            .into_iter()
            .map(|(field, m)| ProviderMessage::new(Some(UNSUPPORTED_CODE.into()), &m, Some(field)))
            .collect(),
    })
}

/// Hydra's own fields of `f` (`spec.hydra`), when the spec sets them.
pub(super) fn own(f: &ClientFields) -> Option<&HydraClientFields> {
    f.own.get::<HydraClientFields>()
}

fn vec_of(s: &BTreeSet<String>) -> Vec<String> {
    s.iter().cloned().collect()
}

fn scope_string(f: &ClientFields) -> String {
    f.scopes.iter().cloned().collect::<Vec<_>>().join(" ")
}

fn metadata_value(user: Option<&BTreeMap<String, String>>, marker: Option<&str>) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in user.into_iter().flatten() {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    if let Some(marker) = marker {
        m.insert(MARKER_KEY.into(), Value::String(marker.into()));
    }
    Value::Object(m)
}

fn lifespan_values(h: &HydraClientFields) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some(l) = &h.token_lifespans {
        for (json_name, _) in LIFESPANS {
            if let Some(d) =
                lifespan_get(l, json_name).and_then(|v| crate::api::common::parse_duration(&v))
            {
                out.insert(
                    json_name.to_string(),
                    Value::String(wire::format_duration(d)),
                );
            }
        }
    }
    out
}

/// The create body for `f`, with `marker` in `metadata`. Everything the spec
/// leaves out is left to Hydra.
pub fn create_body(f: &ClientFields, marker: &str) -> OAuth2Client {
    let h = own(f).cloned().unwrap_or_default();
    OAuth2Client {
        client_name: Some(f.name.clone()),
        redirect_uris: Some(f.redirect_uris.clone()),
        post_logout_redirect_uris: Some(f.post_logout_redirect_uris.clone()),
        grant_types: Some(vec_of(&f.grant_types)),
        response_types: Some(vec_of(&f.response_types)),
        scope: (!f.scopes.is_empty()).then(|| scope_string(f)),
        audience: h.audience.clone(),
        token_endpoint_auth_method: (!f.token_endpoint_auth_method.is_empty())
            .then(|| f.token_endpoint_auth_method.clone()),
        allowed_cors_origins: Some(vec_of(&f.allowed_cors_origins)),
        client_uri: f.client_uri.clone(),
        logo_uri: f.logo_uri.clone(),
        policy_uri: f.policy_uri.clone(),
        tos_uri: f.tos_uri.clone(),
        metadata: Some(metadata_value(h.metadata.as_ref(), Some(marker))),
        skip_consent: h.skip_consent,
        skip_logout_consent: h.skip_logout_consent,
        access_token_strategy: h.access_token_strategy.map(|s| strategy_str(s).to_string()),
        lifespans: lifespan_values(&h),
        ..Default::default()
    }
}

/// JSON Patch operations that set exactly the `changed` fields. `marker` is the
/// marker the client carries now: a metadata change keeps it.
pub fn update_ops(f: &ClientFields, changed: &[Field], marker: Option<&str>) -> Vec<PatchOp> {
    let mut ops = vec![];
    let strings = |v: &BTreeSet<String>| json!(vec_of(v));
    for field in changed {
        match field {
            Field::Name => ops.push(PatchOp::set("client_name", json!(f.name))),
            Field::RedirectUris => ops.push(PatchOp::set("redirect_uris", json!(f.redirect_uris))),
            Field::PostLogoutRedirectUris => ops.push(PatchOp::set(
                "post_logout_redirect_uris",
                json!(f.post_logout_redirect_uris),
            )),
            Field::GrantTypes => ops.push(PatchOp::set("grant_types", strings(&f.grant_types))),
            Field::ResponseTypes => {
                ops.push(PatchOp::set("response_types", strings(&f.response_types)))
            }
            Field::Scopes => ops.push(PatchOp::set("scope", json!(scope_string(f)))),
            Field::TokenEndpointAuthMethod => ops.push(PatchOp::set(
                "token_endpoint_auth_method",
                json!(f.token_endpoint_auth_method),
            )),
            Field::AllowedCorsOrigins => ops.push(PatchOp::set(
                "allowed_cors_origins",
                strings(&f.allowed_cors_origins),
            )),
            Field::ClientUri => ops.extend(
                f.client_uri
                    .as_ref()
                    .map(|v| PatchOp::set("client_uri", json!(v))),
            ),
            Field::LogoUri => ops.extend(
                f.logo_uri
                    .as_ref()
                    .map(|v| PatchOp::set("logo_uri", json!(v))),
            ),
            Field::PolicyUri => ops.extend(
                f.policy_uri
                    .as_ref()
                    .map(|v| PatchOp::set("policy_uri", json!(v))),
            ),
            Field::TosUri => ops.extend(
                f.tos_uri
                    .as_ref()
                    .map(|v| PatchOp::set("tos_uri", json!(v))),
            ),
            Field::Own(_) if *field == HYDRA_BLOCK => {
                let Some(h) = own(f) else { continue };
                if let Some(a) = &h.audience {
                    ops.push(PatchOp::set("audience", json!(a)));
                }
                if let Some(v) = h.skip_consent {
                    ops.push(PatchOp::set("skip_consent", json!(v)));
                }
                if let Some(v) = h.skip_logout_consent {
                    ops.push(PatchOp::set("skip_logout_consent", json!(v)));
                }
                if let Some(s) = h.access_token_strategy {
                    ops.push(PatchOp::set(
                        "access_token_strategy",
                        json!(strategy_str(s)),
                    ));
                }
                if let Some(m) = &h.metadata {
                    ops.push(PatchOp::set("metadata", metadata_value(Some(m), marker)));
                }
                for (k, v) in lifespan_values(h) {
                    ops.push(PatchOp::set(&k, v));
                }
            }
            // Another provider's field: never planned for a Hydra client.
            Field::Own(_) => {}
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ClientFields {
        let mut f = ClientFields {
            name: "Billing".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            grant_types: ["client_credentials".to_string()].into(),
            response_types: ["code".to_string()].into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            ..Default::default()
        };
        apply_defaults(&mut f);
        f
    }

    /// What Hydra v2.3.0 answers for a create with `body` (its defaults filled in).
    fn as_hydra_returns(body: &OAuth2Client) -> OAuth2Client {
        let mut c = body.clone();
        c.client_id = Some("c1".into());
        c.client_secret = None;
        c.audience.get_or_insert_with(Vec::new);
        c.skip_consent.get_or_insert(false);
        c.skip_logout_consent.get_or_insert(false);
        if c.scope.is_none() {
            c.scope = Some(DEFAULT_SCOPE.join(" "));
        }
        for (k, _) in LIFESPANS {
            c.lifespans.entry(k.to_string()).or_insert(Value::Null);
        }
        // Go prints durations as e.g. 1h0m0s.
        for v in c.lifespans.values_mut() {
            if v.as_str() == Some("3600s") {
                *v = json!("1h0m0s");
            }
        }
        c.created_at = Some("2025-01-01T00:00:00Z".into());
        c
    }

    #[test]
    fn a_created_client_reads_back_without_drift() {
        let mut f = fields();
        let r = to_remote(&as_hydra_returns(&create_body(&f, "uid-1")));
        assert_eq!(r.marker.as_deref(), Some("uid-1"));
        assert!(f.diff(&r.fields).is_empty(), "{:?}", f.diff(&r.fields));
        f.own = OwnFields::new(HydraClientFields {
            audience: Some(vec!["b".into(), "a".into()]),
            skip_consent: Some(true),
            metadata: Some([("team".to_string(), "billing".to_string())].into()),
            token_lifespans: Some(HydraTokenLifespans {
                client_credentials_grant_access_token: Some("1h".into()),
                ..Default::default()
            }),
            access_token_strategy: Some(HydraAccessTokenStrategy::Jwt),
            ..Default::default()
        });
        let body = create_body(&f, "uid-1");
        assert_eq!(
            body.metadata,
            Some(json!({"team": "billing", MARKER_KEY: "uid-1"}))
        );
        let r = to_remote(&as_hydra_returns(&body));
        assert!(!hydra_differs(own(&f), own(&r.fields)));
        assert!(f.diff(&r.fields).is_empty(), "{:?}", f.diff(&r.fields));
    }

    #[test]
    fn only_managed_hydra_fields_are_drift() {
        let have = HydraClientFields {
            audience: Some(vec!["x".into()]),
            skip_consent: Some(true),
            skip_logout_consent: Some(false),
            access_token_strategy: Some(HydraAccessTokenStrategy::Opaque),
            metadata: Some([("k".to_string(), "v".to_string())].into()),
            token_lifespans: Some(HydraTokenLifespans {
                refresh_token_grant_access_token: Some("1800s".into()),
                ..Default::default()
            }),
        };
        // The spec sets nothing under spec.hydra: nothing is managed.
        assert!(!hydra_differs(None, Some(&have)));
        assert!(!hydra_differs(
            Some(&HydraClientFields::default()),
            Some(&have)
        ));
        let want = |f: fn(&mut HydraClientFields)| {
            let mut w = HydraClientFields::default();
            f(&mut w);
            w
        };
        assert!(!hydra_differs(
            Some(&want(|w| w.token_lifespans = Some(HydraTokenLifespans {
                refresh_token_grant_access_token: Some("30m".into()),
                ..Default::default()
            }))),
            Some(&have)
        ));
        assert!(hydra_differs(
            Some(&want(|w| w.token_lifespans = Some(HydraTokenLifespans {
                refresh_token_grant_access_token: Some("31m".into()),
                ..Default::default()
            }))),
            Some(&have)
        ));
        assert!(hydra_differs(
            Some(&want(|w| w.skip_consent = Some(false))),
            Some(&have)
        ));
        assert!(!hydra_differs(
            Some(&want(|w| w.skip_logout_consent = Some(false))),
            Some(&have)
        ));
        assert!(hydra_differs(
            Some(&want(|w| w.metadata = Some(BTreeMap::new()))),
            Some(&have)
        ));
        assert!(!hydra_differs(
            Some(&want(|w| w.audience = Some(vec!["x".into()]))),
            Some(&have)
        ));
        assert!(hydra_differs(
            Some(&want(
                |w| w.access_token_strategy = Some(HydraAccessTokenStrategy::Jwt)
            )),
            Some(&have)
        ));
    }

    /// The desired fields of a spec that sets every field Hydra holds.
    fn every_field() -> ClientFields {
        let mut f = fields();
        f.post_logout_redirect_uris = vec!["https://app.example.com/bye".into()];
        f.grant_types = ["authorization_code".to_string(), "refresh_token".into()].into();
        f.response_types = ["code".to_string(), "id_token".into()].into();
        f.scopes = ["openid".to_string(), "offline".into()].into();
        f.allowed_cors_origins = ["https://app.example.com".to_string()].into();
        f.client_uri = Some("https://app.example.com".into());
        f.logo_uri = Some("https://app.example.com/logo.png".into());
        f.policy_uri = Some("https://app.example.com/privacy".into());
        f.tos_uri = Some("https://app.example.com/terms".into());
        f.own = OwnFields::new(HydraClientFields {
            audience: Some(vec!["https://api.example.com".into()]),
            skip_consent: Some(true),
            skip_logout_consent: Some(true),
            access_token_strategy: Some(HydraAccessTokenStrategy::Jwt),
            metadata: Some([("team".to_string(), "billing".to_string())].into()),
            token_lifespans: Some(HydraTokenLifespans {
                authorization_code_grant_access_token: Some("1h".into()),
                authorization_code_grant_id_token: Some("2h".into()),
                authorization_code_grant_refresh_token: Some("720h".into()),
                client_credentials_grant_access_token: Some("30m".into()),
                refresh_token_grant_access_token: Some("45m".into()),
                refresh_token_grant_refresh_token: Some("240h".into()),
            }),
        });
        f
    }

    /// An admin's edit of each field the spec declares (as JSON members of
    /// Hydra's client), and the field that must then differ: one row per field.
    #[rustfmt::skip]
    fn admin_edits() -> Vec<(&'static str, Value, Field)> {
        vec![
            ("client_name", json!("by hand"), Field::Name),
            ("redirect_uris", json!(["https://evil.example.com/cb"]), Field::RedirectUris),
            ("post_logout_redirect_uris", json!([]), Field::PostLogoutRedirectUris),
            ("grant_types", json!(["authorization_code", "client_credentials"]), Field::GrantTypes),
            ("response_types", json!(["code", "token"]), Field::ResponseTypes),
            ("scope", json!("openid offline admin"), Field::Scopes),
            ("token_endpoint_auth_method", json!("client_secret_post"), Field::TokenEndpointAuthMethod),
            ("allowed_cors_origins", json!(["*"]), Field::AllowedCorsOrigins),
            ("client_uri", json!("https://evil.example.com"), Field::ClientUri),
            ("logo_uri", json!(""), Field::LogoUri),
            ("policy_uri", json!("https://evil.example.com/p"), Field::PolicyUri),
            ("tos_uri", json!("https://evil.example.com/t"), Field::TosUri),
            ("audience", json!([]), HYDRA_BLOCK),
            ("skip_consent", json!(false), HYDRA_BLOCK),
            ("skip_logout_consent", json!(false), HYDRA_BLOCK),
            ("access_token_strategy", json!("opaque"), HYDRA_BLOCK),
            ("metadata", json!({"team": "other", MARKER_KEY: "uid-1"}), HYDRA_BLOCK),
            ("authorization_code_grant_access_token_lifespan", json!("2h0m0s"), HYDRA_BLOCK),
            ("authorization_code_grant_id_token_lifespan", Value::Null, HYDRA_BLOCK),
            ("authorization_code_grant_refresh_token_lifespan", json!("1h0m0s"), HYDRA_BLOCK),
            ("client_credentials_grant_access_token_lifespan", json!("1m0s"), HYDRA_BLOCK),
            ("refresh_token_grant_access_token_lifespan", json!("1m0s"), HYDRA_BLOCK),
            ("refresh_token_grant_refresh_token_lifespan", json!("1m0s"), HYDRA_BLOCK),
        ]
    }

    /// Hydra's JSON Patch: each `add` sets a top-level member.
    fn patched(c: &Value, ops: &[PatchOp]) -> Value {
        let mut out = c.clone();
        for op in ops {
            assert_eq!(op.op, "add");
            let key = op
                .path
                .strip_prefix('/')
                .unwrap()
                .replace("~1", "/")
                .replace("~0", "~");
            out[key] = op.value.clone().unwrap();
        }
        out
    }

    #[test]
    fn every_declared_field_edited_by_an_admin_is_drift_and_one_patch_reverts_it() {
        let want = every_field();
        let created = serde_json::to_value(as_hydra_returns(&create_body(&want, "uid-1"))).unwrap();
        let read = |v: &Value| to_remote(&serde_json::from_value(v.clone()).unwrap()).fields;
        assert!(
            want.diff(&read(&created)).is_empty(),
            "{:?}",
            want.diff(&read(&created))
        );
        let mut all = created.clone();
        let mut expected = vec![];
        for (member, value, field) in admin_edits() {
            let mut edited = created.clone();
            edited[member] = value.clone();
            assert_eq!(
                want.diff(&read(&edited)),
                [field],
                "an admin's edit of {member}"
            );
            let ops = update_ops(&want, &[field], Some("uid-1"));
            let reverted = patched(&edited, &ops);
            assert!(
                want.diff(&read(&reverted)).is_empty(),
                "{member}: {ops:?} does not revert it"
            );
            assert_eq!(
                reverted["metadata"][MARKER_KEY], "uid-1",
                "{member}: the marker stays"
            );
            all[member] = value;
            if !expected.contains(&field) {
                expected.push(field);
            }
        }
        let mut changed = want.diff(&read(&all));
        changed.sort();
        expected.sort();
        assert_eq!(changed, expected);
        let reverted = patched(&all, &update_ops(&want, &changed, Some("uid-1")));
        assert!(want.diff(&read(&reverted)).is_empty());
    }

    #[test]
    fn optional_uris_and_defaults_are_not_drift() {
        let f = fields();
        let mut body = create_body(&f, "u");
        // Set at the provider by hand, not in the spec: not managed.
        body.client_uri = Some("https://x.example.com".into());
        body.token_endpoint_auth_method = Some("client_secret_basic".into());
        let r = to_remote(&as_hydra_returns(&body));
        assert!(f.diff(&r.fields).is_empty());
        // Hydra's "" for an unset URI is None.
        body.client_uri = Some(String::new());
        assert_eq!(to_remote(&body).fields.client_uri, None);
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let mut f = fields();
        f.scopes.insert("a b".into());
        f.own = OwnFields::new(HydraClientFields {
            metadata: Some([(MARKER_KEY.to_string(), "x".to_string())].into()),
            token_lifespans: Some(HydraTokenLifespans {
                authorization_code_grant_id_token: Some("soon".into()),
                ..Default::default()
            }),
            ..Default::default()
        });
        let fields: Vec<String> = unsupported(&f).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "spec.scopes",
                "spec.hydra.metadata",
                "spec.hydra.tokenLifespans.authorizationCodeGrantIdToken"
            ]
        );
        let e = check_supported(&f).unwrap_err();
        assert!(e.to_string().contains("spec.scopes: "), "{e}");
        assert!(check_supported(&self::fields()).is_ok());
        assert!(check_grace(None).is_ok());
        assert!(check_grace(Some("0s")).is_ok());
        let (field, message) = check_grace(Some("24h")).unwrap_err();
        assert_eq!(field, "spec.rotation.gracePeriod");
        assert!(message.contains("impossible"));
    }

    #[test]
    fn patches_set_exactly_the_changed_fields_and_keep_the_marker() {
        let mut f = fields();
        f.name = "New".into();
        f.own = OwnFields::new(HydraClientFields {
            metadata: Some([("team".to_string(), "a".to_string())].into()),
            skip_consent: Some(true),
            ..Default::default()
        });
        let ops = update_ops(&f, &[Field::Name, HYDRA_BLOCK], Some("uid-9"));
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([
                {"op": "add", "path": "/client_name", "value": "New"},
                {"op": "add", "path": "/skip_consent", "value": true},
                {"op": "add", "path": "/metadata", "value": {"team": "a", MARKER_KEY: "uid-9"}},
            ])
        );
        let ops = update_ops(&f, &[Field::Scopes], None);
        assert_eq!(
            serde_json::to_value(&ops).unwrap(),
            json!([{"op": "add", "path": "/scope", "value": "offline offline_access openid"}])
        );
    }

    #[test]
    fn generated_secrets_are_long_unreserved_and_distinct() {
        let a = generate_secret();
        let b = generate_secret();
        assert_eq!(a.expose().len(), GENERATED_SECRET_LEN);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
