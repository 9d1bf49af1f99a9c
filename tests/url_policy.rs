//! Issue 16, the confused deputy: a namespaced OAuthProvider's URL that the policy
//! refuses gets no connection at all, over real sockets.
//!
//! A trap listener on 127.0.0.1 counts the connections it accepts (and answers
//! each with 204). Each case builds the guarded client for a policy and requests a
//! URL the way a provider client does: `check_url` first, then the request through
//! the client whose resolver applies the policy. Refused: the trap counts no
//! connection. Allowed (loopback allowed by `allowed_cidrs`): it counts one per
//! request. Nothing but the trap on loopback is ever dialled.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use clientops::provider::http::HttpOptions;
use clientops::provider::url_policy::{
    HostEntry, Refusal, UrlPolicy, build_guarded_client, parse_cidrs, parse_host_patterns,
    refusal_in,
};

/// A listener on 127.0.0.1 that counts accepted connections.
struct Trap {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Trap {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf).await;
                    let _ = stream
                        .write_all(
                            b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                        )
                        .await;
                });
            }
        });
        Self { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// What became of one request.
#[derive(Debug)]
enum Outcome {
    /// `check_url` refused it.
    UrlRefused(Refusal),
    /// The client refused it (the guarded resolver).
    ClientRefused(Refusal),
    /// It failed otherwise (the text shows in assertion messages).
    Failed(#[allow(dead_code)] String),
    /// A response with this status came back.
    Status(u16),
}

/// Request `url` as a namespaced provider's client does.
async fn request(policy: UrlPolicy, url: &str) -> Outcome {
    let url = Url::parse(url).unwrap();
    if let Err(refusal) = policy.check_url(&url) {
        return Outcome::UrlRefused(refusal);
    }
    let client = build_guarded_client(&HttpOptions::default(), Arc::new(policy)).unwrap();
    match client.get(url).send().await {
        Ok(response) => Outcome::Status(response.status().as_u16()),
        Err(e) => match refusal_in(&e) {
            Some(refusal) => Outcome::ClientRefused(refusal.clone()),
            None => Outcome::Failed(format!("{e:?}")),
        },
    }
}

fn with_localhost(mut policy: UrlPolicy) -> UrlPolicy {
    policy
        .allowed_hosts
        .push("localhost:*".parse::<HostEntry>().unwrap());
    policy
}

#[tokio::test]
async fn the_default_policy_refuses_a_loopback_literal_without_connecting() {
    let trap = Trap::start().await;
    let url = format!("http://127.0.0.1:{}/", trap.port);

    let outcome = request(UrlPolicy::default(), &url).await;
    assert!(
        matches!(&outcome, Outcome::UrlRefused(Refusal::Scheme { .. })),
        "{outcome:?}"
    );
    // With http allowed, the address itself is refused.
    let http_allowed = UrlPolicy {
        allow_http: true,
        ..UrlPolicy::default()
    };
    let outcome = request(http_allowed, &url).await;
    assert!(
        matches!(&outcome, Outcome::UrlRefused(Refusal::IpLiteral { .. })),
        "{outcome:?}"
    );
    // Listed as a host, the loopback range still refuses it.
    let mut listed = UrlPolicy {
        allow_http: true,
        ..UrlPolicy::default()
    };
    listed.allowed_hosts.push("127.0.0.1:*".parse().unwrap());
    let outcome = request(listed, &url).await;
    match &outcome {
        Outcome::UrlRefused(refusal @ Refusal::Address { .. }) => {
            let text = refusal.to_string();
            assert!(
                text.contains("loopback") && text.contains("--namespaced-provider-cidrs"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(trap.accepted(), 0);
}

#[tokio::test]
async fn an_allowed_name_that_resolves_to_loopback_gets_no_connection() {
    let trap = Trap::start().await;

    // `localhost` is on the host list, the loopback range is not allowed: the
    // URL passes, and the resolver refuses every address of the name.
    let https = format!("https://localhost:{}/", trap.port);
    let outcome = request(with_localhost(UrlPolicy::default()), &https).await;
    match &outcome {
        Outcome::ClientRefused(refusal @ Refusal::Resolved { host, reason }) => {
            assert_eq!(host, "localhost");
            // The reason is kept for the operator's log; the text a tenant reads
            // tells neither the address nor its kind.
            assert!(reason.to_string().contains("loopback"), "{reason}");
            let text = refusal.to_string();
            assert!(
                !text.contains("loopback") && !text.contains("127.0.0.1"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    let http = format!("http://localhost:{}/", trap.port);
    let http_allowed = with_localhost(UrlPolicy {
        allow_http: true,
        ..UrlPolicy::default()
    });
    let outcome = request(http_allowed, &http).await;
    assert!(
        matches!(&outcome, Outcome::ClientRefused(Refusal::Resolved { .. })),
        "{outcome:?}"
    );
    // A cluster range named in denied_cidrs beats a wider allowed range.
    let denied = with_localhost(UrlPolicy {
        allow_http: true,
        allowed_cidrs: parse_cidrs("127.0.0.0/8").unwrap(),
        denied_cidrs: parse_cidrs("127.0.0.0/16").unwrap(),
        ..UrlPolicy::default()
    });
    let outcome = request(denied, &http).await;
    assert!(
        matches!(&outcome, Outcome::ClientRefused(Refusal::Resolved { .. })),
        "{outcome:?}"
    );
    // A name off the list is refused before any lookup.
    let outcome = request(
        UrlPolicy::default(),
        &format!("https://localhost:{}/", trap.port),
    )
    .await;
    assert!(
        matches!(&outcome, Outcome::UrlRefused(Refusal::Host { .. })),
        "{outcome:?}"
    );
    assert_eq!(trap.accepted(), 0);
}

#[tokio::test]
async fn the_client_refuses_a_name_off_the_list_even_unchecked() {
    let trap = Trap::start().await;
    // No check_url here: the resolver alone refuses the name, before a lookup.
    let client = build_guarded_client(
        &HttpOptions::default(),
        Arc::new(UrlPolicy {
            allow_http: true,
            allowed_cidrs: parse_cidrs("127.0.0.0/8").unwrap(),
            ..UrlPolicy::default()
        }),
    )
    .unwrap();
    let error = client
        .get(format!("http://localhost:{}/", trap.port))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(refusal_in(&error), Some(Refusal::Host { .. })),
        "{error:?}"
    );
    // A connect error: the executor counts it as "nothing was sent".
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(trap.accepted(), 0);
}

#[tokio::test]
async fn an_allowed_loopback_range_is_reached() {
    let trap = Trap::start().await;
    let allowed = UrlPolicy {
        allow_http: true,
        allowed_cidrs: parse_cidrs("127.0.0.0/8").unwrap(),
        ..UrlPolicy::default()
    };

    let literal = format!("http://127.0.0.1:{}/", trap.port);
    let mut any_port = allowed.clone();
    any_port.allowed_hosts = parse_host_patterns("127.0.0.1:*").unwrap();
    let outcome = request(any_port, &literal).await;
    assert!(matches!(outcome, Outcome::Status(204)), "{outcome:?}");
    assert_eq!(trap.accepted(), 1);

    let name = format!("http://localhost:{}/", trap.port);
    let outcome = request(with_localhost(allowed), &name).await;
    assert!(matches!(outcome, Outcome::Status(204)), "{outcome:?}");
    assert_eq!(trap.accepted(), 2);
}

/// Issue 24: with `127.0.0.1` (and its range) allowed, a tenant's provider at
/// another port of that host got connections. An entry admits its own port only
/// (the scheme's default when it names none).
#[tokio::test]
async fn an_allowed_host_at_another_port_gets_no_connection() {
    let allowed_port = Trap::start().await;
    let trap = Trap::start().await;
    let policy = UrlPolicy {
        allow_http: true,
        allowed_hosts: parse_host_patterns(&format!("localhost,127.0.0.1:{}", allowed_port.port))
            .unwrap(),
        allowed_cidrs: parse_cidrs("127.0.0.0/8").unwrap(),
        ..UrlPolicy::default()
    };
    for url in [
        format!("http://127.0.0.1:{}/", trap.port),
        format!("http://localhost:{}/", trap.port),
    ] {
        match request(policy.clone(), &url).await {
            Outcome::UrlRefused(refusal @ Refusal::Port { .. }) => {
                let text = refusal.to_string();
                assert!(
                    text.contains(&format!(":{}", trap.port))
                        && text.contains("--namespaced-provider-hosts"),
                    "the refusal names the flag and the entry to add: {text}"
                );
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    assert_eq!(trap.accepted(), 0, "the other port was never dialled");
    // The port the entry names is reached (the check can pass).
    let outcome = request(policy, &format!("http://127.0.0.1:{}/", allowed_port.port)).await;
    assert!(matches!(outcome, Outcome::Status(204)), "{outcome:?}");
    assert_eq!(allowed_port.accepted(), 1);
}

/// Issue 24: names are looked up fully qualified (a trailing dot, so the pod's
/// search list is never tried), while TLS SNI and the Host header keep the name
/// as written. A lookup that answers loopback stands in for DNS: nothing but
/// loopback is on the wire.
#[tokio::test]
async fn a_name_is_looked_up_with_a_trailing_dot_but_sent_without_it() {
    use clientops::provider::dns::FullyQualifiedResolver;
    use clientops::provider::http::client_builder;
    use std::sync::Mutex;

    let asked = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = asked.clone();
    let resolver = FullyQualifiedResolver::with_lookup(Arc::new(move |name: String| {
        seen.lock().unwrap().push(name);
        futures::FutureExt::boxed(async {
            Ok::<_, std::io::Error>(vec![std::net::SocketAddr::from(([127, 0, 0, 1], 0))])
        })
    }));
    let options = HttpOptions {
        insecure_skip_tls_verify: true,
        ..HttpOptions::default()
    };

    // Host: a plain HTTP listener that keeps the request head.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let head = Arc::new(Mutex::new(String::new()));
    let kept = head.clone();
    tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            *kept.lock().unwrap() = String::from_utf8_lossy(&buf[..n]).into_owned();
            let _ = stream
                .write_all(
                    b"HTTP/1.1 204 No Content\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
                )
                .await;
        }
    });
    let client = client_builder(&options)
        .dns_resolver(resolver.clone())
        .build()
        .unwrap();
    let r = client
        .get(format!("http://provider.example.test:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let head = head.lock().unwrap().to_ascii_lowercase();
    assert!(
        head.contains(&format!("\r\nhost: provider.example.test:{port}\r\n")),
        "Host as written: {head}"
    );

    // SNI: the ClientHello read on loopback (no certificate needed to read it).
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sni = Arc::new(Mutex::new(None::<String>));
    let kept = sni.clone();
    let server = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let acceptor =
            tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), stream);
        if let Ok(start) = acceptor.await {
            *kept.lock().unwrap() = start.client_hello().server_name().map(String::from);
        }
    });
    let client = client_builder(&options)
        .dns_resolver(resolver)
        .build()
        .unwrap();
    // The handshake cannot finish (the server only reads the hello).
    let _ = client
        .get(format!("https://provider.example.test:{port}/"))
        .send()
        .await;
    server.await.unwrap();
    assert_eq!(
        sni.lock().unwrap().as_deref(),
        Some("provider.example.test"),
        "SNI as written"
    );
    assert_eq!(
        *asked.lock().unwrap(),
        ["provider.example.test.", "provider.example.test."],
        "looked up fully qualified"
    );
}
