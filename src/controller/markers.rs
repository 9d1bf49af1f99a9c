//! The values clientops stores to say an operation is under way, written and read
//! here only: `status.pendingCreate.marker` (what identifies the client a create
//! makes) and `status.pendingRotation.marker` (why a rotation was started, so the
//! rotation that finishes it records the same request as handled), and the
//! annotation [`PENDING_CREATE`] that carries the intent of an object's first
//! create in the same write as its finalizer.

use serde::{Deserialize, Serialize};

use super::intent_proof::{IntentFor, IntentKeys};
use crate::api::OAuthClient;
use crate::api::client::PendingOperation;

/// The intent of an object's first create, written beside the finalizer in one
/// write (as JSON: `{"startedAt": .., "marker": .., "mac": ..}`, a
/// `status.pendingCreate` and its proof, [`super::intent_proof`]).
/// It counts only while status has recorded no client and no intent of its own
/// ([`create_intent`]), and only with a MAC that proves clientops wrote it for
/// this object: anyone who may edit the object may write an annotation. Once a
/// create or adoption finished (`status.secretName` set), it is dead, so it is
/// never removed on the hot path (GitOps tools ignore annotations they did not
/// apply). Deletion removes it with the finalizer.
pub const PENDING_CREATE: &str = "clientops.dev/pending-create";

/// The annotation's value: the intent and the MAC that proves it.
#[derive(Serialize, Deserialize)]
struct SignedIntent {
    #[serde(flatten)]
    op: PendingOperation,
    #[serde(default)]
    mac: String,
}

/// An intent annotation clientops cannot prove it wrote for this object: forged,
/// copied from another object, edited, or signed with a key it no longer has.
/// It is ignored (the object is treated as new).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentRefused;

impl std::fmt::Display for IntentRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ignored annotation {PENDING_CREATE}: clientops did not write it for this object (no valid proof); only clientops writes it. The object is treated as not yet created"
        )
    }
}

fn target(obj: &OAuthClient) -> IntentFor<'_> {
    IntentFor {
        uid: obj.metadata.uid.as_deref().unwrap_or_default(),
        namespace: obj.metadata.namespace.as_deref().unwrap_or_default(),
        name: obj.metadata.name.as_deref().unwrap_or_default(),
    }
}

/// The value of [`PENDING_CREATE`] that records `op` for `obj`.
pub fn signed_intent(obj: &OAuthClient, keys: &IntentKeys, op: &PendingOperation) -> String {
    let signed = SignedIntent {
        op: op.clone(),
        mac: keys.sign(target(obj), op),
    };
    serde_json::to_string(&signed).unwrap_or_default()
}

/// The intent of `obj`'s first create, recorded in [`PENDING_CREATE`], if it
/// still counts (`Ok(None)`: none that counts; `Err`: one that is not ours).
/// Ours: its MAC verifies for this object's UID, namespace and name, and a chosen
/// id in its marker is the one this UID gives ([`chosen_client_id`]).
pub fn create_intent(
    obj: &OAuthClient,
    keys: &IntentKeys,
) -> Result<Option<PendingOperation>, IntentRefused> {
    let status = obj.status.as_ref();
    let recorded_elsewhere = status.is_some_and(|s| {
        s.pending_create.is_some() || s.client_id.is_some() || s.secret_name.is_some()
    });
    if recorded_elsewhere {
        return Ok(None);
    }
    let Some(value) = super::slim::read_annotation(&obj.metadata, PENDING_CREATE) else {
        return Ok(None);
    };
    let signed: SignedIntent = serde_json::from_str(&value).map_err(|_| IntentRefused)?;
    let t = target(obj);
    if t.uid.is_empty() || !keys.verify(t, &signed.op, &signed.mac) {
        return Err(IntentRefused);
    }
    let chosen = signed.op.marker.as_deref().and_then(CreateMarker::parse);
    if let Some(CreateMarker::ChosenId(id)) = chosen
        && id != chosen_client_id(t.uid)
    {
        return Err(IntentRefused);
    }
    Ok(Some(signed.op))
}

