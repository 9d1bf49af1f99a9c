//! The policy rules on token lifetimes: `maxTokenLifetime` bounds every token
//! lifetime a client sets (access, ID and refresh tokens), `maxRefreshTokenLifetime`
//! bounds its refresh tokens in place of it. A stolen token is good for as long as
//! it lives, so a longer lifetime is more reach.
//!
//! Every lifetime field is a duration string; the bound is one too, and the two are
//! compared as durations (`90m` = `1.5h`). A field the client leaves unset takes the
//! provider's default: Ory Hydra's and Keycloak's are the admin's own server and
//! realm settings, so they pass; VMware CSP's are CSP's own and fixed
//! ([`CSP_DEFAULT_ACCESS_TOKEN_TTL`], [`CSP_DEFAULT_REFRESH_TOKEN_TTL`]), so they
//! are checked. Without either rule a lifetime has no limit: shorter than the
//! provider's default only narrows, and clientops cannot tell the default, so a
//! missing rule refuses nothing. `deploy/admission/` says the same words.

use crate::api::client::OAuthClientSpec;
use crate::api::common::parse_duration;
use crate::api::csp::{CSP_DEFAULT_ACCESS_TOKEN_TTL, CSP_DEFAULT_REFRESH_TOKEN_TTL};
use crate::api::keycloak::KeycloakClientFields;
use crate::api::policy::ClientPolicy;
use crate::api::provider::ProviderType;

use super::{Violation, violation};

/// Which bound a lifetime field answers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token {
    /// Access and ID tokens: `maxTokenLifetime`.
    Short,
    /// Refresh tokens: `maxRefreshTokenLifetime`, else `maxTokenLifetime`.
    Refresh,
}

/// One lifetime field of a client spec.
struct Lifetime<'a> {
    field: &'static str,
    token: Token,
    value: Option<&'a str>,
    /// The provider's own fixed default, when the field is unset and that default
    /// is not the admin's to configure (only VMware CSP's are; the message names
    /// it).
    default: Option<&'static str>,
}

impl<'a> Lifetime<'a> {
    /// A field whose unset value is the admin's own setting at the provider.
    fn written(field: &'static str, token: Token, value: &'a Option<String>) -> Self {
        Lifetime {
            field,
            token,
            value: value.as_deref(),
            default: None,
        }
    }
}

/// `vmwareCsp.accessTokenTtl` and `refreshTokenTtl`, with CSP's defaults when the
/// client is a VMware CSP one (also without a `vmwareCsp` block).
pub(super) fn check_csp(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    provider: Option<ProviderType>,
    owner: &str,
) -> Result<(), Violation> {
    let csp = spec.vmware_csp.as_ref();
    let defaults = provider == Some(ProviderType::VmwareCsp);
    check_all(
        policy,
        [
            Lifetime {
                field: "spec.vmwareCsp.accessTokenTtl",
                token: Token::Short,
                value: csp.and_then(|c| c.access_token_ttl.as_deref()),
                default: defaults.then_some(CSP_DEFAULT_ACCESS_TOKEN_TTL),
            },
            Lifetime {
                field: "spec.vmwareCsp.refreshTokenTtl",
                token: Token::Refresh,
                value: csp.and_then(|c| c.refresh_token_ttl.as_deref()),
                default: defaults.then_some(CSP_DEFAULT_REFRESH_TOKEN_TTL),
            },
        ],
        owner,
    )
}

