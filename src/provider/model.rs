//! What the controller knows about a provider, independent of which provider it is:
//! the client's fields, the remote client as observed, and the [`Provider`] trait each
//! provider client implements.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::error::ProviderError;
use crate::secret::ClientSecret;

/// The fields of an OAuth client that clientops manages, normalized: defaults
/// applied, order-insensitive lists as sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientFields {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: BTreeSet<String>,
    pub response_types: BTreeSet<String>,
    /// Compared as a set, without the protocol scopes a provider manages itself.
    pub scopes: BTreeSet<String>,
    pub optional_scopes: BTreeSet<String>,
    pub token_endpoint_auth_method: String,
    pub allowed_cors_origins: BTreeSet<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// `Some(true)` asks for a public client (Cloudflare promotion).
    pub public: Option<bool>,
    /// `spec.vmwareCsp`, compared as a whole.
    pub csp: Option<crate::api::client::CspClientFields>,
    /// `spec.hydra`, compared as a whole.
    pub hydra: Option<crate::api::client::HydraClientFields>,
}

/// One field of [`ClientFields`], for drift reports and minimal patches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Name,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    ResponseTypes,
    Scopes,
    OptionalScopes,
    TokenEndpointAuthMethod,
    AllowedCorsOrigins,
    ClientUri,
    LogoUri,
    PolicyUri,
    TosUri,
    Visibility,
    /// Any field of `spec.vmwareCsp`.
    Csp,
    /// Any field of `spec.hydra`.
    Hydra,
}

impl Field {
    /// The spec path a user edits to change this field.
    pub fn spec_path(self) -> &'static str {
        match self {
            Field::Name => "spec.clientName",
            Field::RedirectUris => "spec.redirectUris",
            Field::PostLogoutRedirectUris => "spec.postLogoutRedirectUris",
            Field::GrantTypes => "spec.grantTypes",
            Field::ResponseTypes => "spec.responseTypes",
            Field::Scopes => "spec.scopes",
            Field::OptionalScopes => "spec.cloudflare.optionalScopes",
            Field::TokenEndpointAuthMethod => "spec.tokenEndpointAuthMethod",
            Field::AllowedCorsOrigins => "spec.allowedCorsOrigins",
            Field::ClientUri => "spec.clientUri",
            Field::LogoUri => "spec.logoUri",
            Field::PolicyUri => "spec.policyUri",
            Field::TosUri => "spec.tosUri",
            Field::Visibility => "spec.cloudflare.visibility",
            Field::Csp => "spec.vmwareCsp",
            Field::Hydra => "spec.hydra",
        }
    }
}

impl ClientFields {
    /// The fields where `remote` differs from `self` (the desired state). Optional
    /// URIs that are absent from the spec are not managed, so they are never drift.
    pub fn diff(&self, remote: &ClientFields) -> Vec<Field> {
        let mut out = vec![];
        let mut check = |f: Field, differs: bool| {
            if differs {
                out.push(f)
            }
        };
        // Order carries no meaning in redirect URI lists: compare them as sets.
        let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<_>>();
        check(Field::Name, self.name != remote.name);
        check(
            Field::RedirectUris,
            set(&self.redirect_uris) != set(&remote.redirect_uris),
        );
        check(
            Field::PostLogoutRedirectUris,
            set(&self.post_logout_redirect_uris) != set(&remote.post_logout_redirect_uris),
        );
        check(Field::GrantTypes, self.grant_types != remote.grant_types);
        check(
            Field::ResponseTypes,
            self.response_types != remote.response_types,
        );
        check(Field::Scopes, self.scopes != remote.scopes);
        check(
            Field::OptionalScopes,
            self.optional_scopes != remote.optional_scopes,
        );
        check(
            Field::TokenEndpointAuthMethod,
            self.token_endpoint_auth_method != remote.token_endpoint_auth_method,
        );
        check(
            Field::AllowedCorsOrigins,
            self.allowed_cors_origins != remote.allowed_cors_origins,
        );
        let managed = |want: &Option<String>, have: &Option<String>| want.is_some() && want != have;
        check(
            Field::ClientUri,
            managed(&self.client_uri, &remote.client_uri),
        );
        check(Field::LogoUri, managed(&self.logo_uri, &remote.logo_uri));
        check(
            Field::PolicyUri,
            managed(&self.policy_uri, &remote.policy_uri),
        );
        check(Field::TosUri, managed(&self.tos_uri, &remote.tos_uri));
        check(
            Field::Visibility,
            self.public == Some(true) && remote.public != Some(true),
        );
        // Only the fields the spec sets, durations by value, lists as sets.
        check(
            Field::Csp,
            super::csp::adapter::csp_differs(self.csp.as_ref(), remote.csp.as_ref()),
        );
        check(
            Field::Hydra,
            super::hydra::adapter::hydra_differs(self.hydra.as_ref(), remote.hydra.as_ref()),
        );
        out
    }
}

