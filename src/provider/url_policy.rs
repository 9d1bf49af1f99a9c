//! Which URLs a namespaced `OAuthProvider` may make the operator dial.
//!
//! A namespaced OAuthProvider is written by a tenant, but its requests leave from
//! the operator's pod, past the NetworkPolicies that confine the tenant (a confused
//! deputy). So its `baseUrl`/`adminUrl` must pass the [`UrlPolicy`] the admin sets
//! with the `clientops run` flags (see [`UrlPolicyArgs`]): https only, a host on an
//! allow-list, and every address the operator would connect to outside loopback,
//! private, link-local and the other special ranges, and outside the cluster's own
//! ranges. ClusterOAuthProviders are admin objects and are not checked.
//!
//! Two checks, both before any connection is made:
//! - [`UrlPolicy::check_url`] on each URL (scheme, no userinfo, host and port
//!   allow-list (port 443 unless an entry names another),
//!   and the address rule for IP-literal hosts: reqwest never calls a resolver for
//!   those, so this is the only place they are checked);
//! - the [`GuardedResolver`] of [`build_guarded_client`] on every name the client
//!   resolves: it refuses names off the allow-list without a DNS query, and keeps
//!   only the resolved addresses [`UrlPolicy::check_addr`] allows. The client
//!   connects to exactly the addresses it returns, so a name that resolves (or is
//!   rebound) to 127.0.0.1 gets no connection.
//!
//! A [`Refusal`] names what was refused and the flag that would allow it. It never
//! holds a response (there is none), a full URL or userinfo, and is safe to show
//! the tenant in a condition.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use url::{Host, Url};

use super::dns::FullyQualifiedResolver;
use super::error::ProviderError;
use super::http::{HttpOptions, client_builder};

/// `--namespaced-provider-hosts`: hosts a namespaced provider may name.
pub const FLAG_HOSTS: &str = "--namespaced-provider-hosts";
/// `--namespaced-provider-cidrs`: address ranges a namespaced provider may reach
/// although they are special (private, loopback, ...) or inside `--cluster-cidrs`.
pub const FLAG_CIDRS: &str = "--namespaced-provider-cidrs";
/// `--cluster-cidrs`: the cluster's service and pod ranges, refused to namespaced
/// providers.
pub const FLAG_CLUSTER_CIDRS: &str = "--cluster-cidrs";
/// `--namespaced-provider-allow-http`: allow `http://` (development only).
pub const FLAG_ALLOW_HTTP: &str = "--namespaced-provider-allow-http";

/// The default of `--namespaced-provider-hosts`: the public endpoints of the
/// Cloudflare API, Cloudflare's OAuth token endpoint and VMware CSP.
pub const DEFAULT_NAMESPACED_PROVIDER_HOSTS: &str =
    "api.cloudflare.com,dash.cloudflare.com,console.cloud.vmware.com";

/// The longest host name quoted back in a [`Refusal`] (characters).
const MAX_HOST_CHARS: usize = 100;

/// One entry of the host allow-list: an exact host, or `*.domain` for any host
/// strictly below `domain`. Names compare case-insensitively and a trailing dot is
/// ignored. An IP literal (`10.0.0.5`, `[fd00::1]`) is an exact entry too.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostPattern {
    /// This host name only (lower case, no trailing dot).
    Exact(String),
    /// Any host below this domain (lower case, no trailing dot), not the domain
    /// itself.
    Subdomains(String),
    /// This IP literal.
    Ip(IpAddr),
}

impl HostPattern {
    /// Whether the host name `host` (as in a URL, any case, trailing dot allowed)
    /// matches.
    pub fn matches_name(&self, host: &str) -> bool {
        let host = normalize_name(host);
        match self {
            HostPattern::Exact(name) => host == *name,
            HostPattern::Subdomains(domain) => host
                .strip_suffix(domain.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
            HostPattern::Ip(_) => false,
        }
    }

    /// Whether the IP-literal host `ip` matches.
    pub fn matches_ip(&self, ip: IpAddr) -> bool {
        matches!(self, HostPattern::Ip(own) if *own == ip)
    }
}

fn normalize_name(host: &str) -> String {
    host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase()
}

impl FromStr for HostPattern {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let bad = |why: &str| Err(format!("{text:?} is not a host pattern: {why}"));
        if text.is_empty() {
            return bad("it is empty (write a host such as api.example.com or *.example.com)");
        }
        if text.contains("://") || text.contains('/') {
            return bad("write the host only, without scheme or path");
        }
        let unbracketed = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        if let Ok(ip) = unbracketed.parse::<IpAddr>() {
            return Ok(HostPattern::Ip(ip));
        }
        if text.contains(':') {
            return bad("a host pattern has no port (an allow-list entry does: host:port)");
        }
        if text.starts_with('[') {
            return bad("the brackets hold no IPv6 address");
        }
        let (subdomains, name) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if name.contains('*') {
            return bad("`*` may only stand first, as in *.example.com");
        }
        let name = normalize_name(name);
        if name.is_empty() {
            return bad("no domain after `*.`");
        }
        if name.len() > 253 {
            return bad("longer than 253 characters");
        }
        for label in name.split('.') {
            if label.is_empty() {
                return bad("it has an empty label (two dots in a row, or a leading dot)");
            }
            if label.len() > 63 {
                return bad("a label is longer than 63 characters");
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return bad("only letters, digits, `-` and `_` may appear in a label \
                     (write an internationalised name in its xn-- form)");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return bad("a label may not start or end with `-`");
            }
        }
        if subdomains && !name.contains('.') {
            return bad("a wildcard over a top-level domain admits far too much");
        }
        if name
            .split('.')
            .next_back()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()) || tld.starts_with("0x"))
        {
            return bad("it looks like an incomplete IP address");
        }
        Ok(if subdomains {
            HostPattern::Subdomains(name)
        } else {
            HostPattern::Exact(name)
        })
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPattern::Exact(name) => f.write_str(name),
            HostPattern::Subdomains(domain) => write!(f, "*.{domain}"),
            HostPattern::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            HostPattern::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
        }
    }
}

/// Which ports of a host an allow-list entry admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortRule {
    /// No port written: the scheme's default port only (443 for https; 80 for
    /// http, which only `--namespaced-provider-allow-http` admits).
    Default,
    /// `host:8443`: this port only.
    Port(u16),
    /// `host:*`: any port (a host whose every port the admin trusts).
    Any,
}

