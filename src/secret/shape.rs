//! `SecretShape`: how an OAuthClient's Secret must look besides the credential
//! values: its name, labels, annotations, key names, static extra data, the
//! provider endpoints it publishes and the keys rendered from templates.

use std::collections::BTreeMap;

use super::template::{self, TemplateError};
use crate::api::endpoints::Endpoints;

/// How the Secret must look (besides the credential values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretShape {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub key_client_id: String,
    pub key_client_secret: String,
    pub key_previous: String,
    pub extra_data: BTreeMap<String, String>,
    pub publish_previous: bool,
    /// `spec.secret.endpoints`: Secret key → endpoint name
    /// ([`Endpoints::NAMES`]).
    pub endpoint_keys: BTreeMap<String, String>,
    /// `spec.secret.template`: Secret key → template text.
    pub templates: BTreeMap<String, String>,
    /// The provider's endpoints, once the provider resolved
    /// ([`SecretShape::publish_endpoints`]); `None` before.
    pub endpoints: Option<Endpoints>,
}

impl SecretShape {
    /// Take the provider's `endpoints` (`None`: the provider did not resolve) and
    /// check that every key the spec asks for can be written: each endpoint asked
    /// for is one the provider has, and each template renders. Called before
    /// anything is done, so that no action starts with a Secret that cannot be
    /// written as asked.
    pub fn publish_endpoints(&mut self, endpoints: Option<Endpoints>) -> Result<(), TemplateError> {
        self.endpoints = endpoints;
        if let Some(e) = &self.endpoints {
            let known = e.known();
            for (key, name) in &self.endpoint_keys {
                if !known.contains_key(name.as_str()) {
                    return Err(TemplateError::missing_endpoint(key, name, e));
                }
            }
        }
        template::check(self)
    }

    /// The endpoint values to write, by Secret key: those the provider has
    /// (all of them once [`SecretShape::publish_endpoints`] succeeded).
    pub fn endpoint_data(&self) -> BTreeMap<String, String> {
        let Some(e) = &self.endpoints else {
            return BTreeMap::new();
        };
        let known = e.known();
        self.endpoint_keys
            .iter()
            .filter_map(|(key, name)| Some((key.clone(), known.get(name.as_str())?.clone())))
            .collect()
    }

    /// Whether `key` holds something clientops writes other than a rendered
    /// template: a credential, an extra or an endpoint key.
    pub fn is_plain_key(&self, key: &str) -> bool {
        key == self.key_client_id
            || key == self.key_client_secret
            || key == self.key_previous
            || key == super::render::PENDING_KEY
            || self.extra_data.contains_key(key)
            || self.endpoint_keys.contains_key(key)
    }
}
