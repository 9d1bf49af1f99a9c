//! The typed client of Microsoft Graph v1.0 for the app registrations of one
//! tenant (`/applications`, `/servicePrincipals`, `/directory/deletedItems`).
//!
//! - Every call goes through the tenant's shared rate limiter and the retry
//!   policy ([`Executor`]); `addPassword` is never retried once it may have
//!   reached Graph (`OutcomeUnknown` when its answer is lost); the upsert by
//!   `uniqueName` is idempotent and is.
//! - Authentication: a bearer token from [`TokenSource`]; a 401 invalidates it
//!   and the call is made once more with a fresh one.
//! - Applications are addressed by their `appId` (the alternate key
//!   `applications(appId='…')`), which is the id clientops exposes; the object
//!   id is needed only to restore a deleted application.
//! - Eventual consistency: a new application can be unknown for a moment to
//!   `addPassword` (404) and to `POST /servicePrincipals`
//!   (`NoBackingApplicationObject`); those answers, which change nothing, are
//!   asked again a few times with a growing pause ([`CONSISTENCY_PAUSES`]).
//! - Errors: `{"error": {"code", "message", "details"}}`; the HTTP status
//!   decides the variant, the text is kept sanitized.
//! - LIST pages follow `@odata.nextLink` (only to Graph's own origin: the
//!   link carries the bearer token), within the LIST budget.

use std::future::Future;
use std::time::Duration;

use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::{
    AccessToken, EntraCredentials, MISSING_SERVICE_PRINCIPAL, TokenSource, credentials_form,
    graph_scope, token_source,
};
use super::wire::{
    APPLICATION_SELECT, AddPassword, Application, ErrorBody, Page, PasswordCredential,
    RemovePassword, ServicePrincipal, TokenError,
};
use crate::api::provider::ProviderType;
use crate::provider::error::{Operation, ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse, error_for_status, parse_base_url, to_json};
use crate::provider::list_budget::{ListBudget, ListMeter};
use crate::provider::model::SecretCheck;
use crate::provider::oauth_probe;
use crate::provider::ratelimit::{RateLimitConfig, RateLimiterRegistry};
use crate::provider::rest;
use crate::provider::transport::{ClientConfig, ProviderClient, Transport, TransportConfig};
use crate::secret::ClientSecret;

/// The client-side limit when the provider object sets none: well under
/// Graph's per app and tenant budget for applications (3,000 writes per 2.5
/// minutes; 60 per minute for apps that allow personal accounts, which Graph
/// enforces itself with 429 and `Retry-After`).
pub const DEFAULT_RATE_LIMIT: RateLimitConfig = RateLimitConfig {
    requests: 20,
    period: Duration::from_secs(1),
};

/// Applications asked for per LIST page (Graph's maximum).
pub const PAGE_SIZE: usize = 999;

/// Pauses before asking again when a new application is not known yet.
pub const CONSISTENCY_PAUSES: [Duration; 5] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];

/// How to reach one tenant.
#[derive(Clone, Debug)]
pub struct EntraConfig {
    pub tenant_id: String,
    /// E.g. `https://login.microsoftonline.com`.
    pub authority_url: String,
    /// E.g. `https://graph.microsoft.com`.
    pub graph_url: String,
    pub credentials: EntraCredentials,
    pub transport: TransportConfig,
    pub page_size: usize,
}

impl EntraConfig {
    pub fn new(
        tenant_id: impl Into<String>,
        authority_url: impl Into<String>,
        graph_url: impl Into<String>,
        credentials: EntraCredentials,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            authority_url: authority_url.into(),
            graph_url: graph_url.into(),
            credentials,
            transport: TransportConfig::new(DEFAULT_RATE_LIMIT),
            page_size: PAGE_SIZE,
        }
    }

    /// Ask for `n` applications per LIST page.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n;
        self
    }
}

impl ClientConfig for EntraConfig {
    fn transport(&mut self) -> &mut TransportConfig {
        &mut self.transport
    }
}

/// A client of one tenant's Graph API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct EntraClient {
    graph: Url,
    authority: Url,
    tenant: String,
    exec: Executor,
    tokens: std::sync::Arc<TokenSource>,
    page_size: usize,
    list_cap: usize,
    list_budget: ListBudget,
}

