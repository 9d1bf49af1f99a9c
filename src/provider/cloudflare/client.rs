//! The typed client of Cloudflare's account OAuth clients API
//! (`provider-contracts.md` A.1 to A.7).
//!
//! - Every call goes through the account's shared rate limiter and the retry policy
//!   ([`Executor`]); create and rotate are never retried after they may have reached
//!   Cloudflare, and say `OutcomeUnknown` when their result is lost.
//! - The v4 envelope: an error is any non-2xx status *or* `success: false`. Statuses
//!   and Cloudflare codes map onto [`ProviderError`]; the per-field messages keep
//!   their code and JSON pointer.
//! - Responses are read up to a size limit and parsed defensively: malformed JSON,
//!   missing fields, wrong types or a huge body give `Decode`, never a panic.

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::auth::CloudflareCredentials;
use super::wire::{
    CreateOAuthClient, CreatedOAuthClient, OAuthClient, RotatedSecret, Scope, UpdateOAuthClient,
};
use crate::provider::error::{Operation, ProviderError, ProviderMessage};
use crate::provider::http::{Executor, RawResponse};
use crate::provider::http::{
    error_for_status, parse_base_url, retry_after, serde_message, to_json,
};
use crate::provider::list_budget::{ListBudget, ListMeter};
use crate::provider::model::SecretCheck;
use crate::provider::oauth_probe::{self, ClientAuth};
use crate::provider::ratelimit::{RateLimitConfig, RateLimiterRegistry};
use crate::provider::transport::{ClientConfig, ProviderClient, Transport, TransportConfig};
use crate::secret::ClientSecret;

pub use crate::provider::http::Deleted;

/// The default base URL, `https://api.cloudflare.com/client/v4`.
pub const DEFAULT_BASE_URL: &str = crate::api::cloudflare::CLOUDFLARE_DEFAULT_BASE_URL;

/// Cloudflare's OAuth token endpoint, documented in "Integrate your OAuth client
/// with Cloudflare" (developers.cloudflare.com/fundamentals/oauth/).
pub const TOKEN_URL: &str = "https://dash.cloudflare.com/oauth2/token";

/// Cloudflare codes that mean the credentials are missing, malformed or unknown
/// (sent with HTTP 400 or 403): 6003 invalid request headers, 6102 bad
/// X-Auth-Email, 6103 bad X-Auth-Key, 6111 bad Authorization header, 9103 unknown
/// X-Auth-Key or X-Auth-Email, 9106 missing auth headers, 9109 invalid access
/// token, 10001 unable to authenticate. (10000 "Authentication error" on a 403
/// means a missing permission: `Forbidden`.)
const AUTH_CODES: [i64; 8] = [6003, 6102, 6103, 6111, 9103, 9106, 9109, 10001];
/// "Please wait and consider throttling your request speed".
const THROTTLED_CODE: i64 = 971;
/// "Authentication error": the token lacks a permission (HTTP 403).
const PERMISSION_CODE: i64 = 10000;
/// "No route for that URI" / "Could not route to ..., perhaps your object identifier
/// is invalid?": the path (account id) is wrong, not the object missing.
const NO_ROUTE_CODES: [i64; 2] = [7000, 7003];
/// At most this many messages are kept from one error response.
const MAX_MESSAGES: usize = 20;

/// How to reach one Cloudflare account.
#[derive(Clone, Debug)]
pub struct CloudflareConfig {
    /// API base URL including `/client/v4`; [`DEFAULT_BASE_URL`] by default.
    pub base_url: String,
    /// The 32-character account id.
    pub account_id: String,
    /// API token or API key.
    pub credentials: CloudflareCredentials,
    /// Rate limit, retries, body caps and LIST budget (one page at Cloudflare).
    pub transport: TransportConfig,
}

impl CloudflareConfig {
    /// The account at Cloudflare's production API with the default limit and retries.
    pub fn new(account_id: impl Into<String>, credentials: CloudflareCredentials) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            account_id: account_id.into(),
            credentials,
            transport: TransportConfig::new(RateLimitConfig::CLOUDFLARE_DEFAULT),
        }
    }

    /// Use another base URL (the emulator's, in development).
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }
}

impl ClientConfig for CloudflareConfig {
    fn transport(&mut self) -> &mut TransportConfig {
        &mut self.transport
    }
}

/// A client of one Cloudflare account's OAuth clients. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CloudflareClient {
    base: Url,
    token_url: Url,
    account_id: String,
    auth: Arc<HeaderMap>,
    exec: Executor,
    list_cap: usize,
    list_budget: ListBudget,
}

