//! The policy rules on the fields that widen what a client may do or reach beyond
//! its redirect URIs, grant types and scopes: CORS wildcards, the pages shown to
//! users, public visibility, CSP roles, Hydra audiences and consent, Keycloak's
//! optional scopes, logout URLs, full scope and free-form attributes; the token
//! lifetimes (`lifetime`) in their places among them.
//!
//! Each new rule is safe when a policy says nothing about it: a policy that is
//! present refuses the widening unless a rule allows it. Checked in the order of
//! the spec's fields; `deploy/admission/` says the same words.

use crate::api::client::OAuthClientSpec;
use crate::api::cloudflare::Visibility;
use crate::api::entra::SignInAudience;
use crate::api::keycloak::{DISPLAY_ATTRIBUTES, GRANT_ATTRIBUTES, REALM_DEFAULT_OPTIONAL_SCOPES};
use crate::api::policy::ClientPolicy;
use crate::api::provider::ProviderType;

use super::{Violation, check_list, check_uri, lifetime, show_list, violation};

/// The fields between `tokenEndpointAuthMethod` and `rotation`, in spec order.
pub(super) fn check(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    provider: Option<ProviderType>,
    owner: &str,
) -> Result<(), Violation> {
    check_cors(policy, spec, owner)?;
    check_display_uris(policy, spec, owner)?;
    check_visibility(policy, spec, owner)?;
    lifetime::check_csp(policy, spec, provider, owner)?;
    check_csp(policy, spec, owner)?;
    check_hydra(policy, spec, owner)?;
    lifetime::check_hydra(policy, spec, owner)?;
    check_keycloak(policy, spec, provider, owner)?;
    check_entra(policy, spec, owner)
}