impl ProviderClient for EntraClient {
    type Config = EntraConfig;

    fn new(
        config: EntraConfig,
        http: reqwest::Client,
        limiters: &RateLimiterRegistry,
    ) -> Result<Self, ProviderError> {
        let graph = parse_base_url("Microsoft Graph (spec.entra.graphUrl)", &config.graph_url)?;
        let authority = parse_base_url(
            "the Entra authority (spec.entra.authorityUrl)",
            &config.authority_url,
        )?;
        let tenant = config.tenant_id.trim().to_string();
        if tenant.is_empty()
            || !tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(ProviderError::config(
                "spec.entra.tenantId must be the tenant's GUID or a domain such as contoso.onmicrosoft.com",
            ));
        }
        let Transport {
            exec,
            list_cap,
            list_budget,
        } = config
            .transport
            .open(http, limiters, &graph, ProviderType::Entra.block_name());
        let token_url = join(&authority, &[&tenant, "oauth2", "v2.0", "token"])?;
        let tokens = token_source(token_url, &config.credentials, exec.clone())?;
        Ok(Self {
            graph,
            authority,
            tenant,
            exec,
            tokens,
            page_size: config.page_size.clamp(1, PAGE_SIZE),
            list_cap,
            list_budget,
        })
    }

    fn executor(&self) -> &Executor {
        &self.exec
    }

    fn set_executor(&mut self, exec: Executor) {
        self.tokens = self.tokens.with_executor(exec.clone());
        self.exec = exec;
    }
}

impl EntraClient {
    /// Graph's base URL.
    pub fn graph_url(&self) -> &Url {
        &self.graph
    }

    /// The authority's base URL.
    pub fn authority_url(&self) -> &Url {
        &self.authority
    }

    /// The tenant id as configured.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The token source (for tests of the refresh logic).
    pub fn tokens(&self) -> &std::sync::Arc<TokenSource> {
        &self.tokens
    }

    /// `{authority}/{tenant}/oauth2/v2.0/token`.
    pub fn token_url(&self) -> Result<Url, ProviderError> {
        join(&self.authority, &[&self.tenant, "oauth2", "v2.0", "token"])
    }

    /// `{graph}/v1.0/{path}` (`path` already safe: ids are checked).
    fn api(&self, path: &str) -> Result<Url, ProviderError> {
        let base = self.graph.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/v1.0/{path}"))
            .map_err(|e| ProviderError::config(format!("spec.entra.graphUrl: {e}")))
    }

    fn by_app_id(&self, app_id: &str, suffix: &str) -> Result<Url, ProviderError> {
        check_key(app_id)?;
        self.api(&format!("applications(appId='{app_id}'){suffix}"))
    }

    /// A cheap authenticated read (`GET /applications?$top=1&$select=id`): the
    /// credentials work and may read applications.
    pub async fn check(&self) -> Result<(), ProviderError> {
        let mut url = self.api("applications")?;
        url.query_pairs_mut()
            .append_pair("$select", "id")
            .append_pair("$top", "1");
        self.call(Operation::List, Method::GET, url, None, &[], |raw| {
            decode::<Page<Application>>(&raw).map(|_| ())
        })
        .await
    }

    /// Every application of the tenant (only [`APPLICATION_SELECT`]), page by
    /// page.
    pub async fn list(&self) -> Result<Vec<Application>, ProviderError> {
        let mut url = self.api("applications")?;
        url.query_pairs_mut()
            .append_pair("$select", APPLICATION_SELECT)
            .append_pair("$top", &self.page_size.to_string());
        self.pages(url).await
    }

    /// Every item of a paged collection from `first`.
    async fn pages<T: DeserializeOwned>(&self, first: Url) -> Result<Vec<T>, ProviderError> {
        let mut meter = ListMeter::new(self.list_budget);
        let mut out = vec![];
        let mut url = first;
        loop {
            let page: Page<T> = self.call_list(&mut meter, &url).await?;
            out.extend(page.value);
            match page.next_link {
                None => return Ok(out),
                Some(next) => {
                    let next = Url::parse(&next).map_err(|_| {
                        ProviderError::decode("Graph's @odata.nextLink is not a URL")
                    })?;
                    if next.origin() != self.graph.origin() {
                        return Err(ProviderError::decode(
                            "Graph's @odata.nextLink points away from spec.entra.graphUrl; not following it with clientops' token",
                        ));
                    }
                    url = next;
                }
            }
        }
    }

