//! `clientops crd`: print the CRDs.

use std::io::Write;

use clap::Args;

/// Arguments of `clientops crd`.
#[derive(Args, Debug)]
pub struct CrdArgs {}

impl CrdArgs {
    /// Write every CRD to standard output as one YAML stream.
    pub fn run(self) -> anyhow::Result<()> {
        let yaml = crate::api::crds::render_yaml()?;
        std::io::stdout().lock().write_all(yaml.as_bytes())?;
        Ok(())
    }
}
