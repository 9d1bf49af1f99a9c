//! Wire the controllers together and run them until a signal arrives: the
//! telemetry server first, then (with `--leader-elect`) the wait for the Lease,
//! then the controllers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action as Requeue, Controller};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, ObjectRef, reflector};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

use super::accounts::AccountCache;
use super::cache::{OwnWrites, ReadCache};
use super::context::{Context, FORCED_RESYNC_INTERVAL, Settings, SystemClock};
use super::fairness::{ForcedResyncs, InFlight, Workers};
use super::leader::{Elector, LeaseConfig};
use super::{providers, reconcile};
use crate::api::annotations::CLIENT_LABEL;
use crate::api::client::ProviderKind;
use crate::api::{ClusterOAuthProvider, OAuthClient, OAuthProvider};
use crate::provider::http::{HttpOptions, build_client};
use crate::provider::ratelimit::RateLimiterRegistry;
use crate::provider::url_policy::build_guarded_client;
use crate::telemetry::Metrics;
use crate::telemetry::auth::{MetricsAuth, MetricsAuthMode};
use crate::telemetry::server::{ReadyCheck, Refresh, router, serve};

/// What `clientops run` watches.
#[derive(Clone, Debug)]
pub struct Scope {
    /// Watch only this namespace (all when absent).
    pub namespace: Option<String>,
    /// Watch only OAuthClients matching this label selector (sharding).
    pub label_selector: Option<String>,
    /// Reconciles at a time.
    pub workers: u16,
    /// Provider objects checked at a time.
    pub provider_workers: u16,
    /// Watch ClusterOAuthProviders (off in a namespace-scoped install).
    pub cluster_providers: bool,
}

/// How `clientops run` runs: leader election and the telemetry endpoint.
#[derive(Clone, Debug, Default)]
pub struct Operations {
    /// Run the controllers only while holding this Lease (`--leader-elect`).
    pub leader_election: Option<LeaseConfig>,
    /// Serve `/metrics`, `/healthz` and `/readyz` here.
    pub metrics_addr: Option<SocketAddr>,
    /// Who may read `/metrics` (`--metrics-auth`).
    pub metrics_auth: MetricsAuthMode,
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Run the controllers.
pub async fn run(
    client: Client,
    settings: Settings,
    scope: Scope,
    ops: Operations,
) -> anyhow::Result<()> {
    crate::tls::install_crypto_provider();
    let metrics = Arc::new(Metrics::new());
    let http_options = HttpOptions {
        insecure_skip_tls_verify: settings.insecure_skip_tls_verify,
        ..Default::default()
    };
    let http = build_client(&http_options)?;
    let tenant_http = build_guarded_client(&http_options, settings.url_policy.clone())?;
    let (clients_api, secrets_api, ns_providers): (
        Api<OAuthClient>,
        Api<PartialObjectMeta<Secret>>,
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
    // The controller's own writes (status, finalizer) do not trigger a reconcile
    // (cache::OwnWrites); every other change does. The store still sees all.
    let own_writes = Arc::new(OwnWrites::default());
    let (store, writer) = reflector::store();
    let trigger = {
        let own = own_writes.clone();
        reflector(
            writer,
            // managedFields and kubectl's last-applied copy of the spec are never
            // read here: dropping them roughly halves what the store holds.
            watcher(clients_api, client_cfg).modify(|o| {
                o.metadata.managed_fields = None;
                if let Some(a) = o.metadata.annotations.as_mut() {
                    a.remove("kubectl.kubernetes.io/last-applied-configuration");
                }
            }),
        )
        .default_backoff()
        .applied_objects()
        .try_filter(move |o| futures::future::ready(!own.is_own(o)))
    };
    let controller = Controller::for_stream(trigger, store.clone());
    let synced = Arc::new(AtomicBool::new(false));

    let mut elector = ops
        .leader_election
        .clone()
        .map(|cfg| Elector::new(client.clone(), cfg));
    let election = elector
        .as_ref()
        .map(|e| (e.state.clone(), e.config().clone()));
    if let Some(addr) = ops.metrics_addr {
        let refresh: Refresh = {
            let (metrics, store, election) = (metrics.clone(), store.clone(), election.clone());
            Arc::new(move || {
                let state = store.state();
                metrics.refresh_clients(state.iter().map(|c| c.as_ref()), chrono::Utc::now());
                metrics.set_leader(election.as_ref().is_none_or(|(s, _)| s.is_leader()));
            })
        };
        let ready: ReadyCheck = {
            let (synced, election) = (synced.clone(), election.clone());
            Arc::new(move || {
                let synced = synced.load(Ordering::SeqCst);
                match &election {
                    None if synced => Ok("watches synced".into()),
                    None => Err("waiting for the first list of OAuthClients".into()),
                    Some((s, _)) if s.is_leader() && synced => Ok("leader; watches synced".into()),
                    Some((s, _)) if s.is_leader() => {
                        Err("leader; waiting for the first list of OAuthClients".into())
                    }
                    Some((s, cfg)) => match s.since_last_ok() {
                        Some(d) if d <= cfg.lease_duration => {
                            Ok("standby; the leader Lease is readable".into())
                        }
                        Some(d) => Err(format!(
                            "standby; no Lease read has succeeded for {}s",
                            d.as_secs()
                        )),
                        None => Err("standby; the Lease has not been read yet".into()),
                    },
                }
            })
        };
        let auth = ops
            .metrics_auth
            .required(addr)
            .then(|| Arc::new(MetricsAuth::new(client.clone())));
        if auth.is_none() {
            tracing::info!(%addr, "/metrics is served without authentication (--metrics-auth)");
        }
        serve(addr, router(metrics.clone(), refresh, ready, auth)).await?;
    }
    if let Some(e) = elector.as_mut() {
        tokio::select! {
            _ = e.acquire() => {}
            _ = shutdown_signal() => {
                tracing::info!("stopped while standing by");
                return Ok(());
            }
        }
    }
    metrics.set_leader(true);
    {
        let (store, synced) = (store.clone(), synced.clone());
        tokio::spawn(async move {
            // Poll with a timeout: the store's readiness signal wakes only the last
            // of several concurrent waiters (the controller itself waits on it
            // too), so a lone `wait_until_ready().await` can sleep for ever.
            loop {
                match tokio::time::timeout(
                    std::time::Duration::from_millis(500),
                    store.wait_until_ready(),
                )
                .await
                {
                    Ok(Ok(())) => break,
                    Ok(Err(_)) => return,
                    Err(_) => continue,
                }
            }
            synced.store(true, Ordering::SeqCst);
            tracing::info!("OAuthClient watch synced");
        });
    }

    let intent_keys = tokio::select! {
        keys = intent_keys(&client, &settings.operator_namespace) => Arc::new(keys?),
        _ = shutdown_signal() => {
            tracing::info!("stopped before the intent key was read");
            return Ok(());
        }
    };
    let reporter = Reporter {
        controller: "clientops".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let ctx = Arc::new(Context {
        reporter,
        client: client.clone(),
        settings: settings.clone(),
        clock: Arc::new(SystemClock),
        http,
        tenant_http,
        workers: Workers::new(usize::from(scope.workers)),
        in_flight: InFlight::default(),
        forced: ForcedResyncs::new(FORCED_RESYNC_INTERVAL),
        limiters: RateLimiterRegistry::with_wait_hook(metrics.wait_hook()),
        accounts: AccountCache::default(),
        cache: ReadCache::for_resync(settings.resync),
        own_writes,
        secret_memo: Arc::default(),
        clients: store.clone(),
        intent_keys,
        metrics: metrics.clone(),
    });

    // Account listings nobody asked for in two resync periods (a deleted or
    // renamed provider object's, a rotated credential's) are dropped.
    {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                // (Limiters: the registry sweeps itself when it hands one out.)
                let listings = ctx.accounts.evict_idle(ctx.settings.resync * 2).await;
                if listings > 0 {
                    tracing::debug!(listings, "dropped idle account listings");
                }
            }
        });
    }

