//! The typed CSP client and the CSP `Provider` against the emulator over real
//! HTTP: the built `clientops emulate csp` binary on 127.0.0.1:0, one process per
//! test, inspected and steered through its admin API (`/__emulator/`).

use std::time::Duration;

use clientops::api::csp::CspClientFields;
use clientops::provider::csp::wire::check_secret;
use clientops::provider::csp::{CspClient, CspConfig, CspCredentials, CspProvider, Deleted};
use clientops::provider::http::{HttpOptions, build_client};
use clientops::provider::model::{
    ChosenIds, ChosenSecrets, ClientFields, Creation, OwnFields, Provider,
};
use clientops::provider::transport::{ClientConfig, ProviderClient};
use clientops::provider::{Operation, ProviderError, RetryPolicy};
use clientops::secret::ClientSecret;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

const ORG: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const TOKEN: &str = "csp-test-api-token";

/// One emulator process.
struct Emu {
    _child: tokio::process::Child,
    addr: String,
    admin: reqwest::Client,
}

impl Emu {
    /// Start the binary with `--token TOKEN --rate-limit off --deletion-delay 0`
    /// plus `extra` (later flags win).
    async fn start(extra: &[&str]) -> Self {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_clientops"));
        cmd.args(["emulate", "csp", "--listen", "127.0.0.1:0"])
            .args(["--token", TOKEN, "--org", ORG]);
        if !extra.contains(&"--rate-limit") {
            cmd.args(["--rate-limit", "off"]);
        }
        if !extra.contains(&"--deletion-delay") {
            cmd.args(["--deletion-delay", "0"]);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the clientops binary");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the emulator printed its address in time")
            .unwrap()
            .expect("a startup line");
        assert!(
            line.starts_with("clientops emulate csp: listening on http://"),
            "{line}"
        );
        let addr = line
            .split("listening on http://")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            addr,
            admin: build_client(&HttpOptions::default()).unwrap(),
        }
    }

    fn config(&self) -> CspConfig {
        CspConfig::new(ORG, CspCredentials::api_token(TOKEN))
            .with_base_url(format!("http://{}", self.addr))
            .with_retry(fast_retry())
    }

    fn client(&self) -> CspClient {
        CspClient::standalone(self.config()).unwrap()
    }

    fn provider(&self) -> CspProvider {
        CspProvider::new(self.client())
    }

    async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .admin
            .request(method, format!("http://{}/__emulator/{path}", self.addr));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "admin {path}: {status} {v}");
        v
    }

    async fn faults(&self, faults: Value) {
        self.admin(reqwest::Method::PUT, "faults", Some(faults))
            .await;
    }

    async fn advance(&self, duration: &str) {
        self.admin(
            reqwest::Method::POST,
            "clock/advance",
            Some(json!({ "duration": duration })),
        )
        .await;
    }

    /// How many requests of `operation` the emulator received (optionally only
    /// those answered `status`).
    async fn count(&self, operation: &str, status: Option<&str>) -> u64 {
        let v = self.admin(reqwest::Method::GET, "requests", None).await;
        let op = &v["operations"][operation];
        match status {
            None => op["total"].as_u64().unwrap_or(0),
            Some(s) => op["by_status"][s].as_u64().unwrap_or(0),
        }
    }

    async fn valid(&self, client_id: &str, secret: &ClientSecret) -> bool {
        self.admin(
            reqwest::Method::POST,
            "credentials/check",
            Some(json!({"client_id": client_id, "client_secret": secret.expose()})),
        )
        .await["valid"]
            .as_bool()
            .unwrap()
    }

    async fn exists(&self, client_id: &str) -> bool {
        let resp = self
            .admin
            .get(format!(
                "http://{}/__emulator/clients/{client_id}",
                self.addr
            ))
            .send()
            .await
            .unwrap();
        resp.status().is_success()
    }
}

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(5),
    }
}

