//! The emulator's state: organisations, their OAuth apps with secrets, and the
//! ids of apps still being deleted. It is what `--state FILE` persists (secrets
//! included, so credential checks still work after a restart; the file is
//! created owner-only). Access tokens are not persisted: after a restart callers
//! get 401 and exchange their API token again.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::emulator::core::StateFile;
use crate::provider::csp::wire::{AllowedScopes, OAuthApp};
use crate::secret::ClientSecret;

/// Version of the state file format.
pub const STATE_VERSION: u32 = 1;

/// Who the emulator says created or changed an app.
pub const ACTOR: &str = "clientops-emulator";

/// One OAuth app, as the emulator keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredApp {
    pub id: String,
    /// Creation order (list answers in this order).
    pub seq: u64,
    pub display_name: String,
    pub description: String,
    pub grant_types: Vec<String>,
    pub allowed_scopes: AllowedScopes,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub force_pkce: bool,
    pub public_client: bool,
    pub allow_open_redirect_uris: bool,
    pub owner_only_secret_rotation: bool,
    /// The app's default overlap for rotations; CSP's 48 h when absent.
    pub secret_rotation_expiration_in_seconds: Option<i64>,
    /// Apps an admin marked immutable cannot be deleted (bulk delete lists them
    /// under `failed`).
    pub immutable: bool,
    pub created_at: DateTime<Utc>,
    pub last_updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the current secret was set.
    pub secret_set_at: DateTime<Utc>,
    /// The current secret; none for public apps.
    pub secret: Option<ClientSecret>,
    /// The secret before the last `POST .../secret`, valid until
    /// `previous_expires_at` or `DELETE .../secret`.
    pub previous_secret: Option<ClientSecret>,
    pub previous_expires_at: Option<DateTime<Utc>>,
}

fn millis(t: &DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl StoredApp {
    /// The app as get and list return it: never a secret. Timestamps in epoch
    /// milliseconds; `secretAge` in milliseconds.
    pub fn to_wire(&self, org_id: &str, now: DateTime<Utc>) -> OAuthApp {
        OAuthApp {
            id: self.id.clone(),
            organization_id: Some(org_id.to_string()),
            display_name: Some(self.display_name.clone()),
            description: Some(self.description.clone()),
            grant_types: Some(self.grant_types.clone()),
            redirect_uris: Some(self.redirect_uris.clone()),
            post_logout_redirect_uris: Some(self.post_logout_redirect_uris.clone()),
            allowed_scopes: Some(self.allowed_scopes.clone()),
            allowed_orgs: Some(vec![]),
            access_token_ttl: Some(self.access_token_ttl),
            refresh_token_ttl: Some(self.refresh_token_ttl),
            force_pkce: Some(self.force_pkce),
            public_client: Some(self.public_client),
            allow_open_redirect_uris: Some(self.allow_open_redirect_uris),
            owner_only_secret_rotation: Some(self.owner_only_secret_rotation),
            secret_rotation_expiration_in_seconds: self.secret_rotation_expiration_in_seconds,
            secret_age: self
                .secret
                .as_ref()
                .map(|_| (now - self.secret_set_at).num_milliseconds().max(0)),
            created_at: Some(millis(&self.created_at)),
            created_by: Some(ACTOR.into()),
            last_updated_at: Some(millis(&self.last_updated_at)),
            last_updated_by: Some(ACTOR.into()),
            last_used_at: self.last_used_at.as_ref().map(millis),
            immutable: Some(self.immutable),
            is_hidden: Some(false),
        }
    }

    /// The previous secret, if it is still valid at `now`.
    pub fn live_previous(&self, now: DateTime<Utc>) -> Option<&ClientSecret> {
        match (&self.previous_secret, self.previous_expires_at) {
            (Some(s), Some(until)) if now < until => Some(s),
            (Some(s), None) => Some(s),
            _ => None,
        }
    }

    /// Forget the previous secret once it has expired.
    pub fn expire_previous(&mut self, now: DateTime<Utc>) {
        if self.previous_secret.is_some() && self.live_previous(now).is_none() {
            self.previous_secret = None;
            self.previous_expires_at = None;
        }
    }

    /// How many secrets work at `now` (0, 1 or 2).
    pub fn secret_count(&self, now: DateTime<Utc>) -> usize {
        usize::from(self.secret.is_some()) + usize::from(self.live_previous(now).is_some())
    }

    /// True when `candidate` is the current secret or the still-valid previous
    /// one. Compares in constant time (per secret), evaluating both.
    pub fn secret_matches(&self, candidate: &str, now: DateTime<Utc>) -> bool {
        let candidate = ClientSecret::new(candidate);
        let current = self.secret.as_ref().is_some_and(|s| *s == candidate);
        let previous = self.live_previous(now).is_some_and(|s| *s == candidate);
        current | previous
    }
}

/// One organisation's apps.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Org {
    pub apps: BTreeMap<String, StoredApp>,
    /// Ids of apps being deleted, with the time their deletion completes: a create
    /// with such an id gets 409 until then.
    #[serde(default)]
    pub deleting: BTreeMap<String, DateTime<Utc>>,
}

