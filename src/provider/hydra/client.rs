//! The typed client of Ory Hydra's admin API for OAuth 2.0 clients
//! (`/admin/clients`, Hydra v2; see `hydra.md` §4).
//!
//! - Every call goes through the server's shared rate limiter and the retry policy
//!   ([`Executor`]); create is never retried once it may have reached Hydra and
//!   says `OutcomeUnknown` when its result is lost.
//! - Errors: Hydra answers `{error, error_description}` (plus `error_hint` /
//!   `error_debug` in some versions). The HTTP status decides the variant; the body
//!   is kept as sanitized text. Hydra maps SQLite's "Unable to serialize access due
//!   to a concurrent update" to a 400: that one is a `Server` error here, so reads,
//!   PATCH and DELETE retry it (for create it becomes `OutcomeUnknown`, resolved by
//!   the create marker).
//! - LIST follows the `Link: <...>; rel="next"` header: the `page_token` (and
//!   `page_size`) of the next link are reused against our own base URL, so a
//!   misconfigured `urls.self.admin` or a proxy path prefix does not matter; works
//!   with v2.3.0's offset tokens and v25+'s keyset tokens alike.
//! - Optional `Authorization: Bearer` for an admin API behind an authenticating
//!   proxy (Hydra's admin port itself has no authentication).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderValue, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::wire::{ErrorBody, OAuth2Client, PatchOp};
use crate::api::provider::ProviderType;
use crate::provider::error::{Operation, ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse};
use crate::provider::http::{error_for_status, to_json};
use crate::provider::list_budget::{ListBudget, ListMeter};
use crate::provider::model::SecretCheck;
use crate::provider::oauth_probe::{self, ClientAuth};
use crate::provider::ratelimit::{RateLimitConfig, RateLimiterRegistry};
use crate::provider::transport::{ClientConfig, ProviderClient, Transport, TransportConfig};
use crate::secret::ClientSecret;

pub use crate::provider::http::Deleted;

/// The client-side limit when the provider object sets none: Hydra is self-hosted
/// and documents no limit; 100 requests per second protects it from a burst of
/// reconciles without slowing a normal fleet.
pub const DEFAULT_RATE_LIMIT: RateLimitConfig = RateLimitConfig {
    requests: 100,
    period: Duration::from_secs(1),
};

/// Clients asked for per LIST page (v2.3.0 allows up to 1000, v25+ up to 500).
pub const PAGE_SIZE: usize = 500;
/// Passes over a list that changed while it was paged (see [`HydraClient::list`]).
pub const MAX_PASSES: usize = 4;

/// The text of SQLite's serialization failure, which Hydra answers with HTTP 400.
const CONCURRENT_UPDATE: &str = "concurrent update";

/// How to reach one Hydra admin API.
#[derive(Clone, Debug)]
pub struct HydraConfig {
    /// The admin API's base URL, e.g.
    /// `http://hydra-admin.auth.svc.cluster.local:4445` (the client adds
    /// `/admin/clients`). A path prefix (a proxy) is kept.
    pub admin_url: String,
    /// A bearer token for an authenticating proxy in front of the admin API.
    pub bearer_token: Option<ClientSecret>,
    /// Rate limit, retries, body caps and LIST budget (across all pages and
    /// passes).
    pub transport: TransportConfig,
    /// Clients asked for per LIST page.
    pub page_size: usize,
    /// Hydra's public URL (`spec.hydra.publicUrl`), where its token endpoint
    /// `/oauth2/token` is: needed only to check a client secret.
    pub public_url: Option<String>,
}

impl HydraConfig {
    /// The admin API at `admin_url`, unauthenticated, with the default limit and
    /// retries.
    pub fn new(admin_url: impl Into<String>) -> Self {
        Self {
            admin_url: admin_url.into(),
            bearer_token: None,
            transport: TransportConfig::new(DEFAULT_RATE_LIMIT),
            page_size: PAGE_SIZE,
            public_url: None,
        }
    }