/// A service app: client credentials, with CSP-only fields.
fn fields(name: &str) -> ClientFields {
    ClientFields {
        name: name.into(),
        grant_types: ["client_credentials".to_string()].into(),
        response_types: ["code".to_string()].into(),
        token_endpoint_auth_method: "client_secret_basic".into(),
        own: OwnFields::new(CspClientFields {
            description: Some("Exports billing data".into()),
            access_token_ttl: Some("30m".into()),
            refresh_token_ttl: Some("720h".into()),
            organization_roles: Some(vec!["org_member".into()]),
            general_scopes: Some(vec!["openid".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn create(p: &CspProvider, id: &str) -> ClientSecret {
    let secret = p.generate_secret();
    p.create_with(&fields(id), id, &secret).await.unwrap();
    secret
}

#[tokio::test]
async fn every_operation_through_the_provider() {
    let emu = Emu::start(&[]).await;
    let p = CspProvider::new(CspClient::standalone(emu.config().with_page_limit(2)).unwrap());
    assert_eq!(p.kind(), "vmwareCsp");
    assert!(matches!(p.creation(), Creation::Chosen(_)));
    p.check_credentials().await.unwrap();

    // Create with a chosen id and secret: no drift on read-back.
    let f = fields("Billing exporter");
    let secret = p.generate_secret();
    check_secret(secret.expose()).unwrap();
    let created = p
        .create_with(&f, "billing-exporter", &secret)
        .await
        .unwrap();
    assert_eq!(created.id, "billing-exporter");
    assert_eq!(f.diff(&created.fields), vec![]);
    assert!(emu.valid("billing-exporter", &secret).await);
    let read = p.get("billing-exporter").await.unwrap().unwrap();
    assert_eq!(f.diff(&read.fields), vec![], "{read:?}");
    assert!(!read.has_rotated_secret);
    assert!(read.created_at.is_some());
    assert_eq!(p.get("no-such-app").await.unwrap(), None);

    // List: five apps in pages of two.
    for i in 2..=5 {
        create(&p, &format!("app-{i}")).await;
    }
    let before = emu.count("list", None).await;
    let all = p.list().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["billing-exporter", "app-2", "app-3", "app-4", "app-5"]
    );
    assert_eq!(emu.count("list", None).await - before, 3, "three pages");
    for c in &all[1..] {
        assert_eq!(fields(&c.id).diff(&c.fields), vec![]);
    }

    // Update: only what differs is sent; the read-back matches.
    let mut f2 = f.clone();
    f2.name = "Billing exporter v2".into();
    f2.own = OwnFields::new(CspClientFields {
        access_token_ttl: Some("1h".into()),
        ..f.own.get::<CspClientFields>().unwrap().clone()
    });
    let changed = f2.diff(&read.fields);
    assert_eq!(changed.len(), 2, "{changed:?}");
    let updated = p.update("billing-exporter", &f2, &changed).await.unwrap();
    assert_eq!(updated.fields.name, "Billing exporter v2");
    assert_eq!(
        updated
            .fields
            .own
            .get::<CspClientFields>()
            .unwrap()
            .access_token_ttl
            .as_deref(),
        Some("3600s")
    );
    assert_eq!(f2.diff(&updated.fields), vec![]);

    // Rotation: both secrets work during the grace period, then only the new one.
    let new = p.generate_secret();
    p.rotate_to("billing-exporter", &new, Duration::from_secs(3600))
        .await
        .unwrap();
    assert!(emu.valid("billing-exporter", &secret).await);
    assert!(emu.valid("billing-exporter", &new).await);
    // Idempotent: the same secret again is fine.
    p.rotate_to("billing-exporter", &new, Duration::from_secs(3600))
        .await
        .unwrap();
    emu.advance("61m").await;
    assert!(!emu.valid("billing-exporter", &secret).await, "expired");
    assert!(emu.valid("billing-exporter", &new).await);

    // Early retirement, idempotent.
    let newer = p.generate_secret();
    p.rotate_to("billing-exporter", &newer, Duration::from_secs(3600))
        .await
        .unwrap();
    p.retire("billing-exporter").await.unwrap();
    assert!(!emu.valid("billing-exporter", &new).await);
    assert!(emu.valid("billing-exporter", &newer).await);
    p.retire("billing-exporter").await.unwrap();
    assert_eq!(
        p.client()
            .delete_old_secret("billing-exporter")
            .await
            .unwrap(),
        Deleted::AlreadyAbsent
    );

    // A grace period of zero retires the old secret at once.
    let instant = p.generate_secret();
    p.rotate_to("billing-exporter", &instant, Duration::ZERO)
        .await
        .unwrap();
    assert!(!emu.valid("billing-exporter", &newer).await);
    assert!(emu.valid("billing-exporter", &instant).await);

    // The app's own token endpoint agrees.
    assert_eq!(
        p.client()
            .check_client_secret("billing-exporter", &instant)
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        p.client()
            .check_client_secret("billing-exporter", &newer)
            .await
            .unwrap(),
        Some(false)
    );

    // Delete, idempotent.
    p.delete("billing-exporter").await.unwrap();
    assert_eq!(p.get("billing-exporter").await.unwrap(), None);
    p.delete("billing-exporter").await.unwrap();
    assert_eq!(p.list().await.unwrap().len(), 4);
}

#[tokio::test]
async fn server_generated_ids_and_regenerate() {
    // clientops always chooses the id; CSP also assigns one when none is sent.
    let emu = Emu::start(&[]).await;
    let p = emu.provider();
    let chosen = p.generate_secret();
    let body =
        clientops::provider::csp::fields::create_body(&fields("Generated"), None, Some(&chosen))
            .unwrap();
    let answer = p.client().create(&body).await.unwrap();
    let id = answer.client_id.expect("CSP assigns an id");
    let secret = answer.client_secret.unwrap_or(chosen);
    assert!(emu.valid(&id, &secret).await);
    assert_eq!(p.get(&id).await.unwrap().unwrap().marker, None);
    let regenerated = p.client().regenerate_secret(&id).await.unwrap();
    assert!(!emu.valid(&id, &secret).await, "no overlap");
    assert!(emu.valid(&id, &regenerated).await);
    let rotated = p.generate_secret();
    p.client().rotate_secret(&id, &rotated, None).await.unwrap();
    assert!(emu.valid(&id, &regenerated).await);
    assert!(emu.valid(&id, &rotated).await);
}

#[tokio::test]
async fn bulk_delete_reads_the_per_id_result() {
    let emu = Emu::start(&[]).await;
    let p = emu.provider();
    for id in ["keep-immutable", "delete-me", "delete-too"] {
        create(&p, id).await;
    }
    emu.admin(
        reqwest::Method::POST,
        "clients/keep-immutable/immutable",
        Some(json!({"immutable": true})),
    )
    .await;
    let c = p.client();
    let r = c
        .delete_many(&[
            "delete-me".into(),
            "keep-immutable".into(),
            "never-existed".into(),
        ])
        .await
        .unwrap();
    assert_eq!(r.succeeded, ["delete-me"]);
    assert_eq!(r.failed, ["keep-immutable", "never-existed"]);
    assert!(r.not_found.is_empty());

    // Through the provider: a failed app that still exists is an error for it...
    match p.delete("keep-immutable").await {
        Err(ProviderError::Conflict { messages }) => {
            assert!(messages[0].message.contains("failed"), "{messages:?}")
        }
        other => panic!("{other:?}"),
    }
    assert!(emu.exists("keep-immutable").await);
    // ... and a missing one (CSP: 404) counts as already absent.
    assert_eq!(
        c.delete("never-existed").await.unwrap(),
        Deleted::AlreadyAbsent
    );
    p.delete("never-existed").await.unwrap();
    assert_eq!(c.delete("delete-too").await.unwrap(), Deleted::Deleted);

    // More than 15 ids: several requests of at most 15.
    let before = emu.count("delete", None).await;
    let ids: Vec<String> = (0..17).map(|i| format!("unknown-{i}")).collect();
    let r = c.delete_many(&ids).await.unwrap();
    assert_eq!(r.not_found.len(), 17);
    assert_eq!(emu.count("delete", None).await - before, 2);
}

#[tokio::test]
async fn access_tokens_are_cached_refreshed_and_single_flight() {
    let emu = Emu::start(&["--access-token-ttl", "1h"]).await;
    let c = emu.client();
    // Ten concurrent calls on a fresh client: one exchange.
    let calls: Vec<_> = (0..10).map(|_| c.list_page(0, 10)).collect();
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(emu.count("authenticate", None).await, 1);
    // Another client of the same organisation and token shares the cache.
    emu.client().list().await.unwrap();
    assert_eq!(emu.count("authenticate", None).await, 1);

    // The token expires at CSP mid-run (its clock moves): the 401 triggers one
    // refresh and the call is repeated.
    emu.advance("2h").await;
    c.list().await.unwrap();
    assert_eq!(emu.count("authenticate", None).await, 2);
    assert_eq!(emu.count("list", Some("401")).await, 1);
    // Revoked tokens too, for a create (safe to repeat after a 401).
    emu.admin(reqwest::Method::POST, "tokens/expire", None)
        .await;
    let p = CspProvider::new(c.clone());
    create(&p, "after-expiry").await;
    assert_eq!(emu.count("authenticate", None).await, 3);
    assert_eq!(emu.count("create", Some("401")).await, 1);
    assert_eq!(emu.count("create", Some("200")).await, 1);

    // A wrong API token: Unauthorized, the token never in the message.
    let bad = CspClient::standalone(
        CspConfig::new(ORG, CspCredentials::api_token("wrong-api-token-value"))
            .with_base_url(format!("http://{}", emu.addr))
            .with_retry(fast_retry()),
    )
    .unwrap();
    let e = bad.list().await.unwrap_err();
    assert!(matches!(e, ProviderError::Unauthorized { .. }), "{e:?}");
    assert!(!e.to_string().contains("wrong-api-token-value"), "{e}");
    assert!(!format!("{bad:?}").contains("wrong-api-token-value"));
}

#[tokio::test]
async fn the_old_secret_expires_after_48_hours_by_default() {
    let emu = Emu::start(&[]).await;
    let p = emu.provider();
    let old = create(&p, "default-expiry").await;
    let new = p.generate_secret();
    p.client()
        .rotate_secret("default-expiry", &new, None)
        .await
        .unwrap();
    emu.advance("47h").await;
    assert!(emu.valid("default-expiry", &old).await);
    emu.advance("2h").await;
    assert!(!emu.valid("default-expiry", &old).await);
    assert!(emu.valid("default-expiry", &new).await);
}

#[tokio::test]
async fn a_rotation_still_in_progress_is_finished_first() {
    let emu = Emu::start(&[]).await;
    let p = emu.provider();
    let original = create(&p, "busy-app").await;
    // Rotated out of band: CSP holds `original` as the old secret.
    let out_of_band = p.generate_secret();
    p.client()
        .rotate_secret("busy-app", &out_of_band, None)
        .await
        .unwrap();
    let ours = p.generate_secret();
    p.rotate_to("busy-app", &ours, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(!emu.valid("busy-app", &original).await, "retired first");
    assert!(
        emu.valid("busy-app", &out_of_band).await,
        "now the previous"
    );
    assert!(emu.valid("busy-app", &ours).await);
    assert_eq!(emu.count("rotate_secret", Some("409")).await, 1);
}

#[tokio::test]
async fn create_gets_409_while_a_deletion_is_in_progress() {
    let emu = Emu::start(&["--deletion-delay", "30s"]).await;
    let p = emu.provider();
    let secret = create(&p, "reborn-app").await;
    p.delete("reborn-app").await.unwrap();
    assert_eq!(p.get("reborn-app").await.unwrap(), None);
    match p.create_with(&fields("x"), "reborn-app", &secret).await {
        Err(ProviderError::Conflict { messages }) => assert!(
            messages
                .iter()
                .any(|m| m.message.contains("still being deleted")),
            "{messages:?}"
        ),
        other => panic!("{other:?}"),
    }
    emu.advance("31s").await;
    let again = p
        .create_with(&fields("x"), "reborn-app", &secret)
        .await
        .unwrap();
    assert_eq!(again.id, "reborn-app");
}

#[tokio::test]
async fn statuses_map_to_typed_errors() {
    let emu = Emu::start(&[]).await;
    let p = emu.provider();
    let c = p.client();
    assert!(matches!(
        c.get("missing-app").await,
        Err(ProviderError::NotFound { .. })
    ));

    // CSP's own validation: 400 with its message.
    let secret = p.generate_secret();
    let mut bad = fields("Bad/Name");
    bad.name = "Bad/Name".into();
    match p.create_with(&bad, "bad-name", &secret).await {
        Err(ProviderError::Invalid {
            status: 400,
            messages,
        }) => {
            assert!(messages[0].message.contains("displayName"), "{messages:?}");
            assert_eq!(messages[0].code.as_deref(), Some("invalid.request"));
        }
        other => panic!("{other:?}"),
    }
    // A weak secret is refused before any request.
    let before = emu.count("create", None).await;
    let e = p
        .create_with(&fields("x"), "weak-secret", &ClientSecret::new("weak"))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Config { .. }), "{e:?}");
    // Fields CSP does not have are refused by name, before any request.
    let mut f = fields("x");
    f.scopes = ["openid".to_string()].into();
    f.client_uri = Some("https://example.com".into());
    let e = p.create_with(&f, "unsupported", &secret).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("spec.scopes") && text.contains("spec.clientUri"),
        "{text}"
    );
    assert!(matches!(e, ProviderError::Invalid { .. }));
    assert_eq!(emu.count("create", None).await, before);

    // A caller-chosen id that exists with another secret: Conflict.
    create(&p, "taken-app").await;
    let e = p
        .create_with(&fields("x"), "taken-app", &secret)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Conflict { .. }), "{e:?}");

    // 429 and 503 on reads are retried.
    emu.faults(json!({"p_429": 1.0, "times": 1, "methods": ["GET"]}))
        .await;
    c.list().await.unwrap();
    emu.faults(json!({"p_503": 1.0, "times": 2, "methods": ["GET"]}))
        .await;
    c.get("taken-app").await.unwrap();
    // ... until attempts run out.
    emu.faults(json!({"p_500": 1.0, "methods": ["GET"]})).await;
    assert!(matches!(
        c.get("taken-app").await,
        Err(ProviderError::Server { status: 500, .. })
    ));
    emu.admin(reqwest::Method::DELETE, "faults", None).await;
}

#[tokio::test]
async fn create_and_rotate_are_never_retried_blindly() {
    let emu = Emu::start(&[]).await;
    let p = emu.provider();
    let secret = p.generate_secret();

    // A 503 on create: outcome unknown, one attempt, nothing created.
    emu.faults(json!({"p_503": 1.0, "times": 1, "path": "oauth-apps", "methods": ["POST"]}))
        .await;
    let e = p
        .create_with(&fields("x"), "lost-create", &secret)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::OutcomeUnknown {
                operation: Operation::Create,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(emu.count("create", None).await, 1);

    // Created, then the connection dropped: one attempt; the repeat finds it.
    emu.faults(
        json!({"p_drop_after_commit": 1.0, "times": 1, "path": "oauth-apps", "methods": ["POST"]}),
    )
    .await;
    let e = p
        .create_with(&fields("x"), "lost-create", &secret)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::OutcomeUnknown { .. }), "{e:?}");
    assert_eq!(emu.count("create", None).await, 2);
    assert!(emu.exists("lost-create").await);
    let found = p
        .create_with(&fields("x"), "lost-create", &secret)
        .await
        .unwrap();
    assert_eq!(found.id, "lost-create");
    assert_eq!(emu.count("create", Some("409")).await, 1);

    // Rotation committed, answer lost: one attempt; the repeat succeeds and the
    // old secret still works (one rotation, not two).
    let new = p.generate_secret();
    emu.faults(
        json!({"p_drop_after_commit": 1.0, "times": 1, "path": "/secret", "methods": ["POST"]}),
    )
    .await;
    let e = p
        .rotate_to("lost-create", &new, Duration::from_secs(600))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::OutcomeUnknown {
                operation: Operation::RotateSecret,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(emu.count("rotate_secret", None).await, 1);
    p.rotate_to("lost-create", &new, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(emu.valid("lost-create", &secret).await);
    assert!(emu.valid("lost-create", &new).await);

    // 429 on create is retried (CSP refused before acting).
    emu.faults(json!({"p_429": 1.0, "times": 1, "path": "oauth-apps", "methods": ["POST"]}))
        .await;
    create(&p, "throttled-create").await;
    assert_eq!(emu.count("create", Some("429")).await, 1);
}

/// Proof of ownership at the apps' token endpoint: an `authorization_code`
/// grant with a made-up code, so the app's own grants do not matter and no token
/// is issued.
#[tokio::test]
async fn verify_secret_asks_the_token_endpoint_without_getting_a_token() {
    use clientops::provider::model::SecretCheck;

    let emu = Emu::start(&[]).await;
    let p = emu.provider();
    let service = create(&p, "service-app").await;
    // A web app: no client_credentials grant, which check_client_secret needs.
    let mut web = fields("Web app");
    web.grant_types = ["authorization_code".to_string()].into();
    web.redirect_uris = vec!["https://web.example.com/callback".into()];
    let web_secret = p.generate_secret();
    p.create_with(&web, "web-app", &web_secret).await.unwrap();
    let mut public = web.clone();
    public.token_endpoint_auth_method = "none".into();
    p.create_with(&public, "public-app", &ClientSecret::new(""))
        .await
        .unwrap();
    let wrong = ClientSecret::new("Wr0ng-Secret:+/%");

    for (id, right) in [("service-app", &service), ("web-app", &web_secret)] {
        assert_eq!(
            p.verify_secret(id, right).await.unwrap(),
            SecretCheck::Accepted,
            "{id}"
        );
        assert_eq!(
            p.verify_secret(id, &wrong).await.unwrap(),
            SecretCheck::Rejected,
            "{id}"
        );
    }
    match p.verify_secret("public-app", &wrong).await.unwrap() {
        SecretCheck::Unsupported(why) => assert!(why.contains("public client"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(emu.count("client_token", None).await, 4);
    assert_eq!(
        emu.count("client_token", Some("200")).await,
        0,
        "a token was issued"
    );

    // During a rotation's grace period both secrets prove ownership.
    let new = p.generate_secret();
    p.rotate_to("web-app", &new, Duration::from_secs(3600))
        .await
        .unwrap();
    for s in [&web_secret, &new] {
        assert_eq!(
            p.verify_secret("web-app", s).await.unwrap(),
            SecretCheck::Accepted
        );
    }

    let e = p.verify_secret("no-such-app", &new).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
    emu.faults(json!({"p_500": 1.0, "path": "auth/token", "methods": ["POST"]}))
        .await;
    let e = p.verify_secret("web-app", &new).await.unwrap_err();
    assert!(matches!(e, ProviderError::Server { .. }), "{e:?}");
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(new.expose()), "{text}");
    }
}

/// A fake CSP for the LIST budget: the token exchange, and an app list whose
/// every page links to a next one (`total`: `None`, endless) or ends after
/// `total` apps. Counts the list requests.
async fn paging_csp(total: Option<u64>) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use axum::extract::{Query, State};
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Clone)]
    struct Fake {
        total: Option<u64>,
        served: Arc<AtomicU64>,
    }
    async fn page(
        State(f): State<Fake>,
        Query(q): Query<HashMap<String, String>>,
    ) -> axum::Json<Value> {
        f.served.fetch_add(1, Ordering::SeqCst);
        let start: u64 = q["pageStart"].parse().unwrap();
        let limit: u64 = q["pageLimit"].parse().unwrap();
        let end = f.total.map_or(start + limit, |t| t.min(start + limit));
        let apps: Vec<Value> = (start..end)
            .map(|i| json!({"id": format!("app-{i}"), "displayName": "x".repeat(100)}))
            .collect();
        let more = f.total.is_none_or(|t| end < t);
        let mut body = json!({"results": apps});
        if more {
            body["nextLink"] = json!(format!(
                "/csp/gateway/am/api/orgs/{ORG}/oauth-apps?pageStart={end}&pageLimit={limit}"
            ));
        }
        axum::Json(body)
    }
    async fn token() -> axum::Json<Value> {
        axum::Json(json!({"access_token": "fake-access-token", "expires_in": 1800}))
    }
    let served = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new()
        .route(
            "/csp/gateway/am/api/auth/api-tokens/authorize",
            axum::routing::post(token),
        )
        .route(
            "/csp/gateway/am/api/orgs/{org}/oauth-apps",
            axum::routing::get(page),
        )
        .with_state(Fake {
            total,
            served: served.clone(),
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), served)
}

