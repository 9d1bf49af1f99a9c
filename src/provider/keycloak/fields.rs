//! Keycloak's client representation from and to the shared model: pure mapping,
//! defaults, refusals, drift and update bodies, no I/O (that is the adapter's).
//!
//! **Field mapping.** `clientName` → `name`; `redirectUris` as they are;
//! `postLogoutRedirectUris` → attribute `post.logout.redirect.uris` (`##`
//! separated); `grantTypes` → the flow switches (`authorization_code` →
//! `standardFlowEnabled`, `implicit` → `implicitFlowEnabled`, `password` →
//! `directAccessGrantsEnabled`, `client_credentials` →
//! `serviceAccountsEnabled`, `refresh_token` → attribute `use.refresh.tokens`,
//! the device grant → attribute `oauth2.device.authorization.grant.enabled`);
//! `scopes` → the default client scopes (kept in [`KeycloakFields`], not in the
//! shared `scopes`, so that an unset `scopes` leaves the realm's defaults alone);
//! `tokenEndpointAuthMethod` → `none`:
//! `publicClient`, `client_secret_basic`/`client_secret_post` → authenticator
//! `client-secret` (Keycloak accepts both, so both read back as
//! `client_secret_basic`), `client_secret_jwt` → `client-secret-jwt`;
//! `allowedCorsOrigins` → `webOrigins`; `clientUri` → `baseUrl`; `logoUri`,
//! `policyUri`, `tosUri` → attributes of the same names. `spec.keycloak`:
//! `enabled` (default `true`), `description`, `optionalClientScopes`, `pkceMethod` → attribute
//! `pkce.code.challenge.method`, `consentRequired`, `frontChannelLogout` →
//! `frontchannelLogout`, `frontChannelLogoutUrl`/`backChannelLogoutUrl` →
//! attributes `frontchannel.logout.url`/`backchannel.logout.url`,
//! `fullScopeAllowed`, `accessTokenLifespan` → attribute
//! `access.token.lifespan` (seconds), `attributes` as they are.
//!
//! **Drift** ([`diff`]). The name, redirect URIs, post-logout URIs, grant types,
//! auth method, CORS origins and whether the client is enabled
//! (`spec.keycloak.enabled`, default `true`: a client an administrator disabled
//! is enabled again) are always managed. The default scopes are
//! managed when `spec.scopes` is set (else the realm's defaults stay), without
//! `service_account`, which Keycloak adds to every service-account client itself.
//! The optional URIs and every `spec.keycloak` field are managed only when set;
//! of `attributes` only the listed keys. Not drift: anything Keycloak fills in by
//! itself (`protocol`, `fullScopeAllowed` while unset, the `client.secret.*` and
//! `realm_client` attributes, the realm's default and optional scopes while the
//! spec sets none, `frontchannelLogout`, `consentRequired` while unset).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::DateTime;

use super::wire::{
    Attributes, ClientRepresentation, ROTATED_SECRET_KEY, RotationPolicy, split_list,
};
use crate::api::keycloak::{KeycloakClientFields, MANAGED_ATTRIBUTES, PkceMethod};
use crate::provider::endpoints::{Endpoints, join};
use crate::provider::error::{ProviderError, ProviderMessage};
use crate::provider::model::{ClientFields, Field, OwnFields, RemoteClient};
use crate::secret::ClientSecret;

/// The code of the messages clientops itself produces for unsupported fields.
pub const UNSUPPORTED_CODE: &str = "clientops.unsupported_field";

/// Length of the secrets clientops generates for Keycloak clients.
pub const GENERATED_SECRET_LEN: usize = 40;

/// The shortest `expiration-period` of the realm's rotation policy clientops
/// accepts: Keycloak refuses a secret older than that, and regenerates it at the
/// next admin update, behind clientops' back.
pub const MIN_POLICY_EXPIRATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// The device authorization grant.
pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The grant types Keycloak can switch on per client.
pub const GRANT_TYPES: [&str; 6] = [
    "authorization_code",
    "implicit",
    "password",
    "client_credentials",
    "refresh_token",
    DEVICE_GRANT,
];

/// The default scope Keycloak gives every service-account client itself.
pub const SERVICE_ACCOUNT_SCOPE: &str = "service_account";

/// `spec.keycloak`, compared field by field where the spec sets it.
pub const KEYCLOAK_BLOCK: Field =
    Field::Own(crate::api::provider::ProviderType::Keycloak.spec_path());
/// `spec.keycloak.enabled`: always managed (default `true`), so a client disabled
/// at Keycloak is enabled again by the next resync.
pub const ENABLED: Field = Field::Own("spec.keycloak.enabled");
/// The default client scopes (`spec.scopes`), managed only when the spec sets them.
pub const DEFAULT_SCOPES: Field = Field::Own("spec.scopes");

/// A Keycloak client's own fields ([`ClientFields::own`]): `spec.keycloak`, and
/// what of the shared spec Keycloak treats its own way. Desired: as the spec says
/// (absent: not managed). Remote: everything Keycloak reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeycloakFields {
    /// `spec.keycloak`.
    pub block: Option<KeycloakClientFields>,
    /// The default client scopes: `spec.scopes` when set (the shared `scopes`
    /// stay empty for Keycloak, so the realm's defaults are never drift);
    /// remotely without `service_account`, which Keycloak manages itself.
    pub default_scopes: Option<BTreeSet<String>>,
    /// `spec.rotation.gracePeriod` when the spec sets it: refused at create when
    /// the realm cannot keep a previous secret that long.
    pub grace: Option<Duration>,
}

impl KeycloakFields {
    /// The own fields of `fields`, or none set.
    pub fn of(fields: &ClientFields) -> KeycloakFields {
        fields
            .own
            .get::<KeycloakFields>()
            .cloned()
            .unwrap_or_default()
    }

