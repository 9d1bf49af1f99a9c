//! Field inventory (docs/security.md): every provider kind in the registry reads
//! every credential its block names, and checks every URL its block names, through
//! the `Connect` it is given: the one place where a tenant's rules apply (the
//! credentials namespace, the URL policy). The expected fields come from the CRD
//! (the provider block's secret references and URL leaves), so a new credential or
//! URL field that `connect` reads past `Connect` fails here.
//!
//! Connections, if a kind makes any while connecting, go to a closed loopback port.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};

use clientops::api::ClusterOAuthProvider;
use clientops::api::common::SecretKeyRef;
use clientops::api::provider::{ProviderBlocks, ProviderType};
use clientops::provider::http::RequestHook;
use clientops::provider::list_budget::ListBudget;
use clientops::provider::ratelimit::RateLimiterRegistry;
use clientops::provider::registry::{Connect, ConnectError, KINDS};

/// Loopback, a port nothing listens on (the discard port).
const URL: &str = "http://127.0.0.1:9";

/// What a kind asked of its `Connect`.
#[derive(Default)]
struct Recorder {
    credentials: Mutex<BTreeSet<String>>,
    urls: Mutex<BTreeSet<String>>,
}

#[async_trait]
impl Connect for Recorder {
    async fn credential(&self, r: &SecretKeyRef, field: &str) -> Result<String, ConnectError> {
        assert_eq!(r.name, "creds", "{field}: the Secret the block names");
        self.credentials.lock().unwrap().insert(field.to_string());
        Ok("a-credential".into())
    }
    fn check_url(&self, field: &str, url: &str) -> Result<(), ConnectError> {
        assert_eq!(url, URL, "{field}: the URL the block names");
        self.urls.lock().unwrap().insert(field.to_string());
        Ok(())
    }
    fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
    fn limiters(&self) -> RateLimiterRegistry {
        RateLimiterRegistry::default()
    }
    fn list_budget(&self) -> ListBudget {
        ListBudget::default()
    }
    fn request_hook(&self, _provider: &'static str) -> RequestHook {
        Arc::new(|_| {})
    }
}

/// Every way to write a block of type `t` (one per choice of credentials), with
/// every optional field set, URLs at [`URL`], Secrets named `creds`: the suite
/// kind's ([`support::kinds::by_type`]).
fn variants(t: ProviderType) -> Vec<Value> {
    let r = json!({"namespace": "ops", "name": "creds", "key": "k"});
    (support::kinds::by_type(t).provider)(URL, r)
}

/// The secret references (objects with `name` and `key`) and the URL leaves
/// (`url`, `…Url`) of the provider block at `path` in `schema`.
fn expected(path: &str, schema: &Value, refs: &mut BTreeSet<String>, urls: &mut BTreeSet<String>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    if props.contains_key("name") && props.contains_key("key") {
        refs.insert(path.to_string());
        return;
    }
    for (name, sub) in props {
        let p = format!("{path}.{name}");
        if sub.get("properties").is_some() {
            expected(&p, sub, refs, urls);
        } else if name == "url" || name.ends_with("Url") {
            urls.insert(p);
        }
    }
}

#[tokio::test]
async fn every_kind_reads_each_credential_and_checks_each_url_through_connect() {
    clientops::tls::install_crypto_provider();
    let crd = serde_json::to_value(
        clientops::api::crds::all()
            .into_iter()
            .find(|c| c.spec.names.kind == "ClusterOAuthProvider")
            .unwrap()
            .spec
            .versions[0]
            .schema
            .clone(),
    )
    .unwrap();
    let spec = &crd["openAPIV3Schema"]["properties"]["spec"];
    for kind in KINDS {
        let t = kind.provider_type();
        let block = t.block_name();
        let (mut want_refs, mut want_urls) = (BTreeSet::new(), BTreeSet::new());
        expected(
            &format!("spec.{block}"),
            &spec["properties"][block],
            &mut want_refs,
            &mut want_urls,
        );
        assert!(!want_urls.is_empty(), "{block}: a block without a URL?");
        let env = Recorder::default();
        for v in variants(t) {
            let mut s = json!({});
            s[block] = v;
            let obj: ClusterOAuthProvider = serde_json::from_value(json!({
                "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
                "metadata": {"name": "p"}, "spec": s,
            }))
            .unwrap_or_else(|e| panic!("{block}: {e}"));
            let blocks: &ProviderBlocks = &obj.spec.provider;
            // A kind that talks to its server while connecting fails at the closed
            // port; what it asked for before is what counts.
            let _ = kind.connect(blocks, &env).await;
        }
        assert_eq!(
            *env.credentials.lock().unwrap(),
            want_refs,
            "{}: credentials read through Connect, against every secret reference of {block}",
            kind.title()
        );
        assert_eq!(
            *env.urls.lock().unwrap(),
            want_urls,
            "{}: URLs checked through Connect, against every URL field of {block}",
            kind.title()
        );
    }
}
