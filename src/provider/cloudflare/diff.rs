//! Drift between the desired and the observed Cloudflare client, as the PATCH body
//! that corrects exactly the fields that differ (design rule 2).
//!
//! Comparison rules (`provider-contracts.md` A.3):
//! - A field absent from the desired state is not managed and never patched.
//! - Lists are compared as sets (order and duplicates carry no meaning in OAuth
//!   metadata); an absent observed list equals an empty one.
//! - `scopes` ignore the protocol scopes Cloudflare adds and removes by itself
//!   (`openid`, `offline_access`).
//! - An absent observed string equals an empty one.
//! - `visibility` is patched only towards `public` (promotion is one-way).

use std::collections::BTreeSet;

use super::wire::{CreateOAuthClient, OAuthClient, PROTOCOL_SCOPES, UpdateOAuthClient};

/// The desired state of every field a create sets, as a patch-shaped value for
/// [`diff`].
pub fn desired_from_create(c: &CreateOAuthClient) -> UpdateOAuthClient {
    UpdateOAuthClient {
        client_name: Some(c.client_name.clone()),
        grant_types: Some(c.grant_types.clone()),
        redirect_uris: Some(c.redirect_uris.clone()),
        response_types: Some(c.response_types.clone()),
        scopes: Some(c.scopes.clone()),
        token_endpoint_auth_method: Some(c.token_endpoint_auth_method.clone()),
        allowed_cors_origins: c.allowed_cors_origins.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        optional_scopes: c.optional_scopes.clone(),
        client_uri: c.client_uri.clone(),
        logo_uri: c.logo_uri.clone(),
        policy_uri: c.policy_uri.clone(),
        tos_uri: c.tos_uri.clone(),
        visibility: None,
    }
}

/// The PATCH body that turns `observed` into `desired`: only the managed fields
/// that differ. Empty (`is_empty()`) when there is no drift.
pub fn diff(observed: &OAuthClient, desired: &UpdateOAuthClient) -> UpdateOAuthClient {
    UpdateOAuthClient {
        client_name: string_drift(&observed.client_name, &desired.client_name),
        grant_types: set_drift(&observed.grant_types, &desired.grant_types, &[]),
        redirect_uris: set_drift(&observed.redirect_uris, &desired.redirect_uris, &[]),
        response_types: set_drift(&observed.response_types, &desired.response_types, &[]),
        scopes: set_drift(&observed.scopes, &desired.scopes, &PROTOCOL_SCOPES),
        token_endpoint_auth_method: string_drift(
            &observed.token_endpoint_auth_method,
            &desired.token_endpoint_auth_method,
        ),
        allowed_cors_origins: set_drift(
            &observed.allowed_cors_origins,
            &desired.allowed_cors_origins,
            &[],
        ),
        post_logout_redirect_uris: set_drift(
            &observed.post_logout_redirect_uris,
            &desired.post_logout_redirect_uris,
            &[],
        ),
        optional_scopes: set_drift(&observed.optional_scopes, &desired.optional_scopes, &[]),
        client_uri: string_drift(&observed.client_uri, &desired.client_uri),
        logo_uri: string_drift(&observed.logo_uri, &desired.logo_uri),
        policy_uri: string_drift(&observed.policy_uri, &desired.policy_uri),
        tos_uri: string_drift(&observed.tos_uri, &desired.tos_uri),
        visibility: match desired.visibility.as_deref() {
            Some("public") if observed.visibility != "public" => Some("public".to_string()),
            _ => None,
        },
    }
}

fn string_drift(observed: &Option<String>, desired: &Option<String>) -> Option<String> {
    let desired = desired.as_ref()?;
    (observed.as_deref().unwrap_or("") != desired.as_str()).then(|| desired.clone())
}

fn set_drift(
    observed: &Option<Vec<String>>,
    desired: &Option<Vec<String>>,
    ignore: &[&str],
) -> Option<Vec<String>> {
    let desired = desired.as_ref()?;
    let as_set = |v: &[String]| -> BTreeSet<String> {
        v.iter()
            .filter(|s| !ignore.contains(&s.as_str()))
            .cloned()
            .collect()
    };
    let observed_set = as_set(observed.as_deref().unwrap_or(&[]));
    (observed_set != as_set(desired)).then(|| desired.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    fn observed() -> OAuthClient {
        OAuthClient {
            client_id: "c".into(),
            visibility: "private".into(),
            client_name: Some("Grafana".into()),
            grant_types: v(&["authorization_code", "refresh_token"]),
            response_types: v(&["code"]),
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            redirect_uris: v(&["https://a/cb", "https://b/cb"]),
            scopes: v(&["account.read", "offline_access", "user-details.read"]),
            ..Default::default()
        }
    }

    fn desired() -> CreateOAuthClient {
        CreateOAuthClient {
            client_name: "Grafana".into(),
            grant_types: vec!["refresh_token".into(), "authorization_code".into()],
            redirect_uris: vec!["https://b/cb".into(), "https://a/cb".into()],
            response_types: vec!["code".into()],
            scopes: vec!["user-details.read".into(), "account.read".into()],
            token_endpoint_auth_method: "client_secret_basic".into(),
            ..Default::default()
        }
    }

    #[test]
    fn no_drift_when_equal_as_sets_and_ignoring_protocol_scopes() {
        let patch = diff(&observed(), &desired_from_create(&desired()));
        assert!(patch.is_empty(), "{patch:?}");
    }

    #[test]
    fn only_changed_fields_are_patched() {
        let mut d = desired();
        d.client_name = "Grafana 2".into();
        d.scopes.push("teams.read".into());
        d.logo_uri = Some("https://logo".into());
        let patch = diff(&observed(), &desired_from_create(&d));
        assert_eq!(
            patch,
            UpdateOAuthClient {
                client_name: Some("Grafana 2".into()),
                scopes: v(&["user-details.read", "account.read", "teams.read"]),
                logo_uri: Some("https://logo".into()),
                ..Default::default()
            }
        );
        let json = serde_json::to_value(&patch).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 3, "{json}");
    }

    #[test]
    fn unmanaged_fields_are_left_alone() {
        let mut o = observed();
        o.logo_uri = Some("https://set-by-hand".into());
        o.allowed_cors_origins = v(&["https://x"]);
        assert!(diff(&o, &desired_from_create(&desired())).is_empty());
    }

    #[test]
    fn absent_observed_values_equal_empty_ones() {
        let mut o = observed();
        o.allowed_cors_origins = None;
        o.client_uri = None;
        let mut d = desired_from_create(&desired());
        d.allowed_cors_origins = Some(vec![]);
        d.client_uri = Some(String::new());
        assert!(diff(&o, &d).is_empty());
    }

    #[test]
    fn visibility_only_moves_to_public() {
        let mut d = desired_from_create(&desired());
        d.visibility = Some("public".into());
        assert_eq!(diff(&observed(), &d).visibility.as_deref(), Some("public"));
        let mut o = observed();
        o.visibility = "public".into();
        assert!(diff(&o, &d).is_empty());
        d.visibility = Some("private".into());
        assert!(diff(&o, &d).is_empty());
    }
}