impl PortRule {
    fn admits(self, port: u16, scheme_default: u16) -> bool {
        match self {
            PortRule::Default => port == scheme_default,
            PortRule::Port(p) => port == p,
            PortRule::Any => true,
        }
    }
}

/// One entry of `--namespaced-provider-hosts`: a [`HostPattern`] and the ports it
/// admits. `api.example.com` admits port 443 only (https's default);
/// `hydra.example.com:8443` port 8443 only; `dev.example.com:*` any port. An IPv6
/// literal with a port is bracketed: `[fd00::5]:8443`. List a host twice for two
/// ports.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostEntry {
    /// The host (exact, `*.domain` or an IP literal).
    pub pattern: HostPattern,
    /// The ports it admits.
    pub port: PortRule,
}

impl FromStr for HostEntry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let text = s.trim();
        let bad = |why: &str| Err(format!("{text:?} is not a host entry: {why}"));
        // A bare address (IPv6 ones have colons of their own) has no port.
        if text.parse::<IpAddr>().is_ok() {
            return Ok(HostEntry {
                pattern: text.parse()?,
                port: PortRule::Default,
            });
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            match rest.split_once(']') {
                Some((_, "")) => (text, None),
                Some((ip, tail)) => match tail.strip_prefix(':') {
                    Some(port) => (&text[..ip.len() + 2], Some(port)),
                    None => return bad("write a port after the brackets as [fd00::5]:8443"),
                },
                None => return bad("an opening bracket without a closing one"),
            }
        } else if text.contains("://") || text.contains('/') {
            return bad("write the host only (with an optional :port), without scheme or path");
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        let port = match port {
            None => PortRule::Default,
            Some("*") => PortRule::Any,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => PortRule::Port(n),
                _ => {
                    return bad("the port must be a number from 1 to 65535, or * for any port");
                }
            },
        };
        Ok(HostEntry {
            pattern: host.parse()?,
            port,
        })
    }
}

impl fmt::Display for HostEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            PortRule::Default => write!(f, "{}", self.pattern),
            PortRule::Port(p) => write!(f, "{}:{p}", self.pattern),
            PortRule::Any => write!(f, "{}:*", self.pattern),
        }
    }
}

/// What a namespaced provider's URLs may point at. See the module docs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Hosts (and their ports) a URL may name (`--namespaced-provider-hosts`).
    pub allowed_hosts: Vec<HostEntry>,
    /// Ranges that may be reached although a built-in rule or `denied_cidrs`
    /// refuses them (`--namespaced-provider-cidrs`). An IP-literal host inside one
    /// needs no entry in `allowed_hosts`.
    pub allowed_cidrs: Vec<IpNet>,
    /// Further ranges to refuse: the cluster's service and pod ranges
    /// (`--cluster-cidrs`). Where an allowed and a denied range both hold an
    /// address, the longer prefix decides (a tie refuses).
    pub denied_cidrs: Vec<IpNet>,
    /// Accept `http://` besides `https://` (`--namespaced-provider-allow-http`;
    /// development against a local emulator only).
    pub allow_http: bool,
}

impl Default for UrlPolicy {
    fn default() -> Self {
        Self {
            allowed_hosts: parse_host_patterns(DEFAULT_NAMESPACED_PROVIDER_HOSTS)
                .expect("the default host list parses"),
            allowed_cidrs: Vec::new(),
            denied_cidrs: Vec::new(),
            allow_http: false,
        }
    }
}

impl UrlPolicy {
    /// Check a URL before any request to it: scheme, userinfo, host and port
    /// allow-list, and for an IP-literal host the address rule
    /// ([`Self::check_addr`]). An IP literal is admitted by an `allowed_hosts`
    /// entry or by lying inside `allowed_cidrs` (then on the scheme's default port
    /// only).
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        let scheme_default = match url.scheme() {
            "https" => 443,
            "http" if self.allow_http => 80,
            other => {
                return Err(Refusal::Scheme {
                    scheme: truncate(other),
                });
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refusal::Userinfo);
        }
        let port = url.port_or_known_default().unwrap_or(scheme_default);
        match url.host() {
            None => Err(Refusal::NoHost),
            Some(Host::Domain(name)) => {
                self.check_name(name)?;
                let admitted = self
                    .allowed_hosts
                    .iter()
                    .any(|e| e.pattern.matches_name(name) && e.port.admits(port, scheme_default));
                if admitted {
                    Ok(())
                } else {
                    Err(Refusal::Port {
                        host: truncate(&normalize_name(name)),
                        port,
                    })
                }
            }
            Some(Host::Ipv4(ip)) => self.check_ip_literal(IpAddr::V4(ip), port, scheme_default),
            Some(Host::Ipv6(ip)) => self.check_ip_literal(IpAddr::V6(ip), port, scheme_default),
        }
    }

    /// Whether a host name is on the allow-list at some port (no DNS involved;
    /// the port is [`Self::check_url`]'s to check, the resolver never sees it).
    pub fn check_name(&self, name: &str) -> Result<(), Refusal> {
        if self
            .allowed_hosts
            .iter()
            .any(|e| e.pattern.matches_name(name))
        {
            Ok(())
        } else {
            Err(Refusal::Host {
                host: truncate(&normalize_name(name)),
            })
        }
    }

    fn check_ip_literal(&self, ip: IpAddr, port: u16, scheme_default: u16) -> Result<(), Refusal> {
        let entries = || {
            self.allowed_hosts
                .iter()
                .filter(|e| e.pattern.matches_ip(ip))
        };
        let in_range = self.allowed_cidrs.iter().any(|n| n.contains(&ip));
        if entries().next().is_none() && !in_range {
            return Err(Refusal::IpLiteral { addr: ip });
        }
        let port_ok = entries().any(|e| e.port.admits(port, scheme_default))
            || (in_range && port == scheme_default);
        if !port_ok {
            let host = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            return Err(Refusal::Port { host, port });
        }
        self.check_addr(ip)
    }

    /// Whether the operator may connect to `ip` for a namespaced provider. Refused:
    /// loopback, unspecified, "this network", link-local, private and unique-local,
    /// CGNAT, IETF protocol assignments, benchmarking, documentation, multicast,
    /// broadcast and reserved ranges, the IPv4-mapped, IPv4-compatible, NAT64 and
    /// 6to4 forms of refused IPv4 addresses, and `denied_cidrs`; unless the address
    /// lies in `allowed_cidrs` (longest prefix wins against `denied_cidrs`).
    pub fn check_addr(&self, ip: IpAddr) -> Result<(), Refusal> {
        self.addr_reason(ip)
            .map_or(Ok(()), |reason| Err(Refusal::Address { addr: ip, reason }))
    }

    /// Why `ip` is refused, if it is.
    fn addr_reason(&self, ip: IpAddr) -> Option<AddrReason> {
        match self.admin_verdict(ip) {
            Some(true) => return None,
            Some(false) => return Some(AddrReason::Denied { form: None }),
            None => {}
        }
        if let Some(&(_, class, range)) = SPECIAL_RANGES.iter().find(|(n, ..)| n.contains(&ip)) {
            return Some(AddrReason::Special {
                class,
                range,
                form: None,
            });
        }
        if let IpAddr::V6(v6) = ip
            && let Some((form, v4)) = embedded_v4(v6)
        {
            return self
                .addr_reason(IpAddr::V4(v4))
                .map(|inner| inner.in_form(form));
        }
        None
    }

    /// `Some(true)`: an allowed range holds `ip` (more specifically than any denied
    /// one); `Some(false)`: a denied range does; `None`: neither.
    fn admin_verdict(&self, ip: IpAddr) -> Option<bool> {
        let longest = |nets: &[IpNet]| {
            nets.iter()
                .filter(|n| n.contains(&ip))
                .map(IpNet::prefix_len)
                .max()
        };
        match (longest(&self.allowed_cidrs), longest(&self.denied_cidrs)) {
            (Some(allowed), Some(denied)) => Some(allowed > denied),
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        }
    }
}

