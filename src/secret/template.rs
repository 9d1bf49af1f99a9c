//! `spec.secret.template`: Secret keys rendered from templates, so a workload
//! gets its credentials in the shape it reads (a `.env` file, a JSON credentials
//! file, a properties fragment, a URL) without glue.
//!
//! The engine is minijinja, sandboxed: no loader (no filesystem, no
//! `include`/`import`/`extends`/`macro`: the statements do not even parse), no
//! auto-escaping (escape with `tojson`, `urlencode` or our `urlcomponent`),
//! strict undefined (a misspelt variable is an error, not an empty string), a
//! fuel limit on the work one render may do, a recursion limit and a cap on each
//! key's output.
//!
//! Variables: `clientId`, `clientSecret`, `previousClientSecret` (during a
//! rotation's grace period; none otherwise, which prints as nothing and is false
//! in `{% if %}`), `endpoints.<name>` (the provider's, see
//! [`Endpoints::NAMES`]) and `extraData.<key>`.
//!
//! Errors ([`TemplateError`]) name the key, line and column. They never carry a
//! value: templates are checked with placeholder credentials before anything
//! is written ([`check`]), and a render with the real values that still fails
//! ([`render_all`]) reports only the kind of failure and where.

use std::collections::BTreeMap;
use std::fmt;
use std::io;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};

use super::ClientSecret;
use super::shape::SecretShape;
use crate::api::endpoints::Endpoints;

/// The work one render may do (minijinja fuel: about one unit per instruction,
/// more for large strings). Generous for any real credentials file.
pub const FUEL: u64 = 100_000;
/// The largest output of one template, in bytes. At most 16 templates (the CRD's
/// limit) keep a Secret far below Kubernetes' 1 MiB.
pub const MAX_OUTPUT: usize = 32 * 1024;
/// How deeply blocks and expressions may nest.
pub const RECURSION_LIMIT: usize = 64;

/// The condition reason of a template (or endpoint request) that cannot render.
pub const REASON: &str = "InvalidTemplate";

/// Why a key of `spec.secret.template` (or `spec.secret.endpoints`) cannot be
/// written. Carries no credential value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct TemplateError {
    /// The spec field, e.g. `spec.secret.template[app.env]`.
    pub field: String,
    /// The Secret key.
    pub key: String,
    /// 1-based line and column in the template, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.field)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "line {l}, column {c}: ")?,
            (Some(l), None) => write!(f, "line {l}: ")?,
            _ => {}
        }
        f.write_str(&self.message)
    }
}

impl TemplateError {
    fn in_template(key: &str, message: impl Into<String>) -> Self {
        Self {
            field: format!("spec.secret.template[{key}]"),
            key: key.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// `spec.secret.endpoints` asks for an endpoint the provider does not have.
    pub fn missing_endpoint(key: &str, name: &str, have: &Endpoints) -> Self {
        Self {
            field: format!("spec.secret.endpoints.{name}"),
            key: key.into(),
            line: None,
            column: None,
            message: format!(
                "the provider has no {name} that clientops knows ({}); remove it, or put the URL in spec.secret.extraData",
                known_list(have)
            ),
        }
    }

    /// The condition reason: [`REASON`].
    pub fn reason(&self) -> &'static str {
        REASON
    }
}

fn known_list(e: &Endpoints) -> String {
    let known: Vec<&str> = e.known().into_keys().collect();
    if known.is_empty() {
        "it publishes none; for Hydra set spec.hydra.publicUrl on the provider".into()
    } else {
        format!("it has {}", known.join(", "))
    }
}

impl From<TemplateError> for crate::api::common::SpecError {
    /// Displayed the same: `field: line L, column C: message`.
    fn from(e: TemplateError) -> Self {
        let message = match (e.line, e.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", e.message),
            (Some(l), None) => format!("line {l}: {}", e.message),
            _ => e.message,
        };
        Self {
            field: e.field,
            message,
        }
    }
}

impl crate::api::common::SpecError {
    /// The condition reason of this spec error: [`REASON`] for what
    /// [`TemplateError`] reports (`spec.secret.template`, `spec.secret.endpoints`),
    /// else `InvalidSpec`.
    pub fn reason(&self) -> &'static str {
        if self.field.starts_with("spec.secret.template")
            || self.field.starts_with("spec.secret.endpoints")
        {
            REASON
        } else {
            "InvalidSpec"
        }
    }
}

