//! The typed client of Keycloak's admin REST API for the OIDC clients of one
//! realm (`/admin/realms/{realm}/clients`, Keycloak 26).
//!
//! - Every call goes through the server's shared rate limiter and the retry
//!   policy ([`Executor`]); a create or a secret regeneration is never retried
//!   once it may have reached Keycloak (`OutcomeUnknown` when its answer is lost).
//! - Authentication: a bearer token from [`TokenSource`]; a 401 invalidates it
//!   and the call is made once more with a fresh one.
//! - Clients are addressed by their OAuth `clientId`; Keycloak's admin URLs take
//!   its internal UUID instead. The UUID of a client id is looked up once
//!   (`GET ?clientId=`) and remembered process-wide; a 404 at a remembered UUID
//!   forgets it and looks it up again (the client was deleted and made anew).
//! - Errors: `{errorMessage}` or `{error, error_description}`; the HTTP status
//!   decides the variant, the text is kept sanitized.
//! - LIST pages with `first`/`max` until a short page, within the LIST budget.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use url::Url;

use super::auth::{AccessToken, KeycloakCredentials, TokenSource, token_source};
use super::wire::{
    ClientPolicies, ClientProfiles, ClientRepresentation, ClientScope, CredentialRepresentation,
    ErrorBody, RotationPolicy, rotation_policy,
};
use crate::api::provider::ProviderType;
use crate::provider::error::{Operation, ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse, error_for_status, parse_base_url, to_json};
use crate::provider::list_budget::{ListBudget, ListMeter};
use crate::provider::model::SecretCheck;
use crate::provider::oauth_probe::{self, ClientAuth};
use crate::provider::ratelimit::{RateLimitConfig, RateLimiterRegistry};
use crate::provider::rest;
use crate::provider::transport::{ClientConfig, ProviderClient, Transport, TransportConfig};
use crate::secret::ClientSecret;

/// The client-side limit when the provider object sets none: Keycloak is
/// self-hosted and documents no limit; 50 requests per second protects it from a
/// burst of reconciles without slowing a normal fleet.
pub const DEFAULT_RATE_LIMIT: RateLimitConfig = RateLimitConfig {
    requests: 50,
    period: Duration::from_secs(1),
};

/// Clients asked for per LIST page (a full client representation is 2–3 KB).
pub const PAGE_SIZE: usize = 200;

/// How long the realm's client policies are remembered.
pub const POLICY_TTL: Duration = Duration::from_secs(60);

/// How to reach one realm of one Keycloak.
#[derive(Clone, Debug)]
pub struct KeycloakConfig {
    /// Keycloak's base URL, e.g. `https://sso.example.com` (a path prefix such as
    /// `/auth` is kept).
    pub url: String,
    /// The realm whose clients are managed.
    pub realm: String,
    /// The realm of the admin credentials.
    pub auth_realm: String,
    /// The admin credentials.
    pub credentials: KeycloakCredentials,
    /// Rate limit, retries, body caps and LIST budget.
    pub transport: TransportConfig,
    /// Clients asked for per LIST page.
    pub page_size: usize,
}

impl KeycloakConfig {
    /// The realm `realm` at `url`, credentials checked in the same realm.
    pub fn new(
        url: impl Into<String>,
        realm: impl Into<String>,
        credentials: KeycloakCredentials,
    ) -> Self {
        let realm = realm.into();
        Self {
            url: url.into(),
            auth_realm: realm.clone(),
            realm,
            credentials,
            transport: TransportConfig::new(DEFAULT_RATE_LIMIT),
            page_size: PAGE_SIZE,
        }
    }

    /// Obtain the admin token in another realm (e.g. `master`).
    pub fn with_auth_realm(mut self, realm: impl Into<String>) -> Self {
        self.auth_realm = realm.into();
        self
    }

    /// Ask for `n` clients per LIST page.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }
}

impl ClientConfig for KeycloakConfig {
    fn transport(&mut self) -> &mut TransportConfig {
        &mut self.transport
    }
}

/// Which of a client's scope lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    /// Always in the client's tokens.
    Default,
    /// Granted when the client asks for it.
    Optional,
}

impl ScopeKind {
    fn segment(self) -> &'static str {
        match self {
            ScopeKind::Default => "default-client-scopes",
            ScopeKind::Optional => "optional-client-scopes",
        }
    }
}

