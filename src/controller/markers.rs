//! The values clientops stores to say an operation is under way, written and read
//! here only: `status.pendingCreate.marker` (what identifies the client a create
//! makes) and `status.pendingRotation.marker` (why a rotation was started, so the
//! rotation that finishes it records the same request as handled), and the
//! annotation [`PENDING_CREATE`] that carries the intent of an object's first
//! create in the same write as its finalizer.

use crate::api::OAuthClient;
use crate::api::client::PendingOperation;

/// The intent of an object's first create, written beside the finalizer in one
/// write (as JSON: `{"startedAt": .., "marker": ..}`, a `status.pendingCreate`).
/// It counts only while status has recorded no client and no intent of its own
/// ([`create_intent`]): once a create or adoption finished (`status.secretName`
/// set), it is dead, so it is never removed on the hot path (GitOps tools ignore
/// annotations they did not apply). Deletion removes it with the finalizer.
pub const PENDING_CREATE: &str = "clientops.dev/pending-create";

/// The intent of `obj`'s first create, recorded in [`PENDING_CREATE`], if it
/// still counts.
pub fn create_intent(obj: &OAuthClient) -> Option<PendingOperation> {
    let status = obj.status.as_ref();
    let recorded_elsewhere = status.is_some_and(|s| {
        s.pending_create.is_some() || s.client_id.is_some() || s.secret_name.is_some()
    });
    if recorded_elsewhere {
        return None;
    }
    let value = obj.metadata.annotations.as_ref()?.get(PENDING_CREATE)?;
    serde_json::from_str(value).ok()
}

/// Our copy of `obj` with the intent of its first create in `status.pendingCreate`,
/// where the observer and the planner look for an intent.
pub fn absorb_create_intent(obj: &mut OAuthClient) {
    if let Some(intent) = create_intent(obj) {
        obj.status
            .get_or_insert_with(Default::default)
            .pending_create = Some(intent);
    }
}

/// What `status.pendingCreate.marker` says about a create in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateMarker<'a> {
    /// `id:<id>`: the caller-chosen client id (CSP).
    ChosenId(&'a str),
    /// `sent:<fingerprint>`: the fingerprint of the name and redirect URIs sent
    /// ([`sent_fingerprint`]), so a later spec edit cannot hide the client it made.
    Sent(&'a str),
}

impl<'a> CreateMarker<'a> {
    pub fn parse(m: &'a str) -> Option<Self> {
        if let Some(id) = m.strip_prefix("id:") {
            Some(CreateMarker::ChosenId(id))
        } else {
            m.strip_prefix("sent:").map(CreateMarker::Sent)
        }
    }
}

impl std::fmt::Display for CreateMarker<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CreateMarker::ChosenId(id) => write!(f, "id:{id}"),
            CreateMarker::Sent(fp) => write!(f, "sent:{fp}"),
        }
    }
}

/// The id clientops gives a client at a provider that lets the caller choose one:
/// stable for the object, unique across objects.
pub fn chosen_client_id(uid: &str) -> String {
    format!("clientops-{uid}")
}

