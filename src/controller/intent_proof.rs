//! The proof that clientops wrote an object's create intent
//! ([`super::markers::PENDING_CREATE`]): an annotation, so anyone who may edit the
//! object may write one. Only an intent carrying a MAC that verifies under the
//! operator's key ([`IntentKeys`], from the Secret [`super::intent_key`] manages)
//! counts. The MAC covers the object's UID, namespace and name, the marker and the
//! start time, so an intent copied from another object (another UID) or edited
//! (another marker or time) does not verify.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::api::client::PendingOperation;

/// What the MAC binds an intent to: the object it was written for.
#[derive(Clone, Copy, Debug)]
pub struct IntentFor<'a> {
    pub uid: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
}

/// The keys an intent's MAC is made and checked with: `current` signs, both
/// verify (so intents in flight survive a rotation). Never printed.
#[derive(Clone)]
pub struct IntentKeys {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

impl std::fmt::Debug for IntentKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntentKeys")
            .field("previous", &self.previous.is_some())
            .finish_non_exhaustive()
    }
}

/// The shortest key accepted (bytes): shorter ones are guessable.
pub const MIN_KEY_LEN: usize = 32;

/// Version prefix of the MAC as stored.
const MAC_PREFIX: &str = "v1:";

impl IntentKeys {
    /// Keys from their bytes; `None` when `current` is shorter than
    /// [`MIN_KEY_LEN`] (a `previous` that short is ignored).
    pub fn new(current: Vec<u8>, previous: Option<Vec<u8>>) -> Option<Self> {
        (current.len() >= MIN_KEY_LEN).then(|| Self {
            current,
            previous: previous.filter(|p| p.len() >= MIN_KEY_LEN),
        })
    }

    /// The MAC of `op` written for `target`, with the current key.
    pub fn sign(&self, target: IntentFor<'_>, op: &PendingOperation) -> String {
        format!(
            "{MAC_PREFIX}{}",
            hex::encode(mac_with(&self.current, target, op))
        )
    }

    /// Whether `mac` is the MAC of `op` for `target` under the current or the
    /// previous key (compared in constant time).
    pub fn verify(&self, target: IntentFor<'_>, op: &PendingOperation, mac: &str) -> bool {
        let Some(bytes) = mac
            .strip_prefix(MAC_PREFIX)
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .any(|key| hmac_for(key, target, op).verify_slice(&bytes).is_ok())
    }
}

type HmacSha256 = Hmac<Sha256>;

fn hmac_for(key: &[u8], target: IntentFor<'_>, op: &PendingOperation) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    // Each part length-prefixed: no two different intents share an input.
    for part in [
        "clientops.dev/pending-create v1",
        target.uid,
        target.namespace,
        target.name,
        op.marker.as_deref().unwrap_or_default(),
        &op.started_at,
    ] {
        m.update(&(part.len() as u64).to_be_bytes());
        m.update(part.as_bytes());
    }
    m
}

fn mac_with(key: &[u8], target: IntentFor<'_>, op: &PendingOperation) -> Vec<u8> {
    hmac_for(key, target, op).finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IntentFor<'static> = IntentFor {
        uid: "uid-a",
        namespace: "ns",
        name: "app",
    };

    fn op(marker: &str, at: &str) -> PendingOperation {
        PendingOperation {
            started_at: at.into(),
            marker: Some(marker.into()),
            recovering: false,
        }
    }

    fn keys(c: u8, p: Option<u8>) -> IntentKeys {
        IntentKeys::new(vec![c; 32], p.map(|p| vec![p; 32])).unwrap()
    }

    #[test]
    fn a_mac_verifies_only_for_the_object_marker_and_time_it_was_made_for() {
        let k = keys(1, None);
        let o = op("sent:ab", "2026-12-07T05:00:00Z");
        let mac = k.sign(A, &o);
        assert!(mac.starts_with("v1:"));
        assert!(k.verify(A, &o, &mac));
        // Copied to another object: another UID, or the same UID elsewhere.
        for other in [
            IntentFor { uid: "uid-b", ..A },
            IntentFor {
                namespace: "ns2",
                ..A
            },
            IntentFor { name: "app2", ..A },
        ] {
            assert!(!k.verify(other, &o, &mac), "{other:?}");
        }
        // Edited marker or time.
        assert!(!k.verify(A, &op("sent:ac", "2026-12-07T05:00:00Z"), &mac));
        assert!(!k.verify(A, &op("sent:ab", "2020-01-01T00:00:00Z"), &mac));
        // Forged or garbled.
        for bad in ["", "v1:", "v1:zz", "v2:00", &mac[..mac.len() - 2]] {
            assert!(!k.verify(A, &o, bad), "{bad:?}");
        }
        // Another key.
        assert!(!keys(2, None).verify(A, &o, &mac));
    }

    #[test]
    fn the_parts_are_framed_so_shifting_bytes_between_them_changes_the_mac() {
        let k = keys(1, None);
        let o = op("sent:ab", "t");
        let shifted = IntentFor {
            uid: "uid-an",
            namespace: "s",
            name: "app",
        };
        assert_ne!(k.sign(A, &o), k.sign(shifted, &o));
    }

    #[test]
    fn after_a_rotation_both_keys_verify_and_the_new_one_signs() {
        let old = keys(1, None);
        let o = op("id:clientops-uid-a", "2026-12-07T05:00:00Z");
        let in_flight = old.sign(A, &o);
        let rotated = keys(2, Some(1));
        assert!(rotated.verify(A, &o, &in_flight));
        let new = rotated.sign(A, &o);
        assert_ne!(new, in_flight);
        assert!(rotated.verify(A, &o, &new));
        assert!(!old.verify(A, &o, &new));
        // The previous key dropped: what it signed no longer counts.
        assert!(!keys(2, None).verify(A, &o, &in_flight));
    }

    #[test]
    fn short_keys_are_refused_and_debug_shows_no_key() {
        assert!(IntentKeys::new(vec![1; 31], None).is_none());
        let k = IntentKeys::new(vec![7; 32], Some(vec![1; 3])).unwrap();
        assert!(k.previous.is_none());
        let shown = format!("{k:?}");
        assert!(!shown.contains('7'), "{shown}");
    }
}
