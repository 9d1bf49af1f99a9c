//! What each OAuthClient's Secret held when a reconcile last read or wrote it, so
//! that a periodic reconcile that changes nothing does not read it again. At
//! 10,000 clients and a 60 s resync that is 10,000 Secret GETs a minute saved.
//!
//! Why it is safe:
//! - Only a plan with no actions is made from a remembered state. A plan that would
//!   act is made again from a fresh read (`reconcile.rs`), so no write, rotation or
//!   provider call ever rests on it.
//! - A remembered state is keyed by everything the observation depends on besides
//!   the Secret itself: the object's uid, the desired shape, `status.secretMAC`.
//! - Every change to the Secret by anyone else reaches the controller through its
//!   Secret watch, which forgets the entry ([`SecretMemo::forget`]) and triggers a
//!   reconcile anyway. When the watch fails, or lists again (at start, after it
//!   fell too far behind), everything is forgotten ([`SecretMemo::forget_all`]),
//!   at the list's start and at its end: a Secret deleted meanwhile yields no
//!   event. The controller's own writes forget the entry before they are made.
//!   And no entry is recalled after [`MAX_AGE`], in case the watch ever goes
//!   silent without an error.
//! - An entry is kept only if that Secret was not forgotten between the read it
//!   comes from and the moment it is kept (an epoch per Secret), so a watch event
//!   that overtakes a slow reconcile is never undone by it.
//! - A new process starts with no entries: its first reconcile of each object
//!   reads the Secret.
//!
//! It holds no secret values: only the planner's view ([`SecretState`]), which
//! says whether values are present, never what they are.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::desired::SecretShape;
use crate::secret::observe::SecretState;

/// A 128-bit digest: of `(namespace, Secret name)` for the key, of a [`Basis`]
/// for what an entry depends on. Digests, not copies: at 10,000 clients copies
/// cost ~10 MiB of the 150 MiB budget (`bench/results/README.md`).
type Digest128 = [u8; 16];

/// The digest of `parts`, each length-prefixed (no two part lists hash alike).
fn digest(parts: &[&[u8]]) -> Digest128 {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.finalize()[..16]);
    out
}

fn key(namespace: &str, name: &str) -> Digest128 {
    digest(&[namespace.as_bytes(), name.as_bytes()])
}

/// What the observation of one Secret depended on, and what it found.
struct Remembered {
    basis: Digest128,
    state: SecretState,
    at: Instant,
}

/// An entry older than this is not recalled: the Secret is read again. A safety
/// net for a watch that stops delivering without an error (a half-open
/// connection), which nothing else would notice.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// One Secret: when it was last forgotten, and what is remembered since.
struct Slot {
    forgotten_at: u64,
    remembered: Option<Remembered>,
}

/// Forgotten Secrets whose slots are kept (to refuse reads older than the
/// forgetting) before they are pruned.
const TOMBSTONES_KEPT: usize = 4096;

#[derive(Default)]
struct Inner {
    slots: HashMap<Digest128, Slot>,
    /// Counts every `forget`.
    clock: u64,
    /// Slots without `remembered`.
    tombstones: usize,
    /// Reads made before this were taken when slots were pruned: refused.
    pruned_below: u64,
}

/// The remembered Secret states; one per controller.
#[derive(Default)]
pub struct SecretMemo {
    inner: Mutex<Inner>,
}

/// The inputs an observation of a Secret depends on besides the Secret itself.
#[derive(Clone, Copy, Debug)]
pub struct Basis<'a> {
    pub uid: &'a str,
    pub shape: &'a SecretShape,
    pub status_mac: Option<&'a str>,
}

impl Basis<'_> {
    fn digest(&self) -> Digest128 {
        let map = |m: &BTreeMap<String, String>| {
            let mut v = Vec::new();
            for (k, val) in m {
                for part in [k, val] {
                    v.extend_from_slice(&(part.len() as u64).to_le_bytes());
                    v.extend_from_slice(part.as_bytes());
                }
            }
            v
        };
        let shape = self.shape;
        digest(&[
            self.uid.as_bytes(),
            // `None` and `Some("")` differ.
            &[u8::from(self.status_mac.is_some())],
            self.status_mac.unwrap_or_default().as_bytes(),
            shape.name.as_bytes(),
            &map(&shape.labels),
            &map(&shape.annotations),
            shape.key_client_id.as_bytes(),
            shape.key_client_secret.as_bytes(),
            shape.key_previous.as_bytes(),
            &map(&shape.extra_data),
            &[u8::from(shape.publish_previous)],
        ])
    }
}

