//! The emulator's state: accounts, their OAuth clients and the clients' secrets.
//! It is what `--state FILE` persists (secrets included, so credential checks
//! still work after a restart; the file is created owner-only).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::emulator::core::StateFile;
use crate::provider::cloudflare::wire::{ClientUriVerification, OAuthClient};
use crate::secret::ClientSecret;

/// The prefix of a client URI verification TXT value.
pub const TXT_PREFIX: &str = "cloudflare_oauth_client_publisher=";

/// Version of the state file format.
pub const STATE_VERSION: u32 = 1;

/// One OAuth client, as the emulator keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredClient {
    pub client_id: String,
    /// Creation order (list answers in this order).
    pub seq: u64,
    pub visibility: String,
    pub client_name: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_cors_origins: Vec<String>,
    /// With the protocol scopes the server added.
    pub scopes: Vec<String>,
    pub optional_scopes: Vec<String>,
    pub client_uri: Option<String>,
    pub client_uri_verification: Option<ClientUriVerification>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub promoted_at: Option<DateTime<Utc>>,
    /// The newest secret; none for `token_endpoint_auth_method: none`.
    pub secret: Option<ClientSecret>,
    /// The secret before the last rotation, valid until deleted.
    pub previous_secret: Option<ClientSecret>,
}

/// RFC 3339 the way Cloudflare writes it (UTC, `Z`).
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl StoredClient {
    /// The client as list, get and update return it: never a secret.
    pub fn to_wire(&self) -> OAuthClient {
        OAuthClient {
            client_id: self.client_id.clone(),
            visibility: self.visibility.clone(),
            client_name: Some(self.client_name.clone()),
            grant_types: Some(self.grant_types.clone()),
            response_types: Some(self.response_types.clone()),
            token_endpoint_auth_method: Some(self.token_endpoint_auth_method.clone()),
            redirect_uris: Some(self.redirect_uris.clone()),
            post_logout_redirect_uris: Some(self.post_logout_redirect_uris.clone()),
            allowed_cors_origins: Some(self.allowed_cors_origins.clone()),
            scopes: Some(self.scopes.clone()),
            optional_scopes: Some(self.optional_scopes.clone()),
            client_uri: self.client_uri.clone(),
            client_uri_verification: self.client_uri_verification.clone(),
            logo_uri: self.logo_uri.clone(),
            policy_uri: self.policy_uri.clone(),
            tos_uri: self.tos_uri.clone(),
            has_rotated_secret: Some(self.previous_secret.is_some()),
            created_at: Some(timestamp(&self.created_at)),
            updated_at: Some(timestamp(&self.updated_at)),
            promoted_at: self.promoted_at.as_ref().map(timestamp),
        }
    }

    /// True when `candidate` is the current or the not-yet-deleted previous
    /// secret. Compares in constant time (per secret).
    pub fn secret_matches(&self, candidate: &str) -> bool {
        let candidate = ClientSecret::new(candidate);
        // Evaluate both comparisons, so timing does not tell which one matched.
        let current = self.secret.as_ref().is_some_and(|s| *s == candidate);
        let previous = self
            .previous_secret
            .as_ref()
            .is_some_and(|s| *s == candidate);
        current | previous
    }
}

/// One account's clients.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Account {
    pub clients: BTreeMap<String, StoredClient>,
}

/// Everything the emulator knows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct State {
    pub version: u32,
    /// The next client's `seq`.
    pub next_seq: u64,
    pub accounts: BTreeMap<String, Account>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            next_seq: 1,
            accounts: BTreeMap::new(),
        }
    }
}

impl StateFile for State {
    const VERSION: u32 = STATE_VERSION;

    fn version(&self) -> u32 {
        self.version
    }
}

impl State {
    /// Find a client by id in any account: (account id, client).
    pub fn find_client(&self, client_id: &str) -> Option<(&str, &StoredClient)> {
        self.accounts
            .iter()
            .find_map(|(acct, a)| a.clients.get(client_id).map(|c| (acct.as_str(), c)))
    }

    /// Mutable [`State::find_client`].
    pub fn find_client_mut(&mut self, client_id: &str) -> Option<&mut StoredClient> {
        self.accounts
            .values_mut()
            .find_map(|a| a.clients.get_mut(client_id))
    }

    /// A fresh client id: 32 lower-case hex characters, unique across accounts.
    pub fn new_client_id(&self) -> String {
        loop {
            let id = random_hex(16);
            if self.find_client(&id).is_none() {
                return id;
            }
        }
    }
}

/// `n` random bytes from the thread-local CSPRNG, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill(&mut bytes[..]);
    hex::encode(bytes)
}

/// A new client secret: 48 characters of `[A-Za-z0-9]` (~285 bits) from the
/// thread-local CSPRNG (ChaCha12, seeded from the OS).
pub fn new_secret() -> ClientSecret {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let s: String = (0..48)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    ClientSecret::new(s)
}

/// A new client URI verification: `pending` with a fresh TXT value.
pub fn new_verification() -> ClientUriVerification {
    ClientUriVerification {
        status: Some("pending".into()),
        text: Some(format!("{TXT_PREFIX}{}", random_hex(16))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_secrets_look_right() {
        let st = State::default();
        let id = st.new_client_id();
        assert_eq!(id.len(), 32);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        let a = new_secret();
        let b = new_secret();
        assert_eq!(a.expose().len(), 48);
        assert_ne!(a, b);
        assert!(new_verification().text.unwrap().starts_with(TXT_PREFIX));
    }
}