/// UUIDs of client ids, by `base|realm|clientId`, process-wide.
static UUIDS: LazyLock<Mutex<HashMap<String, String>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// The most UUIDs remembered before the map is cleared.
const MAX_UUIDS: usize = 200_000;

/// The realms' rotation policies, by `base|realm`, with when they were read.
type PolicyCache = HashMap<String, (Instant, Option<RotationPolicy>)>;
static POLICIES: LazyLock<Mutex<PolicyCache>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// A client of one realm's admin API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct KeycloakClient {
    base: Url,
    realm: String,
    exec: Executor,
    tokens: Arc<TokenSource>,
    page_size: usize,
    list_cap: usize,
    list_budget: ListBudget,
}

impl ProviderClient for KeycloakClient {
    type Config = KeycloakConfig;

    fn new(
        config: KeycloakConfig,
        http: reqwest::Client,
        limiters: &RateLimiterRegistry,
    ) -> Result<Self, ProviderError> {
        let base = parse_base_url("Keycloak (spec.keycloak.url)", &config.url)?;
        if base.path().trim_end_matches('/').ends_with("/admin") {
            return Err(ProviderError::config(
                "spec.keycloak.url must be Keycloak's base URL without /admin (e.g. https://sso.example.com)",
            ));
        }
        for (field, realm) in [
            ("spec.keycloak.realm", &config.realm),
            ("spec.keycloak.authRealm", &config.auth_realm),
        ] {
            if realm.is_empty() || realm.contains('/') || realm == "." || realm == ".." {
                return Err(ProviderError::config(format!(
                    "{field} must be a realm name without '/', e.g. apps"
                )));
            }
        }
        let Transport {
            exec,
            list_cap,
            list_budget,
        } = config
            .transport
            .open(http, limiters, &base, ProviderType::Keycloak.block_name());
        let token_url = join(
            &base,
            &[
                "realms",
                &config.auth_realm,
                "protocol",
                "openid-connect",
                "token",
            ],
        )?;
        let tokens = token_source(token_url, &config.credentials, exec.clone())?;
        Ok(Self {
            base,
            realm: config.realm,
            exec,
            tokens,
            page_size: config.page_size.max(1),
            list_cap,
            list_budget,
        })
    }

    fn executor(&self) -> &Executor {
        &self.exec
    }

    /// The admin token requests go through it too.
    fn set_executor(&mut self, exec: Executor) {
        self.tokens = self.tokens.with_executor(exec.clone());
        self.exec = exec;
    }
}