/// The IPv4 address an IPv6 address stands for, and the name of that form:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<(&'static str, Ipv4Addr)> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(("IPv4-mapped", low)),
        [0, 0, 0, 0, 0, 0, ..] => Some(("IPv4-compatible", low)),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(("NAT64", low)),
        [0x2002, hi, lo, ..] => Some((
            "6to4",
            Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8),
        )),
        _ => None,
    }
}

/// The built-in refused ranges: (range, class, range as written). Most specific
/// first where they nest.
static SPECIAL_RANGES: LazyLock<Vec<(IpNet, &'static str, &'static str)>> = LazyLock::new(|| {
    [
        ("0.0.0.0/32", "unspecified"),
        ("0.0.0.0/8", "\"this network\""),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/32", "Teredo"),
        ("2001:2::/48", "benchmarking"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local"),
        ("ff00::/8", "multicast"),
    ]
    .into_iter()
    .map(|(range, class)| (range.parse().expect("a valid range"), class, range))
    .collect()
});

/// Why an address is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddrReason {
    /// A built-in special range.
    Special {
        /// What the range is (`loopback`, `private`, ...).
        class: &'static str,
        /// The range, as written (`127.0.0.0/8`).
        range: &'static str,
        /// Set when the address is the IPv6 form (`IPv4-mapped`, `NAT64`, ...) of
        /// an IPv4 address in the range.
        form: Option<&'static str>,
    },
    /// A range of `--cluster-cidrs`.
    Denied {
        /// As for `Special`.
        form: Option<&'static str>,
    },
}

impl AddrReason {
    fn in_form(self, outer: &'static str) -> Self {
        match self {
            AddrReason::Special { class, range, .. } => AddrReason::Special {
                class,
                range,
                form: Some(outer),
            },
            AddrReason::Denied { .. } => AddrReason::Denied { form: Some(outer) },
        }
    }

    /// The flag that would allow the address.
    fn hint(&self) -> String {
        match self {
            AddrReason::Special { .. } => format!(
                "an administrator can allow a range with {FLAG_CIDRS} (trusted addresses only)"
            ),
            AddrReason::Denied { .. } => {
                format!("an administrator can allow a narrower range inside it with {FLAG_CIDRS}")
            }
        }
    }
}

impl fmt::Display for AddrReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = match self {
            AddrReason::Special { form, .. } | AddrReason::Denied { form } => *form,
        };
        if let Some(form) = form {
            write!(f, "the {form} form of ")?;
        }
        match self {
            AddrReason::Special { class, range, .. } => {
                write!(f, "a {class} address ({range})")
            }
            AddrReason::Denied { .. } => write!(
                f,
                "an address in a cluster range the administrator refused ({FLAG_CLUSTER_CIDRS})"
            ),
        }
    }
}

/// Why a namespaced provider's URL or address was refused. Nothing was sent.
/// The text names what was refused and the admin flag that would allow it; it
/// holds no URL path, query or userinfo, and is safe to show the tenant.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A scheme other than https (or http, when allowed).
    #[error(
        "scheme {scheme:?} is refused for a namespaced OAuthProvider: use https{}",
        if scheme == "http" {
            format!(" (an administrator can allow http for development with {FLAG_ALLOW_HTTP})")
        } else {
            String::new()
        }
    )]
    Scheme {
        /// The URL's scheme.
        scheme: String,
    },
    /// The URL holds a user name or password.
    #[error(
        "a namespaced OAuthProvider's URL may not hold a user name or password \
         (credentials belong in the provider's Secret)"
    )]
    Userinfo,
    /// The URL has no host.
    #[error("the URL has no host")]
    NoHost,
    /// The host is not on the allow-list.
    #[error(
        "host {host} is not on the namespaced-provider host allow-list; an administrator \
         can add it with {FLAG_HOSTS}"
    )]
    Host {
        /// The host as the URL names it (cut to 100 characters).
        host: String,
    },
    /// The host is on the allow-list, but not at this port.
    #[error(
        "port {port} of host {host} is not on the namespaced-provider host allow-list (an entry \
         without a port allows only the scheme's default port, 443 for https); an \
         administrator can allow it with the {FLAG_HOSTS} entry {host}:{port}"
    )]
    Port {
        /// The host as the URL names it (cut to 100 characters; an IPv6 literal
        /// in brackets).
        host: String,
        /// The URL's port (or its scheme's default).
        port: u16,
    },
    /// An IP-literal host neither on the host allow-list nor in an allowed range.
    #[error(
        "address {addr} is not on the namespaced-provider host allow-list; an administrator \
         can add it with {FLAG_HOSTS} or allow its range with {FLAG_CIDRS}"
    )]
    IpLiteral {
        /// The address.
        addr: IpAddr,
    },
    /// An IP-literal host, or an address a name resolved to, is in a refused range.
    #[error(
        "address {addr} is {reason}, which a namespaced OAuthProvider may not reach; {}",
        reason.hint()
    )]
    Address {
        /// The address.
        addr: IpAddr,
        /// Why it is refused.
        reason: AddrReason,
    },
    /// Every address a name resolved to is refused. Neither the addresses nor
    /// their kind are told (the operator's DNS view is not the tenant's to read:
    /// with a wildcard allow-list that would be an oracle for internal names);
    /// the resolver logs them at debug level for the admin.
    #[error(
        "host {host} resolves only to addresses a namespaced OAuthProvider may not reach; \
         an administrator can allow a range with {FLAG_CIDRS} (trusted addresses only)"
    )]
    Resolved {
        /// The name.
        host: String,
        /// Why the first address was refused.
        reason: AddrReason,
    },
}