/// A fingerprint of what identifies a create at a provider without metadata: the
/// client name and the redirect URIs (as a set).
pub fn sent_fingerprint(name: &str, redirect_uris: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut uris: Vec<&String> = redirect_uris.iter().collect();
    uris.sort();
    uris.dedup();
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    for u in uris {
        h.update([0u8]);
        h.update(u.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// Why a rotation is done; stored in `status.pendingRotation.marker` while it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RotationReason {
    /// `clientops.dev/rotate` has a new value.
    Requested(String),
    /// `spec.rotation.every` elapsed.
    Scheduled,
    /// The Secret lost (or never had) the secret: a fresh one is needed.
    SecretLost,
    /// An import without `secretRef`: clientops needs a secret it knows.
    Import,
    /// The provider refuses the Secret's secret (changed behind clientops' back) and
    /// generates secrets itself: a new one is issued and published.
    CredentialsRejected,
}

impl RotationReason {
    /// How the reason is stored in `status.pendingRotation.marker`.
    pub fn marker(&self) -> String {
        match self {
            RotationReason::Requested(v) => format!("requested:{v}"),
            RotationReason::Scheduled => "scheduled".into(),
            RotationReason::SecretLost => "secret-lost".into(),
            RotationReason::Import => "import".into(),
            RotationReason::CredentialsRejected => "credentials-rejected".into(),
        }
    }

    /// The reason a stored marker names; an unknown or missing one reads as
    /// [`RotationReason::SecretLost`] (a fresh secret is the safe outcome).
    pub fn from_marker(marker: Option<&str>) -> Self {
        match marker {
            Some("scheduled") => RotationReason::Scheduled,
            Some("import") => RotationReason::Import,
            Some("credentials-rejected") => RotationReason::CredentialsRejected,
            Some(m) => match m.strip_prefix("requested:") {
                Some(v) => RotationReason::Requested(v.to_string()),
                None => RotationReason::SecretLost,
            },
            None => RotationReason::SecretLost,
        }
    }

    /// The `clientops.dev/rotate` value this rotation handles, if requested.
    pub fn request(&self) -> Option<&str> {
        match self {
            RotationReason::Requested(v) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_creates_intent_counts_until_status_records_a_client() {
        let spec = serde_json::from_value(serde_json::json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "cf"},
            "redirectUris": ["https://app.example.com/cb"],
        }))
        .unwrap();
        let mut obj = OAuthClient::new("app", spec);
        let intent = PendingOperation {
            started_at: "2026-11-24T12:00:00Z".into(),
            marker: Some("sent:ab".into()),
            recovering: false,
        };
        obj.metadata.annotations = Some(
            [(
                PENDING_CREATE.to_string(),
                serde_json::to_string(&intent).unwrap(),
            )]
            .into(),
        );
        let mut copy = obj.clone();
        absorb_create_intent(&mut copy);
        assert_eq!(copy.status.unwrap().pending_create, Some(intent.clone()));
        // A create finished: the annotation is dead.
        obj.status = Some(crate::api::client::OAuthClientStatus {
            secret_name: Some("app".into()),
            ..Default::default()
        });
        assert_eq!(create_intent(&obj), None);
        // An intent in status (a later create) wins.
        let later = PendingOperation {
            started_at: "2026-11-25T12:00:00Z".into(),
            ..intent
        };
        obj.status = Some(crate::api::client::OAuthClientStatus {
            pending_create: Some(later.clone()),
            ..Default::default()
        });
        let mut copy = obj.clone();
        absorb_create_intent(&mut copy);
        assert_eq!(copy.status.unwrap().pending_create, Some(later));
    }

    #[test]
    fn create_markers_round_trip_and_fingerprints_ignore_order() {
        assert_eq!(
            CreateMarker::parse("id:clientops-1"),
            Some(CreateMarker::ChosenId("clientops-1"))
        );
        assert_eq!(
            CreateMarker::parse("sent:ab"),
            Some(CreateMarker::Sent("ab"))
        );
        assert_eq!(CreateMarker::parse("other"), None);
        for m in ["id:clientops-1", "sent:ab"] {
            assert_eq!(CreateMarker::parse(m).unwrap().to_string(), m);
        }
        let a = sent_fingerprint("App", &["https://b".into(), "https://a".into()]);
        assert_eq!(
            a,
            sent_fingerprint("App", &["https://a".into(), "https://b".into()])
        );
        assert_ne!(
            a,
            sent_fingerprint("App v2", &["https://a".into(), "https://b".into()])
        );
        assert_ne!(a, sent_fingerprint("App", &["https://a".into()]));
    }

    #[test]
    fn rotation_markers_round_trip() {
        for r in [
            RotationReason::Requested("2026-11-23:x".into()),
            RotationReason::Scheduled,
            RotationReason::SecretLost,
            RotationReason::Import,
        ] {
            assert_eq!(RotationReason::from_marker(Some(&r.marker())), r);
        }
        assert_eq!(
            RotationReason::from_marker(Some("garbage")),
            RotationReason::SecretLost
        );
        assert_eq!(
            RotationReason::from_marker(None),
            RotationReason::SecretLost
        );
        assert_eq!(RotationReason::Requested("v".into()).request(), Some("v"));
    }
}