impl KeycloakClient {
    /// Keycloak's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The managed realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The admin token source (for tests of the refresh logic).
    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }

    /// `{base}/realms/{realm}/protocol/openid-connect/token`: where the managed
    /// clients obtain tokens.
    pub fn token_url(&self) -> Result<Url, ProviderError> {
        join(
            &self.base,
            &["realms", &self.realm, "protocol", "openid-connect", "token"],
        )
    }

    fn admin_url(&self, suffix: &[&str]) -> Result<Url, ProviderError> {
        let mut segments = vec!["admin", "realms", self.realm.as_str()];
        segments.extend_from_slice(suffix);
        join(&self.base, &segments)
    }

    fn uuid_key(&self, client_id: &str) -> String {
        format!("{}|{}|{client_id}", self.base, self.realm)
    }

    fn remember(&self, rep: &ClientRepresentation) {
        if let (Some(client_id), Some(uuid)) = (&rep.client_id, &rep.id) {
            let mut m = UUIDS.lock().unwrap_or_else(|e| e.into_inner());
            if m.len() >= MAX_UUIDS {
                m.clear();
            }
            m.insert(self.uuid_key(client_id), uuid.clone());
        }
    }

    fn forget(&self, client_id: &str) {
        UUIDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.uuid_key(client_id));
    }

    fn remembered(&self, client_id: &str) -> Option<String> {
        UUIDS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.uuid_key(client_id))
            .cloned()
    }

    /// Every client of the realm (Keycloak's own included), page by page.
    pub async fn list(&self) -> Result<Vec<ClientRepresentation>, ProviderError> {
        let mut meter = ListMeter::new(self.list_budget);
        let mut out: Vec<ClientRepresentation> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut first = 0usize;
        loop {
            let mut url = self.admin_url(&["clients"])?;
            url.query_pairs_mut()
                .append_pair("first", &first.to_string())
                .append_pair("max", &self.page_size.to_string());
            let page: Vec<ClientRepresentation> = self.call_list(&mut meter, &url).await?;
            let n = page.len();
            for c in page {
                // Offset paging repeats a client when one before it was deleted
                // between pages: keep the first copy.
                if seen.insert(c.id.clone().unwrap_or_default()) {
                    self.remember(&c);
                    out.push(c);
                }
            }
            if n < self.page_size {
                return Ok(out);
            }
            first += n;
        }
    }

    async fn call_list(
        &self,
        meter: &mut ListMeter,
        url: &Url,
    ) -> Result<Vec<ClientRepresentation>, ProviderError> {
        let token = self.tokens.token().await?;
        match self.send_page(meter, url, &token).await {
            Err(ProviderError::Unauthorized { .. }) => {
                self.tokens.invalidate(token.generation).await;
                let token = self.tokens.token().await?;
                self.send_page(meter, url, &token).await
            }
            other => other,
        }
    }

    async fn send_page(
        &self,
        meter: &mut ListMeter,
        url: &Url,
        token: &AccessToken,
    ) -> Result<Vec<ClientRepresentation>, ProviderError> {
        let bearer = bearer(token)?;
        meter
            .page(
                &self.exec,
                self.list_cap,
                |c| {
                    c.get(url.clone())
                        .header(http::header::AUTHORIZATION, bearer.clone())
                        .header(http::header::ACCEPT, "application/json")
                },
                |raw| decode(&raw),
            )
            .await
    }

    /// The client with OAuth client id `client_id`, `None` when there is none.
    pub async fn find(
        &self,
        client_id: &str,
    ) -> Result<Option<ClientRepresentation>, ProviderError> {
        check_client_id(client_id)?;
        let mut url = self.admin_url(&["clients"])?;
        url.query_pairs_mut()
            .append_pair("clientId", client_id)
            .append_pair("search", "false");
        let found: Vec<ClientRepresentation> = self
            .call(Operation::Get, Method::GET, url, None, |raw| decode(&raw))
            .await?;
        let c = found
            .into_iter()
            .find(|c| c.client_id.as_deref() == Some(client_id));
        match &c {
            Some(c) => self.remember(c),
            None => self.forget(client_id),
        }
        Ok(c)
    }

    /// The UUID of `client_id`: remembered, or looked up; `NotFound` when no such
    /// client exists.
    async fn uuid(&self, client_id: &str) -> Result<(String, bool), ProviderError> {
        if let Some(u) = self.remembered(client_id) {
            return Ok((u, true));
        }
        match self.find(client_id).await? {
            Some(c) => Ok((c.id.unwrap_or_default(), false)),
            None => Err(ProviderError::NotFound {
                messages: vec![ProviderMessage::new(
                    None,
                    &format!("no client {client_id} in realm {}", self.realm),
                    None,
                )],
            }),
        }
    }

    /// Run `op` on the client's UUID; a 404 at a remembered UUID looks it up
    /// again once (the client may have been made anew under the same id).
    async fn on_client<T, F, Fut>(&self, client_id: &str, op: F) -> Result<T, ProviderError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let (uuid, remembered) = self.uuid(client_id).await?;
        match op(uuid).await {
            Err(ProviderError::NotFound { .. }) if remembered => {
                self.forget(client_id);
                let (uuid, _) = self.uuid(client_id).await?;
                op(uuid).await
            }
            other => other,
        }
    }

    /// `POST .../clients`: create `rep` (its `clientId` chosen by the caller).
    /// Never retried once it may have reached Keycloak; 409 when the client id
    /// is taken. Returns the new client's UUID.
    pub async fn create(&self, rep: &ClientRepresentation) -> Result<String, ProviderError> {
        let url = self.admin_url(&["clients"])?;
        let body = to_json(rep)?;
        let uuid = self
            .call(Operation::Create, Method::POST, url, Some(body), |raw| {
                if !raw.status.is_success() {
                    return Err(status_error(&raw));
                }
                Ok(raw
                    .headers
                    .get(http::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
                    .map(str::to_string)
                    .unwrap_or_default())
            })
            .await?;
        if let Some(client_id) = &rep.client_id {
            self.forget(client_id);
            if !uuid.is_empty() {
                self.remember(&ClientRepresentation {
                    id: Some(uuid.clone()),
                    client_id: Some(client_id.clone()),
                    ..Default::default()
                });
            }
        }
        Ok(uuid)
    }

    /// `PUT .../clients/{uuid}` with exactly the fields set in `rep` (Keycloak
    /// updates what a representation carries and keeps the rest; attributes are
    /// merged, an empty value removes one).
    pub async fn update(
        &self,
        client_id: &str,
        rep: &ClientRepresentation,
    ) -> Result<(), ProviderError> {
        let body = to_json(rep)?;
        self.on_client(client_id, |uuid| {
            let body = body.clone();
            async move {
                let url = self.admin_url(&["clients", &uuid])?;
                self.call(Operation::Update, Method::PUT, url, Some(body), no_content)
                    .await
            }
        })
        .await
    }

    /// `DELETE .../clients/{uuid}`; deleting a missing client is success.
    pub async fn delete(&self, client_id: &str) -> Result<(), ProviderError> {
        let result = self
            .on_client(client_id, |uuid| async move {
                let url = self.admin_url(&["clients", &uuid])?;
                self.call(Operation::Delete, Method::DELETE, url, None, no_content)
                    .await
            })
            .await;
        self.forget(client_id);
        match result {
            Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST .../client-secret`: Keycloak generates a new secret (under the
    /// realm's `secret-rotation` policy the current one becomes the rotated
    /// secret). Not idempotent: never retried once it may have been sent.
    pub async fn regenerate_secret(&self, client_id: &str) -> Result<ClientSecret, ProviderError> {
        self.on_client(client_id, |uuid| async move {
            let url = self.admin_url(&["clients", &uuid, "client-secret"])?;
            let c: CredentialRepresentation = self
                .call(Operation::RotateSecret, Method::POST, url, None, |raw| {
                    decode(&raw)
                })
                .await?;
            c.value.filter(|v| !v.expose().is_empty()).ok_or_else(|| {
                ProviderError::outcome_unknown(
                    Operation::RotateSecret,
                    "Keycloak answered success without a secret",
                )
            })
        })
        .await
    }

    /// `DELETE .../client-secret/rotated`: the previous secret stops working.
    /// Idempotent (Keycloak answers 204 when there is none).
    pub async fn delete_rotated_secret(&self, client_id: &str) -> Result<(), ProviderError> {
        self.on_client(client_id, |uuid| async move {
            let url = self.admin_url(&["clients", &uuid, "client-secret", "rotated"])?;
            self.call(
                Operation::DeleteRotatedSecret,
                Method::DELETE,
                url,
                None,
                no_content,
            )
            .await
        })
        .await
    }

    /// The realm's client scopes (id and name).
    pub async fn client_scopes(&self) -> Result<Vec<ClientScope>, ProviderError> {
        let url = self.admin_url(&["client-scopes"])?;
        self.call(Operation::Get, Method::GET, url, None, |raw| decode(&raw))
            .await
    }

    /// Add (`PUT`) or remove (`DELETE`) one client scope of the client's default
    /// or optional scopes. Idempotent.
    pub async fn set_scope(
        &self,
        client_id: &str,
        kind: ScopeKind,
        scope_id: &str,
        present: bool,
    ) -> Result<(), ProviderError> {
        let method = if present { Method::PUT } else { Method::DELETE };
        self.on_client(client_id, |uuid| {
            let method = method.clone();
            async move {
                let url = self.admin_url(&["clients", &uuid, kind.segment(), scope_id])?;
                self.call(Operation::Update, method, url, None, no_content)
                    .await
            }
        })
        .await
    }

    /// The realm's secret rotation policy (see [`rotation_policy`]), read fresh.
    /// Reading client policies needs the `view-realm` role; without it the
    /// answer is `Forbidden`.
    pub async fn read_rotation_policy(&self) -> Result<Option<RotationPolicy>, ProviderError> {
        let mut url = self.admin_url(&["client-policies", "profiles"])?;
        url.query_pairs_mut()
            .append_pair("include-global-profiles", "true");
        let profiles: ClientProfiles = self
            .call(Operation::Get, Method::GET, url, None, |raw| decode(&raw))
            .await?;
        let mut url = self.admin_url(&["client-policies", "policies"])?;
        url.query_pairs_mut()
            .append_pair("include-global-policies", "true");
        let policies: ClientPolicies = self
            .call(Operation::Get, Method::GET, url, None, |raw| decode(&raw))
            .await?;
        let policy = rotation_policy(&profiles, &policies);
        POLICIES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(self.policy_key(), (Instant::now(), policy));
        Ok(policy)
    }

    /// [`read_rotation_policy`](Self::read_rotation_policy), remembered for
    /// [`POLICY_TTL`] across clients of the process.
    pub async fn rotation_policy(&self) -> Result<Option<RotationPolicy>, ProviderError> {
        let cached = POLICIES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&self.policy_key())
            .filter(|(at, _)| at.elapsed() < POLICY_TTL)
            .map(|(_, p)| *p);
        match cached {
            Some(p) => Ok(p),
            None => self.read_rotation_policy().await,
        }
    }

    fn policy_key(&self) -> String {
        format!("{}|{}", self.base, self.realm)
    }

    /// Whether Keycloak takes `secret` as client `client_id`'s secret, asked of
    /// the realm's token endpoint with `client_secret_post` (Keycloak accepts it
    /// from every client-secret client, and it needs no encoding rules) and an
    /// `authorization_code` grant for a made-up code (see [`oauth_probe`]).
    pub async fn verify_secret(
        &self,
        client_id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        let Some(c) = self.find(client_id).await? else {
            return Err(ProviderError::NotFound {
                messages: vec![ProviderMessage::new(
                    None,
                    &format!("no client {client_id} in realm {}", self.realm),
                    None,
                )],
            });
        };
        if c.public_client == Some(true) {
            return Ok(SecretCheck::Unsupported(oauth_probe::public_client(
                client_id,
            )));
        }
        match c.client_authenticator_type.as_deref() {
            None | Some("client-secret") => {
                let url = self.token_url()?;
                oauth_probe::verify(&self.exec, &url, client_id, secret, ClientAuth::Post).await
            }
            Some(other) => Ok(SecretCheck::Unsupported(format!(
                "client {client_id} authenticates with {other:?}, not with a client secret sent to the token endpoint: a secret cannot prove ownership of it"
            ))),
        }
    }

    /// One admin call with the current token; on 401 the token is invalidated and
    /// the call made once more with a fresh one.
    async fn call<T>(
        &self,
        operation: Operation,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        interpret: impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        tracing::debug!(operation = %operation, method = %method, path = url.path(), "keycloak call");
        let token = self.tokens.token().await?;
        match self
            .send(operation, &method, &url, body.as_ref(), &token, &interpret)
            .await
        {
            Err(ProviderError::Unauthorized { .. }) => {
                tracing::debug!(operation = %operation, "Keycloak refused the admin token; refreshing it");
                self.tokens.invalidate(token.generation).await;
                let token = self.tokens.token().await?;
                self.send(operation, &method, &url, body.as_ref(), &token, &interpret)
                    .await
            }
            other => other,
        }
    }

    async fn send<T>(
        &self,
        operation: Operation,
        method: &Method,
        url: &Url,
        body: Option<&Vec<u8>>,
        token: &AccessToken,
        interpret: &impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let bearer = bearer(token)?;
        self.exec
            .execute(
                operation,
                |client| {
                    let mut req = client
                        .request(method.clone(), url.clone())
                        .header(http::header::AUTHORIZATION, bearer.clone())
                        .header(http::header::ACCEPT, "application/json");
                    match body {
                        Some(b) => {
                            req = req
                                .header(http::header::CONTENT_TYPE, "application/json")
                                .body(b.clone())
                        }
                        None if *method == Method::POST || *method == Method::PUT => {
                            req = req.header(http::header::CONTENT_LENGTH, "0")
                        }
                        None => {}
                    }
                    req
                },
                interpret,
            )
            .await
    }
}

/// A client id usable in a query and as the OAuth `client_id`.
fn check_client_id(client_id: &str) -> Result<(), ProviderError> {
    if client_id.is_empty() || client_id.len() > 255 {
        return Err(ProviderError::config(
            "a Keycloak client id must be 1 to 255 characters",
        ));
    }
    Ok(())
}

fn bearer(token: &AccessToken) -> Result<http::HeaderValue, ProviderError> {
    rest::bearer(&token.value, "the Keycloak admin token")
}

fn join(base: &Url, segments: &[&str]) -> Result<Url, ProviderError> {
    rest::join(base, segments, "spec.keycloak.url")
}

fn no_content(raw: RawResponse) -> Result<(), ProviderError> {
    rest::no_content(&raw, status_error)
}

fn decode<T: DeserializeOwned>(raw: &RawResponse) -> Result<T, ProviderError> {
    rest::decode(raw, status_error)
}

/// A non-2xx answer as a typed error, with Keycloak's message (and, for a 403,
/// the roles the admin credentials need).
pub fn status_error(raw: &RawResponse) -> ProviderError {
    let mut messages = error_messages(raw.status, &raw.body);
    if raw.status == StatusCode::FORBIDDEN {
        messages.push(ProviderMessage::new(
            None,
            "the admin credentials need the realm-management roles manage-clients and view-clients (and view-realm to read the secret rotation policy)",
            None,
        ));
    }
    error_for_status(raw.status, &raw.headers, messages)
}

fn error_messages(status: StatusCode, body: &[u8]) -> Vec<ProviderMessage> {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        let text = match (&e.error_message, &e.error, &e.error_description) {
            (Some(m), _, _) => Some(m.clone()),
            (None, Some(err), Some(d)) if !d.is_empty() => Some(format!("{err}: {d}")),
            (None, Some(err), _) => Some(err.clone()),
            (None, None, Some(d)) => Some(d.clone()),
            _ => None,
        };
        if let Some(text) = text.filter(|t| !t.is_empty()) {
            let pointer = e.field.map(|f| format!("/{f}"));
            return vec![ProviderMessage::new(None, &text, pointer)];
        }
    }
    vec![ProviderMessage::from_body(status, body)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keycloak_errors_map_by_status() {
        let e = status_error(&RawResponse::for_test(
            409,
            r#"{"errorMessage":"Client app-1 already exists"}"#,
        ));
        assert!(matches!(e, ProviderError::Conflict { .. }), "{e}");
        assert!(e.to_string().contains("already exists"), "{e}");
        let e = status_error(&RawResponse::for_test(
            400,
            r#"{"error":"invalid_input","error_description":"A redirect URI uses an illegal scheme"}"#,
        ));
        assert!(
            matches!(e, ProviderError::Invalid { status: 400, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("illegal scheme"), "{e}");
        let e = status_error(&RawResponse::for_test(
            403,
            r#"{"error":"HTTP 403 Forbidden"}"#,
        ));
        assert!(e.to_string().contains("manage-clients"), "{e}");
        assert!(matches!(
            status_error(&RawResponse::for_test(
                404,
                r#"{"error":"Could not find client"}"#
            )),
            ProviderError::NotFound { .. }
        ));
        let e = status_error(&RawResponse::for_test(503, ""));
        assert!(e.is_retryable(), "{e}");
        assert!(e.to_string().contains("HTTP 503"), "{e}");
    }

    #[test]
    fn error_text_never_shows_a_secret() {
        let e = status_error(&RawResponse::for_test(
            400,
            r#"{"errorMessage":"bad client_secret=hunter2hunter2"}"#,
        ));
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn urls_keep_a_prefix_and_encode_segments() {
        let base = Url::parse("https://sso.example.com/auth/").unwrap();
        let u = join(&base, &["admin", "realms", "a b", "clients", "x/y"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://sso.example.com/auth/admin/realms/a%20b/clients/x%2Fy"
        );
    }

    #[test]
    fn bad_settings_are_refused_by_field() {
        let creds = KeycloakCredentials::client_credentials("c", "s");
        let e = KeycloakClient::standalone(KeycloakConfig::new(
            "https://sso.example.com/admin",
            "apps",
            creds.clone(),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("without /admin"), "{e}");
        let e = KeycloakClient::standalone(KeycloakConfig::new(
            "https://sso.example.com",
            "a/b",
            creds,
        ))
        .unwrap_err();
        assert!(e.to_string().contains("spec.keycloak.realm"), "{e}");
    }
}