impl From<Refusal> for ProviderError {
    /// A refusal is a configuration error: never retried, nothing was sent.
    fn from(refusal: Refusal) -> Self {
        ProviderError::config(refusal.to_string())
    }
}

/// The [`Refusal`] behind an error, if any: walks `error`'s source chain (a
/// `reqwest::Error` from the guarded resolver holds one).
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refusal> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(refusal) = e.downcast_ref::<Refusal>() {
            return Some(refusal);
        }
        current = e.source();
    }
    None
}

fn truncate(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_HOST_CHARS)
        .collect();
    if text.chars().count() > MAX_HOST_CHARS {
        out.push('…');
    }
    out
}

/// A DNS resolver for reqwest that applies a [`UrlPolicy`]: names off the host
/// allow-list are refused without a query; of the resolved addresses it keeps only
/// those [`UrlPolicy::check_addr`] allows, and fails with the [`Refusal`] when none
/// remain. reqwest connects only to the addresses it returns, so the check holds
/// at connect time (a DNS rebinding between check and connect cannot slip by).
/// Names are looked up fully qualified ([`super::dns`]).
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    policy: Arc<UrlPolicy>,
    names: FullyQualifiedResolver,
}

impl GuardedResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<UrlPolicy>) -> Self {
        Self::with_names(policy, FullyQualifiedResolver::new())
    }

    /// A resolver enforcing `policy` over the lookup of `names`.
    pub fn with_names(policy: Arc<UrlPolicy>, names: FullyQualifiedResolver) -> Self {
        Self { policy, names }
    }

    /// Resolve `host` and keep the allowed addresses (port 0: reqwest puts the
    /// URL's port in).
    pub async fn resolve_allowed(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        self.policy.check_name(host)?;
        let resolved: Vec<SocketAddr> = self
            .names
            .resolve(host)
            .await
            .map_err(ResolveError::Lookup)?;
        let mut first_reason = None;
        let mut allowed = Vec::with_capacity(resolved.len());
        for addr in resolved {
            match self.policy.addr_reason(addr.ip()) {
                None => allowed.push(addr),
                Some(reason) => {
                    tracing::debug!(
                        host,
                        address = %addr.ip(),
                        %reason,
                        "refused an address of a namespaced provider's host"
                    );
                    first_reason.get_or_insert(reason);
                }
            }
        }
        match (allowed.is_empty(), first_reason) {
            (false, _) => Ok(allowed),
            (true, Some(reason)) => Err(Refusal::Resolved {
                host: truncate(&normalize_name(host)),
                reason,
            }
            .into()),
            (true, None) => Err(ResolveError::Lookup(std::io::Error::other(
                "the name resolved to no address",
            ))),
        }
    }
}

/// Why [`GuardedResolver`] returned no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The policy refused the name or every address it resolved to.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The lookup itself failed.
    #[error("DNS lookup failed: {0}")]
    Lookup(std::io::Error),
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            match this.resolve_allowed(&host).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                // The Refusal itself, so that `refusal_in` finds it in the chain.
                Err(ResolveError::Refused(refusal)) => Err(refusal.into()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// A reqwest client for a namespaced provider: [`client_builder`]'s rules plus the
/// [`GuardedResolver`] for `policy`. Callers still run [`UrlPolicy::check_url`] on
/// every URL they request (IP-literal hosts never reach a resolver).
pub fn build_guarded_client(
    options: &HttpOptions,
    policy: Arc<UrlPolicy>,
) -> Result<reqwest::Client, ProviderError> {
    client_builder(options)
        .dns_resolver(GuardedResolver::new(policy))
        // A proxy from the pod's environment (HTTPS_PROXY, ALL_PROXY) would receive
        // the request and resolve and dial the target itself: the guarded resolver
        // would only ever see the proxy's name, and the policy would be bypassed.
        .no_proxy()
        .build()
        .map_err(|e| ProviderError::config(format!("building the HTTP client: {e}")))
}

/// Parse a comma-separated host allow-list
/// (`api.example.com,*.corp.example,hydra.example.com:8443`; see [`HostEntry`]).
/// Blanks around entries and empty entries are ignored; an empty string is an
/// empty list.
pub fn parse_host_patterns(s: &str) -> Result<Vec<HostEntry>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(HostEntry::from_str)
        .collect()
}

/// Parse a comma-separated list of CIDR ranges (`10.96.0.0/12,fd00::/108`); a bare
/// address is a single-address range. Host bits must be zero (`10.0.0.1/8` is
/// refused as a likely typo). An empty string is an empty list.
pub fn parse_cidrs(s: &str) -> Result<Vec<IpNet>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let net = match p.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => p.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                    format!("{p:?} is not a CIDR range such as 10.96.0.0/12 or fd00::/108")
                })?,
            };
            if net.trunc() != net {
                return Err(format!(
                    "{p:?} has host bits set: did you mean {}?",
                    net.trunc()
                ));
            }
            Ok(net)
        })
        .collect()
}

/// A parsed `--namespaced-provider-hosts` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostList(pub Vec<HostEntry>);

/// A parsed `--namespaced-provider-cidrs` or `--cluster-cidrs` value.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CidrList(pub Vec<IpNet>);

fn host_list(s: &str) -> Result<HostList, String> {
    parse_host_patterns(s).map(HostList)
}

fn cidr_list(s: &str) -> Result<CidrList, String> {
    parse_cidrs(s).map(CidrList)
}