    /// Hydra's public URL, e.g. `https://auth.example.com` (the client adds
    /// `/oauth2/token`; a path prefix is kept).
    pub fn with_public_url(mut self, public_url: impl Into<String>) -> Self {
        self.public_url = Some(public_url.into());
        self
    }

    /// Send `Authorization: Bearer <token>`.
    pub fn with_bearer_token(mut self, token: ClientSecret) -> Self {
        self.bearer_token = Some(token);
        self
    }
}

impl ClientConfig for HydraConfig {
    fn transport(&mut self) -> &mut TransportConfig {
        &mut self.transport
    }
}

/// One page of a LIST.
#[derive(Clone, Debug)]
pub struct Page {
    pub clients: Vec<OAuth2Client>,
    /// The `page_token` of the `rel="next"` link, if any.
    pub next_token: Option<String>,
    /// `X-Total-Count`, when Hydra sends it (v2.3.0).
    pub total: Option<usize>,
}

/// A client of one Hydra admin API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HydraClient {
    base: Url,
    auth: Arc<HeaderMap>,
    exec: Executor,
    page_size: usize,
    /// `{public}/oauth2/token`, when the public URL is known.
    token_url: Option<Url>,
    list_cap: usize,
    list_budget: ListBudget,
}

impl ProviderClient for HydraClient {
    type Config = HydraConfig;

    fn new(
        config: HydraConfig,
        http: reqwest::Client,
        limiters: &RateLimiterRegistry,
    ) -> Result<Self, ProviderError> {
        let base = parse_admin_url(&config.admin_url)?;
        let mut auth = HeaderMap::new();
        if let Some(token) = &config.bearer_token {
            let token = token.expose().trim();
            if token.is_empty() {
                return Err(ProviderError::config("the Hydra bearer token is empty"));
            }
            let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                ProviderError::config(
                    "the Hydra bearer token contains characters an HTTP header cannot hold",
                )
            })?;
            value.set_sensitive(true);
            auth.insert(http::header::AUTHORIZATION, value);
        }
        let Transport {
            exec,
            list_cap,
            list_budget,
        } = config
            .transport
            .open(http, limiters, &base, ProviderType::Hydra.block_name());
        let token_url = match &config.public_url {
            Some(public) => Some(token_url(public)?),
            None => None,
        };
        Ok(Self {
            base,
            auth: Arc::new(auth),
            exec,
            page_size: config.page_size.max(1),
            token_url,
            list_cap,
            list_budget,
        })
    }

    fn executor(&self) -> &Executor {
        &self.exec
    }

    fn set_executor(&mut self, exec: Executor) {
        self.exec = exec;
    }
}

impl HydraClient {
    /// The admin base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `{publicUrl}/oauth2/token`, when `spec.hydra.publicUrl` is set.
    pub fn public_token_url(&self) -> Option<&Url> {
        self.token_url.as_ref()
    }

    /// `GET /admin/clients?page_size=&page_token=`: one page.
    pub async fn list_page(
        &self,
        page_size: usize,
        page_token: Option<&str>,
    ) -> Result<Page, ProviderError> {
        let url = self.page_url(page_size, page_token)?;
        self.exec
            .execute(
                Operation::List,
                |c| self.request(c, http::Method::GET, &url, None),
                decode_page,
            )
            .await
    }

