//! `clientops rotate NAME` and `clientops retire NAME`: stamp the annotation that
//! asks the controller to rotate the secret (or to retire the previous one now),
//! then wait until the controller has handled that exact request and say what
//! happened. The annotation is set with a JSON merge patch of
//! `metadata.annotations`, the same change as `kubectl annotate --overwrite`, so
//! GitOps tools and humans see nothing unusual. Secret values are never read.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use chrono::{SecondsFormat, Utc};
use clap::Args;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::api::OAuthClient;
use crate::api::annotations::{RETIRE_PREVIOUS, ROTATE};
use crate::api::client::RotationPhase;
use crate::api::common::parse_duration;
use crate::controller::plan::parse_time;

/// Field manager of the CLI's patches.
const FIELD_MANAGER: &str = "clientops-cli";
/// How often the object is read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// Arguments of `clientops rotate` and `clientops retire`.
#[derive(Args, Debug)]
pub struct RequestArgs {
    /// The OAuthClient's name.
    pub name: String,
    /// Its namespace (default: the kubeconfig context's namespace, else `default`).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, env = "CLIENTOPS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// How long to wait for the controller to act.
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Set the annotation and return without waiting for the controller.
    #[arg(long)]
    pub no_wait: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration such as 60s or 5m"))
}

/// Which request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `clientops.dev/rotate`: issue a new secret.
    Rotate,
    /// `clientops.dev/retire-previous`: end the running grace period now.
    Retire,
}

impl Request {
    fn annotation(self) -> &'static str {
        match self {
            Request::Rotate => ROTATE,
            Request::Retire => RETIRE_PREVIOUS,
        }
    }

    /// The value the controller records once it has handled a request.
    fn handled(self, o: &OAuthClient) -> Option<&str> {
        let r = o.status.as_ref()?.rotation.as_ref()?;
        match self {
            Request::Rotate => r.last_request.as_deref(),
            Request::Retire => r.last_retire_request.as_deref(),
        }
    }
}

/// A request value nobody has used before: an RFC 3339 timestamp with nanoseconds.
pub fn fresh_value() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

async fn kube_client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<(kube::Client, String)> {
    crate::tls::install_crypto_provider();
    let cfg = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer()
            .await
            .context("no Kubernetes configuration found (use --kubeconfig)")?,
    };
    let ns = cfg.default_namespace.clone();
    Ok((kube::Client::try_from(cfg)?, ns))
}

impl RequestArgs {
    /// Stamp the annotation, wait (unless `--no-wait`) and report.
    pub async fn run(self, request: Request) -> anyhow::Result<()> {
        let (client, default_ns) = kube_client(self.kubeconfig.as_ref()).await?;
        let ns = self.namespace.clone().unwrap_or(default_ns);
        let api: Api<OAuthClient> = Api::namespaced(client, &ns);
        let what = format!("OAuthClient {ns}/{}", self.name);

        let before = api
            .get_opt(&self.name)
            .await
            .with_context(|| format!("reading {what}"))?
            .ok_or_else(|| anyhow!("{what} not found"))?;
        if request == Request::Retire && !retiring(&before) {
            // Nothing runs a grace period: a retire request now would be recorded
            // as handled with nothing to do. Say so instead of pretending.
            println!(
                "{what} has no previous secret to retire (rotation phase {}); nothing to do",
                phase_name(&before)
            );
            return Ok(());
        }

        let value = fresh_value();
        let patch = json!({ "metadata": { "annotations": { request.annotation(): value } } });
        api.patch(
            &self.name,
            &PatchParams {
                field_manager: Some(FIELD_MANAGER.into()),
                ..Default::default()
            },
            &Patch::Merge(&patch),
        )
        .await
        .with_context(|| format!("annotating {what}"))?;
        println!("{what} annotated {}={value}", request.annotation());
        if self.no_wait {
            return Ok(());
        }

        let deadline = tokio::time::Instant::now() + self.timeout;
        let done = loop {
            let o = api
                .get_opt(&self.name)
                .await
                .with_context(|| format!("reading {what}"))?
                .ok_or_else(|| anyhow!("{what} was deleted while waiting"))?;
            if request.handled(&o) == Some(value.as_str()) {
                break o;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "timed out after {:?} waiting for the controller to handle {}={value} on {what}; Ready: {}",
                    self.timeout,
                    request.annotation(),
                    ready_summary(&o)
                );
            }
            tokio::time::sleep(POLL).await;
        };
        println!("{}", describe(request, &what, &done));
        Ok(())
    }
}