impl ProviderClient for CloudflareClient {
    type Config = CloudflareConfig;

    fn new(
        config: CloudflareConfig,
        http: reqwest::Client,
        limiters: &RateLimiterRegistry,
    ) -> Result<Self, ProviderError> {
        let base = parse_base_url("Cloudflare", &config.base_url)?;
        let account_id = config.account_id.trim().to_string();
        check_segment("account id", &account_id)?;
        let auth = Arc::new(config.credentials.headers()?);
        let Transport {
            exec,
            list_cap,
            list_budget,
        } = config.transport.open(http, limiters, &base, &account_id);
        Ok(Self {
            token_url: token_url(&base)?,
            base,
            account_id,
            auth,
            exec,
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

impl CloudflareClient {
    /// The account id.
    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The OAuth token endpoint (see [`token_url`]).
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// `GET /accounts/{account_id}/oauth_clients`: every client of the account, in one
    /// page. Secrets are never included. The page counts against the LIST budget:
    /// a body over the budget's bytes is `ListTooLarge`, one over the LIST body
    /// cap `Decode`.
    pub async fn list(&self) -> Result<Vec<OAuthClient>, ProviderError> {
        let url = self.url(&["accounts", &self.account_id, "oauth_clients"])?;
        tracing::debug!(operation = %Operation::List, path = url.path(), "cloudflare call");
        let mut meter = ListMeter::new(self.list_budget);
        meter
            .page(
                &self.exec,
                self.list_cap,
                |client| self.request(client, &http::Method::GET, &url, None),
                |raw: RawResponse| parse_envelope(raw.status, &raw.headers, &raw.body),
            )
            .await
            .and_then(require_result)
    }

    /// Whether Cloudflare takes `secret` as the secret of client `id`, asked of the
    /// OAuth token endpoint ([`token_url`]) with the client's registered
    /// authentication method and a made-up authorization code (see
    /// [`oauth_probe`]): no token is issued and nothing changes. A public client
    /// is [`SecretCheck::Unsupported`]; an unknown client `NotFound`.
    pub async fn verify_secret(
        &self,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<SecretCheck, ProviderError> {
        let client = self.get(id).await?;
        let method = client.token_endpoint_auth_method.as_deref().unwrap_or("");
        match ClientAuth::for_method(id, method, true) {
            Ok(auth) => oauth_probe::verify(&self.exec, &self.token_url, id, secret, auth).await,
            Err(why) => Ok(SecretCheck::Unsupported(why)),
        }
    }

    /// `GET /accounts/{account_id}/oauth_clients/{id}`.
    pub async fn get(&self, client_id: &str) -> Result<OAuthClient, ProviderError> {
        let url = self.client_url(client_id, &[])?;
        self.call(Operation::Get, http::Method::GET, url, None)
            .await
            .and_then(require_result)
    }

    /// `POST /accounts/{account_id}/oauth_clients`. The result holds the client secret,
    /// which Cloudflare returns only this once. Never retried once it may have
    /// reached Cloudflare: a lost result is `OutcomeUnknown { operation: Create }`,
    /// resolved by [`list`](Self::list)ing.
    pub async fn create(
        &self,
        body: &CreateOAuthClient,
    ) -> Result<CreatedOAuthClient, ProviderError> {
        let url = self.url(&["accounts", &self.account_id, "oauth_clients"])?;
        let body = to_json(body)?;
        self.call(Operation::Create, http::Method::POST, url, Some(body))
            .await
            .and_then(|r| require_result(r).map_err(|e| e.for_operation(Operation::Create, true)))
    }

    /// `PATCH /accounts/{account_id}/oauth_clients/{id}` with exactly the fields set in
    /// `patch` (the adapter sets only the fields that differ). An empty patch sends
    /// nothing and reads the client instead.
    pub async fn update(
        &self,
        client_id: &str,
        patch: &UpdateOAuthClient,
    ) -> Result<OAuthClient, ProviderError> {
        if patch.is_empty() {
            return self.get(client_id).await;
        }
        let url = self.client_url(client_id, &[])?;
        let body = to_json(patch)?;
        self.call(Operation::Update, http::Method::PATCH, url, Some(body))
            .await
            .and_then(require_result)
    }

    /// `DELETE /accounts/{account_id}/oauth_clients/{id}`. A 404 is
    /// [`Deleted::AlreadyAbsent`] (unless Cloudflare says the route itself is wrong).
    pub async fn delete(&self, client_id: &str) -> Result<Deleted, ProviderError> {
        let url = self.client_url(client_id, &[])?;
        deleted(
            self.call(Operation::Delete, http::Method::DELETE, url, None)
                .await,
        )
    }

    /// `POST /accounts/{account_id}/oauth_clients/{id}/rotate_secret`: a new secret;
    /// the old one stays valid until [`delete_rotated_secret`](Self::delete_rotated_secret).
    /// Never retried once it may have reached Cloudflare (a retry would burn the
    /// rotation): a lost result is `OutcomeUnknown { operation: RotateSecret }`.
    pub async fn rotate_secret(&self, client_id: &str) -> Result<ClientSecret, ProviderError> {
        let url = self.client_url(client_id, &["rotate_secret"])?;
        let rotated: RotatedSecret = self
            .call(Operation::RotateSecret, http::Method::POST, url, None)
            .await
            .and_then(|r| {
                require_result(r).map_err(|e| e.for_operation(Operation::RotateSecret, true))
            })?;
        rotated.client_secret.ok_or_else(|| {
            ProviderError::outcome_unknown(
                Operation::RotateSecret,
                "Cloudflare answered success without a client_secret",
            )
        })
    }

    /// `DELETE /accounts/{account_id}/oauth_clients/{id}/rotate_secret`: retire the
    /// previous secret. [`Deleted::AlreadyAbsent`] when there is none: on a 404, and
    /// when Cloudflare refuses (409 or 400) and the client indeed shows
    /// `has_rotated_secret: false` (e.g. a retried call whose first attempt
    /// succeeded; Cloudflare's code for "nothing to delete" is not documented).
    pub async fn delete_rotated_secret(&self, client_id: &str) -> Result<Deleted, ProviderError> {
        let url = self.client_url(client_id, &["rotate_secret"])?;
        let result = deleted(
            self.call(
                Operation::DeleteRotatedSecret,
                http::Method::DELETE,
                url,
                None,
            )
            .await,
        );
        match result {
            Err(e @ (ProviderError::Conflict { .. } | ProviderError::Invalid { .. })) => {
                match self.get(client_id).await {
                    Ok(c) if c.has_rotated_secret == Some(false) => Ok(Deleted::AlreadyAbsent),
                    _ => Err(e),
                }
            }
            other => other,
        }
    }

    /// `GET /oauth/scopes`: the scope catalogue.
    pub async fn list_scopes(&self) -> Result<Vec<Scope>, ProviderError> {
        let url = self.url(&["oauth", "scopes"])?;
        self.call(Operation::ListScopes, http::Method::GET, url, None)
            .await
            .and_then(require_result)
    }

    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        let mut url = self.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|_| ProviderError::config("the base URL cannot have a path"))?;
            path.pop_if_empty();
            for s in segments {
                path.push(s);
            }
        }
        Ok(url)
    }

    fn client_url(&self, client_id: &str, suffix: &[&str]) -> Result<Url, ProviderError> {
        check_segment("OAuth client id", client_id)?;
        let mut segments = vec!["accounts", &self.account_id, "oauth_clients", client_id];
        segments.extend_from_slice(suffix);
        self.url(&segments)
    }

    /// One operation: the decoded envelope's `result` (possibly absent or null).
    async fn call<T: DeserializeOwned>(
        &self,
        operation: Operation,
        method: http::Method,
        url: Url,
        body: Option<Vec<u8>>,
    ) -> Result<Option<T>, ProviderError> {
        tracing::debug!(operation = %operation, method = %method, path = url.path(), "cloudflare call");
        self.exec
            .execute(
                operation,
                |client| self.request(client, &method, &url, body.as_deref()),
                |raw: RawResponse| parse_envelope(raw.status, &raw.headers, &raw.body),
            )
            .await
    }

    /// One attempt's request, with the credentials.
    fn request(
        &self,
        client: &reqwest::Client,
        method: &http::Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> reqwest::RequestBuilder {
        let mut req = client
            .request(method.clone(), url.clone())
            .headers((*self.auth).clone())
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = body {
            req = req
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_vec());
        } else if method == http::Method::POST {
            req = req.header(http::header::CONTENT_LENGTH, "0");
        }
        req
    }
}

/// The OAuth token endpoint for API base URL `base`: [`TOKEN_URL`] for
/// Cloudflare's API (`api.cloudflare.com`), else `/oauth2/token` at the base
/// URL's origin (the emulator serves it there). Cloudflare documents only the
/// dashboard's endpoint; the rule for other base URLs is ours.
pub fn token_url(base: &Url) -> Result<Url, ProviderError> {
    if base.host_str() == Some("api.cloudflare.com") {
        return Url::parse(TOKEN_URL).map_err(|e| ProviderError::config(e.to_string()));
    }
    base.join("/oauth2/token").map_err(|e| {
        ProviderError::config(format!(
            "the Cloudflare base URL has no origin for the token endpoint: {e}"
        ))
    })
}

/// Path parameters: non-empty, not `.`/`..`, and of a sane length (the url crate
/// percent-encodes everything else).
fn check_segment(what: &str, value: &str) -> Result<(), ProviderError> {
    if value.is_empty() || value == "." || value == ".." || value.len() > 256 {
        return Err(ProviderError::config(format!(
            "the {what} must be 1 to 256 characters and not \".\" or \"..\""
        )));
    }
    Ok(())
}

fn require_result<T>(result: Option<T>) -> Result<T, ProviderError> {
    result.ok_or_else(|| ProviderError::decode("the response has no `result`"))
}

fn deleted(result: Result<Option<Value>, ProviderError>) -> Result<Deleted, ProviderError> {
    match result {
        Ok(_) => Ok(Deleted::Deleted),
        Err(ProviderError::NotFound { messages }) if !has_code(&messages, &NO_ROUTE_CODES) => {
            Ok(Deleted::AlreadyAbsent)
        }
        Err(e) => Err(e),
    }
}

/// Interpret one Cloudflare v4 response: the envelope's `result` on success (`None`
/// when absent or `null`), else the typed error. Never panics, whatever the bytes.
pub fn parse_envelope<T: DeserializeOwned>(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<T>, ProviderError> {
    // The common case, straight into `T`: a LIST of 10,000 clients as a JSON tree
    // first would cost several times the body in memory. Anything else takes the
    // careful path below, which says what is wrong.
    #[derive(serde::Deserialize)]
    struct Success<T> {
        success: bool,
        #[serde(default = "none")]
        result: Option<T>,
    }
    fn none<T>() -> Option<T> {
        None
    }
    if status.is_success()
        && let Ok(Success {
            success: true,
            result,
        }) = serde_json::from_slice::<Success<T>>(body)
    {
        return Ok(result);
    }
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let messages = parsed.as_ref().map(error_messages).unwrap_or_default();
    if !status.is_success() {
        let messages = if messages.is_empty() {
            fallback_message(status, body)
        } else {
            messages
        };
        return Err(status_error(status, headers, messages));
    }
    let value = parsed.map_err(|e| {
        ProviderError::decode(format!(
            "the body is not valid JSON ({})",
            serde_message(&e)
        ))
    })?;
    let Value::Object(mut envelope) = value else {
        return Err(ProviderError::decode(
            "the body is not a Cloudflare envelope (not a JSON object)",
        ));
    };
    match envelope.get("success") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Err(unsuccessful(status, headers, messages)),
        Some(_) => return Err(ProviderError::decode("`success` is not a boolean")),
        None => {
            return Err(ProviderError::decode(
                "the body is not a Cloudflare envelope (no `success`)",
            ));
        }
    }
    match envelope.remove("result") {
        None | Some(Value::Null) => Ok(None),
        Some(result) => serde_json::from_value(result)
            .map(Some)
            .map_err(|e| ProviderError::decode(format!("`result`: {}", serde_message(&e)))),
    }
}

/// `success: false` on a 2xx: classify by Cloudflare's codes.
fn unsuccessful(
    status: StatusCode,
    headers: &HeaderMap,
    messages: Vec<ProviderMessage>,
) -> ProviderError {
    let has = |codes: &[i64]| has_code(&messages, codes);
    if has(&[THROTTLED_CODE]) {
        ProviderError::RateLimited {
            retry_after: retry_after(headers),
            messages,
        }
    } else if has(&[PERMISSION_CODE]) {
        ProviderError::Forbidden { messages }
    } else if has(&AUTH_CODES) {
        ProviderError::Unauthorized { messages }
    } else {
        let messages = if messages.is_empty() {
            vec![ProviderMessage::new(
                None,
                "Cloudflare answered success: false without errors",
                None,
            )]
        } else {
            messages
        };
        ProviderError::Invalid {
            status: status.as_u16(),
            messages,
        }
    }
}

/// Whether one of `messages` carries one of Cloudflare's `codes`.
fn has_code(messages: &[ProviderMessage], codes: &[i64]) -> bool {
    messages.iter().any(|m| {
        m.code
            .as_deref()
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| codes.contains(&c))
    })
}

/// A non-2xx status as a typed error: a 400 or 403 whose codes say the
/// credentials are bad is `Unauthorized`, the rest goes by the status.
fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    messages: Vec<ProviderMessage>,
) -> ProviderError {
    if matches!(status.as_u16(), 400 | 403) && has_code(&messages, &AUTH_CODES) {
        return ProviderError::Unauthorized { messages };
    }
    error_for_status(status, headers, messages)
}

