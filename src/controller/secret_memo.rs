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
//!   reconcile anyway; a relisted watch forgets every entry it yields. The
//!   controller's own writes forget the entry before they are made.
//! - An entry is kept only if nothing was forgotten between the read it comes from
//!   and the moment it is kept (an epoch), so a watch event that overtakes a slow
//!   reconcile is never undone by it.
//! - A new process starts with no entries: its first reconcile of each object
//!   reads the Secret.
//!
//! It holds no secret values: only the planner's view ([`SecretState`]), which
//! says whether values are present, never what they are.

use std::collections::HashMap;
use std::sync::Mutex;

use super::desired::SecretShape;
use super::plan::SecretState;

/// `(namespace, Secret name)`.
type Key = (String, String);

/// What the observation of one Secret depended on, and what it found.
struct Entry {
    uid: String,
    shape: SecretShape,
    status_mac: Option<String>,
    state: SecretState,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<Key, Entry>,
    /// Counts every `forget`.
    epoch: u64,
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

impl SecretMemo {
    /// The current epoch: read it before reading the Secret, hand it to
    /// [`SecretMemo::remember`].
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// The state remembered for this Secret on this basis, if any.
    pub fn recall(&self, namespace: &str, name: &str, basis: Basis<'_>) -> Option<SecretState> {
        let inner = self.lock();
        let e = inner
            .entries
            .get(&(namespace.to_string(), name.to_string()))?;
        (e.uid == basis.uid
            && e.shape == *basis.shape
            && e.status_mac.as_deref() == basis.status_mac)
            .then(|| e.state.clone())
    }

    /// Remember `state`, observed on `basis` from a read made at `epoch`, unless
    /// something was forgotten since.
    pub fn remember(
        &self,
        namespace: &str,
        name: &str,
        basis: Basis<'_>,
        state: SecretState,
        epoch: u64,
    ) {
        let mut inner = self.lock();
        if inner.epoch != epoch {
            return;
        }
        inner.entries.insert(
            (namespace.to_string(), name.to_string()),
            Entry {
                uid: basis.uid.to_string(),
                shape: basis.shape.clone(),
                status_mac: basis.status_mac.map(str::to_string),
                state,
            },
        );
    }

    /// The Secret changed, or is about to: forget what it held.
    pub fn forget(&self, namespace: &str, name: &str) {
        let mut inner = self.lock();
        inner
            .entries
            .remove(&(namespace.to_string(), name.to_string()));
        inner.epoch += 1;
    }

    /// How many Secrets are remembered.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
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
