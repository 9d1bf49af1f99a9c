//! The key that proves an intent annotation is clientops' own
//! ([`super::intent_proof`]): the Secret [`KEY_SECRET`] in the operator's
//! namespace, read once per process at start and created then if absent.
//!
//! Several replicas starting at once race safely: each tries to create it, the
//! apiserver lets one win, and the others (AlreadyExists) read the winner's.
//!
//! Rotation (docs/install.md): move `current` to `previous`, put 32 new random
//! bytes in `current`, restart the operator. Intents signed with either verify;
//! new ones are signed with `current`. Once the restarted operator has run for a
//! few minutes (an intent lives from the first write of a new object to the end
//! of its create), drop `previous` and restart again. Deleting the Secret makes the
//! next start create a new key: intents in flight then no longer verify and their
//! objects are treated as new (see docs/security.md for what that costs).

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::{Client, ResourceExt};

use super::intent_proof::{IntentKeys, MIN_KEY_LEN};

/// The key Secret's name, in the operator's namespace.
pub const KEY_SECRET: &str = "clientops-intent-key";
/// The key that signs new intents (and verifies).
pub const CURRENT: &str = "current";
/// The key before the last rotation (verifies only); optional.
pub const PREVIOUS: &str = "previous";

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The apiserver could not be asked (retrying may help).
    #[error("read or create Secret {namespace}/{KEY_SECRET}: {source}")]
    Api {
        namespace: String,
        #[source]
        source: kube::Error,
    },
    /// The Secret exists but holds no usable key (retrying does not help).
    #[error(
        "Secret {namespace}/{KEY_SECRET}: key {CURRENT:?} must hold at least {MIN_KEY_LEN} random bytes; put {MIN_KEY_LEN} random bytes there (for example `head -c 32 /dev/urandom`), or delete the Secret and clientops creates a new key at its next start"
    )]
    Unusable { namespace: String },
}

impl KeyError {
    /// Whether asking again may succeed.
    pub fn transient(&self) -> bool {
        matches!(self, KeyError::Api { .. })
    }
}

/// The keys in Secret `namespace`/[`KEY_SECRET`], made (with a fresh random
/// `current`) if the Secret is absent.
pub async fn load_or_create(client: &Client, namespace: &str) -> Result<IntentKeys, KeyError> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let wrap = |source| KeyError::Api {
        namespace: namespace.into(),
        source,
    };
    if let Some(s) = api.get_opt(KEY_SECRET).await.map_err(wrap)? {
        return keys_in(&s, namespace);
    }
    let fresh = Secret {
        metadata: ObjectMeta {
            name: Some(KEY_SECRET.into()),
            namespace: Some(namespace.into()),
            annotations: Some(
                [(
                    "clientops.dev/purpose".to_string(),
                    "proves clientops wrote an OAuthClient's clientops.dev/pending-create annotation; rotation: docs/install.md".to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        },
        data: Some([(CURRENT.to_string(), ByteString(random_key()))].into()),
        ..Default::default()
    };
    match api.create(&PostParams::default(), &fresh).await {
        Ok(s) => {
            tracing::info!(secret = %s.name_any(), %namespace, "created the intent key");
            keys_in(&s, namespace)
        }
        // Another replica made it first: use its key.
        Err(kube::Error::Api(e)) if e.code == 409 => {
            let s = api.get(KEY_SECRET).await.map_err(wrap)?;
            keys_in(&s, namespace)
        }
        Err(e) => Err(wrap(e)),
    }
}

/// The keys a key Secret holds.
pub fn keys_in(s: &Secret, namespace: &str) -> Result<IntentKeys, KeyError> {
    let data = s.data.as_ref();
    let get = |k: &str| data.and_then(|d| d.get(k)).map(|b| b.0.clone());
    get(CURRENT)
        .and_then(|current| IntentKeys::new(current, get(PREVIOUS)))
        .ok_or_else(|| KeyError::Unusable {
            namespace: namespace.into(),
        })
}

fn random_key() -> Vec<u8> {
    use rand::RngCore;
    let mut key = vec![0u8; MIN_KEY_LEN];
    rand::rng().fill_bytes(&mut key);
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client::PendingOperation;
    use crate::controller::intent_proof::IntentFor;

    fn secret(data: &[(&str, Vec<u8>)]) -> Secret {
        Secret {
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.clone())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_key_secret_needs_a_long_current_key_and_previous_verifies() {
        let err = keys_in(&secret(&[]), "ops").unwrap_err();
        assert!(!err.transient());
        let msg = err.to_string();
        assert!(
            msg.contains("ops/clientops-intent-key") && msg.contains("\"current\""),
            "{msg}"
        );
        assert!(keys_in(&secret(&[(CURRENT, vec![1; 8])]), "ops").is_err());

        let target = IntentFor {
            uid: "u",
            namespace: "n",
            name: "a",
        };
        let op = PendingOperation {
            started_at: "t".into(),
            marker: Some("sent:x".into()),
            recovering: false,
        };
        let old = keys_in(&secret(&[(CURRENT, vec![1; 32])]), "ops").unwrap();
        let rotated = keys_in(
            &secret(&[(CURRENT, vec![2; 32]), (PREVIOUS, vec![1; 32])]),
            "ops",
        )
        .unwrap();
        assert!(rotated.verify(target, &op, &old.sign(target, &op)));
    }

    #[test]
    fn fresh_keys_are_random_and_long_enough() {
        let (a, b) = (random_key(), random_key());
        assert_eq!(a.len(), MIN_KEY_LEN);
        assert_ne!(a, b);
    }
}