/// A client as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteClient {
    pub id: String,
    pub fields: ClientFields,
    /// The provider holds a second (previous) secret after a rotation.
    pub has_rotated_secret: bool,
    pub created_at: Option<DateTime<Utc>>,
    /// Client URI verification: (status, DNS TXT text).
    pub uri_verification: Option<(String, String)>,
    /// The creating OAuthClient's marker, where the provider stores metadata.
    pub marker: Option<String>,
}

/// A client just created, with its secret (absent for public clients).
#[derive(Clone, Debug)]
pub struct CreatedClient {
    pub client: RemoteClient,
    pub secret: Option<ClientSecret>,
}

/// How a provider issues a new client secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretIssuance {
    /// The provider generates it and returns it once; the previous one stays valid
    /// until retired (Cloudflare).
    ProviderGenerated,
    /// The caller chooses it ([`Provider::rotate_to`]): clientops generates it and
    /// persists it before the call, so no crash can lose it (VMware CSP).
    CallerChosen,
}

/// What a provider says about a client secret offered as proof of ownership
/// ([`Provider::verify_secret`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretCheck {
    /// The provider authenticated the client with this secret.
    Accepted,
    /// The provider refused it (`invalid_client`).
    Rejected,
    /// This provider (as configured) cannot check a secret; why, for the user.
    Unsupported(String),
}

/// What a provider can do to OAuth clients of one account.
#[async_trait]
pub trait Provider: Send + Sync {
    /// A short name for logs and metrics, e.g. `cloudflare`.
    fn kind(&self) -> &'static str;
    /// A stable key of the account (base URL + account id), shared by every client of
    /// that account: the unit of rate limiting and of the drift LIST.
    fn account_key(&self) -> &str;
    /// A cheap authenticated call that proves the credentials work.
    async fn check_credentials(&self) -> Result<(), ProviderError>;
    /// Every client of the account.
    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError>;
    /// One client; `Ok(None)` when it does not exist.
    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError>;
    /// Create a client. Never retried blindly: a lost response is
    /// `ProviderError::OutcomeUnknown`.
    /// `marker` identifies the OAuthClient that asks (its UID); a provider that can
    /// store metadata with the client stores it, and reports it back in
    /// [`RemoteClient::marker`], so a create whose response was lost is found again
    /// unambiguously.
    async fn create(
        &self,
        fields: &ClientFields,
        marker: &str,
    ) -> Result<CreatedClient, ProviderError>;
    /// Change exactly `changed` fields to their values in `fields`.
    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        changed: &[Field],
    ) -> Result<RemoteClient, ProviderError>;
    /// Delete a client; deleting a missing client is success.
    async fn delete(&self, id: &str) -> Result<(), ProviderError>;
    /// Issue a new secret; the previous one stays valid until [`Provider::retire`].
    async fn rotate(&self, id: &str) -> Result<ClientSecret, ProviderError>;
    /// Retire the previous secret after a rotation.
    async fn retire(&self, id: &str) -> Result<(), ProviderError>;

    /// Whether the provider accepts `secret` as client `id`'s secret: proof that
    /// whoever holds it owns the client (an import). Checked the way the provider
    /// allows, at its token endpoint, without changing the client and without
    /// issuing a usable token where that can be avoided.
    async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        let _ = (id, secret);
        Ok(SecretCheck::Unsupported(format!(
            "{} cannot check a client secret",
            self.kind()
        )))
    }

    /// Whether a previous secret can stay valid after a rotation (false: rotation
    /// replaces the secret in one step, as at Ory Hydra).
    fn supports_grace(&self) -> bool {
        true
    }

    /// Whether clients are created with a caller-chosen id ([`Provider::create_with`]).
    fn chooses_client_id(&self) -> bool {
        false
    }

    /// How this provider issues secrets.
    fn secret_issuance(&self) -> SecretIssuance {
        SecretIssuance::ProviderGenerated
    }

    /// A new secret that meets the provider's rules, from a CSPRNG (for
    /// [`SecretIssuance::CallerChosen`] providers).
    fn generate_secret(&self) -> Option<ClientSecret> {
        None
    }

    /// Make `new` the client's secret; the previous one stays valid for `grace`
    /// (for [`SecretIssuance::CallerChosen`] providers). Idempotent: setting the
    /// secret the client already has succeeds.
    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        grace: std::time::Duration,
    ) -> Result<(), ProviderError> {
        let _ = (id, new, grace);
        Err(ProviderError::config(format!(
            "{} does not accept a caller-chosen secret",
            self.kind()
        )))
    }

    /// Create a client with a caller-chosen id and secret (for providers that allow
    /// it): after a crash the client is found by that id. `None`: not supported.
    async fn create_with(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Option<Result<RemoteClient, ProviderError>> {
        let _ = (fields, id, secret);
        None
    }

    /// The account's public OAuth endpoints, as far as this provider knows them
    /// (`spec.secret.endpoints` and templates publish them). Default: none known.
    fn endpoints(&self) -> super::endpoints::Endpoints {
        super::endpoints::Endpoints::default()
    }
}
