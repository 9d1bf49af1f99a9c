//! A provider as one provider object sees it: its own account key, and, for a
//! provider object a tenant wrote (a namespaced `OAuthProvider`), errors shown
//! with no byte of what the far end answered.
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
//!
//! How: [`ScopedProvider`] wraps no method. It dereferences to the provider for
//! every call (the controller decides on the error's class, which redaction
//! keeps), and a provider error leaves for what anyone reads through one door,
//! [`ScopedProvider::shown`], which alone makes a [`Shown`]. The controller's
//! errors and observations carry provider errors only as [`Shown`]
//! (`controller::Error::Provider`, `observe::provider_unavailable`), so a path that
//! would put a provider's answer into a condition, an event or a log line without
//! the door does not compile: redaction by construction, at no cost to the calls.

use std::ops::Deref;

use super::error::{ProviderError, ProviderMessage};
use super::model::Provider;

/// A provider client for one provider object: the provider itself (by
/// dereference), the account key of that object, and how its errors are shown.
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
        let account_key = scoped_key(scope, credentials_digest, inner.account());
        Self {
            inner,
            account_key,
            tenant_facing,
        }
    }

    /// The key of the account as this provider object sees it: the unit of rate
    /// limiting and of the drift LIST.
    pub fn account_key(&self) -> &str {
        &self.account_key
    }

    /// `e` as the provider object's owner may read it: without the far end's words
    /// when a tenant wrote the object (logged in full at debug level), else as it is.
    pub fn shown(&self, e: ProviderError) -> Shown {
        if !self.tenant_facing {
            return Shown(e);
        }
        tracing::debug!(provider = self.inner.kind(), error = %e, "provider call failed (redacted for the tenant)");
        Shown(redact(e))
    }
}

/// A provider error as the owner of the provider object may read it. Only
/// [`ScopedProvider::shown`] makes one; it reads as the [`ProviderError`] it holds
/// (its class, its retry time), which nothing can take out again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown(ProviderError);

impl Deref for Shown {
    type Target = ProviderError;

    fn deref(&self) -> &ProviderError {
        &self.0
    }
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Shown {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Deref for ScopedProvider {
    type Target = dyn Provider;

    fn deref(&self) -> &Self::Target {
        &*self.inner
    }
}

/// The key of an account's listing as one provider object sees it.
fn scoped_key(scope: &str, credentials_digest: &str, account_key: &str) -> String {
    format!("{scope}|{credentials_digest}|{account_key}")
}

/// `e` without anything the far end said: status codes and classes only.
pub fn redact(e: ProviderError) -> ProviderError {
    let stripped = |messages: Vec<ProviderMessage>| -> Vec<ProviderMessage> {
        // A code that is a class (a number, or a short snake_case word such as
        // OAuth's `invalid_request`) is kept; any other code, every text and every
        // pointer is the far end's words.
        messages
            .into_iter()
            .filter_map(|m| m.code.filter(|c| is_class(c)))
            .map(|c| ProviderMessage::new(Some(c), "(text withheld)", None))
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
        ProviderError::UnexpectedStatus { status, .. } if (300..400).contains(&status) => {
            ProviderError::UnexpectedStatus {
                status,
                message: "the provider answered with a redirect; redirects are not followed (its Location is withheld: a namespaced provider's responses are not shown); point the URL at the final location".into(),
            }
        }
        ProviderError::UnexpectedStatus { status, .. } => ProviderError::UnexpectedStatus {
            status,
            message: "response withheld (a namespaced provider's responses are not shown)".into(),
        },
        // Refused, reset and timed out look the same: no port scanning.
        ProviderError::Transport { .. } => ProviderError::Transport {
            message: TRANSPORT_CLASS.into(),
        },
        ProviderError::UntrustedCertificate { message } => ProviderError::UntrustedCertificate {
            message: certificate_class(&message),
        },
        ProviderError::OutcomeUnknown { operation, .. } => ProviderError::OutcomeUnknown {
            operation,
            cause: "the response was lost".into(),
        },
        ProviderError::Decode { message } => ProviderError::Decode {
            message: decode_class(&message),
        },
        // Our own words (configuration, policy, budgets): nothing from the far end.
        other => other,
    }
}

/// A provider's error code that names a class, not a text.
fn is_class(code: &str) -> bool {
    code.len() <= 32
        && !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'_')
}

/// Why a certificate was not trusted, as rustls classes it (`UnknownIssuer`,
/// `Expired`, `NotValidForName`, ...): never the names or dates in it.
fn certificate_class(message: &str) -> String {
    let class: String = message
        .split("invalid peer certificate: ")
        .nth(1)
        .unwrap_or_default()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .take(40)
        .collect();
    if class.is_empty() {
        "details withheld".into()
    } else {
        format!("invalid peer certificate: {class} (details withheld)")
    }
}

/// What was wrong with a response, as a class: a decoder's message may quote
/// the body (`invalid type: string "..."`), so only our own words are kept.
fn decode_class(message: &str) -> String {
    if let Some(rest) = message.split("larger than ").nth(1) {
        let limit: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if !limit.is_empty() {
            return format!("the response body is larger than {limit} bytes");
        }
    }
    if message.contains("not valid JSON") {
        if message.contains("recursion limit exceeded") {
            return "the response is not valid JSON (recursion limit exceeded)".into();
        }
        return "the response is not valid JSON (details withheld)".into();
    }
    "the response does not have the expected shape (details withheld)".into()
}

/// The one class a tenant may learn of a transport failure. (A refusal by the
/// URL policy is not one: the HTTP layer turns it into a configuration error in
/// our own words, which is kept.)
const TRANSPORT_CLASS: &str =
    "the provider could not be reached (connection failed, was closed or timed out)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::error::Operation;

