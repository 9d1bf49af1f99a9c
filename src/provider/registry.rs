//! The provider kinds clientops knows, and everything the rest of the code needs
//! from one. A kind owns its spec blocks (the provider object's and the
//! OAuthClient's): it parses, defaults and validates its client block, compares its
//! own fields ([`super::model::ProviderFields`]), and builds a [`Provider`] from its
//! provider block and credentials. The controller never names a provider; adding one
//! is its folder, its CRD fields, and one line in [`KINDS`] (docs/architecture.md).

use std::sync::Arc;

use async_trait::async_trait;

use super::error::ProviderError;
use super::federated_token::FederatedToken;
use super::list_budget::ListBudget;
use super::model::{ClientFields, Provider};
use super::ratelimit::{RateLimitConfig, RateLimiter, RateLimiterRegistry};
use crate::api::client::OAuthClientSpec;
use crate::api::common::{SecretKeyRef, SpecError, parse_duration};
use crate::api::provider::{ProviderBlocks, ProviderType, RateLimit};
use crate::provider::http::RequestHook;
use crate::provider::transport::{ClientConfig, ProviderClient};

/// Every provider kind, one per [`ProviderType`] (a unit test checks it).
pub static KINDS: &[&dyn Kind] = &[
    &super::cloudflare::kind::CloudflareKind,
    &super::csp::kind::CspKind,
    &super::hydra::kind::HydraKind,
    &super::keycloak::kind::KeycloakKind,
    &super::entra::kind::EntraKind,
];

/// One kind of provider.
#[async_trait]
pub trait Kind: Send + Sync + 'static {
    /// Its name in `status.providerType`, and its block's name in both CRDs.
    fn provider_type(&self) -> ProviderType;
    /// Its name for people, e.g. `Ory Hydra`.
    fn title(&self) -> &'static str;
    /// The spec path of its block, e.g. `spec.hydra`.
    fn block(&self) -> &'static str {
        self.provider_type().spec_path()
    }
    /// The scopes the provider gives a client whose spec sets none (checked
    /// against an admin's scope policy).
    fn default_scopes(&self) -> &'static [&'static str] {
        &[]
    }
    /// This kind's part of the desired client: `fields` holds the shared fields with
    /// their defaults; set `fields.own` from its block, apply its own defaults (so
    /// they are never drift), and refuse what it cannot represent, naming the field
    /// and the fix. The CRD checks the block's own rules only when the manifest has
    /// the block, so rules on shared fields are checked here.
    fn desire(&self, spec: &OAuthClientSpec, fields: &mut ClientFields) -> Result<(), SpecError>;
    /// A provider client for the provider object's block, with credentials and URLs
    /// obtained through `env` (which applies who may read and reach what). A call
    /// made here that fails returns [`ConnectError::far_end`] with the error as it
    /// came: never formatted into a message, so that the controller can withhold
    /// the far end's words from a tenant (`tests/tenant_far_end.rs` checks every
    /// kind).
    async fn connect(
        &self,
        blocks: &ProviderBlocks,
        env: &dyn Connect,
    ) -> Result<Connected, ConnectError>;
}

/// The kind of a provider type.
pub fn kind(t: ProviderType) -> &'static dyn Kind {
    *KINDS
        .iter()
        .find(|k| k.provider_type() == t)
        .expect("every provider type has a kind in KINDS")
}

/// The kind whose block a provider object sets; `None` when zero or several are set
/// (admission refuses that, an apiserver without CEL would not).
pub fn kind_of_provider(blocks: &ProviderBlocks) -> Option<&'static dyn Kind> {
    blocks.provider_type().map(kind)
}

/// The kind whose block an OAuthClient sets, if any.
pub fn kind_of_client(spec: &OAuthClientSpec) -> Result<Option<&'static dyn Kind>, SpecError> {
    let mut set = KINDS.iter().filter(|k| spec.has_block(k.provider_type()));
    match (set.next(), set.next()) {
        (first, None) => Ok(first.copied()),
        _ => Err(SpecError::new(
            "spec",
            "set at most one provider-specific block",
        )),
    }
}

/// What building a provider client may use: the controller's resources, with the
/// rules of who wrote the provider object applied.
#[async_trait]
pub trait Connect: Send + Sync {
    /// A credential from a Secret the provider object refers to at `field`.
    async fn credential(&self, r: &SecretKeyRef, field: &str) -> Result<String, ConnectError>;
    /// Refuse a URL at `field` this provider object may not reach.
    fn check_url(&self, field: &str, url: &str) -> Result<(), ConnectError>;
    /// The HTTP client for this provider object.
    fn http(&self) -> reqwest::Client;
    /// Its rate limiters (scoped to who wrote the provider object).
    fn limiters(&self) -> RateLimiterRegistry;
    /// The cap on one whole LIST.
    fn list_budget(&self) -> ListBudget;
    /// The metrics hook for a provider's requests.
    fn request_hook(&self, provider: &'static str) -> RequestHook;
    /// The operator's own identity for workload identity federation, asked for at
    /// `field`: only for the admin's provider objects (a tenant's chooses where
    /// its requests go, and would receive the operator's token), and only where
    /// the operator was started with a federated token file.
    fn federated_token(&self, field: &str) -> Result<FederatedToken, ConnectError> {
        Err(ConnectError::invalid(format!(
            "{field}: the operator's own identity is not available here"
        )))
    }
}

/// A provider client built by [`Kind::connect`].
pub struct Connected {
    pub provider: Box<dyn Provider>,
    pub limiter: Arc<RateLimiter>,
    /// A digest of the credentials: part of the listing key, never shown.
    pub credentials_digest: String,
}

/// Why a provider object gives no client: a condition reason and message.
///
/// `message` is clientops' own words (the field, what to fix). What the far end
/// answered, when a call made while connecting failed, is kept apart in
/// `far_end` and never formatted into `message` by a kind: the controller shows
/// it through [`ConnectError::shown`], which withholds the far end's words for a
/// provider object a tenant wrote, whatever the kind (the same redaction as
/// [`super::scoped::ScopedProvider`] applies to its later calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectError {
    pub reason: String,
    pub message: String,
    /// Worth retrying (a Secret not there yet), not a configuration to fix.
    pub transient: bool,
    /// The failed call's error, if the far end was asked.
    pub far_end: Option<ProviderError>,
}