/// The credential values a template sees.
#[derive(Clone, Copy, Debug)]
pub struct Values<'a> {
    pub client_id: &'a str,
    pub secret: Option<&'a ClientSecret>,
    pub previous: Option<&'a ClientSecret>,
}

/// The top-level variables.
const VARIABLES: [&str; 5] = [
    "clientId",
    "clientSecret",
    "previousClientSecret",
    "endpoints",
    "extraData",
];

/// The sandboxed environment every template is compiled in.
fn environment<'s>() -> Environment<'s> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    // Debug mode would attach the render context (the secret) to errors.
    env.set_debug(false);
    env.remove_global("debug");
    env.add_filter("urlcomponent", url_component);
    // An absent previous secret (none) prints as nothing, not as "none".
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

/// The `urlcomponent` filter: percent-encode everything but RFC 3986's
/// unreserved characters, for a value inside a URL's user info, path segment or
/// query (`urlencode` leaves `/` alone, which breaks user info).
fn url_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn secret_value(s: Option<&ClientSecret>) -> Value {
    s.map(|s| Value::from(s.expose()))
        .unwrap_or(Value::from(()))
}

fn context(shape: &SecretShape, v: Values<'_>, endpoints: &BTreeMap<&str, String>) -> Value {
    Value::from_pairs([
        ("clientId", Value::from(v.client_id)),
        ("clientSecret", secret_value(v.secret)),
        ("previousClientSecret", secret_value(v.previous)),
        (
            "endpoints",
            Value::from_pairs(endpoints.iter().map(|(k, u)| (*k, Value::from(u.as_str())))),
        ),
        (
            "extraData",
            Value::from_pairs(
                shape
                    .extra_data
                    .iter()
                    .map(|(k, v)| (k.as_str(), Value::from(v.as_str()))),
            ),
        ),
    ])
}

/// A writer that refuses to grow past [`MAX_OUTPUT`].
struct Capped(Vec<u8>);

impl io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.0.len() + b.len() > MAX_OUTPUT {
            return Err(io::Error::other("output limit"));
        }
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Render one template; the error is minijinja's (may hold values: see [`describe`]).
fn render_one(
    env: &Environment<'_>,
    key: &str,
    source: &str,
    ctx: Value,
) -> Result<String, minijinja::Error> {
    let tmpl = env.template_from_named_str(key, source)?;
    let mut out = Capped(Vec::new());
    tmpl.render_captured_to(ctx, &mut out)?;
    String::from_utf8(out.0)
        .map_err(|_| minijinja::Error::new(ErrorKind::BadSerialization, "output is not UTF-8"))
}

/// 1-based column of byte offset `at` in `source`.
fn column_of(source: &str, at: usize) -> Option<usize> {
    let before = source.get(..at)?;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Some(before[line_start..].chars().count() + 1)
}

/// 1-based (line, column) of byte offset `at` in `source`.
fn position_of(source: &str, at: usize) -> (Option<usize>, Option<usize>) {
    let line = source.get(..at).map(|b| b.matches('\n').count() + 1);
    (line, column_of(source, at))
}

