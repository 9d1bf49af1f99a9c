//! Cloudflare's OAuth client from and to the shared model: pure mapping, drift
//! (protocol scopes are the server's) and request bodies, no I/O (that is the
//! adapter's).

use chrono::{DateTime, Utc};

use super::kind::{CloudflareFields, OPTIONAL_SCOPES, VISIBILITY};
use super::wire::{self, CreateOAuthClient, PROTOCOL_SCOPES, UpdateOAuthClient};
use crate::provider::model::{ClientFields, Field, OwnFields, RemoteClient};

/// The remote client in the neutral model. Protocol scopes the server adds by itself
/// are dropped, so they are never seen as drift.
pub fn to_remote(c: &wire::OAuthClient) -> RemoteClient {
    let set = |v: &Option<Vec<String>>| v.iter().flatten().cloned().collect();
    RemoteClient {
        id: c.client_id.clone(),
        fields: ClientFields {
            name: c.client_name.clone().unwrap_or_default(),
            redirect_uris: c.redirect_uris.clone().unwrap_or_default(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone().unwrap_or_default(),
            grant_types: set(&c.grant_types),
            response_types: set(&c.response_types),
            scopes: c
                .scopes
                .iter()
                .flatten()
                .filter(|s| !PROTOCOL_SCOPES.contains(&s.as_str()))
                .cloned()
                .collect(),
            token_endpoint_auth_method: c.token_endpoint_auth_method.clone().unwrap_or_default(),
            allowed_cors_origins: set(&c.allowed_cors_origins),
            client_uri: c.client_uri.clone(),
            logo_uri: c.logo_uri.clone(),
            policy_uri: c.policy_uri.clone(),
            tos_uri: c.tos_uri.clone(),
            own: OwnFields::new(CloudflareFields {
                optional_scopes: set(&c.optional_scopes),
                public: Some(c.visibility == "public"),
            }),
        },
        has_rotated_secret: c.has_rotated_secret.unwrap_or(false),
        created_at: c
            .created_at
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc)),
        marker: None,
        secret_changed_at: None,
        secret_expires_at: None,
    }
}

fn vec_of(s: &std::collections::BTreeSet<String>) -> Vec<String> {
    s.iter().cloned().collect()
}

fn non_empty(s: &std::collections::BTreeSet<String>) -> Option<Vec<String>> {
    (!s.is_empty()).then(|| vec_of(s))
}

/// Cloudflare's own fields of `f`.
fn own(f: &ClientFields) -> Option<&CloudflareFields> {
    f.own.get::<CloudflareFields>()
}

/// The create body for `f`. Visibility cannot be set at create (a new client is
/// always private); promotion is a PATCH the planner issues as drift.
pub fn create_body(f: &ClientFields) -> CreateOAuthClient {
    CreateOAuthClient {
        client_name: f.name.clone(),
        grant_types: vec_of(&f.grant_types),
        redirect_uris: f.redirect_uris.clone(),
        response_types: vec_of(&f.response_types),
        scopes: vec_of(&f.scopes),
        token_endpoint_auth_method: f.token_endpoint_auth_method.clone(),
        allowed_cors_origins: non_empty(&f.allowed_cors_origins),
        post_logout_redirect_uris: (!f.post_logout_redirect_uris.is_empty())
            .then(|| f.post_logout_redirect_uris.clone()),
        optional_scopes: own(f).and_then(|o| non_empty(&o.optional_scopes)),
        client_uri: f.client_uri.clone(),
        logo_uri: f.logo_uri.clone(),
        policy_uri: f.policy_uri.clone(),
        tos_uri: f.tos_uri.clone(),
    }
}