impl SecretMemo {
    /// The current epoch: read it before reading the Secret, hand it to
    /// [`SecretMemo::remember`].
    pub fn epoch(&self) -> u64 {
        self.lock().clock
    }

    /// The state remembered for this Secret on this basis, if any.
    pub fn recall(&self, namespace: &str, name: &str, basis: Basis<'_>) -> Option<SecretState> {
        let inner = self.lock();
        let slot = inner.slots.get(&key(namespace, name))?;
        let r = slot.remembered.as_ref()?;
        (r.basis == basis.digest() && r.at.elapsed() < MAX_AGE).then(|| r.state.clone())
    }

    /// Remember `state`, observed on `basis` from a read made at `epoch`, unless
    /// this Secret was forgotten since.
    pub fn remember(
        &self,
        namespace: &str,
        name: &str,
        basis: Basis<'_>,
        state: SecretState,
        epoch: u64,
    ) {
        let mut inner = self.lock();
        if epoch < inner.pruned_below {
            return;
        }
        let key = key(namespace, name);
        let forgotten_at = match inner.slots.get(&key) {
            Some(slot) if slot.forgotten_at > epoch => return,
            Some(slot) => slot.forgotten_at,
            None => 0,
        };
        let remembered = Some(Remembered {
            basis: basis.digest(),
            state,
            at: Instant::now(),
        });
        let old = inner.slots.insert(
            key,
            Slot {
                forgotten_at,
                remembered,
            },
        );
        if old.is_some_and(|s| s.remembered.is_none()) {
            inner.tombstones -= 1;
        }
    }