/// `errors[]` (with each `error_chain` flattened after its parent), tolerating any
/// shape: items that are not objects or lack a message are skipped.
fn error_messages(body: &Value) -> Vec<ProviderMessage> {
    let mut out = Vec::new();
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        collect_messages(errors, &mut out, 0);
    }
    out
}

fn collect_messages(items: &[Value], out: &mut Vec<ProviderMessage>, depth: usize) {
    for item in items {
        if out.len() >= MAX_MESSAGES {
            return;
        }
        let Some(obj) = item.as_object() else {
            continue;
        };
        let code = match obj.get("code") {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let message = obj.get("message").and_then(Value::as_str).unwrap_or("");
        let pointer = obj
            .get("source")
            .and_then(|s| s.get("pointer"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if !message.is_empty() || code.is_some() {
            out.push(ProviderMessage::new(code, message, pointer));
        }
        if depth < 4
            && let Some(chain) = obj.get("error_chain").and_then(Value::as_array)
        {
            collect_messages(chain, out, depth + 1);
        }
    }
}

/// For an error response without usable `errors`: the status and a sanitized
/// start of the body (a proxy's HTML page, plain text).
fn fallback_message(status: StatusCode, body: &[u8]) -> Vec<ProviderMessage> {
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

    #[test]
    fn the_token_endpoint_follows_the_base_url() {
        let url = |b: &str| token_url(&Url::parse(b).unwrap()).unwrap().to_string();
        assert_eq!(url(DEFAULT_BASE_URL), TOKEN_URL);
        assert_eq!(url("https://api.cloudflare.com/client/v4/"), TOKEN_URL);
        assert_eq!(
            url("http://127.0.0.1:8787/client/v4"),
            "http://127.0.0.1:8787/oauth2/token"
        );
        assert_eq!(
            url("https://cf-proxy.example.com/prefix/client/v4"),
            "https://cf-proxy.example.com/oauth2/token"
        );
    }
    use std::time::Duration;

    fn ok<T: DeserializeOwned>(body: &str) -> Result<Option<T>, ProviderError> {
        parse_envelope(StatusCode::OK, &HeaderMap::new(), body.as_bytes())
    }

    fn err(status: u16, headers: &[(&str, &str)], body: &str) -> ProviderError {
        let mut h = HeaderMap::new();
        for (k, v) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        parse_envelope::<Value>(StatusCode::from_u16(status).unwrap(), &h, body.as_bytes())
            .unwrap_err()
    }

    const CLIENT: &str =
        r#"{"client_id":"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4","visibility":"private"}"#;

    #[test]
    fn success_envelopes_yield_the_result() {
        let c: OAuthClient = ok(&format!(
            r#"{{"success":true,"errors":[],"messages":[],"result":{CLIENT}}}"#
        ))
        .unwrap()
        .unwrap();
        assert_eq!(c.visibility, "private");
        let none: Option<Value> = ok(r#"{"success":true,"result":null}"#).unwrap();
        assert!(none.is_none());
        let none: Option<Value> = ok(r#"{"success":true}"#).unwrap();
        assert!(none.is_none());
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let body = r#"{"success":false,"errors":[{"code":1001,"message":"bad grant","source":{"pointer":"/grant_types"}}],"messages":[],"result":null}"#;
        match err(400, &[], body) {
            ProviderError::Invalid { status, messages } => {
                assert_eq!(status, 400);
                assert_eq!(messages[0].code.as_deref(), Some("1001"));
                assert_eq!(messages[0].pointer.as_deref(), Some("/grant_types"));
                assert_eq!(messages[0].message, "bad grant");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            err(401, &[], body),
            ProviderError::Unauthorized { .. }
        ));
        assert!(matches!(
            err(403, &[], body),
            ProviderError::Forbidden { .. }
        ));
        assert!(matches!(
            err(404, &[], body),
            ProviderError::NotFound { .. }
        ));
        assert!(matches!(
            err(409, &[], body),
            ProviderError::Conflict { .. }
        ));
        assert!(matches!(
            err(422, &[], body),
            ProviderError::Invalid { status: 422, .. }
        ));
        assert!(matches!(
            err(502, &[], "<html>bad gateway</html>"),
            ProviderError::Server { status: 502, .. }
        ));
        assert!(matches!(
            err(101, &[], ""),
            ProviderError::UnexpectedStatus { status: 101, .. }
        ));
    }

    #[test]
    fn auth_header_codes_on_400_mean_unauthorized() {
        let unknown_key = r#"{"success":false,"errors":[{"code":9103,"message":"Unknown X-Auth-Key or X-Auth-Email"}]}"#;
        assert!(matches!(
            err(403, &[], unknown_key),
            ProviderError::Unauthorized { .. }
        ));
        let no_permission =
            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#;
        assert!(matches!(
            err(403, &[], no_permission),
            ProviderError::Forbidden { .. }
        ));
        let body = r#"{"success":false,"errors":[{"code":6003,"message":"Invalid request headers","error_chain":[{"code":6111,"message":"Invalid format for Authorization header"}]}]}"#;
        match err(400, &[], body) {
            ProviderError::Unauthorized { messages } => {
                assert_eq!(messages.len(), 2);
                assert_eq!(messages[1].code.as_deref(), Some("6111"));
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let body = r#"{"success":false,"errors":[{"code":971,"message":"Please wait"}]}"#;
        assert_eq!(
            err(429, &[("retry-after", "7")], body).retry_after(),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            err(429, &[("ratelimit", "\"default\";r=0;t=12")], body).retry_after(),
            Some(Duration::from_secs(12))
        );
        assert_eq!(err(429, &[], body).retry_after(), None);
        assert!(matches!(
            err(429, &[("retry-after", "soon")], body),
            ProviderError::RateLimited {
                retry_after: None,
                ..
            }
        ));
    }

    #[test]
    fn success_false_on_200_is_an_error() {
        let e = ok::<Value>(
            r#"{"success":false,"errors":[{"code":971,"message":"slow down"}],"result":null}"#,
        )
        .unwrap_err();
        assert!(matches!(e, ProviderError::RateLimited { .. }));
        let e = ok::<Value>(r#"{"success":false,"errors":[{"code":10000,"message":"Forbidden"}]}"#)
            .unwrap_err();
        assert!(matches!(e, ProviderError::Forbidden { .. }));
        let e = ok::<Value>(r#"{"success":false,"errors":[]}"#).unwrap_err();
        assert!(
            matches!(e, ProviderError::Invalid { status: 200, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn malformed_success_bodies_are_decode_errors() {
        for body in [
            "",
            "not json",
            "[]",
            "null",
            r#"{"result":{}}"#,
            r#"{"success":"yes","result":{}}"#,
            r#"{"success":true,"result":{"visibility":"private"}}"#,
            r#"{"success":true,"result":{"client_id":5,"visibility":"private"}}"#,
            r#"{"success":true,"result":[1,2]}"#,
        ] {
            let e = ok::<OAuthClient>(body).unwrap_err();
            assert!(matches!(e, ProviderError::Decode { .. }), "{body}: {e:?}");
        }
    }

    #[test]
    fn decode_errors_do_not_echo_values() {
        let body = r#"{"success":true,"result":{"client_id":"x","visibility":"private","has_rotated_secret":"sup3r-s3cret"}}"#;
        let e = ok::<OAuthClient>(body).unwrap_err();
        assert!(matches!(e, ProviderError::Decode { .. }));
        assert!(!e.to_string().contains("sup3r"), "{e}");
        let body = r#"{"success":true,"result":{"client_id":"x","visibility":"private","client_secret":["sup3r-s3cret"]}}"#;
        let e = ok::<CreatedOAuthClient>(body).unwrap_err();
        assert!(!e.to_string().contains("sup3r"), "{e}");
    }

    #[test]
    fn error_bodies_that_are_not_json_are_kept_sanitized() {
        let e = err(
            503,
            &[],
            "<html>\n upstream down; token=abc123secret</html>",
        );
        let text = e.to_string();
        assert!(text.contains("upstream down"), "{text}");
        assert!(!text.contains("abc123secret"), "{text}");
        assert!(!text.contains('\n'));
        let e = err(500, &[], "");
        assert!(e.to_string().contains("Internal Server Error"), "{e}");
    }

    #[test]
    fn not_found_from_a_bad_route_is_not_already_absent() {
        let route = ProviderError::NotFound {
            messages: vec![ProviderMessage::new(
                Some("7003".into()),
                "Could not route",
                None,
            )],
        };
        assert!(deleted(Err(route)).is_err());
        let gone = ProviderError::NotFound {
            messages: vec![ProviderMessage::new(Some("1004".into()), "not found", None)],
        };
        assert_eq!(deleted(Err(gone)).unwrap(), Deleted::AlreadyAbsent);
        assert_eq!(deleted(Ok(None)).unwrap(), Deleted::Deleted);
    }

    #[test]
    fn base_urls_and_ids_are_checked() {
        assert!(parse_base_url("Cloudflare", "https://api.cloudflare.com/client/v4").is_ok());
        assert!(parse_base_url("Cloudflare", "http://127.0.0.1:8080/client/v4/").is_ok());
        for bad in [
            "ftp://x/",
            "not a url",
            "mailto:a@b.c",
            "https://u:p@h/x",
            "https://h/x?q=1",
        ] {
            assert!(
                matches!(
                    parse_base_url("Cloudflare", bad),
                    Err(ProviderError::Config { .. })
                ),
                "{bad}"
            );
        }
        assert!(check_segment("id", "").is_err());
        assert!(check_segment("id", "..").is_err());
        assert!(check_segment("id", "abc").is_ok());
    }

    #[test]
    fn debug_never_shows_the_credential() {
        for creds in [
            CloudflareCredentials::api_token("tok-very-secret"),
            CloudflareCredentials::api_key("a@b.c", "key-very-secret"),
        ] {
            let config = CloudflareConfig::new("0123456789abcdef0123456789abcdef", creds);
            assert!(!format!("{config:?}").contains("very-secret"));
            let client = CloudflareClient::standalone(config).unwrap();
            assert!(!format!("{client:?}").contains("very-secret"));
            assert!(!format!("{client:#?}").contains("very-secret"));
        }
    }

    #[test]
    fn urls_are_built_under_the_base_and_escape_ids() {
        let client = CloudflareClient::standalone(
            CloudflareConfig::new(
                "0123456789abcdef0123456789abcdef",
                CloudflareCredentials::api_token("t"),
            )
            .with_base_url("http://127.0.0.1:1/client/v4/"),
        )
        .unwrap();
        let u = client.client_url("a/b?c", &["rotate_secret"]).unwrap();
        assert_eq!(
            u.as_str(),
            "http://127.0.0.1:1/client/v4/accounts/0123456789abcdef0123456789abcdef/oauth_clients/a%2Fb%3Fc/rotate_secret"
        );
        assert_eq!(
            client.url(&["oauth", "scopes"]).unwrap().as_str(),
            "http://127.0.0.1:1/client/v4/oauth/scopes"
        );
    }
}

/// Property tests of response parsing: whatever the bytes, a typed result or a
/// clear error, never a panic.
#[cfg(test)]
mod proptests {
    use super::*;
    use crate::provider::cloudflare::wire::IdResult;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = Value> {
        crate::provider::arbitrary::json_value(&[
            "client_id",
            "visibility",
            "client_secret",
            "scopes",
            "success",
            "result",
            "errors",
        ])
    }

    fn status() -> impl Strategy<Value = StatusCode> {
        (100u16..=599).prop_map(|s| StatusCode::from_u16(s).unwrap())
    }

    /// Every parse target the client uses.
    fn parse_all(status: StatusCode, body: &[u8]) -> Vec<Result<(), ProviderError>> {
        let h = HeaderMap::new();
        vec![
            parse_envelope::<OAuthClient>(status, &h, body).map(drop),
            parse_envelope::<CreatedOAuthClient>(status, &h, body).map(drop),
            parse_envelope::<Vec<OAuthClient>>(status, &h, body).map(drop),
            parse_envelope::<RotatedSecret>(status, &h, body).map(drop),
            parse_envelope::<Vec<Scope>>(status, &h, body).map(drop),
            parse_envelope::<IdResult>(status, &h, body).map(drop),
            parse_envelope::<Value>(status, &h, body).map(drop),
        ]
    }

    fn expected_class(status: StatusCode, e: &ProviderError) -> bool {
        match status.as_u16() {
            200..=299 => matches!(
                e,
                ProviderError::Decode { .. }
                    | ProviderError::Invalid { .. }
                    | ProviderError::Unauthorized { .. }
                    | ProviderError::Forbidden { .. }
                    | ProviderError::RateLimited { .. }
            ),
            400 => matches!(
                e,
                ProviderError::Invalid { status: 400, .. } | ProviderError::Unauthorized { .. }
            ),
            401 => matches!(e, ProviderError::Unauthorized { .. }),
            403 => matches!(e, ProviderError::Forbidden { .. }),
            404 => matches!(e, ProviderError::NotFound { .. }),
            409 => matches!(e, ProviderError::Conflict { .. }),
            429 => matches!(e, ProviderError::RateLimited { .. }),
            402..=499 => matches!(e, ProviderError::Invalid { .. }),
            500..=599 => matches!(e, ProviderError::Server { .. }),
            _ => matches!(e, ProviderError::UnexpectedStatus { .. }),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(status in status(), body in prop::collection::vec(any::<u8>(), 0..512)) {
            for r in parse_all(status, &body) {
                match r {
                    Ok(()) => prop_assert!(status.is_success()),
                    Err(e) => {
                        prop_assert!(expected_class(status, &e), "{status}: {e:?}");
                        prop_assert!(e.to_string().chars().count() < 8 * 1024);
                    }
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
        fn arbitrary_results_are_ok_or_decode(result in json_value()) {
            let body = serde_json::to_vec(&serde_json::json!({
                "success": true, "errors": [], "messages": [], "result": result
            })).unwrap();
            for r in parse_all(StatusCode::OK, &body) {
                if let Err(e) = r {
                    prop_assert!(matches!(e, ProviderError::Decode { .. }), "{e:?}");
                }
            }
        }

        #[test]
        fn wrong_types_in_a_created_client_are_decode_errors_without_the_secret(
            secret in "[A-Za-z0-9]{16,40}",
            field in prop::sample::select(vec!["client_id", "visibility", "scopes", "has_rotated_secret", "client_uri_verification"]),
            wrong in prop_oneof![Just(Value::from(5)), Just(Value::from(true)), Just(serde_json::json!({"a": 1})), Just(serde_json::json!([1]))],
        ) {
            let mut client = serde_json::json!({
                "client_id": "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4",
                "visibility": "private",
                "client_secret": secret,
                "scopes": ["account.read"],
                "has_rotated_secret": false,
                "client_uri_verification": {"status": "pending"}
            });
            client[field] = wrong;
            let body = serde_json::to_vec(&serde_json::json!({"success": true, "result": client})).unwrap();
            match parse_envelope::<CreatedOAuthClient>(StatusCode::OK, &HeaderMap::new(), &body) {
                Ok(_) => {} // e.g. an object where an optional object is allowed
                Err(e) => {
                    prop_assert!(matches!(e, ProviderError::Decode { .. }), "{e:?}");
                    prop_assert!(!e.to_string().contains(&secret));
                    let debug = format!("{e:?}");
                    prop_assert!(!debug.contains(&secret));
                }
            }
        }

        #[test]
        fn truncated_valid_bodies_are_decode_errors(cut in 0usize..200) {
            let body = format!(r#"{{"success":true,"errors":[],"messages":[],"result":{CLIENT_JSON}}}"#);
            let cut = cut.min(body.len() - 1);
            let r = parse_envelope::<OAuthClient>(StatusCode::OK, &HeaderMap::new(), &body.as_bytes()[..cut]);
            prop_assert!(matches!(r, Err(ProviderError::Decode { .. })), "{r:?}");
        }
    }

    const CLIENT_JSON: &str = r#"{"client_id":"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4","visibility":"private","client_name":"Grafana","scopes":["account.read"]}"#;

    #[test]
    fn deeply_nested_bodies_are_decode_errors_not_stack_overflows() {
        let depth = 100_000;
        let body = format!(
            r#"{{"success":true,"result":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let r = parse_envelope::<OAuthClient>(StatusCode::OK, &HeaderMap::new(), body.as_bytes());
        assert!(matches!(r, Err(ProviderError::Decode { .. })), "{r:?}");
        let r = parse_envelope::<OAuthClient>(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            body.as_bytes(),
        );
        assert!(matches!(r, Err(ProviderError::Invalid { .. })), "{r:?}");
    }

    #[test]
    fn huge_bodies_parse_or_fail_cleanly_and_errors_stay_short() {
        // A list of 20,000 clients (several MiB) parses.
        let items = vec![CLIENT_JSON; 20_000].join(",");
        let body = format!(r#"{{"success":true,"result":[{items}]}}"#);
        let list: Vec<OAuthClient> =
            parse_envelope(StatusCode::OK, &HeaderMap::new(), body.as_bytes())
                .unwrap()
                .unwrap();
        assert_eq!(list.len(), 20_000);
        // A huge error message is cut.
        let body = format!(
            r#"{{"success":false,"errors":[{{"code":1,"message":"{}"}}]}}"#,
            "x".repeat(1 << 20)
        );
        let e =
            parse_envelope::<Value>(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes())
                .unwrap_err();
        assert!(e.to_string().len() < 1024, "{}", e.to_string().len());
        // So is a huge list of error messages.
        let many = vec![r#"{"code":1,"message":"m"}"#; 10_000].join(",");
        let body = format!(r#"{{"success":false,"errors":[{many}]}}"#);
        let e =
            parse_envelope::<Value>(StatusCode::BAD_REQUEST, &HeaderMap::new(), body.as_bytes())
                .unwrap_err();
        assert_eq!(e.messages().len(), MAX_MESSAGES);
    }
}