    fn page_url(&self, page_size: usize, page_token: Option<&str>) -> Result<Url, ProviderError> {
        let mut url = self.url(&["admin", "clients"])?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("page_size", &page_size.to_string());
            if let Some(t) = page_token {
                q.append_pair("page_token", t);
            }
        }
        Ok(url)
    }

    /// [`list_page`](Self::list_page) counted against `meter`.
    async fn list_page_metered(
        &self,
        meter: &mut ListMeter,
        page_token: Option<&str>,
    ) -> Result<Page, ProviderError> {
        let url = self.page_url(self.page_size, page_token)?;
        meter
            .page(
                &self.exec,
                self.list_cap,
                |c| self.request(c, http::Method::GET, &url, None),
                decode_page,
            )
            .await
    }

    /// Every client. One pass follows `rel="next"` until the last page (stopping
    /// on a repeated token, an empty page, or once `X-Total-Count` clients are
    /// read).
    ///
    /// Hydra v2.3.0 pages by **offset** over clients ordered by their random UUID
    /// ids, so a client created while a multi-page LIST runs shifts every later
    /// client by one, and the client at a page boundary is skipped. A client
    /// missing from the list would be taken for "never created" by the lookup of a
    /// create whose answer was lost, and created twice (seen at N=1000 in
    /// bench/hydra-vs-maester). So when a pass had several pages and read fewer
    /// clients than Hydra's count, further passes are made (at most
    /// [`MAX_PASSES`]) and their union returned: a client that existed through the
    /// LIST is in it unless every pass skipped it. (v25+ pages by keyset, which is
    /// stable under inserts, and sends no count: one pass.)
    ///
    /// The pages of all passes together stay within the LIST budget, else
    /// `ListTooLarge`.
    pub async fn list(&self) -> Result<Vec<OAuth2Client>, ProviderError> {
        let mut all: Vec<OAuth2Client> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut meter = ListMeter::new(self.list_budget);
        for pass in 0..MAX_PASSES {
            let (clients, total, pages) = self.list_pass(&mut meter).await?;
            for c in clients {
                let id = c.client_id.clone().unwrap_or_default();
                match index.get(&id) {
                    Some(&i) => all[i] = c,
                    None => {
                        index.insert(id, all.len());
                        all.push(c);
                    }
                }
            }
            match total {
                Some(t) if pages > 1 && all.len() < t => {
                    tracing::debug!(
                        pass,
                        have = all.len(),
                        total = t,
                        "Hydra's client list changed while it was paged; listing again"
                    );
                }
                _ => break,
            }
        }
        Ok(all)
    }

    /// One pass over all pages: the clients (deduplicated), the largest
    /// `X-Total-Count` seen, and the number of pages.
    async fn list_pass(
        &self,
        meter: &mut ListMeter,
    ) -> Result<(Vec<OAuth2Client>, Option<usize>, usize), ProviderError> {
        let mut out: Vec<OAuth2Client> = Vec::new();
        let mut seen_ids: HashSet<String> = HashSet::new();
        let mut seen_tokens: HashSet<String> = HashSet::new();
        let mut token: Option<String> = None;
        let mut total: Option<usize> = None;
        // Ends at the last page, or at the LIST budget (`meter`).
        let mut pages = 0;
        loop {
            pages += 1;
            let page = self.list_page_metered(meter, token.as_deref()).await?;
            let empty = page.clients.is_empty();
            total = total.max(page.total);
            for c in page.clients {
                // Offset pagination repeats a client when one before it was
                // deleted between pages: keep the first copy.
                if seen_ids.insert(c.client_id.clone().unwrap_or_default()) {
                    out.push(c);
                }
            }
            let done_by_total = page.total.is_some_and(|t| out.len() >= t);
            match page.next_token {
                Some(next) if !empty && !done_by_total && seen_tokens.insert(next.clone()) => {
                    token = Some(next)
                }
                _ => return Ok((out, total, pages)),
            }
        }
    }

    /// `GET /admin/clients/{id}` (the secret is never included).
    pub async fn get(&self, id: &str) -> Result<OAuth2Client, ProviderError> {
        let url = self.client_url(id)?;
        self.exec
            .execute(
                Operation::Get,
                |c| self.request(c, http::Method::GET, &url, None),
                |raw| decode_client(&raw),
            )
            .await
    }

    /// `POST /admin/clients`. The answer holds the client secret (Hydra returns it
    /// only this once). Never retried once it may have reached Hydra.
    pub async fn create(&self, body: &OAuth2Client) -> Result<OAuth2Client, ProviderError> {
        let url = self.url(&["admin", "clients"])?;
        let body = to_json(body)?;
        self.exec
            .execute(
                Operation::Create,
                |c| self.request(c, http::Method::POST, &url, Some(&body)),
                |raw| decode_client(&raw),
            )
            .await
    }

    /// `PUT /admin/clients/{id}`: replaces the whole client (fields absent from
    /// `body` are reset; without `client_secret` the secret is kept).
    pub async fn put(&self, id: &str, body: &OAuth2Client) -> Result<OAuth2Client, ProviderError> {
        let url = self.client_url(id)?;
        let body = to_json(body)?;
        self.exec
            .execute(
                Operation::Update,
                |c| self.request(c, http::Method::PUT, &url, Some(&body)),
                |raw| decode_client(&raw),
            )
            .await
    }

    /// `PATCH /admin/clients/{id}` with an RFC 6902 JSON Patch. An empty patch sends
    /// nothing and reads the client instead. Setting `/client_secret` to the value
    /// it already has is harmless (it is hashed again), so a repeat is safe.
    pub async fn patch(&self, id: &str, ops: &[PatchOp]) -> Result<OAuth2Client, ProviderError> {
        if ops.is_empty() {
            return self.get(id).await;
        }
        let url = self.client_url(id)?;
        let body = to_json(&ops)?;
        self.exec
            .execute(
                Operation::Update,
                |c| {
                    self.request(c, http::Method::PATCH, &url, Some(&body))
                        .header(http::header::CONTENT_TYPE, "application/json-patch+json")
                },
                |raw| decode_client(&raw),
            )
            .await
    }

    /// Make `secret` the client's only secret (`PATCH` of `/client_secret`). The
    /// previous secret stops working at once: Hydra v2 stores one secret hash.
    pub async fn set_secret(&self, id: &str, secret: &ClientSecret) -> Result<(), ProviderError> {
        let op = PatchOp::set(
            "client_secret",
            serde_json::Value::String(secret.expose().to_string()),
        );
        self.patch(id, std::slice::from_ref(&op)).await.map(|_| ())
    }

    /// `DELETE /admin/clients/{id}`; a 404 is [`Deleted::AlreadyAbsent`].
    pub async fn delete(&self, id: &str) -> Result<Deleted, ProviderError> {
        let url = self.client_url(id)?;
        let result = self
            .exec
            .execute(
                Operation::Delete,
                |c| self.request(c, http::Method::DELETE, &url, None),
                |raw| {
                    if raw.status.is_success() {
                        Ok(())
                    } else {
                        Err(status_error(&raw))
                    }
                },
            )
            .await;
        match result {
            Ok(()) => Ok(Deleted::Deleted),
            Err(ProviderError::NotFound { .. }) => Ok(Deleted::AlreadyAbsent),
            Err(e) => Err(e),
        }
    }

    /// Whether Hydra takes `secret` as the secret of client `id`, asked of its
    /// public token endpoint (`{public}/oauth2/token`) with the client's registered
    /// method (`client_secret_basic`, id and secret form-encoded as Hydra expects,
    /// or `client_secret_post`) and an `authorization_code` grant for a made-up
    /// code (see [`oauth_probe`]): Hydra authenticates the client first, so no
    /// token is issued and nothing changes. [`SecretCheck::Unsupported`] without a
    /// public URL and for a client without a secret method; an unknown client is
    /// `NotFound`.
    pub async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        let Some(token_url) = &self.token_url else {
            return Ok(SecretCheck::Unsupported(
                "spec.hydra.publicUrl is not set: clientops checks a client secret at \
                 Hydra's public token endpoint ({publicUrl}/oauth2/token); set it to \
                 Hydra's public URL, e.g. https://auth.example.com"
                    .into(),
            ));
        };
        let client = self.get(id).await?;
        // Hydra's default method is client_secret_basic.
        let method = client.token_endpoint_auth_method.as_deref().unwrap_or("");
        match ClientAuth::for_method(id, method, true) {
            Ok(auth) => oauth_probe::verify(&self.exec, token_url, id, secret, auth).await,
            Err(why) => Ok(SecretCheck::Unsupported(why)),
        }
    }

    fn request(
        &self,
        client: &reqwest::Client,
        method: http::Method,
        url: &Url,
        body: Option<&Vec<u8>>,
    ) -> reqwest::RequestBuilder {
        let mut req = client
            .request(method, url.clone())
            .headers((*self.auth).clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = body {
            req = req
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        req
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| ProviderError::config("the Hydra admin URL cannot have a path"))?;
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    fn client_url(&self, id: &str) -> Result<Url, ProviderError> {
        if id.is_empty() || id == "." || id == ".." || id.len() > 1024 {
            return Err(ProviderError::config(
                "the Hydra client id must be 1 to 1024 characters and not \".\" or \"..\"",
            ));
        }
        self.url(&["admin", "clients", id])
    }
}

fn parse_admin_url(admin_url: &str) -> Result<Url, ProviderError> {
    let url = Url::parse(admin_url.trim()).map_err(|e| {
        ProviderError::config(format!("spec.hydra.adminUrl is not a valid URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ProviderError::config(
            "spec.hydra.adminUrl must be an http:// or https:// URL",
        ));
    }
    if url.cannot_be_a_base() || url.query().is_some() || url.fragment().is_some() {
        return Err(ProviderError::config(
            "spec.hydra.adminUrl must be a plain URL without query or fragment",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ProviderError::config(
            "spec.hydra.adminUrl must not carry credentials; use spec.hydra.auth",
        ));
    }
    // `.../admin` given by mistake: the client adds `/admin/clients` itself.
    if url.path().trim_end_matches('/').ends_with("/admin") {
        return Err(ProviderError::config(
            "spec.hydra.adminUrl must be the admin API's base URL without /admin (e.g. http://hydra-admin.auth.svc.cluster.local:4445)",
        ));
    }
    Ok(url)
}

/// `{public}/oauth2/token` for Hydra's public URL `public` (a path prefix is
/// kept).
pub fn token_url(public: &str) -> Result<Url, ProviderError> {
    let mut url = Url::parse(public.trim()).map_err(|e| {
        ProviderError::config(format!("spec.hydra.publicUrl is not a valid URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https")
        || url.cannot_be_a_base()
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(ProviderError::config(
            "spec.hydra.publicUrl must be a plain http:// or https:// URL without \
             query, fragment or credentials",
        ));
    }
    url.path_segments_mut()
        .map_err(|_| ProviderError::config("spec.hydra.publicUrl cannot have a path"))?
        .pop_if_empty()
        .extend(["oauth2", "token"]);
    Ok(url)
}

/// A LIST page's answer: the clients, the next page's token and the count.
fn decode_page(raw: RawResponse) -> Result<Page, ProviderError> {
    let mut clients: Vec<OAuth2Client> = decode(&raw)?;
    clients.iter_mut().for_each(OAuth2Client::retain_lifespans);
    Ok(Page {
        clients,
        next_token: next_page_token(&raw.headers),
        total: raw
            .headers
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok()),
    })
}

/// The `page_token` of the `rel="next"` link in `Link` headers, if any.
pub fn next_page_token(headers: &HeaderMap) -> Option<String> {
    for value in headers.get_all(http::header::LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in split_links(value) {
            let Some((target, params)) = link.split_once(';') else {
                continue;
            };
            let is_next = params.split(';').any(|p| {
                let p = p.trim();
                p.strip_prefix("rel=")
                    .map(|r| r.trim_matches('"').split_whitespace().any(|r| r == "next"))
                    .unwrap_or(false)
            });
            if !is_next {
                continue;
            }
            let target = target.trim().trim_start_matches('<').trim_end_matches('>');
            // Relative links are resolved against a dummy base: only the query matters.
            let url = Url::parse(target)
                .or_else(|_| Url::parse("http://hydra.invalid/").and_then(|b| b.join(target)));
            if let Ok(url) = url
                && let Some((_, t)) = url.query_pairs().find(|(k, _)| k == "page_token")
                && !t.is_empty()
            {
                return Some(t.into_owned());
            }
        }
    }
    None
}

/// Split a `Link` header value at the commas between links (not inside `<...>`).
fn split_links(value: &str) -> Vec<&str> {
    let mut out = vec![];
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

fn decode<T: DeserializeOwned>(raw: &RawResponse) -> Result<T, ProviderError> {
    if !raw.status.is_success() {
        return Err(status_error(raw));
    }
    serde_json::from_slice(&raw.body).map_err(|e| {
        ProviderError::decode(format!(
            "the body is not the expected JSON ({} at line {} column {})",
            match e.classify() {
                serde_json::error::Category::Io => "I/O error",
                serde_json::error::Category::Syntax => "syntax error",
                serde_json::error::Category::Data => "unexpected data",
                serde_json::error::Category::Eof => "unexpected end",
            },
            e.line(),
            e.column()
        ))
    })
}

fn decode_client(raw: &RawResponse) -> Result<OAuth2Client, ProviderError> {
    let mut c: OAuth2Client = decode(raw)?;
    c.retain_lifespans();
    if c.client_id.as_deref().unwrap_or_default().is_empty() {
        return Err(ProviderError::decode("the client has no client_id"));
    }
    if c.client_secret
        .as_ref()
        .is_some_and(|s| s.expose().is_empty())
    {
        c.client_secret = None;
    }
    Ok(c)
}

/// A non-2xx answer as a typed error, with Hydra's `{error, error_description}`.
/// A 400 for a concurrent update is SQLite's serialization failure: the
/// transaction was rolled back, so it is a `Server` error, safe to repeat for
/// idempotent calls. The rest goes by the status.
pub fn status_error(raw: &RawResponse) -> ProviderError {
    let messages = error_messages(raw.status, &raw.body);
    let concurrent_update = messages
        .iter()
        .any(|m| m.message.to_ascii_lowercase().contains(CONCURRENT_UPDATE));
    if raw.status == StatusCode::BAD_REQUEST && concurrent_update {
        return ProviderError::Server {
            status: 400,
            messages,
        };
    }
    error_for_status(raw.status, &raw.headers, messages)
}

/// Hydra's error body as messages; a body that is not Hydra's JSON becomes one
/// message with its (sanitized, truncated) text.
fn error_messages(status: StatusCode, body: &[u8]) -> Vec<ProviderMessage> {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body)
        && (e.error.is_some() || e.error_description.is_some())
    {
        let mut text = e.error_description.clone().unwrap_or_default();
        for extra in [&e.error_hint, &e.error_debug].into_iter().flatten() {
            if !extra.is_empty() && !text.contains(extra.as_str()) {
                text = format!("{text} ({extra})");
            }
        }
        if text.is_empty() {
            text = e.error.clone().unwrap_or_default();
        }
        return vec![ProviderMessage::new(e.error, &text, None)];
    }
    vec![ProviderMessage::from_body(status, body)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hydra_errors_map_by_status() {
        let e = status_error(&RawResponse::for_test(
            400,
            r#"{"error":"invalid_client_metadata","error_description":"The value of one of the Client Metadata fields is invalid and the server has rejected this request. Field redirect_uris must not contain fragments."}"#,
        ));
        assert!(
            matches!(e, ProviderError::Invalid { status: 400, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("must not contain fragments"), "{e}");
        assert!(e.to_string().contains("invalid_client_metadata"), "{e}");
        let e = status_error(&RawResponse::for_test(
            404,
            r#"{"error":"Unable to locate the resource","error_description":""}"#,
        ));
        assert!(matches!(e, ProviderError::NotFound { .. }), "{e}");
        assert!(e.to_string().contains("Unable to locate"), "{e}");
        assert!(matches!(
            status_error(&RawResponse::for_test(409, "{}")),
            ProviderError::Conflict { .. }
        ));
        let e = status_error(&RawResponse::for_test(
            400,
            r#"{"error":"invalid_request","error_description":"Unable to serialize access due to a concurrent update in another session."}"#,
        ));
        assert!(e.is_retryable(), "{e}");
        assert!(matches!(
            status_error(&RawResponse::for_test(401, "nope")),
            ProviderError::Unauthorized { .. }
        ));
        let e = status_error(&RawResponse::for_test(502, ""));
        assert!(e.to_string().contains("HTTP 502"), "{e}");
    }

    #[test]
    fn error_text_never_shows_a_secret() {
        let e = status_error(&RawResponse::for_test(
            400,
            r#"{"error":"x","error_description":"bad client_secret=hunter2hunter2"}"#,
        ));
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn next_links_give_their_page_token() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            HeaderValue::from_static(
                r#"</admin/clients?page_size=2&page_token=eyJvZmZzZXQiOiIyIn0>; rel="next",</admin/clients?page_size=2&page_token=eyJvZmZzZXQiOiIwIn0>; rel="first""#,
            ),
        );
        assert_eq!(next_page_token(&h).as_deref(), Some("eyJvZmZzZXQiOiIyIn0"));
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            HeaderValue::from_static(
                r#"<http://127.0.0.1:4445/admin/clients?page_size=2&page_token=abc%3D>; rel="first", <http://x/admin/clients?page_token=def>; rel=next"#,
            ),
        );
        assert_eq!(next_page_token(&h).as_deref(), Some("def"));
        let mut h = HeaderMap::new();
        h.insert(
            http::header::LINK,
            HeaderValue::from_static(r#"</admin/clients?page_token=a>; rel="first""#),
        );
        assert_eq!(next_page_token(&h), None);
    }

    /// Hydra v2.3.0's offset pagination over ids in order, with a client created
    /// (sorting first) right after the first page was served: a single pass skips
    /// the client at the page boundary; the union of passes does not.
    #[tokio::test]
    async fn a_list_that_changes_while_paged_misses_nobody() {
        use axum::extract::{Query, State};
        use axum::response::IntoResponse;
        use std::sync::Mutex;
        #[derive(Default)]
        struct Fake {
            ids: Vec<String>,
            served: usize,
        }
        async fn list(
            State(fake): State<Arc<Mutex<Fake>>>,
            Query(q): Query<std::collections::HashMap<String, String>>,
        ) -> axum::response::Response {
            let mut f = fake.lock().unwrap();
            let size: usize = q["page_size"].parse().unwrap();
            let offset: usize = q.get("page_token").map_or(0, |t| t.parse().unwrap());
            let page: Vec<_> = f
                .ids
                .iter()
                .skip(offset)
                .take(size)
                .map(|id| serde_json::json!({"client_id": id}))
                .collect();
            let total = f.ids.len();
            let mut headers = HeaderMap::new();
            headers.insert("x-total-count", total.to_string().parse().unwrap());
            if offset + size < total {
                let link = format!(
                    "</admin/clients?page_size={size}&page_token={}>; rel=\"next\"",
                    offset + size
                );
                headers.insert(http::header::LINK, link.parse().unwrap());
            }
            f.served += 1;
            if f.served == 1 {
                f.ids.insert(0, "a-new".into());
            }
            (headers, axum::Json(page)).into_response()
        }
        let fake = Arc::new(Mutex::new(Fake {
            ids: (0..5).map(|i| format!("c{i}")).collect(),
            served: 0,
        }));
        let app = axum::Router::new()
            .route("/admin/clients", axum::routing::get(list))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut config = HydraConfig::new(format!("http://{addr}"));
        config.page_size = 2;
        let c = HydraClient::standalone(config).unwrap();
        // One pass: c1 moved from the first page to the second and was skipped.
        let mut meter = ListMeter::new(ListBudget::default());
        let (one, total, pages) = c.list_pass(&mut meter).await.unwrap();
        assert_eq!((total, pages), (Some(6), 3));
        assert_eq!(one.len(), 5, "c1 was skipped at the page boundary");
        // list(): passes until it has Hydra's count; nobody is missing.
        fake.lock().unwrap().served = 0;
        fake.lock().unwrap().ids.retain(|i| i != "a-new");
        let all = c.list().await.unwrap();
        let mut ids: Vec<_> = all.iter().map(|c| c.client_id.clone().unwrap()).collect();
        ids.sort();
        assert_eq!(ids, ["a-new", "c0", "c1", "c2", "c3", "c4"]);
    }

    #[test]
    fn the_token_endpoint_is_on_the_public_url() {
        let url = |p: &str| token_url(p).map(|u| u.to_string());
        assert_eq!(
            url("http://127.0.0.1:4444").unwrap(),
            "http://127.0.0.1:4444/oauth2/token"
        );
        assert_eq!(
            url("https://auth.example.com/hydra/").unwrap(),
            "https://auth.example.com/hydra/oauth2/token"
        );
        for bad in ["not a url", "ftp://x", "https://u:p@x", "https://x/?q=1"] {
            assert!(
                matches!(url(bad), Err(ProviderError::Config { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn admin_urls_are_checked() {
        assert!(parse_admin_url("http://127.0.0.1:4445").is_ok());
        assert!(parse_admin_url("https://proxy/hydra/").is_ok());
        assert!(parse_admin_url("http://127.0.0.1:4445/admin").is_err());
        assert!(parse_admin_url("ftp://x").is_err());
        assert!(parse_admin_url("http://u:p@x").is_err());
    }

    #[test]
    fn bearer_tokens_are_sensitive_and_checked() {
        let c = HydraClient::standalone(
            HydraConfig::new("http://127.0.0.1:4445")
                .with_bearer_token(ClientSecret::new("tok-123456")),
        )
        .unwrap();
        assert!(
            c.auth
                .get(http::header::AUTHORIZATION)
                .unwrap()
                .is_sensitive()
        );
        assert!(!format!("{c:?}").contains("tok-123456"));
        assert!(
            HydraClient::standalone(
                HydraConfig::new("http://x").with_bearer_token(ClientSecret::new("a\nb"))
            )
            .is_err()
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn raw_bytes(status: u16, body: Vec<u8>, link: Option<String>) -> RawResponse {
            let mut headers = HeaderMap::new();
            if let Some(v) = link.and_then(|l| http::HeaderValue::from_str(&l).ok()) {
                headers.insert(http::header::LINK, v);
            }
            RawResponse {
                status: StatusCode::from_u16(status).unwrap(),
                headers,
                body,
                truncated: false,
            }
        }

        /// Every parse target the Hydra client uses: never a panic; a 2xx that
        /// does not decode is a `Decode` error, any other status a typed one.
        fn check(raw: &RawResponse) -> Result<(), TestCaseError> {
            let results = [
                decode_client(raw).map(drop),
                decode::<Vec<OAuth2Client>>(raw).map(drop),
                decode::<serde_json::Value>(raw).map(drop),
            ];
            for r in results {
                if let Err(e) = r {
                    if raw.status.is_success() {
                        prop_assert!(matches!(e, ProviderError::Decode { .. }), "{e:?}");
                    } else {
                        prop_assert!(!matches!(e, ProviderError::Decode { .. }), "{e:?}");
                    }
                    prop_assert!(e.to_string().chars().count() < 8 * 1024);
                }
            }
            let _ = next_page_token(&raw.headers);
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_bytes_and_links_never_panic(
                status in 100u16..=599,
                body in prop::collection::vec(any::<u8>(), 0..512),
                link in proptest::option::of("[ -~]{0,200}"),
            ) {
                check(&raw_bytes(status, body, link))?;
            }

            #[test]
            fn arbitrary_json_never_panics(
                status in 100u16..=599,
                value in crate::provider::arbitrary::json_value(&[
                    "client_id", "client_secret", "client_name", "redirect_uris",
                    "grant_types", "metadata", "error", "error_description",
                ]),
            ) {
                check(&raw_bytes(status, serde_json::to_vec(&value).unwrap(), None))?;
            }
        }
    }
}