/// Our copy of `obj` with the intent of its first create in `status.pendingCreate`,
/// where the observer and the planner look for an intent. An intent that is not
/// ours is left out (returned, for a Warning).
pub fn absorb_create_intent(obj: &mut OAuthClient, keys: &IntentKeys) -> Option<IntentRefused> {
    match create_intent(obj, keys) {
        Ok(Some(intent)) => {
            obj.status
                .get_or_insert_with(Default::default)
                .pending_create = Some(intent);
            None
        }
        Ok(None) => None,
        Err(refused) => Some(refused),
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
    /// The current secret nears the expiry the provider gives it.
    Expiring,
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
            RotationReason::Expiring => "expiring".into(),
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
            Some("expiring") => RotationReason::Expiring,
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

    fn keys() -> IntentKeys {
        IntentKeys::new(vec![9; 32], None).unwrap()
    }

    fn app(uid: &str) -> OAuthClient {
        let spec = serde_json::from_value(serde_json::json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "cf"},
            "redirectUris": ["https://app.example.com/cb"],
        }))
        .unwrap();
        let mut obj = OAuthClient::new("app", spec);
        obj.metadata.uid = Some(uid.into());
        obj.metadata.namespace = Some("team".into());
        obj
    }

    fn annotate(obj: &mut OAuthClient, value: String) {
        obj.metadata.annotations = Some([(PENDING_CREATE.to_string(), value)].into());
    }

    fn intent(marker: &str) -> PendingOperation {
        PendingOperation {
            started_at: "2026-11-24T12:00:00Z".into(),
            marker: Some(marker.into()),
            recovering: false,
        }
    }

    #[test]
    fn the_first_creates_intent_counts_until_status_records_a_client() {
        let mut obj = app("uid-1");
        let intent = intent("sent:ab");
        let v = signed_intent(&obj, &keys(), &intent);
        annotate(&mut obj, v);
        let mut copy = obj.clone();
        assert_eq!(absorb_create_intent(&mut copy, &keys()), None);
        assert_eq!(copy.status.unwrap().pending_create, Some(intent.clone()));
        // A create finished: the annotation is dead.
        obj.status = Some(crate::api::client::OAuthClientStatus {
            secret_name: Some("app".into()),
            ..Default::default()
        });
        assert_eq!(create_intent(&obj, &keys()), Ok(None));
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
        absorb_create_intent(&mut copy, &keys());
        assert_eq!(copy.status.unwrap().pending_create, Some(later));
    }

    #[test]
    fn an_intent_clientops_did_not_write_for_this_object_is_refused() {
        let victim_id = "clientops-uid-b";
        // Issue 24: forged, with no proof (the old format).
        let mut a = app("uid-a");
        annotate(
            &mut a,
            format!(r#"{{"startedAt":"2020-01-01T00:00:00Z","marker":"id:{victim_id}"}}"#),
        );
        let mut copy = a.clone();
        assert_eq!(
            absorb_create_intent(&mut copy, &keys()),
            Some(IntentRefused)
        );
        assert_eq!(copy.status, None, "treated as new");
        // Garbage, and a made-up MAC.
        for v in [
            "not json",
            r#"{"startedAt":"t","marker":"sent:ab","mac":"v1:00"}"#,
        ] {
            annotate(&mut a, v.into());
            assert_eq!(create_intent(&a, &keys()), Err(IntentRefused), "{v}");
        }
        // Copied from another object (B's own valid intent): B's UID is in the MAC.
        let mut b = app("uid-b");
        b.metadata.namespace = Some("other".into());
        let bs = signed_intent(&b, &keys(), &intent(&format!("id:{victim_id}")));
        annotate(&mut b, bs.clone());
        assert!(matches!(create_intent(&b, &keys()), Ok(Some(_))));
        annotate(&mut a, bs);
        assert_eq!(create_intent(&a, &keys()), Err(IntentRefused));
        // Replayed onto a new object of the same name (a new UID).
        let mut again = app("uid-b2");
        again.metadata.namespace = Some("other".into());
        again.metadata.annotations = b.metadata.annotations.clone();
        assert_eq!(create_intent(&again, &keys()), Err(IntentRefused));
        // Edited after signing: another time or marker.
        let mut edited: serde_json::Value =
            serde_json::from_str(&signed_intent(&a, &keys(), &intent("sent:ab"))).unwrap();
        edited["startedAt"] = "2020-01-01T00:00:00Z".into();
        annotate(&mut a, edited.to_string());
        assert_eq!(create_intent(&a, &keys()), Err(IntentRefused));
        // Signed under another key (the key Secret was replaced).
        let other = IntentKeys::new(vec![1; 32], None).unwrap();
        let v = signed_intent(&a, &other, &intent("sent:ab"));
        annotate(&mut a, v);
        assert_eq!(create_intent(&a, &keys()), Err(IntentRefused));
        // A chosen id other than the one this UID gives, even if signed.
        let v = signed_intent(&a, &keys(), &intent("id:clientops"));
        annotate(&mut a, v);
        assert_eq!(create_intent(&a, &keys()), Err(IntentRefused));
        let v = signed_intent(&a, &keys(), &intent("id:clientops-uid-a"));
        annotate(&mut a, v);
        assert!(matches!(create_intent(&a, &keys()), Ok(Some(_))));
        // The refusal names the annotation.
        assert!(IntentRefused.to_string().contains(PENDING_CREATE));
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
            RotationReason::Expiring,
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
