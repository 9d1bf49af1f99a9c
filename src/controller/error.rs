//! Why a reconcile did not finish.

use crate::provider::error::ProviderError;
use crate::provider::scoped::ScopedProvider;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A provider call failed.
    #[error("{action}: {source}{}", credentials_hint(source))]
    Provider {
        action: &'static str,
        source: ProviderError,
    },
    /// A human must act; retrying unchanged will not help.
    #[error("{message}")]
    Stalled { reason: String, message: String },
}

impl Error {
    pub fn provider(action: &'static str, source: ProviderError) -> Self {
        Error::Provider { action, source }
    }

    /// This error as the owner of `provider`'s object may read it (see
    /// [`ScopedProvider::shown`]).
    pub fn shown_through(self, provider: &ScopedProvider) -> Self {
        match self {
            Error::Provider { action, source } => Error::Provider {
                action,
                source: provider.shown(source),
            },
            other => other,
        }
    }

    /// A stable label for metrics and condition reasons.
    pub fn reason(&self) -> String {
        match self {
            Error::Kube(_) => "KubernetesError".into(),
            Error::Provider { source, .. } => match source {
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
                        source,
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
