//! Issue 9, bad and hostile input: one table, one row per hostile case, each
//! `(name, setup, expected outcome)`, run by one driver that prints a line per row.
//!
//! Everything is real: the test apiserver (CEL admission, garbage collector), the
//! `clientops run` controller process, the Cloudflare emulator process, and, for
//! what a provider must never be trusted to do, small hostile servers inside this
//! test (plain HTTP via axum, and a TLS front with a self-signed certificate via
//! tokio-rustls) reached over real sockets. Every row is driven through the
//! controller; the credentials rows are first refused by the apiserver.
//!
//! Three namespaces, each with its own controller: `main` and `insecure` are
//! scenarios (`tests/support/scenario.rs`: an emulator, a ClusterOAuthProvider, a
//! controller whose operator namespace is its own); `main`'s controller verifies
//! TLS as shipped, `insecure`'s runs with `--insecure-skip-tls-verify` (a
//! process-wide flag, hence its own controller); `tenant`'s controller has `main`
//! as its operator namespace, so that a ClusterOAuthProvider without
//! namespaceSelector must refuse it. The rows run concurrently; each uses its own
//! objects, names and hostile server.
//!
//! Every row can fail: `HOSTILE_INPUT_SELF_CHECK=1` runs each row's benign twin
//! (the same row with the hostile part taken out: a selector that admits, the
//! operator's own namespace, a ref without a namespace, a foreign Secret that is
//! deleted before the client comes, a body under the cap, a shallow body, a server
//! that answers instead of redirecting, plain HTTP, a verifying controller, a
//! plain `.env` template)
//! against the same expectations, and passes only if every row then fails; it
//! prints how many of each row's assertions caught the twin.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::Response;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use clientops::api::OAuthClient;
use clientops::provider::http::DEFAULT_MAX_LIST_BODY_BYTES;
use support::scenario::{ACCOUNT, CSP_ORG, Scenario, condition, is_ready};

/// How long a row waits for the condition it expects.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long "nothing happens" is watched for (a little over two 3 s resyncs of
/// the test controllers, so a late write or create would be seen).
const QUIET_PERIOD: Duration = Duration::from_secs(7);

// ---------------------------------------------------------------------------
// The table.

/// One hostile case.
struct Row {
    /// Also the name of the OAuthClient (and provider) the row creates.
    name: &'static str,
    /// How the row reaches the code under test.
    driver: &'static str,
    setup: Setup,
    expect: Expect,
    /// What must also hold afterwards.
    checks: Vec<Check>,
}

#[derive(Clone, Copy, Debug)]
enum Setup {
    /// A ClusterOAuthProvider whose namespaceSelector does not admit the client's
    /// namespace; an OAuthClient that names it.
    UnadmittedNamespace,
    /// A ClusterOAuthProvider without namespaceSelector; an OAuthClient naming it in
    /// a namespace that is not the operator's.
    NoSelectorOtherNamespace,
    /// A namespaced OAuthProvider whose credentials ref names another namespace
    /// (one holding a valid token); an OAuthClient that names it.
    CrossNamespaceCredentials(CredentialsRef),
    /// A Secret that clientops does not own already sits at `spec.secret.name`.
    ForeignSecret(Foreign),
    /// An OAuthProvider whose base URL is a hostile HTTP server in this mode.
    HostileProvider(Mode),
    /// An OAuthProvider whose base URL is `https://` in front of the emulator with a
    /// self-signed certificate; `insecure_flag`: in the namespace whose controller
    /// runs with `--insecure-skip-tls-verify`.
    SelfSignedTls { insecure_flag: bool },
    /// An OAuthClient whose `spec.secret.template` is hostile (issue 19).
    HostileTemplate(TemplateAttack),
}

/// A template that tries to exhaust or escape the template engine.
#[derive(Clone, Copy, Debug)]
enum TemplateAttack {
    /// Renders far more than one key may hold.
    HugeOutput,
    /// Nests expressions a thousand deep.
    DeepNesting,
    /// Tries to read a file through `include`.
    ReadsAFile,
}