    // A provider change re-queues every client that uses it.
    // It also drops the cached provider objects first (cache.rs), so the reconciles
    // it triggers read the new version.
    let by_cluster_provider = {
        let (store, ctx) = (store.clone(), ctx.clone());
        move |p: ClusterOAuthProvider| {
            ctx.cache.invalidate_providers();
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
        let (store, ctx) = (store.clone(), ctx.clone());
        move |p: OAuthProvider| {
            ctx.cache.invalidate_providers();
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

    // Secrets: metadata only (no secret data held in memory), and not our own writes
    // (the reconcile that wrote one already knows what it holds).
    // A change by anyone else also makes the controller forget what the Secret held
    // (secret_memo.rs); a watch error, and the start and end of a new list of them
    // all (a Secret deleted while the watch was down yields no event), forget
    // everything.
    let own_secrets = {
        let (own, memo) = (ctx.own_writes.clone(), ctx.secret_memo.clone());
        let memo_all = memo.clone();
        // With backoff: while the apiserver is away, a watch retried at once
        // would spin (the OAuthClient watch has had it all along).
        watcher(secrets_api, watcher::Config::default().labels(CLIENT_LABEL))
            .default_backoff()
            .inspect(move |e| {
                if matches!(
                    e,
                    Err(_) | Ok(watcher::Event::Init) | Ok(watcher::Event::InitDone)
                ) {
                    memo_all.forget_all();
                }
            })
            .touched_objects()
            .try_filter(move |s| futures::future::ready(!own.is_own(s)))
            .inspect_ok(move |s| {
                memo.forget(
                    s.metadata.namespace.as_deref().unwrap_or_default(),
                    s.metadata.name.as_deref().unwrap_or_default(),
                )
            })
    };
    let mut clients = controller.owns_stream(own_secrets);
    if scope.cluster_providers {
        clients = clients.watches(
            Api::<ClusterOAuthProvider>::all(client.clone()),
            watcher::Config::default(),
            by_cluster_provider,
        );
    }
    let clients = clients
        .watches(
            ns_providers.clone(),
            watcher::Config::default(),
            by_provider,
        )
        .with_config(kube::runtime::controller::Config::default().concurrency(scope.workers))
        .shutdown_on_signal()
        .run(
            |obj, ctx: Arc<Context>| async move {
                // No I/O before this: a namespace beyond its share of the
                // workers gives this one back at once (fairness.rs).
                let ns = obj.namespace().unwrap_or_default();
                let _worker = match ctx.workers.admit(&ns) {
                    Ok(slot) => slot,
                    Err(wait) => {
                        ctx.metrics.reconcile_deferred();
                        return Ok(Requeue::requeue(wait));
                    }
                };
                let started = Instant::now();
                let result = reconcile::reconcile_within_deadline(obj, ctx.clone()).await;
                ctx.metrics
                    .reconcile_done(result.is_ok(), started.elapsed());
                result
            },
            reconcile::error_policy,
            ctx.clone(),
        )
        .for_each(|r| async move { log_controller_error("OAuthClient", r) });
    // Provider objects are few and their checks are slow when a provider hangs:
    // a bounded number at a time, each within the reconcile deadline.
    let provider_workers =
        kube::runtime::controller::Config::default().concurrency(scope.provider_workers.max(1));
    let cluster_providers = async {
        if !scope.cluster_providers {
            return;
        }
        Controller::new(
            Api::<ClusterOAuthProvider>::all(client.clone()),
            watcher::Config::default(),
        )
        .with_config(provider_workers.clone())
        .shutdown_on_signal()
        .run(
            providers::reconcile_cluster,
            providers::error_policy,
            ctx.clone(),
        )
        .for_each(|r| async move { log_controller_error("ClusterOAuthProvider", r) })
        .await
    };
    let namespaced_providers = Controller::new(ns_providers, watcher::Config::default())
        .with_config(provider_workers.clone())
        .shutdown_on_signal()
        .run(
            providers::reconcile_namespaced,
            providers::error_policy,
            ctx.clone(),
        )
        .for_each(|r| async move { log_controller_error("OAuthProvider", r) });
    tracing::info!(namespace = ?scope.namespace, resync = ?settings.resync, "clientops controller started");
    let controllers = async {
        tokio::join!(clients, cluster_providers, namespaced_providers);
    };
    match elector {
        None => controllers.await,
        Some(mut e) => {
            let lost = tokio::select! {
                _ = controllers => None,
                lost = e.hold() => Some(lost),
            };
            match lost {
                // A clean shutdown (SIGTERM): hand the Lease over at once.
                None => e.release().await,
                Some(lost) => {
                    // Stop reconciling at once: another instance may be leading
                    // already. Exiting drops every in-flight reconcile; the
                    // Deployment restarts this pod, which rejoins as a standby.
                    tracing::error!(
                        reason = %lost.reason,
                        "lost leadership; exiting with status 1 so that this instance restarts as a standby"
                    );
                    std::process::exit(1);
                }
            }
        }
    }
    tracing::info!("clientops controller stopped");
    Ok(())
}

/// Log what a controller's stream reports: watch failures (typically RBAC: the
/// apiserver's message names the verb and resource) as warnings; reconcile
/// failures are logged by the error policies already.
/// The intent key (`intent_key`), once for this process: read, or created at the
/// operator's first start. Retried while the apiserver cannot be asked; a Secret
/// holding no usable key stops the operator with the fix.
async fn intent_keys(
    client: &Client,
    namespace: &str,
) -> anyhow::Result<super::intent_proof::IntentKeys> {
    let mut wait = std::time::Duration::from_millis(200);
    loop {
        match super::intent_key::load_or_create(client, namespace).await {
            Ok(keys) => return Ok(keys),
            Err(e) if e.transient() => {
                tracing::warn!(error = %e, hint = %rbac_hint(&e.to_string()), "could not read the intent key; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn log_controller_error<K, E, Q>(
    controller: &str,
    r: Result<(ObjectRef<K>, Requeue), kube::runtime::controller::Error<E, Q>>,
) where
    K: kube::Resource,
    E: std::error::Error + 'static,
    Q: std::error::Error + 'static,
{
    use kube::runtime::controller::Error as CtlError;
    match r {
        Ok(_) => {}
        Err(CtlError::QueueError(e)) => {
            tracing::warn!(controller, error = %e, "watch failed{}", rbac_hint(&e.to_string()));
        }
        Err(e) => tracing::debug!(controller, error = %e, "controller event"),
    }
}

/// When an apiserver error is an RBAC denial, say what to grant.
pub fn rbac_hint(message: &str) -> String {
    if message.contains("forbidden") {
        "; the controller's ServiceAccount lacks a permission the message names (see deploy/base/clusterrole.yaml)".into()
    } else {
        String::new()
    }
}
