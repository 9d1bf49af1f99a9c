//! An Entra application from and to the shared model: pure mapping, defaults,
//! refusals, drift, request bodies, and which passwords are clientops'. No I/O
//! (that is the adapter's).
//!
//! **Field mapping** (docs/providers/entra.md). `clientName` → `displayName`;
//! `redirectUris` → the `redirectUris` of the platform `spec.entra.redirectPlatform`
//! names (`web` by default; the other two platforms' lists are kept empty);
//! `clientUri` → `web.homePageUrl`; `policyUri` → `info.privacyStatementUrl`;
//! `tosUri` → `info.termsOfServiceUrl`; `responseTypes` `id_token` / `token` →
//! `web.implicitGrantSettings.enableIdTokenIssuance` /
//! `enableAccessTokenIssuance`; `spec.entra`: `signInAudience`,
//! `requiredResourceAccess`, `notes`, `tags` as they are.
//!
//! **What Entra has no per-application setting for** is normalised on both sides
//! so it is never drift: any Entra application may use `authorization_code`,
//! `refresh_token` and `client_credentials` (plus `implicit` when a token is
//! issued from the authorization endpoint), and authenticates with
//! `client_secret_basic` or `client_secret_post` alike. What it cannot hold at
//! all (`postLogoutRedirectUris`, `scopes`, `allowedCorsOrigins`, `logoUri`, public
//! clients, the device code and password grants) is refused by field
//! ([`unsupported`]).
//!
//! **Passwords.** Every password clientops adds is named [`password_name`]
//! (`clientops-<UTC time to the nanosecond>`: no whitespace, sortable), so they
//! are told apart from passwords added by a person. [`to_retire`] keeps the
//! newest of clientops' passwords and removes every other one;
//! [`hand_added`] are passwords without the marker added after clientops' newest
//! (drift, reported and removed; an older one, such as an imported client's, is
//! left to the next retire).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::wire::{
    Application, ImplicitGrantSettings, InformationalUrl, PasswordCredential, RedirectUris,
    RequiredResourceAccess, ResourceAccess, WebApplication,
};
use crate::api::entra::{
    EntraClientFields, RedirectPlatform, ResourceAccessRequest, SignInAudience,
};
use crate::provider::model::{ClientFields, Field, OwnFields, RemoteClient};

/// The prefix of every `uniqueName` and password `displayName` clientops sets.
pub const MARKER_PREFIX: &str = "clientops-";

/// The grants every Entra application may use (Entra has no per-application
/// list): what both sides of the comparison hold.
pub const ALWAYS_GRANTED: [&str; 3] = ["authorization_code", "client_credentials", "refresh_token"];

/// The auth method both sides hold: Entra accepts `client_secret_basic` and
/// `client_secret_post` from every confidential application.
pub const AUTH_METHOD: &str = "client_secret_basic";

/// `spec.entra.redirectPlatform`: in which platform the redirect URIs are.
pub const PLATFORM: Field = Field::Own("spec.entra.redirectPlatform");
/// `spec.entra.signInAudience`.
pub const AUDIENCE: Field = Field::Own("spec.entra.signInAudience");
/// `spec.entra.requiredResourceAccess`.
pub const PERMISSIONS: Field = Field::Own("spec.entra.requiredResourceAccess");
/// `spec.entra.notes`.
pub const NOTES: Field = Field::Own("spec.entra.notes");
/// `spec.entra.tags`.
pub const TAGS: Field = Field::Own("spec.entra.tags");
/// A password added to the application outside clientops (after clientops'
/// newest): the block owns the application's credentials.
pub const HAND_ADDED_PASSWORDS: Field =
    Field::Own("spec.entra (a client secret added outside clientops)");