impl TemplateAttack {
    fn source(self) -> String {
        match self {
            TemplateAttack::HugeOutput => {
                "{% for i in range(2000) %}{{ clientSecret }}{{ clientSecret }}{% endfor %}".into()
            }
            TemplateAttack::DeepNesting => {
                format!("{{{{ {}clientId{} }}}}", "(".repeat(1000), ")".repeat(1000))
            }
            TemplateAttack::ReadsAFile => "{% include '/etc/passwd' %}".into(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum CredentialsRef {
    CloudflareToken,
    CloudflareApiKey,
    VmwareCsp,
}

#[derive(Clone, Copy, Debug)]
enum Foreign {
    /// Somebody's Secret, no owner.
    Plain,
    /// Forged to look like ours: clientops' label and annotation, no ownerReference.
    ForgedLabel,
    /// Controlled by another object (a ConfigMap).
    ControlledByOther,
}

/// What a hostile server does with every API call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// 200, a JSON envelope 1 MiB over the LIST body cap, with Content-Length.
    HugeDeclared,
    /// The same, chunked (no Content-Length), so the cap is hit while reading.
    HugeChunked,
    /// 200, `result` nested 100,000 arrays deep.
    DeeplyNested,
    /// 307 to `/target/...` on the same server.
    Redirect,
    // Benign twins (HOSTILE_INPUT_SELF_CHECK).
    /// 1 MiB, with Content-Length.
    PaddedDeclared,
    /// 1 MiB, chunked.
    PaddedChunked,
    /// Nested 16 deep.
    Shallow,
    /// Answers as the redirect target would (as if the redirect had been followed).
    AsTarget,
}

impl Mode {
    fn benign(self) -> Mode {
        match self {
            Mode::HugeDeclared => Mode::PaddedDeclared,
            Mode::HugeChunked => Mode::PaddedChunked,
            Mode::DeeplyNested => Mode::Shallow,
            Mode::Redirect => Mode::AsTarget,
            m => m,
        }
    }
}

enum Expect {
    /// The apiserver refuses the provider object; its message has each fragment.
    Refused { message: Vec<String> },
    /// The OAuthClient settles at Ready=False with this reason, Stalled as given,
    /// the Ready message holding each fragment (case-insensitive).
    NotReady {
        reason: &'static str,
        stalled: bool,
        message: Vec<String>,
    },
    /// Ready=True at the current generation.
    Ready,
}

#[derive(Debug)]
enum Check {
    /// The emulator holds no client made for this OAuthClient.
    NoRemoteClient,
    /// The OAuthClient stays not Ready for the quiet period.
    StaysNotReady,
    /// The foreign Secret is byte-for-byte what it was (whole object, including
    /// resourceVersion), after the quiet period.
    ForeignSecretUntouched,
    /// The hostile server was called, and received at most one create over the
    /// quiet period: a create whose answer was unusable is resolved by listing,
    /// never blindly repeated.
    HostileCalledCreateNotRepeated,
    /// The redirect was answered and its target received no request.
    RedirectNotFollowed,
    /// A new OAuthClient on the emulator becomes Ready afterwards (the controller
    /// is up and still reconciles), and the controller log has no panic.
    OtherClientsReconcile,
    /// Connections reached the TLS front, and not one TLS session was established.
    NoTlsSession,
    /// At least one TLS session was established through the front.
    TlsSession,
    /// The Secret's credentials work at the emulator.
    CredentialsWork,
    /// A line of the row's controller log holds all of these.
    LogHas(&'static [&'static str]),
    /// No line of the row's controller log holds this.
    LogLacks(&'static str),
}

/// The rows; `ns` is the main namespace, `tenant` the tenant one.
fn table(ns: &str, tenant: &str) -> Vec<Row> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // Every call gets the same body: over the LIST cap (the larger one), so the
    // first call, the LIST, is refused and nothing is ever created.
    let over_cap = format!("larger than {DEFAULT_MAX_LIST_BODY_BYTES} bytes");
    let controller = "controller";
    let admission = "apiserver CEL, then controller";
    vec![
        Row {
            name: "unadmitted-namespace",
            driver: controller,
            setup: Setup::UnadmittedNamespace,
            expect: Expect::NotReady {
                reason: "ProviderNotAdmitted",
                stalled: true,
                message: vec![
                    format!("does not admit namespace \"{ns}\""),
                    "namespaceSelector does not match".into(),
                ],
            },
            checks: vec![Check::StaysNotReady, Check::NoRemoteClient],
        },
        Row {
            name: "no-selector-other-namespace",
            driver: "controller (operator namespace: main)",
            setup: Setup::NoSelectorOtherNamespace,
            expect: Expect::NotReady {
                reason: "ProviderNotAdmitted",
                stalled: true,
                message: vec![
                    format!("does not admit namespace \"{tenant}\""),
                    "it has no namespaceSelector".into(),
                ],
            },
            checks: vec![Check::StaysNotReady, Check::NoRemoteClient],
        },
        Row {
            name: "cross-ns-credentials-token",
            driver: admission,
            setup: Setup::CrossNamespaceCredentials(CredentialsRef::CloudflareToken),
            expect: Expect::Refused {
                message: s(&["spec.cloudflare.auth", "only from its own namespace"]),
            },
            checks: vec![Check::StaysNotReady, Check::NoRemoteClient],
        },
        Row {
            name: "cross-ns-credentials-apikey",
            driver: admission,
            setup: Setup::CrossNamespaceCredentials(CredentialsRef::CloudflareApiKey),
            expect: Expect::Refused {
                message: s(&["spec.cloudflare.auth", "only from its own namespace"]),
            },
            checks: vec![Check::StaysNotReady, Check::NoRemoteClient],
        },
        Row {
            name: "cross-ns-credentials-csp",
            driver: admission,
            setup: Setup::CrossNamespaceCredentials(CredentialsRef::VmwareCsp),
            expect: Expect::Refused {
                message: s(&[
                    "spec.vmwareCsp.auth.apiTokenSecretRef.namespace",
                    "only from its own namespace",
                ]),
            },
            checks: vec![Check::StaysNotReady, Check::NoRemoteClient],
        },
        Row {
            name: "foreign-secret",
            driver: controller,
            setup: Setup::ForeignSecret(Foreign::Plain),
            expect: secret_conflict(),
            checks: vec![Check::ForeignSecretUntouched, Check::NoRemoteClient],
        },
        Row {
            name: "foreign-secret-forged-label",
            driver: controller,
            setup: Setup::ForeignSecret(Foreign::ForgedLabel),
            expect: secret_conflict(),
            checks: vec![Check::ForeignSecretUntouched, Check::NoRemoteClient],
        },
        Row {
            name: "foreign-secret-other-controller",
            driver: controller,
            setup: Setup::ForeignSecret(Foreign::ControlledByOther),
            expect: secret_conflict(),
            checks: vec![Check::ForeignSecretUntouched, Check::NoRemoteClient],
        },
        Row {
            name: "huge-response-content-length",
            driver: controller,
            setup: Setup::HostileProvider(Mode::HugeDeclared),
            expect: Expect::NotReady {
                reason: "ProviderNotReady",
                stalled: false,
                message: vec![over_cap.clone()],
            },
            checks: vec![
                Check::OtherClientsReconcile,
                Check::HostileCalledCreateNotRepeated,
            ],
        },
        Row {
            name: "huge-response-chunked",
            driver: controller,
            setup: Setup::HostileProvider(Mode::HugeChunked),
            expect: Expect::NotReady {
                reason: "ProviderNotReady",
                stalled: false,
                message: vec![over_cap],
            },
            checks: vec![
                Check::OtherClientsReconcile,
                Check::HostileCalledCreateNotRepeated,
            ],
        },
        Row {
            name: "deeply-nested-response",
            driver: controller,
            setup: Setup::HostileProvider(Mode::DeeplyNested),
            expect: Expect::NotReady {
                reason: "ProviderNotReady",
                stalled: false,
                message: s(&["not valid JSON", "recursion limit exceeded"]),
            },
            checks: vec![
                Check::OtherClientsReconcile,
                Check::HostileCalledCreateNotRepeated,
            ],
        },
        Row {
            name: "redirect",
            driver: controller,
            setup: Setup::HostileProvider(Mode::Redirect),
            expect: Expect::NotReady {
                reason: "ProviderRedirects",
                stalled: true,
                // A namespaced provider: its Location is never shown (issue 16).
                message: s(&[
                    "HTTP status 307",
                    "redirects are not followed",
                    "Location is withheld",
                ]),
            },
            checks: vec![
                Check::OtherClientsReconcile,
                Check::HostileCalledCreateNotRepeated,
                Check::RedirectNotFollowed,
            ],
        },
        Row {
            name: "template-huge-output",
            driver: controller,
            setup: Setup::HostileTemplate(TemplateAttack::HugeOutput),
            expect: invalid_template(&["spec.secret.template[app.env]", "larger than 32 KiB"]),
            checks: template_checks(),
        },
        Row {
            name: "template-deep-nesting",
            driver: controller,
            setup: Setup::HostileTemplate(TemplateAttack::DeepNesting),
            expect: invalid_template(&[
                "spec.secret.template[app.env]: line 1, column",
                "maximum recursion",
            ]),
            checks: template_checks(),
        },
        Row {
            name: "template-reads-a-file",
            driver: controller,
            setup: Setup::HostileTemplate(TemplateAttack::ReadsAFile),
            expect: invalid_template(&[
                "spec.secret.template[app.env]: line 1, column 4",
                "cannot include",
                "read files",
            ]),
            checks: template_checks(),
        },
        Row {
            name: "self-signed-tls",
            driver: controller,
            setup: Setup::SelfSignedTls {
                insecure_flag: false,
            },
            expect: Expect::NotReady {
                reason: "ProviderTLSError",
                stalled: true,
                message: s(&["invalid peer certificate: UnknownIssuer"]),
            },
            checks: vec![
                Check::StaysNotReady,
                Check::NoTlsSession,
                Check::NoRemoteClient,
                Check::LogLacks("NOT verified"),
            ],
        },
        Row {
            name: "self-signed-tls-insecure-flag",
            driver: "controller with --insecure-skip-tls-verify",
            setup: Setup::SelfSignedTls {
                insecure_flag: true,
            },
            expect: Expect::Ready,
            checks: vec![
                Check::TlsSession,
                Check::CredentialsWork,
                Check::LogHas(&["WARN", "provider TLS certificates are NOT verified"]),
            ],
        },
    ]
}

/// A hostile template: Stalled before anything is made, the key and the cause named.
fn invalid_template(message: &[&str]) -> Expect {
    Expect::NotReady {
        reason: "InvalidTemplate",
        stalled: true,
        message: message.iter().map(|m| m.to_string()).collect(),
    }
}

fn template_checks() -> Vec<Check> {
    vec![
        Check::StaysNotReady,
        Check::NoRemoteClient,
        Check::OtherClientsReconcile,
    ]
}

/// Failures for a one-line report: each cut to 300 characters.
fn brief(failures: &[String]) -> String {
    failures
        .iter()
        .map(|f| match f.char_indices().nth(300) {
            Some((i, _)) => format!("{}…", &f[..i]),
            None => f.clone(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn secret_conflict() -> Expect {
    Expect::NotReady {
        reason: "SecretConflict",
        stalled: true,
        message: [
            "exists and is not owned by this OAuthClient",
            "spec.secret.name",
        ]
        .map(String::from)
        .to_vec(),
    }
}

// ---------------------------------------------------------------------------
// The driver.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_table() {
    let self_check = std::env::var_os("HOSTILE_INPUT_SELF_CHECK").is_some();
    let started = Instant::now();
    let mut world = World {
        main: Scenario::new("hostile", &[]).await,
        insecure: Scenario::with_controller_args(
            "hostile-insecure",
            &[],
            &["--insecure-skip-tls-verify"],
        )
        .await,
        tenant: TenantController::start("hostile-tenant").await,
        cluster_providers: ClusterCleanup::default(),
    };
    world.tenant.operator_namespace(&world.main.ns);
    let rows = table(&world.main.ns, &world.tenant.ns);
    eprintln!(
        "hostile input: {} rows{}; namespaces: main {}, insecure {}, tenant {}",
        rows.len(),
        if self_check {
            " as their benign twins (self-check: every row must fail)"
        } else {
            ""
        },
        world.main.ns,
        world.insecure.ns,
        world.tenant.ns,
    );
    let w = &world;
    let results = futures::future::join_all(rows.iter().map(|row| async move {
        let t = Instant::now();
        let result = run_row(w, row, self_check).await;
        let secs = t.elapsed().as_secs_f64();
        let asserts = 1 + row.checks.len();
        let line = match (&result, self_check) {
            (Ok(outcome), false) => format!("ok      {secs:5.1}s  {outcome}"),
            (Err(e), false) => format!("FAILED  {secs:5.1}s  {}", brief(e)),
            (Err(e), true) => format!(
                "caught  {secs:5.1}s  the benign twin fails {} of {asserts} assertions: {}",
                e.len(),
                brief(e)
            ),
            (Ok(outcome), true) => {
                format!("MISSED  {secs:5.1}s  the benign twin passes too: {outcome}")
            }
        };
        eprintln!("row {:<32} [{}] {line}", row.name, row.driver);
        result
    }))
    .await;

    // The controllers survived everything.
    let mut problems: Vec<String> = vec![];
    for s in [&mut world.main, &mut world.insecure] {
        if s.ctl.wait_exit(Duration::from_millis(500)).await {
            problems.push(format!("the controller of {} exited", s.ns));
        }
        if s.ctl.logs().contains("panicked") {
            problems.push(format!("the controller of {} panicked", s.ns));
        }
    }
    if world.tenant.exited() {
        problems.push(format!("the controller of {} exited", world.tenant.ns));
    }
    if std::fs::read_to_string(&world.tenant.log)
        .unwrap_or_default()
        .contains("panicked")
    {
        problems.push(format!("the controller of {} panicked", world.tenant.ns));
    }
    for (row, result) in rows.iter().zip(&results) {
        match (result, self_check) {
            (Err(e), false) => problems.push(format!("{}: {}", row.name, e.join(" | "))),
            (Ok(_), true) => problems.push(format!("{}: the benign twin passed", row.name)),
            _ => {}
        }
    }
    eprintln!(
        "hostile input: {} rows in {:.1}s",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}\nmain controller log: {}\ninsecure controller log: {}",
        problems.len(),
        problems.join("\n"),
        world.main.ctl.log.display(),
        world.insecure.ctl.log.display()
    );
}

struct World {
    main: Scenario,
    insecure: Scenario,
    tenant: TenantController,
    cluster_providers: ClusterCleanup,
}

/// What a row set up, for its expectations and checks.
struct Ctx<'a> {
    /// The scenario whose emulator (and ClusterOAuthProvider, for the canaries) the
    /// row uses.
    s: &'a Scenario,
    /// The OAuthClient's namespace, and the log of the controller that watches it.
    ns: String,
    log: PathBuf,
    client: String,
    /// The apiserver's refusal of the provider object, if any.
    refused: Option<String>,
    foreign: Option<(String, Value)>,
    hostile: Option<Hostile>,
    tls: Option<TlsFront>,
}

impl Ctx<'_> {
    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Fail the row with a message.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Run one row: its outcome, or every assertion that failed (the expectation and
/// all checks are evaluated, so a failure shows everything that went wrong).
async fn run_row(w: &World, row: &Row, benign: bool) -> Result<String, Vec<String>> {
    let ctx = setup(w, row, benign).await.map_err(|e| vec![e])?;
    let mut failures = vec![];
    let outcome = expect(&ctx, &row.expect)
        .await
        .map_err(|e| failures.push(format!("expected outcome: {e}")))
        .ok();
    for check in &row.checks {
        if let Err(e) = run_check(&ctx, check).await {
            failures.push(format!("{check:?}: {e}"));
        }
    }
    match outcome {
        Some(outcome) if failures.is_empty() => Ok(outcome),
        _ => Err(failures),
    }
}

async fn setup<'a>(w: &'a World, row: &Row, benign: bool) -> Result<Ctx<'a>, String> {
    let mut ctx = Ctx {
        s: &w.main,
        ns: w.main.ns.clone(),
        log: w.main.ctl.log.clone(),
        client: row.name.to_string(),
        refused: None,
        foreign: None,
        hostile: None,
        tls: None,
    };
    let name = row.name;
    let ns = w.main.ns.clone();
    let kube = w.main.client.clone();
    let mut extra = json!({});
    match row.setup {
        Setup::UnadmittedNamespace => {
            let provider = format!("{name}-{ns}");
            let selector = if benign {
                json!({"kubernetes.io/metadata.name": ns})
            } else {
                json!({"team": "payments-only"})
            };
            w.cluster_providers.add(&provider);
            apply(&kube, json!({
                "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
                "metadata": {"name": provider},
                "spec": {
                    "cloudflare": {"accountId": ACCOUNT, "baseUrl": w.main.emu.api_url(),
                        "auth": {"apiTokenSecretRef": {"namespace": ns, "name": "cf-api", "key": "token"}}},
                    "namespaceSelector": {"matchLabels": selector},
                },
            }))
            .await?;
            extra = json!({"providerRef": {"kind": "ClusterOAuthProvider", "name": provider}});
        }
        Setup::NoSelectorOtherNamespace => {
            // The benign twin: the client in the operator's own namespace.
            if !benign {
                ctx.ns = w.tenant.ns.clone();
                ctx.log = w.tenant.log.clone();
            }
            let provider = format!("{name}-{ns}");
            w.cluster_providers.add(&provider);
            apply(&kube, json!({
                "apiVersion": "clientops.dev/v1alpha1", "kind": "ClusterOAuthProvider",
                "metadata": {"name": provider},
                "spec": {"cloudflare": {"accountId": ACCOUNT, "baseUrl": w.main.emu.api_url(),
                    "auth": {"apiTokenSecretRef": {"namespace": ns, "name": "cf-api", "key": "token"}}}},
            }))
            .await?;
            extra = json!({"providerRef": {"kind": "ClusterOAuthProvider", "name": provider}});
        }
        Setup::CrossNamespaceCredentials(which) => {
            // The other namespace holds a valid token: exactly what a tenant must not
            // be able to borrow.
            let mut secret_ref =
                json!({"namespace": w.insecure.ns, "name": "cf-api", "key": "token"});
            if benign {
                secret_ref.as_object_mut().unwrap().remove("namespace");
            }
            let block = match which {
                CredentialsRef::CloudflareToken => json!({"cloudflare": {
                    "accountId": ACCOUNT, "baseUrl": w.main.emu.api_url(),
                    "auth": {"apiTokenSecretRef": secret_ref}}}),
                CredentialsRef::CloudflareApiKey => json!({"cloudflare": {
                    "accountId": ACCOUNT, "baseUrl": w.main.emu.api_url(),
                    "auth": {"apiKeySecretRef": secret_ref, "email": "ops@example.com"}}}),
                CredentialsRef::VmwareCsp => json!({"vmwareCsp": {
                    "orgId": CSP_ORG, "baseUrl": w.main.emu.base,
                    "auth": {"apiTokenSecretRef": secret_ref}}}),
            };
            let provider = json!({
                "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthProvider",
                "metadata": {"name": name, "namespace": ns}, "spec": block,
            });
            ctx.refused = support::apply(&kube, &obj(provider), &ns)
                .await
                .err()
                .map(|e| support::rejection_message(&e));
            extra = json!({"providerRef": {"kind": "OAuthProvider", "name": name}});
        }
        Setup::ForeignSecret(kind) => {
            let secret_name = format!("{name}-creds");
            let stored = foreign_secret(&kube, &ns, &secret_name, name, kind).await?;
            if benign {
                // As if clientops took it over: the name is free again.
                Api::<Secret>::namespaced(kube.clone(), &ns)
                    .delete(&secret_name, &Default::default())
                    .await
                    .map_err(|e| format!("deleting the foreign Secret: {e}"))?;
            }
            ctx.foreign = Some((secret_name.clone(), stored));
            extra = json!({"secret": {"name": secret_name}});
        }
        Setup::HostileProvider(mode) => {
            let mode = if benign { mode.benign() } else { mode };
            let hostile = Hostile::start(mode).await;
            namespaced_provider(&kube, &ns, name, &hostile.api_url()).await?;
            ctx.hostile = Some(hostile);
            extra = json!({"providerRef": {"kind": "OAuthProvider", "name": name}});
        }
        Setup::SelfSignedTls { insecure_flag } => {
            // The benign twins: the strict row over plain HTTP, the insecure row in
            // the namespace whose controller verifies certificates.
            let s = if insecure_flag && !benign {
                &w.insecure
            } else {
                &w.main
            };
            ctx.s = s;
            ctx.ns = s.ns.clone();
            ctx.log = s.ctl.log.clone();
            let tls = TlsFront::start(&s.emu.base).await;
            let url = if benign && !insecure_flag {
                s.emu.api_url()
            } else {
                tls.api_url()
            };
            namespaced_provider(&s.client, &s.ns, name, &url).await?;
            ctx.tls = Some(tls);
            extra = json!({"providerRef": {"kind": "OAuthProvider", "name": name}});
        }
        Setup::HostileTemplate(attack) => {
            // The benign twin: a plain `.env` template.
            let source = if benign {
                "OAUTH_CLIENT_ID={{ clientId }}\n".to_string()
            } else {
                attack.source()
            };
            extra = json!({"secret": {"template": {"app.env": source}}});
        }
    }
    let mut manifest = ctx.s.manifest(name, extra);
    manifest.metadata.namespace = Some(ctx.ns.clone());
    support::apply(&ctx.s.client, &manifest, &ctx.ns)
        .await
        .map_err(|e| format!("applying the OAuthClient: {e}"))?;
    Ok(ctx)
}

async fn expect(ctx: &Ctx<'_>, expect: &Expect) -> Result<String, String> {
    match expect {
        Expect::Refused { message } => {
            let Some(refusal) = &ctx.refused else {
                return Err("the apiserver accepted the provider object".into());
            };
            for m in message {
                ensure!(
                    refusal.contains(m.as_str()),
                    "the refusal does not say {m:?}: {refusal}"
                );
            }
            Ok(format!("refused: {refusal}"))
        }
        Expect::NotReady {
            reason,
            stalled,
            message,
        } => {
            // Settle on the expected reason, or on Ready=True (certainly wrong).
            let o = poll(ctx, EXPECT_TIMEOUT, |o| {
                is_ready(o) || ready_reason(o) == Some(reason)
            })
            .await
            .map_err(|o| {
                format!(
                    "no Ready=False reason {reason} within {EXPECT_TIMEOUT:?}; conditions: {}",
                    conditions(o.as_ref())
                )
            })?;
            let ready = condition(&o, "Ready").unwrap();
            ensure!(
                ready.status == "False" && ready.reason == *reason,
                "conditions: {}",
                conditions(Some(&o))
            );
            let is_stalled = condition(&o, "Stalled").is_some_and(|c| c.status == "True");
            ensure!(
                is_stalled == *stalled,
                "Stalled={is_stalled}, want {stalled}: {}",
                conditions(Some(&o))
            );
            let text = ready.message.to_lowercase();
            for m in message {
                ensure!(
                    text.contains(&m.to_lowercase()),
                    "the Ready message does not say {m:?}: {}",
                    ready.message
                );
            }
            Ok(format!(
                "Ready=False {reason}, Stalled={is_stalled}: {}",
                ready.message
            ))
        }
        Expect::Ready => {
            let o = poll(ctx, EXPECT_TIMEOUT, is_ready).await.map_err(|o| {
                format!(
                    "not Ready within {EXPECT_TIMEOUT:?}; conditions: {}",
                    conditions(o.as_ref())
                )
            })?;
            Ok(format!(
                "Ready=True, client {}",
                o.status.and_then(|s| s.client_id).unwrap_or_default()
            ))
        }
    }
}

async fn run_check(ctx: &Ctx<'_>, check: &Check) -> Result<(), String> {
    let s = ctx.s;
    match check {
        Check::NoRemoteClient => {
            let want = format!("App {}", ctx.client);
            let made: Vec<String> = s
                .emu
                .clients()
                .await
                .into_iter()
                .filter(|c| c["client_name"] == want.as_str())
                .map(|c| c["client_id"].as_str().unwrap_or_default().to_string())
                .collect();
            ensure!(made.is_empty(), "the emulator holds client(s) {made:?}");
        }
        Check::StaysNotReady => {
            let deadline = Instant::now() + QUIET_PERIOD;
            while Instant::now() < deadline {
                let o = get(ctx).await;
                ensure!(
                    !o.as_ref().is_some_and(is_ready),
                    "it became Ready: {}",
                    conditions(o.as_ref())
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        Check::ForeignSecretUntouched => {
            let Some((name, before)) = &ctx.foreign else {
                return Err("there is no foreign Secret".into());
            };
            tokio::time::sleep(QUIET_PERIOD).await;
            let after = Api::<Secret>::namespaced(s.client.clone(), &ctx.ns)
                .get(name)
                .await
                .map_err(|e| format!("reading Secret {name}: {e}"))?;
            let after = serde_json::to_value(after).unwrap();
            ensure!(
                &after == before,
                "Secret {name} changed:\nbefore: {before}\nafter:  {after}"
            );
        }
        Check::HostileCalledCreateNotRepeated => {
            let Some(h) = &ctx.hostile else {
                return Err("there is no hostile server".into());
            };
            tokio::time::sleep(QUIET_PERIOD).await;
            let seen = h.requests();
            ensure!(
                !seen.is_empty(),
                "the hostile server was never called (the row proves nothing)"
            );
            let posts = seen.iter().filter(|(m, _)| m == "POST").count();
            ensure!(posts <= 1, "{posts} creates were sent: {seen:?}");
        }
        Check::RedirectNotFollowed => {
            let Some(h) = &ctx.hostile else {
                return Err("there is no hostile server".into());
            };
            let redirects = h.redirects.load(Ordering::SeqCst);
            let hits = h.target_hits.load(Ordering::SeqCst);
            ensure!(
                redirects > 0 && hits == 0,
                "{redirects} redirect(s) served, {hits} request(s) at the redirect target"
            );
        }
        Check::OtherClientsReconcile => {
            let canary = format!("canary-{}", ctx.client);
            support::apply(&s.client, &s.manifest(&canary, json!({})), &s.ns)
                .await
                .map_err(|e| format!("applying {canary}: {e}"))?;
            let ok = support::wait_for(EXPECT_TIMEOUT, || async {
                s.get(&canary).await.filter(is_ready)
            })
            .await;
            ensure!(ok.is_some(), "{canary} did not become Ready");
            credentials_work(s, &s.ns, &canary).await?;
            ensure!(
                !ctx.logs().contains("panicked"),
                "the controller log has a panic"
            );
        }
        Check::NoTlsSession => {
            let Some(t) = &ctx.tls else {
                return Err("there is no TLS front".into());
            };
            let (ok, failed) = (t.sessions(), t.failed_handshakes());
            ensure!(failed > 0, "no TLS handshake was attempted");
            ensure!(ok == 0, "{ok} TLS session(s) were established");
        }
        Check::TlsSession => {
            let Some(t) = &ctx.tls else {
                return Err("there is no TLS front".into());
            };
            ensure!(t.sessions() > 0, "no TLS session was established");
        }
        Check::CredentialsWork => credentials_work(s, &ctx.ns, &ctx.client).await?,
        Check::LogHas(parts) => {
            ensure!(
                ctx.logs()
                    .lines()
                    .any(|l| parts.iter().all(|p| l.contains(p))),
                "no line of the controller log of {} has all of {parts:?}",
                ctx.ns
            )
        }
        Check::LogLacks(text) => {
            ensure!(
                !ctx.logs().contains(text),
                "the controller log of {} has {text:?}",
                ctx.ns
            )
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Helpers.

fn obj(v: Value) -> kube::api::DynamicObject {
    serde_json::from_value(v).expect("a Kubernetes object")
}

async fn apply(client: &Client, v: Value) -> Result<(), String> {
    support::apply(client, &obj(v), "default")
        .await
        .map(|_| ())
        .map_err(|e| format!("apply: {e}"))
}

async fn namespaced_provider(
    client: &Client,
    ns: &str,
    name: &str,
    url: &str,
) -> Result<(), String> {
    apply(
        client,
        json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthProvider",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"cloudflare": {"accountId": ACCOUNT, "baseUrl": url,
                "auth": {"apiTokenSecretRef": {"name": "cf-api", "key": "token"}}}},
        }),
    )
    .await
}

/// Create somebody else's Secret; returns it as stored.
async fn foreign_secret(
    client: &Client,
    ns: &str,
    name: &str,
    client_name: &str,
    kind: Foreign,
) -> Result<Value, String> {
    let mut labels = json!({"app": "payments", "team": "someone-else"});
    let mut annotations = json!({"owner": "not clientops"});
    let mut owners = json!([]);
    match kind {
        Foreign::Plain => {}
        Foreign::ForgedLabel => {
            labels["clientops.dev/client"] = json!(client_name);
            annotations["clientops.dev/rotation-id"] = json!("forged");
        }
        Foreign::ControlledByOther => {
            let cm: ConfigMap = serde_json::from_value(json!({
                "metadata": {"name": format!("{name}-owner"), "namespace": ns},
                "data": {"purpose": "controls the Secret"},
            }))
            .unwrap();
            let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &cm)
                .await
                .map_err(|e| format!("creating the owner ConfigMap: {e}"))?;
            owners = json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": cm.name_any(),
                             "uid": cm.uid().unwrap(), "controller": true}]);
        }
    }
    // Binary data, and a key clientops itself would write.
    let binary: Vec<u8> = vec![0x00, 0xff, 0xfe, b'\n', 0x80, b'x'];
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "labels": labels,
                     "annotations": annotations, "ownerReferences": owners},
        "type": "Opaque",
        "data": {
            "client_secret": base64(b"their-own-secret"),
            "blob": base64(&binary),
        },
    }))
    .unwrap();
    let created = Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .map_err(|e| format!("creating the foreign Secret: {e}"))?;
    Ok(serde_json::to_value(created).unwrap())
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

