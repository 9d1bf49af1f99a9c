//! CSP's OAuth app from and to the shared model: pure mapping, defaults,
//! refusals, drift and request bodies, no I/O (that is the adapter's).
//!
//! **Field mapping.** `clientName` → `displayName`; `redirectUris`,
//! `postLogoutRedirectUris`, `grantTypes` as they are; `tokenEndpointAuthMethod:
//! none` → `publicClient: true`; `spec.vmwareCsp`: `description` (default: the
//! client name), `accessTokenTtl`/`refreshTokenTtl` (durations → seconds),
//! `forcePkce`, `ownerOnlySecretRotation`, `generalScopes` →
//! `allowedScopes.generalScopes`, `organizationRoles` →
//! `allowedScopes.organizationScopes.roles`, `allOrganizationRoles` →
//! `organizationScopes.allRoles`. Fields CSP does not have (`spec.scopes`,
//! `responseTypes` other than `code`, `allowedCorsOrigins`, the `clientUri`
//! family, `client_secret_post`, the Cloudflare and Hydra blocks) are refused
//! with `Invalid` naming the spec field, before any request: never dropped.
//!
//! **Drift.** [`to_remote`] reports `spec.vmwareCsp` with every field CSP returns
//! (TTLs as `"<n>s"`); [`csp_differs`] compares only the fields the spec sets,
//! durations by their value and lists as sets. So an app whose description was
//! written by hand is not drift while the spec leaves `description` unset, and
//! `30m` never differs from CSP's `1800`.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::kind::CSP_BLOCK;
use super::wire::{
    AllowedScopes, CreateOAuthApp, GRANT_TYPES, OAuthApp, OrganizationScopes, RoleRef,
    SERVICE_ORG_GRANT_TYPES, UpdateOAuthApp,
};
use crate::api::csp::CspClientFields;
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::model::{ClientFields, Field, OwnFields, RemoteClient};
use crate::secret::ClientSecret;

/// The code of the messages clientops itself produces for unsupported fields.
pub const UNSUPPORTED_CODE: &str = "clientops.unsupported_field";

fn ttl_text(secs: Option<i64>) -> Option<String> {
    secs.map(|s| format!("{s}s"))
}

fn sorted(v: &Option<Vec<String>>) -> Vec<String> {
    let mut v: Vec<String> = v.iter().flatten().cloned().collect();
    v.sort();
    v.dedup();
    v
}

/// An epoch timestamp of unknown unit: milliseconds when it is too large to be
/// seconds (after the year 5138), else seconds.
pub fn epoch_to_time(t: i64) -> Option<DateTime<Utc>> {
    if t.abs() >= 100_000_000_000 {
        DateTime::from_timestamp_millis(t)
    } else {
        DateTime::from_timestamp(t, 0)
    }
}

/// The app in the neutral model (see the module documentation for the mapping).
pub fn to_remote(app: &OAuthApp) -> RemoteClient {
    let scopes = app.allowed_scopes.clone().unwrap_or_default();
    let org = scopes.organization_scopes.clone().unwrap_or_default();
    let public = app.public_client.unwrap_or(false);
    RemoteClient {
        id: app.id.clone(),
        fields: ClientFields {
            name: app.display_name.clone().unwrap_or_default(),
            redirect_uris: app.redirect_uris.clone().unwrap_or_default(),
            post_logout_redirect_uris: app.post_logout_redirect_uris.clone().unwrap_or_default(),
            grant_types: app.grant_types.iter().flatten().cloned().collect(),
            // CSP apps use the authorization code flow only; there is no field.
            response_types: BTreeSet::from(["code".to_string()]),
            scopes: BTreeSet::new(),
            token_endpoint_auth_method: if public {
                "none".into()
            } else {
                "client_secret_basic".into()
            },
            allowed_cors_origins: BTreeSet::new(),
            client_uri: None,
            logo_uri: None,
            policy_uri: None,
            tos_uri: None,
            own: OwnFields::new(CspClientFields {
                description: app.description.clone(),
                access_token_ttl: ttl_text(app.access_token_ttl),
                refresh_token_ttl: ttl_text(app.refresh_token_ttl),
                force_pkce: Some(app.force_pkce.unwrap_or(false)),
                general_scopes: Some(sorted(&scopes.general_scopes)),
                organization_roles: Some(org.role_names()),
                all_organization_roles: Some(org.all_roles.unwrap_or(false)),
                owner_only_secret_rotation: Some(app.owner_only_secret_rotation.unwrap_or(false)),
            }),
        },
        has_rotated_secret: false,
        created_at: app.created_at.and_then(epoch_to_time),
        // CSP stores no metadata; apps created by clientops are found by their
        // caller-chosen id instead.
        marker: None,
        secret_changed_at: None,
        secret_expires_at: None,
    }
}