    /// `spec.keycloak`, its defaults when unset.
    pub fn block(&self) -> KeycloakClientFields {
        self.block.clone().unwrap_or_default()
    }

    /// Whether the client is (remote) or should be (desired) enabled: Keycloak's
    /// default and the spec's are both `true`.
    pub fn enabled(&self) -> bool {
        self.block.as_ref().and_then(|b| b.enabled).unwrap_or(true)
    }

    /// Where `have` (remote) differs from `self` (desired), by spec path.
    pub fn differs(&self, have: Option<&KeycloakFields>) -> Vec<Field> {
        let empty = KeycloakFields::default();
        let have = have.unwrap_or(&empty);
        let mut out = vec![];
        if self
            .default_scopes
            .as_ref()
            .is_some_and(|w| Some(w) != have.default_scopes.as_ref())
        {
            out.push(DEFAULT_SCOPES);
        }
        if self.enabled() != have.enabled() {
            out.push(ENABLED);
        }
        if keycloak_differs(self.block.as_ref(), &have.block()) {
            out.push(KEYCLOAK_BLOCK);
        }
        out
    }
}

/// Attributes Keycloak or clientops maintain, never drift and never sent.
fn server_managed(key: &str) -> bool {
    key.starts_with("client.secret.")
        || key.starts_with("clientops.dev/")
        || key == "realm_client"
        || MANAGED_ATTRIBUTES.iter().any(|(k, _)| *k == key)
}

/// A new random secret (CSPRNG, [`GENERATED_SECRET_LEN`] alphanumerics: nothing
/// any encoding of the token request could change).
pub fn generate_secret() -> ClientSecret {
    ClientSecret::random_alphanumeric(GENERATED_SECRET_LEN)
}

pub(super) fn attributes_body<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> ClientRepresentation {
    ClientRepresentation {
        attributes: Some(Attributes::from_plain(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )),
        ..Default::default()
    }
}

pub(super) fn field_error(field: &str, message: String) -> ProviderMessage {
    ProviderMessage::new(Some(UNSUPPORTED_CODE.into()), &message, Some(field.into()))
}

pub(super) fn invalid(messages: Vec<ProviderMessage>) -> ProviderError {
    ProviderError::Invalid {
        status: 422,
        messages,
    }
}

fn seconds(d: &str) -> Option<u64> {
    crate::api::common::parse_duration(d).map(|d| d.as_secs())
}

fn auth_method(f: &ClientFields) -> &str {
    match f.token_endpoint_auth_method.as_str() {
        "" | "client_secret_post" => "client_secret_basic",
        other => other,
    }
}

/// Keycloak's normal form of the desired fields: `client_secret_post` reads back
/// as `client_secret_basic` (one `client-secret` authenticator serves both).
pub fn apply_defaults(f: &mut ClientFields) {
    f.token_endpoint_auth_method = auth_method(f).to_string();
}

/// The whole client as Keycloak should hold it (without `clientId`, secret and
/// marker, which the create adds).
pub fn to_wire(f: &ClientFields) -> ClientRepresentation {
    let own = KeycloakFields::of(f);
    let kc = &own.block();
    let public = f.token_endpoint_auth_method == "none";
    let grant = |g: &str| Some(f.grant_types.contains(g));
    let mut attrs: BTreeMap<String, String> = BTreeMap::new();
    if !f.post_logout_redirect_uris.is_empty() {
        attrs.insert(
            "post.logout.redirect.uris".into(),
            f.post_logout_redirect_uris
                .join(super::wire::LIST_SEPARATOR),
        );
    }
    attrs.insert(
        "use.refresh.tokens".into(),
        f.grant_types.contains("refresh_token").to_string(),
    );
    attrs.insert(
        "oauth2.device.authorization.grant.enabled".into(),
        f.grant_types.contains(DEVICE_GRANT).to_string(),
    );
    for (key, v) in [
        ("logoUri", &f.logo_uri),
        ("policyUri", &f.policy_uri),
        ("tosUri", &f.tos_uri),
    ] {
        if let Some(v) = v {
            attrs.insert(key.into(), v.clone());
        }
    }
    attrs.extend(keycloak_attributes(kc));
    ClientRepresentation {
        name: Some(f.name.clone()),
        description: kc.description.clone(),
        enabled: Some(own.enabled()),
        protocol: Some("openid-connect".into()),
        client_authenticator_type: (!public).then(|| authenticator(auth_method(f)).to_string()),
        redirect_uris: Some(f.redirect_uris.clone()),
        web_origins: Some(f.allowed_cors_origins.iter().cloned().collect()),
        base_url: f.client_uri.clone(),
        bearer_only: Some(false),
        consent_required: kc.consent_required,
        standard_flow_enabled: grant("authorization_code"),
        implicit_flow_enabled: grant("implicit"),
        direct_access_grants_enabled: grant("password"),
        service_accounts_enabled: grant("client_credentials"),
        public_client: Some(public),
        frontchannel_logout: kc.front_channel_logout,
        full_scope_allowed: kc.full_scope_allowed,
        attributes: Some(Attributes::from_plain(attrs)),
        default_client_scopes: own
            .default_scopes
            .as_ref()
            .map(|s| s.iter().cloned().collect()),
        optional_client_scopes: kc.optional_client_scopes.clone(),
        ..Default::default()
    }
}

fn authenticator(method: &str) -> &'static str {
    match method {
        "client_secret_jwt" => "client-secret-jwt",
        _ => "client-secret",
    }
}

