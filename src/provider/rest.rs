//! What the JSON-over-HTTP provider clients do alike with their requests and
//! answers: a bearer header that never shows in Debug, a path under a base URL,
//! a 2xx body decoded (or the provider's own error), a 2xx without a body. Each
//! client keeps its own error mapping (`status_error`) and passes it in.

use serde::de::DeserializeOwned;
use url::Url;

use super::error::ProviderError;
use super::http::{RawResponse, serde_message};
use crate::secret::ClientSecret;

/// `Authorization: Bearer <token>`, marked sensitive (never in Debug or logs);
/// `what` names the token in the error.
pub fn bearer(token: &ClientSecret, what: &str) -> Result<http::HeaderValue, ProviderError> {
    let mut v =
        http::HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
            ProviderError::decode(format!("{what} contains characters a header cannot carry"))
        })?;
    v.set_sensitive(true);
    Ok(v)
}

/// `base` with `segments` appended (each percent-encoded as one segment); `field`
/// names the base URL's field in the error.
pub fn join(base: &Url, segments: &[&str], field: &str) -> Result<Url, ProviderError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|_| ProviderError::config(format!("{field} cannot have a path")))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// A 2xx answer's body as `T`; any other answer through `status_error`.
pub fn decode<T: DeserializeOwned>(
    raw: &RawResponse,
    status_error: fn(&RawResponse) -> ProviderError,
) -> Result<T, ProviderError> {
    if !raw.status.is_success() {
        return Err(status_error(raw));
    }
    serde_json::from_slice(&raw.body).map_err(|e| {
        ProviderError::decode(format!(
            "the body is not the expected JSON: {}",
            serde_message(&e)
        ))
    })
}

/// A 2xx answer whose body does not matter; any other through `status_error`.
pub fn no_content(
    raw: &RawResponse,
    status_error: fn(&RawResponse) -> ProviderError,
) -> Result<(), ProviderError> {
    if raw.status.is_success() {
        Ok(())
    } else {
        Err(status_error(raw))
    }
}