fn duration_secs(s: &str) -> Option<u64> {
    crate::api::common::parse_duration(s).map(|d| d.as_secs())
}

/// Whether the remote `spec.vmwareCsp` (`have`) differs from the desired one
/// (`want`) in a field the spec sets. Durations compare by value, lists as sets.
pub fn csp_differs(want: Option<&CspClientFields>, have: Option<&CspClientFields>) -> bool {
    let Some(want) = want else {
        return false;
    };
    let empty = CspClientFields::default();
    let have = have.unwrap_or(&empty);
    let set = |v: &Option<Vec<String>>| v.iter().flatten().cloned().collect::<BTreeSet<_>>();
    let ttl = |w: &Option<String>, h: &Option<String>| match w {
        None => false,
        Some(w) => duration_secs(w) != h.as_deref().and_then(duration_secs),
    };
    let flag = |w: Option<bool>, h: Option<bool>| w.is_some_and(|w| w != h.unwrap_or(false));
    let list = |w: &Option<Vec<String>>, h: &Option<Vec<String>>| w.is_some() && set(w) != set(h);
    (want.description.is_some() && want.description != have.description)
        || ttl(&want.access_token_ttl, &have.access_token_ttl)
        || ttl(&want.refresh_token_ttl, &have.refresh_token_ttl)
        || flag(want.force_pkce, have.force_pkce)
        || list(&want.general_scopes, &have.general_scopes)
        || list(&want.organization_roles, &have.organization_roles)
        || flag(want.all_organization_roles, have.all_organization_roles)
        || flag(
            want.owner_only_secret_rotation,
            have.owner_only_secret_rotation,
        )
}

fn field_error(field: &str, message: String) -> ProviderMessage {
    ProviderMessage::new(Some(UNSUPPORTED_CODE.into()), &message, Some(field.into()))
}

/// A TTL of `spec.vmwareCsp` in whole seconds (1 s to 2^31-1 s).
fn ttl_secs(field: &str, value: &Option<String>) -> Result<Option<i64>, ProviderMessage> {
    let Some(v) = value else { return Ok(None) };
    match crate::api::common::parse_duration(v) {
        Some(d) if d.as_secs() >= 1 && d.as_secs() <= i32::MAX as u64 => {
            Ok(Some(d.as_secs() as i64))
        }
        Some(_) => Err(field_error(
            field,
            format!("{v:?} is out of range: CSP takes 1s to {}s", i32::MAX),
        )),
        None => Err(field_error(
            field,
            format!("{v:?} is not a duration; use e.g. 30m or 720h"),
        )),
    }
}