/// The attributes `spec.keycloak` sets (typed fields and `attributes`).
fn keycloak_attributes(kc: &KeycloakClientFields) -> BTreeMap<String, String> {
    let mut attrs: BTreeMap<String, String> = kc.attributes.clone().unwrap_or_default();
    if let Some(p) = kc.pkce_method {
        attrs.insert("pkce.code.challenge.method".into(), p.as_str().into());
    }
    if let Some(u) = &kc.front_channel_logout_url {
        attrs.insert("frontchannel.logout.url".into(), u.clone());
    }
    if let Some(u) = &kc.back_channel_logout_url {
        attrs.insert("backchannel.logout.url".into(), u.clone());
    }
    if let Some(s) = kc.access_token_lifespan.as_deref().and_then(seconds) {
        attrs.insert("access.token.lifespan".into(), s.to_string());
    }
    attrs
}

/// The remote client in the shared model; its `spec.keycloak` as
/// [`keycloak_block`] reads it.
pub fn to_remote(c: &ClientRepresentation) -> RemoteClient {
    let on = |v: Option<bool>| v.unwrap_or(false);
    let mut grant_types = BTreeSet::new();
    for (g, enabled) in [
        ("authorization_code", on(c.standard_flow_enabled)),
        ("implicit", on(c.implicit_flow_enabled)),
        ("password", on(c.direct_access_grants_enabled)),
        ("client_credentials", on(c.service_accounts_enabled)),
        // Keycloak's default for use.refresh.tokens is true.
        (
            "refresh_token",
            c.attribute("use.refresh.tokens") != Some("false"),
        ),
        (
            DEVICE_GRANT,
            c.attribute("oauth2.device.authorization.grant.enabled") == Some("true"),
        ),
    ] {
        if enabled {
            grant_types.insert(g.to_string());
        }
    }
    let method = if c.public_client == Some(true) {
        "none"
    } else {
        match c.client_authenticator_type.as_deref() {
            Some("client-secret-jwt") => "client_secret_jwt",
            Some("client-jwt") => "private_key_jwt",
            Some("client-x509") => "tls_client_auth",
            _ => "client_secret_basic",
        }
    };
    let attr = |k: &str| c.attribute(k).map(str::to_string);
    RemoteClient {
        id: c.client_id.clone().unwrap_or_default(),
        fields: ClientFields {
            name: c.name.clone().unwrap_or_default(),
            redirect_uris: c.redirect_uris.clone().unwrap_or_default(),
            post_logout_redirect_uris: split_list(c.attribute("post.logout.redirect.uris")),
            grant_types,
            // Keycloak derives response types from the flows.
            response_types: ["code".to_string()].into(),
            // Keycloak's default scopes are its own field (see KeycloakFields).
            scopes: BTreeSet::new(),
            token_endpoint_auth_method: method.into(),
            allowed_cors_origins: c.web_origins.iter().flatten().cloned().collect(),
            client_uri: c.base_url.clone().filter(|u| !u.is_empty()),
            logo_uri: attr("logoUri"),
            policy_uri: attr("policyUri"),
            tos_uri: attr("tosUri"),
            own: OwnFields::new(KeycloakFields {
                block: Some(keycloak_block(c)),
                default_scopes: Some(
                    c.default_client_scopes
                        .iter()
                        .flatten()
                        .filter(|s| *s != SERVICE_ACCOUNT_SCOPE)
                        .cloned()
                        .collect(),
                ),
                grace: None,
            }),
        },
        has_rotated_secret: c.rotated_secret().is_some(),
        created_at: None,
        marker: c.marker(),
        // Epoch seconds, set by Keycloak whenever the secret is (re)generated or set.
        secret_changed_at: c
            .attribute("client.secret.creation.time")
            .and_then(|t| t.parse::<i64>().ok())
            .and_then(|t| DateTime::from_timestamp(t, 0)),
        // Epoch seconds, set where the realm's client policy rotates secrets;
        // `0` (or absent) where secrets do not expire.
        secret_expires_at: c
            .attribute("client.secret.expiration.time")
            .and_then(|t| t.parse::<i64>().ok())
            .filter(|t| *t > 0)
            .and_then(|t| DateTime::from_timestamp(t, 0)),
    }
}

/// The remote client's `spec.keycloak`, every field Keycloak reports (the
/// attributes without those Keycloak or clientops maintain);
/// [`keycloak_differs`] decides which are managed.
pub fn keycloak_block(c: &ClientRepresentation) -> KeycloakClientFields {
    let attrs = c
        .attributes
        .as_ref()
        .map(|a| a.plain.clone())
        .unwrap_or_default();
    KeycloakClientFields {
        enabled: c.enabled,
        description: c.description.clone(),
        optional_client_scopes: c.optional_client_scopes.clone(),
        pkce_method: match c.attribute("pkce.code.challenge.method") {
            Some("S256") => Some(PkceMethod::S256),
            Some("plain") => Some(PkceMethod::Plain),
            _ => None,
        },
        consent_required: c.consent_required,
        front_channel_logout: c.frontchannel_logout,
        front_channel_logout_url: c.attribute("frontchannel.logout.url").map(String::from),
        back_channel_logout_url: c.attribute("backchannel.logout.url").map(String::from),
        full_scope_allowed: c.full_scope_allowed,
        access_token_lifespan: c
            .attribute("access.token.lifespan")
            .map(|s| format!("{s}s")),
        attributes: Some(
            attrs
                .into_iter()
                .filter(|(k, v)| !server_managed(k) && !v.is_empty())
                .collect(),
        ),
    }
}

