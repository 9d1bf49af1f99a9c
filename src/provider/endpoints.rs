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
    use crate::provider::model::Provider;

    fn cloudflare(base: &str) -> Endpoints {
        use crate::provider::cloudflare::{
            CloudflareClient, CloudflareConfig, CloudflareCredentials,
        };
        let config = CloudflareConfig::new("acct", CloudflareCredentials::api_token("t"))
            .with_base_url(base);
        let client = CloudflareClient::standalone(config).unwrap();
        crate::provider::cloudflare::adapter::CloudflareProvider::new(client).endpoints()
    }

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

    #[test]
    fn each_provider_publishes_its_endpoints() {
        // Cloudflare's API: the documented dashboard endpoints.
        let cf = cloudflare("https://api.cloudflare.com/client/v4");
        assert_eq!(cf.issuer.as_deref(), Some("https://dash.cloudflare.com"));
        assert_eq!(
            cf.token.as_deref(),
            Some(crate::provider::cloudflare::client::TOKEN_URL)
        );
        assert_eq!(
            cf.discovery.as_deref(),
            Some("https://dash.cloudflare.com/.well-known/openid-configuration")
        );
        assert_eq!(cf.introspection, None);
        // Another base URL (the emulator): the same paths at its origin.
        let emu = cloudflare("http://127.0.0.1:8787/client/v4");
        assert_eq!(
            emu.token.as_deref(),
            Some("http://127.0.0.1:8787/oauth2/token")
        );
        assert_eq!(
            emu.authorization.as_deref(),
            Some("http://127.0.0.1:8787/oauth2/auth")
        );

        use crate::provider::csp::{CspClient, CspConfig, CspCredentials, CspProvider};
        let csp = CspProvider::new(
            CspClient::standalone(
                CspConfig::new("org", CspCredentials::api_token("t"))
                    .with_base_url("https://console.cloud.vmware.com"),
            )
            .unwrap(),
        )
        .endpoints();
        assert_eq!(csp.issuer, None, "depends on the environment: not guessed");
        assert_eq!(
            csp.token.as_deref(),
            Some("https://console.cloud.vmware.com/csp/gateway/am/api/auth/token")
        );
        assert_eq!(
            csp.jwks.as_deref(),
            Some(
                "https://console.cloud.vmware.com/csp/gateway/am/api/auth/token-public-key?format=jwks"
            )
        );

        use crate::provider::hydra::{HydraClient, HydraConfig, HydraProvider};
        let hydra = |config: HydraConfig| {
            HydraProvider::new(HydraClient::standalone(config).unwrap()).endpoints()
        };
        assert_eq!(
            hydra(HydraConfig::new("http://127.0.0.1:4445")),
            Endpoints::default(),
            "none without spec.hydra.publicUrl"
        );
        let h = hydra(
            HydraConfig::new("http://127.0.0.1:4445")
                .with_public_url("https://auth.example.com/hydra/"),
        );
        assert_eq!(h.issuer.as_deref(), Some("https://auth.example.com/hydra/"));
        assert_eq!(
            h.token.as_deref(),
            Some("https://auth.example.com/hydra/oauth2/token")
        );
        assert_eq!(
            h.jwks.as_deref(),
            Some("https://auth.example.com/hydra/.well-known/jwks.json")
        );
        assert_eq!(h.introspection, None, "the admin API is not published");
    }

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