/// A [`TemplateError`] for `e`, raised by the template of `key`. `with_detail`:
/// the render used placeholders, so minijinja's detail may be shown; with the
/// real values only the kind of failure is (a detail may quote a value).
fn describe(key: &str, source: &str, e: &minijinja::Error, with_detail: bool) -> TemplateError {
    let mut err = TemplateError::in_template(key, String::new());
    err.line = e.line();
    err.column = e.range().and_then(|r| column_of(source, r.start));
    // The failing expression, from the template text (never a value).
    let expr = e
        .range()
        .and_then(|r| source.get(r))
        .map(|x| x.trim().to_string());
    let detail = e.detail().unwrap_or_default();
    err.message = match e.kind() {
        ErrorKind::OutOfFuel => format!(
            "the template does too much work (more than {FUEL} steps: a loop too long or strings too large); simplify it"
        ),
        ErrorKind::WriteFailure => format!(
            "the output is larger than {} KiB; shorten the template",
            MAX_OUTPUT / 1024
        ),
        ErrorKind::SyntaxError
            if ["include", "import", "extends", "from"]
                .iter()
                .any(|w| detail.contains(&format!("unknown statement {w}"))) =>
        {
            "templates cannot include, import or extend other templates or read files; write the text into this template".into()
        }
        ErrorKind::UnknownFunction | ErrorKind::UnknownFilter | ErrorKind::UnknownTest
            if with_detail =>
        {
            format!("{detail}; see the minijinja built-in filters, tests and functions")
        }
        ErrorKind::UndefinedError => format!(
            "{} is undefined; the variables are {}, endpoints.<name> and extraData.<key>",
            expr.map_or("a variable".into(), |x| format!("`{x}`")),
            VARIABLES[..3].join(", ")
        ),
        kind if with_detail && !detail.is_empty() => format!("{kind}: {detail}"),
        kind => kind.to_string(),
    };
    err
}

/// The endpoints a template may use: the provider's, or (provider not resolved
/// yet) a placeholder for every name, so the rest can be checked.
fn endpoints_for_check(shape: &SecretShape) -> BTreeMap<&'static str, String> {
    match &shape.endpoints {
        Some(e) => e.known(),
        None => Endpoints::NAMES
            .iter()
            .map(|n| (*n, format!("https://provider.invalid/{n}")))
            .collect(),
    }
}

/// Check a variable the template uses (`top` or `top.name`, from minijinja's
/// static analysis: every branch, not only the ones a trial render takes).
fn check_variable(
    key: &str,
    source: &str,
    var: &str,
    shape: &SecretShape,
    globals: &[String],
) -> Result<(), TemplateError> {
    let (top, rest) = match var.split_once('.') {
        Some((t, r)) => (t, Some(r.split('.').next().unwrap_or(r))),
        None => (var, None),
    };
    let problem = match (top, rest) {
        (t, _) if globals.iter().any(|g| g == t) => None,
        (t, _) if !VARIABLES.contains(&t) => Some(format!(
            "unknown variable {t:?}; the variables are {}, endpoints.<name> and extraData.<key>",
            VARIABLES[..3].join(", ")
        )),
        ("endpoints", Some(name)) if !Endpoints::NAMES.contains(&name) => Some(format!(
            "unknown endpoint {name:?}; the endpoints are {}",
            Endpoints::NAMES.join(", ")
        )),
        ("extraData", Some(k)) if !shape.extra_data.contains_key(k) => Some(format!(
            "spec.secret.extraData has no key {k:?}; add it there"
        )),
        _ => None,
    };
    match problem {
        None => Ok(()),
        Some(message) => {
            let mut e = TemplateError::in_template(key, message);
            if let Some(at) = source.find(var) {
                (e.line, e.column) = position_of(source, at);
            }
            Err(e)
        }
    }
}

