//! The public OAuth/OIDC endpoints of a provider account: what a workload needs
//! beside its client id and secret to log users in or fetch tokens
//! (`spec.secret.endpoints` and `spec.secret.template` publish them, by the names
//! here). Each provider fills them in (`Provider::endpoints`).
//!
//! Every endpoint is optional: a provider publishes the ones it has, as far as
//! clientops knows them from the provider object (Hydra's only with
//! `spec.hydra.publicUrl`).

use std::collections::BTreeMap;

/// A provider's endpoints; `None`: the provider has none, or clientops does not
/// know it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Endpoints {
    /// The OIDC issuer identifier (`iss` in its tokens).
    pub issuer: Option<String>,
    /// Where users are sent to authorize (`authorization_endpoint`).
    pub authorization: Option<String>,
    /// Where tokens are obtained (`token_endpoint`).
    pub token: Option<String>,
    /// The OIDC discovery document (`.well-known/openid-configuration`).
    pub discovery: Option<String>,
    /// The signing keys of its tokens (`jwks_uri`).
    pub jwks: Option<String>,
    /// RFC 7009 token revocation.
    pub revocation: Option<String>,
    /// RFC 7662 token introspection.
    pub introspection: Option<String>,
    /// The OIDC userinfo endpoint.
    pub userinfo: Option<String>,
}

impl Endpoints {
    /// The names a user asks for them by (`spec.secret.endpoints.<name>`, and
    /// `endpoints.<name>` in a template), with their URLs where known, in a fixed
    /// order.
    pub fn named(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("issuer", self.issuer.as_deref()),
            ("authorizationUrl", self.authorization.as_deref()),
            ("tokenUrl", self.token.as_deref()),
            ("discoveryUrl", self.discovery.as_deref()),
            ("jwksUrl", self.jwks.as_deref()),
            ("revocationUrl", self.revocation.as_deref()),
            ("introspectionUrl", self.introspection.as_deref()),
            ("userinfoUrl", self.userinfo.as_deref()),
        ]
    }

    /// The known endpoints by name.
    pub fn known(&self) -> BTreeMap<&'static str, String> {
        self.named()
            .into_iter()
            .filter_map(|(n, u)| Some((n, u?.to_string())))
            .collect()
    }

    /// Every endpoint name, known or not.
    pub const NAMES: [&'static str; 8] = [
        "issuer",
        "authorizationUrl",
        "tokenUrl",
        "discoveryUrl",
        "jwksUrl",
        "revocationUrl",
        "introspectionUrl",
        "userinfoUrl",
    ];
}

/// `base` (an origin, or an origin with a path prefix) joined with `path`
/// (which starts with `/`), without a doubled slash.
pub fn join(base: &str, path: &str) -> String {
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_asks_for_endpoints_by_these_names() {
        // `spec.secret.endpoints` has one field per name, spelt the same.
        let all: crate::api::client::SecretEndpoints =
            serde_json::from_value(serde_json::Value::Object(
                Endpoints::NAMES
                    .iter()
                    .map(|n| (n.to_string(), serde_json::json!(format!("KEY_{n}"))))
                    .collect(),
            ))
            .unwrap();
        let requested = all.requested();
        assert_eq!(requested.len(), Endpoints::NAMES.len());
        for (name, key) in requested {
            assert_eq!(key, format!("KEY_{name}"));
        }
        let json = serde_json::to_value(&all).unwrap();
        assert_eq!(json.as_object().unwrap().len(), Endpoints::NAMES.len());
    }
}