/// Whether the remote `spec.keycloak` (`have`) differs from the desired one
/// (`want`) in a field the spec sets: scopes as sets, the lifespan by value,
/// attributes key by key for the keys the spec lists.
pub fn keycloak_differs(want: Option<&KeycloakClientFields>, have: &KeycloakClientFields) -> bool {
    let Some(want) = want else { return false };
    let differs = |w: &Option<String>, h: &Option<String>| {
        w.as_ref()
            .is_some_and(|w| Some(w.as_str()) != h.as_deref().filter(|h| !h.is_empty()))
    };
    let flag = |w: Option<bool>, h: Option<bool>, default: bool| {
        w.is_some_and(|w| w != h.unwrap_or(default))
    };
    let set = |v: &Option<Vec<String>>| v.iter().flatten().cloned().collect::<BTreeSet<_>>();
    let optional = want.optional_client_scopes.is_some()
        && set(&want.optional_client_scopes) != set(&have.optional_client_scopes);
    let pkce = want.pkce_method.is_some() && want.pkce_method != have.pkce_method;
    let lifespan = want
        .access_token_lifespan
        .as_deref()
        .is_some_and(|w| seconds(w) != have.access_token_lifespan.as_deref().and_then(seconds));
    let have_attrs = have.attributes.clone().unwrap_or_default();
    let attributes = want.attributes.as_ref().is_some_and(|w| {
        w.iter()
            .any(|(k, v)| have_attrs.get(k).map(String::as_str).unwrap_or("") != v)
    });
    differs(&want.description, &have.description)
        || optional
        || pkce
        || flag(want.consent_required, have.consent_required, false)
        || flag(want.front_channel_logout, have.front_channel_logout, false)
        || differs(
            &want.front_channel_logout_url,
            &have.front_channel_logout_url,
        )
        || differs(&want.back_channel_logout_url, &have.back_channel_logout_url)
        || flag(want.full_scope_allowed, have.full_scope_allowed, true)
        || lifespan
        || attributes
}

/// The fields where the client as Keycloak holds it differs from `want`.
pub fn diff(want: &ClientFields, remote: &ClientRepresentation) -> Vec<Field> {
    want.diff(&to_remote(remote).fields)
}

/// A `PUT` body with exactly the changed fields (scopes go through their own
/// endpoints, see [`KeycloakProvider::update_client`]).
pub fn update_body(f: &ClientFields, changed: &[Field]) -> ClientRepresentation {
    let kc = &KeycloakFields::of(f).block();
    let full = to_wire(f);
    let mut body = ClientRepresentation::default();
    let mut attrs: BTreeMap<String, String> = BTreeMap::new();
    let full_attrs = full.attributes.clone().unwrap_or_default().plain;
    let mut copy_attr = |k: &str| {
        attrs.insert(
            k.to_string(),
            full_attrs.get(k).cloned().unwrap_or_default(),
        );
    };
    for field in changed {
        match field {
            Field::Name => body.name = full.name.clone(),
            Field::RedirectUris => body.redirect_uris = full.redirect_uris.clone(),
            Field::PostLogoutRedirectUris => copy_attr("post.logout.redirect.uris"),
            Field::GrantTypes => {
                body.standard_flow_enabled = full.standard_flow_enabled;
                body.implicit_flow_enabled = full.implicit_flow_enabled;
                body.direct_access_grants_enabled = full.direct_access_grants_enabled;
                body.service_accounts_enabled = full.service_accounts_enabled;
                copy_attr("use.refresh.tokens");
                copy_attr("oauth2.device.authorization.grant.enabled");
            }
            Field::TokenEndpointAuthMethod => {
                body.public_client = full.public_client;
                body.client_authenticator_type = full.client_authenticator_type.clone();
            }
            Field::AllowedCorsOrigins => body.web_origins = full.web_origins.clone(),
            Field::ClientUri => body.base_url = full.base_url.clone(),
            Field::LogoUri => copy_attr("logoUri"),
            Field::PolicyUri => copy_attr("policyUri"),
            Field::TosUri => copy_attr("tosUri"),
            // Scopes: their own endpoints. The rest: refused before any request.
            _ => {}
        }
    }
    if changed.contains(&ENABLED) {
        body.enabled = Some(KeycloakFields::of(f).enabled());
    }
    if changed.contains(&KEYCLOAK_BLOCK) {
        body.description = kc.description.clone();
        body.consent_required = kc.consent_required;
        body.frontchannel_logout = kc.front_channel_logout;
        body.full_scope_allowed = kc.full_scope_allowed;
        attrs.extend(keycloak_attributes(kc));
    }
    if !attrs.is_empty() {
        body.attributes = Some(Attributes::from_plain(attrs));
    }
    body
}

