//! The provider-neutral error of every provider client (Cloudflare, CSP, Hydra).
//!
//! One variant per failure class, so the controller's error policy decides by
//! matching: requeue (`is_retryable`), resolve by listing (`OutcomeUnknown`), or
//! stall with the provider's message (`Invalid`, `Forbidden`, ...).
//!
//! Nothing here ever holds a secret: provider text goes through [`sanitize`]
//! (control characters removed, anything after a secret-looking key such as
//! `client_secret=` or `"token":` replaced by `[REDACTED]`, truncated), and
//! transport errors keep only their classification and a sanitized message.

use std::fmt;
use std::time::Duration;

/// The longest provider text kept in an error (characters).
pub const MAX_TEXT_CHARS: usize = 300;

/// Which provider operation failed; decides whether it may be retried blindly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// List the clients of an account.
    List,
    /// Read one client.
    Get,
    /// Create a client (not idempotent: a retry can make a duplicate).
    Create,
    /// Change a client's fields (PATCH or PUT of the same body: idempotent).
    Update,
    /// Delete a client (idempotent: a repeat finds it gone).
    Delete,
    /// Issue a new client secret (not idempotent: a retry burns a rotation).
    RotateSecret,
    /// Retire the previous secret after a rotation (idempotent).
    DeleteRotatedSecret,
    /// Read the provider's scope catalogue.
    ListScopes,
    /// Obtain an access token for the provider API itself (CSP token exchange).
    Authenticate,
    /// Ask the provider's OAuth token endpoint whether a client secret is valid
    /// (proof of ownership for an import; changes nothing, so idempotent).
    VerifySecret,
}

impl Operation {
    /// Whether repeating the request after an unknown outcome is harmless.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Operation::Create | Operation::RotateSecret)
    }

    /// A stable lower-case name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Get => "get",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::RotateSecret => "rotate_secret",
            Operation::DeleteRotatedSecret => "delete_rotated_secret",
            Operation::ListScopes => "list_scopes",
            Operation::Authenticate => "authenticate",
            Operation::VerifySecret => "verify_secret",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of a provider's error response: Cloudflare's `{code, message,
/// source.pointer}`, CSP's `{errorCode, message}`, Hydra's `{error, error_description}`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProviderMessage {
    /// The provider's code, if it gives one (Cloudflare: numeric, as text).
    pub code: Option<String>,
    /// Sanitized, truncated text.
    pub message: String,
    /// The request field the message is about, as a JSON pointer (`/grant_types`).
    pub pointer: Option<String>,
}

impl ProviderMessage {
    /// A message; `message` is sanitized here.
    pub fn new(code: Option<String>, message: &str, pointer: Option<String>) -> Self {
        Self {
            code: code.map(|c| sanitize(&c)),
            message: sanitize(message),
            pointer: pointer.map(|p| sanitize(&p)),
        }
    }
}

impl ProviderMessage {
    /// The message of an answer whose body is not the provider's error envelope:
    /// the body's text (sanitized), or `HTTP <code> <reason>` when it has none.
    pub fn from_body(status: http::StatusCode, body: &[u8]) -> Self {
        let text = sanitize(&String::from_utf8_lossy(body));
        let text = if text.is_empty() {
            format!(
                "HTTP {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string()
        } else {
            text
        };
        Self::new(None, &text, None)
    }
}

impl fmt::Display for ProviderMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(pointer) = &self.pointer {
            write!(f, "{pointer}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (code {code})")?;
        }
        Ok(())
    }
}