/// The `clientops run` flags of the policy; `#[command(flatten)]` them.
#[derive(clap::Args, Clone, Debug)]
pub struct UrlPolicyArgs {
    /// Hosts a namespaced OAuthProvider's URLs may name, comma-separated: exact
    /// hosts or `*.domain` (any host below domain), each on port 443 only unless
    /// the entry names its port (`host:8443`, or `host:*` for any port).
    /// ClusterOAuthProviders are not restricted.
    #[arg(
        long = "namespaced-provider-hosts",
        value_name = "HOSTS",
        default_value = DEFAULT_NAMESPACED_PROVIDER_HOSTS,
        value_parser = host_list,
    )]
    pub namespaced_provider_hosts: HostList,
    /// Address ranges a namespaced OAuthProvider may reach although they are
    /// private, loopback, link-local, ... or inside --cluster-cidrs (comma-separated
    /// CIDRs). An IP-literal URL host inside one needs no --namespaced-provider-hosts
    /// entry.
    #[arg(
        long = "namespaced-provider-cidrs",
        value_name = "CIDRS",
        default_value = "",
        hide_default_value = true,
        value_parser = cidr_list,
    )]
    pub namespaced_provider_cidrs: CidrList,
    /// The cluster's service and pod ranges (comma-separated CIDRs): refused to
    /// namespaced OAuthProviders, like private ranges.
    #[arg(
        long = "cluster-cidrs",
        value_name = "CIDRS",
        default_value = "",
        hide_default_value = true,
        value_parser = cidr_list,
    )]
    pub cluster_cidrs: CidrList,
    /// Let namespaced OAuthProviders use http:// URLs. For development against a
    /// local emulator only.
    #[arg(long = "namespaced-provider-allow-http")]
    pub namespaced_provider_allow_http: bool,
}