/// Check every template of `shape` with placeholder credentials (with and
/// without a previous secret): it compiles, uses only known variables (in every
/// branch), renders within the limits, and does not write a key clientops
/// writes otherwise. The endpoints are the provider's when known.
pub fn check(shape: &SecretShape) -> Result<(), TemplateError> {
    if shape.templates.is_empty() {
        return Ok(());
    }
    let env = environment();
    let globals: Vec<String> = env.globals().map(|(n, _)| n.to_string()).collect();
    let endpoints = endpoints_for_check(shape);
    let secret = ClientSecret::new("placeholder-secret-0123456789abcdef0123456789abcdef");
    let previous = ClientSecret::new("placeholder-previous-0123456789abcdef0123456789abc");
    for (key, source) in &shape.templates {
        if shape.is_plain_key(key) {
            return Err(TemplateError::in_template(
                key,
                "this key already holds a credential, an extraData or an endpoint value; rename the template's key",
            ));
        }
        let tmpl = env
            .template_from_named_str(key, source)
            .map_err(|e| describe(key, source, &e, true))?;
        let mut vars: Vec<String> = tmpl.undeclared_variables(true).into_iter().collect();
        vars.sort();
        for var in &vars {
            check_variable(key, source, var, shape, &globals)?;
        }
        for previous in [None, Some(&previous)] {
            let values = Values {
                client_id: "placeholder-client-id",
                secret: Some(&secret),
                previous,
            };
            render_one(&env, key, source, context(shape, values, &endpoints)).map_err(|e| {
                let mut err = describe(key, source, &e, true);
                let expr = e.range().and_then(|r| source.get(r)).unwrap_or_default();
                if let (ErrorKind::UndefinedError, Some(have)) = (e.kind(), &shape.endpoints)
                    && expr.trim().starts_with("endpoints.")
                {
                    err.message = format!(
                        "`{}` is undefined: the provider has no such endpoint that clientops knows ({}); test it with `is defined`, or put the URL in spec.secret.extraData",
                        expr.trim(),
                        known_list(have)
                    );
                }
                err
            })?;
        }
    }
    Ok(())
}

