//! The Microsoft Entra ID part of the benchmark: `clientops emulate entra` with
//! one tenant and clientops' operator identity (`Application.ReadWrite.OwnedBy`),
//! the provider block, the client fields, and the ideal's remote calls.
//!
//! What the ideal does per client is what clientops must do to hand out a client
//! whose credentials work (the emulator's credential check, like Entra's token
//! endpoint, accepts an application's password only once the application has a
//! service principal in the tenant):
//!
//! 1. `PATCH /v1.0/applications(uniqueName='…')` with `Prefer: create-if-missing`
//!    (the idempotent create by a chosen name; 201 with the application);
//! 2. `POST /v1.0/servicePrincipals {appId}`;
//! 3. `POST /v1.0/applications(appId='…')/addPassword` (the secret, once);
//!
//! plus one token request per phase: the access token is cached and shared by
//! every worker, as a controller keeps one per tenant until it expires (an hour).

use anyhow::{Context as _, bail};
use kube::ResourceExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use clientops::api::OAuthClient;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OPERATOR_ID: &str = "11111111-2222-4333-8444-555555555555";
const OPERATOR_SECRET: &str = "bench-operator-secret-0123456789";
/// The Secret (in the operator namespace) holding the operator's client secret.
const CREDENTIALS: &str = "entra-operator";

/// `clientops emulate entra` flags after the listen address: the tenant and the
/// operator exist from the start (and again after `/__emulator/reset`).
pub fn emulator_args(rate_limit: &str) -> Vec<String> {
    [
        "entra",
        "--rate-limit",
        rate_limit,
        "--tenant",
        TENANT,
        "--operator",
        &format!("{OPERATOR_ID}:{OPERATOR_SECRET}"),
    ]
    .map(String::from)
    .to_vec()
}

/// The operator's credentials Secret in `ns`.
pub fn credentials_secret(ns: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": CREDENTIALS, "namespace": ns},
           "stringData": {"secret": OPERATOR_SECRET}})
}

/// `spec.entra` of a ClusterOAuthProvider for the emulator at `base` (Graph and
/// the login endpoint are both at the emulator's origin).
pub fn provider_block(base: &str, operator_ns: &str) -> Value {
    json!({
        "tenantId": TENANT,
        "authorityUrl": base,
        "graphUrl": base,
        "auth": {"clientId": OPERATOR_ID,
            "clientSecretSecretRef": {"namespace": operator_ns, "name": CREDENTIALS, "key": "secret"}},
    })
}

/// The spec fields only Entra takes: none (the defaults: web redirect URIs,
/// accounts of this tenant). Entra has no per-application scopes.
pub fn client_fields() -> Value {
    json!({})
}

/// The ideal's remote half (see the module doc).
pub struct Ideal {
    base: String,
    token: OnceCell<String>,
}

impl Ideal {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            token: OnceCell::new(),
        }
    }

    /// The operator's access token, asked for once.
    async fn token(&self, http: &reqwest::Client) -> anyhow::Result<&str> {
        let token = self
            .token
            .get_or_try_init(|| async {
                let form = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("grant_type", "client_credentials")
                    .append_pair("client_id", OPERATOR_ID)
                    .append_pair("client_secret", OPERATOR_SECRET)
                    .append_pair("scope", "https://graph.microsoft.com/.default")
                    .finish();
                let v: Value = http
                    .post(format!("{}/{TENANT}/oauth2/v2.0/token", self.base))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                v["access_token"]
                    .as_str()
                    .map(String::from)
                    .context("no access_token in the token answer")
            })
            .await?;
        Ok(token)
    }

    /// `(client_id, client_secret)` of a new application for `c`.
    pub async fn create(
        &self,
        http: &reqwest::Client,
        c: &OAuthClient,
    ) -> anyhow::Result<(String, String)> {
        let token = self.token(http).await?;
        let graph = format!("{}/v1.0", self.base);
        let name = c.name_any();
        let unique_name = format!("bench-{}", c.uid().unwrap_or_default());
        let r = http
            .patch(format!("{graph}/applications(uniqueName='{unique_name}')"))
            .bearer_auth(token)
            .header("prefer", "create-if-missing")
            .json(&json!({
                "displayName": c.spec.client_name,
                "signInAudience": "AzureADMyOrg",
                "web": {"redirectUris": c.spec.redirect_uris},
            }))
            .send()
            .await?
            .error_for_status()?;
        if r.status() != StatusCode::CREATED {
            bail!("upsert of {name}: {} (not created)", r.status());
        }
        let app: Value = r.json().await?;
        let app_id = app["appId"]
            .as_str()
            .with_context(|| format!("upsert of {name}: no appId"))?
            .to_string();
        http.post(format!("{graph}/servicePrincipals"))
            .bearer_auth(token)
            .json(&json!({"appId": app_id}))
            .send()
            .await?
            .error_for_status()?;
        let p: Value = http
            .post(format!(
                "{graph}/applications(appId='{app_id}')/addPassword"
            ))
            .bearer_auth(token)
            .json(&json!({"passwordCredential": {"displayName": "bench"}}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let secret = p["secretText"]
            .as_str()
            .with_context(|| format!("addPassword of {name}: no secretText"))?
            .to_string();
        Ok((app_id, secret))
    }
}
