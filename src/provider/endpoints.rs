//! The public OAuth/OIDC endpoints of a provider account: what a workload needs
//! beside its client id and secret to log users in or fetch tokens
//! (`spec.secret.endpoints` and `spec.secret.template` publish them).
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
    fn names_are_in_a_fixed_order_and_only_known_ones_are_listed() {
        let e = Endpoints {
            issuer: Some("https://id.example.com/".into()),
            token: Some("https://id.example.com/token".into()),
            ..Default::default()
        };
        let names: Vec<_> = e.named().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, Endpoints::NAMES);
        assert_eq!(
            e.known().keys().copied().collect::<Vec<_>>(),
            ["issuer", "tokenUrl"]
        );
        assert_eq!(
            join("https://a.example.com/", "/oauth2/token"),
            "https://a.example.com/oauth2/token"
        );
        assert_eq!(
            join("https://a.example.com/p", "/x"),
            "https://a.example.com/p/x"
        );
    }
}