/// What Keycloak cannot represent, as `(spec field, message with the fix)`;
/// empty when everything can be sent.
pub fn unsupported(f: &ClientFields) -> Vec<(String, String)> {
    let own = KeycloakFields::of(f);
    let kc = &own.block();
    let mut out: Vec<(String, String)> = vec![];
    let mut refuse = |field: &str, message: String| out.push((field.to_string(), message));
    let unknown: Vec<&str> = f
        .grant_types
        .iter()
        .map(String::as_str)
        .filter(|g| !GRANT_TYPES.contains(g))
        .collect();
    if !unknown.is_empty() {
        refuse(
            "spec.grantTypes",
            format!(
                "Keycloak cannot switch on {unknown:?} per client; use authorization_code, implicit, password, client_credentials, refresh_token or {DEVICE_GRANT}"
            ),
        );
    }
    let method = f.token_endpoint_auth_method.as_str();
    if !matches!(
        method,
        "" | "client_secret_basic" | "client_secret_post" | "client_secret_jwt" | "none"
    ) {
        refuse(
            "spec.tokenEndpointAuthMethod",
            format!(
                "clientops cannot set up {method:?} for a Keycloak client (it needs keys clientops does not manage); use client_secret_basic, client_secret_post, client_secret_jwt or none"
            ),
        );
    }
    if method == "none" && f.grant_types.contains("client_credentials") {
        refuse(
            "spec.grantTypes",
            "a public client (tokenEndpointAuthMethod: none) has no service account, so it cannot use client_credentials; remove one of them".into(),
        );
    }
    let extra: Vec<&str> = f
        .response_types
        .iter()
        .map(String::as_str)
        .filter(|r| *r != "code")
        .collect();
    if !extra.is_empty() {
        refuse(
            "spec.responseTypes",
            format!(
                "Keycloak derives response types from the grant types ({extra:?} come with grantTypes: [implicit]); set responseTypes: [code] or leave it out"
            ),
        );
    }
    if let Some(s) = own
        .default_scopes
        .iter()
        .flatten()
        .chain(f.scopes.iter())
        .find(|s| s.is_empty() || s.chars().any(char::is_whitespace))
    {
        refuse(
            "spec.scopes",
            format!("{s:?}: a Keycloak client scope name has no whitespace; use the scope's name"),
        );
    }
    if let Some(l) = &kc.access_token_lifespan
        && seconds(l).is_none_or(|s| s == 0)
    {
        refuse(
            "spec.keycloak.accessTokenLifespan",
            format!("{l:?} is not a duration of at least 1s; use e.g. 5m"),
        );
    }
    for key in kc.attributes.iter().flat_map(|a| a.keys()) {
        if key == ROTATED_SECRET_KEY
            || key.starts_with("client.secret.")
            || key.starts_with("clientops.dev/")
        {
            refuse(
                &format!("spec.keycloak.attributes.{key}"),
                "the keys client.secret.* belong to Keycloak's secret rotation and clientops.dev/* to clientops; remove it".into(),
            );
        } else if let Some((_, field)) = MANAGED_ATTRIBUTES.iter().find(|(k, _)| k == key) {
            refuse(
                &format!("spec.keycloak.attributes.{key}"),
                format!("this attribute is set by {field}; use that field"),
            );
        }
    }
    out
}

/// [`unsupported`] as an `Invalid` error naming every field, before any request.
pub fn check_supported(f: &ClientFields) -> Result<(), ProviderError> {
    let problems = unsupported(f);
    if problems.is_empty() {
        return Ok(());
    }
    Err(invalid(
        problems
            .into_iter()
            .map(|(field, message)| field_error(&field, message))
            .collect(),
    ))
}