    #[test]
    fn a_listing_is_shared_only_by_the_same_scope_and_credentials() {
        let account = "cloudflare|https://api.cloudflare.com/client/v4|acct";
        let admin = scoped_key("", "d1", account);
        assert_eq!(
            admin,
            scoped_key("", "d1", account),
            "the admin's providers share"
        );
        assert_ne!(
            admin,
            scoped_key("team/p/uid", "d1", account),
            "a tenant's is its own"
        );
        assert_ne!(
            admin,
            scoped_key("", "d2", account),
            "other credentials, other listing"
        );
    }

    /// A provider of which only the name and account are asked.
    struct Named;

    #[async_trait::async_trait]
    impl Provider for Named {
        fn kind(&self) -> &'static str {
            "named"
        }
        fn account(&self) -> &str {
            "https://idp.example|acct"
        }
        async fn check_credentials(&self) -> Result<(), ProviderError> {
            unreachable!()
        }
        async fn list(&self) -> Result<Vec<crate::provider::model::RemoteClient>, ProviderError> {
            unreachable!()
        }
        async fn get(
            &self,
            _: &str,
        ) -> Result<Option<crate::provider::model::RemoteClient>, ProviderError> {
            unreachable!()
        }
        async fn update(
            &self,
            _: &str,
            _: &crate::provider::model::ClientFields,
            _: &[crate::provider::model::Field],
        ) -> Result<crate::provider::model::RemoteClient, ProviderError> {
            unreachable!()
        }
        async fn delete(&self, _: &str) -> Result<(), ProviderError> {
            unreachable!()
        }
        fn creation(&self) -> crate::provider::model::Creation<'_> {
            unreachable!()
        }
        fn secrets(&self) -> crate::provider::model::Secrets<'_> {
            unreachable!()
        }
    }

    #[test]
    fn a_tenants_provider_shows_errors_redacted_and_the_admins_in_full() {
        let far_end = || ProviderError::Server {
            status: 502,
            messages: vec![ProviderMessage::new(None, "admin page at 10.0.0.7", None)],
        };
        let tenant = ScopedProvider::new(Box::new(Named), "team/p/uid", "d1", true);
        let shown = tenant.shown(far_end()).to_string();
        assert!(
            shown.contains("502") && !shown.contains("10.0.0.7"),
            "{shown}"
        );
        let admin = ScopedProvider::new(Box::new(Named), "", "d1", false);
        assert!(admin.shown(far_end()).to_string().contains("10.0.0.7"));
        // The key is the object's; the calls go to the provider itself.
        assert_eq!(
            tenant.account_key(),
            "team/p/uid|d1|https://idp.example|acct"
        );
        assert_eq!(tenant.kind(), "named");
    }

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
        // A code that is text (Hydra's body `error` field) is withheld; a class kept.
        let r = redact(ProviderError::Invalid {
            status: 400,
            messages: vec![
                ProviderMessage::new(Some("hunter2 is the admin password".into()), body, None),
                ProviderMessage::new(Some("invalid_request".into()), body, None),
            ],
        });
        let text = r.to_string();
        assert!(
            !text.contains("hunter2") && text.contains("invalid_request"),
            "{text}"
        );
        // Classes of decode and TLS failures survive; what the far end sent does not.
        let r = redact(ProviderError::decode(
            "the body is not valid JSON (invalid type: string \"hunter2\", expected u64)",
        ));
        assert!(r.to_string().contains("not valid JSON") && !r.to_string().contains("hunter2"));
        let r = redact(ProviderError::decode(
            "the response body is larger than 67108864 bytes",
        ));
        assert!(r.to_string().contains("larger than 67108864 bytes"), "{r}");
        let r = redact(ProviderError::untrusted_certificate(
            "invalid peer certificate: NotValidForNameContext { presented: [\"admin.internal\"] }",
        ));
        let text = r.to_string();
        assert!(
            text.contains("NotValidForNameContext") && !text.contains("admin.internal"),
            "{text}"
        );
        let r = redact(ProviderError::UnexpectedStatus {
            status: 307,
            message: "the provider redirected to http://10.0.0.7/admin; redirects are not followed"
                .into(),
        });
        let text = r.to_string();
        assert!(
            text.contains("redirects are not followed") && !text.contains("10.0.0.7"),
            "{text}"
        );
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
