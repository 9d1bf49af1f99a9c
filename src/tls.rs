//! TLS set-up shared by every HTTPS client in the binary.
//!
//! The whole binary uses rustls with the `ring` crypto provider: kube's `ring`
//! feature selects it for the Kubernetes client, and reqwest is built with
//! `rustls-no-provider`, so it takes the process-wide default provider. That default
//! has to be installed before the first reqwest client is built (reqwest panics
//! otherwise); [`install_crypto_provider`] does it, and the provider clients call it
//! themselves, so a caller cannot forget.

use std::sync::Once;

static INSTALL: Once = Once::new();

/// Install rustls' `ring` provider as the process-wide default. Idempotent and
/// cheap after the first call. When some other code installed a provider first,
/// that one stays (rustls allows exactly one default), which is logged at debug.
pub fn install_crypto_provider() {
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_some() {
            tracing::debug!("a rustls crypto provider is already installed; keeping it");
            return;
        }
        if rustls::crypto::ring::default_provider()
            .install_default()
            .is_err()
        {
            // Lost a race with another installer: a provider is in place, which is
            // all that matters.
            tracing::debug!("a rustls crypto provider was installed concurrently");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_leaves_a_provider() {
        install_crypto_provider();
        install_crypto_provider();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
