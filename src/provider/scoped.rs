//! A provider as one provider object sees it: its own account key, and, for a
//! provider object a tenant wrote (a namespaced `OAuthProvider`), errors that carry
//! no byte of what the far end answered.
//!
//! Why the key: the drift LIST of an account is cached and shared by every client
//! of that account ([`crate::controller::accounts`]). Keyed by URL and account
//! alone, a tenant's OAuthProvider naming production's account would read (and
//! fill) production's listing. The scoped key adds who configured the provider
//! (the cluster scope, or one namespaced provider object) and a digest of its
//! credentials, so a listing is only ever served to the same credentials of the
//! same provider object.
//!
//! Why the redaction: a tenant chooses where a namespaced provider points. Were a
//! response body, a redirect's `Location` or the difference between "connection
//! refused" and "timed out" copied into the conditions the tenant reads, the
//! operator would be a proxy and a port scanner for whatever its pod can reach.
//! The full error is logged for the operator's admin (debug level); the tenant
//! sees the status code and the class of failure.

use async_trait::async_trait;

use super::error::{ProviderError, ProviderMessage};
use super::model::{
    ClientFields, CreatedClient, Field, Provider, RemoteClient, SecretCheck, SecretIssuance,
};
use crate::secret::ClientSecret;

/// Wraps a provider client for one provider object.
pub struct ScopedProvider {
    inner: Box<dyn Provider>,
    account_key: String,
    tenant_facing: bool,
}

impl ScopedProvider {
    /// `scope` names the provider object (empty for the cluster scope) and
    /// `credentials_digest` its credentials; `tenant_facing` redacts errors.
    pub fn new(
        inner: Box<dyn Provider>,
        scope: &str,
        credentials_digest: &str,
        tenant_facing: bool,
    ) -> Self {
        let account_key = format!("{scope}|{credentials_digest}|{}", inner.account_key());
        Self {
            inner,
            account_key,
            tenant_facing,
        }
    }

    fn map<T>(&self, r: Result<T, ProviderError>) -> Result<T, ProviderError> {
        match r {
            Err(e) if self.tenant_facing => {
                tracing::debug!(provider = self.inner.kind(), error = %e, "provider call failed (redacted for the tenant)");
                Err(redact(e))
            }
            other => other,
        }
    }
}

/// `e` without anything the far end said: status codes and classes only.
pub fn redact(e: ProviderError) -> ProviderError {
    let stripped = |messages: Vec<ProviderMessage>| -> Vec<ProviderMessage> {
        // Codes are kept (a number says nothing a status code does not); texts and
        // pointers are the far end's words.
        messages
            .into_iter()
            .filter_map(|m| {
                m.code
                    .map(|c| ProviderMessage::new(Some(c), "(text withheld)", None))
            })
            .collect()
    };
    match e {
        ProviderError::NotFound { messages } => ProviderError::NotFound {
            messages: stripped(messages),
        },
        ProviderError::Unauthorized { messages } => ProviderError::Unauthorized {
            messages: stripped(messages),
        },
        ProviderError::Forbidden { messages } => ProviderError::Forbidden {
            messages: stripped(messages),
        },
        ProviderError::Invalid { status, messages } => ProviderError::Invalid {
            status,
            messages: stripped(messages),
        },
        ProviderError::Conflict { messages } => ProviderError::Conflict {
            messages: stripped(messages),
        },
        ProviderError::RateLimited {
            retry_after,
            messages,
        } => ProviderError::RateLimited {
            retry_after,
            messages: stripped(messages),
        },
        ProviderError::Server { status, messages } => ProviderError::Server {
            status,
            messages: stripped(messages),
        },
        ProviderError::UnexpectedStatus { status, .. } => ProviderError::UnexpectedStatus {
            status,
            message: "response withheld (a namespaced provider's responses are not shown)".into(),
        },
        // Refused, reset and timed out look the same: no port scanning.
        ProviderError::Transport { message } => ProviderError::Transport {
            message: transport_class(&message).into(),
        },
        ProviderError::UntrustedCertificate { .. } => ProviderError::UntrustedCertificate {
            message: "details withheld".into(),
        },
        ProviderError::OutcomeUnknown { operation, .. } => ProviderError::OutcomeUnknown {
            operation,
            cause: "the response was lost".into(),
        },
        ProviderError::Decode { .. } => ProviderError::Decode {
            message: "details withheld".into(),
        },
        // Our own words (configuration, policy, budgets): nothing from the far end.
        other => other,
    }
}