/// `hydra.tokenLifespans.*`, in the order of the fields; unset is Hydra's setting.
pub(super) fn check_hydra(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    owner: &str,
) -> Result<(), Violation> {
    let Some(l) = spec.hydra.as_ref().and_then(|h| h.token_lifespans.as_ref()) else {
        return Ok(());
    };
    let hydra = Lifetime::written;
    check_all(
        policy,
        [
            hydra(
                "spec.hydra.tokenLifespans.authorizationCodeGrantAccessToken",
                Token::Short,
                &l.authorization_code_grant_access_token,
            ),
            hydra(
                "spec.hydra.tokenLifespans.authorizationCodeGrantIdToken",
                Token::Short,
                &l.authorization_code_grant_id_token,
            ),
            hydra(
                "spec.hydra.tokenLifespans.authorizationCodeGrantRefreshToken",
                Token::Refresh,
                &l.authorization_code_grant_refresh_token,
            ),
            hydra(
                "spec.hydra.tokenLifespans.clientCredentialsGrantAccessToken",
                Token::Short,
                &l.client_credentials_grant_access_token,
            ),
            hydra(
                "spec.hydra.tokenLifespans.refreshTokenGrantAccessToken",
                Token::Short,
                &l.refresh_token_grant_access_token,
            ),
            hydra(
                "spec.hydra.tokenLifespans.refreshTokenGrantRefreshToken",
                Token::Refresh,
                &l.refresh_token_grant_refresh_token,
            ),
        ],
        owner,
    )
}

/// `keycloak.accessTokenLifespan`; unset is the realm's setting.
pub(super) fn check_keycloak(
    policy: &ClientPolicy,
    kc: &KeycloakClientFields,
    owner: &str,
) -> Result<(), Violation> {
    check_all(
        policy,
        [Lifetime {
            field: "spec.keycloak.accessTokenLifespan",
            token: Token::Short,
            value: kc.access_token_lifespan.as_deref(),
            default: None,
        }],
        owner,
    )
}

fn check_all<'a, const N: usize>(
    policy: &ClientPolicy,
    fields: [Lifetime<'a>; N],
    owner: &str,
) -> Result<(), Violation> {
    fields
        .into_iter()
        .try_for_each(|l| check_one(policy, &l, owner))
}