/// Refuse what CSP cannot represent, naming the spec field and the fix: nothing
/// is ever dropped silently. Checked before any request.
pub fn check_supported(f: &ClientFields) -> Result<(), ProviderError> {
    let mut errors = vec![];
    let mut refuse = |field: &str, message: &str| errors.push(field_error(field, message.into()));
    if !(f.response_types.is_empty() || f.response_types == BTreeSet::from(["code".to_string()])) {
        refuse(
            "spec.responseTypes",
            "VMware CSP apps have no response types (they use the authorization code flow); remove responseTypes or set [code]",
        );
    }
    if !f.scopes.is_empty() {
        refuse(
            "spec.scopes",
            "VMware CSP apps have no plain scope list; put OAuth scopes such as openid in spec.vmwareCsp.generalScopes and roles in spec.vmwareCsp.organizationRoles",
        );
    }
    if !f.allowed_cors_origins.is_empty() {
        refuse(
            "spec.allowedCorsOrigins",
            "VMware CSP apps have no CORS origins; remove allowedCorsOrigins",
        );
    }
    for (field, value) in [
        ("spec.clientUri", &f.client_uri),
        ("spec.logoUri", &f.logo_uri),
        ("spec.policyUri", &f.policy_uri),
        ("spec.tosUri", &f.tos_uri),
    ] {
        if value.is_some() {
            refuse(
                field,
                "VMware CSP apps have no such field; remove it (use spec.vmwareCsp.description to describe the app)",
            );
        }
    }
    if !matches!(
        f.token_endpoint_auth_method.as_str(),
        "" | "client_secret_basic" | "none"
    ) {
        refuse(
            "spec.tokenEndpointAuthMethod",
            "VMware CSP apps authenticate with HTTP Basic (client_secret_basic), or are public (none); remove tokenEndpointAuthMethod or use one of those",
        );
    }
    if f.grant_types.is_empty() {
        refuse(
            "spec.grantTypes",
            "VMware CSP needs at least one grant type, e.g. [client_credentials]",
        );
    }
    if let Some(g) = f.grant_types.iter().find(|g| {
        !GRANT_TYPES.contains(&g.as_str()) && !SERVICE_ORG_GRANT_TYPES.contains(&g.as_str())
    }) {
        errors.push(field_error(
            "spec.grantTypes",
            format!(
                "VMware CSP does not know the grant type {g:?}; use authorization_code, refresh_token or client_credentials"
            ),
        ));
    }
    let public = f.token_endpoint_auth_method == "none";
    if public && f.grant_types.contains("client_credentials") {
        errors.push(field_error(
            "spec.tokenEndpointAuthMethod",
            "a public CSP app (none) has no secret, so it cannot use client_credentials; remove one of them".into(),
        ));
    }
    if f.grant_types.contains("authorization_code") && f.redirect_uris.is_empty() {
        errors.push(field_error(
            "spec.redirectUris",
            "a CSP app with the authorization_code grant needs at least one redirect URI".into(),
        ));
    }
    if let Some(csp) = own(f) {
        let access = ttl_secs("spec.vmwareCsp.accessTokenTtl", &csp.access_token_ttl);
        let refresh = ttl_secs("spec.vmwareCsp.refreshTokenTtl", &csp.refresh_token_ttl);
        match (access, refresh) {
            (Ok(Some(a)), Ok(Some(r))) if r <= a => errors.push(field_error(
                "spec.vmwareCsp.refreshTokenTtl",
                "must be longer than accessTokenTtl".into(),
            )),
            (a, r) => {
                errors.extend(a.err());
                errors.extend(r.err());
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ProviderError::Invalid {
            status: 422,
            messages: errors,
        })
    }
}

/// CSP's own fields of `f` (`spec.vmwareCsp`), when the spec sets them.
fn own(f: &ClientFields) -> Option<&CspClientFields> {
    f.own.get::<CspClientFields>()
}

fn description(f: &ClientFields, current: Option<&OAuthApp>) -> String {
    own(f)
        .and_then(|c| c.description.clone())
        .or_else(|| current.and_then(|c| c.description.clone()))
        .unwrap_or_else(|| f.name.clone())
}

fn roles(names: &[String]) -> Vec<RoleRef> {
    names
        .iter()
        .map(|n| RoleRef {
            name: n.clone(),
            resource: None,
        })
        .collect()
}

/// `allowedScopes` for `f`, starting from `base` (the app's current scopes, or
/// none): the fields the spec sets replace theirs, the rest stay.
fn allowed_scopes(f: &ClientFields, base: AllowedScopes) -> AllowedScopes {
    let mut scopes = base;
    let Some(csp) = own(f) else { return scopes };
    if let Some(g) = &csp.general_scopes {
        scopes.general_scopes = Some(sorted(&Some(g.clone())));
    }
    if csp.organization_roles.is_some() || csp.all_organization_roles.is_some() {
        let org = scopes
            .organization_scopes
            .get_or_insert_with(OrganizationScopes::default);
        if let Some(r) = &csp.organization_roles {
            org.roles = Some(roles(&sorted(&Some(r.clone()))));
            org.role_names = None;
        }
        if let Some(all) = csp.all_organization_roles {
            org.all_roles = Some(all);
        }
    }
    scopes
}

/// The create body for `f`, with a caller-chosen id and secret when given.
pub fn create_body(
    f: &ClientFields,
    id: Option<&str>,
    secret: Option<&ClientSecret>,
) -> Result<CreateOAuthApp, ProviderError> {
    check_supported(f)?;
    let csp = own(f).cloned().unwrap_or_default();
    let ttl = |field, v| ttl_secs(field, v).map_err(|m| invalid(vec![m]));
    let public = f.token_endpoint_auth_method == "none";
    let mut scopes = allowed_scopes(f, AllowedScopes::default());
    scopes.general_scopes.get_or_insert_with(Vec::new);
    Ok(CreateOAuthApp {
        id: id.map(String::from),
        secret: if public { None } else { secret.cloned() },
        display_name: f.name.clone(),
        description: description(f, None),
        grant_types: f.grant_types.iter().cloned().collect(),
        allowed_scopes: scopes,
        redirect_uris: (!f.redirect_uris.is_empty()).then(|| f.redirect_uris.clone()),
        post_logout_redirect_uris: (!f.post_logout_redirect_uris.is_empty())
            .then(|| f.post_logout_redirect_uris.clone()),
        access_token_ttl: ttl("spec.vmwareCsp.accessTokenTtl", &csp.access_token_ttl)?,
        refresh_token_ttl: ttl("spec.vmwareCsp.refreshTokenTtl", &csp.refresh_token_ttl)?,
        force_pkce: csp.force_pkce,
        public_client: public.then_some(true),
        allow_open_redirect_uris: None,
        owner_only_secret_rotation: csp.owner_only_secret_rotation,
        secret_rotation_expiration_in_seconds: None,
    })
}

fn invalid(messages: Vec<ProviderMessage>) -> ProviderError {
    ProviderError::Invalid {
        status: 422,
        messages,
    }
}

/// The PATCH body: CSP requires `displayName`, `description` and `grantTypes` in
/// every PATCH (sent with their desired values; the description keeps `current`'s
/// when the spec leaves it unset); of the rest, exactly the `changed` fields.
/// `allowedScopes` is one object at CSP, so the parts the spec does not set are
/// kept from `current`.
pub fn update_body(
    f: &ClientFields,
    changed: &[Field],
    current: &OAuthApp,
) -> Result<UpdateOAuthApp, ProviderError> {
    check_supported(f)?;
    let mut b = UpdateOAuthApp {
        display_name: f.name.clone(),
        description: description(f, Some(current)),
        grant_types: f.grant_types.iter().cloned().collect(),
        ..Default::default()
    };
    for field in changed {
        match field {
            Field::RedirectUris => b.redirect_uris = Some(f.redirect_uris.clone()),
            Field::PostLogoutRedirectUris => {
                b.post_logout_redirect_uris = Some(f.post_logout_redirect_uris.clone())
            }
            Field::TokenEndpointAuthMethod => {
                b.public_client = Some(f.token_endpoint_auth_method == "none")
            }
            Field::Own(_) if *field == CSP_BLOCK => {
                let Some(csp) = own(f) else { continue };
                let ttl = |field, v| ttl_secs(field, v).map_err(|m| invalid(vec![m]));
                b.access_token_ttl = ttl("spec.vmwareCsp.accessTokenTtl", &csp.access_token_ttl)?;
                b.refresh_token_ttl =
                    ttl("spec.vmwareCsp.refreshTokenTtl", &csp.refresh_token_ttl)?;
                b.force_pkce = csp.force_pkce;
                b.owner_only_secret_rotation = csp.owner_only_secret_rotation;
                if csp.general_scopes.is_some()
                    || csp.organization_roles.is_some()
                    || csp.all_organization_roles.is_some()
                {
                    b.allowed_scopes = Some(allowed_scopes(
                        f,
                        current.allowed_scopes.clone().unwrap_or_default(),
                    ));
                }
            }
            // Always sent (Name, GrantTypes), or refused by check_supported.
            _ => {}
        }
    }
    Ok(b)
}

/// The neutral view of an app just created from `f` (what a read would show for
/// the fields clientops manages).
pub(super) fn created_remote(id: &str, f: &ClientFields) -> RemoteClient {
    let mut fields = f.clone();
    fields.response_types = BTreeSet::from(["code".to_string()]);
    if fields.token_endpoint_auth_method.is_empty() {
        fields.token_endpoint_auth_method = "client_secret_basic".into();
    }
    RemoteClient {
        id: id.to_string(),
        fields,
        has_rotated_secret: false,
        created_at: Some(Utc::now()),
        marker: None,
        secret_changed_at: None,
        secret_expires_at: None,
    }
}

/// `secretRotationExpirationInSeconds` for a grace period: whole seconds, at
/// least 1, at most 2^31-1.
pub fn expiry_secs(grace: Duration) -> i64 {
    grace.as_secs().clamp(1, i32::MAX as u64) as i64
}

/// The app CSP would return for a create body (tests of the mapping).
#[cfg(test)]
pub fn app_from(body: &CreateOAuthApp) -> OAuthApp {
    OAuthApp {
        id: body.id.clone().unwrap_or_default(),
        display_name: Some(body.display_name.clone()),
        description: Some(body.description.clone()),
        grant_types: Some(body.grant_types.clone()),
        redirect_uris: Some(body.redirect_uris.clone().unwrap_or_default()),
        post_logout_redirect_uris: Some(body.post_logout_redirect_uris.clone().unwrap_or_default()),
        allowed_scopes: Some(body.allowed_scopes.clone()),
        access_token_ttl: Some(body.access_token_ttl.unwrap_or(600)),
        refresh_token_ttl: Some(body.refresh_token_ttl.unwrap_or(7_776_000)),
        force_pkce: Some(body.force_pkce.unwrap_or(false)),
        public_client: Some(body.public_client.unwrap_or(false)),
        owner_only_secret_rotation: Some(body.owner_only_secret_rotation.unwrap_or(false)),
        created_at: Some(1_700_000_000_000),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> ClientFields {
        ClientFields {
            name: "Billing exporter".into(),
            grant_types: ["client_credentials".to_string()].into(),
            response_types: ["code".to_string()].into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            own: OwnFields::new(csp_fields()),
            ..Default::default()
        }
    }

    fn csp_fields() -> CspClientFields {
        CspClientFields {
            description: Some("Exports billing".into()),
            access_token_ttl: Some("30m".into()),
            refresh_token_ttl: Some("720h".into()),
            organization_roles: Some(vec!["org_member".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn a_created_app_reads_back_without_drift() {
        let f = fields();
        let body = create_body(&f, Some("billing-exporter"), None).unwrap();
        assert_eq!(body.access_token_ttl, Some(1800));
        assert_eq!(body.refresh_token_ttl, Some(720 * 3600));
        let remote = to_remote(&app_from(&body));
        assert_eq!(f.diff(&remote.fields), vec![]);
        assert!(!csp_differs(own(&f), own(&remote.fields)));
        assert!(!remote.has_rotated_secret);
        assert_eq!(
            remote.created_at.unwrap().timestamp(),
            1_700_000_000,
            "milliseconds"
        );
        // Defaults: no csp block at all, a bare spec.
        let mut bare = fields();
        bare.own = OwnFields::default();
        let remote = to_remote(&app_from(&create_body(&bare, None, None).unwrap()));
        assert_eq!(bare.diff(&remote.fields), vec![]);
        assert!(!csp_differs(None, own(&remote.fields)));
    }

    /// A spec that sets every field CSP holds.
    fn every_field() -> ClientFields {
        let mut f = fields();
        f.grant_types = ["authorization_code".to_string(), "refresh_token".into()].into();
        f.redirect_uris = vec!["https://app.example.com/cb".into()];
        f.post_logout_redirect_uris = vec!["https://app.example.com/bye".into()];
        f.own = OwnFields::new(CspClientFields {
            force_pkce: Some(true),
            general_scopes: Some(vec!["openid".into()]),
            all_organization_roles: Some(false),
            owner_only_secret_rotation: Some(true),
            ..csp_fields()
        });
        f
    }

    /// An admin's edit of each field the spec declares (JSON members of the
    /// app as CSP shows it), and the field that must then differ: one row each.
    #[rustfmt::skip]
    fn admin_edits() -> Vec<(&'static str, serde_json::Value, Field)> {
        use serde_json::json;
        vec![
            ("displayName", json!("by hand"), Field::Name),
            ("redirectUris", json!(["https://evil.example.com/cb"]), Field::RedirectUris),
            ("postLogoutRedirectUris", json!([]), Field::PostLogoutRedirectUris),
            ("grantTypes", json!(["authorization_code", "client_credentials"]), Field::GrantTypes),
            ("publicClient", json!(true), Field::TokenEndpointAuthMethod),
            ("description", json!("by hand"), CSP_BLOCK),
            ("accessTokenTTL", json!(60), CSP_BLOCK),
            ("refreshTokenTTL", json!(7200), CSP_BLOCK),
            ("forcePkce", json!(false), CSP_BLOCK),
            ("ownerOnlySecretRotation", json!(false), CSP_BLOCK),
            ("allowedScopes", json!({"generalScopes": ["openid", "email"], "organizationScopes": {"roles": [{"name": "org_member"}], "allRoles": false}}), CSP_BLOCK),
            ("allowedScopes", json!({"generalScopes": ["openid"], "organizationScopes": {"roles": [{"name": "org_owner"}], "allRoles": false}}), CSP_BLOCK),
            ("allowedScopes", json!({"generalScopes": ["openid"], "organizationScopes": {"roles": [{"name": "org_member"}], "allRoles": true}}), CSP_BLOCK),
        ]
    }

    /// CSP's PATCH: the members the body carries replace the app's.
    fn patched(app: &serde_json::Value, body: &UpdateOAuthApp) -> OAuthApp {
        let mut out = app.clone();
        for (k, v) in serde_json::to_value(body).unwrap().as_object().unwrap() {
            out[k] = v.clone();
        }
        serde_json::from_value(out).unwrap()
    }

    #[test]
    fn every_declared_field_edited_by_an_admin_is_drift_and_one_patch_reverts_it() {
        let want = every_field();
        let created = app_from(&create_body(&want, Some("billing"), None).unwrap());
        assert!(want.diff(&to_remote(&created).fields).is_empty());
        let created = serde_json::to_value(&created).unwrap();
        let read =
            |v: &serde_json::Value| to_remote(&serde_json::from_value(v.clone()).unwrap()).fields;
        let mut all = created.clone();
        let mut expected = vec![];
        for (member, value, field) in admin_edits() {
            let mut edited = created.clone();
            edited[member] = value.clone();
            assert_eq!(
                want.diff(&read(&edited)),
                [field],
                "an admin's edit of {member}: {value}"
            );
            let current: OAuthApp = serde_json::from_value(edited.clone()).unwrap();
            let body = update_body(&want, &[field], &current).unwrap();
            let reverted = patched(&edited, &body);
            assert!(
                want.diff(&to_remote(&reverted).fields).is_empty(),
                "{member}: {body:?} does not revert it"
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
        let current: OAuthApp = serde_json::from_value(all.clone()).unwrap();
        let reverted = patched(&all, &update_body(&want, &changed, &current).unwrap());
        assert!(want.diff(&to_remote(&reverted).fields).is_empty());
    }

    #[test]
    fn csp_fields_compare_by_value_and_only_when_managed() {
        let have = CspClientFields {
            description: Some("by hand".into()),
            access_token_ttl: Some("1800s".into()),
            refresh_token_ttl: Some("7776000s".into()),
            force_pkce: Some(false),
            general_scopes: Some(vec!["openid".into(), "email".into()]),
            organization_roles: Some(vec!["org_member".into()]),
            all_organization_roles: Some(false),
            owner_only_secret_rotation: Some(false),
        };
        let want = |f: fn(&mut CspClientFields)| {
            let mut w = CspClientFields::default();
            f(&mut w);
            csp_differs(Some(&w), Some(&have))
        };
        assert!(!want(|_| {}));
        assert!(!want(|w| w.access_token_ttl = Some("30m".into())));
        assert!(want(|w| w.access_token_ttl = Some("31m".into())));
        assert!(!want(
            |w| w.general_scopes = Some(vec!["email".into(), "openid".into()])
        ));
        assert!(want(|w| w.general_scopes = Some(vec!["email".into()])));
        assert!(!want(|w| w.force_pkce = Some(false)));
        assert!(want(|w| w.force_pkce = Some(true)));
        assert!(want(|w| w.description = Some("other".into())));
        assert!(want(|w| w.organization_roles = Some(vec![])));
        assert!(!csp_differs(None, Some(&have)));
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let mut f = fields();
        f.scopes = ["openid".to_string()].into();
        f.allowed_cors_origins = ["https://a".to_string()].into();
        f.logo_uri = Some("https://a/logo.png".into());
        f.token_endpoint_auth_method = "client_secret_post".into();
        f.response_types = ["token".to_string()].into();
        let e = check_supported(&f).unwrap_err();
        let pointers: Vec<_> = e
            .messages()
            .iter()
            .map(|m| m.pointer.clone().unwrap())
            .collect();
        for field in [
            "spec.scopes",
            "spec.allowedCorsOrigins",
            "spec.logoUri",
            "spec.tokenEndpointAuthMethod",
            "spec.responseTypes",
        ] {
            assert!(pointers.iter().any(|p| p == field), "{field}: {pointers:?}");
        }
        assert!(matches!(e, ProviderError::Invalid { .. }));
        assert!(
            e.to_string().contains("spec.vmwareCsp.generalScopes"),
            "{e}"
        );

        let mut f = fields();
        f.grant_types = ["authorization_code".to_string()].into();
        let e = check_supported(&f).unwrap_err();
        assert_eq!(
            e.messages()[0].pointer.as_deref(),
            Some("spec.redirectUris")
        );
        let mut f = fields();
        f.own = OwnFields::new(CspClientFields {
            refresh_token_ttl: Some("10m".into()),
            ..csp_fields()
        });
        let e = check_supported(&f).unwrap_err();
        assert_eq!(
            e.messages()[0].pointer.as_deref(),
            Some("spec.vmwareCsp.refreshTokenTtl")
        );
        let mut f = fields();
        f.token_endpoint_auth_method = "none".into();
        assert!(check_supported(&f).is_err(), "public + client_credentials");
    }

    #[test]
    fn patches_send_the_required_three_and_the_changed_fields() {
        let f = fields();
        let mut current = app_from(&create_body(&f, Some("abcde"), None).unwrap());
        current.allowed_scopes = Some(AllowedScopes {
            general_scopes: Some(vec!["openid".into()]),
            organization_scopes: Some(OrganizationScopes {
                roles: Some(roles(&["org_owner".to_string()])),
                ..Default::default()
            }),
            services_scopes: Some(vec![serde_json::json!({"serviceDefinitionId": "s"})]),
        });
        let b = update_body(&f, &[Field::Name], &current).unwrap();
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            serde_json::json!({
                "displayName": "Billing exporter",
                "description": "Exports billing",
                "grantTypes": ["client_credentials"],
            })
        );
        let b = update_body(&f, &[CSP_BLOCK], &current).unwrap();
        let scopes = b.allowed_scopes.unwrap();
        // Managed roles replace CSP's; unmanaged general and service scopes stay.
        assert_eq!(
            scopes.organization_scopes.unwrap().role_names(),
            ["org_member"]
        );
        assert_eq!(scopes.general_scopes.unwrap(), ["openid"]);
        assert!(scopes.services_scopes.is_some());
        assert_eq!(b.access_token_ttl, Some(1800));
        // An unmanaged description keeps CSP's.
        let mut f2 = f.clone();
        f2.own = OwnFields::new(CspClientFields {
            description: None,
            ..csp_fields()
        });
        current.description = Some("by hand".into());
        assert_eq!(
            update_body(&f2, &[], &current).unwrap().description,
            "by hand"
        );
    }

    #[test]
    fn expiry_is_whole_seconds_within_int32() {
        assert_eq!(expiry_secs(Duration::from_secs(86_400)), 86_400);
        assert_eq!(expiry_secs(Duration::ZERO), 1);
        assert_eq!(expiry_secs(Duration::from_secs(u64::MAX)), i32::MAX as i64);
    }

    #[test]
    fn epoch_units_are_guessed() {
        assert_eq!(
            epoch_to_time(1_700_000_000).unwrap().timestamp(),
            1_700_000_000
        );
        assert_eq!(
            epoch_to_time(1_700_000_000_123).unwrap().timestamp_millis(),
            1_700_000_000_123
        );
    }
}
