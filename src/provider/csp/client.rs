//! The typed client of CSP's organisation OAuth apps API
//! (`provider-contracts.md` B.1 to B.6).
//!
//! - Every call goes through the organisation's shared rate limiter and the retry
//!   policy ([`Executor`]); create and rotate are never retried once they may have
//!   reached CSP, and say `OutcomeUnknown` when their result is lost.
//! - Authentication: an access token from [`TokenSource`], sent as
//!   `Authorization: Bearer`; a 401 invalidates it and the call is repeated once
//!   with a fresh one (CSP acts on nothing it did not authenticate, so this is
//!   safe for create and rotate too).
//! - Errors are `CspErrorResponse` bodies; statuses map onto [`ProviderError`].
//! - Responses are read up to a size limit and parsed defensively: malformed
//!   JSON, missing fields, wrong types or a huge body give `Decode`, never a panic,
//!   and never echo a value from the body.

use std::collections::HashSet;
use std::sync::Arc;

use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::auth::{AccessToken, CspCredentials, TokenSource, token_source};
use super::wire::{
    ClientIdAndSecret, CreateOAuthApp, CspErrorResponse, DeleteClientsRequest, MAX_DELETE_IDS,
    OAuthApp, Paged, PartialSuccess, RotateSecretRequest, UpdateOAuthApp,
};
use crate::provider::error::{Operation, ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse};
use crate::provider::http::{error_for_status, parse_base_url, serde_message, to_json};
use crate::provider::list_budget::{ListBudget, ListMeter};
use crate::provider::model::SecretCheck;
use crate::provider::oauth_probe::{self, ClientAuth};
use crate::provider::ratelimit::{RateLimitConfig, RateLimiterRegistry};
use crate::provider::transport::{ClientConfig, ProviderClient, Transport, TransportConfig};
use crate::secret::ClientSecret;

pub use crate::provider::http::Deleted;

/// The default base URL, `https://console.cloud.vmware.com`.
pub const DEFAULT_BASE_URL: &str = crate::api::csp::CSP_DEFAULT_BASE_URL;

/// CSP documents no rate limit (B.6); clientops stays at Cloudflare's documented
/// 1,200 requests per 5 minutes per organisation unless told otherwise.
pub const DEFAULT_RATE_LIMIT: RateLimitConfig = RateLimitConfig::CLOUDFLARE_DEFAULT;

/// Apps per list page (the documented default of a related CSP endpoint).
pub const DEFAULT_PAGE_LIMIT: u32 = 200;

/// How to reach one CSP organisation.
#[derive(Clone, Debug)]
pub struct CspConfig {
    /// Base URL without the `/csp/...` path; [`DEFAULT_BASE_URL`] by default.
    pub base_url: String,
    /// The organisation id (a GUID).
    pub org_id: String,
    /// The API token.
    pub credentials: CspCredentials,
    /// Rate limit, retries, body caps and LIST budget.
    pub transport: TransportConfig,
    /// Apps asked for per list page.
    pub page_limit: u32,
}

impl CspConfig {
    /// The organisation at CSP's production host with the default limit and retries.
    pub fn new(org_id: impl Into<String>, credentials: CspCredentials) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            org_id: org_id.into(),
            credentials,
            transport: TransportConfig::new(DEFAULT_RATE_LIMIT),
            page_limit: DEFAULT_PAGE_LIMIT,
        }
    }

    /// Use another base URL (the emulator's, in development).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Ask for this many apps per list page (at least 1).
    pub fn with_page_limit(mut self, page_limit: u32) -> Self {
        self.page_limit = page_limit.max(1);
        self
    }
}

impl ClientConfig for CspConfig {
    fn transport(&mut self) -> &mut TransportConfig {
        &mut self.transport
    }
}

/// The per-id result of bulk deletes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkDeleted {
    /// Listed by CSP under `succeeded`.
    pub succeeded: Vec<String>,
    /// Listed by CSP under `failed`: not deleted (unknown, or refused).
    pub failed: Vec<String>,
    /// Sent in a request CSP answered 404 as a whole: none of them exists.
    pub not_found: Vec<String>,
}