fn budget_client(base: &str, max_pages: u32, max_bytes: u64) -> CspClient {
    use clientops::provider::list_budget::ListBudget;
    CspClient::standalone(
        CspConfig::new(ORG, CspCredentials::api_token(TOKEN))
            .with_base_url(base)
            .with_retry(fast_retry())
            .with_page_limit(10)
            .with_list_budget(ListBudget {
                max_pages,
                max_bytes,
            }),
    )
    .unwrap()
}

#[tokio::test]
async fn an_endless_list_stops_at_the_page_budget() {
    use std::sync::atomic::Ordering;
    let (base, served) = paging_csp(None).await;
    let e = budget_client(&base, 7, 1 << 30).list().await.unwrap_err();
    match &e {
        ProviderError::ListTooLarge {
            pages, max_pages, ..
        } => assert_eq!((*pages, *max_pages), (7, 7)),
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("--list-max-pages"), "{e}");
    assert!(!e.is_retryable());
    // The 8th page was never asked for.
    assert_eq!(served.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn an_endless_list_stops_at_the_byte_budget() {
    use std::sync::atomic::Ordering;
    let (base, served) = paging_csp(None).await;
    // A page of 10 apps is ~1.3 KB: the budget holds a few pages.
    let max_bytes = 6_000;
    let e = budget_client(&base, 1000, max_bytes)
        .list()
        .await
        .unwrap_err();
    let ProviderError::ListTooLarge { pages, bytes, .. } = e else {
        panic!("{e:?}")
    };
    assert!(bytes <= max_bytes, "read {bytes} bytes");
    assert!((2..10).contains(&pages), "{pages} pages");
    // The pages read whole, and the one cut at the budget.
    assert_eq!(served.load(Ordering::SeqCst), u64::from(pages) + 1);
}

#[tokio::test]
async fn a_large_list_within_the_budget_is_read() {
    use std::sync::atomic::Ordering;
    let (base, served) = paging_csp(Some(95)).await;
    let apps = budget_client(&base, 10, 1 << 20).list().await.unwrap();
    assert_eq!(apps.len(), 95);
    assert_eq!(served.load(Ordering::SeqCst), 10);
    // One page fewer than it needs: refused, not cut short.
    let e = budget_client(&base, 9, 1 << 20).list().await.unwrap_err();
    assert!(
        matches!(e, ProviderError::ListTooLarge { pages: 9, .. }),
        "{e:?}"
    );
}

/// Request metrics see the token exchange too: the hook reaches the token source
/// the client shares its executor with, not only the client's own calls.
#[tokio::test]
async fn the_request_hook_sees_the_token_exchange() {
    use clientops::provider::http::{RequestHook, RequestRecord};
    let emu = Emu::start(&[]).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook: RequestHook = {
        let seen = seen.clone();
        std::sync::Arc::new(move |r: &RequestRecord<'_>| seen.lock().unwrap().push(r.operation))
    };
    let csp = emu.client().with_request_hook(hook);
    csp.list().await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&Operation::Authenticate), "{seen:?}");
    assert!(seen.contains(&Operation::List), "{seen:?}");
}
