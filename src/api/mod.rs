//! The CRD types of group `clientops.dev`, version `v1alpha1`.

pub mod annotations;
pub mod client;
pub mod cloudflare;
pub mod common;
pub mod crds;
pub mod csp;
pub mod endpoints;
pub mod entra;
pub mod hydra;
pub mod keycloak;
pub mod policy;
pub mod provider;

pub use client::{OAuthClient, OAuthClientSpec, OAuthClientStatus};
pub use provider::{ClusterOAuthProvider, OAuthProvider, OAuthProviderStatus};