async fn get(ctx: &Ctx<'_>) -> Option<OAuthClient> {
    Api::<OAuthClient>::namespaced(ctx.s.client.clone(), &ctx.ns)
        .get_opt(&ctx.client)
        .await
        .ok()
        .flatten()
}

/// Poll the row's OAuthClient until `pred` holds; on timeout, the last object seen.
async fn poll(
    ctx: &Ctx<'_>,
    timeout: Duration,
    pred: impl Fn(&OAuthClient) -> bool,
) -> Result<OAuthClient, Option<OAuthClient>> {
    let deadline = Instant::now() + timeout;
    loop {
        let o = get(ctx).await;
        if let Some(o) = &o
            && pred(o)
        {
            return Ok(o.clone());
        }
        if Instant::now() >= deadline {
            return Err(o);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Ready reason, once the controller has seen the current generation.
fn ready_reason(o: &OAuthClient) -> Option<&str> {
    let seen = o.status.as_ref()?.observed_generation == o.metadata.generation;
    seen.then(|| condition(o, "Ready").map(|c| c.reason.as_str()))
        .flatten()
}

fn conditions(o: Option<&OAuthClient>) -> String {
    let Some(o) = o else {
        return "(no object)".into();
    };
    let Some(s) = &o.status else {
        return "(no status)".into();
    };
    s.conditions
        .iter()
        .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Do the credentials in Secret `ns/secret` work at `s`'s emulator?
async fn credentials_work(s: &Scenario, ns: &str, secret: &str) -> Result<(), String> {
    let got = Api::<Secret>::namespaced(s.client.clone(), ns)
        .get_opt(secret)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Secret {secret} does not exist"))?;
    let data = got.data.unwrap_or_default();
    let value = |k: &str| {
        data.get(k)
            .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            .unwrap_or_default()
    };
    ensure!(
        s.emu
            .check(&value("client_id"), &value("client_secret"))
            .await,
        "the emulator rejects the credentials in Secret {secret}"
    );
    Ok(())
}

/// Deletes the ClusterOAuthProviders a run made (cluster-scoped: they would
/// outlive the namespaces and keep every later controller checking them).
#[derive(Default)]
struct ClusterCleanup(Mutex<Vec<String>>);

impl ClusterCleanup {
    fn add(&self, name: &str) {
        self.0.lock().unwrap().push(name.to_string());
    }
}

impl Drop for ClusterCleanup {
    fn drop(&mut self) {
        for name in self.0.lock().unwrap().iter() {
            let _ = std::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(support::kubeconfig())
                .args([
                    "delete",
                    "clusteroauthprovider",
                    name,
                    "--wait=false",
                    "--ignore-not-found",
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// `clientops run` for a namespace of its own whose operator namespace is another
/// one (`support::procs::Controller` always makes them the same).
struct TenantController {
    ns: String,
    log: PathBuf,
    child: Option<std::process::Child>,
}

impl TenantController {
    /// Its namespace; the process starts with [`Self::operator_namespace`].
    async fn start(prefix: &str) -> Self {
        let client = support::client().await;
        let ns = support::namespace(&client, prefix).await;
        let log = std::env::temp_dir().join(format!("clientops-controller-{ns}.log"));
        TenantController {
            ns,
            log,
            child: None,
        }
    }

    fn operator_namespace(&mut self, operator_ns: &str) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = std::process::Command::new(support::procs::binary())
            .args([
                "run",
                "--namespace",
                &self.ns,
                "--operator-namespace",
                operator_ns,
            ])
            .args(["--metrics-addr", "127.0.0.1:0", "--resync", "3s"])
            .arg("--kubeconfig")
            .arg(support::kubeconfig())
            .env("RUST_LOG", "info,clientops=debug")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the tenant controller");
        self.child = Some(child);
    }

    fn exited(&mut self) -> bool {
        self.child
            .as_mut()
            .is_none_or(|c| c.try_wait().ok().flatten().is_some())
    }
}

impl Drop for TenantController {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

// ---------------------------------------------------------------------------
// The hostile HTTP server: the Cloudflare API shape, served badly.

struct Hostile {
    base: String,
    mode: Mode,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    redirects: Arc<AtomicUsize>,
    target_hits: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct HostileState {
    base: String,
    mode: Mode,
    body: Bytes,
    seen: Arc<Mutex<Vec<(String, String)>>>,
    redirects: Arc<AtomicUsize>,
    target_hits: Arc<AtomicUsize>,
}

/// A Cloudflare list envelope with no clients.
const EMPTY_LIST: &str = r#"{"success":true,"errors":[],"messages":[],"result":[],"result_info":{"page":1,"per_page":50,"count":0,"total_count":0}}"#;

impl Hostile {
    async fn start(mode: Mode) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let body = match mode {
            Mode::HugeDeclared | Mode::HugeChunked => {
                padded(DEFAULT_MAX_LIST_BODY_BYTES + (1 << 20))
            }
            Mode::PaddedDeclared | Mode::PaddedChunked => padded(1 << 20),
            Mode::DeeplyNested => nested(100_000),
            Mode::Shallow => nested(16),
            Mode::Redirect | Mode::AsTarget => Bytes::from_static(EMPTY_LIST.as_bytes()),
        };
        let state = HostileState {
            base: base.clone(),
            mode,
            body,
            seen: Arc::default(),
            redirects: Arc::default(),
            target_hits: Arc::default(),
        };
        let h = Hostile {
            base,
            mode,
            seen: state.seen.clone(),
            redirects: state.redirects.clone(),
            target_hits: state.target_hits.clone(),
        };
        let app = axum::Router::new().fallback(serve).with_state(state);
        tokio::spawn(async move { axum::serve(listener, app).await });
        h
    }

    /// The base URL an OAuthProvider names (the benign redirect twin: the target).
    fn api_url(&self) -> String {
        match self.mode {
            Mode::AsTarget => format!("{}/target/client/v4", self.base),
            _ => format!("{}/client/v4", self.base),
        }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve(State(st): State<HostileState>, method: Method, uri: Uri) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    st.seen
        .lock()
        .unwrap()
        .push((method.to_string(), path.clone()));
    let json = |body: Body| {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .unwrap()
    };
    if path.starts_with("/target/") {
        st.target_hits.fetch_add(1, Ordering::SeqCst);
        return json(Body::from(st.body.clone()));
    }
    match st.mode {
        Mode::Redirect => {
            st.redirects.fetch_add(1, Ordering::SeqCst);
            Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header(header::LOCATION, format!("{}/target{path}", st.base))
                .body(Body::empty())
                .unwrap()
        }
        Mode::HugeChunked | Mode::PaddedChunked => {
            // No Content-Length: the client only learns the size by reading.
            const CHUNK: usize = 64 * 1024;
            let body = st.body.clone();
            let chunks = (0..body.len().div_ceil(CHUNK)).map(move |i| {
                Ok::<_, std::io::Error>(body.slice(i * CHUNK..((i + 1) * CHUNK).min(body.len())))
            });
            json(Body::from_stream(futures::stream::iter(chunks)))
        }
        _ => json(Body::from(st.body.clone())),
    }
}

/// A valid Cloudflare list envelope padded to `total` bytes.
fn padded(total: usize) -> Bytes {
    let head = &EMPTY_LIST.as_bytes()[..EMPTY_LIST.len() - 1];
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(head);
    v.extend_from_slice(br#","padding":""#);
    v.resize(total - 2, b'x');
    v.extend_from_slice(br#""}"#);
    Bytes::from(v)
}

/// A success envelope whose `result` is `depth` arrays deep.
fn nested(depth: usize) -> Bytes {
    let mut v = br#"{"success":true,"errors":[],"messages":[],"result":"#.to_vec();
    v.extend(std::iter::repeat_n(b'[', depth));
    v.extend(std::iter::repeat_n(b']', depth));
    v.push(b'}');
    Bytes::from(v)
}

// ---------------------------------------------------------------------------
// The TLS front: terminates TLS with a self-signed certificate and passes the
// bytes to the emulator, counting sessions and failed handshakes.

/// Self-signed (its own issuer, not in any trust store), an end-entity
/// certificate (CA:FALSE, serverAuth) for IP 127.0.0.1 and localhost, ECDSA P-256,
/// valid 2000-01-01 to 2199-12-31: its only fault is that nobody vouches for it.
/// A test fixture, generated once (Python `cryptography`).
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBqTCCAU+gAwIBAgIUAvM26cQD1IOINDQ0MGEpRGPgRxQwCgYIKoZIzj0EAwIw
KjEoMCYGA1UEAwwfaG9zdGlsZS1wcm92aWRlci5jbGllbnRvcHMudGVzdDAgFw0w
MDAxMDEwMDAwMDBaGA8yMTk5MTIzMTAwMDAwMFowKjEoMCYGA1UEAwwfaG9zdGls
ZS1wcm92aWRlci5jbGllbnRvcHMudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABCzwRzLG9845GUoKZhnguF6EdENMraAJD9d4Mi/2Cx6CYv5csxda6j509rOO
k/OPTramr4ckIFiyU6NfC1QervujUTBPMBoGA1UdEQQTMBGHBH8AAAGCCWxvY2Fs
aG9zdDAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIHgDATBgNVHSUEDDAKBggr
BgEFBQcDATAKBggqhkjOPQQDAgNIADBFAiEA5d9hvz3Qe0N6GeU1OiyJYkELAIuy
84igsfvx0MKMG4oCIB55tPErh7SGfPa8pcTQhX0xdprpAcsqVSPONu3ntvwT
-----END CERTIFICATE-----
";
const KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIbzVvdeesD4Mygof
v258kklOqdmAQugjFjj9Mvdv/TmhRANCAAQs8EcyxvfOORlKCmYZ4LhehHRDTK2g
CQ/XeDIv9gsegmL+XLMXWuo+dPazjpPzj062pq+HJCBYslOjXwtUHq77
-----END PRIVATE KEY-----
";

struct TlsFront {
    base: String,
    sessions: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

impl TlsFront {
    /// A TLS front for `upstream` (`http://127.0.0.1:port`).
    async fn start(upstream: &str) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_slice_iter(CERT_PEM.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY_PEM.as_bytes()).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        // The bytes are passed on as they are: HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front = TlsFront {
            base: format!("https://{}", listener.local_addr().unwrap()),
            sessions: Arc::default(),
            failed: Arc::default(),
        };
        let upstream = upstream.trim_start_matches("http://").to_string();
        let (sessions, failed) = (front.sessions.clone(), front.failed.clone());
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
                let (sessions, failed) = (sessions.clone(), failed.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        failed.fetch_add(1, Ordering::SeqCst);
                        return;
                    };
                    sessions.fetch_add(1, Ordering::SeqCst);
                    if let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        front
    }

    fn api_url(&self) -> String {
        format!("{}/client/v4", self.base)
    }

    fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    fn failed_handshakes(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }
}