/// Entra's own fields of a client, normalised: lists as sets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EntraFields {
    /// Redirect URIs per platform: web, spa, publicClient.
    pub web: BTreeSet<String>,
    pub spa: BTreeSet<String>,
    pub public_client: BTreeSet<String>,
    /// Graph's name of the audience (a remote one may be unknown to clientops).
    pub sign_in_audience: String,
    /// `(resourceAppId, {(id, type)})`.
    pub permissions: BTreeSet<(String, BTreeSet<(String, String)>)>,
    /// Managed when `Some` (desired); the remote value as it is.
    pub notes: Option<String>,
    pub tags: Option<BTreeSet<String>>,
    /// Remote only: key ids of passwords added outside clientops after its
    /// newest one (desired: none).
    pub hand_added: Vec<String>,
}

impl EntraFields {
    /// Where `have` (remote) differs from `self` (desired).
    pub fn differs(&self, have: Option<&EntraFields>) -> Vec<Field> {
        let empty = EntraFields::default();
        let have = have.unwrap_or(&empty);
        let mut out = vec![];
        if (&self.web, &self.spa, &self.public_client)
            != (&have.web, &have.spa, &have.public_client)
        {
            out.push(PLATFORM);
        }
        if self.sign_in_audience != have.sign_in_audience {
            out.push(AUDIENCE);
        }
        if self.permissions != have.permissions {
            out.push(PERMISSIONS);
        }
        if self.notes.is_some() && self.notes != have.notes {
            out.push(NOTES);
        }
        if self.tags.is_some() && self.tags != have.tags {
            out.push(TAGS);
        }
        if !have.hand_added.is_empty() {
            out.push(HAND_ADDED_PASSWORDS);
        }
        out
    }

    /// The desired own fields of `block` with the redirect URIs of `fields`.
    pub fn desired(block: Option<&EntraClientFields>, redirect_uris: &[String]) -> Self {
        let block = block.cloned().unwrap_or_default();
        let uris: BTreeSet<String> = redirect_uris.iter().cloned().collect();
        let mut own = EntraFields {
            sign_in_audience: block
                .sign_in_audience
                .unwrap_or_default()
                .as_str()
                .to_string(),
            permissions: permissions_of_spec(block.required_resource_access.as_deref()),
            notes: block.notes.clone(),
            tags: block.tags.map(|t| t.into_iter().collect()),
            ..Default::default()
        };
        match block.redirect_platform.unwrap_or_default() {
            RedirectPlatform::Web => own.web = uris,
            RedirectPlatform::Spa => own.spa = uris,
            RedirectPlatform::PublicClient => own.public_client = uris,
        }
        own
    }

    /// The own fields of `fields` (the default when none are Entra's).
    pub fn of(fields: &ClientFields) -> EntraFields {
        fields.own.get::<EntraFields>().cloned().unwrap_or_default()
    }
}

fn permissions_of_spec(
    rra: Option<&[ResourceAccessRequest]>,
) -> BTreeSet<(String, BTreeSet<(String, String)>)> {
    rra.unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r.resource_app_id.to_ascii_lowercase(),
                r.resource_access
                    .iter()
                    .map(|a| (a.id.to_ascii_lowercase(), a.kind.as_str().to_string()))
                    .collect(),
            )
        })
        .collect()
}

