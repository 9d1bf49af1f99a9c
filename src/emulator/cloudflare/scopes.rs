//! The scope catalogue (`GET /oauth/scopes`) that dot-delimited scopes are checked
//! against.
//!
//! The default mirrors the real catalogue as far as public sources show it (scope
//! ids seen in Cloudflare's SDK docstrings, the Terraform provider's tests and
//! public OAuth integrations); display names, categories and the underlying
//! resource scopes are ours. `--scopes-file` replaces it with a JSON array of
//! `{id, name, category?, scopes?}` or a saved `/oauth/scopes` response envelope.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;

use crate::provider::cloudflare::wire::Scope;

/// The category that marks identity scopes (they do not count towards the
/// "at least one non-identity scope" rule of public promotion).
pub const IDENTITY_CATEGORY: &str = "Identity";

/// Scope values without a dot that are always accepted ("simple identity scopes").
pub const SIMPLE_IDENTITY_SCOPES: [&str; 5] =
    ["openid", "offline_access", "offline", "profile", "email"];

const DEFAULT: &[(&str, &str, &str)] = &[
    ("user-details.read", "User Details Read", IDENTITY_CATEGORY),
    ("memberships.read", "Memberships Read", "Account"),
    ("account.read", "Account Read", "Account"),
    ("account-settings.read", "Account Settings Read", "Account"),
    (
        "account-settings.write",
        "Account Settings Write",
        "Account",
    ),
    ("teams.read", "Zero Trust Read", "Zero Trust"),
    ("zone.read", "Zone Read", "Zone"),
    ("dns.read", "DNS Read", "Zone"),
    ("dns.write", "DNS Write", "Zone"),
    (
        "account-dns-settings.read",
        "Account DNS Settings Read",
        "Zone",
    ),
    (
        "ssl-and-certificates.read",
        "SSL and Certificates Read",
        "Zone",
    ),
    (
        "ssl-and-certificates.write",
        "SSL and Certificates Write",
        "Zone",
    ),
    ("workers-platform.read", "Workers Platform Read", "Workers"),
    ("workers-scripts.read", "Workers Scripts Read", "Workers"),
    ("workers-scripts.write", "Workers Scripts Write", "Workers"),
    ("workers-routes.read", "Workers Routes Read", "Workers"),
    ("workers-routes.write", "Workers Routes Write", "Workers"),
    (
        "workers-kv-storage.read",
        "Workers KV Storage Read",
        "Workers",
    ),
    (
        "workers-kv-storage.write",
        "Workers KV Storage Write",
        "Workers",
    ),
    ("workers-r2.read", "Workers R2 Storage Read", "Workers"),
    ("workers-r2.write", "Workers R2 Storage Write", "Workers"),
    ("d1.read", "D1 Read", "Workers"),
    ("d1.write", "D1 Write", "Workers"),
    ("queues.read", "Queues Read", "Workers"),
    ("queues.write", "Queues Write", "Workers"),
    ("ai.read", "Workers AI Read", "AI"),
    ("ai.write", "Workers AI Write", "AI"),
    ("aig.run", "AI Gateway Run", "AI"),
    ("challenge-widgets.read", "Turnstile Read", "Security"),
    ("challenge-widgets.write", "Turnstile Write", "Security"),
    ("account-api-gateway.read", "API Gateway Read", "Security"),
    (
        "email-routing-address.write",
        "Email Routing Addresses Write",
        "Email",
    ),
    (
        "email-routing-rule.write",
        "Email Routing Rules Write",
        "Email",
    ),
    ("email-sending.write", "Email Sending Write", "Email"),
];

/// The scope catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalogue {
    scopes: Vec<Scope>,
    ids: BTreeSet<String>,
    identity: BTreeSet<String>,
}

impl Default for Catalogue {
    fn default() -> Self {
        Self::new(
            DEFAULT
                .iter()
                .map(|(id, name, category)| Scope {
                    id: (*id).into(),
                    name: (*name).into(),
                    category: Some((*category).into()),
                    scopes: Some(vec![id.replacen('.', ":", 1)]),
                })
                .collect(),
        )
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ScopesFile {
    List(Vec<Scope>),
    Envelope { result: Vec<Scope> },
}

impl Catalogue {
    /// A catalogue of these scopes.
    pub fn new(scopes: Vec<Scope>) -> Self {
        let ids = scopes.iter().map(|s| s.id.clone()).collect();
        let identity = scopes
            .iter()
            .filter(|s| {
                s.category
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(IDENTITY_CATEGORY))
            })
            .map(|s| s.id.clone())
            .collect();
        Self {
            scopes,
            ids,
            identity,
        }
    }

    /// Load a `--scopes-file`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("reading scopes file {}: {e}", path.display()))?;
        let parsed: ScopesFile = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "scopes file {}: expected a JSON array of {{id, name, category?, scopes?}} \
                 or a /oauth/scopes response: {e}",
                path.display()
            )
        })?;
        let scopes = match parsed {
            ScopesFile::List(s) | ScopesFile::Envelope { result: s } => s,
        };
        if let Some(bad) = scopes
            .iter()
            .find(|s| s.id.is_empty() || s.id.contains(':'))
        {
            anyhow::bail!(
                "scopes file {}: scope id {:?} is empty or colon-delimited",
                path.display(),
                bad.id
            );
        }
        Ok(Self::new(scopes))
    }

    /// Every scope, in catalogue order.
    pub fn scopes(&self) -> &[Scope] {
        &self.scopes
    }

    /// True when `id` is in the catalogue.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// True for simple identity scopes and catalogue scopes of the identity category.
    pub fn is_identity(&self, id: &str) -> bool {
        SIMPLE_IDENTITY_SCOPES.contains(&id) || self.identity.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_catalogue_knows_documented_scopes() {
        let c = Catalogue::default();
        for s in [
            "user-details.read",
            "account.read",
            "teams.read",
            "workers-platform.read",
        ] {
            assert!(c.contains(s), "{s}");
        }
        assert!(c.is_identity("user-details.read"));
        assert!(c.is_identity("openid"));
        assert!(!c.is_identity("account.read"));
    }

    #[test]
    fn loads_lists_and_envelopes() {
        let dir = std::env::temp_dir();
        let p = dir.join(format!("clientops-scopes-{}.json", std::process::id()));
        std::fs::write(&p, r#"[{"id":"x.read","name":"X"}]"#).unwrap();
        assert!(Catalogue::load(&p).unwrap().contains("x.read"));
        std::fs::write(
            &p,
            r#"{"success":true,"result":[{"id":"y.read","name":"Y","category":"Identity"}]}"#,
        )
        .unwrap();
        let c = Catalogue::load(&p).unwrap();
        assert!(c.contains("y.read") && c.is_identity("y.read"));
        std::fs::write(&p, r#"[{"id":"a:read","name":"A"}]"#).unwrap();
        assert!(Catalogue::load(&p).is_err());
        std::fs::remove_file(&p).unwrap();
    }
}
