//! The Cloudflare part of the benchmark: its emulator, provider block, client
//! fields and the ideal's one remote call (a create that returns the secret).

use anyhow::Context as _;
use kube::ResourceExt;
use serde_json::{Value, json};

use clientops::api::OAuthClient;

const ACCOUNT: &str = "023e105f4ecef8ad9ca31a8372d0c353";
const TOKEN: &str = "bench-token";
/// The Secret (in the operator namespace) holding the API token.
const CREDENTIALS: &str = "cf-api";

/// `clientops emulate cloudflare` flags after the listen address.
pub fn emulator_args(rate_limit: &str) -> Vec<String> {
    ["cloudflare", "--token", TOKEN, "--rate-limit", rate_limit]
        .map(String::from)
        .to_vec()
}

/// The operator's credentials Secret in `ns`.
pub fn credentials_secret(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": CREDENTIALS, "namespace": ns},
           "stringData": {"token": TOKEN}})
}

/// `spec.cloudflare` of a ClusterOAuthProvider for the emulator at `base`.
pub fn provider_block(base: &str, operator_ns: &str) -> Value {
    json!({
        "accountId": ACCOUNT,
        "baseUrl": api_url(base),
        "auth": {"apiTokenSecretRef": {"namespace": operator_ns, "name": CREDENTIALS, "key": "token"}},
    })
}

/// The spec fields only Cloudflare takes.
pub fn client_fields() -> Value {
    json!({"scopes": ["account.read"]})
}

fn api_url(base: &str) -> String {
    format!("{base}/client/v4")
}

/// The ideal's remote half: one `POST .../oauth_clients`, which answers with the
/// client id and its secret.
pub struct Ideal {
    api_url: String,
}

impl Ideal {
    pub fn new(base: &str) -> Self {
        Self {
            api_url: api_url(base),
        }
    }

    /// `(client_id, client_secret)` of a new remote client for `c`.
    pub async fn create(
        &self,
        http: &reqwest::Client,
        c: &OAuthClient,
    ) -> anyhow::Result<(String, String)> {
        let resp: Value = http
            .post(format!("{}/accounts/{ACCOUNT}/oauth_clients", self.api_url))
            .bearer_auth(TOKEN)
            .json(&json!({
                "client_name": c.spec.client_name,
                "redirect_uris": c.spec.redirect_uris,
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "scopes": ["account.read"],
                "token_endpoint_auth_method": "client_secret_basic",
            }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let field = |k: &str| {
            resp["result"][k]
                .as_str()
                .map(String::from)
                .with_context(|| format!("create {}: no {k} in the answer", c.name_any()))
        };
        Ok((field("client_id")?, field("client_secret")?))
    }
}