    /// The Secret changed, or is about to: forget what it held.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut inner = self.lock();
        inner.clock += 1;
        let forgotten_at = inner.clock;
        let old = inner.slots.insert(
            key(namespace, name),
            Slot {
                forgotten_at,
                remembered: None,
            },
        );
        if old.is_none_or(|s| s.remembered.is_some()) {
            inner.tombstones += 1;
        }
        if inner.tombstones > TOMBSTONES_KEPT {
            // Drop every tombstone, and with them the memory of when those Secrets
            // were forgotten: refuse every read made before this forget instead
            // (those carry an older epoch).
            inner.slots.retain(|_, s| s.remembered.is_some());
            inner.tombstones = 0;
            inner.pruned_below = inner.clock;
        }
    }

    /// Forget every Secret, and refuse every read made before: the Secret watch
    /// failed, or lists them all again (a Secret deleted while it was not
    /// watching yields no event of its own). Called when the list starts and
    /// again when it is done: a Secret read after the first and deleted before
    /// the list was taken is in neither the list nor any later event.
    pub fn forget_all(&self) {
        let mut inner = self.lock();
        inner.clock += 1;
        inner.slots.clear();
        inner.tombstones = 0;
        inner.pruned_below = inner.clock;
    }

    /// How many Secrets are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        let inner = self.lock();
        inner.slots.len() - inner.tombstones
    }

    /// Whether nothing is remembered.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> SecretShape {
        SecretShape {
            name: "app".into(),
            key_client_id: "client_id".into(),
            ..Default::default()
        }
    }

    fn state(client_id: &str) -> SecretState {
        SecretState {
            exists: true,
            client_id: Some(client_id.into()),
            has_secret: true,
            mac_matches: true,
            shape_matches: true,
            ..Default::default()
        }
    }

    fn basis<'a>(shape: &'a SecretShape, mac: Option<&'a str>) -> Basis<'a> {
        Basis {
            uid: "uid-1",
            shape,
            status_mac: mac,
        }
    }

    #[test]
    fn a_state_is_recalled_only_on_the_same_basis() {
        let memo = SecretMemo::default();
        let shape = shape();
        let epoch = memo.epoch();
        memo.remember("ns", "app", basis(&shape, Some("m1")), state("id"), epoch);
        assert_eq!(
            memo.recall("ns", "app", basis(&shape, Some("m1"))),
            Some(state("id"))
        );
        // Another MAC in status, another shape, another object, another Secret.
        assert_eq!(memo.recall("ns", "app", basis(&shape, Some("m2"))), None);
        assert_eq!(memo.recall("ns", "app", basis(&shape, None)), None);
        let mut other = shape.clone();
        other.key_client_id = "id".into();
        assert_eq!(memo.recall("ns", "app", basis(&other, Some("m1"))), None);
        let b = Basis {
            uid: "uid-2",
            ..basis(&shape, Some("m1"))
        };
        assert_eq!(memo.recall("ns", "app", b), None);
        assert_eq!(memo.recall("other", "app", basis(&shape, Some("m1"))), None);
    }

    #[test]
    fn forgetting_drops_the_state() {
        let memo = SecretMemo::default();
        let shape = shape();
        memo.remember("ns", "app", basis(&shape, None), state("id"), memo.epoch());
        memo.forget("ns", "app");
        assert_eq!(memo.recall("ns", "app", basis(&shape, None)), None);
        assert!(memo.is_empty());
    }

    #[test]
    fn forgetting_one_secret_does_not_spoil_reads_of_another() {
        // During a burst of creates every reconcile forgets its own Secret; a read
        // of another Secret made meanwhile is still good.
        let memo = SecretMemo::default();
        let shape = shape();
        let read_at = memo.epoch();
        memo.forget("ns", "other");
        memo.remember("ns", "app", basis(&shape, None), state("id"), read_at);
        assert_eq!(
            memo.recall("ns", "app", basis(&shape, None)),
            Some(state("id"))
        );
    }

    #[test]
    fn tombstones_are_pruned_and_older_reads_then_refused() {
        let memo = SecretMemo::default();
        let shape = shape();
        memo.remember("ns", "kept", basis(&shape, None), state("k"), memo.epoch());
        let read_at = memo.epoch();
        for i in 0..=TOMBSTONES_KEPT {
            memo.forget("ns", &format!("gone-{i}"));
        }
        assert_eq!(
            memo.lock().slots.len(),
            1,
            "only the remembered one is left"
        );
        assert_eq!(memo.len(), 1);
        // A read from before the pruning might predate a forget it no longer
        // knows of: refused. A read after it is kept.
        memo.remember("ns", "gone-1", basis(&shape, None), state("old"), read_at);
        assert_eq!(memo.recall("ns", "gone-1", basis(&shape, None)), None);
        memo.remember(
            "ns",
            "gone-1",
            basis(&shape, None),
            state("new"),
            memo.epoch(),
        );
        assert_eq!(
            memo.recall("ns", "gone-1", basis(&shape, None)),
            Some(state("new"))
        );
        assert_eq!(memo.len(), 2);
    }

    #[test]
    fn forgetting_all_drops_every_state_and_refuses_older_reads() {
        let memo = SecretMemo::default();
        let shape = shape();
        memo.remember("ns", "a", basis(&shape, None), state("a"), memo.epoch());
        let read_at = memo.epoch();
        memo.forget_all();
        assert!(memo.is_empty());
        memo.remember("ns", "b", basis(&shape, None), state("b"), read_at);
        assert_eq!(memo.recall("ns", "b", basis(&shape, None)), None);
        memo.remember("ns", "b", basis(&shape, None), state("b"), memo.epoch());
        assert_eq!(
            memo.recall("ns", "b", basis(&shape, None)),
            Some(state("b"))
        );
    }

    #[test]
    fn a_read_older_than_a_forget_is_not_remembered() {
        // A reconcile reads the Secret; before it keeps what it read, the watch
        // reports a change by someone else. Keeping the old read would hide it.
        let memo = SecretMemo::default();
        let shape = shape();
        let read_at = memo.epoch();
        memo.forget("ns", "app");
        memo.remember("ns", "app", basis(&shape, None), state("old"), read_at);
        assert_eq!(memo.recall("ns", "app", basis(&shape, None)), None);
        // A read after the change is kept.
        memo.remember("ns", "app", basis(&shape, None), state("new"), memo.epoch());
        assert_eq!(
            memo.recall("ns", "app", basis(&shape, None)),
            Some(state("new"))
        );
    }
}
