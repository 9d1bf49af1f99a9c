//! The endpoints each provider publishes ([`Endpoints`], an API type: users ask
//! for them by name in `spec.secret`).

pub use crate::api::endpoints::{Endpoints, join};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::model::Provider;
    use crate::provider::transport::ProviderClient;

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