/// A client of one CSP organisation's OAuth apps. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CspClient {
    base: Url,
    org_id: String,
    tokens: Arc<TokenSource>,
    exec: Executor,
    page_limit: u32,
    list_cap: usize,
    list_budget: ListBudget,
}

/// A request body.
enum Body {
    Json(Vec<u8>),
}

impl ProviderClient for CspClient {
    type Config = CspConfig;

    fn new(
        config: CspConfig,
        http: reqwest::Client,
        limiters: &RateLimiterRegistry,
    ) -> Result<Self, ProviderError> {
        let base = parse_base_url("CSP", &config.base_url)?;
        let org_id = config.org_id.trim().to_string();
        check_segment("organisation id", &org_id)?;
        let Transport {
            exec,
            list_cap,
            list_budget,
        } = config.transport.open(http, limiters, &base, &org_id);
        let token_url = join(
            &base,
            &[
                "csp",
                "gateway",
                "am",
                "api",
                "auth",
                "api-tokens",
                "authorize",
            ],
        )?;
        let tokens = token_source(token_url, &config.credentials, exec.clone())?;
        Ok(Self {
            base,
            org_id,
            tokens,
            exec,
            page_limit: config.page_limit.max(1),
            list_cap,
            list_budget,
        })
    }

    fn executor(&self) -> &Executor {
        &self.exec
    }

    /// The token exchanges go through it too.
    fn set_executor(&mut self, exec: Executor) {
        self.tokens = self.tokens.with_executor(exec.clone());
        self.exec = exec;
    }
}