fn retiring(o: &OAuthClient) -> bool {
    phase(o) == Some(RotationPhase::Retiring)
}

fn phase(o: &OAuthClient) -> Option<RotationPhase> {
    o.status.as_ref()?.rotation.as_ref()?.phase
}

fn phase_name(o: &OAuthClient) -> &'static str {
    match phase(o) {
        Some(RotationPhase::Retiring) => "Retiring",
        Some(RotationPhase::Idle) | None => "Idle",
    }
}

/// `True (Ready)` / `False (ProviderNotReady: ...)` / `unknown (...)`.
fn ready_summary(o: &OAuthClient) -> String {
    let cond = o
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"));
    match cond {
        Some(c) if c.message.is_empty() => format!("{} ({})", c.status, c.reason),
        Some(c) => format!("{} ({}: {})", c.status, c.reason, c.message),
        None => {
            "no Ready condition yet (is the controller running and does it watch this namespace?)"
                .into()
        }
    }
}

/// What happened, in human terms, from the object's status. Never a secret value.
fn describe(request: Request, what: &str, o: &OAuthClient) -> String {
    let status = o.status.clone().unwrap_or_default();
    let rotation = status.rotation.clone().unwrap_or_default();
    let id = status.client_id.as_deref().unwrap_or("<unknown>");
    let secret = status.secret_name.as_deref().unwrap_or("<unknown>");
    match request {
        Request::Rotate => {
            let mut out = format!(
                "Rotated the secret of {what}: client id {id}, Secret {secret} holds the new secret"
            );
            if let Some(at) = &rotation.last_rotated_at {
                out.push_str(&format!(" (rotated at {at})"));
            }
            out.push_str(&format!(".\nRotation phase: {}", phase_name(o)));
            match (phase(o), rotation.previous_retires_at.as_deref()) {
                (Some(RotationPhase::Retiring), Some(at)) => {
                    let left = parse_time(at)
                        .map(|t| (t - Utc::now()).num_seconds().max(0))
                        .map(|s| format!(" (in {})", human_seconds(s)))
                        .unwrap_or_default();
                    out.push_str(&format!(
                        "; the previous secret stays valid until {at}{left}, then it is retired. \
                         Retire it now with `clientops retire {} -n {}`.",
                        o.metadata.name.as_deref().unwrap_or_default(),
                        o.metadata.namespace.as_deref().unwrap_or_default()
                    ));
                }
                _ => out.push_str("; the previous secret has been retired."),
            }
            out
        }
        Request::Retire => format!(
            "Retired the previous secret of {what}: client id {id}; only the current secret in Secret {secret} is valid now.\nRotation phase: {}.",
            phase_name(o)
        ),
    }
}

fn human_seconds(s: i64) -> String {
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{sec}s"),
        (0, _) => format!("{m}m{sec}s"),
        _ => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_rfc3339_with_nanos_and_unique() {
        let a = fresh_value();
        let b = fresh_value();
        assert!(parse_time(&a).is_some(), "{a}");
        assert!(a.ends_with('Z') && a.contains('.'), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_seconds(5), "5s");
        assert_eq!(human_seconds(65), "1m5s");
        assert_eq!(human_seconds(86400), "24h0m0s");
    }
}