/// Why a provider call failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The object (or the route to it) does not exist: HTTP 404.
    #[error("not found{}", Suffix(.messages))]
    NotFound { messages: Vec<ProviderMessage> },

    /// The credentials were missing, malformed or not accepted: HTTP 401, or a
    /// Cloudflare 400 about the auth headers.
    #[error("the provider rejected the credentials{}", Suffix(.messages))]
    Unauthorized { messages: Vec<ProviderMessage> },

    /// The credentials are valid but lack a permission: HTTP 403.
    #[error("the credentials lack a permission for this call{}", Suffix(.messages))]
    Forbidden { messages: Vec<ProviderMessage> },

    /// The provider refused the request as invalid (HTTP 400, 422 or another 4xx,
    /// or a 2xx with `success: false`), with its per-field messages.
    #[error("invalid request (HTTP {status}){}", Suffix(.messages))]
    Invalid {
        status: u16,
        messages: Vec<ProviderMessage>,
    },

    /// The request conflicts with the object's current state: HTTP 409.
    #[error("conflict{}", Suffix(.messages))]
    Conflict { messages: Vec<ProviderMessage> },

    /// Throttled: HTTP 429, or our own limiter would have to wait longer than the
    /// policy allows. `retry_after` is when to try again, if known.
    #[error("rate limited{}{}", RetryAfter(.retry_after), Suffix(.messages))]
    RateLimited {
        retry_after: Option<Duration>,
        messages: Vec<ProviderMessage>,
    },

    /// The provider failed: HTTP 5xx.
    #[error("provider error (HTTP {status}){}", Suffix(.messages))]
    Server {
        status: u16,
        messages: Vec<ProviderMessage>,
    },

    /// A status this client does not expect, e.g. a redirect (redirects are never
    /// followed: point the base URL at the final location).
    #[error("unexpected HTTP status {status}: {message}")]
    UnexpectedStatus { status: u16, message: String },

    /// The request did not reach the provider, or failed in a way that is safe to
    /// repeat (connect error, timeout of an idempotent call).
    #[error("transport error: {message}")]
    Transport { message: String },

    /// The provider's TLS certificate is not trusted (self-signed, expired, for
    /// another host, unknown issuer). Nothing was sent, and waiting cannot fix it:
    /// fix the certificate or the base URL. Never retried.
    #[error("the provider's TLS certificate is not trusted: {message}")]
    UntrustedCertificate { message: String },

    /// A non-idempotent call (create, rotate) was sent, but its result was lost
    /// (timeout, dropped connection, a 5xx, or a success response that could not be
    /// read). It may or may not have taken effect; the caller must find out (list
    /// the clients) instead of repeating it.
    #[error(
        "the outcome of {operation} is unknown ({cause}); it may have taken effect: \
         look the object up before trying again"
    )]
    OutcomeUnknown { operation: Operation, cause: String },

    /// The response could not be read: not JSON, missing or mistyped fields, too
    /// large.
    #[error("could not decode the provider's response: {message}")]
    Decode { message: String },

    /// The client itself is misconfigured (bad base URL, credential with characters
    /// a header cannot hold, empty id). Never retried.
    #[error("configuration error: {message}")]
    Config { message: String },

    /// The reconcile's time budget ([`super::budget`]) ran out before the request
    /// was sent: while it waited for the rate limiter (or an account lock), or too
    /// close to the deadline to start an attempt. Nothing reached the provider, so
    /// even a create or rotate failed cleanly (not `OutcomeUnknown`). Transient: a
    /// later reconcile tries again.
    #[error(
        "the reconcile's time budget ran out before {operation} was sent ({waiting_for}); \
         nothing reached the provider, it is tried again later"
    )]
    DeadlineExceeded {
        operation: Operation,
        /// What the call was still waiting for, e.g. `waiting for the rate limiter`.
        waiting_for: &'static str,
    },

    /// One LIST of an account needed more pages or bytes than its budget
    /// ([`super::list_budget::ListBudget`]) allows; `pages` and `bytes` were read
    /// when it stopped. Waiting cannot help: the budget must be raised. Never
    /// retried.
    #[error(
        "listing the provider's clients exceeds the LIST budget of {max_pages} pages and \
         {max_bytes} bytes (stopped after {pages} pages, {bytes} bytes); raise \
         --list-max-pages / --list-max-bytes of clientops run"
    )]
    ListTooLarge {
        pages: u32,
        bytes: u64,
        max_pages: u32,
        max_bytes: u64,
    },
}