/// Render every template of `shape` over `values`: Secret key → text. A
/// template that fails (checked templates fail only on limits the real values
/// exceed, or while the provider's endpoints are unknown) is left out and
/// logged without any value.
pub fn render_all(shape: &SecretShape, values: Values<'_>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if shape.templates.is_empty() {
        return out;
    }
    let env = environment();
    let endpoints = shape
        .endpoints
        .as_ref()
        .map(Endpoints::known)
        .unwrap_or_default();
    let ctx = context(shape, values, &endpoints);
    for (key, source) in &shape.templates {
        if shape.is_plain_key(key) {
            continue;
        }
        match render_one(&env, key, source, ctx.clone()) {
            Ok(text) => {
                out.insert(key.clone(), text);
            }
            Err(e) => {
                let e = describe(key, source, &e, false);
                if shape.endpoints.is_some() {
                    tracing::warn!(key = %e.key, line = ?e.line, column = ?e.column, problem = %e.message, "a Secret template did not render with the real values; its key is left out");
                } else {
                    tracing::debug!(key = %e.key, "a Secret template waits for the provider's endpoints");
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::transport::ProviderClient;

    const SECRET: &str = "s3cr3t-VALUE-0123456789";

    fn shape(templates: &[(&str, &str)]) -> SecretShape {
        SecretShape {
            name: "app".into(),
            key_client_id: "client_id".into(),
            key_client_secret: "client_secret".into(),
            key_previous: "client_secret_previous".into(),
            publish_previous: true,
            extra_data: [("realm".to_string(), "prod".to_string())].into(),
            templates: templates
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            endpoints: Some(Endpoints {
                issuer: Some("https://idp.example.com".into()),
                authorization: Some("https://idp.example.com/oauth2/auth".into()),
                token: Some("https://idp.example.com/oauth2/token".into()),
                jwks: Some("https://idp.example.com/.well-known/jwks.json".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Check, then render with `secret` (and `previous`): key → text.
    fn render(
        templates: &[(&str, &str)],
        secret: &str,
        previous: Option<&str>,
    ) -> BTreeMap<String, String> {
        let shape = shape(templates);
        check(&shape).expect("the template is valid");
        let secret = ClientSecret::new(secret);
        let previous = previous.map(ClientSecret::new);
        render_all(
            &shape,
            Values {
                client_id: "client-1",
                secret: Some(&secret),
                previous: previous.as_ref(),
            },
        )
    }

    fn error(templates: &[(&str, &str)]) -> TemplateError {
        check(&shape(templates)).expect_err("the template is refused")
    }

    /// A `.env` reader as dotenv libraries read it: `KEY=value`, optional double
    /// quotes, `#` comments.
    fn parse_env(text: &str) -> BTreeMap<String, String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (k, v) = l.split_once('=').expect("KEY=value");
                let v = v.trim();
                let v = v
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v);
                (k.trim().to_string(), v.to_string())
            })
            .collect()
    }

    /// A `.properties` reader as java.util.Properties reads one: the key ends at
    /// the first unescaped `=` or `:`, backslash escapes, `#`/`!` comments.
    fn parse_properties(text: &str) -> BTreeMap<String, String> {
        let unescape = |s: &str| {
            let mut out = String::new();
            let mut chars = s.chars();
            while let Some(c) = chars.next() {
                match (c, c == '\\') {
                    (_, true) => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some(other) => out.push(other),
                        None => {}
                    },
                    (c, false) => out.push(c),
                }
            }
            out
        };
        text.lines()
            .map(str::trim_start)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
            .map(|l| {
                let mut escaped = false;
                let at = l
                    .char_indices()
                    .find(|&(_, c)| {
                        let sep = !escaped && (c == '=' || c == ':');
                        escaped = !escaped && c == '\\';
                        sep
                    })
                    .map(|(i, _)| i)
                    .expect("key=value");
                (unescape(l[..at].trim()), unescape(l[at + 1..].trim_start()))
            })
            .collect()
    }

    #[test]
    fn a_dotenv_file_reads_back() {
        let out = render(
            &[(
                "app.env",
                "# written by clientops\nOAUTH_CLIENT_ID={{ clientId }}\nOAUTH_CLIENT_SECRET=\"{{ clientSecret }}\"\nOAUTH_TOKEN_URL={{ endpoints.tokenUrl }}\nOAUTH_REALM={{ extraData.realm }}\n",
            )],
            SECRET,
            None,
        );
        let env = parse_env(&out["app.env"]);
        assert_eq!(env["OAUTH_CLIENT_ID"], "client-1");
        assert_eq!(env["OAUTH_CLIENT_SECRET"], SECRET);
        assert_eq!(
            env["OAUTH_TOKEN_URL"],
            "https://idp.example.com/oauth2/token"
        );
        assert_eq!(env["OAUTH_REALM"], "prod");
        assert_eq!(env.len(), 4);
    }

    #[test]
    fn a_json_credentials_file_escapes_every_value() {
        // A secret with every character JSON must escape still reads back exactly.
        let nasty = "a\"b\\c\nd\te</script>\u{1}é";
        let out = render(
            &[(
                "credentials.json",
                r#"{"client_id": {{ clientId | tojson }}, "client_secret": {{ clientSecret | tojson }},
 "previous": {{ previousClientSecret | tojson }}, "token_uri": {{ endpoints.tokenUrl | tojson }}}"#,
            )],
            nasty,
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&out["credentials.json"]).unwrap();
        assert_eq!(v["client_id"], "client-1");
        assert_eq!(v["client_secret"], nasty);
        assert_eq!(
            v["previous"],
            serde_json::Value::Null,
            "none outside a grace period"
        );
        assert_eq!(v["token_uri"], "https://idp.example.com/oauth2/token");
    }

    #[test]
    fn a_spring_properties_fragment_reads_back() {
        let out = render(
            &[(
                "application.properties",
                "spring.security.oauth2.client.registration.app.client-id={{ clientId }}\n\
                 spring.security.oauth2.client.registration.app.client-secret={{ clientSecret | replace('\\\\', '\\\\\\\\') }}\n\
                 spring.security.oauth2.client.provider.app.issuer-uri={{ endpoints.issuer }}\n\
                 spring.security.oauth2.client.provider.app.token-uri={{ endpoints.tokenUrl }}\n\
                 spring.security.oauth2.resourceserver.jwt.jwk-set-uri={{ endpoints.jwksUrl }}\n",
            )],
            "p=q:r\\s",
            None,
        );
        let props = parse_properties(&out["application.properties"]);
        let reg = "spring.security.oauth2.client.registration.app.";
        assert_eq!(props[&format!("{reg}client-id")], "client-1");
        assert_eq!(props[&format!("{reg}client-secret")], "p=q:r\\s");
        assert_eq!(
            props["spring.security.oauth2.client.provider.app.token-uri"],
            "https://idp.example.com/oauth2/token"
        );
        assert_eq!(
            props["spring.security.oauth2.resourceserver.jwt.jwk-set-uri"],
            "https://idp.example.com/.well-known/jwks.json"
        );
        assert_eq!(props.len(), 5);
    }

    #[test]
    fn a_url_with_the_credentials_in_it_reads_back() {
        let nasty = "a/b@c:d?e#f%g+h i";
        let out = render(
            &[(
                "url",
                "https://{{ clientId | urlcomponent }}:{{ clientSecret | urlcomponent }}@broker.example.com/realm/{{ extraData.realm | urlcomponent }}",
            )],
            nasty,
            None,
        );
        let url = url::Url::parse(&out["url"]).unwrap();
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .unwrap()
                .1
                .into_owned()
        };
        assert_eq!(url.host_str(), Some("broker.example.com"));
        assert_eq!(decode(url.username()), "client-1");
        assert_eq!(decode(url.password().unwrap()), nasty);
        assert_eq!(url.path(), "/realm/prod");
    }

    #[test]
    fn the_previous_secret_is_there_only_during_a_grace_period() {
        let t = [(
            "app.env",
            "SECRET={{ clientSecret }}\n{% if previousClientSecret %}PREVIOUS={{ previousClientSecret }}\n{% endif %}",
        )];
        assert_eq!(render(&t, "new", None)["app.env"], "SECRET=new\n");
        assert_eq!(
            render(&t, "new", Some("old"))["app.env"],
            "SECRET=new\nPREVIOUS=old\n"
        );
    }

    #[test]
    fn errors_name_the_key_line_and_column() {
        let e = error(&[("app.env", "ID={{ clientId }}\nSECRET={{ clientSecret \n")]);
        assert_eq!(e.field, "spec.secret.template[app.env]");
        assert_eq!(e.key, "app.env");
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.column.is_some(), "{e}");
        assert!(
            e.to_string()
                .starts_with("spec.secret.template[app.env]: line 2, column "),
            "{e}"
        );
        assert_eq!(e.reason(), "InvalidTemplate");

        let e = error(&[("a", "x\n  {{ clientSecrett }}")]);
        assert_eq!((e.line, e.column), (Some(2), Some(6)), "{e}");
        assert!(
            e.message.contains("clientSecrett") && e.message.contains("clientId"),
            "{e}"
        );

        // Only in a branch the trial render does not take: still found.
        let e = error(&[("a", "{% if false %}{{ extraData.nope }}{% endif %}")]);
        assert!(e.message.contains("\"nope\""), "{e}");
        assert_eq!((e.line, e.column), (Some(1), Some(18)), "{e}");

        let e = error(&[("a", "{{ endpoints.tokenURL }}")]);
        assert!(
            e.message.contains("unknown endpoint") && e.message.contains("tokenUrl"),
            "{e}"
        );

        let e = error(&[("a", "{{ endpoints.introspectionUrl }}")]);
        assert!(
            e.message
                .contains("`endpoints.introspectionUrl` is undefined"),
            "{e}"
        );
        assert!(e.message.contains("no such endpoint"), "{e}");
        assert!(
            e.message.contains("issuer, jwksUrl"),
            "says what it has: {e}"
        );
        // `is defined` lets one template serve providers with and without it.
        check(&shape(&[(
            "a",
            "{% if endpoints.introspectionUrl is defined %}{{ endpoints.introspectionUrl }}{% endif %}",
        )]))
        .unwrap();

        let e = error(&[("a", "{{ clientSecret | nosuchfilter }}")]);
        assert!(e.message.contains("nosuchfilter"), "{e}");

        let e = error(&[("client_secret", "{{ clientId }}")]);
        assert!(e.message.contains("already holds a credential"), "{e}");
    }

    #[test]
    fn locals_loops_and_builtins_are_not_unknown_variables() {
        let out = render(
            &[(
                "k",
                "{% set sep = '=' %}{% for k, v in extraData|items %}{{ loop.index }}:{{ k }}{{ sep }}{{ v }}{% endfor %}\
                 {% for i in range(2) %}{{ i }}{% endfor %}{% set ns = namespace(n=0) %}{{ ns.n }}{{ extraData['realm'] | upper }}",
            )],
            "s",
            None,
        );
        assert_eq!(out["k"], "1:realm=prod010PROD");
    }

    #[test]
    fn without_the_provider_the_rest_is_still_checked() {
        let mut s = shape(&[("a", "{{ endpoints.introspectionUrl }}")]);
        s.endpoints = None;
        check(&s).expect("any endpoint may turn out to exist");
        s.templates.insert("b".into(), "{{ oops }}".into());
        assert!(check(&s).is_err());
        // Rendered without endpoints, a key that needs them is left out.
        s.templates.remove("b");
        let out = render_all(
            &s,
            Values {
                client_id: "c",
                secret: None,
                previous: None,
            },
        );
        assert!(out.is_empty());
    }

    #[test]
    fn an_endpoint_the_provider_lacks_is_refused_by_name() {
        let mut s = shape(&[]);
        s.endpoint_keys
            .insert("INTROSPECT".into(), "introspectionUrl".into());
        let e = s
            .clone()
            .publish_endpoints(s.endpoints.clone())
            .unwrap_err();
        assert_eq!(e.field, "spec.secret.endpoints.introspectionUrl");
        assert_eq!(e.key, "INTROSPECT");
        s.endpoint_keys = [("TOKEN".to_string(), "tokenUrl".to_string())].into();
        let endpoints = s.endpoints.clone();
        s.publish_endpoints(endpoints).unwrap();
        assert_eq!(
            s.endpoint_data(),
            [(
                "TOKEN".to_string(),
                "https://idp.example.com/oauth2/token".to_string()
            )]
            .into()
        );
    }

    #[test]
    fn no_error_carries_a_secret_value() {
        // A failure with the real values reports the kind of failure only.
        let secret = "hunter2-abcdef";
        let source = "{{ clientSecret | int }}";
        let env = environment();
        let secret_value = ClientSecret::new(secret);
        let ctx = context(
            &shape(&[]),
            Values {
                client_id: "c",
                secret: Some(&secret_value),
                previous: None,
            },
            &BTreeMap::new(),
        );
        let raw = render_one(&env, "k", source, ctx).unwrap_err();
        let e = describe("k", source, &raw, false);
        for shown in [e.to_string(), format!("{e:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        assert_eq!(e.line, Some(1));
        // And rendering it leaves the key out instead of writing half of it.
        let mut s = shape(&[("k", source)]);
        s.endpoints = Some(Default::default());
        let out = render_all(
            &s,
            Values {
                client_id: "c",
                secret: Some(&secret_value),
                previous: None,
            },
        );
        assert!(out.is_empty());
    }

    /// The `spec.secret` of `examples/<file>` for Cloudflare's API, rendered over
    /// `secret` (and `previous`).
    fn example(file: &str, secret: &str, previous: Option<&str>) -> BTreeMap<String, String> {
        use crate::api::OAuthClient;
        use crate::api::provider::ProviderType;
        use crate::provider::cloudflare::{
            CloudflareClient, CloudflareConfig, CloudflareCredentials, adapter::CloudflareProvider,
        };
        use crate::provider::model::Provider;
        let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
        let obj: OAuthClient =
            serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let mut d = crate::controller::desired::desired_for(
            &obj,
            Some(crate::provider::registry::kind(ProviderType::Cloudflare)),
        )
        .unwrap();
        let cloudflare = CloudflareProvider::new(
            CloudflareClient::standalone(CloudflareConfig::new(
                "acct",
                CloudflareCredentials::api_token("t"),
            ))
            .unwrap(),
        );
        d.secret
            .publish_endpoints(Some(cloudflare.endpoints()))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let (secret, previous) = (ClientSecret::new(secret), previous.map(ClientSecret::new));
        let mut out = render_all(
            &d.secret,
            Values {
                client_id: "c0ffee",
                secret: Some(&secret),
                previous: previous.as_ref(),
            },
        );
        out.extend(d.secret.endpoint_data());
        assert!(!out.is_empty(), "{file}");
        out
    }

    #[test]
    fn every_template_example_renders_into_what_its_consumer_reads() {
        let token = "https://dash.cloudflare.com/oauth2/token";
        for previous in [None, Some("old-secret")] {
            let out = example("80-template-dotenv.yaml", "s3cr3t", previous);
            let env = parse_env(&out[".env"]);
            assert_eq!(env["OAUTH_CLIENT_ID"], "c0ffee");
            assert_eq!(env["OAUTH_CLIENT_SECRET"], "s3cr3t");
            assert_eq!(env["OAUTH_TOKEN_URL"], token);
            assert_eq!(
                env.get("OAUTH_CLIENT_SECRET_PREVIOUS").map(String::as_str),
                previous
            );
            assert_eq!(out["OIDC_ISSUER"], "https://dash.cloudflare.com");
        }

        let out = example("81-template-json.yaml", "s3\"cr\\3t", None);
        let v: serde_json::Value = serde_json::from_str(&out["client_secrets.json"]).unwrap();
        assert_eq!(v["web"]["client_id"], "c0ffee");
        assert_eq!(v["web"]["client_secret"], "s3\"cr\\3t");
        assert_eq!(v["web"]["token_uri"], token);
        assert_eq!(v["web"]["issuer"], "https://dash.cloudflare.com");

        let out = example("82-template-spring.yaml", "s3cr3t", None);
        let props = parse_properties(&out["oauth.properties"]);
        let reg = "spring.security.oauth2.client.registration.cloudflare.";
        let prov = "spring.security.oauth2.client.provider.cloudflare.";
        assert_eq!(props[&format!("{reg}client-id")], "c0ffee");
        assert_eq!(props[&format!("{reg}client-secret")], "s3cr3t");
        assert_eq!(props[&format!("{prov}token-uri")], token);
        assert_eq!(
            props[&format!("{prov}jwk-set-uri")],
            "https://dash.cloudflare.com/.well-known/jwks.json"
        );
        assert_eq!(props.len(), 10, "{props:?}");

        let nasty = "a/b@c:d%e";
        for previous in [None, Some("old/secret")] {
            let out = example("83-template-url.yaml", nasty, previous);
            let url = url::Url::parse(&out["BROKER_URL"]).unwrap();
            assert_eq!(url.username(), "c0ffee");
            assert_eq!(url.password(), Some("a%2Fb%40c%3Ad%25e"));
            assert_eq!(url.host_str(), Some("broker.example.com"));
            assert_eq!(url.path(), "/events");
            match previous {
                None => assert_eq!(out["BROKER_URL_PREVIOUS"], ""),
                Some(_) => assert_eq!(
                    url::Url::parse(&out["BROKER_URL_PREVIOUS"])
                        .unwrap()
                        .password(),
                    Some("old%2Fsecret")
                ),
            }
        }
    }

    #[test]
    fn hostile_templates_are_refused_within_the_limits() {
        let cases: [(&str, String, &str); 8] = [
            (
                "huge output",
                "{% for i in range(2000) %}xxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}".into(),
                "larger than 32 KiB",
            ),
            (
                "huge string",
                "{{ 'x' * 50000000 }}".into(),
                "too much work",
            ),
            (
                "nested loops",
                "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}"
                    .into(),
                "too much work",
            ),
            (
                "deep nesting",
                format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000)),
                "maximum recursion",
            ),
            (
                "deep blocks",
                format!(
                    "{}x{}",
                    "{% if true %}".repeat(500),
                    "{% endif %}".repeat(500)
                ),
                "maximum recursion",
            ),
            (
                "include a file",
                "{% include '/etc/passwd' %}".into(),
                "cannot include",
            ),
            ("import", "{% import 'x' as y %}".into(), "cannot include"),
            (
                "dump the context",
                "{{ debug() }}".into(),
                "unknown variable \"debug\"",
            ),
        ];
        for (what, source, says) in cases {
            let e = check(&shape(&[("k", source.as_str())])).expect_err(what);
            assert!(e.message.contains(says), "{what}: {e}");
            assert_eq!(e.key, "k", "{what}");
        }
        // A template just inside the limits renders.
        let ok = render(
            &[("k", "{% for i in range(1000) %}x{% endfor %}")],
            "s",
            None,
        );
        assert_eq!(ok["k"].len(), 1000);
    }
}