fn check_one(policy: &ClientPolicy, l: &Lifetime<'_>, owner: &str) -> Result<(), Violation> {
    let (rule, bound, note) = match (
        l.token,
        &policy.max_refresh_token_lifetime,
        &policy.max_token_lifetime,
    ) {
        (Token::Refresh, Some(r), _) => ("maxRefreshTokenLifetime", r, ""),
        (Token::Refresh, None, Some(m)) => (
            "maxTokenLifetime",
            m,
            " (maxRefreshTokenLifetime is not set)",
        ),
        (Token::Short, _, Some(m)) => ("maxTokenLifetime", m, ""),
        _ => return Ok(()),
    };
    let (value, written) = match (l.value, l.default) {
        (Some(v), _) => (v, true),
        (None, Some(d)) => (d, false),
        (None, None) => return Ok(()),
    };
    let field = l.field;
    let Some(max) = parse_duration(bound) else {
        return Err(violation(
            field.into(),
            format!(
                "{owner} policy {rule} {bound:?} is not a duration, so no token lifetime can be checked; ask the provider's admin to fix the policy"
            ),
        ));
    };
    let fix = format!("set {field} to {bound} or less, or ask the provider's admin");
    match parse_duration(value) {
        None => Err(violation(
            field.into(),
            format!("{value:?} is not a duration; {fix}"),
        )),
        Some(d) if d > max => {
            let what = if written {
                format!("{value:?} is longer than")
            } else {
                format!("not set, so VMware CSP's default {value} applies, which is longer than")
            };
            Err(violation(
                field.into(),
                format!("{what} {owner} policy {rule} {bound}{note}; {fix}"),
            ))
        }
        Some(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{check, check_for};
    use super::*;
    use serde_json::{Value, json};

    fn spec(extra: Value) -> OAuthClientSpec {
        let mut base = json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "prod"},
            "redirectUris": ["https://grafana.apps.example.com/login"],
        });
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn policy(v: Value) -> ClientPolicy {
        serde_json::from_value(v).unwrap()
    }

    /// The field and message of the violation, or `None`.
    fn verdict(p: &Value, s: Value, t: ProviderType) -> Option<(String, String)> {
        check_for(&policy(p.clone()), &spec(s), t, "p")
            .err()
            .map(|v| (v.field, v.message))
    }

    /// Every lifetime field: its spec with `value` set, its provider, and whether it
    /// holds refresh tokens.
    fn fields(value: &str) -> Vec<(&'static str, Value, ProviderType, bool)> {
        let hydra = |k: &str| json!({"hydra": {"tokenLifespans": {k: value}}});
        let kc = json!({"keycloak": {"fullScopeAllowed": false, "accessTokenLifespan": value}});
        // The other CSP TTL is set short, so CSP's default cannot break a rule.
        vec![
            (
                "spec.vmwareCsp.accessTokenTtl",
                json!({"vmwareCsp": {"accessTokenTtl": value, "refreshTokenTtl": "1s"}}),
                ProviderType::VmwareCsp,
                false,
            ),
            (
                "spec.vmwareCsp.refreshTokenTtl",
                json!({"vmwareCsp": {"accessTokenTtl": "1s", "refreshTokenTtl": value}}),
                ProviderType::VmwareCsp,
                true,
            ),
            (
                "spec.hydra.tokenLifespans.authorizationCodeGrantAccessToken",
                hydra("authorizationCodeGrantAccessToken"),
                ProviderType::Hydra,
                false,
            ),
            (
                "spec.hydra.tokenLifespans.authorizationCodeGrantIdToken",
                hydra("authorizationCodeGrantIdToken"),
                ProviderType::Hydra,
                false,
            ),
            (
                "spec.hydra.tokenLifespans.authorizationCodeGrantRefreshToken",
                hydra("authorizationCodeGrantRefreshToken"),
                ProviderType::Hydra,
                true,
            ),
            (
                "spec.hydra.tokenLifespans.clientCredentialsGrantAccessToken",
                hydra("clientCredentialsGrantAccessToken"),
                ProviderType::Hydra,
                false,
            ),
            (
                "spec.hydra.tokenLifespans.refreshTokenGrantAccessToken",
                hydra("refreshTokenGrantAccessToken"),
                ProviderType::Hydra,
                false,
            ),
            (
                "spec.hydra.tokenLifespans.refreshTokenGrantRefreshToken",
                hydra("refreshTokenGrantRefreshToken"),
                ProviderType::Hydra,
                true,
            ),
            (
                "spec.keycloak.accessTokenLifespan",
                kc,
                ProviderType::Keycloak,
                false,
            ),
        ]
    }

    #[test]
    fn every_token_lifetime_is_bounded_by_max_token_lifetime() {
        // A bound for refresh tokens that every refresh field keeps, so only the
        // field under test can break the rule.
        let p = json!({"maxTokenLifetime": "1h", "maxRefreshTokenLifetime": "20000h"});
        for (field, s, t, _) in fields("1h") {
            assert_eq!(verdict(&p, s, t), None, "{field}: equal is allowed");
        }
        for (field, s, t, _) in fields("60m") {
            assert_eq!(verdict(&p, s, t), None, "{field}: 60m is 1h");
        }
        for (field, s, t, refresh) in fields("1h1s") {
            let got = verdict(&p, s, t);
            if refresh {
                assert_eq!(got, None, "{field}: refresh tokens have their own bound");
                continue;
            }
            let (f, msg) = got.unwrap_or_else(|| panic!("{field}: refused"));
            assert_eq!(f, field);
            assert_eq!(
                msg,
                format!(
                    "{field}: \"1h1s\" is longer than ClusterOAuthProvider p policy maxTokenLifetime 1h; set {field} to 1h or less, or ask the provider's admin"
                )
            );
        }
    }

    #[test]
    fn refresh_tokens_have_their_own_bound_or_the_token_bound() {
        // Only maxTokenLifetime: it bounds refresh tokens too, and says so.
        let p = json!({"maxTokenLifetime": "720h"});
        for (field, s, t, refresh) in fields("721h") {
            let (f, msg) = verdict(&p, s, t).unwrap_or_else(|| panic!("{field}: refused"));
            assert_eq!(f, field);
            assert_eq!(
                msg.contains("policy maxTokenLifetime 720h (maxRefreshTokenLifetime is not set);"),
                refresh,
                "{msg}"
            );
        }
        // Only maxRefreshTokenLifetime: access and ID tokens have no limit.
        let p = json!({"maxRefreshTokenLifetime": "720h"});
        for (field, s, t, refresh) in fields("721h") {
            match verdict(&p, s, t) {
                None => assert!(!refresh, "{field}: refused"),
                Some((f, msg)) => {
                    assert!(refresh, "{field}: {msg}");
                    assert_eq!(f, field);
                    assert_eq!(
                        msg,
                        format!(
                            "{field}: \"721h\" is longer than ClusterOAuthProvider p policy maxRefreshTokenLifetime 720h; set {field} to 720h or less, or ask the provider's admin"
                        )
                    );
                }
            }
        }
        // Both: the refresh bound may be the longer one.
        let p = json!({"maxTokenLifetime": "1h", "maxRefreshTokenLifetime": "2160h"});
        for (field, s, t, refresh) in fields("2160h") {
            assert_eq!(verdict(&p, s, t).is_some(), !refresh, "{field}");
        }
    }

    #[test]
    fn without_a_lifetime_rule_a_lifetime_has_no_limit() {
        for p in [json!({}), full()] {
            for (field, s, t, _) in fields("87600h") {
                assert_eq!(verdict(&p, s, t), None, "{field} under {p}");
            }
        }
    }

    /// A policy with every other rule, which the lifetime specs keep.
    fn full() -> Value {
        json!({"allowFullScope": true, "audiences": []})
    }

    #[test]
    fn unset_lifetimes_take_the_providers_default() {
        let p = json!({"maxTokenLifetime": "5m", "maxRefreshTokenLifetime": "24h"});
        // Hydra and Keycloak: the admin's own server and realm settings.
        let hydra = json!({"hydra": {"tokenLifespans": {}}});
        assert_eq!(verdict(&p, hydra, ProviderType::Hydra), None);
        assert_eq!(verdict(&p, json!({}), ProviderType::Hydra), None);
        let kc = json!({"keycloak": {"fullScopeAllowed": false}});
        assert_eq!(verdict(&p, kc, ProviderType::Keycloak), None);
        // VMware CSP: its own fixed defaults are checked, with or without the block.
        for s in [json!({}), json!({"vmwareCsp": {"description": "d"}})] {
            let (f, msg) = verdict(&p, s, ProviderType::VmwareCsp).unwrap();
            assert_eq!(f, "spec.vmwareCsp.accessTokenTtl");
            assert_eq!(
                msg,
                "spec.vmwareCsp.accessTokenTtl: not set, so VMware CSP's default 10m applies, which is longer than ClusterOAuthProvider p policy maxTokenLifetime 5m; set spec.vmwareCsp.accessTokenTtl to 5m or less, or ask the provider's admin"
            );
        }
        let s = json!({"vmwareCsp": {"accessTokenTtl": "5m"}});
        let (f, msg) = verdict(&p, s, ProviderType::VmwareCsp).unwrap();
        assert_eq!(f, "spec.vmwareCsp.refreshTokenTtl");
        assert!(
            msg.contains("not set, so VMware CSP's default 2160h applies, which is longer than ClusterOAuthProvider p policy maxRefreshTokenLifetime 24h;"),
            "{msg}"
        );
        let s = json!({"vmwareCsp": {"accessTokenTtl": "5m", "refreshTokenTtl": "24h"}});
        assert_eq!(verdict(&p, s, ProviderType::VmwareCsp), None);
        // Defaults within the bound pass.
        let wide = json!({"maxTokenLifetime": "10m", "maxRefreshTokenLifetime": "2160h"});
        assert_eq!(verdict(&wide, json!({}), ProviderType::VmwareCsp), None);
        // Without a provider type only what is written counts; a CSP block on
        // another provider has no CSP default.
        assert_eq!(check(&policy(p.clone()), &spec(json!({}))), Ok(()));
        assert_eq!(verdict(&p, json!({}), ProviderType::Cloudflare), None);
    }

    #[test]
    fn a_policy_bound_that_is_no_duration_refuses_what_it_cannot_check() {
        // The CRD's pattern keeps this out; a stored object from before still gets
        // an answer rather than no limit.
        let p = policy(json!({"maxTokenLifetime": "forever"}));
        let s = spec(json!({"keycloak": {"accessTokenLifespan": "5m"}}));
        let v = check(&p, &s).unwrap_err();
        assert_eq!(v.field, "spec.keycloak.accessTokenLifespan");
        assert!(
            v.message.contains(
                "policy maxTokenLifetime \"forever\" is not a duration, so no token lifetime can be checked"
            ),
            "{v}"
        );
        assert_eq!(check(&p, &spec(json!({}))), Ok(()), "nothing to check");
    }

    #[test]
    fn lifetimes_are_checked_in_the_order_of_the_spec() {
        let p = json!({"maxTokenLifetime": "1h", "scopes": ["openid"], "allowFullScope": false,
            "redirectUriHosts": ["*.apps.example.com"]});
        // CSP: the TTLs come before generalScopes.
        let s = json!({"vmwareCsp": {"accessTokenTtl": "2h", "generalScopes": ["admin"]}});
        let (f, _) = verdict(&p, s, ProviderType::VmwareCsp).unwrap();
        assert_eq!(f, "spec.vmwareCsp.accessTokenTtl");
        // Hydra: after skipConsent.
        let s = json!({"scopes": ["openid"], "hydra": {"skipConsent": true,
            "tokenLifespans": {"refreshTokenGrantAccessToken": "2h", "authorizationCodeGrantIdToken": "3h"}}});
        let (f, _) = verdict(&p, s.clone(), ProviderType::Hydra).unwrap();
        assert_eq!(f, "spec.hydra.skipConsent");
        let mut s = s;
        s["hydra"]["skipConsent"] = json!(false);
        let (f, _) = verdict(&p, s, ProviderType::Hydra).unwrap();
        assert_eq!(f, "spec.hydra.tokenLifespans.authorizationCodeGrantIdToken");
        // Keycloak: after fullScopeAllowed and the logout URLs, before attributes.
        let kc = |extra: Value| {
            let mut k = json!({"optionalClientScopes": [], "accessTokenLifespan": "2h",
                "attributes": {"zz.unknown": "1"}});
            for (key, v) in extra.as_object().unwrap() {
                k[key] = v.clone();
            }
            json!({"scopes": ["openid"], "keycloak": k})
        };
        let (f, _) = verdict(&p, kc(json!({})), ProviderType::Keycloak).unwrap();
        assert_eq!(f, "spec.keycloak.fullScopeAllowed");
        let (f, _) = verdict(
            &p,
            kc(json!({"fullScopeAllowed": false})),
            ProviderType::Keycloak,
        )
        .unwrap();
        assert_eq!(f, "spec.keycloak.accessTokenLifespan");
        // And all of them before rotation.every.
        let mut p = p;
        p["maxRotationEvery"] = json!("24h");
        let s = json!({"scopes": ["openid"],
            "hydra": {"tokenLifespans": {"authorizationCodeGrantAccessToken": "2h"}}});
        let (f, _) = verdict(&p, s, ProviderType::Hydra).unwrap();
        assert_eq!(
            f,
            "spec.hydra.tokenLifespans.authorizationCodeGrantAccessToken"
        );
    }

    #[test]
    fn the_csp_defaults_are_the_admission_policys() {
        let vap = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy/admission/validatingadmissionpolicy.yaml"),
        )
        .unwrap();
        let defaults =
            format!("['{CSP_DEFAULT_ACCESS_TOKEN_TTL}', '{CSP_DEFAULT_REFRESH_TOKEN_TTL}'");
        assert!(vap.contains(&defaults), "{defaults} missing");
    }
}
