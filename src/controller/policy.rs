//! `spec.policy` of a ClusterOAuthProvider applied to one OAuthClient spec: the first
//! rule the spec breaks, with the field, the value, the rule and the fix.
//!
//! The controller stalls a client that breaks its provider's policy (reason
//! `PolicyViolation`); `deploy/admission/` holds a ValidatingAdmissionPolicy with the
//! same rules in CEL, which refuses such a manifest at `kubectl apply`. Both read a
//! rule the same way; where the two URL parsers differ, this module follows the
//! WHATWG URL standard (what a browser does with a redirect), so the controller is
//! the authority.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::api::client::{OAuthClientSpec, TokenEndpointAuthMethod};
use crate::api::common::parse_duration;
use crate::api::policy::ClientPolicy;
use crate::api::provider::ProviderType;
use crate::provider::registry;

mod lifetime;
mod privilege;

/// The grant types a client has when `spec.grantTypes` is absent (see `desired`).
pub const DEFAULT_GRANT_TYPES: [&str; 1] = ["authorization_code"];

/// Patterns shown in a message before the list is cut short.
const LIST_SHOWN: usize = 10;

/// A rule of a ClusterOAuthProvider's policy that an OAuthClient spec breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The spec field that breaks the rule, e.g. `spec.redirectUris[1]`.
    pub field: String,
    /// The whole message: the field, the value, the rule and the fix.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Violation {}

fn violation(field: String, detail: String) -> Violation {
    Violation {
        message: format!("{field}: {detail}"),
        field,
    }
}

/// Check `spec` against `policy` as the spec is written, without a provider's own
/// defaults: an absent `scopes` asks for no scope. Prefer [`check_for`] when the
/// provider type is known (Ory Hydra gives a client without scopes its default scope).
pub fn check(policy: &ClientPolicy, spec: &OAuthClientSpec) -> Result<(), Violation> {
    check_rules(policy, spec, None, "ClusterOAuthProvider")
}

/// Check `spec` against `policy` for a client of the ClusterOAuthProvider `name`, a
/// `provider` provider, with the defaults the client really gets (grant types;
/// Ory Hydra's default scope; VMware CSP's default token lifetimes). Reports the
/// first violation in the order of the spec's fields (redirectUris, ...,
/// tokenEndpointAuthMethod, the provider blocks, rotation.every; docs/policy.md
/// lists them), so the message is the same on every reconcile, and word for word
/// what the admission policy in `deploy/admission/` says.
pub fn check_for(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    provider: ProviderType,
    name: &str,
) -> Result<(), Violation> {
    check_rules(
        policy,
        spec,
        Some(provider),
        &format!("ClusterOAuthProvider {name}"),
    )
}

fn check_rules(
    policy: &ClientPolicy,
    spec: &OAuthClientSpec,
    provider: Option<ProviderType>,
    owner: &str,
) -> Result<(), Violation> {
    if let Some(hosts) = &policy.redirect_uri_hosts {
        check_uris("spec.redirectUris", &spec.redirect_uris, hosts, owner)?;
        check_uris(
            "spec.postLogoutRedirectUris",
            &spec.post_logout_redirect_uris,
            hosts,
            owner,
        )?;
    }

    if let Some(allowed) = &policy.grant_types {
        match &spec.grant_types {
            Some(asked) => check_list(
                "spec.grantTypes",
                "grant type",
                "grantTypes",
                asked,
                allowed,
                owner,
            )?,
            None => {
                if let Some(g) = DEFAULT_GRANT_TYPES
                    .iter()
                    .find(|g| !allowed.iter().any(|a| a == *g))
                {
                    return Err(violation(
                        "spec.grantTypes".into(),
                        format!(
                            "the default grant type {g:?} (grantTypes is not set) is not allowed by {owner} policy grantTypes {}; set grantTypes to grant types the policy allows, or ask the provider's admin",
                            show_list(allowed)
                        ),
                    ));
                }
            }
        }
    }

    if let Some(allowed) = &policy.scopes {
        let asked = spec.scopes.as_deref().unwrap_or_default();
        let kind = provider.map(registry::kind);
        let defaults = kind.map(|k| k.default_scopes()).unwrap_or_default();
        if asked.is_empty()
            && let Some(s) = defaults.iter().find(|s| !allowed.iter().any(|a| a == *s))
        {
            return Err(violation(
                "spec.scopes".into(),
                format!(
                    "scopes is not set, so {} gives the client its default scope [{}], and {s:?} is not allowed by {owner} policy scopes {}; set scopes to scopes the policy allows, or ask the provider's admin",
                    kind.map(|k| k.title()).unwrap_or_default(),
                    defaults.join(", "),
                    show_list(allowed)
                ),
            ));
        }
        check_list("spec.scopes", "scope", "scopes", asked, allowed, owner)?;
    }

    if policy.allow_public_clients == Some(false)
        && spec.token_endpoint_auth_method == Some(TokenEndpointAuthMethod::None)
    {
        return Err(violation(
            "spec.tokenEndpointAuthMethod".into(),
            format!(
                "\"none\" (a public client without a secret) is not allowed by {owner} policy allowPublicClients: false; use client_secret_basic or client_secret_post, or ask the provider's admin"
            ),
        ));
    }

    privilege::check(policy, spec, provider, owner)?;

    if let Some(max) = &policy.max_rotation_every {
        check_rotation(spec, max, owner)?;
    }
    Ok(())
}

