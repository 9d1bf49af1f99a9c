//! Read a Secret back: is it ours, what credentials does it hold, does it look as
//! desired.

use k8s_openapi::api::core::v1::Secret;

use super::ClientSecret;
use super::mac::secret_mac;
use super::render::{Credentials, KEY_MAP, ROTATION_ID, Stamps, render};
use super::shape::SecretShape;
use crate::api::OAuthClient;
use crate::api::annotations::{CLIENT_LABEL, ROTATED_AT};
/// The Secret as the planner sees it: what it holds (never the values) and
/// whether it is ours and looks as desired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretState {
    pub exists: bool,
    /// Exists but is not controlled by this OAuthClient.
    pub foreign: bool,
    /// Foreign, and left behind by a deleted OAuthClient of the same name whose
    /// `deletionPolicy` was `Orphan` (our label, no controller); `client_id` is
    /// what it holds.
    pub orphaned: bool,
    /// The client id stored in it.
    pub client_id: Option<String>,
    /// A non-empty client secret is stored in it.
    pub has_secret: bool,
    pub has_previous: bool,
    /// A secret clientops chose for a rotation is stored in it, not yet in use
    /// (written before the call that sets it at the provider).
    pub has_pending: bool,
    /// The HMAC of its credential values equals `status.secretMAC`.
    pub mac_matches: bool,
    /// Labels, annotations, key names, extra data and owner reference are as desired.
    pub shape_matches: bool,
    /// `clientops.dev/rotation-id` on the Secret: the rotation whose secret it holds.
    pub rotation_id: Option<String>,
}

/// A Secret as observed, with the values it holds.
#[derive(Clone, Debug, Default)]
pub struct ObservedSecret {
    pub state: SecretState,
    pub credentials: Option<Credentials>,
    pub stamps: Stamps,
}

/// Who controls `secret`.
fn controlled_by(secret: &Secret, obj: &OAuthClient) -> bool {
    let uid = obj.metadata.uid.as_deref();
    secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
}

/// The value a person put under `key` (a credential, a secret to import), with
/// surrounding whitespace removed (a Secret made with `--from-file` often ends in
/// a newline nobody meant); `None` when absent, not UTF-8 or empty.
pub fn entered_value(secret: &Secret, key: &str) -> Option<String> {
    let v = secret.data.as_ref()?.get(key)?;
    let v = std::str::from_utf8(&v.0).ok()?.trim();
    (!v.is_empty()).then(|| v.to_string())
}

fn value(secret: &Secret, key: &str) -> Option<String> {
    let v = secret.data.as_ref()?.get(key)?;
    String::from_utf8(v.0.clone())
        .ok()
        .filter(|s| !s.is_empty())
}

/// Observe `secret` (absent: `None`) for `obj`, whose Secret should look like `shape`.
pub fn observe(
    obj: &OAuthClient,
    shape: &SecretShape,
    secret: Option<&Secret>,
    status_mac: Option<&str>,
) -> ObservedSecret {
    let Some(secret) = secret else {
        return ObservedSecret::default();
    };
    let ours = controlled_by(secret, obj);
    let name = obj.metadata.name.as_deref().unwrap_or_default();
    let labelled = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CLIENT_LABEL))
        .map(String::as_str)
        == Some(name);
    let has_controller = secret
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true));
    // Find the values under the key names the Secret was written with.
    let annotations = secret.metadata.annotations.clone().unwrap_or_default();
    let keys: serde_json::Value = annotations
        .get(KEY_MAP)
        .and_then(|k| serde_json::from_str(k).ok())
        .unwrap_or_default();
    let key = |field: &str, default: &str| {
        keys.get(field)
            .and_then(|v| v.as_str())
            .unwrap_or(default)
            .to_string()
    };
    if !ours {
        // Our label and no controller: an OAuthClient of this name was deleted
        // with `deletionPolicy: Orphan`. Its client id (not a secret) lets the
        // condition say how to take that client over again.
        let orphaned = labelled && !has_controller;
        return ObservedSecret {
            state: SecretState {
                exists: true,
                foreign: true,
                orphaned,
                client_id: orphaned
                    .then(|| value(secret, &key("clientId", &shape.key_client_id)))
                    .flatten(),
                ..Default::default()
            },
            ..Default::default()
        };
    }

    let client_id = value(secret, &key("clientId", &shape.key_client_id));
    let current =
        value(secret, &key("clientSecret", &shape.key_client_secret)).map(ClientSecret::new);
    let previous =
        value(secret, &key("clientSecretPrevious", &shape.key_previous)).map(ClientSecret::new);
    let pending = value(secret, super::render::PENDING_KEY).map(ClientSecret::new);

    let uid = obj.metadata.uid.clone().unwrap_or_default();
    let mac = client_id
        .as_deref()
        .map(|id| secret_mac(&uid, id, current.as_ref(), previous.as_ref()));
    // A Secret written without the previous key (publishPrevious: false) is MACed the
    // same way: the executor computes the MAC over what it wrote.
    let mac_matches = mac.is_some() && mac.as_deref() == status_mac;

    let stamps = Stamps {
        rotation_id: annotations.get(ROTATION_ID).cloned(),
        rotated_at: annotations.get(ROTATED_AT).cloned(),
    };
    let creds = client_id.clone().map(|client_id| Credentials {
        client_id,
        secret: current.clone(),
        previous: previous.clone(),
        pending: pending.clone(),
    });

    // Shape: render what we would write from these values (extra data, endpoints
    // and templates included) and compare: a derived key edited by hand is a
    // mismatch that rewrites the Secret with these same credentials.
    let shape_matches = match &creds {
        Some(c) => {
            let want = render(obj, shape, c, &stamps);
            same_shape(&want, secret)
        }
        None => false,
    };

    ObservedSecret {
        state: SecretState {
            exists: true,
            foreign: false,
            orphaned: false,
            client_id,
            has_secret: current.is_some(),
            has_previous: previous.is_some(),
            has_pending: creds.as_ref().is_some_and(|c| c.pending.is_some()),
            mac_matches,
            shape_matches,
            rotation_id: stamps.rotation_id.clone(),
        },
        credentials: creds,
        stamps,
    }
}

/// Labels and annotations we set are present with our values (others may add more),
/// the data keys are exactly ours, and we are the controller.
fn same_shape(want: &Secret, have: &Secret) -> bool {
    let subset = |w: &Option<std::collections::BTreeMap<String, String>>,
                  h: &Option<std::collections::BTreeMap<String, String>>| {
        let h = h.clone().unwrap_or_default();
        w.iter().flatten().all(|(k, v)| h.get(k) == Some(v))
    };
    let keys = |s: &Secret| {
        s.data
            .as_ref()
            .map(|d| d.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let extra_equal = want.data.as_ref().is_some_and(|w| {
        let h = have.data.clone().unwrap_or_default();
        w.iter().all(|(k, v)| h.get(k).is_some_and(|hv| hv == v))
    });
    subset(&want.metadata.labels, &have.metadata.labels)
        && subset(&want.metadata.annotations, &have.metadata.annotations)
        && keys(want) == keys(have)
        && extra_equal
}