impl ConnectError {
    /// A provider object that must be fixed (`InvalidProvider`).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            reason: "InvalidProvider".into(),
            message: message.into(),
            transient: false,
            far_end: None,
        }
    }

    /// A call to the provider made while connecting failed: `context` says, in
    /// our words, what was being done (`spec.keycloak: reading the realm's client
    /// policies`); `error` is kept apart (see the type's docs).
    pub fn far_end(
        reason: &str,
        context: impl Into<String>,
        transient: bool,
        error: ProviderError,
    ) -> Self {
        Self {
            reason: reason.into(),
            message: context.into(),
            transient,
            far_end: Some(error),
        }
    }

    /// The condition message: `message`, then the far end's error, without the
    /// far end's words when `tenant_facing` (status codes and classes only; the
    /// full error is logged at debug level for the admin).
    pub fn shown(&self, tenant_facing: bool) -> String {
        match &self.far_end {
            None => self.message.clone(),
            Some(e) if tenant_facing => {
                tracing::debug!(error = %e, context = %self.message, "connecting to a provider failed (redacted for the tenant)");
                format!("{}: {}", self.message, super::scoped::redact(e.clone()))
            }
            Some(e) => format!("{}: {e}", self.message),
        }
    }
}

/// The provider client of `kind` for a provider object: `config` with the
/// object's `spec.rateLimit` (else the config's default), and `env`'s LIST
/// budget, HTTP client, limiters and request metrics (labelled with the kind's
/// name). An invalid config is the provider object's to fix (`InvalidProvider`,
/// naming the block). What every [`Kind::connect`] ends with.
pub fn open_client<C: ProviderClient>(
    kind: &dyn Kind,
    mut config: C::Config,
    blocks: &ProviderBlocks,
    env: &dyn Connect,
) -> Result<C, ConnectError> {
    let transport = config.transport();
    transport.rate_limit = rate_limit(blocks, transport.rate_limit);
    transport.list_budget = env.list_budget();
    let client = C::new(config, env.http(), &env.limiters())
        .map_err(|e| ConnectError::invalid(format!("{}: {e}", kind.block())))?;
    Ok(client.with_request_hook(env.request_hook(kind.provider_type().block_name())))
}

/// `spec.rateLimit` of a provider object, or the provider's default.
pub fn rate_limit(blocks: &ProviderBlocks, default: RateLimitConfig) -> RateLimitConfig {
    let r: Option<&RateLimit> = blocks.rate_limit.as_ref();
    r.and_then(|r| {
        parse_duration(&r.period).map(|p| RateLimitConfig::new(r.requests.max(1) as u32, p))
    })
    .unwrap_or(default)
}

/// A digest of credential values: part of the listing key, never shown.
pub fn digest(values: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for v in values {
        h.update(v.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_type_has_exactly_one_kind() {
        for t in ProviderType::ALL {
            let n = KINDS.iter().filter(|k| k.provider_type() == t).count();
            assert_eq!(n, 1, "{t:?}");
        }
        assert_eq!(KINDS.len(), ProviderType::ALL.len());
    }

    #[test]
    fn a_connect_error_shows_a_tenant_no_word_of_the_far_end() {
        use crate::provider::error::ProviderMessage;
        let body = "internal-admin-page says leaky-value-7731";
        let cases = [
            ProviderError::Server {
                status: 502,
                messages: vec![ProviderMessage::new(None, body, None)],
            },
            ProviderError::Unauthorized {
                messages: vec![ProviderMessage::new(Some(body.into()), body, None)],
            },
            ProviderError::UnexpectedStatus {
                status: 307,
                message: format!("redirected to http://leaky-value-7731.internal/{body}"),
            },
            ProviderError::decode(format!("invalid type: string {body:?}")),
        ];
        for e in cases {
            let c = ConnectError::far_end("ProviderUnavailable", "spec.x: connecting", true, e);
            let tenant = c.shown(true);
            assert!(tenant.starts_with("spec.x: connecting: "), "{tenant}");
            assert!(
                !tenant.contains("leaky-value") && !tenant.contains("admin-page"),
                "{tenant}"
            );
            assert!(
                c.shown(false).contains("leaky-value"),
                "the admin's providers show it"
            );
        }
        assert_eq!(ConnectError::invalid("ours").shown(true), "ours");
    }
}