fn permissions_of_wire(
    rra: Option<&[RequiredResourceAccess]>,
) -> BTreeSet<(String, BTreeSet<(String, String)>)> {
    rra.unwrap_or_default()
        .iter()
        .map(|r| {
            (
                r.resource_app_id.to_ascii_lowercase(),
                r.resource_access
                    .iter()
                    .map(|a| (a.id.to_ascii_lowercase(), a.kind.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// The shared fields as Entra holds them (see the module doc): grants, auth
/// method and response types normalised, `fields.own` set from `block`. Call
/// [`unsupported`] first.
pub fn apply_defaults(fields: &mut ClientFields, block: Option<&EntraClientFields>) {
    let implicit = implicit_response(&fields.response_types);
    fields.grant_types = granted(implicit.0 || implicit.1);
    fields.response_types = response_types(implicit.0, implicit.1);
    fields.token_endpoint_auth_method = AUTH_METHOD.into();
    fields.own = OwnFields::new(EntraFields::desired(block, &fields.redirect_uris));
}

/// Whether `id_token` and `token` are among the response types.
fn implicit_response(r: &BTreeSet<String>) -> (bool, bool) {
    (r.contains("id_token"), r.contains("token"))
}

fn granted(implicit: bool) -> BTreeSet<String> {
    let mut g: BTreeSet<String> = ALWAYS_GRANTED.iter().map(|s| s.to_string()).collect();
    if implicit {
        g.insert("implicit".into());
    }
    g
}

fn response_types(id_token: bool, token: bool) -> BTreeSet<String> {
    let mut r: BTreeSet<String> = ["code".to_string()].into();
    if id_token {
        r.insert("id_token".into());
    }
    if token {
        r.insert("token".into());
    }
    r
}

/// What Entra cannot represent, by field: `(spec path, message)`. Checked on the
/// shared fields before [`apply_defaults`] normalises them.
pub fn unsupported(f: &ClientFields, block: Option<&EntraClientFields>) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut refuse = |field: &str, message: String| out.push((field.to_string(), message));
    let allowed = [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "implicit",
    ];
    if let Some(g) = f
        .grant_types
        .iter()
        .find(|g| !allowed.contains(&g.as_str()))
    {
        refuse(
            "spec.grantTypes",
            format!(
                "Entra applications managed by clientops support authorization_code, refresh_token, client_credentials and implicit; {g:?} needs a public client, which clientops does not manage on Entra yet; remove it"
            ),
        );
    }
    let (id_token, token) = implicit_response(&f.response_types);
    if f.grant_types.contains("implicit") && !id_token && !token {
        refuse(
            "spec.grantTypes",
            "implicit: Entra issues tokens from the authorization endpoint only for the response types id_token and token; add one to spec.responseTypes or remove implicit".into(),
        );
    }
    if f.token_endpoint_auth_method == "none" {
        refuse(
            "spec.tokenEndpointAuthMethod",
            "none (a public client) is not supported for Entra yet: clientops manages confidential applications with client secrets; use client_secret_basic or client_secret_post".into(),
        );
    }
    if !f.post_logout_redirect_uris.is_empty() {
        refuse(
            "spec.postLogoutRedirectUris",
            "Entra has no list of post-logout redirect URIs: it accepts any of the application's redirect URIs as post_logout_redirect_uri; add them to spec.redirectUris and remove this field".into(),
        );
    }
    if !f.scopes.is_empty() {
        refuse(
            "spec.scopes",
            "an Entra application has no list of scopes it may ask for (it asks at the token endpoint); declare the API permissions it needs in spec.entra.requiredResourceAccess and remove spec.scopes".into(),
        );
    }
    if !f.allowed_cors_origins.is_empty() {
        refuse(
            "spec.allowedCorsOrigins",
            "Entra allows cross-origin token requests from the redirect URIs of the spa platform; set spec.entra.redirectPlatform: spa and remove allowedCorsOrigins".into(),
        );
    }
    if f.logo_uri.is_some() {
        refuse(
            "spec.logoUri",
            "Entra takes an application's logo as an uploaded image, not a URL; remove spec.logoUri".into(),
        );
    }
    let b = block.cloned().unwrap_or_default();
    let personal = b
        .sign_in_audience
        .unwrap_or_default()
        .allows_personal_accounts();
    let max = if personal { 100 } else { 256 };
    if f.redirect_uris.len() > max {
        refuse(
            "spec.redirectUris",
            format!("Entra allows at most {max} redirect URIs for this sign-in audience"),
        );
    }
    if let Some((i, u)) = f
        .redirect_uris
        .iter()
        .enumerate()
        .find(|(_, u)| u.len() > 256)
    {
        refuse(
            &format!("spec.redirectUris[{i}]"),
            format!(
                "Entra allows at most 256 characters in a redirect URI ({} here)",
                u.len()
            ),
        );
    }
    let platform = b.redirect_platform.unwrap_or_default();
    if platform != RedirectPlatform::PublicClient
        && let Some((i, _)) = f
            .redirect_uris
            .iter()
            .enumerate()
            .find(|(_, u)| !https_or_localhost(u))
    {
        refuse(
            &format!("spec.redirectUris[{i}]"),
            "Entra requires https:// redirect URIs for web and spa applications (http:// only for localhost); use https, or spec.entra.redirectPlatform: publicClient for a native application".into(),
        );
    }
    out
}

fn https_or_localhost(u: &str) -> bool {
    let Ok(url) = url::Url::parse(u) else {
        return false;
    };
    url.scheme() == "https" || (url.scheme() == "http" && url.host_str() == Some("localhost"))
}

/// The `uniqueName` of the application of the OAuthClient with `marker` (its
/// UID): lower case, at most 62 characters (room for a `.n` suffix) of
/// `[a-z0-9._-]`; `None` when the
/// marker cannot be one.
pub fn unique_name(marker: &str) -> Option<String> {
    let name = format!("{MARKER_PREFIX}{}", marker.to_ascii_lowercase());
    let ok = name.len() <= 62
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    ok.then_some(name)
}

/// The most names [`unique_names`] tries.
pub const MAX_NAMES: usize = 9;

/// The `uniqueName`s an OAuthClient's application may have, in the order they
/// are tried: [`unique_name`], then with `.2` … `.9` appended (a name still
/// held by a deleted application, which clientops cannot restore, moves on to
/// the next; the sequence is the same on every attempt, so a repeated create
/// finds the application an earlier one made).
pub fn unique_names(marker: &str) -> Option<Vec<String>> {
    let base = unique_name(marker)?;
    let mut names = vec![base.clone()];
    names.extend((2..=MAX_NAMES).map(|n| format!("{base}.{n}")));
    Some(names)
}

/// The marker in a `uniqueName` clientops chose (without a `.n` suffix).
pub fn marker_of(unique_name: &str) -> Option<String> {
    unique_name
        .strip_prefix(MARKER_PREFIX)
        .map(|m| m.split('.').next().unwrap_or_default())
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

/// The `displayName` of a password clientops adds at `now`.
pub fn password_name(now: DateTime<Utc>) -> String {
    format!("{MARKER_PREFIX}{}", now.format("%Y%m%dT%H%M%S%.9fZ"))
}

/// Whether clientops added this password.
pub fn is_ours(p: &PasswordCredential) -> bool {
    p.display_name
        .as_deref()
        .is_some_and(|n| n.starts_with(MARKER_PREFIX))
}

fn start(p: &PasswordCredential) -> Option<DateTime<Utc>> {
    p.start_date_time
        .as_deref()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// clientops' newest password: by its name (the time clientops added it).
pub fn newest_ours(ps: &[PasswordCredential]) -> Option<&PasswordCredential> {
    ps.iter()
        .filter(|p| is_ours(p))
        .max_by(|a, b| a.display_name.cmp(&b.display_name))
}

/// The key ids to remove when retiring: every password but clientops' newest
/// (when clientops has none, e.g. an imported client never rotated, the newest
/// password is kept).
pub fn to_retire(ps: &[PasswordCredential]) -> Vec<String> {
    let keep = newest_ours(ps)
        .or_else(|| ps.iter().max_by_key(|p| start(p)))
        .and_then(|p| p.key_id.clone());
    ps.iter()
        .filter_map(|p| p.key_id.clone())
        .filter(|k| Some(k) != keep.as_ref())
        .collect()
}

/// When the current secret stops working: the `endDateTime` of clientops'
/// newest password (of the newest password, when clientops has none: an
/// imported client's).
pub fn current_expiry(ps: &[PasswordCredential]) -> Option<DateTime<Utc>> {
    newest_ours(ps)
        .or_else(|| ps.iter().max_by_key(|p| start(p)))
        .and_then(|p| p.end_date_time.as_deref())
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Passwords without clientops' marker added after clientops' newest (or in the
/// same instant: Graph's times may be whole seconds): added by a person behind
/// clientops' back. Older ones (an imported client's secret, still
/// in use until its first rotation is retired) are not.
pub fn hand_added(ps: &[PasswordCredential]) -> Vec<String> {
    let Some(ours) = newest_ours(ps).and_then(start) else {
        return vec![];
    };
    ps.iter()
        .filter(|p| !is_ours(p) && start(p).is_some_and(|s| s >= ours))
        .filter_map(|p| p.key_id.clone())
        .collect()
}

/// The remote application in the neutral model; `id` is its `appId`.
pub fn to_remote(a: &Application) -> RemoteClient {
    let list = |r: Option<&Vec<String>>| r.into_iter().flatten().cloned().collect::<BTreeSet<_>>();
    let web = a.web.clone().unwrap_or_default();
    let own = EntraFields {
        web: list(web.redirect_uris.as_ref()),
        spa: list(a.spa.as_ref().and_then(|s| s.redirect_uris.as_ref())),
        public_client: list(
            a.public_client
                .as_ref()
                .and_then(|s| s.redirect_uris.as_ref()),
        ),
        sign_in_audience: a.sign_in_audience.clone().unwrap_or_default(),
        permissions: permissions_of_wire(a.required_resource_access.as_deref()),
        notes: a.notes.clone(),
        tags: Some(a.tags.iter().flatten().cloned().collect()),
        hand_added: hand_added(a.password_credentials.as_deref().unwrap_or_default()),
    };
    let mut redirect_uris: Vec<String> = vec![];
    for u in own.web.iter().chain(&own.spa).chain(&own.public_client) {
        if !redirect_uris.contains(u) {
            redirect_uris.push(u.clone());
        }
    }
    let implicit = web.implicit_grant_settings.unwrap_or_default();
    let id_token = implicit.enable_id_token_issuance.unwrap_or(false);
    let token = implicit.enable_access_token_issuance.unwrap_or(false);
    let info = a.info.clone().unwrap_or_default();
    RemoteClient {
        id: a.app_id.clone().unwrap_or_default(),
        fields: ClientFields {
            name: a.display_name.clone().unwrap_or_default(),
            redirect_uris,
            post_logout_redirect_uris: vec![],
            grant_types: granted(id_token || token),
            response_types: response_types(id_token, token),
            scopes: BTreeSet::new(),
            token_endpoint_auth_method: AUTH_METHOD.into(),
            allowed_cors_origins: BTreeSet::new(),
            client_uri: web.home_page_url.clone(),
            logo_uri: info.logo_url.clone(),
            policy_uri: info.privacy_statement_url.clone(),
            tos_uri: info.terms_of_service_url.clone(),
            own: OwnFields::new(own),
        },
        has_rotated_secret: a.password_credentials.as_ref().map_or(0, Vec::len) > 1,
        created_at: a
            .created_date_time
            .as_deref()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc)),
        marker: a.unique_name.as_deref().and_then(marker_of),
        secret_changed_at: None,
        secret_expires_at: current_expiry(a.password_credentials.as_deref().unwrap_or_default()),
    }
}

/// The body of the create (`PATCH /applications(uniqueName=…)` with `Prefer:
/// create-if-missing`): every managed field.
pub fn create_body(f: &ClientFields) -> Application {
    let every = [
        Field::Name,
        Field::RedirectUris,
        Field::ResponseTypes,
        Field::ClientUri,
        Field::PolicyUri,
        Field::TosUri,
        PLATFORM,
        AUDIENCE,
        PERMISSIONS,
        NOTES,
        TAGS,
    ];
    update_body(f, &every)
}

/// The `PATCH` body that sets exactly the `changed` fields (a changed part of
/// `web` or `info` sends that whole object with every managed member).
pub fn update_body(f: &ClientFields, changed: &[Field]) -> Application {
    let own = EntraFields::of(f);
    let has = |x: Field| changed.contains(&x);
    let mut a = Application::default();
    if has(Field::Name) {
        a.display_name = Some(f.name.clone());
    }
    let uris = has(Field::RedirectUris) || has(PLATFORM);
    if uris || has(Field::ResponseTypes) || has(Field::GrantTypes) || has(Field::ClientUri) {
        let (id_token, token) = implicit_response(&f.response_types);
        a.web = Some(WebApplication {
            redirect_uris: Some(own.web.iter().cloned().collect()),
            home_page_url: f.client_uri.clone(),
            logout_url: None,
            implicit_grant_settings: Some(ImplicitGrantSettings {
                enable_id_token_issuance: Some(id_token),
                enable_access_token_issuance: Some(token),
            }),
        });
    }
    if uris {
        a.spa = Some(RedirectUris {
            redirect_uris: Some(own.spa.iter().cloned().collect()),
        });
        a.public_client = Some(RedirectUris {
            redirect_uris: Some(own.public_client.iter().cloned().collect()),
        });
    }
    if (has(Field::PolicyUri) || has(Field::TosUri))
        && (f.policy_uri.is_some() || f.tos_uri.is_some())
    {
        a.info = Some(InformationalUrl {
            privacy_statement_url: f.policy_uri.clone(),
            terms_of_service_url: f.tos_uri.clone(),
            ..Default::default()
        });
    }
    if has(AUDIENCE) {
        a.sign_in_audience = Some(own.sign_in_audience.clone());
    }
    if has(PERMISSIONS) {
        a.required_resource_access = Some(
            own.permissions
                .iter()
                .map(|(app, access)| RequiredResourceAccess {
                    resource_app_id: app.clone(),
                    resource_access: access
                        .iter()
                        .map(|(id, kind)| ResourceAccess {
                            id: id.clone(),
                            kind: kind.clone(),
                        })
                        .collect(),
                })
                .collect(),
        );
    }
    if has(NOTES) && own.notes.is_some() {
        a.notes = own.notes.clone();
    }
    if has(TAGS) && own.tags.is_some() {
        a.tags = own.tags.as_ref().map(|t| t.iter().cloned().collect());
    }
    a
}

/// Whether the audience of `f` lets personal accounts sign in (Entra then
/// allows at most two passwords).
pub fn allows_personal_accounts(f: &ClientFields) -> bool {
    SignInAudience::parse(&EntraFields::of(f).sign_in_audience)
        .is_some_and(SignInAudience::allows_personal_accounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::entra::{ResourceAccess as SpecAccess, ResourceAccessType};

    fn shared(redirect: &[&str]) -> ClientFields {
        ClientFields {
            name: "App".into(),
            redirect_uris: redirect.iter().map(|s| s.to_string()).collect(),
            grant_types: ["authorization_code".to_string()].into(),
            response_types: ["code".to_string()].into(),
            token_endpoint_auth_method: "client_secret_post".into(),
            ..Default::default()
        }
    }

    fn block(v: serde_json::Value) -> EntraClientFields {
        serde_json::from_value(v).unwrap()
    }

    fn password(key: &str, name: &str, start: &str) -> PasswordCredential {
        PasswordCredential {
            key_id: Some(key.into()),
            display_name: Some(name.into()),
            start_date_time: Some(start.into()),
            ..Default::default()
        }
    }

    /// A desired client read back through Graph's representation is no drift;
    /// an edit in the portal to each managed field is.
    #[test]
    fn a_created_application_reads_back_without_drift_and_portal_edits_are_drift() {
        let b = block(serde_json::json!({
            "redirectPlatform": "spa",
            "signInAudience": "AzureADMultipleOrgs",
            "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-C000-000000000000",
                "resourceAccess": [{"id": "E1FE6DD8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}],
            "notes": "owned by team a",
            "tags": ["team-a"],
        }));
        let mut want = shared(&["https://a.example.com/cb"]);
        want.response_types.insert("id_token".into());
        want.client_uri = Some("https://a.example.com".into());
        want.tos_uri = Some("https://a.example.com/terms".into());
        assert!(unsupported(&want, Some(&b)).is_empty());
        apply_defaults(&mut want, Some(&b));
        assert!(want.grant_types.contains("implicit"));
        assert_eq!(want.token_endpoint_auth_method, AUTH_METHOD);

        let mut app = create_body(&want);
        assert_eq!(
            app.spa.as_ref().unwrap().redirect_uris,
            Some(vec!["https://a.example.com/cb".to_string()])
        );
        assert_eq!(app.web.as_ref().unwrap().redirect_uris, Some(vec![]));
        app.app_id = Some("app-1".into());
        app.unique_name = Some("clientops-uid-1".into());
        let remote = to_remote(&app);
        assert_eq!(remote.id, "app-1");
        assert_eq!(remote.marker.as_deref(), Some("uid-1"));
        assert_eq!(want.diff(&remote.fields), vec![]);

        // The portal: a URI moved to web, another audience, a permission more,
        // implicit id tokens off.
        let mut edited = app.clone();
        edited.spa = Some(RedirectUris {
            redirect_uris: Some(vec![]),
        });
        edited.web.as_mut().unwrap().redirect_uris = Some(vec!["https://a.example.com/cb".into()]);
        edited.sign_in_audience = Some("AzureADandPersonalMicrosoftAccount".into());
        edited
            .required_resource_access
            .as_mut()
            .unwrap()
            .push(RequiredResourceAccess {
                resource_app_id: "00000003-0000-0000-c000-000000000000".into(),
                resource_access: vec![ResourceAccess {
                    id: "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9".into(),
                    kind: "Role".into(),
                }],
            });
        edited.web.as_mut().unwrap().implicit_grant_settings = None;
        edited.tags = Some(vec![]);
        let drift = want.diff(&to_remote(&edited).fields);
        assert_eq!(
            drift,
            vec![
                Field::GrantTypes,
                Field::ResponseTypes,
                PLATFORM,
                AUDIENCE,
                PERMISSIONS,
                TAGS
            ]
        );
        // The patch puts them back.
        let patch = update_body(&want, &drift);
        assert_eq!(patch.spa, app.spa);
        assert_eq!(patch.sign_in_audience, app.sign_in_audience);
        assert_eq!(patch.required_resource_access, app.required_resource_access);
        assert_eq!(patch.display_name, None, "only what changed");
    }

    #[test]
    fn unset_optional_fields_are_not_managed() {
        let mut want = shared(&["https://a.example.com/cb"]);
        apply_defaults(&mut want, None);
        let mut app = create_body(&want);
        assert_eq!(app.sign_in_audience.as_deref(), Some("AzureADMyOrg"));
        assert_eq!(app.notes, None);
        app.notes = Some("set in the portal".into());
        app.tags = Some(vec!["x".into()]);
        app.info = Some(InformationalUrl {
            marketing_url: Some("https://m".into()),
            ..Default::default()
        });
        assert_eq!(want.diff(&to_remote(&app).fields), vec![]);
        // ...but the permissions are always: absent means none.
        app.required_resource_access = Some(vec![RequiredResourceAccess {
            resource_app_id: "r".into(),
            resource_access: vec![],
        }]);
        assert_eq!(want.diff(&to_remote(&app).fields), vec![PERMISSIONS]);
    }

    #[test]
    fn what_entra_cannot_hold_is_refused_by_field() {
        let fields = |f: &ClientFields| {
            unsupported(f, None)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        let mut f = shared(&["https://a.example.com/cb"]);
        assert!(fields(&f).is_empty());
        f.grant_types
            .insert("urn:ietf:params:oauth:grant-type:device_code".into());
        f.scopes.insert("openid".into());
        f.post_logout_redirect_uris = vec!["https://a/bye".into()];
        f.logo_uri = Some("https://a/logo.png".into());
        f.allowed_cors_origins.insert("https://a".into());
        f.token_endpoint_auth_method = "none".into();
        assert_eq!(
            fields(&f),
            [
                "spec.grantTypes",
                "spec.tokenEndpointAuthMethod",
                "spec.postLogoutRedirectUris",
                "spec.scopes",
                "spec.allowedCorsOrigins",
                "spec.logoUri"
            ]
        );
        let f = shared(&["https://a/cb", "http://app.example.com/cb"]);
        assert_eq!(fields(&f), ["spec.redirectUris[1]"]);
        assert!(fields(&shared(&["http://localhost:8080/cb"])).is_empty());
        let native = block(serde_json::json!({"redirectPlatform": "publicClient"}));
        assert!(unsupported(&shared(&["myapp://auth"]), Some(&native)).is_empty());
        let mut f = shared(&["https://a/cb"]);
        f.grant_types.insert("implicit".into());
        assert_eq!(fields(&f), ["spec.grantTypes"]);
    }

    #[test]
    fn unique_names_carry_the_marker() {
        let uid = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
        let n = unique_name(uid).unwrap();
        assert_eq!(n, format!("clientops-{uid}"));
        assert_eq!(marker_of(&n).as_deref(), Some(uid));
        assert_eq!(marker_of("someone-elses-app"), None);
        let names = unique_names(uid).unwrap();
        assert_eq!(names.len(), MAX_NAMES);
        assert_eq!(names[1], format!("clientops-{uid}.2"));
        assert!(
            names
                .iter()
                .all(|n| marker_of(n).as_deref() == Some(uid) && n.len() <= 64)
        );
        assert_eq!(unique_name("a b"), None);
        assert_eq!(unique_name(&"x".repeat(60)), None);
    }

    #[test]
    fn retire_keeps_only_clientops_newest_password() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let older = password_name(t("2026-12-07T10:00:00.000000001Z"));
        let newer = password_name(t("2026-12-07T10:00:00.000000002Z"));
        assert!(older < newer && !newer.contains(' '));
        let ps = vec![
            password("k-new", &newer, "2026-12-07T10:00:00Z"),
            password("k-old", &older, "2026-12-07T10:00:00Z"),
            password("k-hand", "Added in the portal", "2026-12-07T09:00:00Z"),
        ];
        assert_eq!(to_retire(&ps), ["k-old", "k-hand"]);
        // The current secret's expiry is clientops' newest password's.
        let mut ps = ps;
        ps[0].end_date_time = Some("2028-12-07T10:00:00Z".into());
        ps[1].end_date_time = Some("2027-01-01T00:00:00Z".into());
        assert_eq!(current_expiry(&ps), Some(t("2028-12-07T10:00:00Z")));
        // An imported client's own secret is kept until clientops has one.
        let imported = vec![
            password("k-1", "legacy", "2026-01-01T00:00:00Z"),
            password("k-2", "legacy 2", "2026-02-01T00:00:00Z"),
        ];
        assert_eq!(to_retire(&imported), ["k-1"]);
        assert!(to_retire(&[]).is_empty());
    }

    #[test]
    fn a_password_added_by_hand_after_clientops_newest_is_drift() {
        let ours = password_name(Utc::now());
        let mut want = shared(&["https://a/cb"]);
        apply_defaults(&mut want, None);
        let mut app = create_body(&want);
        app.password_credentials = Some(vec![
            password("k-import", "legacy", "2026-01-01T00:00:00Z"),
            password("k-ours", &ours, "2026-06-01T00:00:00Z"),
        ]);
        let remote = to_remote(&app);
        assert!(remote.has_rotated_secret);
        assert_eq!(
            want.diff(&remote.fields),
            vec![],
            "older: an import's secret"
        );
        app.password_credentials.as_mut().unwrap().push(password(
            "k-hand",
            "portal",
            "2026-06-02T00:00:00Z",
        ));
        let remote = to_remote(&app);
        assert_eq!(
            EntraFields::of(&remote.fields).hand_added,
            vec!["k-hand".to_string()]
        );
        assert_eq!(want.diff(&remote.fields), vec![HAND_ADDED_PASSWORDS]);
    }

    #[test]
    fn spec_permissions_compare_case_insensitively_by_id() {
        let want = EntraFields::desired(
            Some(&EntraClientFields {
                required_resource_access: Some(vec![ResourceAccessRequest {
                    resource_app_id: "ABC".into(),
                    resource_access: vec![SpecAccess {
                        id: "ID-1".into(),
                        kind: ResourceAccessType::Role,
                    }],
                }]),
                ..Default::default()
            }),
            &[],
        );
        let have = permissions_of_wire(Some(&[RequiredResourceAccess {
            resource_app_id: "abc".into(),
            resource_access: vec![ResourceAccess {
                id: "id-1".into(),
                kind: "Role".into(),
            }],
        }]));
        assert_eq!(want.permissions, have);
    }
}
