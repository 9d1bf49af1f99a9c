//! How a provider's host name is resolved: as a fully qualified name.
//!
//! A pod's `/etc/resolv.conf` has `options ndots:5` and the cluster's search list
//! (`<ns>.svc.cluster.local svc.cluster.local cluster.local ...`). A name with
//! fewer than five dots, `api.cloudflare.com` among them, is first tried with each
//! search suffix: `api.cloudflare.com.clientops-system.svc.cluster.local` and so
//! on, before the name as written. That costs a round of queries per lookup, and it
//! hands the answer to whatever cluster-internal (or search-domain) name matches
//! first. So every provider name is handed to the system resolver with a trailing
//! dot ([`fully_qualified`]): the search list is never tried.
//!
//! Only the lookup sees the dot. The URL is not rewritten, so TLS SNI, the
//! certificate's name check and the `Host` header use the name as written
//! (`tests/url_policy.rs` shows both on loopback).
//!
//! Exceptions: IP literals (never looked up) and `localhost` and the names below
//! it (RFC 6761 loopback names, answered from `/etc/hosts`, where glibc does not
//! find them with a trailing dot). A name that means something only with the
//! search list (`hydra`, `hydra.auth.svc`) must be written in full
//! (`hydra.auth.svc.cluster.local`).

use std::borrow::Cow;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

/// The name to hand the system resolver for the host `host` of a provider URL.
pub fn fully_qualified(host: &str) -> Cow<'_, str> {
    let lower = host.to_ascii_lowercase();
    let loopback_name = lower == "localhost" || lower.ends_with(".localhost");
    if host.ends_with('.') || loopback_name || host.parse::<IpAddr>().is_ok() {
        Cow::Borrowed(host)
    } else {
        Cow::Owned(format!("{host}."))
    }
}

/// A lookup of one (already fully qualified) name; port 0 in the answers.
pub type Lookup =
    Arc<dyn Fn(String) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// The system resolver (`getaddrinfo`, with `/etc/hosts`).
pub fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            Ok::<_, io::Error>(addrs)
        }
        .boxed()
    })
}

/// A resolver for reqwest that looks every name up fully qualified.
#[derive(Clone)]
pub struct FullyQualifiedResolver {
    lookup: Lookup,
}

impl Default for FullyQualifiedResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FullyQualifiedResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FullyQualifiedResolver")
    }
}

impl FullyQualifiedResolver {
    /// Over the system resolver.
    pub fn new() -> Self {
        Self::with_lookup(system_lookup())
    }

    /// Over another lookup (tests give one that answers loopback).
    pub fn with_lookup(lookup: Lookup) -> Self {
        Self { lookup }
    }

    /// The addresses of `host` (port 0: reqwest puts the URL's port in).
    pub async fn resolve(&self, host: &str) -> io::Result<Vec<SocketAddr>> {
        (self.lookup)(fully_qualified(host).into_owned()).await
    }
}

impl reqwest::dns::Resolve for FullyQualifiedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = this.resolve(&host).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn provider_names_are_looked_up_fully_qualified() {
        for (host, looked_up) in [
            // Fewer than ndots:5 dots: without the dot, the search list comes first.
            ("api.cloudflare.com", "api.cloudflare.com."),
            ("console.cloud.vmware.com", "console.cloud.vmware.com."),
            ("a.b.c.d.e.f.example", "a.b.c.d.e.f.example."),
            // A single label is not completed from the search list either.
            ("hydra", "hydra."),
            ("hydra.auth.svc", "hydra.auth.svc."),
            // Already fully qualified: as is.
            ("api.cloudflare.com.", "api.cloudflare.com."),
            // Loopback names come from /etc/hosts, which has them without the dot.
            ("localhost", "localhost"),
            ("LocalHost", "LocalHost"),
            ("app.localhost", "app.localhost"),
            // Addresses are never looked up; were one handed over, it stays one.
            ("127.0.0.1", "127.0.0.1"),
            ("::1", "::1"),
        ] {
            assert_eq!(fully_qualified(host), looked_up, "{host}");
        }
        // Not fooled by a name that merely contains "localhost".
        assert_eq!(
            fully_qualified("localhost.evil.example"),
            "localhost.evil.example."
        );
        assert_eq!(fully_qualified("notlocalhost"), "notlocalhost.");
    }

    #[tokio::test]
    async fn the_resolver_hands_the_lookup_the_fully_qualified_name() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let seen = asked.clone();
        let resolver = FullyQualifiedResolver::with_lookup(Arc::new(move |name: String| {
            seen.lock().unwrap().push(name);
            async { Ok::<_, io::Error>(vec![SocketAddr::from(([127, 0, 0, 1], 0))]) }.boxed()
        }));
        let got = resolver.resolve("api.cloudflare.com").await.unwrap();
        assert_eq!(got, [SocketAddr::from(([127, 0, 0, 1], 0))]);
        resolver.resolve("localhost").await.unwrap();
        assert_eq!(*asked.lock().unwrap(), ["api.cloudflare.com.", "localhost"]);
    }
}