/// Whether a grace period of `grace` can be kept: only under the realm's
/// rotation policy, and at most as long as it keeps a rotated secret.
pub fn check_grace(
    grace: Duration,
    policy: Option<RotationPolicy>,
) -> Result<(), (String, String)> {
    match policy {
        _ if grace.is_zero() => Ok(()),
        None => Err((
            "spec.rotation.gracePeriod".into(),
            "this Keycloak realm keeps no previous secret after a rotation (no enabled client policy with the secret-rotation executor, or the server runs without --features=client-secret-rotation): a grace period is impossible; remove gracePeriod (the old secret then stops working at once) or set up the policy (docs/providers/keycloak.md)".into(),
        )),
        Some(p) if grace.as_secs() as i64 > p.rotated_expiration_secs => Err((
            "spec.rotation.gracePeriod".into(),
            format!(
                "the realm's secret-rotation policy keeps a previous secret for {}s (rotated-expiration-period), shorter than the grace period of {}s; shorten gracePeriod or raise rotated-expiration-period",
                p.rotated_expiration_secs,
                grace.as_secs()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// A realm's rotation policy that would let secrets expire behind clientops'
/// back, as a configuration error with the fix.
pub fn check_policy(policy: Option<RotationPolicy>) -> Result<(), ProviderError> {
    match policy {
        Some(p) if (p.expiration_secs.max(0) as u64) < MIN_POLICY_EXPIRATION.as_secs() => {
            Err(ProviderError::config(format!(
                "the realm's secret-rotation client policy expires secrets after {}s (expiration-period): Keycloak would then refuse them and make new ones without telling clientops; set expiration-period to 315360000 (10 years) and let spec.rotation.every schedule rotations",
                p.expiration_secs
            )))
        }
        _ => Ok(()),
    }
}

/// A realm's OpenID Connect endpoints: the issuer is `{url}/realms/{realm}`, the
/// rest under its `protocol/openid-connect/`.
pub fn realm_endpoints(base: &str, realm: &str) -> Endpoints {
    let issuer = join(base, &format!("/realms/{}", urlencoding_path(realm)));
    let oidc = |path: &str| Some(join(&issuer, &format!("/protocol/openid-connect/{path}")));
    Endpoints {
        discovery: Some(join(&issuer, "/.well-known/openid-configuration")),
        authorization: oidc("auth"),
        token: oidc("token"),
        jwks: oidc("certs"),
        revocation: oidc("revoke"),
        introspection: oidc("token/introspect"),
        userinfo: oidc("userinfo"),
        issuer: Some(issuer),
    }
}

/// A realm name as one URL path segment.
fn urlencoding_path(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_own(mut f: ClientFields, own: KeycloakFields) -> ClientFields {
        f.own = OwnFields::new(own);
        f
    }

    fn fields() -> ClientFields {
        let mut f = ClientFields {
            name: "Billing".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
            grant_types: [
                "authorization_code".to_string(),
                "client_credentials".into(),
            ]
            .into(),
            response_types: ["code".to_string()].into(),
            token_endpoint_auth_method: "client_secret_post".into(),
            allowed_cors_origins: ["https://app.example.com".to_string()].into(),
            own: OwnFields::new(KeycloakFields::default()),
            ..Default::default()
        };
        apply_defaults(&mut f);
        f
    }

    /// What Keycloak 26 answers for a client created from `rep`: its defaults
    /// filled in, attributes of its own added.
    fn as_keycloak_returns(rep: &ClientRepresentation) -> ClientRepresentation {
        let mut c = rep.clone();
        c.id = Some("9b0c".into());
        c.client_id = Some("clientops-u1".into());
        c.secret = Some(ClientSecret::new("current-hunter2"));
        c.consent_required.get_or_insert(false);
        c.frontchannel_logout.get_or_insert(true);
        c.full_scope_allowed.get_or_insert(true);
        c.default_client_scopes.get_or_insert_with(|| {
            ["web-origins", "acr", "profile", "roles", "basic", "email"]
                .map(String::from)
                .into()
        });
        if c.service_accounts_enabled == Some(true) {
            c.default_client_scopes
                .as_mut()
                .unwrap()
                .push(SERVICE_ACCOUNT_SCOPE.into());
        }
        c.optional_client_scopes
            .get_or_insert_with(|| ["address", "phone"].map(String::from).into());
        let a = c.attributes.get_or_insert_with(Attributes::default);
        a.plain.insert("realm_client".into(), "false".into());
        a.plain
            .insert("client.secret.creation.time".into(), "1796286829".into());
        a.rotated_secret = Some(ClientSecret::new("previous-hunter2"));
        c
    }

    #[test]
    fn a_created_client_reads_back_without_drift() {
        let f = fields();
        let remote = as_keycloak_returns(&to_wire(&f));
        assert!(diff(&f, &remote).is_empty(), "{:?}", diff(&f, &remote));
        let r = to_remote(&remote);
        assert!(r.has_rotated_secret);
        assert_eq!(r.fields.token_endpoint_auth_method, "client_secret_basic");
        assert!(!format!("{r:?}").contains("hunter2"));

        let kc = KeycloakClientFields {
            description: Some("d".into()),
            optional_client_scopes: Some(vec!["phone".into()]),
            pkce_method: Some(PkceMethod::S256),
            consent_required: Some(true),
            front_channel_logout: Some(false),
            back_channel_logout_url: Some("https://app.example.com/bc".into()),
            full_scope_allowed: Some(false),
            access_token_lifespan: Some("5m".into()),
            attributes: Some(
                [("display.on.consent.screen".to_string(), "true".to_string())].into(),
            ),
            ..Default::default()
        };
        let f = with_own(
            fields(),
            KeycloakFields {
                block: Some(kc),
                default_scopes: Some(["profile".to_string(), "email".into()].into()),
                grace: None,
            },
        );
        let remote = as_keycloak_returns(&to_wire(&f));
        assert!(diff(&f, &remote).is_empty(), "{:?}", diff(&f, &remote));
        assert_eq!(
            remote.attribute("access.token.lifespan"),
            Some("300"),
            "durations are sent in seconds"
        );
    }

    #[test]
    fn admin_console_edits_are_drift_and_server_defaults_are_not() {
        let f = with_own(
            fields(),
            KeycloakFields {
                block: Some(KeycloakClientFields {
                    consent_required: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        let mut remote = as_keycloak_returns(&to_wire(&f));
        remote.direct_access_grants_enabled = Some(true);
        remote.web_origins = Some(vec!["*".into()]);
        remote.consent_required = Some(true);
        assert_eq!(
            diff(&f, &remote),
            [Field::GrantTypes, Field::AllowedCorsOrigins, KEYCLOAK_BLOCK]
        );
        // Keycloak's own scopes and attributes while the spec sets none: fine.
        let plain = fields();
        let remote = as_keycloak_returns(&to_wire(&plain));
        assert!(diff(&plain, &remote).is_empty());
        // The refresh token switch defaults to on when the attribute is absent.
        let mut r = remote.clone();
        r.attributes
            .as_mut()
            .unwrap()
            .plain
            .remove("use.refresh.tokens");
        assert_eq!(diff(&plain, &r), [Field::GrantTypes]);
        // Default scopes are drift once the spec sets them.
        let scoped = with_own(
            fields(),
            KeycloakFields {
                default_scopes: Some(["profile".to_string()].into()),
                ..Default::default()
            },
        );
        assert_eq!(diff(&scoped, &remote), [DEFAULT_SCOPES]);
    }

    /// The desired fields of a spec that sets every field Keycloak holds.
    fn every_field() -> ClientFields {
        let mut f = with_own(
            fields(),
            KeycloakFields {
                block: Some(KeycloakClientFields {
                    enabled: None,
                    description: Some("Billing API".into()),
                    optional_client_scopes: Some(vec!["phone".into()]),
                    pkce_method: Some(PkceMethod::S256),
                    consent_required: Some(true),
                    front_channel_logout: Some(true),
                    front_channel_logout_url: Some("https://app.example.com/fc".into()),
                    back_channel_logout_url: Some("https://app.example.com/bc".into()),
                    full_scope_allowed: Some(false),
                    access_token_lifespan: Some("5m".into()),
                    attributes: Some([("display.on.consent.screen".into(), "true".into())].into()),
                }),
                default_scopes: Some(["profile".to_string(), "email".into()].into()),
                grace: None,
            },
        );
        f.client_uri = Some("https://app.example.com".into());
        f.logo_uri = Some("https://app.example.com/logo.png".into());
        f.policy_uri = Some("https://app.example.com/privacy".into());
        f.tos_uri = Some("https://app.example.com/terms".into());
        f
    }

    /// An admin's edit of each field the spec declares, and the field that must
    /// then differ: one row per field (a new field is one more row).
    #[allow(clippy::type_complexity)]
    fn admin_edits() -> Vec<(&'static str, Field, fn(&mut ClientRepresentation))> {
        fn attr(c: &mut ClientRepresentation, k: &str, v: &str) {
            let a = c.attributes.get_or_insert_with(Attributes::default);
            a.plain.insert(k.into(), v.into());
        }
        vec![
            ("enabled", ENABLED, |c| c.enabled = Some(false)),
            ("name", Field::Name, |c| c.name = Some("by hand".into())),
            ("redirectUris", Field::RedirectUris, |c| {
                c.redirect_uris = Some(vec!["https://evil.example.com/cb".into()])
            }),
            (
                "post.logout.redirect.uris",
                Field::PostLogoutRedirectUris,
                |c| {
                    attr(
                        c,
                        "post.logout.redirect.uris",
                        "https://evil.example.com/bye",
                    )
                },
            ),
            ("standardFlowEnabled", Field::GrantTypes, |c| {
                c.standard_flow_enabled = Some(false)
            }),
            ("directAccessGrantsEnabled", Field::GrantTypes, |c| {
                c.direct_access_grants_enabled = Some(true)
            }),
            ("implicitFlowEnabled", Field::GrantTypes, |c| {
                c.implicit_flow_enabled = Some(true)
            }),
            ("serviceAccountsEnabled", Field::GrantTypes, |c| {
                c.service_accounts_enabled = Some(false)
            }),
            ("use.refresh.tokens", Field::GrantTypes, |c| {
                attr(c, "use.refresh.tokens", "true")
            }),
            (
                "oauth2.device.authorization.grant.enabled",
                Field::GrantTypes,
                |c| attr(c, "oauth2.device.authorization.grant.enabled", "true"),
            ),
            ("publicClient", Field::TokenEndpointAuthMethod, |c| {
                c.public_client = Some(true)
            }),
            (
                "clientAuthenticatorType",
                Field::TokenEndpointAuthMethod,
                |c| c.client_authenticator_type = Some("client-secret-jwt".into()),
            ),
            ("webOrigins", Field::AllowedCorsOrigins, |c| {
                c.web_origins = Some(vec!["*".into()])
            }),
            ("baseUrl", Field::ClientUri, |c| {
                c.base_url = Some("https://evil.example.com".into())
            }),
            ("logoUri", Field::LogoUri, |c| {
                attr(c, "logoUri", "https://evil.example.com/l.png")
            }),
            ("policyUri", Field::PolicyUri, |c| attr(c, "policyUri", "")),
            ("tosUri", Field::TosUri, |c| {
                attr(c, "tosUri", "https://evil.example.com/t")
            }),
            ("defaultClientScopes", DEFAULT_SCOPES, |c| {
                c.default_client_scopes = Some(vec!["profile".into(), "roles".into()])
            }),
            ("description", KEYCLOAK_BLOCK, |c| {
                c.description = Some("by hand".into())
            }),
            ("optionalClientScopes", KEYCLOAK_BLOCK, |c| {
                c.optional_client_scopes = Some(vec!["address".into()])
            }),
            ("pkce.code.challenge.method", KEYCLOAK_BLOCK, |c| {
                attr(c, "pkce.code.challenge.method", "plain")
            }),
            ("consentRequired", KEYCLOAK_BLOCK, |c| {
                c.consent_required = Some(false)
            }),
            ("frontchannelLogout", KEYCLOAK_BLOCK, |c| {
                c.frontchannel_logout = Some(false)
            }),
            ("frontchannel.logout.url", KEYCLOAK_BLOCK, |c| {
                attr(c, "frontchannel.logout.url", "https://evil.example.com/fc")
            }),
            ("backchannel.logout.url", KEYCLOAK_BLOCK, |c| {
                attr(c, "backchannel.logout.url", "")
            }),
            ("fullScopeAllowed", KEYCLOAK_BLOCK, |c| {
                c.full_scope_allowed = Some(true)
            }),
            ("access.token.lifespan", KEYCLOAK_BLOCK, |c| {
                attr(c, "access.token.lifespan", "3600")
            }),
            ("attributes", KEYCLOAK_BLOCK, |c| {
                attr(c, "display.on.consent.screen", "false")
            }),
        ]
    }

    /// Keycloak's `PUT` of `body` onto `c`: the fields it carries replace
    /// `c`'s, attributes key by key (an empty value removes one); the scopes, as
    /// [`KeycloakProvider::update_client`] sends them through their endpoints.
    fn put(
        c: &ClientRepresentation,
        body: &ClientRepresentation,
        want: &ClientFields,
        changed: &[Field],
    ) -> ClientRepresentation {
        let mut out = serde_json::to_value(c).unwrap();
        let body = serde_json::to_value(body).unwrap();
        for (k, v) in body.as_object().unwrap() {
            if k == "attributes" {
                let attrs = out["attributes"].as_object_mut().unwrap();
                for (ak, av) in v.as_object().unwrap() {
                    if av == "" {
                        attrs.remove(ak);
                    } else {
                        attrs.insert(ak.clone(), av.clone());
                    }
                }
            } else {
                out[k] = v.clone();
            }
        }
        let mut out: ClientRepresentation = serde_json::from_value(out).unwrap();
        out.attributes.as_mut().unwrap().rotated_secret = c.rotated_secret().cloned();
        let own = KeycloakFields::of(want);
        if changed.contains(&DEFAULT_SCOPES) {
            out.default_client_scopes = own.default_scopes.clone().map(|s| s.into_iter().collect());
        }
        if changed.contains(&KEYCLOAK_BLOCK) {
            out.optional_client_scopes = own.block().optional_client_scopes;
        }
        out
    }

    #[test]
    fn every_declared_field_edited_by_an_admin_is_drift_and_one_update_reverts_it() {
        let want = every_field();
        let created = as_keycloak_returns(&to_wire(&want));
        assert!(
            diff(&want, &created).is_empty(),
            "{:?}",
            diff(&want, &created)
        );
        assert_eq!(created.enabled, Some(true), "created enabled");
        let mut all = created.clone();
        let mut expected = vec![];
        for (what, field, edit) in admin_edits() {
            let mut edited = created.clone();
            edit(&mut edited);
            assert_eq!(diff(&want, &edited), [field], "an admin's edit of {what}");
            let body = update_body(&want, &[field]);
            let reverted = put(&edited, &body, &want, &[field]);
            assert!(
                diff(&want, &reverted).is_empty(),
                "{what}: the update {:?} does not revert it: {:?}",
                serde_json::to_value(&body).unwrap(),
                diff(&want, &reverted)
            );
            edit(&mut all);
            if !expected.contains(&field) {
                expected.push(field);
            }
        }
        // Every edit at once: every field differs, and one update reverts them all.
        let mut changed = diff(&want, &all);
        changed.sort();
        expected.sort();
        assert_eq!(changed, expected);
        let reverted = put(&all, &update_body(&want, &changed), &want, &changed);
        assert!(
            diff(&want, &reverted).is_empty(),
            "{:?}",
            diff(&want, &reverted)
        );
    }

    #[test]
    fn the_enabled_state_is_managed_even_when_the_spec_says_nothing() {
        let plain = fields();
        let mut remote = as_keycloak_returns(&to_wire(&plain));
        assert_eq!(remote.enabled, Some(true));
        remote.enabled = Some(false);
        assert_eq!(diff(&plain, &remote), [ENABLED]);
        assert_eq!(
            serde_json::to_value(update_body(&plain, &[ENABLED])).unwrap(),
            serde_json::json!({"enabled": true})
        );
        // `enabled: false` keeps a client off: created disabled, re-disabled.
        let off = with_own(
            fields(),
            KeycloakFields {
                block: Some(KeycloakClientFields {
                    enabled: Some(false),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        assert_eq!(to_wire(&off).enabled, Some(false));
        assert!(diff(&off, &remote).is_empty());
        remote.enabled = Some(true);
        assert_eq!(diff(&off, &remote), [ENABLED]);
        assert_eq!(update_body(&off, &[ENABLED]).enabled, Some(false));
        // Keycloak leaves `enabled` out: its default, enabled.
        remote.enabled = None;
        assert!(diff(&plain, &remote).is_empty());
    }

    #[test]
    fn updates_send_exactly_the_changed_fields() {
        let mut f = fields();
        f.name = "New".into();
        let body = update_body(&f, &[Field::Name, Field::PostLogoutRedirectUris]);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "name": "New",
                "attributes": {"post.logout.redirect.uris": "https://app.example.com/bye"},
            })
        );
        f.post_logout_redirect_uris.clear();
        let body = update_body(&f, &[Field::PostLogoutRedirectUris]);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"attributes": {"post.logout.redirect.uris": ""}}),
            "an empty value removes the attribute"
        );
        let body = update_body(&f, &[DEFAULT_SCOPES]);
        assert_eq!(body, ClientRepresentation::default());
    }

    #[test]
    fn unsupported_fields_are_refused_by_name() {
        let mut f = with_own(
            fields(),
            KeycloakFields {
                block: Some(KeycloakClientFields {
                    access_token_lifespan: Some("0s".into()),
                    attributes: Some(
                        [
                            ("client.secret.rotated".to_string(), "x".to_string()),
                            ("pkce.code.challenge.method".to_string(), "S256".to_string()),
                        ]
                        .into(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            },
        );
        f.grant_types.insert("urn:x:token-exchange".into());
        f.response_types.insert("id_token".into());
        f.token_endpoint_auth_method = "private_key_jwt".into();
        let named: Vec<String> = unsupported(&f).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            named,
            [
                "spec.grantTypes",
                "spec.tokenEndpointAuthMethod",
                "spec.responseTypes",
                "spec.keycloak.accessTokenLifespan",
                "spec.keycloak.attributes.client.secret.rotated",
                "spec.keycloak.attributes.pkce.code.challenge.method",
            ]
        );
        let e = check_supported(&f).unwrap_err();
        assert!(e.to_string().contains("spec.responseTypes: "), "{e}");
        let mut public = fields();
        public.token_endpoint_auth_method = "none".into();
        let e = check_supported(&public).unwrap_err();
        assert!(e.to_string().contains("public client"), "{e}");
        assert!(check_supported(&fields()).is_ok());
    }

    #[test]
    fn grace_needs_the_policy_and_fits_its_rotated_expiration() {
        let p = RotationPolicy {
            rotated_expiration_secs: 86_400,
            expiration_secs: 315_360_000,
        };
        assert!(check_grace(Duration::ZERO, None).is_ok());
        let (field, m) = check_grace(Duration::from_secs(60), None).unwrap_err();
        assert_eq!(field, "spec.rotation.gracePeriod");
        assert!(m.contains("secret-rotation"), "{m}");
        assert!(check_grace(Duration::from_secs(86_400), Some(p)).is_ok());
        let (_, m) = check_grace(Duration::from_secs(86_401), Some(p)).unwrap_err();
        assert!(m.contains("rotated-expiration-period"), "{m}");
        assert!(check_policy(Some(p)).is_ok());
        assert!(check_policy(None).is_ok());
        let e = check_policy(Some(RotationPolicy {
            expiration_secs: 28 * 86_400,
            ..p
        }))
        .unwrap_err();
        assert!(e.to_string().contains("expiration-period"), "{e}");
    }

    #[test]
    fn generated_secrets_are_long_alphanumeric_and_distinct() {
        let a = generate_secret();
        assert_eq!(a.expose().len(), GENERATED_SECRET_LEN);
        assert!(a.expose().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, generate_secret());
    }

    #[test]
    fn a_realms_endpoints_follow_keycloaks_layout() {
        let e = realm_endpoints("https://sso.example.com/auth/", "team a");
        assert_eq!(
            e.issuer.as_deref(),
            Some("https://sso.example.com/auth/realms/team%20a")
        );
        assert_eq!(
            e.token.as_deref(),
            Some("https://sso.example.com/auth/realms/team%20a/protocol/openid-connect/token")
        );
        assert_eq!(
            e.discovery.as_deref(),
            Some("https://sso.example.com/auth/realms/team%20a/.well-known/openid-configuration")
        );
    }
}
