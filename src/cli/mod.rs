//! The `clientops` command line: one binary, one subcommand per job.

pub mod crd;

use clap::{Parser, Subcommand};

/// clientops manages OAuth clients declaratively on Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "clientops", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the CustomResourceDefinitions as YAML (what `crds/` holds).
    Crd(crd::CrdArgs),
}

impl Cli {
    /// Run the chosen subcommand.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Crd(args) => args.run(),
        }
    }
}
