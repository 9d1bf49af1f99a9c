//! Small types shared by the provider kinds and `OAuthClient`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A reference to one key of a Kubernetes Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Namespace of the Secret. A `ClusterOAuthProvider` must set it; a namespaced
    /// `OAuthProvider` must leave it empty, because it reads credentials only from its
    /// own namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's data whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A reference to one key of a Secret in the same namespace as the referring object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalSecretKeyRef {
    /// Name of the Secret, in the namespace of this object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's data whose value is used.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// Regular expression of a Go-style duration as Kubernetes and CEL's `duration()` accept
/// it, for example `2160h`, `90m`, `1h30m`, `45s`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$";

/// Regular expression of a DNS-1123 subdomain (the rule for Secret names).
pub const DNS1123_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Regular expression of a key in a Secret's `data`.
pub const SECRET_KEY_PATTERN: &str = r"^[-._a-zA-Z0-9]+$";
