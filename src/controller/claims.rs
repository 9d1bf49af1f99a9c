//! Which remote clients other OAuthClients hold (their `status.clientId`, which
//! only clientops writes). Every path that adopts a client it did not just create
//! (a lost create found by chosen id or by fingerprint, a marker, an import) asks
//! here first and refuses a client another object holds: two objects would fight
//! over one client, and one's `deletionPolicy: Delete` would delete the other's.

use std::collections::HashSet;

use kube::runtime::reflector::Store;

use crate::api::OAuthClient;

/// The client ids held by every OAuthClient but one.
#[derive(Clone, Debug, Default)]
pub struct Claims {
    held: HashSet<String>,
}

impl Claims {
    /// The ids held by the OAuthClients in `clients` other than `obj` (by UID).
    pub fn of_others(clients: &Store<OAuthClient>, obj: &OAuthClient) -> Self {
        Self::from_objects(clients.state().iter().map(|o| o.as_ref()), obj)
    }

    /// The ids held by `objects` other than `obj` (by UID).
    pub fn from_objects<'a>(
        objects: impl IntoIterator<Item = &'a OAuthClient>,
        obj: &OAuthClient,
    ) -> Self {
        let held = objects
            .into_iter()
            .filter(|o| o.metadata.uid != obj.metadata.uid)
            .filter_map(|o| o.status.as_ref()?.client_id.clone())
            .collect();
        Self { held }
    }

    /// Claims on exactly `ids` (tests).
    pub fn of_ids<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        Self {
            held: ids.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether another OAuthClient holds client `id`.
    pub fn held(&self, id: &str) -> bool {
        self.held.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::client::OAuthClientStatus;

    fn client(uid: &str, id: Option<&str>) -> OAuthClient {
        let spec = serde_json::from_value(serde_json::json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "cf"},
            "redirectUris": ["https://app.example.com/cb"],
        }))
        .unwrap();
        let mut o = OAuthClient::new(uid, spec);
        o.metadata.uid = Some(uid.into());
        o.status = Some(OAuthClientStatus {
            client_id: id.map(Into::into),
            ..Default::default()
        });
        o
    }

    #[test]
    fn another_objects_client_is_held_and_ones_own_is_not() {
        let (me, b, c) = (
            client("me", Some("mine")),
            client("b", Some("b1")),
            client("c", None),
        );
        let claims = Claims::from_objects([&me, &b, &c], &me);
        assert!(claims.held("b1"));
        assert!(!claims.held("mine"));
        assert!(!claims.held("free"));
    }
}