impl ProviderError {
    /// A condition reason when the provider is reachable only through a
    /// configuration change (waiting cannot help): it redirects (the base URL
    /// points at the wrong address), its TLS certificate is not trusted, or its
    /// client list is larger than the LIST budget.
    pub fn misconfiguration(&self) -> Option<&'static str> {
        match self {
            ProviderError::UnexpectedStatus { status, .. } if (300..400).contains(status) => {
                Some("ProviderRedirects")
            }
            ProviderError::UntrustedCertificate { .. } => Some("ProviderTLSError"),
            ProviderError::ListTooLarge { .. } => Some("ProviderListTooLarge"),
            _ => None,
        }
    }

    /// Whether repeating the same call later can succeed without any change:
    /// rate limits, 5xx and transport errors, a spent time budget. `OutcomeUnknown`
    /// is not: it needs a lookup first.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. }
                | ProviderError::Server { .. }
                | ProviderError::Transport { .. }
                | ProviderError::DeadlineExceeded { .. }
        )
    }

    /// A stable lower-case name of the variant, for metric labels and condition
    /// reasons.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::NotFound { .. } => "not_found",
            ProviderError::Unauthorized { .. } => "unauthorized",
            ProviderError::Forbidden { .. } => "forbidden",
            ProviderError::Invalid { .. } => "invalid",
            ProviderError::Conflict { .. } => "conflict",
            ProviderError::RateLimited { .. } => "rate_limited",
            ProviderError::Server { .. } => "server",
            ProviderError::UnexpectedStatus { .. } => "unexpected_status",
            ProviderError::Transport { .. } => "transport",
            ProviderError::UntrustedCertificate { .. } => "untrusted_certificate",
            ProviderError::OutcomeUnknown { .. } => "outcome_unknown",
            ProviderError::Decode { .. } => "decode",
            ProviderError::Config { .. } => "config",
            ProviderError::DeadlineExceeded { .. } => "deadline_exceeded",
            ProviderError::ListTooLarge { .. } => "list_too_large",
        }
    }

    /// The provider's messages, if the variant carries any.
    pub fn messages(&self) -> &[ProviderMessage] {
        match self {
            ProviderError::NotFound { messages }
            | ProviderError::Unauthorized { messages }
            | ProviderError::Forbidden { messages }
            | ProviderError::Invalid { messages, .. }
            | ProviderError::Conflict { messages }
            | ProviderError::RateLimited { messages, .. }
            | ProviderError::Server { messages, .. } => messages,
            _ => &[],
        }
    }

    /// The Retry-After the provider asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A `Decode` error with a sanitized message.
    pub fn decode(message: impl AsRef<str>) -> Self {
        ProviderError::Decode {
            message: sanitize(message.as_ref()),
        }
    }

    /// A `Transport` error with a sanitized message.
    pub fn transport(message: impl AsRef<str>) -> Self {
        ProviderError::Transport {
            message: sanitize(message.as_ref()),
        }
    }

    /// An `UntrustedCertificate` error with a sanitized message.
    pub fn untrusted_certificate(message: impl AsRef<str>) -> Self {
        ProviderError::UntrustedCertificate {
            message: sanitize(message.as_ref()),
        }
    }

    /// A `Config` error with a sanitized message.
    pub fn config(message: impl AsRef<str>) -> Self {
        ProviderError::Config {
            message: sanitize(message.as_ref()),
        }
    }

    /// An `OutcomeUnknown` error with a sanitized cause.
    pub fn outcome_unknown(operation: Operation, cause: impl AsRef<str>) -> Self {
        ProviderError::OutcomeUnknown {
            operation,
            cause: sanitize(cause.as_ref()),
        }
    }

    /// The error to report for a failure of `operation`: for a non-idempotent
    /// operation, failures after which the provider may have acted (5xx, transport
    /// errors once sent, an unreadable success body) become `OutcomeUnknown`.
    /// `sent` says whether the request may have reached the provider.
    pub fn for_operation(self, operation: Operation, sent: bool) -> Self {
        if operation.is_idempotent() {
            return self;
        }
        match self {
            ProviderError::Transport { message } if sent => ProviderError::OutcomeUnknown {
                operation,
                cause: message,
            },
            ProviderError::Server { status, .. } => ProviderError::OutcomeUnknown {
                operation,
                cause: format!("HTTP {status}"),
            },
            ProviderError::Decode { message } => ProviderError::OutcomeUnknown {
                operation,
                cause: format!("the success response could not be read: {message}"),
            },
            other => other,
        }
    }
}

/// Formats `: msg; msg` after an error's headline, or nothing.
struct Suffix<'a>(&'a Vec<ProviderMessage>);

impl fmt::Display for Suffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{m}")?;
        }
        Ok(())
    }
}

struct RetryAfter<'a>(&'a Option<Duration>);

impl fmt::Display for RetryAfter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, " (retry after {:.1}s)", d.as_secs_f64()),
            None => Ok(()),
        }
    }
}

/// Words that mark the next value as a credential.
const SENSITIVE_KEYS: [&str; 7] = [
    "secret",
    "password",
    "token",
    "authorization",
    "auth-key",
    "auth_key",
    "api_key",
];

/// Make provider text safe to keep in an error, a log line or a status message:
/// values after secret-looking keys (`"client_secret": "..."`, `token=...`,
/// `Bearer ...`) become `[REDACTED]`, control characters become spaces, runs of
/// whitespace collapse, and the result is cut to [`MAX_TEXT_CHARS`] characters.
pub fn sanitize(text: &str) -> String {
    let redacted = redact(text);
    let mut out = String::with_capacity(redacted.len().min(MAX_TEXT_CHARS + 3));
    let mut chars = 0usize;
    let mut last_space = false;
    for c in redacted.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        if chars == MAX_TEXT_CHARS {
            out.push('…');
            break;
        }
        out.push(c);
        chars += 1;
    }
    out.trim().to_string()
}

