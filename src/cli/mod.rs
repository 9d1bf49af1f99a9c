//! The `clientops` command line: one binary, one subcommand per job.

pub mod admission;
pub mod crd;
pub mod emulate;
pub mod rotate;
pub mod run;
pub mod version;

use clap::{Parser, Subcommand};

/// clientops manages OAuth clients declaratively on Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "clientops", version = version::long_version(), about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML (what `crds/` holds).
    Crd(crd::CrdArgs),
    /// Print the ValidatingAdmissionPolicy of `deploy/admission/` with its
    /// provider-specific part generated from the provider kinds.
    AdmissionPolicy(admission::AdmissionPolicyArgs),
    /// Run a provider emulator: `clientops emulate cloudflare --listen 127.0.0.1:8787`.
    Emulate(emulate::EmulateArgs),
    /// Run the controller.
    Run(run::RunArgs),
    /// Rotate an OAuthClient's secret now (sets `clientops.dev/rotate`) and wait
    /// until the controller has done it.
    Rotate(rotate::RequestArgs),
    /// Retire the previous secret of an OAuthClient now, ending its grace period
    /// (sets `clientops.dev/retire-previous`), and wait until the controller has done it.
    Retire(rotate::RequestArgs),
}

impl Cli {
    /// Run the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Crd(args) => args.run(),
            Command::AdmissionPolicy(args) => args.run(),
            Command::Emulate(args) => args.run().await,
            Command::Run(args) => args.run().await,
            Command::Rotate(args) => args.run(rotate::Request::Rotate).await,
            Command::Retire(args) => args.run(rotate::Request::Retire).await,
        }
    }
}

/// Set up logging once: `text` (default) or `json`, filtered by `RUST_LOG`
/// (default `info`).
pub fn init_logging(format: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: not in files, `kubectl logs` or log shippers.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
