//! `clientops run`: the controller.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::api::common::parse_duration;
use crate::controller::context::Settings;
use crate::controller::leader::LeaseConfig;
use crate::controller::run::{Operations, Scope, run};
use crate::provider::list_budget::ListBudget;
use crate::provider::url_policy::UrlPolicyArgs;

/// Arguments of `clientops run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Kubeconfig to use (default: in-cluster config, then $KUBECONFIG, then ~/.kube/config).
    #[arg(long, env = "CLIENTOPS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The operator's own namespace: a ClusterOAuthProvider without namespaceSelector
    /// serves only this one.
    #[arg(long, env = "POD_NAMESPACE", default_value = "clientops-system")]
    pub operator_namespace: String,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Watch only OAuthClients with these labels (e.g. `shard=a`), to split the work.
    #[arg(long)]
    pub label_selector: Option<String>,
    /// How often each client is compared with the provider; one LIST per provider
    /// account per period. Jittered by ±10%.
    #[arg(long, default_value = "10m", value_parser = parse_period)]
    pub resync: Duration,
    /// Serve ClusterOAuthProviders (needs cluster-wide read access to them and to
    /// namespaces). A namespace-scoped install (deploy/overlays/namespaced) sets
    /// `false` and uses namespaced OAuthProviders only.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub cluster_providers: bool,
    /// Reconciles at a time (one per object at most).
    #[arg(long, default_value_t = 8)]
    pub workers: u16,
    /// Accept provider TLS certificates without verification. Never use in production.
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
    /// Log format: `text` or `json`.
    #[arg(long, default_value = "text")]
    pub log_format: String,
    /// Run the controllers only while holding a coordination.k8s.io Lease, so that
    /// several replicas can run and exactly one reconciles. A leader that loses the
    /// Lease exits with status 1 (and is restarted as a standby).
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader Lease (default: the operator namespace).
    #[arg(long)]
    pub leader_election_namespace: Option<String>,
    /// Name of the leader Lease.
    #[arg(long, default_value = "clientops")]
    pub leader_election_id: String,
    /// Where to serve /metrics, /healthz and /readyz (`off` to disable; port 0
    /// picks a free port).
    #[arg(long, default_value = "0.0.0.0:8080", value_parser = parse_metrics_addr)]
    pub metrics_addr: MetricsAddr,
    /// Who may read /metrics: `kubernetes` (a bearer token the apiserver
    /// authenticates, allowed to `get` the non-resource URL /metrics), `none`, or
    /// `auto`: `kubernetes` unless --metrics-addr is a loopback address.
    /// /healthz and /readyz are always open.
    #[arg(long, value_enum, default_value = "auto")]
    pub metrics_auth: crate::telemetry::auth::MetricsAuthMode,
    /// Where namespaced OAuthProviders (a tenant's) may point.
    #[command(flatten)]
    pub url_policy: UrlPolicyArgs,
    /// The longest one reconcile may take (provider calls, rate-limit waits, the
    /// account lock); then it ends and is retried, so a hanging provider cannot
    /// hold a worker.
    #[arg(long, default_value = "60s", value_parser = parse_period)]
    pub reconcile_deadline: Duration,
    /// The most pages one LIST of a provider account may read.
    #[arg(long, default_value_t = crate::provider::list_budget::DEFAULT_LIST_MAX_PAGES)]
    pub list_max_pages: u32,
    /// The most bytes one LIST of a provider account may read, across all pages.
    #[arg(long, default_value_t = crate::provider::list_budget::DEFAULT_LIST_MAX_BYTES)]
    pub list_max_bytes: u64,
    /// How often each client's Secret is proven to work at the provider (a check at
    /// its token endpoint: one or two provider requests). Each client has its own
    /// slot in the period, so checks spread evenly; they also run after every
    /// rotation and repair and on `clientops.dev/reconcile`. `0s`: only then.
    #[arg(long, default_value = "24h", value_parser = parse_period)]
    pub credential_check_interval: Duration,
    /// Provider objects checked at a time (their Ready condition).
    #[arg(long, default_value_t = 2)]
    pub provider_workers: u16,
    /// The operator's projected service-account token for workload identity
    /// federation (`spec.entra.auth.workloadIdentity` of a ClusterOAuthProvider),
    /// read at each token request. Default: `$AZURE_FEDERATED_TOKEN_FILE`, as
    /// Azure Workload Identity's webhook sets it; unset: no provider object may
    /// use the operator's identity.
    #[arg(long, env = "CLIENTOPS_FEDERATED_TOKEN_FILE")]
    pub federated_token_file: Option<PathBuf>,
}

/// `--metrics-addr`: an address, or `off`.
#[derive(Clone, Debug)]
pub struct MetricsAddr(pub Option<SocketAddr>);

fn parse_metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    if s == "off" {
        return Ok(MetricsAddr(None));
    }
    s.parse()
        .map(|a| MetricsAddr(Some(a)))
        .map_err(|e| format!("{s:?} is not an address such as 0.0.0.0:8080 or off: {e}"))
}

fn parse_period(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration such as 10m or 30s"))
}

impl RunArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        crate::cli::init_logging(&self.log_format);
        if self.insecure_skip_tls_verify {
            tracing::warn!(
                "--insecure-skip-tls-verify: provider TLS certificates are NOT verified"
            );
        }
        let client = match &self.kubeconfig {
            Some(path) => {
                let kc = kube::config::Kubeconfig::read_from(path)?;
                let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
                kube::Client::try_from(cfg)?
            }
            None => kube::Client::try_default().await?,
        };
        let leader_election = self.leader_elect.then(|| {
            LeaseConfig::new(
                self.leader_election_namespace
                    .clone()
                    .unwrap_or_else(|| self.operator_namespace.clone()),
                self.leader_election_id.clone(),
            )
        });
        let ops = Operations {
            leader_election,
            metrics_addr: self.metrics_addr.0,
            metrics_auth: self.metrics_auth,
        };
        let url_policy = self.url_policy.policy();
        let settings = Settings {
            reconcile_deadline: self.reconcile_deadline,
            list_budget: ListBudget {
                max_pages: self.list_max_pages,
                max_bytes: self.list_max_bytes,
            },
            // At most half the workers per namespace on a saturated account.
            fair_share: usize::from(self.workers / 2).max(1),
            url_policy: Arc::new(url_policy),
            insecure_skip_tls_verify: self.insecure_skip_tls_verify,
            credential_check_every: Some(self.credential_check_interval).filter(|d| !d.is_zero()),
            federated_token_file: self.federated_token_file.clone().or_else(|| {
                std::env::var_os("AZURE_FEDERATED_TOKEN_FILE")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            }),
            ..Settings::new(&self.operator_namespace, self.resync)
        };
        let scope = Scope {
            namespace: self.namespace,
            label_selector: self.label_selector,
            cluster_providers: self.cluster_providers,
            workers: self.workers,
            provider_workers: self.provider_workers,
        };
        run(client, settings, scope, ops).await
    }
}