/// The one class a tenant may learn of a transport failure. (A refusal by the
/// URL policy is not one: the HTTP layer turns it into a configuration error in
/// our own words, which is kept.)
fn transport_class(_message: &str) -> &'static str {
    "the provider could not be reached (connection failed, was closed or timed out)"
}

#[async_trait]
impl Provider for ScopedProvider {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    fn account_key(&self) -> &str {
        &self.account_key
    }
    async fn check_credentials(&self) -> Result<(), ProviderError> {
        self.map(self.inner.check_credentials().await)
    }
    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError> {
        self.map(self.inner.list().await)
    }
    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError> {
        self.map(self.inner.get(id).await)
    }
    async fn create(
        &self,
        fields: &ClientFields,
        marker: &str,
    ) -> Result<CreatedClient, ProviderError> {
        self.map(self.inner.create(fields, marker).await)
    }
    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError> {
        self.map(self.inner.update(id, fields, changed).await)
    }
    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.map(self.inner.delete(id).await)
    }
    async fn rotate(&self, id: &str) -> Result<ClientSecret, ProviderError> {
        self.map(self.inner.rotate(id).await)
    }
    async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        self.map(self.inner.retire(id).await)
    }
    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        self.map(self.inner.verify_secret(id, secret).await)
    }
    fn supports_grace(&self) -> bool {
        self.inner.supports_grace()
    }
    fn chooses_client_id(&self) -> bool {
        self.inner.chooses_client_id()
    }
    fn secret_issuance(&self) -> SecretIssuance {
        self.inner.secret_issuance()
    }
    fn generate_secret(&self) -> Option<ClientSecret> {
        self.inner.generate_secret()
    }
    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        grace: std::time::Duration,
    ) -> Result<(), ProviderError> {
        self.map(self.inner.rotate_to(id, new, grace).await)
    }
    async fn create_with(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Option<Result<RemoteClient, ProviderError>> {
        let r = self.inner.create_with(fields, id, secret).await?;
        Some(self.map(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::error::Operation;

    #[test]
    fn redaction_keeps_status_and_class_and_drops_the_far_ends_words() {
        let body = "internal admin page: secret=hunter2 at 10.0.0.7";
        let cases = vec![
            ProviderError::Server {
                status: 502,
                messages: vec![ProviderMessage::new(Some("7".into()), body, None)],
            },
            ProviderError::Invalid {
                status: 400,
                messages: vec![ProviderMessage::new(None, body, Some("/x".into()))],
            },
            ProviderError::UnexpectedStatus {
                status: 307,
                message: format!("redirect to http://10.0.0.7/{body}"),
            },
            ProviderError::Transport {
                message: format!("connection refused: {body}"),
            },
            ProviderError::outcome_unknown(Operation::Create, body),
            ProviderError::decode(body),
            ProviderError::untrusted_certificate(body),
        ];
        for e in cases {
            let kind = e.kind();
            let r = redact(e);
            assert_eq!(r.kind(), kind, "the class is kept");
            let text = r.to_string();
            assert!(
                !text.contains("hunter2")
                    && !text.contains("10.0.0.7")
                    && !text.contains("admin page"),
                "{text}"
            );
        }
        let r = redact(ProviderError::Server {
            status: 502,
            messages: vec![],
        });
        assert!(r.to_string().contains("502"), "the status code is kept");
        // Refused and timed out read the same.
        let a = redact(ProviderError::transport("connection refused")).to_string();
        let b = redact(ProviderError::transport("operation timed out")).to_string();
        assert_eq!(a, b);
    }
}