impl UrlPolicyArgs {
    /// The policy the flags describe.
    pub fn policy(&self) -> UrlPolicy {
        UrlPolicy {
            allowed_hosts: self.namespaced_provider_hosts.0.clone(),
            allowed_cidrs: self.namespaced_provider_cidrs.0.clone(),
            denied_cidrs: self.cluster_cidrs.0.clone(),
            allow_http: self.namespaced_provider_allow_http,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn pattern(s: &str) -> HostPattern {
        s.parse().unwrap()
    }

    #[test]
    fn exact_patterns_ignore_case_and_a_trailing_dot() {
        let p = pattern("API.Example.com.");
        assert_eq!(p, HostPattern::Exact("api.example.com".into()));
        assert!(p.matches_name("api.example.com"));
        assert!(p.matches_name("API.EXAMPLE.COM."));
        assert!(!p.matches_name("x.api.example.com"));
        assert!(!p.matches_name("api.example.com.evil"));
        assert!(!p.matches_name("evilapi.example.com"));
        assert_eq!(p.to_string(), "api.example.com");
    }

    #[test]
    fn wildcard_patterns_match_strictly_below_the_domain() {
        let p = pattern("*.corp.example");
        assert!(p.matches_name("hydra.corp.example"));
        assert!(p.matches_name("a.b.corp.example."));
        assert!(p.matches_name("Hydra.CORP.example"));
        assert!(!p.matches_name("corp.example"), "not the domain itself");
        assert!(!p.matches_name("evilcorp.example"), "a label boundary");
        assert!(!p.matches_name(".corp.example"));
        assert!(!p.matches_name("corp.example.evil"));
        assert_eq!(p.to_string(), "*.corp.example");
    }

    #[test]
    fn ip_patterns_match_only_their_address() {
        let p = pattern("[fd00::5]");
        assert_eq!(p, HostPattern::Ip(ip("fd00::5")));
        assert!(p.matches_ip(ip("fd00::5")));
        assert!(!p.matches_ip(ip("fd00::6")));
        assert!(!p.matches_name("fd00::5"));
        assert_eq!(pattern("10.0.0.5"), HostPattern::Ip(ip("10.0.0.5")));
        assert_eq!(pattern("[fd00::5]").to_string(), "[fd00::5]");
    }

    #[test]
    fn junk_patterns_are_refused_with_the_reason() {
        for (junk, why) in [
            ("", "empty"),
            ("*", "stand first"),
            ("*.", "no domain"),
            ("*.com", "top-level"),
            ("https://api.example.com", "without scheme"),
            ("api.example.com/path", "without scheme or path"),
            ("api.example.com:443", "has no port"),
            ("a.*.example.com", "only stand first"),
            ("**.example.com", "only stand first"),
            ("a..example.com", "empty label"),
            (".example.com", "empty label"),
            ("-a.example.com", "start or end"),
            ("exa mple.com", "only letters"),
            ("bücher.example", "xn--"),
            ("10.0.0", "incomplete IP"),
            ("[not-an-ip]", "brackets"),
        ] {
            let err = junk.parse::<HostPattern>().unwrap_err();
            assert!(err.contains(why), "{junk:?}: {err}");
        }
        let long = format!("{}.example.com", "a".repeat(64));
        assert!(long.parse::<HostPattern>().unwrap_err().contains("63"));
    }

    fn entry(s: &str) -> HostEntry {
        s.parse().unwrap()
    }

    #[test]
    fn host_lists_split_on_commas() {
        assert_eq!(
            parse_host_patterns(" a.example.com, *.b.example ,,").unwrap(),
            vec![entry("a.example.com"), entry("*.b.example")]
        );
        assert_eq!(parse_host_patterns("").unwrap(), vec![]);
        let err = parse_host_patterns("a.example.com,*.com").unwrap_err();
        assert!(err.contains("\"*.com\""), "{err}");
    }

    #[test]
    fn cidr_lists_split_on_commas_and_refuse_host_bits() {
        assert_eq!(
            parse_cidrs("10.96.0.0/12, fd00::/108,192.0.2.7").unwrap(),
            vec![
                "10.96.0.0/12".parse::<IpNet>().unwrap(),
                "fd00::/108".parse().unwrap(),
                "192.0.2.7/32".parse().unwrap(),
            ]
        );
        assert_eq!(parse_cidrs(" ").unwrap(), vec![]);
        let err = parse_cidrs("10.96.0.1/12").unwrap_err();
        assert!(err.contains("did you mean 10.96.0.0/12"), "{err}");
        let err = parse_cidrs("10.96.0.0/33").unwrap_err();
        assert!(err.contains("not a CIDR range"), "{err}");
    }

    #[test]
    fn the_default_allows_the_public_provider_endpoints_over_https_only() {
        let policy = UrlPolicy::default();
        assert_eq!(
            policy.allowed_hosts,
            vec![
                entry("api.cloudflare.com"),
                entry("dash.cloudflare.com"),
                entry("console.cloud.vmware.com"),
            ]
        );
        assert!(policy.allowed_cidrs.is_empty() && policy.denied_cidrs.is_empty());
        assert!(!policy.allow_http);
        for ok in [
            "https://api.cloudflare.com/client/v4",
            "https://API.cloudflare.com./client/v4",
            "https://dash.cloudflare.com/oauth2/token",
            "https://console.cloud.vmware.com/csp/gateway",
            "https://api.cloudflare.com:443/",
        ] {
            assert_eq!(policy.check_url(&url(ok)), Ok(()), "{ok}");
        }
        for refused in [
            "http://api.cloudflare.com/client/v4",
            "https://evil.example/",
            "https://api.cloudflare.com.evil.example/",
            "https://x.api.cloudflare.com/",
            "https://api.cloudflare.com:8443/",
            "https://8.8.8.8/",
            "https://127.0.0.1/",
            "https://[::1]/",
            "ftp://api.cloudflare.com/",
        ] {
            assert!(policy.check_url(&url(refused)).is_err(), "{refused}");
        }
    }

    #[test]
    fn url_refusals_name_the_flag_and_never_the_userinfo() {
        let policy = UrlPolicy::default();
        let text = |u: &str| policy.check_url(&url(u)).unwrap_err().to_string();

        let http = text("http://api.cloudflare.com/");
        assert!(
            http.contains("\"http\"") && http.contains(FLAG_ALLOW_HTTP),
            "{http}"
        );
        let ftp = text("ftp://api.cloudflare.com/");
        assert!(
            ftp.contains("use https") && !ftp.contains(FLAG_ALLOW_HTTP),
            "{ftp}"
        );

        let userinfo = text("https://admin:hunter2@api.cloudflare.com/");
        assert!(userinfo.contains("user name or password"), "{userinfo}");
        assert!(!userinfo.contains("hunter2") && !userinfo.contains("admin:"));
        assert_eq!(
            policy.check_url(&url("https://user@api.cloudflare.com/")),
            Err(Refusal::Userinfo)
        );

        let host = text("https://Hydra.Evil.example./admin?token=x");
        assert_eq!(
            host,
            format!(
                "host hydra.evil.example is not on the namespaced-provider host allow-list; \
                 an administrator can add it with {FLAG_HOSTS}"
            )
        );
        assert!(!host.contains("token"));

        let literal = text("https://10.0.0.5/");
        assert_eq!(
            literal,
            format!(
                "address 10.0.0.5 is not on the namespaced-provider host allow-list; an \
                 administrator can add it with {FLAG_HOSTS} or allow its range with {FLAG_CIDRS}"
            )
        );
        let long = text(&format!(
            "https://{}.example/",
            "a".repeat(60) + ".b".repeat(40).as_str()
        ));
        assert!(long.contains('…') && long.len() < 300, "{long}");
    }

    #[test]
    fn an_ip_literal_needs_an_allowance_and_a_permitted_address() {
        let mut policy = UrlPolicy::default();
        // Listed as a host, but the address rule still refuses loopback.
        policy.allowed_hosts.push(entry("127.0.0.1:8443"));
        assert!(matches!(
            policy.check_url(&url("https://127.0.0.1:8443/")),
            Err(Refusal::Address { .. })
        ));
        // A public literal listed as a host passes.
        policy.allowed_hosts.push(entry("[2606:4700::1]"));
        assert_eq!(policy.check_url(&url("https://[2606:4700::1]/")), Ok(()));
        // Inside an allowed range, no host entry is needed.
        policy.allowed_cidrs = parse_cidrs("10.20.0.0/16").unwrap();
        assert_eq!(policy.check_url(&url("https://10.20.3.4/")), Ok(()));
        // ... on the scheme's default port only.
        assert!(matches!(
            policy.check_url(&url("https://10.20.3.4:4445/")),
            Err(Refusal::Port { port: 4445, .. })
        ));
        assert!(matches!(
            policy.check_url(&url("https://10.21.3.4/")),
            Err(Refusal::IpLiteral { .. })
        ));
        // The WHATWG parser's other spellings of an address are addresses too.
        assert!(policy.check_url(&url("https://0x7f000001/")).is_err());
        assert!(policy.check_url(&url("https://2130706433/")).is_err());
        assert!(
            policy
                .check_url(&url("https://[::ffff:127.0.0.1]/"))
                .is_err()
        );
    }

    #[test]
    fn host_entries_carry_their_ports() {
        assert_eq!(entry("hydra.example.com").port, PortRule::Default);
        assert_eq!(entry("hydra.example.com:8443").port, PortRule::Port(8443));
        assert_eq!(entry("*.corp.example:*").port, PortRule::Any);
        assert_eq!(
            entry("[fd00::5]:8443"),
            HostEntry {
                pattern: pattern("[fd00::5]"),
                port: PortRule::Port(8443)
            }
        );
        assert_eq!(
            entry("fd00::5").port,
            PortRule::Default,
            "a bare IPv6 address"
        );
        assert_eq!(entry("127.0.0.1:*").pattern, pattern("127.0.0.1"));
        for e in [
            "hydra.example.com:8443",
            "*.corp.example:*",
            "[fd00::5]:1",
            "a.example",
        ] {
            assert_eq!(entry(e).to_string(), e, "it prints as written");
        }
        for (junk, why) in [
            ("hydra.example.com:0", "1 to 65535"),
            ("hydra.example.com:65536", "1 to 65535"),
            ("hydra.example.com:+443", "1 to 65535"),
            ("hydra.example.com:", "1 to 65535"),
            ("[fd00::5]8443", "after the brackets"),
            ("[fd00::5", "closing"),
            ("https://hydra.example.com:4445", "without scheme"),
            ("a:b:c", "1 to 65535"),
            ("a:b:443", "has no port"),
        ] {
            let err = junk.parse::<HostEntry>().unwrap_err();
            assert!(err.contains(why), "{junk:?}: {err}");
        }
    }

    /// Issue 24: allowing `hydra.example.com` allowed its unauthenticated admin
    /// port 4445 too.
    #[test]
    fn a_host_is_allowed_on_443_only_unless_its_entry_names_the_port() {
        let policy = UrlPolicy {
            allowed_hosts: parse_host_patterns(
                "hydra.example.com,auth.example.com:8443,dev.example.com:*",
            )
            .unwrap(),
            ..UrlPolicy::default()
        };
        let check = |u: &str| policy.check_url(&url(u));
        assert_eq!(check("https://hydra.example.com/"), Ok(()));
        assert_eq!(check("https://hydra.example.com:443/"), Ok(()));
        let refused = check("https://hydra.example.com:4445/admin").unwrap_err();
        assert_eq!(
            refused,
            Refusal::Port {
                host: "hydra.example.com".into(),
                port: 4445
            }
        );
        let text = refused.to_string();
        assert!(
            text.contains(FLAG_HOSTS) && text.contains("hydra.example.com:4445"),
            "the fix is named: {text}"
        );
        assert_eq!(check("https://auth.example.com:8443/"), Ok(()));
        assert!(check("https://auth.example.com/").is_err(), "8443 only");
        assert_eq!(check("https://dev.example.com:9999/"), Ok(()));
        // An unlisted host is still refused as a host, whatever its port.
        assert!(matches!(
            check("https://other.example.com:8443/"),
            Err(Refusal::Host { .. })
        ));
        // http's default is 80: a bare entry admits it only when http is allowed.
        let mut http = policy.clone();
        http.allow_http = true;
        assert_eq!(http.check_url(&url("http://hydra.example.com/")), Ok(()));
        assert!(
            http.check_url(&url("http://hydra.example.com:443/"))
                .is_err()
        );
    }

    #[test]
    fn http_is_accepted_only_when_allowed() {
        let mut policy = UrlPolicy::default();
        assert!(matches!(
            policy.check_url(&url("http://api.cloudflare.com/")),
            Err(Refusal::Scheme { .. })
        ));
        policy.allow_http = true;
        assert_eq!(policy.check_url(&url("http://api.cloudflare.com/")), Ok(()));
        assert!(policy.check_url(&url("ftp://api.cloudflare.com/")).is_err());
        assert!(policy.check_url(&url("file:///etc/passwd")).is_err());
    }

    /// Every built-in range, at its first and last address, plus a neighbour
    /// outside it that is allowed.
    #[test]
    fn every_special_range_is_refused() {
        let policy = UrlPolicy::default();
        for (inside, class) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "\"this network\""),
            ("0.255.255.255", "\"this network\""),
            ("10.0.0.0", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.0", "shared (CGNAT)"),
            ("100.127.255.255", "shared (CGNAT)"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.0", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.0", "IETF protocol assignment"),
            ("192.0.0.255", "IETF protocol assignment"),
            ("192.0.2.1", "documentation"),
            ("192.88.99.1", "6to4 relay anycast"),
            ("192.168.0.1", "private"),
            ("192.168.255.255", "private"),
            ("198.18.0.0", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.255", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard-only"),
            ("2001::1", "Teredo"),
            ("2001:2::1", "benchmarking"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("fc00::1", "unique-local"),
            ("fdff:ffff::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            match policy.check_addr(ip(inside)) {
                Err(Refusal::Address {
                    reason:
                        AddrReason::Special {
                            class: c,
                            form: None,
                            ..
                        },
                    ..
                }) => assert_eq!(c, class, "{inside}"),
                other => panic!("{inside}: {other:?}"),
            }
        }
        for outside in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::6810:84e5",
            "2001:4860:4860::8888",
            "fbff::1",
            "2002:0808:0808::1",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(policy.check_addr(ip(outside)), Ok(()), "{outside}");
        }
    }

    #[test]
    fn ipv6_forms_of_refused_ipv4_addresses_are_refused() {
        let policy = UrlPolicy {
            denied_cidrs: parse_cidrs("10.96.0.0/12").unwrap(),
            ..UrlPolicy::default()
        };
        for (addr, form, class) in [
            ("::ffff:127.0.0.1", "IPv4-mapped", Some("loopback")),
            ("::ffff:169.254.169.254", "IPv4-mapped", Some("link-local")),
            ("::ffff:a9fe:a9fe", "IPv4-mapped", Some("link-local")),
            ("::127.0.0.1", "IPv4-compatible", Some("loopback")),
            ("::10.1.2.3", "IPv4-compatible", Some("private")),
            ("64:ff9b::127.0.0.1", "NAT64", Some("loopback")),
            ("64:ff9b::192.168.1.1", "NAT64", Some("private")),
            ("2002:7f00:1::", "6to4", Some("loopback")),
            ("2002:a9fe:a9fe::1", "6to4", Some("link-local")),
            ("::ffff:10.96.0.1", "IPv4-mapped", None),
            ("64:ff9b::10.96.0.10", "NAT64", None),
        ] {
            let refusal = policy.check_addr(ip(addr)).unwrap_err();
            match (&refusal, class) {
                (
                    Refusal::Address {
                        reason:
                            AddrReason::Special {
                                class: c,
                                form: Some(f),
                                ..
                            },
                        ..
                    },
                    Some(class),
                ) => assert_eq!((*f, *c), (form, class), "{addr}"),
                (
                    Refusal::Address {
                        reason: AddrReason::Denied { form: Some(f) },
                        ..
                    },
                    None,
                ) => assert_eq!(*f, form, "{addr}"),
                other => panic!("{addr}: {other:?}"),
            }
            assert!(refusal.to_string().contains(&format!("the {form} form of")));
        }
    }

    #[test]
    fn cluster_ranges_are_refused_and_allowed_ranges_win_by_longest_prefix() {
        let policy = UrlPolicy {
            allowed_cidrs: parse_cidrs("10.0.0.0/8,10.96.5.7/32,127.0.0.0/8,fd00::/8").unwrap(),
            denied_cidrs: parse_cidrs("10.96.0.0/12,10.244.0.0/16,8.8.0.0/16,fd00:10::/108")
                .unwrap(),
            ..UrlPolicy::default()
        };
        // An allowed range overrides the built-in rules.
        assert_eq!(policy.check_addr(ip("10.1.2.3")), Ok(()));
        assert_eq!(policy.check_addr(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check_addr(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check_addr(ip("fd12::1")), Ok(()));
        // A narrower denied range inside an allowed one refuses.
        assert!(matches!(
            policy.check_addr(ip("10.96.0.1")),
            Err(Refusal::Address {
                reason: AddrReason::Denied { form: None },
                ..
            })
        ));
        assert!(policy.check_addr(ip("10.244.1.1")).is_err());
        assert!(policy.check_addr(ip("fd00:10::1")).is_err());
        // A narrower allowed range inside the denied one allows.
        assert_eq!(policy.check_addr(ip("10.96.5.7")), Ok(()));
        // Denied ranges refuse otherwise-public addresses.
        assert!(policy.check_addr(ip("8.8.8.8")).is_err());
        assert_eq!(policy.check_addr(ip("8.9.8.8")), Ok(()));
        // A tie refuses.
        let tie = UrlPolicy {
            allowed_cidrs: parse_cidrs("10.96.0.0/12").unwrap(),
            denied_cidrs: parse_cidrs("10.96.0.0/12").unwrap(),
            ..UrlPolicy::default()
        };
        assert!(tie.check_addr(ip("10.96.0.1")).is_err());
    }

    #[test]
    fn address_refusals_name_the_range_and_the_flag() {
        let policy = UrlPolicy {
            denied_cidrs: parse_cidrs("10.96.0.0/12").unwrap(),
            ..UrlPolicy::default()
        };
        assert_eq!(
            policy
                .check_addr(ip("169.254.169.254"))
                .unwrap_err()
                .to_string(),
            format!(
                "address 169.254.169.254 is a link-local address (169.254.0.0/16), which a \
                 namespaced OAuthProvider may not reach; an administrator can allow a range \
                 with {FLAG_CIDRS} (trusted addresses only)"
            )
        );
        assert_eq!(
            policy
                .check_addr(ip("::ffff:127.0.0.1"))
                .unwrap_err()
                .to_string(),
            format!(
                "address ::ffff:127.0.0.1 is the IPv4-mapped form of a loopback address \
                 (127.0.0.0/8), which a namespaced OAuthProvider may not reach; an \
                 administrator can allow a range with {FLAG_CIDRS} (trusted addresses only)"
            )
        );
        assert_eq!(
            policy.check_addr(ip("10.96.0.1")).unwrap_err().to_string(),
            format!(
                "address 10.96.0.1 is an address in a cluster range the administrator refused \
                 ({FLAG_CLUSTER_CIDRS}), which a namespaced OAuthProvider may not reach; an \
                 administrator can allow a narrower range inside it with {FLAG_CIDRS}"
            )
        );
        let resolved = Refusal::Resolved {
            host: "localhost".into(),
            reason: policy.addr_reason(ip("127.0.0.1")).unwrap(),
        };
        let text = resolved.to_string();
        assert!(
            text.starts_with(
                "host localhost resolves only to addresses a namespaced OAuthProvider may not \
                 reach;"
            ) && text.contains(FLAG_CIDRS)
                && !text.contains("127.0.0.1")
                && !text.contains("loopback"),
            "{text}"
        );
    }

    #[test]
    fn a_refusal_becomes_a_config_error_and_is_found_in_a_chain() {
        let refusal = Refusal::NoHost;
        let error: ProviderError = refusal.clone().into();
        assert_eq!(error.kind(), "config");
        assert!(!error.is_retryable());
        assert!(error.to_string().contains("the URL has no host"));

        let wrapped = ResolveError::Refused(refusal.clone());
        assert_eq!(refusal_in(&wrapped), Some(&refusal));
        assert_eq!(refusal_in(&refusal), Some(&refusal));
        let unrelated = std::io::Error::other("no");
        assert_eq!(refusal_in(&unrelated), None);
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_off_the_list_without_a_lookup() {
        let resolver = GuardedResolver::new(Arc::new(UrlPolicy::default()));
        // `.invalid` never resolves: a lookup would fail with Lookup, not Refused.
        match resolver.resolve_allowed("hydra.invalid").await {
            Err(ResolveError::Refused(Refusal::Host { host })) => {
                assert_eq!(host, "hydra.invalid")
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let mut policy = UrlPolicy::default();
        policy.allowed_hosts.push(entry("localhost"));
        let resolver = GuardedResolver::new(Arc::new(policy.clone()));
        match resolver.resolve_allowed("localhost").await {
            Err(ResolveError::Refused(Refusal::Resolved { host, reason })) => {
                assert_eq!(host, "localhost");
                assert!(matches!(
                    reason,
                    AddrReason::Special {
                        class: "loopback",
                        ..
                    }
                ));
            }
            other => panic!("{other:?}"),
        }
        policy.allowed_cidrs = parse_cidrs("127.0.0.0/8").unwrap();
        let resolver = GuardedResolver::new(Arc::new(policy));
        let addrs = resolver.resolve_allowed("LOCALHOST").await.unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip() == ip("127.0.0.1")), "{addrs:?}");
    }

    #[test]
    fn the_flags_parse_into_the_policy() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            policy: UrlPolicyArgs,
        }
        let defaults = Cli::try_parse_from(["clientops"]).unwrap().policy.policy();
        assert_eq!(defaults, UrlPolicy::default());

        let set = Cli::try_parse_from([
            "clientops",
            "--namespaced-provider-hosts=*.corp.example,hydra.example.com",
            "--namespaced-provider-cidrs=10.20.0.0/16",
            "--cluster-cidrs",
            "10.96.0.0/12,10.244.0.0/16",
            "--namespaced-provider-allow-http",
        ])
        .unwrap()
        .policy
        .policy();
        assert_eq!(
            set,
            UrlPolicy {
                allowed_hosts: vec![entry("*.corp.example"), entry("hydra.example.com")],
                allowed_cidrs: parse_cidrs("10.20.0.0/16").unwrap(),
                denied_cidrs: parse_cidrs("10.96.0.0/12,10.244.0.0/16").unwrap(),
                allow_http: true,
            }
        );
        let none = Cli::try_parse_from(["clientops", "--namespaced-provider-hosts="])
            .unwrap()
            .policy
            .policy();
        assert!(none.allowed_hosts.is_empty());

        let err = Cli::try_parse_from(["clientops", "--namespaced-provider-hosts=*.com"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("top-level"), "{err}");
        let err = Cli::try_parse_from(["clientops", "--cluster-cidrs=10.96.0.1/12"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("host bits"), "{err}");
    }
}
