//! Keycloak's admin REST API for the OIDC clients of one realm (Keycloak 26).
//!
//! `wire` holds the bodies as Keycloak sends them (secrets only as
//! [`ClientSecret`](crate::secret::ClientSecret)), `auth` the admin token
//! (client credentials or password grant, cached and refreshed), `client` the
//! typed admin API client, `fields` the mapping between its client
//! representation and the shared model (pure), `adapter` the provider-neutral
//! [`Provider`](crate::provider::model::Provider) on top of both. Rotation keeps a
//! previous secret only under the realm's `secret-rotation` client policy; see
//! `adapter`.

pub mod adapter;
pub mod auth;
pub mod client;
pub mod fields;
pub mod kind;
pub mod wire;

pub use adapter::KeycloakProvider;
pub use auth::KeycloakCredentials;
pub use client::{KeycloakClient, KeycloakConfig};