/// Every entry of `asked` must be in `allowed`; the first that is not is named by index.
fn check_list(
    field: &str,
    what: &str,
    rule: &str,
    asked: &[String],
    allowed: &[String],
    owner: &str,
) -> Result<(), Violation> {
    match asked.iter().enumerate().find(|(_, a)| !allowed.contains(a)) {
        None => Ok(()),
        Some((i, a)) => Err(violation(
            format!("{field}[{i}]"),
            format!(
                "{what} {a:?} is not allowed by {owner} policy {rule} {}; remove it, or ask the provider's admin",
                show_list(allowed)
            ),
        )),
    }
}

fn check_uris(
    field: &str,
    uris: &[String],
    patterns: &[String],
    owner: &str,
) -> Result<(), Violation> {
    let rule = format!("{owner} policy redirectUriHosts {}", show_list(patterns));
    for (i, uri) in uris.iter().enumerate() {
        check_uri(format!("{field}[{i}]"), uri, patterns, &rule)?;
    }
    Ok(())
}

/// The host of `uri` must match one of `patterns`; `rule` names them in a message.
fn check_uri(field: String, uri: &str, patterns: &[String], rule: &str) -> Result<(), Violation> {
    let host = match url::Url::parse(uri) {
        Err(_) => {
            return Err(violation(
                field,
                format!(
                    "{uri:?} is not a URL whose host can be checked against {rule}; use an absolute URL such as https://app.example.com/callback"
                ),
            ));
        }
        Ok(u) => match u.host() {
            None => {
                return Err(violation(
                    field,
                    format!(
                        "{uri:?} has no host, and {rule} allows only the hosts it lists; use a URL with a host the policy allows, or ask the provider's admin"
                    ),
                ));
            }
            Some(url::Host::Domain(d)) => HostName::parse(d),
            Some(url::Host::Ipv4(a)) => HostName::Ip(IpAddr::V4(a)),
            Some(url::Host::Ipv6(a)) => HostName::Ip(IpAddr::V6(a)),
        },
    };
    if !patterns.iter().any(|p| Pattern::parse(p).matches(&host)) {
        return Err(violation(
            field,
            format!(
                "host {:?} is not allowed by {rule}; use a host the policy allows, or ask the provider's admin",
                host.to_string()
            ),
        ));
    }
    Ok(())
}

