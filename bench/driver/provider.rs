//! Which provider the benchmark runs against (`--provider`): everything else in
//! the driver (the apiserver side, the phases, the measurements, the emulator's
//! admin API for request counters and credential checks) is the same for all.
//! Each provider's part is in its own module.

use serde_json::Value;

use clientops::api::OAuthClient;

use crate::{cloudflare, entra};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// Cloudflare's account OAuth clients (`clientops emulate cloudflare`).
    Cloudflare,
    /// Microsoft Entra ID app registrations (`clientops emulate entra`).
    Entra,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Cloudflare => "cloudflare",
            Provider::Entra => "entra",
        }
    }

    /// `clientops emulate ...` arguments: the provider and its flags (the driver
    /// adds `--listen 127.0.0.1:0`).
    pub fn emulator_args(self, rate_limit: &str) -> Vec<String> {
        match self {
            Provider::Cloudflare => cloudflare::emulator_args(rate_limit),
            Provider::Entra => entra::emulator_args(rate_limit),
        }
    }

    /// The Secret with clientops' own credentials at the provider, in `ns`.
    pub fn credentials_secret(self, ns: &str) -> Value {
        match self {
            Provider::Cloudflare => cloudflare::credentials_secret(ns),
            Provider::Entra => entra::credentials_secret(ns),
        }
    }

    /// A ClusterOAuthProvider's provider block for the emulator at `base`, with
    /// the credentials of [`Provider::credentials_secret`] in `operator_ns`.
    pub fn provider_block(self, base: &str, operator_ns: &str) -> Value {
        match self {
            Provider::Cloudflare => cloudflare::provider_block(base, operator_ns),
            Provider::Entra => entra::provider_block(base, operator_ns),
        }
    }

    /// The OAuthClient spec fields only this provider takes (merged over the
    /// common ones).
    pub fn client_fields(self) -> Value {
        match self {
            Provider::Cloudflare => cloudflare::client_fields(),
            Provider::Entra => entra::client_fields(),
        }
    }

    /// The ideal's remote calls against the emulator at `base`.
    pub fn ideal(self, base: &str) -> IdealRemote {
        match self {
            Provider::Cloudflare => IdealRemote::Cloudflare(cloudflare::Ideal::new(base)),
            Provider::Entra => IdealRemote::Entra(entra::Ideal::new(base)),
        }
    }
}

/// The least a controller must ask of the provider to hand out one working
/// client.
pub enum IdealRemote {
    Cloudflare(cloudflare::Ideal),
    Entra(entra::Ideal),
}

impl IdealRemote {
    /// `(client_id, client_secret)` of a new remote client for `c`.
    pub async fn create(
        &self,
        http: &reqwest::Client,
        c: &OAuthClient,
    ) -> anyhow::Result<(String, String)> {
        match self {
            IdealRemote::Cloudflare(i) => i.create(http, c).await,
            IdealRemote::Entra(i) => i.create(http, c).await,
        }
    }
}