fn redact(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0usize; // bytes of `text` already handled
    let mut i = 0usize;
    while i < bytes.len() {
        if !text.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let Some((value_start, value_end)) = sensitive_value_at(&lower, bytes, i) else {
            i += 1;
            continue;
        };
        out.push_str(&text[copied..value_start]);
        out.push_str("[REDACTED]");
        copied = value_end;
        i = value_end.max(i + 1);
    }
    out.push_str(&text[copied.min(text.len())..]);
    out
}

/// If a sensitive key starts at byte `i` and is followed by `:`/`=` and a value (or
/// is `bearer ` followed by a token), the byte range of that value.
fn sensitive_value_at(lower: &str, bytes: &[u8], i: usize) -> Option<(usize, usize)> {
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.';
    let rest = &lower[i..];
    if rest.starts_with("bearer ") && (i == 0 || !is_ident(bytes[i - 1])) {
        let mut start = i + "bearer ".len();
        while start < bytes.len() && bytes[start] == b' ' {
            start += 1;
        }
        let end = value_end(bytes, start, false);
        return (end > start).then_some((start, end));
    }
    if !SENSITIVE_KEYS.iter().any(|k| rest.starts_with(k)) {
        return None;
    }
    // Walk to the end of the identifier the key word is part of.
    let mut j = i;
    while j < bytes.len() && is_ident(bytes[j]) {
        j += 1;
    }
    // Optional closing quote of a JSON key, whitespace, then `:` or `=`.
    while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b' ' | b'\t') {
        j += 1;
    }
    if j >= bytes.len() || !matches!(bytes[j], b':' | b'=') {
        return None;
    }
    j += 1;
    while j < bytes.len() && matches!(bytes[j], b' ' | b'\t') {
        j += 1;
    }
    let quoted = j < bytes.len() && matches!(bytes[j], b'"' | b'\'');
    let start = if quoted { j + 1 } else { j };
    let mut end = value_end(bytes, start, quoted);
    // `Authorization: Bearer <token>`: the credential is the word after the scheme.
    if !quoted && matches!(&lower[start..end], "bearer" | "basic" | "token" | "digest") {
        let mut next = end;
        while next < bytes.len() && bytes[next] == b' ' {
            next += 1;
        }
        end = value_end(bytes, next, false).max(end);
    }
    (end > start).then_some((start, end))
}

