//! The emulator's state: tenants, each with its applications (live and
//! deleted), their passwords and owners, and service principals. It is what
//! `--state FILE` persists (password values included, so a restart keeps
//! credentials working; the file is created owner-only). Access tokens are not
//! persisted.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::emulator::core::StateFile;
use crate::secret::ClientSecret;

/// Version of the state file format.
pub const STATE_VERSION: u32 = 1;

/// The Graph application role that lets an app create applications and manage
/// the ones it owns.
pub const OWNED_BY: &str = "Application.ReadWrite.OwnedBy";
/// Manage every application of the tenant.
pub const READ_WRITE_ALL: &str = "Application.ReadWrite.All";
/// Read every application of the tenant (and list deleted items).
pub const READ_ALL: &str = "Application.Read.All";
/// The roles the emulator knows.
pub const ROLES: [&str; 3] = [OWNED_BY, READ_WRITE_ALL, READ_ALL];

/// How long a deleted application stays in deleted items (30 days).
pub const DELETED_RETENTION_DAYS: i64 = 30;

/// An RFC 3339 time as Graph writes it (`2026-12-07T15:04:14Z`).
pub fn graph_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// One password credential, with its value.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredPassword {
    pub key_id: String,
    pub display_name: Option<String>,
    pub hint: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub secret: ClientSecret,
}

impl StoredPassword {
    /// The passwordCredential as reads show it (`secretText` always null).
    pub fn to_json(&self) -> Value {
        json!({
            "customKeyIdentifier": null,
            "displayName": self.display_name,
            "endDateTime": graph_time(&self.end),
            "hint": self.hint,
            "keyId": self.key_id,
            "secretText": null,
            "startDateTime": graph_time(&self.start),
        })
    }

    /// Whether it authenticates at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.start <= now && now < self.end
    }
}

/// One application registration.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredApp {
    /// The object id.
    pub id: String,
    /// The client id.
    pub app_id: String,
    /// Creation order (lists answer in this order).
    pub seq: u64,
    pub unique_name: Option<String>,
    pub display_name: String,
    pub sign_in_audience: String,
    /// Every other property that was set, already validated and normalised
    /// ([`super::validation`]); absent ones read as their defaults.
    pub props: BTreeMap<String, Value>,
    pub passwords: Vec<StoredPassword>,
    /// keyCredentials as set (with `key`, which reads return as null).
    pub key_credentials: Vec<Value>,
    /// The appIds of the applications that own it.
    pub owners: Vec<String>,
    /// Graph application roles granted to this app (an operator identity).
    pub roles: Vec<String>,
    pub created: DateTime<Utc>,
    /// Federated identity credentials (workload identity federation).
    #[serde(default)]
    pub federated: Vec<StoredFic>,
}

/// A federated identity credential: tokens from `issuer` about `subject` for
/// `audiences` authenticate as the application.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredFic {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub subject: String,
    pub audiences: Vec<String>,
    pub description: Option<String>,
}