/// A PATCH body carrying exactly the `changed` fields.
pub fn update_body(f: &ClientFields, changed: &[Field]) -> UpdateOAuthClient {
    let mut b = UpdateOAuthClient::default();
    for field in changed {
        match field {
            Field::Name => b.client_name = Some(f.name.clone()),
            Field::RedirectUris => b.redirect_uris = Some(f.redirect_uris.clone()),
            Field::PostLogoutRedirectUris => {
                b.post_logout_redirect_uris = Some(f.post_logout_redirect_uris.clone())
            }
            Field::GrantTypes => b.grant_types = Some(vec_of(&f.grant_types)),
            Field::ResponseTypes => b.response_types = Some(vec_of(&f.response_types)),
            Field::Scopes => b.scopes = Some(vec_of(&f.scopes)),
            Field::TokenEndpointAuthMethod => {
                b.token_endpoint_auth_method = Some(f.token_endpoint_auth_method.clone())
            }
            Field::AllowedCorsOrigins => {
                b.allowed_cors_origins = Some(vec_of(&f.allowed_cors_origins))
            }
            Field::ClientUri => b.client_uri = f.client_uri.clone(),
            Field::LogoUri => b.logo_uri = f.logo_uri.clone(),
            Field::PolicyUri => b.policy_uri = f.policy_uri.clone(),
            Field::TosUri => b.tos_uri = f.tos_uri.clone(),
            f2 if *f2 == OPTIONAL_SCOPES => {
                b.optional_scopes = Some(
                    own(f)
                        .map(|o| vec_of(&o.optional_scopes))
                        .unwrap_or_default(),
                )
            }
            f2 if *f2 == VISIBILITY => b.visibility = Some("public".into()),
            // Another provider's field: never planned for a Cloudflare client.
            Field::Own(_) => {}
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spec that sets every field Cloudflare holds.
    fn every_field() -> ClientFields {
        ClientFields {
            name: "Grafana".into(),
            redirect_uris: vec!["https://grafana.example.com/cb".into()],
            post_logout_redirect_uris: vec!["https://grafana.example.com/bye".into()],
            grant_types: ["authorization_code".to_string(), "refresh_token".into()].into(),
            response_types: ["code".to_string()].into(),
            scopes: ["account.read".to_string(), "user-details.read".into()].into(),
            token_endpoint_auth_method: "client_secret_basic".into(),
            allowed_cors_origins: ["https://grafana.example.com".to_string()].into(),
            client_uri: Some("https://grafana.example.com".into()),
            logo_uri: Some("https://grafana.example.com/logo.png".into()),
            policy_uri: Some("https://grafana.example.com/privacy".into()),
            tos_uri: Some("https://grafana.example.com/terms".into()),
            own: OwnFields::new(CloudflareFields {
                optional_scopes: ["account.read".to_string()].into(),
                public: Some(true),
            }),
        }
    }

    /// An admin's edit of each field the spec declares (JSON members of the
    /// client as Cloudflare shows it), and the field that must then differ.
    #[rustfmt::skip]
    fn admin_edits() -> Vec<(&'static str, serde_json::Value, Field)> {
        use serde_json::json;
        vec![
            ("client_name", json!("by hand"), Field::Name),
            ("redirect_uris", json!(["https://evil.example.com/cb"]), Field::RedirectUris),
            ("post_logout_redirect_uris", json!([]), Field::PostLogoutRedirectUris),
            ("grant_types", json!(["authorization_code"]), Field::GrantTypes),
            ("response_types", json!(["code", "token"]), Field::ResponseTypes),
            ("scopes", json!(["account.read", "openid"]), Field::Scopes),
            ("token_endpoint_auth_method", json!("client_secret_post"), Field::TokenEndpointAuthMethod),
            ("allowed_cors_origins", json!(["*"]), Field::AllowedCorsOrigins),
            ("client_uri", json!("https://evil.example.com"), Field::ClientUri),
            ("logo_uri", json!("https://evil.example.com/l.png"), Field::LogoUri),
            ("policy_uri", serde_json::Value::Null, Field::PolicyUri),
            ("tos_uri", json!("https://evil.example.com/t"), Field::TosUri),
            ("optional_scopes", json!([]), OPTIONAL_SCOPES),
            ("visibility", json!("private"), VISIBILITY),
        ]
    }

    #[test]
    fn every_declared_field_edited_by_an_admin_is_drift_and_one_patch_reverts_it() {
        let want = every_field();
        let mut created = serde_json::to_value(wire::OAuthClient {
            client_id: "c1".into(),
            visibility: "public".into(),
            ..Default::default()
        })
        .unwrap();
        let body = create_body(&want);
        for (k, v) in serde_json::to_value(&body).unwrap().as_object().unwrap() {
            created[k] = v.clone();
        }
        let read =
            |v: &serde_json::Value| to_remote(&serde_json::from_value(v.clone()).unwrap()).fields;
        assert!(
            want.diff(&read(&created)).is_empty(),
            "{:?}",
            want.diff(&read(&created))
        );
        // Cloudflare's PATCH: the members the body carries replace the client's.
        let patched = |c: &serde_json::Value, b: &UpdateOAuthClient| {
            let mut out = c.clone();
            for (k, v) in serde_json::to_value(b).unwrap().as_object().unwrap() {
                out[k] = v.clone();
            }
            out
        };
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
            let reverted = patched(&edited, &update_body(&want, &[field]));
            assert!(
                want.diff(&read(&reverted)).is_empty(),
                "{member} is not reverted"
            );
            all[member] = value;
            expected.push(field);
        }
        let mut changed = want.diff(&read(&all));
        changed.sort();
        expected.sort();
        assert_eq!(changed, expected);
        let reverted = patched(&all, &update_body(&want, &changed));
        assert!(want.diff(&read(&reverted)).is_empty());
    }

    #[test]
    fn protocol_scopes_are_not_drift_and_patches_are_minimal() {
        let w = wire::OAuthClient {
            client_id: "c1".into(),
            visibility: "private".into(),
            client_name: Some("G".into()),
            scopes: Some(vec![
                "account.read".into(),
                "offline_access".into(),
                "openid".into(),
            ]),
            ..Default::default()
        };
        let r = to_remote(&w);
        assert_eq!(r.fields.scopes, ["account.read".to_string()].into());
        assert_eq!(
            r.fields.own.get::<CloudflareFields>().unwrap().public,
            Some(false)
        );
        let mut want = r.fields.clone();
        want.name = "Grafana".into();
        let body = update_body(&want, &want.diff(&r.fields));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"client_name": "Grafana"})
        );
    }
}