impl CspClient {
    /// The organisation id.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The access token source (for tests of the refresh logic).
    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }

    /// One page: `GET /orgs/{orgId}/oauth-apps?pageStart=&pageLimit=`.
    pub async fn list_page(
        &self,
        page_start: u64,
        page_limit: u32,
    ) -> Result<Paged<OAuthApp>, ProviderError> {
        let url = self.page_url(page_start, page_limit)?;
        self.call(Operation::List, Method::GET, url, None, json_answer)
            .await
    }

    fn page_url(&self, page_start: u64, page_limit: u32) -> Result<Url, ProviderError> {
        let mut url = self.apps_url(&[])?;
        url.query_pairs_mut()
            .append_pair("pageStart", &page_start.to_string())
            .append_pair("pageLimit", &page_limit.to_string());
        Ok(url)
    }

    /// [`list_page`](Self::list_page) counted against `meter`, with [`call`](Self::call)'s
    /// refresh of a refused access token.
    async fn list_page_metered(
        &self,
        meter: &mut ListMeter,
        page_start: u64,
        page_limit: u32,
    ) -> Result<Paged<OAuthApp>, ProviderError> {
        let url = self.page_url(page_start, page_limit)?;
        tracing::debug!(operation = %Operation::List, path = url.path(), page_start, "csp call");
        let token = self.tokens.token().await?;
        match self.send_page(meter, &url, &token).await {
            Err(ProviderError::Unauthorized { .. }) => {
                tracing::debug!("CSP refused the access token; refreshing it");
                self.tokens.invalidate(token.generation).await;
                let token = self.tokens.token().await?;
                self.send_page(meter, &url, &token).await
            }
            other => other,
        }
    }

    async fn send_page(
        &self,
        meter: &mut ListMeter,
        url: &Url,
        token: &AccessToken,
    ) -> Result<Paged<OAuthApp>, ProviderError> {
        let bearer = sensitive_bearer(&token.value)?;
        meter
            .page(
                &self.exec,
                self.list_cap,
                |client| {
                    client
                        .get(url.clone())
                        .header(http::header::AUTHORIZATION, bearer.clone())
                        .header(http::header::ACCEPT, "application/json")
                },
                json_answer,
            )
            .await
    }

    /// Every app of the organisation: pages from `pageStart=0` on, following
    /// `nextLink` (only its `pageStart` is used: the request never leaves the base
    /// URL), else advancing by the page's size until `totalResults` or a short
    /// page. Apps seen twice (a page boundary that moved) are kept once. All pages
    /// together stay within the LIST budget, else `ListTooLarge`.
    pub async fn list(&self) -> Result<Vec<OAuthApp>, ProviderError> {
        let limit = self.page_limit;
        let mut start: u64 = 0;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut meter = ListMeter::new(self.list_budget);
        loop {
            let page = self.list_page_metered(&mut meter, start, limit).await?;
            let n = page.results.len() as u64;
            for app in page.results {
                if seen.insert(app.id.clone()) {
                    out.push(app);
                }
            }
            match next_start(
                page.next_link.as_deref(),
                page.total_results,
                start,
                n,
                limit,
            ) {
                Some(next) => start = next,
                None => return Ok(out),
            }
        }
    }

    /// `GET /orgs/{orgId}/oauth-apps/{id}`.
    pub async fn get(&self, id: &str) -> Result<OAuthApp, ProviderError> {
        let url = self.apps_url(&[id])?;
        self.call(Operation::Get, Method::GET, url, None, json_answer)
            .await
    }

    /// `POST /orgs/{orgId}/oauth-apps`. The answer holds the client id and secret.
    /// Never retried once it may have reached CSP: a lost answer is
    /// `OutcomeUnknown { operation: Create }` (with a caller-chosen id, resolved
    /// by a [`get`](Self::get) of that id).
    pub async fn create(&self, body: &CreateOAuthApp) -> Result<ClientIdAndSecret, ProviderError> {
        if let Some(id) = &body.id {
            check_segment("OAuth app id", id)?;
        }
        let url = self.apps_url(&[])?;
        let body = to_json(body)?;
        self.call(
            Operation::Create,
            Method::POST,
            url,
            Some(Body::Json(body)),
            |raw| json_answer(raw).map_err(|e| e.for_operation(Operation::Create, true)),
        )
        .await
    }

    /// `PATCH /orgs/{orgId}/oauth-apps/{id}`. CSP's answer body is not documented:
    /// the app when the answer is one, else `None`.
    pub async fn update(
        &self,
        id: &str,
        body: &UpdateOAuthApp,
    ) -> Result<Option<OAuthApp>, ProviderError> {
        let url = self.apps_url(&[id])?;
        let body = to_json(body)?;
        self.call(
            Operation::Update,
            Method::PATCH,
            url,
            Some(Body::Json(body)),
            |raw| {
                if raw.status.is_success() {
                    Ok(parse_json::<OAuthApp>(&raw.body).ok())
                } else {
                    Err(parse_error(raw.status, &raw.headers, &raw.body))
                }
            },
        )
        .await
    }

    /// `DELETE /orgs/{orgId}/oauth-apps` with `clientIdsToDelete`, at most 15 ids per
    /// request: CSP's per-id answer, merged.
    pub async fn delete_many(&self, ids: &[String]) -> Result<BulkDeleted, ProviderError> {
        let mut out = BulkDeleted::default();
        for chunk in ids.chunks(MAX_DELETE_IDS) {
            for id in chunk {
                check_segment("OAuth app id", id)?;
            }
            let url = self.apps_url(&[])?;
            let body = to_json(&DeleteClientsRequest {
                client_ids_to_delete: chunk.to_vec(),
            })?;
            let answer: Result<PartialSuccess, _> = self
                .call(
                    Operation::Delete,
                    Method::DELETE,
                    url,
                    Some(Body::Json(body)),
                    json_answer,
                )
                .await;
            match answer {
                Ok(p) => {
                    out.succeeded.extend(p.succeeded.unwrap_or_default());
                    out.failed.extend(p.failed.unwrap_or_default());
                }
                Err(ProviderError::NotFound { messages }) if !about_org(&messages) => {
                    out.not_found.extend(chunk.iter().cloned())
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Delete one app through the bulk delete. An app CSP reports as not found
    /// (a 404, or `failed` while a read finds no such app) was already absent; an
    /// app under `failed` that still exists is a `Conflict` for it.
    pub async fn delete(&self, id: &str) -> Result<Deleted, ProviderError> {
        let r = self.delete_many(&[id.to_string()]).await?;
        if r.succeeded.iter().any(|s| s == id) {
            return Ok(Deleted::Deleted);
        }
        if r.not_found.iter().any(|s| s == id) {
            return Ok(Deleted::AlreadyAbsent);
        }
        let failed = r.failed.iter().any(|s| s == id);
        match self.get(id).await {
            Err(ProviderError::NotFound { .. }) if failed => Ok(Deleted::AlreadyAbsent),
            Err(ProviderError::NotFound { .. }) => Ok(Deleted::Deleted),
            Ok(_) if failed => Err(ProviderError::Conflict {
                messages: vec![ProviderMessage::new(
                    None,
                    &format!(
                        "CSP did not delete OAuth app {id}: the bulk delete listed it under failed (an immutable app, or one CSP cannot delete now)"
                    ),
                    None,
                )],
            }),
            Ok(_) => Err(ProviderError::decode(format!(
                "the bulk delete answer lists OAuth app {id} neither as succeeded nor as failed, and it still exists"
            ))),
            Err(e) => Err(e),
        }
    }

    /// `POST /orgs/{orgId}/oauth-apps/{id}/secret`: `new` becomes the secret; the
    /// old one stays valid for `expiry_secs` (CSP's default 48 h when `None`), or
    /// until [`delete_old_secret`](Self::delete_old_secret). Never retried once it
    /// may have reached CSP: a lost answer is `OutcomeUnknown { RotateSecret }`.
    pub async fn rotate_secret(
        &self,
        id: &str,
        new: &ClientSecret,
        expiry_secs: Option<i64>,
    ) -> Result<(), ProviderError> {
        let url = self.apps_url(&[id, "secret"])?;
        let body = to_json(&RotateSecretRequest {
            new_client_secret: new.clone(),
            secret_rotation_expiration_in_seconds: expiry_secs,
        })?;
        self.call(
            Operation::RotateSecret,
            Method::POST,
            url,
            Some(Body::Json(body)),
            empty_answer,
        )
        .await
    }

    /// `DELETE /orgs/{orgId}/oauth-apps/{id}/secret`: retire the old secret now.
    /// [`Deleted::AlreadyAbsent`] when there is none: CSP answers 400 when no
    /// rotation is in progress (the request has no body and the id is in the
    /// path, so a 400 can mean nothing else) and 404 when the app is gone.
    pub async fn delete_old_secret(&self, id: &str) -> Result<Deleted, ProviderError> {
        let url = self.apps_url(&[id, "secret"])?;
        match self
            .call(
                Operation::DeleteRotatedSecret,
                Method::DELETE,
                url,
                None,
                empty_answer,
            )
            .await
        {
            Ok(()) => Ok(Deleted::Deleted),
            Err(ProviderError::Invalid { status: 400, .. }) => Ok(Deleted::AlreadyAbsent),
            Err(ProviderError::NotFound { messages }) if !about_org(&messages) => {
                Ok(Deleted::AlreadyAbsent)
            }
            Err(e) => Err(e),
        }
    }

    /// `PUT /orgs/{orgId}/oauth-apps/{id}/secret` with `{}`: CSP generates a new
    /// secret that replaces every other at once (no overlap). Never retried blindly.
    pub async fn regenerate_secret(&self, id: &str) -> Result<ClientSecret, ProviderError> {
        let url = self.apps_url(&[id, "secret"])?;
        let answer: ClientIdAndSecret = self
            .call(
                Operation::RotateSecret,
                Method::PUT,
                url,
                Some(Body::Json(b"{}".to_vec())),
                |raw| json_answer(raw).map_err(|e| e.for_operation(Operation::RotateSecret, true)),
            )
            .await?;
        answer.client_secret.ok_or_else(|| {
            ProviderError::outcome_unknown(
                Operation::RotateSecret,
                "CSP answered success without a clientSecret",
            )
        })
    }

    /// Whether `secret` is a working secret of app `id` right now, asked of the
    /// OAuth token endpoint (`POST /csp/gateway/am/api/auth/token`,
    /// `grant_type=client_credentials`, HTTP Basic): `Some(true)` when a token is
    /// issued, `Some(false)` when the client credentials are refused
    /// (`invalid_client`), `None` when the answer proves neither (for example an
    /// app without the client_credentials grant).
    pub async fn check_client_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<Option<bool>, ProviderError> {
        check_segment("OAuth app id", id)?;
        let url = self.token_url()?;
        let (id, secret) = (id.to_string(), secret.clone());
        self.exec
            .execute(
                Operation::Authenticate,
                |client| {
                    client
                        .post(url.clone())
                        .basic_auth(&id, Some(secret.expose()))
                        .header(
                            http::header::CONTENT_TYPE,
                            "application/x-www-form-urlencoded",
                        )
                        .header(http::header::ACCEPT, "application/json")
                        .body("grant_type=client_credentials")
                },
                |raw: RawResponse| {
                    if raw.status.is_success() {
                        return Ok(Some(true));
                    }
                    let oauth_error = serde_json::from_slice::<Value>(&raw.body)
                        .ok()
                        .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from));
                    match (raw.status.as_u16(), oauth_error.as_deref()) {
                        (_, Some("invalid_client")) | (401, _) => Ok(Some(false)),
                        (429, _) | (500..=599, _) => {
                            Err(parse_error(raw.status, &raw.headers, &raw.body))
                        }
                        _ => Ok(None),
                    }
                },
            )
            .await
    }

    /// Whether CSP takes `secret` as the secret of app `id`, asked of the apps'
    /// token endpoint (`POST /csp/gateway/am/api/auth/token`) with HTTP Basic and
    /// an `authorization_code` grant for a made-up code (see [`oauth_probe`]): CSP
    /// authenticates the app first, so no token is issued and nothing changes,
    /// whatever grants the app has. A public app is [`SecretCheck::Unsupported`];
    /// an unknown app `NotFound`. (Unlike [`check_client_secret`](Self::check_client_secret),
    /// which needs the client_credentials grant and obtains a token.)
    pub async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        let app = self.get(id).await?;
        if app.public_client == Some(true) {
            return Ok(SecretCheck::Unsupported(oauth_probe::public_client(id)));
        }
        let url = self.token_url()?;
        // Basic with the id and secret as they are, as check_client_secret does
        // (whether CSP form-decodes them, as RFC 6749 §2.3.1 asks, is not known).
        let auth = ClientAuth::Basic {
            form_encoded: false,
        };
        oauth_probe::verify(&self.exec, &url, id, secret, auth).await
    }

    /// The apps' own OAuth token endpoint.
    fn token_url(&self) -> Result<Url, ProviderError> {
        join(
            &self.base,
            &["csp", "gateway", "am", "api", "auth", "token"],
        )
    }

    fn apps_url(&self, suffix: &[&str]) -> Result<Url, ProviderError> {
        if let Some(id) = suffix.first() {
            check_segment("OAuth app id", id)?;
        }
        let mut segments = vec![
            "csp",
            "gateway",
            "am",
            "api",
            "orgs",
            self.org_id.as_str(),
            "oauth-apps",
        ];
        segments.extend_from_slice(suffix);
        join(&self.base, &segments)
    }

    /// One operation with the current access token; on 401 the token is
    /// invalidated and the call made once more with a fresh one.
    async fn call<T>(
        &self,
        operation: Operation,
        method: Method,
        url: Url,
        body: Option<Body>,
        interpret: impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        tracing::debug!(operation = %operation, method = %method, path = url.path(), "csp call");
        let token = self.tokens.token().await?;
        match self
            .send(operation, &method, &url, body.as_ref(), &token, &interpret)
            .await
        {
            Err(ProviderError::Unauthorized { .. }) => {
                tracing::debug!(operation = %operation, "CSP refused the access token; refreshing it");
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
        body: Option<&Body>,
        token: &AccessToken,
        interpret: &impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let bearer = sensitive_bearer(&token.value)?;
        self.exec
            .execute(
                operation,
                |client| {
                    let mut req = client
                        .request(method.clone(), url.clone())
                        .header(http::header::AUTHORIZATION, bearer.clone())
                        .header(http::header::ACCEPT, "application/json");
                    match body {
                        Some(Body::Json(b)) => {
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

fn sensitive_bearer(token: &ClientSecret) -> Result<http::HeaderValue, ProviderError> {
    crate::provider::rest::bearer(token, "the CSP access token")
}

/// Where the next page starts, or `None` when the list is complete.
pub fn next_start(
    next_link: Option<&str>,
    total: Option<i64>,
    start: u64,
    got: u64,
    limit: u32,
) -> Option<u64> {
    if got == 0 {
        return None;
    }
    if let Some(link) = next_link {
        // Only a link that moves forward is followed (a looping server ends here).
        return page_start_of(link).filter(|s| *s > start);
    }
    let reached = start + got;
    match total {
        Some(t) => (reached < t.max(0) as u64).then_some(reached),
        None => (got >= u64::from(limit)).then_some(reached),
    }
}

/// The `pageStart` of a `nextLink` such as `/csp/...?pageStart=15&pageLimit=15`.
pub fn page_start_of(link: &str) -> Option<u64> {
    let query = link.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "pageStart")
        .and_then(|(_, v)| v.parse().ok())
}

fn about_org(messages: &[ProviderMessage]) -> bool {
    messages.iter().any(|m| {
        let t = m.message.to_ascii_lowercase();
        t.contains("organization") || t.contains("organisation")
    })
}

fn json_answer<T: DeserializeOwned>(raw: RawResponse) -> Result<T, ProviderError> {
    if raw.status.is_success() {
        parse_json(&raw.body)
    } else {
        Err(parse_error(raw.status, &raw.headers, &raw.body))
    }
}

fn empty_answer(raw: RawResponse) -> Result<(), ProviderError> {
    if raw.status.is_success() {
        Ok(())
    } else {
        Err(parse_error(raw.status, &raw.headers, &raw.body))
    }
}

fn join(base: &Url, segments: &[&str]) -> Result<Url, ProviderError> {
    crate::provider::rest::join(base, segments, "the base URL")
}

/// Path parameters: non-empty, not `.`/`..`, at most 256 characters (the url
/// crate percent-encodes everything else).
fn check_segment(what: &str, value: &str) -> Result<(), ProviderError> {
    if value.is_empty() || value == "." || value == ".." || value.chars().count() > 256 {
        return Err(ProviderError::config(format!(
            "the {what} must be 1 to 256 characters and not \".\" or \"..\""
        )));
    }
    Ok(())
}

/// Parse a success body; the error never quotes the body.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| ProviderError::decode(serde_message(&e)))
}

/// A non-2xx answer as a typed error, with the `CspErrorResponse` as message
/// (its `errorCode`, else `cspErrorCode`, as the code).
pub fn parse_error(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    error_for_status(status, headers, error_messages(status, body))
}

fn error_messages(status: StatusCode, body: &[u8]) -> Vec<ProviderMessage> {
    let parsed = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .and_then(|v| serde_json::from_value::<CspErrorResponse>(v).ok());
    if let Some(e) = parsed {
        let code = e.error_code.clone().or(e.csp_error_code.clone());
        if e.message.is_some() || code.is_some() {
            let text = e
                .message
                .clone()
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
            return vec![ProviderMessage::new(code, &text, None)];
        }
    }
    // An OAuth-style `{error, error_description}` (token endpoints), or text.
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(err) = v.get("error").and_then(Value::as_str)
    {
        let text = v
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or(err);
        return vec![ProviderMessage::new(Some(err.to_string()), text, None)];
    }
    let snippet = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let text = if snippet.trim().is_empty() {
        status.canonical_reason().unwrap_or("no body").to_string()
    } else {
        snippet.into_owned()
    };
    vec![ProviderMessage::new(None, &text, None)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn err(status: u16, headers: &[(&str, &str)], body: &str) -> ProviderError {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        parse_error(StatusCode::from_u16(status).unwrap(), &h, body.as_bytes())
    }

    #[test]
    fn csp_error_responses_map_to_typed_errors() {
        let body = r#"{"cspErrorCode":"410.1","errorCode":"invalid.request","message":"displayName is required","moduleCode":410,"requestId":"r1","statusCode":400}"#;
        match err(400, &[], body) {
            ProviderError::Invalid { status, messages } => {
                assert_eq!(status, 400);
                assert_eq!(messages[0].code.as_deref(), Some("invalid.request"));
                assert_eq!(messages[0].message, "displayName is required");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            err(401, &[], "{}"),
            ProviderError::Unauthorized { .. }
        ));
        assert!(matches!(err(403, &[], ""), ProviderError::Forbidden { .. }));
        assert!(matches!(
            err(404, &[], r#"{"message":"not found"}"#),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            err(409, &[], r#"{"cspErrorCode":"x"}"#),
            ProviderError::Conflict { ref messages } if messages[0].code.as_deref() == Some("x")
        ));
        assert_eq!(
            err(429, &[("retry-after", "3")], "{}").retry_after(),
            Some(Duration::from_secs(3))
        );
        assert!(matches!(
            err(503, &[], "<html>down</html>"),
            ProviderError::Server { status: 503, ref messages } if messages[0].message.contains("down")
        ));
        assert!(matches!(
            err(422, &[], ""),
            ProviderError::Invalid { status: 422, .. }
        ));
        let e = err(
            400,
            &[],
            r#"{"error":"invalid_client","error_description":"bad"}"#,
        );
        assert_eq!(e.messages()[0].code.as_deref(), Some("invalid_client"));
    }

    #[test]
    fn error_text_is_sanitized() {
        let e = err(
            400,
            &[],
            r#"{"message":"newClientSecret=Sup3r-secret! is weak"}"#,
        );
        assert!(!e.to_string().contains("Sup3r"), "{e}");
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        let e = parse_json::<ClientIdAndSecret>(br#"{"clientId":"a","clientSecret":5}"#);
        assert!(e.is_ok() || matches!(e, Err(ProviderError::Decode { .. })));
        let e = parse_json::<ClientIdAndSecret>(br#"{"clientId":["Sup3r-s3cret"]}"#).unwrap_err();
        assert!(!e.to_string().contains("Sup3r"), "{e}");
        let e = parse_json::<OAuthApp>(b"not json").unwrap_err();
        assert!(matches!(e, ProviderError::Decode { .. }));
    }

    #[test]
    fn paging_follows_links_then_counts() {
        let link = "/csp/gateway/am/api/orgs/o/oauth-apps?pageStart=15&pageLimit=15";
        assert_eq!(page_start_of(link), Some(15));
        assert_eq!(page_start_of("/x?pageLimit=2"), None);
        assert_eq!(next_start(Some(link), None, 0, 15, 15), Some(15));
        // A link that does not move forward ends the list.
        assert_eq!(next_start(Some(link), None, 15, 15, 15), None);
        // No link: totalResults decides, else a short page ends it.
        assert_eq!(next_start(None, Some(40), 15, 15, 15), Some(30));
        assert_eq!(next_start(None, Some(30), 15, 15, 15), None);
        assert_eq!(next_start(None, None, 0, 15, 15), Some(15));
        assert_eq!(next_start(None, None, 0, 14, 15), None);
        assert_eq!(next_start(Some(link), Some(100), 0, 0, 15), None);
    }

    #[test]
    fn urls_are_built_under_the_base_and_escape_ids() {
        let client = CspClient::standalone(
            CspConfig::new("org-1", CspCredentials::api_token("t"))
                .with_base_url("http://127.0.0.1:1/prefix/"),
        )
        .unwrap();
        assert_eq!(
            client.apps_url(&["a/b?c", "secret"]).unwrap().as_str(),
            "http://127.0.0.1:1/prefix/csp/gateway/am/api/orgs/org-1/oauth-apps/a%2Fb%3Fc/secret"
        );
        assert!(client.apps_url(&[".."]).is_err());
        assert!(!format!("{client:?}").contains("Bearer"));
    }

    #[test]
    fn bad_configs_are_refused() {
        for bad in ["ftp://x/", "not a url", "https://u:p@h/", "https://h/?q=1"] {
            let r = CspClient::standalone(
                CspConfig::new("o", CspCredentials::api_token("t")).with_base_url(bad),
            );
            assert!(matches!(r, Err(ProviderError::Config { .. })), "{bad}");
        }
        let r = CspClient::standalone(CspConfig::new("o", CspCredentials::api_token(" ")));
        assert!(matches!(r, Err(ProviderError::Config { .. })));
        let r = CspClient::standalone(CspConfig::new("", CspCredentials::api_token("t")));
        assert!(matches!(r, Err(ProviderError::Config { .. })));
    }
}

/// Property tests of response parsing: whatever the bytes, a typed result or a
/// clear error, never a panic.
#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn status() -> impl Strategy<Value = StatusCode> {
        (100u16..=599).prop_map(|s| StatusCode::from_u16(s).unwrap())
    }

    fn json_value() -> impl Strategy<Value = Value> {
        crate::provider::arbitrary::json_value(&[
            "id",
            "results",
            "clientSecret",
            "message",
            "errorCode",
            "allowedScopes",
            "succeeded",
            "access_token",
        ])
    }

    fn parse_all(status: StatusCode, body: &[u8]) -> Vec<Result<(), ProviderError>> {
        let raw = || RawResponse {
            status,
            headers: HeaderMap::new(),
            body: body.to_vec(),
            truncated: false,
        };
        vec![
            json_answer::<OAuthApp>(raw()).map(drop),
            json_answer::<Paged<OAuthApp>>(raw()).map(drop),
            json_answer::<ClientIdAndSecret>(raw()).map(drop),
            json_answer::<PartialSuccess>(raw()).map(drop),
            json_answer::<super::super::wire::AccessTokenResponse>(raw()).map(drop),
            empty_answer(raw()),
        ]
    }

    fn expected_class(status: StatusCode, e: &ProviderError) -> bool {
        match status.as_u16() {
            200..=299 => matches!(e, ProviderError::Decode { .. }),
            401 => matches!(e, ProviderError::Unauthorized { .. }),
            403 => matches!(e, ProviderError::Forbidden { .. }),
            404 => matches!(e, ProviderError::NotFound { .. }),
            409 => matches!(e, ProviderError::Conflict { .. }),
            429 => matches!(e, ProviderError::RateLimited { .. }),
            400..=499 => matches!(e, ProviderError::Invalid { .. }),
            500..=599 => matches!(e, ProviderError::Server { .. }),
            _ => matches!(e, ProviderError::UnexpectedStatus { .. }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(status in status(), body in prop::collection::vec(any::<u8>(), 0..512)) {
            for r in parse_all(status, &body) {
                if let Err(e) = r {
                    prop_assert!(expected_class(status, &e), "{status}: {e:?}");
                    prop_assert!(e.to_string().chars().count() < 2048);
                }
            }
        }

        #[test]
        fn arbitrary_json_never_panics(status in status(), value in json_value()) {
            let body = serde_json::to_vec(&value).unwrap();
            for r in parse_all(status, &body) {
                if let Err(e) = r {
                    prop_assert!(expected_class(status, &e), "{status}: {e:?}");
                }
            }
        }

        #[test]
        fn wrong_types_never_echo_the_secret(
            secret in "[A-Za-z0-9]{16,40}",
            wrong in prop_oneof![Just(Value::from(5)), Just(serde_json::json!({"a": 1})), Just(serde_json::json!([1]))],
        ) {
            let body = serde_json::to_vec(&serde_json::json!({"clientId": wrong, "clientSecret": secret})).unwrap();
            if let Err(e) = parse_json::<ClientIdAndSecret>(&body) {
                prop_assert!(!e.to_string().contains(&secret));
                let debug = format!("{e:?}");
                prop_assert!(!debug.contains(&secret));
            }
        }

        #[test]
        fn truncated_pages_are_decode_errors(cut in 0usize..120) {
            let body = r#"{"results":[{"id":"app-1","displayName":"A"},{"id":"app-2"}],"totalResults":2}"#;
            let cut = cut.min(body.len() - 1);
            let r = parse_json::<Paged<OAuthApp>>(&body.as_bytes()[..cut]);
            prop_assert!(matches!(r, Err(ProviderError::Decode { .. })), "{r:?}");
        }
    }

    #[test]
    fn deeply_nested_bodies_are_decode_errors_not_stack_overflows() {
        let depth = 100_000;
        let body = format!(
            r#"{{"results":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let r = parse_json::<Paged<OAuthApp>>(body.as_bytes());
        assert!(matches!(r, Err(ProviderError::Decode { .. })), "{r:?}");
        let e = parse_error(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes());
        assert!(matches!(e, ProviderError::Invalid { .. }));
        assert!(e.to_string().len() < 1024);
    }
}
