//! Build the Secret clientops writes for an OAuthClient: the credentials, the
//! static extra data, the provider endpoints asked for and the rendered templates.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::Resource;

use super::ClientSecret;
use super::shape::SecretShape;
use super::template::{Values, render_all};
use crate::api::OAuthClient;
use crate::api::annotations::{CLIENT_LABEL, ROTATED_AT};

/// Annotation: the id of the rotation whose secret the Secret holds.
pub const ROTATION_ID: &str = "clientops.dev/rotation-id";
/// Data key of a chosen secret not yet in force at the provider. Not renamable; the
/// leading `clientops.` keeps it apart from the workload's keys.
pub const PENDING_KEY: &str = "clientops.pending-secret";
/// Annotation: which data keys hold the credentials (JSON), so values are found again
/// after `spec.secret.keys` changes.
pub const KEY_MAP: &str = "clientops.dev/keys";

/// The credential values a Secret carries.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub client_id: String,
    pub secret: Option<ClientSecret>,
    pub previous: Option<ClientSecret>,
    /// A secret clientops chose and is about to give the provider
    /// ([`crate::provider::model::SecretIssuance::CallerChosen`]): persisted here
    /// before the call, so no crash can lose it. Stored under [`PENDING_KEY`].
    pub pending: Option<ClientSecret>,
}

/// Stamps carried in annotations.
#[derive(Clone, Debug, Default)]
pub struct Stamps {
    pub rotation_id: Option<String>,
    pub rotated_at: Option<String>,
}

/// The owner reference that marks a Secret as controlled by `obj`.
pub fn owner_reference(obj: &OAuthClient) -> OwnerReference {
    obj.controller_owner_ref(&())
        .expect("an OAuthClient read from the apiserver has a name and uid")
}

/// The whole Secret as it should be.
pub fn render(
    obj: &OAuthClient,
    shape: &SecretShape,
    creds: &Credentials,
    stamps: &Stamps,
) -> Secret {
    let mut labels = shape.labels.clone();
    labels.insert(
        CLIENT_LABEL.into(),
        obj.metadata.name.clone().unwrap_or_default(),
    );
    let mut annotations = shape.annotations.clone();
    let key_map = serde_json::json!({
        "clientId": shape.key_client_id,
        "clientSecret": shape.key_client_secret,
        "clientSecretPrevious": shape.key_previous,
    });
    annotations.insert(KEY_MAP.into(), key_map.to_string());
    if let Some(id) = &stamps.rotation_id {
        annotations.insert(ROTATION_ID.into(), id.clone());
    }
    if let Some(at) = &stamps.rotated_at {
        annotations.insert(ROTATED_AT.into(), at.clone());
    }

    let mut data: BTreeMap<String, ByteString> = shape
        .extra_data
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
        .collect();
    data.insert(
        shape.key_client_id.clone(),
        ByteString(creds.client_id.clone().into_bytes()),
    );
    if let Some(s) = &creds.secret {
        data.insert(
            shape.key_client_secret.clone(),
            ByteString(s.expose().as_bytes().to_vec()),
        );
    }
    if let Some(p) = &creds.pending {
        data.insert(
            PENDING_KEY.into(),
            ByteString(p.expose().as_bytes().to_vec()),
        );
    }
    if let (Some(p), true) = (&creds.previous, shape.publish_previous) {
        data.insert(
            shape.key_previous.clone(),
            ByteString(p.expose().as_bytes().to_vec()),
        );
    }
    // Endpoints and rendered keys come from the same values as the keys above,
    // so every write (a rotation's included) changes them together.
    for (key, url) in shape.endpoint_data() {
        data.entry(key).or_insert(ByteString(url.into_bytes()));
    }
    let values = Values {
        client_id: &creds.client_id,
        secret: creds.secret.as_ref(),
        previous: creds.previous.as_ref().filter(|_| shape.publish_previous),
    };
    for (key, text) in render_all(shape, values) {
        data.entry(key).or_insert(ByteString(text.into_bytes()));
    }

    Secret {
        metadata: ObjectMeta {
            name: Some(shape.name.clone()),
            namespace: obj.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: Some(annotations),
            owner_references: Some(vec![owner_reference(obj)]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(data),
        ..Default::default()
    }
}
