//! Names users type: annotations, labels and the finalizer.

/// A value different from `status.rotation.lastRequest` starts one rotation.
pub const ROTATE: &str = "clientops.dev/rotate";
/// A new value ends a running grace period now.
pub const RETIRE_PREVIOUS: &str = "clientops.dev/retire-previous";
/// A new value forces an immediate resync against the provider.
pub const RECONCILE: &str = "clientops.dev/reconcile";
/// Label on every Secret clientops writes: the OAuthClient's name.
pub const CLIENT_LABEL: &str = "clientops.dev/client";
/// Set on the Secret by the write that carries a new secret.
pub const ROTATED_AT: &str = "clientops.dev/rotated-at";
/// The finalizer that lets clientops delete (or orphan) the remote client.
pub const FINALIZER: &str = "clientops.dev/cleanup";