impl StoredFic {
    /// The federatedIdentityCredential as Graph returns it.
    pub fn to_json(&self) -> Map<String, Value> {
        let v = json!({
            "id": self.id,
            "name": self.name,
            "issuer": self.issuer,
            "subject": self.subject,
            "audiences": self.audiences,
            "description": self.description,
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

/// The defaults of the settable properties, as Graph returns an application
/// that never set them.
pub fn default_props() -> Map<String, Value> {
    let v = json!({
        "addIns": [],
        "api": {
            "acceptMappedClaims": null,
            "knownClientApplications": [],
            "requestedAccessTokenVersion": null,
            "oauth2PermissionScopes": [],
            "preAuthorizedApplications": []
        },
        "appRoles": [],
        "defaultRedirectUri": null,
        "description": null,
        "groupMembershipClaims": null,
        "identifierUris": [],
        "info": {
            "logoUrl": null,
            "marketingUrl": null,
            "privacyStatementUrl": null,
            "supportUrl": null,
            "termsOfServiceUrl": null
        },
        "isDeviceOnlyAuthSupported": null,
        "isFallbackPublicClient": null,
        "notes": null,
        "optionalClaims": null,
        "parentalControlSettings": {
            "countriesBlockedForMinors": [],
            "legalAgeGroupRule": "Allow"
        },
        "publicClient": { "redirectUris": [] },
        "requiredResourceAccess": [],
        "samlMetadataUrl": null,
        "serviceManagementReference": null,
        "spa": { "redirectUris": [] },
        "tags": [],
        "tokenEncryptionKeyId": null,
        "web": {
            "homePageUrl": null,
            "logoutUrl": null,
            "redirectUris": [],
            "implicitGrantSettings": {
                "enableAccessTokenIssuance": false,
                "enableIdTokenIssuance": false
            },
            "redirectUriSettings": []
        }
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl StoredApp {
    /// The application as Graph returns it (every property; never a secret).
    pub fn to_json(&self, domain: &str, deleted: Option<DateTime<Utc>>) -> Map<String, Value> {
        let mut m = default_props();
        for (k, v) in &self.props {
            m.insert(k.clone(), v.clone());
        }
        let keys: Vec<Value> = self
            .key_credentials
            .iter()
            .map(|k| {
                let mut k = k.clone();
                if let Some(o) = k.as_object_mut() {
                    o.insert("key".into(), Value::Null);
                }
                k
            })
            .collect();
        let fixed = json!({
            "id": self.id,
            "deletedDateTime": deleted.as_ref().map(graph_time),
            "appId": self.app_id,
            "applicationTemplateId": null,
            "disabledByMicrosoftStatus": null,
            "createdDateTime": graph_time(&self.created),
            "displayName": self.display_name,
            "publisherDomain": domain,
            "signInAudience": self.sign_in_audience,
            "uniqueName": self.unique_name,
            "certification": null,
            "keyCredentials": keys,
            "passwordCredentials": self.passwords.iter().map(StoredPassword::to_json).collect::<Vec<_>>(),
            "verifiedPublisher": {
                "displayName": null,
                "verifiedPublisherId": null,
                "addedDateTime": null
            },
        });
        if let Value::Object(f) = fixed {
            m.extend(f);
        }
        m
    }

    /// The tags (for service principals and `$filter`).
    pub fn tags(&self) -> Vec<String> {
        self.props
            .get("tags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `app_id` owns it.
    pub fn owned_by(&self, app_id: &str) -> bool {
        self.owners.iter().any(|o| o.eq_ignore_ascii_case(app_id))
    }

    /// True when `candidate` is one of its passwords valid at `now` (each
    /// compared in constant time, all evaluated).
    pub fn password_matches(&self, candidate: &str, now: DateTime<Utc>) -> PasswordCheck {
        let candidate = ClientSecret::new(candidate);
        let mut valid = false;
        let mut expired = false;
        for p in &self.passwords {
            if p.secret == candidate {
                if p.valid_at(now) {
                    valid = true;
                } else {
                    expired = true;
                }
            }
        }
        match (valid, expired) {
            (true, _) => PasswordCheck::Valid,
            (false, true) => PasswordCheck::Expired,
            _ => PasswordCheck::Wrong,
        }
    }
}

/// The result of checking a client secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    Valid,
    /// It is a password of the app, but outside its validity.
    Expired,
    Wrong,
}

/// An application in deleted items.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DeletedApp {
    pub app: StoredApp,
    pub deleted_at: DateTime<Utc>,
}

/// A service principal (only what clients look up).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StoredSp {
    pub id: String,
    pub app_id: String,
    pub seq: u64,
    pub created: DateTime<Utc>,
    /// The appIds that own it (the creator).
    pub owners: Vec<String>,
}

/// One tenant (directory).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Tenant {
    /// The initial domain, `publisherDomain` of its apps.
    pub domain: String,
    /// Live applications by object id.
    pub apps: BTreeMap<String, StoredApp>,
    /// Deleted applications by object id.
    pub deleted: BTreeMap<String, DeletedApp>,
    /// Service principals by object id.
    pub service_principals: BTreeMap<String, StoredSp>,
}

impl Tenant {
    /// Purge deleted applications older than 30 days at `now`.
    pub fn expire_deleted(&mut self, now: DateTime<Utc>) {
        self.deleted
            .retain(|_, d| now - d.deleted_at < chrono::Duration::days(DELETED_RETENTION_DAYS));
    }

    /// The live application with this appId.
    pub fn app_by_app_id(&self, app_id: &str) -> Option<&StoredApp> {
        self.apps
            .values()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
    }

    /// The live application with this uniqueName (case-insensitive, a guess).
    pub fn app_by_unique_name(&self, name: &str) -> Option<&StoredApp> {
        self.apps.values().find(|a| {
            a.unique_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(name))
        })
    }

    /// Whether `name` is taken by a live application or one deleted less than
    /// 30 days before `now`.
    pub fn unique_name_taken(&self, name: &str, now: DateTime<Utc>) -> bool {
        let same = |a: &StoredApp| {
            a.unique_name
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(name))
        };
        self.apps.values().any(same)
            || self.deleted.values().any(|d| {
                now - d.deleted_at < chrono::Duration::days(DELETED_RETENTION_DAYS) && same(&d.app)
            })
    }

    /// The service principal of `app_id`.
    pub fn sp_by_app_id(&self, app_id: &str) -> Option<&StoredSp> {
        self.service_principals
            .values()
            .find(|s| s.app_id.eq_ignore_ascii_case(app_id))
    }
}

/// Everything the emulator knows.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct State {
    pub version: u32,
    /// The next `seq`.
    pub next_seq: u64,
    /// Tenants by id (lower case).
    pub tenants: BTreeMap<String, Tenant>,
    /// External token issuers' signing keys (a JWKS) by issuer URL, as the
    /// admin API registered them: federated assertions are checked against them.
    #[serde(default)]
    pub issuers: BTreeMap<String, Value>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            version: STATE_VERSION,
            next_seq: 1,
            tenants: BTreeMap::new(),
            issuers: BTreeMap::new(),
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
    /// The next sequence number.
    pub fn seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// The tenant whose id or domain is `key` (case-insensitive): (id, tenant).
    pub fn tenant_by_key(&self, key: &str) -> Option<(&str, &Tenant)> {
        let key = key.to_ascii_lowercase();
        self.tenants
            .iter()
            .find(|(id, t)| **id == key || t.domain.eq_ignore_ascii_case(&key))
            .map(|(id, t)| (id.as_str(), t))
    }
}

/// A fresh GUID (random, version 4 layout).
pub fn new_guid() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill(&mut b[..]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// True for a GUID.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A generated client secret as Entra's look: 40 characters of
/// `[A-Za-z0-9~._-]` (within the documented 16-64).
pub fn generate_secret() -> ClientSecret {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~._-";
    let mut rng = rand::rng();
    let s: String = (0..40)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    ClientSecret::new(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(secret: &str, start: DateTime<Utc>, days: i64) -> StoredPassword {
        StoredPassword {
            key_id: new_guid(),
            display_name: Some("p".into()),
            hint: secret[..3].to_string(),
            start,
            end: start + chrono::Duration::days(days),
            secret: ClientSecret::new(secret),
        }
    }

    #[test]
    fn passwords_match_within_their_validity_and_never_show() {
        let now = Utc::now();
        let app = StoredApp {
            id: new_guid(),
            app_id: new_guid(),
            seq: 1,
            unique_name: Some("a".into()),
            display_name: "A".into(),
            sign_in_audience: "AzureADMyOrg".into(),
            props: BTreeMap::new(),
            passwords: vec![
                password("current-secret", now, 1),
                password("expired-secret", now - chrono::Duration::days(3), 1),
            ],
            key_credentials: vec![],
            owners: vec!["X".into()],
            roles: vec![],
            created: now,
            federated: vec![],
        };
        assert_eq!(
            app.password_matches("current-secret", now),
            PasswordCheck::Valid
        );
        assert_eq!(
            app.password_matches("expired-secret", now),
            PasswordCheck::Expired
        );
        assert_eq!(app.password_matches("nope", now), PasswordCheck::Wrong);
        let text = serde_json::to_string(&app.to_json("d", None)).unwrap();
        assert!(!text.contains("current-secret"), "{text}");
        assert!(app.owned_by("x"));
    }

    #[test]
    fn guids_and_secrets() {
        assert!(is_guid(&new_guid()));
        assert!(!is_guid("nope"));
        let s = generate_secret();
        assert_eq!(s.expose().len(), 40);
    }
}
