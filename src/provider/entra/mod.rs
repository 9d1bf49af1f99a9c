//! Microsoft Entra ID app registrations through Microsoft Graph v1.0
//! (`/applications`), one tenant per provider object.
//!
//! `wire` holds the bodies as Graph and the token endpoint send them (secrets
//! only as [`ClientSecret`](crate::secret::ClientSecret)), `auth` clientops'
//! Graph token (client credentials, cached and refreshed), `client` the typed
//! Graph client, `fields` the mapping between an application and the shared
//! model (pure), `adapter` the provider-neutral
//! [`Provider`](crate::provider::model::Provider) on top of both, `kind` the
//! provider kind (its client block, building a provider). Entra assigns the
//! client id (`appId`; the create is an upsert by the `uniqueName` clientops
//! derives from the OAuthClient's UID) and generates secrets (`addPassword`,
//! each named with clientops' marker); see docs/providers/entra.md.

pub mod adapter;
pub mod auth;
pub mod client;
pub mod fields;
pub mod kind;
pub mod wire;

pub use adapter::EntraProvider;
pub use auth::EntraCredentials;
pub use client::{EntraClient, EntraConfig};