    async fn call_list<T: DeserializeOwned>(
        &self,
        meter: &mut ListMeter,
        url: &Url,
    ) -> Result<Page<T>, ProviderError> {
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

    async fn send_page<T: DeserializeOwned>(
        &self,
        meter: &mut ListMeter,
        url: &Url,
        token: &AccessToken,
    ) -> Result<Page<T>, ProviderError> {
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

    /// The application with `appId` `app_id`; `None` when there is none (or the
    /// id cannot be one).
    pub async fn get(&self, app_id: &str) -> Result<Option<Application>, ProviderError> {
        if check_key(app_id).is_err() {
            return Ok(None);
        }
        let mut url = self.by_app_id(app_id, "")?;
        url.query_pairs_mut()
            .append_pair("$select", APPLICATION_SELECT);
        self.get_opt(url).await
    }

    /// The application with `uniqueName` `name`; `None` when there is none.
    pub async fn get_by_unique_name(
        &self,
        name: &str,
    ) -> Result<Option<Application>, ProviderError> {
        check_key(name)?;
        let mut url = self.api(&format!("applications(uniqueName='{name}')"))?;
        url.query_pairs_mut()
            .append_pair("$select", APPLICATION_SELECT);
        self.get_opt(url).await
    }

    async fn get_opt(&self, url: Url) -> Result<Option<Application>, ProviderError> {
        match self
            .call(Operation::Get, Method::GET, url, None, &[], |raw| {
                decode(&raw)
            })
            .await
        {
            Ok(a) => Ok(Some(a)),
            Err(ProviderError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PATCH /applications(uniqueName='…')` with `Prefer: create-if-missing`:
    /// creates the application (201, returned) or updates it (204, `None`).
    /// Idempotent. A `uniqueName` still held by a deleted application is
    /// [`ProviderError::Conflict`] ([`is_name_taken`]).
    pub async fn upsert(
        &self,
        unique_name: &str,
        body: &Application,
    ) -> Result<Option<Application>, ProviderError> {
        check_key(unique_name)?;
        let url = self.api(&format!("applications(uniqueName='{unique_name}')"))?;
        let body = to_json(body)?;
        self.call(
            Operation::Update,
            Method::PATCH,
            url,
            Some(body),
            &[("prefer", "create-if-missing")],
            |raw| {
                if raw.status == StatusCode::NO_CONTENT {
                    return Ok(None);
                }
                if raw.status.is_success() {
                    return decode(&raw).map(Some);
                }
                let e = status_error(&raw);
                Err(if is_name_taken(&raw) {
                    ProviderError::Conflict {
                        messages: e.messages().to_vec(),
                    }
                } else {
                    e
                })
            },
        )
        .await
    }

    /// `PATCH /applications(appId='…')` with `body`.
    pub async fn update(&self, app_id: &str, body: &Application) -> Result<(), ProviderError> {
        let url = self.by_app_id(app_id, "")?;
        let body = to_json(body)?;
        self.call(
            Operation::Update,
            Method::PATCH,
            url,
            Some(body),
            &[],
            no_content,
        )
        .await
    }

    /// `DELETE /applications(appId='…')` (to deleted items for 30 days);
    /// deleting a missing application is success.
    pub async fn delete(&self, app_id: &str) -> Result<(), ProviderError> {
        if check_key(app_id).is_err() {
            return Ok(());
        }
        let url = self.by_app_id(app_id, "")?;
        match self
            .call(
                Operation::Delete,
                Method::DELETE,
                url,
                None,
                &[],
                no_content,
            )
            .await
        {
            Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `POST /servicePrincipals {appId}`: makes the application usable in the
    /// tenant. One that exists (409) is success; a new application Graph does
    /// not know yet is asked again.
    pub async fn ensure_service_principal(&self, app_id: &str) -> Result<(), ProviderError> {
        check_key(app_id)?;
        let url = self.api("servicePrincipals")?;
        let body = to_json(&ServicePrincipal {
            app_id: Some(app_id.into()),
            id: None,
        })?;
        self.consistently(|| async {
            match self
                .call(
                    Operation::Update,
                    Method::POST,
                    url.clone(),
                    Some(body.clone()),
                    &[],
                    |raw| {
                        if raw.status.is_success() || raw.status == StatusCode::CONFLICT {
                            Ok(())
                        } else if not_replicated(&raw) {
                            Err(ProviderError::NotFound {
                                messages: vec![ProviderMessage::from_body(raw.status, &raw.body)],
                            })
                        } else {
                            Err(status_error(&raw))
                        }
                    },
                )
                .await
            {
                Err(ProviderError::Conflict { .. }) => Ok(()),
                other => other,
            }
        })
        .await
    }

    /// `POST /applications(appId='…')/addPassword` named `display_name`: the new
    /// password with its `secretText`. Not idempotent: never retried once it
    /// may have been sent (a 404, which adds nothing, is asked again).
    pub async fn add_password(
        &self,
        app_id: &str,
        display_name: &str,
    ) -> Result<PasswordCredential, ProviderError> {
        let url = self.by_app_id(app_id, "/addPassword")?;
        let body = to_json(&AddPassword {
            password_credential: PasswordCredential {
                display_name: Some(display_name.into()),
                ..Default::default()
            },
        })?;
        self.consistently(|| async {
            let p: PasswordCredential = self
                .call(
                    Operation::RotateSecret,
                    Method::POST,
                    url.clone(),
                    Some(body.clone()),
                    &[],
                    |raw| decode(&raw),
                )
                .await?;
            if p.secret_text.as_ref().is_none_or(|s| s.expose().is_empty()) {
                return Err(ProviderError::outcome_unknown(
                    Operation::RotateSecret,
                    "Graph answered addPassword without a secretText",
                ));
            }
            Ok(p)
        })
        .await
    }

    /// `POST /applications(appId='…')/removePassword {keyId}`. A password (or
    /// application) that is gone is success.
    pub async fn remove_password(&self, app_id: &str, key_id: &str) -> Result<(), ProviderError> {
        let url = self.by_app_id(app_id, "/removePassword")?;
        let body = to_json(&RemovePassword {
            key_id: key_id.into(),
        })?;
        match self
            .call(
                Operation::DeleteRotatedSecret,
                Method::POST,
                url,
                Some(body),
                &[],
                no_content,
            )
            .await
        {
            Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
            // An unknown keyId: Graph documents no answer (facts §3).
            Err(ProviderError::Invalid { status: 400, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The deleted application whose `uniqueName` is `name`, if any
    /// (`GET /directory/deletedItems/microsoft.graph.application`, which needs
    /// `Application.Read.All`).
    pub async fn deleted_by_unique_name(
        &self,
        name: &str,
    ) -> Result<Option<Application>, ProviderError> {
        let mut url = self.api("directory/deletedItems/microsoft.graph.application")?;
        url.query_pairs_mut()
            .append_pair("$select", "id,appId,uniqueName")
            .append_pair("$top", &self.page_size.to_string());
        let deleted: Vec<Application> = self.pages(url).await?;
        Ok(deleted.into_iter().find(|a| {
            a.unique_name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        }))
    }

    /// `POST /directory/deletedItems/{id}/restore`.
    pub async fn restore(&self, object_id: &str) -> Result<(), ProviderError> {
        check_key(object_id)?;
        let url = self.api(&format!("directory/deletedItems/{object_id}/restore"))?;
        self.call(Operation::Update, Method::POST, url, None, &[], |raw| {
            if raw.status.is_success() {
                Ok(())
            } else {
                Err(status_error(&raw))
            }
        })
        .await
    }

    /// Whether Entra takes `secret` as application `app_id`'s: a
    /// `client_credentials` token request for Graph (Entra checks the secret
    /// before anything else; the token is dropped).
    pub async fn verify_secret(
        &self,
        app_id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        let url = self.token_url()?;
        let form = credentials_form(app_id, secret, &graph_scope());
        self.exec
            .execute(
                Operation::VerifySecret,
                |c| {
                    c.post(url.clone())
                        .header(
                            http::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .header(http::header::ACCEPT, "application/json")
                        .body(form.expose().to_string())
                },
                |raw| {
                    let oauth: TokenError = serde_json::from_slice(&raw.body).unwrap_or_default();
                    if oauth.error_codes.contains(&MISSING_SERVICE_PRINCIPAL) {
                        return Ok(SecretCheck::Unsupported(format!(
                            "application {app_id} has no service principal in the tenant, so Entra cannot check a secret of it; create one (az ad sp create --id {app_id})"
                        )));
                    }
                    oauth_probe::interpret(raw)
                },
            )
            .await
    }

    /// Run `op` again after a pause while it fails with `NotFound` (a new
    /// object Graph does not know yet), at most [`CONSISTENCY_PAUSES`] times.
    async fn consistently<T, F, Fut>(&self, op: F) -> Result<T, ProviderError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut pauses = CONSISTENCY_PAUSES.iter();
        loop {
            match op().await {
                Err(ProviderError::NotFound { messages }) => match pauses.next() {
                    Some(p) => {
                        tracing::debug!(
                            pause_ms = p.as_millis() as u64,
                            "Graph does not know the application yet; asking again"
                        );
                        tokio::time::sleep(*p).await;
                    }
                    None => return Err(ProviderError::NotFound { messages }),
                },
                other => return other,
            }
        }
    }

    /// One call with the current token; on 401 the token is invalidated and the
    /// call made once more with a fresh one.
    async fn call<T>(
        &self,
        operation: Operation,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        headers: &[(&'static str, &'static str)],
        interpret: impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        tracing::debug!(operation = %operation, method = %method, path = url.path(), "graph call");
        let token = self.tokens.token().await?;
        match self
            .send(
                operation,
                &method,
                &url,
                body.as_ref(),
                headers,
                &token,
                &interpret,
            )
            .await
        {
            Err(ProviderError::Unauthorized { .. }) => {
                self.tokens.invalidate(token.generation).await;
                let token = self.tokens.token().await?;
                self.send(
                    operation,
                    &method,
                    &url,
                    body.as_ref(),
                    headers,
                    &token,
                    &interpret,
                )
                .await
            }
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn send<T>(
        &self,
        operation: Operation,
        method: &Method,
        url: &Url,
        body: Option<&Vec<u8>>,
        headers: &[(&'static str, &'static str)],
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
                    for (k, v) in headers {
                        req = req.header(*k, *v);
                    }
                    match body {
                        Some(b) => {
                            req = req
                                .header(http::header::CONTENT_TYPE, "application/json")
                                .body(b.clone())
                        }
                        None if *method == Method::POST || *method == Method::PATCH => {
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

/// A key usable inside `(…='…')` and as a path segment: a GUID, or a
/// `uniqueName` clientops chose (letters, digits, `.`, `_`, `-`).
fn check_key(key: &str) -> Result<(), ProviderError> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ProviderError::config(
            "an Entra application id must be a GUID such as 00000000-0000-0000-0000-000000000000",
        ))
    }
}

fn bearer(token: &AccessToken) -> Result<http::HeaderValue, ProviderError> {
    rest::bearer(&token.value, "the Graph token")
}

fn join(base: &Url, segments: &[&str]) -> Result<Url, ProviderError> {
    rest::join(base, segments, "spec.entra.authorityUrl")
}

fn no_content(raw: RawResponse) -> Result<(), ProviderError> {
    rest::no_content(&raw, status_error)
}

fn decode<T: DeserializeOwned>(raw: &RawResponse) -> Result<T, ProviderError> {
    rest::decode(raw, status_error)
}

fn graph_error(raw: &RawResponse) -> Option<super::wire::GraphError> {
    serde_json::from_slice::<ErrorBody>(&raw.body)
        .ok()
        .and_then(|b| b.error)
}

/// A 400 saying the `uniqueName` is held by another (deleted) application.
pub fn is_name_taken(raw: &RawResponse) -> bool {
    raw.status == StatusCode::BAD_REQUEST
        && graph_error(raw).is_some_and(|e| {
            e.message
                .as_deref()
                .is_some_and(|m| m.contains("uniqueName") && m.contains("already exists"))
        })
}

/// A 400 `NoBackingApplicationObject` (or a 404): the new application has not
/// reached every replica yet.
fn not_replicated(raw: &RawResponse) -> bool {
    raw.status == StatusCode::NOT_FOUND
        || (raw.status == StatusCode::BAD_REQUEST
            && graph_error(raw).is_some_and(|e| {
                e.details
                    .iter()
                    .any(|d| d.code.as_deref() == Some("NoBackingApplicationObject"))
            }))
}

/// A non-2xx answer as a typed error, with Graph's code and message (and, for a
/// 403, the permission clientops needs).
pub fn status_error(raw: &RawResponse) -> ProviderError {
    let mut messages = match graph_error(raw) {
        Some(e) if e.message.is_some() || e.code.is_some() => {
            vec![ProviderMessage::new(
                e.code.clone(),
                e.message.as_deref().unwrap_or_default(),
                None,
            )]
        }
        _ => match serde_json::from_slice::<TokenError>(&raw.body) {
            Ok(TokenError {
                error: Some(err),
                error_description,
                ..
            }) => vec![ProviderMessage::new(
                None,
                &match error_description {
                    Some(d) => format!("{err}: {d}"),
                    None => err,
                },
                None,
            )],
            _ => vec![ProviderMessage::from_body(raw.status, &raw.body)],
        },
    };
    if raw.status == StatusCode::FORBIDDEN {
        messages.push(ProviderMessage::new(
            None,
            "clientops' app registration needs the Graph application permission Application.ReadWrite.OwnedBy (admin consent), and must own the application (it owns what it creates)",
            None,
        ));
    }
    error_for_status(raw.status, &raw.headers, messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_errors_map_by_status_and_name_taken_is_a_conflict() {
        let e = status_error(&RawResponse::for_test(
            404,
            r#"{"error":{"code":"Request_ResourceNotFound","message":"Resource 'x' does not exist","innerError":{"date":"2026-12-07T00:00:00","request-id":"r"}}}"#,
        ));
        assert!(matches!(e, ProviderError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("does not exist"), "{e}");
        let e = status_error(&RawResponse::for_test(
            403,
            r#"{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges to complete the operation."}}"#,
        ));
        assert!(
            e.to_string().contains("Application.ReadWrite.OwnedBy"),
            "{e}"
        );
        let taken = RawResponse::for_test(
            400,
            r#"{"error":{"code":"Request_BadRequest","message":"Another object with the same value for property uniqueName already exists."}}"#,
        );
        assert!(is_name_taken(&taken));
        assert!(!is_name_taken(&RawResponse::for_test(
            400,
            r#"{"error":{"code":"Request_BadRequest","message":"Invalid value specified for property 'web'"}}"#
        )));
        let lag = RawResponse::for_test(
            400,
            r#"{"error":{"code":"Request_BadRequest","message":"The appId of the service principal does not reference a valid application object.","details":[{"code":"NoBackingApplicationObject","message":"x","target":"appId"}]}}"#,
        );
        assert!(not_replicated(&lag));
        assert!(!not_replicated(&taken));
        let e = status_error(&RawResponse::for_test(
            429,
            r#"{"error":{"code":"Request_ThrottledTemporarily","message":"slow down"}}"#,
        ));
        assert!(matches!(e, ProviderError::RateLimited { .. }), "{e}");
    }

    #[test]
    fn keys_are_checked_before_they_reach_a_url() {
        assert!(check_key("3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b").is_ok());
        assert!(check_key("clientops-uid.1_x").is_ok());
        for bad in ["", "a'b", "a/b", "x)or(1", "a b"] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn urls_are_built_under_v1_and_the_tenant() {
        let c = EntraClient::standalone(EntraConfig::new(
            "contoso.onmicrosoft.com",
            "https://login.microsoftonline.us/",
            "https://graph.microsoft.us",
            EntraCredentials::client_secret("app", "s"),
        ))
        .unwrap();
        assert_eq!(
            c.token_url().unwrap().as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            c.by_app_id("a-1", "/addPassword").unwrap().as_str(),
            "https://graph.microsoft.us/v1.0/applications(appId='a-1')/addPassword"
        );
        let e = EntraClient::standalone(EntraConfig::new(
            "a/b",
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com",
            EntraCredentials::client_secret("app", "s"),
        ))
        .unwrap_err();
        assert!(e.to_string().contains("spec.entra.tenantId"), "{e}");
    }
}