impl Org {
    /// Forget deletions that have completed by `now`.
    pub fn finish_deletions(&mut self, now: DateTime<Utc>) {
        self.deleting.retain(|_, until| now < *until);
    }
}

/// Everything the emulator knows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct State {
    pub version: u32,
    /// The next app's `seq`.
    pub next_seq: u64,
    pub orgs: BTreeMap<String, Org>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            next_seq: 1,
            orgs: BTreeMap::new(),
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
    /// Find an app by id in any organisation: (org id, app).
    pub fn find_app(&self, id: &str) -> Option<(&str, &StoredApp)> {
        self.orgs
            .iter()
            .find_map(|(o, org)| org.apps.get(id).map(|a| (o.as_str(), a)))
    }

    /// Mutable [`State::find_app`].
    pub fn find_app_mut(&mut self, id: &str) -> Option<&mut StoredApp> {
        self.orgs.values_mut().find_map(|o| o.apps.get_mut(id))
    }

    /// Whether `id` is taken anywhere (an app, or an app being deleted at `now`).
    pub fn id_in_use(&self, id: &str) -> bool {
        self.find_app(id).is_some() || self.orgs.values().any(|o| o.deleting.contains_key(id))
    }

    /// A fresh client id, as CSP generates them (a UUID-like string).
    pub fn new_app_id(&self) -> String {
        loop {
            let h = random_hex(16);
            let id = format!(
                "{}-{}-{}-{}-{}",
                &h[0..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            );
            if !self.id_in_use(&id) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> StoredApp {
        let t = Utc::now();
        StoredApp {
            id: "app-1".into(),
            seq: 1,
            display_name: "A".into(),
            description: "d".into(),
            grant_types: vec!["client_credentials".into()],
            allowed_scopes: AllowedScopes::default(),
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            access_token_ttl: 600,
            refresh_token_ttl: 7_776_000,
            force_pkce: false,
            public_client: false,
            allow_open_redirect_uris: false,
            owner_only_secret_rotation: false,
            secret_rotation_expiration_in_seconds: None,
            immutable: false,
            created_at: t,
            last_updated_at: t,
            last_used_at: None,
            secret_set_at: t,
            secret: Some(ClientSecret::new("new-Secret-1")),
            previous_secret: Some(ClientSecret::new("old-Secret-1")),
            previous_expires_at: Some(t + chrono::Duration::hours(1)),
        }
    }

    #[test]
    fn previous_secret_expires_with_the_clock() {
        let mut a = app();
        let now = a.created_at;
        assert!(a.secret_matches("new-Secret-1", now));
        assert!(a.secret_matches("old-Secret-1", now));
        assert!(!a.secret_matches("other", now));
        assert_eq!(a.secret_count(now), 2);
        let later = now + chrono::Duration::hours(1);
        assert!(!a.secret_matches("old-Secret-1", later));
        assert_eq!(a.secret_count(later), 1);
        a.expire_previous(later);
        assert!(a.previous_secret.is_none());
        let w = a.to_wire("org", later);
        assert_eq!(w.secret_age, Some(3_600_000));
        assert!(!serde_json::to_string(&w).unwrap().contains("Secret-1"));
    }

    #[test]
    fn generated_ids_are_valid_client_ids() {
        let id = State::default().new_app_id();
        crate::provider::csp::wire::check_client_id(&id).unwrap();
        assert_eq!(id.len(), 36);
    }
}
