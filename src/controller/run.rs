//! Wire the controllers together and run them until a signal arrives.

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use super::accounts::AccountCache;
use super::context::{Context, Settings, SystemClock};
use super::{providers, reconcile};
use crate::api::annotations::CLIENT_LABEL;
use crate::api::client::ProviderKind;
use crate::api::{ClusterOAuthProvider, OAuthClient, OAuthProvider};
use crate::provider::http::{HttpOptions, build_client};
use crate::provider::ratelimit::RateLimiterRegistry;

/// What `clientops run` watches.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// Watch only this namespace (all when absent).
    pub namespace: Option<String>,
    /// Watch only OAuthClients matching this label selector (sharding).
    pub label_selector: Option<String>,
    /// Reconciles at a time.
    pub workers: u16,
}

/// Run the controllers.
pub async fn run(client: Client, settings: Settings, scope: Scope) -> anyhow::Result<()> {
    crate::tls::install_crypto_provider();
    let http = build_client(&HttpOptions {
        insecure_skip_tls_verify: settings.insecure_skip_tls_verify,
        ..Default::default()
    })?;
    let (clients_api, secrets_api, ns_providers): (
        Api<OAuthClient>,
        Api<Secret>,
        Api<OAuthProvider>,
    ) = match &scope.namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (
            Api::all(client.clone()),
            Api::all(client.clone()),
            Api::all(client.clone()),
        ),
    };
    let mut client_cfg = watcher::Config::default().any_semantic();
    if let Some(sel) = &scope.label_selector {
        client_cfg = client_cfg.labels(sel);
    }
    let controller = Controller::new(clients_api, client_cfg);
    let store = controller.store();

    let reporter = Reporter {
        controller: "clientops".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), reporter),
        client: client.clone(),
        settings: settings.clone(),
        clock: Arc::new(SystemClock),
        http,
        limiters: RateLimiterRegistry::new(),
        accounts: AccountCache::default(),
        clients: store.clone(),
    });

    // A provider change re-queues every client that uses it.
    let by_cluster_provider = {
        let store = store.clone();
        move |p: ClusterOAuthProvider| {
            let name = p.name_any();
            store
                .state()
                .iter()
                .filter(|c| {
                    c.spec.provider_ref.kind == ProviderKind::ClusterOAuthProvider
                        && c.spec.provider_ref.name == name
                })
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>()
        }
    };
    let by_provider = {
        let store = store.clone();
        move |p: OAuthProvider| {
            let (name, ns) = (p.name_any(), p.namespace());
            store
                .state()
                .iter()
                .filter(|c| {
                    c.spec.provider_ref.kind == ProviderKind::OAuthProvider
                        && c.spec.provider_ref.name == name
                        && c.namespace() == ns
                })
                .map(|c| ObjectRef::from_obj(c.as_ref()))
                .collect::<Vec<_>>()
        }
    };

    let clients = controller
        .owns(secrets_api, watcher::Config::default().labels(CLIENT_LABEL))
        .watches(
            Api::<ClusterOAuthProvider>::all(client.clone()),
            watcher::Config::default(),
            by_cluster_provider,
        )
        .watches(
            ns_providers.clone(),
            watcher::Config::default(),
            by_provider,
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(scope.workers))
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "controller event");
            }
        });
    let cluster_providers = Controller::new(
        Api::<ClusterOAuthProvider>::all(client.clone()),
        watcher::Config::default(),
    )
    .shutdown_on_signal()
    .run(
        providers::reconcile_cluster,
        providers::error_policy,
        ctx.clone(),
    )
    .for_each(|_| async {});
    let namespaced_providers = Controller::new(ns_providers, watcher::Config::default())
        .shutdown_on_signal()
        .run(
            providers::reconcile_namespaced,
            providers::error_policy,
            ctx.clone(),
        )
        .for_each(|_| async {});
    tracing::info!(namespace = ?scope.namespace, resync = ?settings.resync, "clientops controller started");
    tokio::join!(clients, cluster_providers, namespaced_providers);
    tracing::info!("clientops controller stopped");
    Ok(())
}
