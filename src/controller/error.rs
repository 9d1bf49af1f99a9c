//! Why a reconcile did not finish.

use crate::provider::error::ProviderError;
use crate::provider::scoped::{ScopedProvider, Shown};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A provider call failed.
    #[error("{action}: {source}{}", credentials_hint(source))]
    Provider {
        action: &'static str,
        /// Shown through the provider object's door
        /// ([`crate::provider::scoped::ScopedProvider::shown`]), so what the far end
        /// said never reaches a tenant's condition without it.
        source: Shown,
    },
    /// A human must act; retrying unchanged will not help.
    #[error("{message}")]
    Stalled { reason: String, message: String },
}

impl Error {
    pub fn provider(action: &'static str, source: Shown) -> Self {
        Error::Provider { action, source }
    }

    /// `action` failed at `provider` with `e`, as the provider object's owner may
    /// read it.
    pub fn at(provider: &ScopedProvider, action: &'static str, e: ProviderError) -> Self {
        Error::provider(action, provider.shown(e))
    }

    /// A stable label for metrics and condition reasons.
    pub fn reason(&self) -> String {
        match self {
            Error::Kube(_) => "KubernetesError".into(),
            Error::Provider { source, .. } => match &**source {
                e if let Some(reason) = e.misconfiguration() => reason.into(),
                ProviderError::Invalid { .. } => "ProviderRejected".into(),
                ProviderError::Unauthorized { .. } => "ProviderUnauthorized".into(),
                ProviderError::Forbidden { .. } => "ProviderForbidden".into(),
                ProviderError::RateLimited { .. } => "ProviderRateLimited".into(),
                ProviderError::OutcomeUnknown { .. } => "OutcomeUnknown".into(),
                ProviderError::DeadlineExceeded { .. } => "DeadlineExceeded".into(),
                _ => "ProviderError".into(),
            },
            Error::Stalled { reason, .. } => reason.clone(),
        }
    }

    /// True when only a change by a human can help (Stalled), false when waiting can.
    pub fn is_stalled(&self) -> bool {
        match self {
            Error::Stalled { .. } => true,
            Error::Provider { source, .. } => {
                source.misconfiguration().is_some()
                    || matches!(
                        **source,
                        ProviderError::Invalid { .. }
                            | ProviderError::Unauthorized { .. }
                            | ProviderError::Forbidden { .. }
                            | ProviderError::Config { .. }
                    )
            }
            Error::Kube(_) => false,
        }
    }
}

/// What to check when a provider refuses the credentials.
pub fn credentials_hint(e: &ProviderError) -> &'static str {
    match e {
        ProviderError::Unauthorized { .. } | ProviderError::Forbidden { .. } => {
            "; check the provider's credentials Secret and that the token has the permissions OAuth Client Read and OAuth Client Write"
        }
        _ => "",
    }
}