fn check_rotation(spec: &OAuthClientSpec, max: &str, owner: &str) -> Result<(), Violation> {
    let field = || "spec.rotation.every".to_string();
    let Some(max_d) = parse_duration(max) else {
        return Err(violation(
            field(),
            format!(
                "{owner} policy maxRotationEvery {max:?} is not a duration, so no rotation period can be checked; ask the provider's admin to fix the policy"
            ),
        ));
    };
    let every = spec.rotation.as_ref().and_then(|r| r.every.as_deref());
    let Some(every) = every else {
        return Err(violation(
            field(),
            format!(
                "not set, but {owner} policy maxRotationEvery {max} requires every client to rotate its secret at least that often; set rotation.every to {max} or less"
            ),
        ));
    };
    match parse_duration(every) {
        None => Err(violation(
            field(),
            format!("{every:?} is not a duration; set rotation.every to {max} or less"),
        )),
        Some(d) if d > max_d => Err(violation(
            field(),
            format!(
                "{every:?} is longer than {owner} policy maxRotationEvery {max}; set rotation.every to {max} or less, or ask the provider's admin"
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// The rotation period a policy allows at most, if it sets one that parses.
pub fn max_rotation_every(policy: &ClientPolicy) -> Option<Duration> {
    policy
        .max_rotation_every
        .as_deref()
        .and_then(parse_duration)
}

/// Whether `host` (a host name, or an IP literal with or without `[]`) matches one
/// `redirectUriHosts` pattern: an exact host (ASCII case-insensitive, one trailing
/// dot ignored), an exact IP address, or `*.domain` for any host name strictly below
/// `domain` (never `domain` itself, never an IP address).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    Pattern::parse(pattern).matches(&HostName::parse(host))
}

/// A redirect URI's host, normalized for comparison.
#[derive(Debug, PartialEq, Eq)]
enum HostName {
    Ip(IpAddr),
    /// Lower-case, without a trailing dot.
    Name(String),
}

impl HostName {
    fn parse(s: &str) -> HostName {
        let s = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .unwrap_or(s);
        let s = s.strip_suffix('.').unwrap_or(s);
        match s.parse::<IpAddr>() {
            Ok(ip) => HostName::Ip(ip),
            Err(_) => HostName::Name(s.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostName::Ip(ip) => write!(f, "{ip}"),
            HostName::Name(n) => f.write_str(n),
        }
    }
}

/// One `redirectUriHosts` entry.
enum Pattern {
    Exact(HostName),
    /// `*.domain`: the domain, lower-case, without a trailing dot.
    Below(String),
}

impl Pattern {
    fn parse(p: &str) -> Pattern {
        match p.strip_prefix("*.") {
            Some(domain) => {
                let d = domain.strip_suffix('.').unwrap_or(domain);
                Pattern::Below(d.to_ascii_lowercase())
            }
            None => Pattern::Exact(HostName::parse(p)),
        }
    }

    fn matches(&self, host: &HostName) -> bool {
        match (self, host) {
            (Pattern::Exact(p), h) => p == h,
            (Pattern::Below(d), HostName::Name(h)) => {
                let Some(prefix) = h.strip_suffix(d.as_str()).and_then(|r| r.strip_suffix('.'))
                else {
                    return false;
                };
                !d.is_empty()
                    && !prefix.is_empty()
                    && !prefix.starts_with('.')
                    && !prefix.ends_with('.')
                    && !prefix.contains("..")
            }
            (Pattern::Below(_), HostName::Ip(_)) => false,
        }
    }
}

/// `[a, b, c]`, cut short after [`LIST_SHOWN`] entries.
fn show_list(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(LIST_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LIST_SHOWN {
        s.push_str(&format!(", ... ({} more)", items.len() - LIST_SHOWN));
    }
    format!("[{s}]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> OAuthClientSpec {
        let mut base = json!({
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "prod"},
            "redirectUris": ["https://grafana.apps.example.com/login"],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "account.read"],
            "rotation": {"every": "720h"},
        });
        for (k, val) in v.as_object().unwrap() {
            if val.is_null() {
                base.as_object_mut().unwrap().remove(k);
            } else {
                base[k] = val.clone();
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn policy(v: serde_json::Value) -> ClientPolicy {
        serde_json::from_value(v).unwrap()
    }

    fn full_policy() -> ClientPolicy {
        policy(json!({
            "redirectUriHosts": ["*.apps.example.com", "localhost"],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "account.read", "offline_access", "offline"],
            "allowPublicClients": false,
            "maxRotationEvery": "2160h",
        }))
    }

    fn err(p: &ClientPolicy, s: &OAuthClientSpec) -> Violation {
        check(p, s).expect_err("a violation")
    }

    #[test]
    fn a_compliant_spec_passes_and_an_empty_policy_allows_anything() {
        assert_eq!(check(&full_policy(), &spec(json!({}))), Ok(()));
        let anything = spec(json!({
            "redirectUris": ["https://evil.example.net/cb"],
            "grantTypes": ["client_credentials"],
            "scopes": ["admin"],
            "tokenEndpointAuthMethod": "none",
            "rotation": null,
        }));
        assert_eq!(check(&ClientPolicy::default(), &anything), Ok(()));
    }

    #[test]
    fn redirect_uri_host_outside_the_policy_is_named_with_rule_and_fix() {
        let s = spec(json!({"redirectUris": [
            "https://grafana.apps.example.com/login",
            "https://evil.example.net/cb",
        ]}));
        let p = policy(json!({"redirectUriHosts": ["*.apps.example.com"]}));
        let v = err(&p, &s);
        assert_eq!(v.field, "spec.redirectUris[1]");
        assert_eq!(
            v.to_string(),
            "spec.redirectUris[1]: host \"evil.example.net\" is not allowed by ClusterOAuthProvider policy redirectUriHosts [*.apps.example.com]; use a host the policy allows, or ask the provider's admin"
        );
    }

    #[test]
    fn post_logout_redirect_uris_are_checked_too() {
        let s = spec(json!({"postLogoutRedirectUris": ["https://evil.example.net/bye"]}));
        let v = err(&full_policy(), &s);
        assert_eq!(v.field, "spec.postLogoutRedirectUris[0]");
        assert!(v.message.contains("\"evil.example.net\""), "{v}");
    }

    #[test]
    fn an_empty_host_list_allows_no_redirect_uri() {
        let p = policy(json!({"redirectUriHosts": []}));
        let v = err(&p, &spec(json!({})));
        assert_eq!(v.field, "spec.redirectUris[0]");
        assert!(v.message.contains("redirectUriHosts []"), "{v}");
        assert_eq!(check(&p, &spec(json!({"redirectUris": []}))), Ok(()));
    }

    #[test]
    fn the_host_is_the_one_a_browser_would_visit() {
        let p = policy(json!({"redirectUriHosts": ["*.apps.example.com"]}));
        // userinfo that looks like an allowed host
        let v = err(
            &p,
            &spec(json!({"redirectUris": ["https://a.apps.example.com@evil.example.net/cb"]})),
        );
        assert!(v.message.contains("\"evil.example.net\""), "{v}");
        // a backslash ends the authority in a browser
        let v = err(
            &p,
            &spec(json!({"redirectUris": ["https://evil.example.net\\@a.apps.example.com/cb"]})),
        );
        assert!(v.message.contains("\"evil.example.net\""), "{v}");
        // percent-encoding in the host is decoded
        assert_eq!(
            check(
                &p,
                &spec(json!({"redirectUris": ["https://gr%61fana.apps.example.com/cb"]}))
            ),
            Ok(())
        );
    }

    #[test]
    fn a_uri_without_a_host_breaks_a_host_policy() {
        let p = policy(json!({"redirectUriHosts": ["*.apps.example.com"]}));
        let v = err(
            &p,
            &spec(json!({"redirectUris": ["com.example.app:/callback"]})),
        );
        assert_eq!(v.field, "spec.redirectUris[0]");
        assert!(v.message.contains("has no host"), "{v}");
        let v = err(&p, &spec(json!({"redirectUris": ["not a url"]})));
        assert!(v.message.contains("is not a URL"), "{v}");
    }

    #[test]
    fn wildcards_match_strictly_below_the_domain() {
        let m = |h| host_matches("*.a.com", h);
        assert!(m("b.a.com"));
        assert!(m("c.b.a.com"));
        assert!(m("B.A.COM"), "case-insensitive");
        assert!(m("b.a.com."), "a fully qualified name is the same host");
        assert!(!m("a.com"), "not the domain itself");
        assert!(!m("a.com."));
        assert!(!m("xa.com"), "a label boundary is required");
        assert!(!m("b.xa.com"));
        assert!(!m("a.com.evil.net"));
        assert!(!m(".a.com"), "empty label");
        assert!(!m("b..a.com"), "empty label");
        assert!(!m("b.a.com.."));
        assert!(
            host_matches("*.A.Com.", "b.a.com"),
            "pattern normalized too"
        );
        assert!(!host_matches("*.", "b.a.com"));
        assert!(!host_matches("*", "b.a.com"), "only *. is a wildcard");
    }

    #[test]
    fn exact_hosts_are_case_insensitive_and_ignore_the_port() {
        let p = policy(json!({"redirectUriHosts": ["Grafana.Example.com"]}));
        for ok in [
            "https://grafana.example.com/cb",
            "https://GRAFANA.example.COM:8443/cb",
            "https://grafana.example.com.:443/cb",
        ] {
            assert_eq!(
                check(&p, &spec(json!({"redirectUris": [ok]}))),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "https://x.grafana.example.com/cb",
            "https://grafana.example.co/cb",
        ] {
            assert!(
                check(&p, &spec(json!({"redirectUris": [bad]}))).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn ip_literals_match_only_exactly() {
        let p = policy(json!({"redirectUriHosts": ["127.0.0.1", "[::1]", "*.0.0.1"]}));
        let ok = |u: &str| check(&p, &spec(json!({"redirectUris": [u]}))).is_ok();
        assert!(ok("http://127.0.0.1:8080/cb"));
        assert!(ok("http://[::1]:8080/cb"));
        assert!(ok("http://[0:0:0:0:0:0:0:1]/cb"), "the same address");
        assert!(
            ok("https://0x7f.0.0.1/cb"),
            "a browser reads this as 127.0.0.1"
        );
        assert!(
            !ok("https://10.0.0.1/cb"),
            "a wildcard never matches an address"
        );
        assert!(!ok("https://[::2]/cb"));
        assert!(
            !ok("https://[::ffff:127.0.0.1]/cb"),
            "a mapped address is another literal"
        );
        assert!(host_matches("::1", "[::1]"));
        assert!(host_matches("[::1]", "::1"));
        assert!(!host_matches("*.1", "127.0.0.1"));
    }

    #[test]
    fn grant_types_outside_the_policy_are_named_by_index() {
        let p = policy(json!({"grantTypes": ["authorization_code", "refresh_token"]}));
        let v = err(
            &p,
            &spec(json!({"grantTypes": ["authorization_code", "client_credentials"]})),
        );
        assert_eq!(v.field, "spec.grantTypes[1]");
        assert_eq!(
            v.message,
            "spec.grantTypes[1]: grant type \"client_credentials\" is not allowed by ClusterOAuthProvider policy grantTypes [authorization_code, refresh_token]; remove it, or ask the provider's admin"
        );
    }

    #[test]
    fn absent_grant_types_mean_the_controller_default() {
        let absent = spec(json!({"grantTypes": null}));
        let p = policy(json!({"grantTypes": ["authorization_code"]}));
        assert_eq!(check(&p, &absent), Ok(()));
        let p = policy(json!({"grantTypes": ["client_credentials"]}));
        let v = err(&p, &absent);
        assert_eq!(v.field, "spec.grantTypes");
        assert!(
            v.message
                .contains("default grant type \"authorization_code\""),
            "{v}"
        );
        // An explicit empty list asks for nothing.
        assert_eq!(check(&p, &spec(json!({"grantTypes": []}))), Ok(()));
    }

    #[test]
    fn scopes_outside_the_policy_are_named_by_index() {
        let p = policy(json!({"scopes": ["openid"]}));
        let v = err(&p, &spec(json!({})));
        assert_eq!(v.field, "spec.scopes[1]");
        assert!(
            v.message
                .contains("scope \"account.read\" is not allowed by ClusterOAuthProvider policy scopes [openid]"),
            "{v}"
        );
        assert_eq!(check(&p, &spec(json!({"scopes": null}))), Ok(()));
    }

    #[test]
    fn hydra_default_scope_counts_when_scopes_are_absent() {
        let p = policy(json!({"scopes": ["openid"]}));
        for s in [spec(json!({"scopes": null})), spec(json!({"scopes": []}))] {
            assert_eq!(check_for(&p, &s, ProviderType::Cloudflare, "c"), Ok(()));
            let v = check_for(&p, &s, ProviderType::Hydra, "h").unwrap_err();
            assert_eq!(v.field, "spec.scopes");
            assert!(
                v.message
                    .contains("not allowed by ClusterOAuthProvider h policy scopes [openid]"),
                "the provider is named: {v}"
            );
            assert!(v.message.contains("default scope"), "{v}");
            assert!(v.message.contains("\"offline_access\""), "{v}");
        }
        let p = policy(json!({"scopes": ["openid", "offline", "offline_access"]}));
        assert_eq!(
            check_for(&p, &spec(json!({"scopes": null})), ProviderType::Hydra, "h"),
            Ok(())
        );
    }

    #[test]
    fn csp_general_scopes_are_scopes() {
        let p = policy(json!({"scopes": ["openid"]}));
        let s = spec(json!({"scopes": null, "vmwareCsp": {"generalScopes": ["openid", "email"]}}));
        let v = check_for(&p, &s, ProviderType::VmwareCsp, "v").unwrap_err();
        assert_eq!(v.field, "spec.vmwareCsp.generalScopes[1]");
        assert!(v.message.contains("\"email\""), "{v}");
    }

    #[test]
    fn public_clients_are_refused_only_when_the_policy_says_so() {
        let public = spec(json!({"tokenEndpointAuthMethod": "none"}));
        let v = err(&policy(json!({"allowPublicClients": false})), &public);
        assert_eq!(v.field, "spec.tokenEndpointAuthMethod");
        assert_eq!(
            v.message,
            "spec.tokenEndpointAuthMethod: \"none\" (a public client without a secret) is not allowed by ClusterOAuthProvider policy allowPublicClients: false; use client_secret_basic or client_secret_post, or ask the provider's admin"
        );
        assert_eq!(
            check(&policy(json!({"allowPublicClients": true})), &public),
            Ok(())
        );
        assert_eq!(check(&ClientPolicy::default(), &public), Ok(()));
        let confidential = spec(json!({"tokenEndpointAuthMethod": "client_secret_post"}));
        assert_eq!(
            check(&policy(json!({"allowPublicClients": false})), &confidential),
            Ok(())
        );
        assert_eq!(
            check(
                &policy(json!({"allowPublicClients": false})),
                &spec(json!({}))
            ),
            Ok(()),
            "the default method has a secret"
        );
    }

    #[test]
    fn rotation_must_be_set_and_no_longer_than_the_maximum() {
        let p = policy(json!({"maxRotationEvery": "2160h"}));
        let every = |e: &str| spec(json!({"rotation": {"every": e}}));
        assert_eq!(check(&p, &every("2160h")), Ok(()), "equal is allowed");
        assert_eq!(check(&p, &every("90h30m")), Ok(()));
        let v = err(&p, &every("2160h1s"));
        assert_eq!(v.field, "spec.rotation.every");
        assert_eq!(
            v.message,
            "spec.rotation.every: \"2160h1s\" is longer than ClusterOAuthProvider policy maxRotationEvery 2160h; set rotation.every to 2160h or less, or ask the provider's admin"
        );
        let v = err(&p, &spec(json!({"rotation": null})));
        assert!(v.message.contains("not set"), "{v}");
        let v = err(&p, &spec(json!({"rotation": {"gracePeriod": "1h"}})));
        assert!(v.message.contains("not set"), "{v}");
        // Units are compared as durations, not as text.
        let p = policy(json!({"maxRotationEvery": "90m"}));
        assert_eq!(check(&p, &every("1h")), Ok(()));
        assert!(check(&p, &every("1.6h")).is_err());
        assert_eq!(max_rotation_every(&p), Some(Duration::from_secs(5400)));
    }

    #[test]
    fn the_first_violation_in_field_order_is_reported() {
        let everything_wrong = spec(json!({
            "redirectUris": ["https://evil.example.net/cb"],
            "postLogoutRedirectUris": ["https://evil.example.net/bye"],
            "grantTypes": ["implicit"],
            "scopes": ["admin"],
            "tokenEndpointAuthMethod": "none",
            "rotation": null,
        }));
        let p = full_policy();
        assert_eq!(err(&p, &everything_wrong).field, "spec.redirectUris[0]");
        let mut s = everything_wrong.clone();
        s.redirect_uris.clear();
        assert_eq!(err(&p, &s).field, "spec.postLogoutRedirectUris[0]");
        s.post_logout_redirect_uris.clear();
        assert_eq!(err(&p, &s).field, "spec.grantTypes[0]");
        s.grant_types = None;
        assert_eq!(err(&p, &s).field, "spec.scopes[0]");
        s.scopes = None;
        assert_eq!(err(&p, &s).field, "spec.tokenEndpointAuthMethod");
        s.token_endpoint_auth_method = None;
        assert_eq!(err(&p, &s).field, "spec.rotation.every");
        // Deterministic: the same spec gives the same message.
        assert_eq!(err(&p, &everything_wrong), err(&p, &everything_wrong));
    }

    #[test]
    fn long_allow_lists_are_cut_short_in_messages() {
        let hosts: Vec<String> = (0..30).map(|i| format!("h{i}.example.com")).collect();
        let p = ClientPolicy {
            redirect_uri_hosts: Some(hosts),
            ..Default::default()
        };
        let v = err(&p, &spec(json!({})));
        assert!(v.message.contains("h9.example.com, ... (20 more)]"), "{v}");
        assert!(!v.message.contains("h10.example.com"), "{v}");
    }
}
