//! The operator's own identity for workload identity federation: a token the
//! kubelet projects into the operator's pod (a service-account token with the
//! audience the provider trusts, e.g. Entra ID's `api://AzureADTokenExchange`),
//! sent as a `client_assertion` instead of a secret.
//!
//! Only the admin's provider objects may use it (`Connect::federated_token`
//! refuses a tenant's): the token proves the operator itself, and a namespaced
//! provider object chooses where its requests go.

use std::fmt;
use std::path::{Path, PathBuf};

use super::error::ProviderError;
use crate::secret::ClientSecret;

/// The file the kubelet keeps the projected token in; read at each use, since
/// the kubelet replaces it before it expires.
#[derive(Clone)]
pub struct FederatedToken {
    path: PathBuf,
}

impl FederatedToken {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// Where the token is read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The token as it is now. Errors name the file and the flag, never the
    /// token.
    pub fn read(&self) -> Result<ClientSecret, ProviderError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            ProviderError::config(format!(
                "the operator's federated token file {} cannot be read ({}); check --federated-token-file and the projected token volume",
                self.path.display(),
                e.kind()
            ))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(ProviderError::config(format!(
                "the operator's federated token file {} is empty",
                self.path.display()
            )));
        }
        Ok(ClientSecret::new(token.to_string()))
    }
}

impl fmt::Debug for FederatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedToken")
            .field("path", &self.path)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_at_each_use_and_errors_never_show_it() {
        let dir = std::env::temp_dir().join(format!("clientops-fed-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        let t = FederatedToken::new(&file);
        let missing = t.read().unwrap_err().to_string();
        assert!(missing.contains("--federated-token-file"), "{missing}");
        std::fs::write(&file, "eyJ.first.sig\n").unwrap();
        assert_eq!(t.read().unwrap().expose(), "eyJ.first.sig");
        std::fs::write(&file, "eyJ.second.sig").unwrap();
        assert_eq!(
            t.read().unwrap().expose(),
            "eyJ.second.sig",
            "the kubelet's new token"
        );
        std::fs::write(&file, "  \n").unwrap();
        assert!(t.read().is_err());
        assert!(!format!("{t:?}").contains("eyJ"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
