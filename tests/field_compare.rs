//! Rows of the field inventory (docs/security.md) that no other test covered: the
//! Keycloak client fields that reach Keycloak's server or change its flows
//! (`pkceMethod`, the front/back-channel logout switch and URLs) and the optional
//! URIs every provider shares (`logoUri`, `policyUri`, `tosUri`). Each is taken
//! from a manifest through the controller's `desired` step and the Keycloak
//! adapter's wire mapping, read back as Keycloak returns it without drift, and an
//! edit at Keycloak (as in its admin console) is found as drift of that field.

use std::collections::BTreeMap;

use clientops::api::OAuthClient;
use clientops::api::provider::ProviderType;
use clientops::controller::desired::desired;
use clientops::provider::keycloak::fields::{KEYCLOAK_BLOCK, diff, to_wire};
use clientops::provider::keycloak::wire::{Attributes, ClientRepresentation};
use clientops::provider::model::{ClientFields, Field};
use clientops::provider::registry::kind;
use serde_json::json;

fn keycloak_client() -> ClientFields {
    let obj: OAuthClient = serde_json::from_value(json!({
        "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
        "metadata": {"name": "app", "namespace": "team", "uid": "u1"},
        "spec": {
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "kc"},
            "redirectUris": ["https://app.example.com/cb"],
            "logoUri": "https://app.example.com/logo.png",
            "policyUri": "https://app.example.com/privacy",
            "tosUri": "https://app.example.com/terms",
            "keycloak": {
                "pkceMethod": "S256",
                "frontChannelLogout": true,
                "frontChannelLogoutUrl": "https://app.example.com/logout",
                "backChannelLogoutUrl": "https://app.example.com/backchannel",
            },
        },
    }))
    .unwrap();
    desired(&obj, kind(ProviderType::Keycloak))
        .expect("a valid Keycloak client")
        .fields
}

/// The representation as Keycloak returns it after a create of `want`.
fn as_created(want: &ClientFields) -> ClientRepresentation {
    let mut rep = to_wire(want);
    rep.id = Some("9b0c".into());
    rep.client_id = Some("clientops-u1".into());
    rep
}

fn with_attribute(rep: &ClientRepresentation, key: &str, value: &str) -> ClientRepresentation {
    let mut rep = rep.clone();
    let mut plain: BTreeMap<String, String> = rep
        .attributes
        .as_ref()
        .map(|a| a.plain.clone())
        .unwrap_or_default();
    plain.insert(key.into(), value.into());
    rep.attributes = Some(Attributes::from_plain(plain));
    rep
}

#[test]
fn keycloak_logout_pkce_and_uri_fields_are_sent_and_their_edits_are_drift() {
    let want = keycloak_client();
    let created = as_created(&want);
    let attr = |k: &str| {
        created
            .attributes
            .as_ref()
            .and_then(|a| a.get(k))
            .map(String::from)
    };
    // Sent as Keycloak names them.
    assert_eq!(attr("pkce.code.challenge.method").as_deref(), Some("S256"));
    assert_eq!(
        attr("frontchannel.logout.url").as_deref(),
        Some("https://app.example.com/logout")
    );
    assert_eq!(
        attr("backchannel.logout.url").as_deref(),
        Some("https://app.example.com/backchannel")
    );
    assert_eq!(created.frontchannel_logout, Some(true));
    for (k, v) in [
        ("logoUri", "https://app.example.com/logo.png"),
        ("policyUri", "https://app.example.com/privacy"),
        ("tosUri", "https://app.example.com/terms"),
    ] {
        assert_eq!(attr(k).as_deref(), Some(v), "{k}");
    }
    // Read back as sent: no drift.
    assert_eq!(diff(&want, &created), Vec::<Field>::new());

    // Each edited at Keycloak is drift of its own field.
    let edits: Vec<(&str, ClientRepresentation, Field)> = vec![
        (
            "pkceMethod",
            with_attribute(&created, "pkce.code.challenge.method", "plain"),
            KEYCLOAK_BLOCK,
        ),
        (
            "frontChannelLogoutUrl",
            with_attribute(
                &created,
                "frontchannel.logout.url",
                "https://evil.example.net/",
            ),
            KEYCLOAK_BLOCK,
        ),
        (
            "backChannelLogoutUrl",
            with_attribute(
                &created,
                "backchannel.logout.url",
                "https://evil.example.net/",
            ),
            KEYCLOAK_BLOCK,
        ),
        (
            "frontChannelLogout",
            ClientRepresentation {
                frontchannel_logout: Some(false),
                ..created.clone()
            },
            KEYCLOAK_BLOCK,
        ),
        (
            "logoUri",
            with_attribute(&created, "logoUri", "https://evil.example.net/x.png"),
            Field::LogoUri,
        ),
        (
            "policyUri",
            with_attribute(&created, "policyUri", "https://evil.example.net/"),
            Field::PolicyUri,
        ),
        (
            "tosUri",
            with_attribute(&created, "tosUri", "https://evil.example.net/"),
            Field::TosUri,
        ),
    ];
    for (field, remote, drift) in edits {
        assert_eq!(diff(&want, &remote), vec![drift], "an edit of {field}");
    }
}