fn value_end(bytes: &[u8], start: usize, quoted: bool) -> usize {
    let mut k = start;
    while k < bytes.len() {
        let b = bytes[k];
        if quoted {
            if b == b'\\' {
                k += 2;
                continue;
            }
            if b == b'"' || b == b'\'' {
                break;
            }
        } else if b.is_ascii_whitespace() || matches!(b, b',' | b'&' | b'}' | b';' | b']' | b'"') {
            break;
        }
        k += 1;
    }
    // Never split a UTF-8 character: move to the next boundary.
    let mut k = k.min(bytes.len());
    while k < bytes.len() && (bytes[k] & 0xC0) == 0x80 {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_redacts_secret_looking_values() {
        let cases = [
            (r#"{"client_secret":"hunter2xyz","a":1}"#, "hunter2xyz"),
            (r#"{"client_secret" : "hunter2xyz"}"#, "hunter2xyz"),
            ("client_secret=hunter2xyz&x=1", "hunter2xyz"),
            ("Authorization: Bearer hunter2xyz", "hunter2xyz"),
            ("bad bearer hunter2xyz here", "hunter2xyz"),
            ("X-Auth-Key: hunter2xyz", "hunter2xyz"),
            ("api_token=hunter2xyz", "hunter2xyz"),
            ("newClientSecret: 'hunter2xyz'", "hunter2xyz"),
            (r#"{"password":"hun\"ter2xyz"}"#, "ter2xyz"),
        ];
        for (text, secret) in cases {
            let s = sanitize(text);
            assert!(!s.contains(secret), "{text} -> {s}");
            assert!(s.contains("[REDACTED]"), "{text} -> {s}");
        }
    }

    #[test]
    fn sanitize_keeps_harmless_text() {
        let text = r#"token_endpoint_auth_method must be "client_secret_basic" or "none""#;
        assert_eq!(sanitize(text), text);
        assert_eq!(sanitize("a\n\tb\u{0}  c"), "a b c");
        let long = "x".repeat(1000);
        let s = sanitize(&long);
        assert_eq!(s.chars().count(), MAX_TEXT_CHARS + 1);
        assert!(s.ends_with('…'));
        // Multi-byte characters are never split.
        let s = sanitize(&"é".repeat(1000));
        assert!(s.starts_with("éé"));
        assert_eq!(sanitize("secret=ééé,x"), "secret=[REDACTED],x");
    }

    #[test]
    fn display_never_contains_a_secret() {
        let secret = "s3cr3t-Value-123";
        let errors = [
            ProviderError::Invalid {
                status: 400,
                messages: vec![ProviderMessage::new(
                    Some("1001".into()),
                    &format!("client_secret={secret} is bad"),
                    Some("/client_secret".into()),
                )],
            },
            ProviderError::transport(format!("connection reset; Authorization: Bearer {secret}")),
            ProviderError::decode(format!(r#"body {{"client_secret":"{secret}"}}"#)),
            ProviderError::outcome_unknown(Operation::Create, format!("token={secret}")),
            ProviderError::config(format!("x-auth-key: {secret}")),
        ];
        for e in errors {
            assert!(!e.to_string().contains(secret), "{e}");
            assert!(!format!("{e:?}").contains(secret), "{e:?}");
        }
    }

    #[test]
    fn display_lists_messages_with_codes_and_pointers() {
        let e = ProviderError::Invalid {
            status: 400,
            messages: vec![
                ProviderMessage::new(
                    Some("1001".into()),
                    "must include authorization_code",
                    Some("/grant_types".into()),
                ),
                ProviderMessage::new(None, "second", None),
            ],
        };
        assert_eq!(
            e.to_string(),
            "invalid request (HTTP 400): /grant_types: must include authorization_code \
             (code 1001); second"
        );
        let e = ProviderError::RateLimited {
            retry_after: Some(Duration::from_secs(3)),
            messages: vec![],
        };
        assert_eq!(e.to_string(), "rate limited (retry after 3.0s)");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn retryable_classes() {
        assert!(ProviderError::transport("x").is_retryable());
        assert!(
            ProviderError::Server {
                status: 503,
                messages: vec![]
            }
            .is_retryable()
        );
        assert!(
            ProviderError::RateLimited {
                retry_after: None,
                messages: vec![]
            }
            .is_retryable()
        );
        for e in [
            ProviderError::NotFound { messages: vec![] },
            ProviderError::Conflict { messages: vec![] },
            ProviderError::outcome_unknown(Operation::Create, "x"),
            ProviderError::decode("x"),
            ProviderError::Invalid {
                status: 400,
                messages: vec![],
            },
        ] {
            assert!(!e.is_retryable(), "{e}");
        }
    }

    #[test]
    fn a_spent_time_budget_is_a_clean_transient_failure() {
        let e = ProviderError::DeadlineExceeded {
            operation: Operation::Create,
            waiting_for: "waiting for the rate limiter",
        };
        assert!(e.is_retryable());
        assert_eq!(e.kind(), "deadline_exceeded");
        // Nothing was sent: a create stays a clean failure, whatever `sent` says.
        assert_eq!(e.clone().for_operation(Operation::Create, false), e);
        assert_eq!(e.clone().for_operation(Operation::RotateSecret, true), e);
        assert_eq!(
            e.to_string(),
            "the reconcile's time budget ran out before create was sent (waiting for the \
             rate limiter); nothing reached the provider, it is tried again later"
        );
    }

    #[test]
    fn non_idempotent_failures_after_sending_become_outcome_unknown() {
        let server = ProviderError::Server {
            status: 502,
            messages: vec![],
        };
        assert!(matches!(
            server.clone().for_operation(Operation::Create, true),
            ProviderError::OutcomeUnknown {
                operation: Operation::Create,
                ..
            }
        ));
        assert_eq!(
            server.clone().for_operation(Operation::Update, true),
            server
        );
        // Not sent: a connect error stays a transport error even for create.
        let t = ProviderError::transport("connect refused");
        assert_eq!(t.clone().for_operation(Operation::Create, false), t);
        assert!(matches!(
            t.for_operation(Operation::RotateSecret, true),
            ProviderError::OutcomeUnknown {
                operation: Operation::RotateSecret,
                ..
            }
        ));
        let d = ProviderError::decode("eof");
        assert!(matches!(
            d.for_operation(Operation::Create, true),
            ProviderError::OutcomeUnknown { .. }
        ));
        let nf = ProviderError::NotFound { messages: vec![] };
        assert_eq!(nf.clone().for_operation(Operation::Create, true), nf);
    }
}