/// Entra's sign-in audience (beyond the tenant's own accounts) and API
/// permissions, each allowed only by its rule.
fn check_entra(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    owner: &str,
) -> Result<(), Violation> {
    let Some(entra) = &spec.entra else {
        return Ok(());
    };
    if let Some(a) = entra.sign_in_audience
        && a != SignInAudience::AzureADMyOrg
        && !policy
            .sign_in_audiences
            .as_ref()
            .is_some_and(|l| l.contains(&a))
    {
        let rule = match &policy.sign_in_audiences {
            Some(l) => format!(
                "signInAudiences {}",
                show_list(&l.iter().map(|a| a.as_str().to_string()).collect::<Vec<_>>())
            ),
            None => "(signInAudiences is not set, so only AzureADMyOrg is allowed)".into(),
        };
        return Err(violation(
            "spec.entra.signInAudience".into(),
            format!(
                "{:?} is not allowed by {owner} policy {rule}; use AzureADMyOrg or an audience the policy allows, or ask the provider's admin",
                a.as_str()
            ),
        ));
    }
    let allowed: Vec<String> = policy
        .api_permissions
        .iter()
        .flatten()
        .map(|p| p.to_ascii_lowercase())
        .collect();
    for (i, r) in entra.required_resource_access.iter().flatten().enumerate() {
        for (j, a) in r.resource_access.iter().enumerate() {
            let key = format!(
                "{}/{}",
                r.resource_app_id.to_ascii_lowercase(),
                a.id.to_ascii_lowercase()
            );
            if !allowed.contains(&key) {
                let rule = match &policy.api_permissions {
                    Some(l) => format!("apiPermissions {}", show_list(l)),
                    None => "(apiPermissions is not set, so no API permission is allowed)".into(),
                };
                return Err(violation(
                    format!("spec.entra.requiredResourceAccess[{i}].resourceAccess[{j}]"),
                    format!(
                        "permission \"{key}\" is not allowed by {owner} policy {rule}; remove it, or ask the provider's admin"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn check_cors(policy: &ClientPolicy, spec: &OAuthClientSpec, owner: &str) -> Result<(), Violation> {
    if policy.allow_wildcard_cors_origins == Some(true) {
        return Ok(());
    }
    match spec
        .allowed_cors_origins
        .iter()
        .enumerate()
        .find(|(_, o)| o.contains('*'))
    {
        None => Ok(()),
        Some((i, o)) => Err(violation(
            format!("spec.allowedCorsOrigins[{i}]"),
            format!(
                "{o:?} is a wildcard origin, which lets any matching web site call the provider with this client, and {owner} policy does not allow it (allowWildcardCorsOrigins is not true); list the exact origins of your application, or ask the provider's admin"
            ),
        )),
    }
}

fn check_display_uris(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    owner: &str,
) -> Result<(), Violation> {
    let (patterns, rule) = match (&policy.display_uri_hosts, &policy.redirect_uri_hosts) {
        (Some(p), _) => (
            p,
            format!("{owner} policy displayUriHosts {}", show_list(p)),
        ),
        (None, Some(p)) => (
            p,
            format!(
                "{owner} policy redirectUriHosts {} (displayUriHosts is not set)",
                show_list(p)
            ),
        ),
        (None, None) => return Ok(()),
    };
    for (field, uri) in [
        ("spec.clientUri", &spec.client_uri),
        ("spec.logoUri", &spec.logo_uri),
        ("spec.policyUri", &spec.policy_uri),
        ("spec.tosUri", &spec.tos_uri),
    ] {
        if let Some(uri) = uri {
            check_uri(field.into(), uri, patterns, &rule)?;
        }
    }
    Ok(())
}

fn check_visibility(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    owner: &str,
) -> Result<(), Violation> {
    let public = spec
        .cloudflare
        .as_ref()
        .is_some_and(|c| c.visibility == Some(Visibility::Public));
    if public && policy.allow_public_visibility != Some(true) {
        return Err(violation(
            "spec.cloudflare.visibility".into(),
            format!(
                "\"public\" (any Cloudflare user may use the client, and it can never become private again) is not allowed by {owner} policy (allowPublicVisibility is not true); leave visibility out or set it to private, or ask the provider's admin"
            ),
        ));
    }
    Ok(())
}

fn check_csp(policy: &ClientPolicy, spec: &OAuthClientSpec, owner: &str) -> Result<(), Violation> {
    let Some(csp) = &spec.vmware_csp else {
        return Ok(());
    };
    if let Some(allowed) = &policy.scopes {
        for (field, what, asked) in [
            ("spec.vmwareCsp.generalScopes", "scope", &csp.general_scopes),
            (
                "spec.vmwareCsp.organizationRoles",
                "organization role",
                &csp.organization_roles,
            ),
        ] {
            if let Some(asked) = asked {
                check_list(field, what, "scopes", asked, allowed, owner)?;
            }
        }
    }
    if csp.all_organization_roles == Some(true) {
        let rule = match (policy.allow_all_organization_roles, &policy.scopes) {
            (Some(true), _) | (None, None) => None,
            (Some(false), _) => Some("allowAllOrganizationRoles: false".to_string()),
            (None, Some(allowed)) => Some(format!(
                "scopes {} (allowAllOrganizationRoles is not true)",
                show_list(allowed)
            )),
        };
        if let Some(rule) = rule {
            return Err(violation(
                "spec.vmwareCsp.allOrganizationRoles".into(),
                format!(
                    "true (every role of the organization) is not allowed by {owner} policy {rule}; list the roles the app needs in organizationRoles instead, or ask the provider's admin"
                ),
            ));
        }
    }
    Ok(())
}

fn check_hydra(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    owner: &str,
) -> Result<(), Violation> {
    let Some(hydra) = &spec.hydra else {
        return Ok(());
    };
    if let Some(asked) = &hydra.audience {
        let allowed = policy.audiences.as_deref().unwrap_or_default();
        if let Some((i, a)) = asked.iter().enumerate().find(|(_, a)| !allowed.contains(a)) {
            let rule = match &policy.audiences {
                Some(l) => format!("audiences {}", show_list(l)),
                None => "(audiences is not set, so no audience is allowed)".into(),
            };
            return Err(violation(
                format!("spec.hydra.audience[{i}]"),
                format!(
                    "audience {a:?} is not allowed by {owner} policy {rule}; remove it, or ask the provider's admin"
                ),
            ));
        }
    }
    if hydra.skip_consent == Some(true) && policy.allow_skip_consent != Some(true) {
        return Err(violation(
            "spec.hydra.skipConsent".into(),
            format!(
                "true (users are never asked before the client gets what it asks for) is not allowed by {owner} policy (allowSkipConsent is not true); remove it, or ask the provider's admin"
            ),
        ));
    }
    Ok(())
}

fn check_keycloak(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    provider: Option<ProviderType>,
    owner: &str,
) -> Result<(), Violation> {
    let keycloak = provider == Some(ProviderType::Keycloak);
    let kc = spec.keycloak.clone().unwrap_or_default();
    if let Some(allowed) = &policy.scopes {
        match &kc.optional_client_scopes {
            Some(asked) => check_list(
                "spec.keycloak.optionalClientScopes",
                "scope",
                "scopes",
                asked,
                allowed,
                owner,
            )?,
            None if keycloak => {
                if let Some(s) = REALM_DEFAULT_OPTIONAL_SCOPES
                    .iter()
                    .find(|s| !allowed.iter().any(|a| a == *s))
                {
                    return Err(violation(
                        "spec.keycloak.optionalClientScopes".into(),
                        format!(
                            "optionalClientScopes is not set, so Keycloak gives the client its default optional scopes [{}], and {s:?} is not allowed by {owner} policy scopes {}; set spec.keycloak.optionalClientScopes to scopes the policy allows ([] for none), or ask the provider's admin",
                            REALM_DEFAULT_OPTIONAL_SCOPES.join(", "),
                            show_list(allowed)
                        ),
                    ));
                }
            }
            None => {}
        }
    }
    if let Some(hosts) = &policy.redirect_uri_hosts {
        let rule = format!("{owner} policy redirectUriHosts {}", show_list(hosts));
        for (field, uri) in [
            (
                "spec.keycloak.frontChannelLogoutUrl",
                &kc.front_channel_logout_url,
            ),
            (
                "spec.keycloak.backChannelLogoutUrl",
                &kc.back_channel_logout_url,
            ),
        ] {
            if let Some(uri) = uri {
                check_uri(field.into(), uri, hosts, &rule)?;
            }
        }
    }
    if policy.allow_full_scope != Some(true) {
        let field = "spec.keycloak.fullScopeAllowed".to_string();
        match kc.full_scope_allowed {
            Some(true) => {
                return Err(violation(
                    field,
                    format!(
                        "true (every realm role in the client's tokens) is not allowed by {owner} policy (allowFullScope is not true); set fullScopeAllowed: false, or ask the provider's admin"
                    ),
                ));
            }
            None if keycloak => {
                return Err(violation(
                    field,
                    format!(
                        "not set, so Keycloak puts every realm role in the client's tokens (its default is true), which {owner} policy does not allow (allowFullScope is not true); set spec.keycloak.fullScopeAllowed: false, or ask the provider's admin"
                    ),
                ));
            }
            _ => {}
        }
    }
    lifetime::check_keycloak(policy, &kc, owner)?;
    for (key, value) in kc.attributes.iter().flatten() {
        check_attribute(policy, key, value, owner)?;
    }
    Ok(())
}

/// A grant switch is bounded by `grantTypes`, a display-only attribute always
/// passes, any other key needs `keycloakAttributes`.
fn check_attribute(
    policy: &ClientPolicy,
    key: &str,
    value: &str,
    owner: &str,
) -> Result<(), Violation> {
    let field = format!("spec.keycloak.attributes[{key:?}]");
    if let Some((_, grant)) = GRANT_ATTRIBUTES.iter().find(|(k, _)| *k == key) {
        let Some(allowed) = &policy.grant_types else {
            return Ok(());
        };
        if value.eq_ignore_ascii_case("true") && !allowed.iter().any(|a| a == grant) {
            return Err(violation(
                field,
                format!(
                    "{value:?} switches on the grant type {grant:?}, which is not allowed by {owner} policy grantTypes {}; remove it, or ask the provider's admin",
                    show_list(allowed)
                ),
            ));
        }
        return Ok(());
    }
    if DISPLAY_ATTRIBUTES.contains(&key)
        || policy
            .keycloak_attributes
            .as_ref()
            .is_some_and(|l| l.iter().any(|a| a == key))
    {
        return Ok(());
    }
    let rule = match &policy.keycloak_attributes {
        Some(l) => format!("keycloakAttributes {}", show_list(l)),
        None => "(keycloakAttributes is not set)".into(),
    };
    Err(violation(
        field,
        format!(
            "clientops cannot tell what this attribute lets the client do, and {owner} policy {rule} does not list it; remove it, or ask the provider's admin to add it to keycloakAttributes"
        ),
    ))
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

    #[test]
    fn entra_audiences_and_api_permissions_need_their_rules() {
        let graph = "00000003-0000-0000-c000-000000000000";
        let user_read = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";
        let entra = |block: Value| json!({"grantTypes": ["authorization_code"], "entra": block});
        let any = json!({"grantTypes": ["authorization_code"]});
        // The tenant's own accounts and no permissions: always allowed.
        assert_eq!(
            verdict(
                &any,
                entra(json!({"signInAudience": "AzureADMyOrg"})),
                ProviderType::Entra
            ),
            None
        );
        let (field, msg) = verdict(
            &any,
            entra(json!({"signInAudience": "AzureADandPersonalMicrosoftAccount"})),
            ProviderType::Entra,
        )
        .unwrap();
        assert_eq!(field, "spec.entra.signInAudience");
        assert_eq!(
            msg,
            "spec.entra.signInAudience: \"AzureADandPersonalMicrosoftAccount\" is not allowed by ClusterOAuthProvider p policy (signInAudiences is not set, so only AzureADMyOrg is allowed); use AzureADMyOrg or an audience the policy allows, or ask the provider's admin"
        );
        let multi = json!({"signInAudiences": ["AzureADMultipleOrgs"]});
        assert_eq!(
            verdict(
                &multi,
                entra(json!({"signInAudience": "AzureADMultipleOrgs"})),
                ProviderType::Entra
            ),
            None
        );
        let asks = entra(json!({"requiredResourceAccess": [{"resourceAppId": graph,
            "resourceAccess": [{"id": user_read.to_uppercase(), "type": "Scope"},
                {"id": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9", "type": "Role"}]}]}));
        let (field, msg) = verdict(&any, asks.clone(), ProviderType::Entra).unwrap();
        assert_eq!(
            field,
            "spec.entra.requiredResourceAccess[0].resourceAccess[0]"
        );
        assert!(
            msg.contains("(apiPermissions is not set, so no API permission is allowed)"),
            "{msg}"
        );
        let some = json!({"apiPermissions": [format!("{graph}/{user_read}")]});
        let (field, msg) = verdict(&some, asks, ProviderType::Entra).unwrap();
        assert_eq!(
            field,
            "spec.entra.requiredResourceAccess[0].resourceAccess[1]"
        );
        assert_eq!(
            msg,
            format!(
                "spec.entra.requiredResourceAccess[0].resourceAccess[1]: permission \"{graph}/1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9\" is not allowed by ClusterOAuthProvider p policy apiPermissions [{graph}/{user_read}]; remove it, or ask the provider's admin"
            )
        );
    }

    #[test]
    fn the_issue_24_csp_roles_are_scopes_and_all_roles_is_every_scope() {
        let p = json!({"grantTypes": ["client_credentials"], "scopes": ["org_member"]});
        let base = json!({"grantTypes": ["client_credentials"], "redirectUris": []});
        let with = |csp: Value| {
            let mut s = base.clone();
            s["vmwareCsp"] = csp;
            verdict(&p, s, ProviderType::VmwareCsp)
        };
        assert_eq!(with(json!({"organizationRoles": ["org_member"]})), None);
        let (field, msg) = with(json!({"organizationRoles": ["org_member", "org_owner"]})).unwrap();
        assert_eq!(field, "spec.vmwareCsp.organizationRoles[1]");
        assert_eq!(
            msg,
            "spec.vmwareCsp.organizationRoles[1]: organization role \"org_owner\" is not allowed by ClusterOAuthProvider p policy scopes [org_member]; remove it, or ask the provider's admin"
        );
        let (field, msg) = with(json!({"allOrganizationRoles": true})).unwrap();
        assert_eq!(field, "spec.vmwareCsp.allOrganizationRoles");
        assert_eq!(
            msg,
            "spec.vmwareCsp.allOrganizationRoles: true (every role of the organization) is not allowed by ClusterOAuthProvider p policy scopes [org_member] (allowAllOrganizationRoles is not true); list the roles the app needs in organizationRoles instead, or ask the provider's admin"
        );
        assert_eq!(with(json!({"allOrganizationRoles": false})), None);
        // An explicit rule allows it; without a scopes rule every role is allowed
        // unless the policy says false.
        let allow = json!({"scopes": ["org_member"], "allowAllOrganizationRoles": true});
        let all = json!({"vmwareCsp": {"allOrganizationRoles": true}});
        assert_eq!(verdict(&allow, all.clone(), ProviderType::VmwareCsp), None);
        assert_eq!(
            verdict(&json!({}), all.clone(), ProviderType::VmwareCsp),
            None
        );
        let (_, msg) = verdict(
            &json!({"allowAllOrganizationRoles": false}),
            all,
            ProviderType::VmwareCsp,
        )
        .unwrap();
        assert!(
            msg.contains("policy allowAllOrganizationRoles: false;"),
            "{msg}"
        );
    }

    #[test]
    fn wildcard_cors_origins_need_the_rule() {
        let s = json!({"allowedCorsOrigins": ["https://app.example.com", "https://*.example.com"]});
        let (field, msg) = verdict(&json!({}), s.clone(), ProviderType::Hydra).unwrap();
        assert_eq!(field, "spec.allowedCorsOrigins[1]");
        assert!(
            msg.contains("\"https://*.example.com\" is a wildcard origin"),
            "{msg}"
        );
        assert!(
            msg.contains("(allowWildcardCorsOrigins is not true)"),
            "{msg}"
        );
        let p = json!({"allowWildcardCorsOrigins": true});
        assert_eq!(verdict(&p, s, ProviderType::Hydra), None);
        let exact = json!({"allowedCorsOrigins": ["https://app.example.com"]});
        assert_eq!(verdict(&json!({}), exact, ProviderType::Hydra), None);
    }

    #[test]
    fn display_uris_are_bounded_by_their_own_hosts_or_the_redirect_hosts() {
        let s = json!({"clientUri": "https://app.apps.example.com", "logoUri": "https://cdn.example.net/l.png"});
        let p = json!({"redirectUriHosts": ["*.apps.example.com"]});
        let (field, msg) = verdict(&p, s.clone(), ProviderType::Cloudflare).unwrap();
        assert_eq!(field, "spec.logoUri");
        assert_eq!(
            msg,
            "spec.logoUri: host \"cdn.example.net\" is not allowed by ClusterOAuthProvider p policy redirectUriHosts [*.apps.example.com] (displayUriHosts is not set); use a host the policy allows, or ask the provider's admin"
        );
        let p = json!({"redirectUriHosts": ["*.apps.example.com"], "displayUriHosts": ["cdn.example.net"]});
        let (field, msg) = verdict(&p, s.clone(), ProviderType::Cloudflare).unwrap();
        assert_eq!(
            field, "spec.clientUri",
            "displayUriHosts replaces redirectUriHosts"
        );
        assert!(
            msg.contains("policy displayUriHosts [cdn.example.net];"),
            "{msg}"
        );
        assert_eq!(verdict(&json!({}), s, ProviderType::Cloudflare), None);
        for f in ["policyUri", "tosUri"] {
            let (field, _) = verdict(
                &json!({"redirectUriHosts": []}),
                json!({"redirectUris": [], f: "https://evil.example.net/x"}),
                ProviderType::Cloudflare,
            )
            .unwrap();
            assert_eq!(field, format!("spec.{f}"));
        }
    }

    #[test]
    fn public_visibility_needs_the_rule() {
        let s = json!({"cloudflare": {"visibility": "public"}});
        let (field, msg) = verdict(&json!({}), s.clone(), ProviderType::Cloudflare).unwrap();
        assert_eq!(field, "spec.cloudflare.visibility");
        assert!(msg.contains("(allowPublicVisibility is not true)"), "{msg}");
        let p = json!({"allowPublicVisibility": true});
        assert_eq!(verdict(&p, s, ProviderType::Cloudflare), None);
        let private = json!({"cloudflare": {"visibility": "private"}});
        assert_eq!(verdict(&json!({}), private, ProviderType::Cloudflare), None);
    }

    #[test]
    fn hydra_audiences_and_skip_consent_need_rules() {
        let aud = json!({"hydra": {"audience": ["https://api.example.com", "https://admin.example.com"]}});
        let (field, msg) = verdict(&json!({}), aud.clone(), ProviderType::Hydra).unwrap();
        assert_eq!(field, "spec.hydra.audience[0]");
        assert!(
            msg.contains("(audiences is not set, so no audience is allowed)"),
            "{msg}"
        );
        let p = json!({"audiences": ["https://api.example.com"]});
        let (field, msg) = verdict(&p, aud.clone(), ProviderType::Hydra).unwrap();
        assert_eq!(field, "spec.hydra.audience[1]");
        assert!(
            msg.contains("policy audiences [https://api.example.com];"),
            "{msg}"
        );
        let p = json!({"audiences": ["https://api.example.com", "https://admin.example.com"]});
        assert_eq!(verdict(&p, aud, ProviderType::Hydra), None);

        let skip = json!({"hydra": {"skipConsent": true}});
        let (field, msg) = verdict(&json!({}), skip.clone(), ProviderType::Hydra).unwrap();
        assert_eq!(field, "spec.hydra.skipConsent");
        assert!(msg.contains("(allowSkipConsent is not true)"), "{msg}");
        assert_eq!(
            verdict(
                &json!({"allowSkipConsent": true}),
                skip,
                ProviderType::Hydra
            ),
            None
        );
        let ask = json!({"hydra": {"skipConsent": false}});
        assert_eq!(verdict(&json!({}), ask, ProviderType::Hydra), None);
    }

    fn kc(block: Value) -> Value {
        json!({"keycloak": block})
    }

    #[test]
    fn keycloak_full_scope_is_refused_unless_allowed_including_keycloaks_default() {
        let (field, msg) = verdict(&json!({}), kc(json!({})), ProviderType::Keycloak).unwrap();
        assert_eq!(field, "spec.keycloak.fullScopeAllowed");
        assert!(
            msg.contains("not set, so Keycloak puts every realm role"),
            "{msg}"
        );
        let (_, msg) = verdict(
            &json!({}),
            kc(json!({"fullScopeAllowed": true})),
            ProviderType::Keycloak,
        )
        .unwrap();
        assert!(msg.contains("true (every realm role"), "{msg}");
        let least = kc(json!({"fullScopeAllowed": false}));
        assert_eq!(verdict(&json!({}), least, ProviderType::Keycloak), None);
        let allow = json!({"allowFullScope": true});
        assert_eq!(verdict(&allow, kc(json!({})), ProviderType::Keycloak), None);
        // Without a provider type only what is written counts.
        assert_eq!(check(&policy(json!({})), &spec(kc(json!({})))), Ok(()));
    }

    #[test]
    fn keycloak_optional_scopes_are_scopes_including_the_realms_defaults() {
        let p = json!({"scopes": ["openid", "profile", "offline_access"]});
        let mut s = kc(
            json!({"fullScopeAllowed": false, "optionalClientScopes": ["offline_access", "phone"]}),
        );
        s["scopes"] = json!(["openid"]);
        let (field, msg) = verdict(&p, s, ProviderType::Keycloak).unwrap();
        assert_eq!(field, "spec.keycloak.optionalClientScopes[1]");
        assert!(msg.contains("scope \"phone\" is not allowed"), "{msg}");
        let (field, msg) = verdict(
            &p,
            json!({"scopes": ["openid"], "keycloak": {"fullScopeAllowed": false}}),
            ProviderType::Keycloak,
        )
        .unwrap();
        assert_eq!(field, "spec.keycloak.optionalClientScopes");
        assert!(msg.contains("default optional scopes [offline_access, address, phone, microprofile-jwt, organization], and \"address\""), "{msg}");
        let none = json!({"scopes": ["openid"], "keycloak": {"fullScopeAllowed": false, "optionalClientScopes": []}});
        assert_eq!(verdict(&p, none, ProviderType::Keycloak), None);
    }

    #[test]
    fn keycloak_logout_urls_are_bounded_by_the_redirect_hosts() {
        let p = json!({"redirectUriHosts": ["*.apps.example.com"]});
        for f in ["frontChannelLogoutUrl", "backChannelLogoutUrl"] {
            let s = kc(json!({"fullScopeAllowed": false, f: "https://evil.example.net/logout"}));
            let (field, msg) = verdict(&p, s, ProviderType::Keycloak).unwrap();
            assert_eq!(field, format!("spec.keycloak.{f}"));
            assert!(msg.contains("host \"evil.example.net\" is not allowed by ClusterOAuthProvider p policy redirectUriHosts [*.apps.example.com];"), "{msg}");
            let ok =
                kc(json!({"fullScopeAllowed": false, f: "https://app.apps.example.com/logout"}));
            assert_eq!(verdict(&p, ok, ProviderType::Keycloak), None);
        }
    }

    #[test]
    fn keycloak_attributes_are_grant_switches_display_only_or_listed() {
        let attrs = |a: Value| kc(json!({"fullScopeAllowed": false, "attributes": a}));
        let p = json!({"grantTypes": ["authorization_code"]});
        let (field, msg) = verdict(
            &p,
            attrs(json!({"oidc.ciba.grant.enabled": "TRUE"})),
            ProviderType::Keycloak,
        )
        .unwrap();
        assert_eq!(
            field,
            "spec.keycloak.attributes[\"oidc.ciba.grant.enabled\"]"
        );
        assert_eq!(
            msg,
            "spec.keycloak.attributes[\"oidc.ciba.grant.enabled\"]: \"TRUE\" switches on the grant type \"urn:openid:params:grant-type:ciba\", which is not allowed by ClusterOAuthProvider p policy grantTypes [authorization_code]; remove it, or ask the provider's admin"
        );
        let off = attrs(
            json!({"standard.token.exchange.enabled": "false", "display.on.consent.screen": "true"}),
        );
        assert_eq!(verdict(&p, off, ProviderType::Keycloak), None);
        let p2 = json!({"grantTypes": ["authorization_code", "urn:ietf:params:oauth:grant-type:token-exchange"]});
        let on = attrs(json!({"standard.token.exchange.enabled": "true"}));
        assert_eq!(verdict(&p2, on, ProviderType::Keycloak), None);

        // An attribute clientops cannot classify needs keycloakAttributes, whatever
        // its value; the first key in sorted order is named.
        let unknown = attrs(json!({"zz.custom": "x", "jwks.url": "https://evil.example.net/jwks"}));
        let (field, msg) = verdict(&json!({}), unknown.clone(), ProviderType::Keycloak).unwrap();
        assert_eq!(field, "spec.keycloak.attributes[\"jwks.url\"]");
        assert!(
            msg.contains("policy (keycloakAttributes is not set) does not list it"),
            "{msg}"
        );
        let (field, msg) = verdict(
            &json!({"keycloakAttributes": ["jwks.url"]}),
            unknown.clone(),
            ProviderType::Keycloak,
        )
        .unwrap();
        assert_eq!(field, "spec.keycloak.attributes[\"zz.custom\"]");
        assert!(
            msg.contains("policy keycloakAttributes [jwks.url] does not list it"),
            "{msg}"
        );
        let listed = json!({"keycloakAttributes": ["jwks.url", "zz.custom"]});
        assert_eq!(verdict(&listed, unknown, ProviderType::Keycloak), None);
    }

    #[test]
    fn an_empty_policy_refuses_the_widening_fields() {
        // check_rules runs only for a provider with a policy; an empty policy is a
        // policy: the widening fields need their rules.
        let wide = spec(json!({
            "allowedCorsOrigins": ["*"],
            "cloudflare": {"visibility": "public"},
        }));
        assert!(check(&ClientPolicy::default(), &wide).is_err());
    }

    #[test]
    fn the_attribute_tables_are_the_admission_policys() {
        let vap = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy/admission/validatingadmissionpolicy.yaml"),
        )
        .unwrap();
        for (key, grant) in GRANT_ATTRIBUTES {
            assert!(
                vap.contains(&format!("'{key}': '{grant}'")),
                "{key} missing"
            );
        }
        for key in DISPLAY_ATTRIBUTES {
            assert!(vap.contains(&format!("'{key}'")), "{key} missing");
        }
        let defaults = format!("['{}']", REALM_DEFAULT_OPTIONAL_SCOPES.join("', '"));
        assert!(vap.contains(&defaults), "{defaults} missing");
    }
}
