//! The executor against a fake apiserver, as kube-rs' controller examples test
//! theirs: scripted request → response pairs behind `kube::Client::new`, and the
//! requests the runner sent asserted. Provider calls go to an in-memory fake.
//! Each test is one branch of `PlanRunner` where the apiserver's answer decides
//! what happens next: a conflict on the Secret or status write, AlreadyExists on
//! the Secret's create, a create whose intent is void.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};

use super::*;
use crate::api::provider::ProviderType;
use crate::controller::accounts::AccountCache;
use crate::controller::cache::ReadCache;
use crate::controller::context::{FORCED_RESYNC_INTERVAL, Settings, SystemClock};
use crate::controller::desired::desired_for;
use crate::controller::fairness::{ForcedResyncs, InFlight, Workers};
use crate::controller::intent_proof::IntentKeys;
use crate::controller::observe::RemoteObs;
use crate::controller::resolve::{Origin, Resolved};
use crate::provider::error::ProviderMessage;
use crate::provider::model::{
    AssignedIds, ChosenIds, ChosenSecrets, ClientFields, CreatedClient, Creation, Field,
    GeneratedSecrets, Provider, RemoteClient, Secrets,
};
use crate::provider::ratelimit::{LimiterKey, RateLimitConfig, RateLimiter, RateLimiterRegistry};
use crate::provider::scoped::ScopedProvider;
use crate::telemetry::Metrics;

const NS: &str = "team-a";
const UID: &str = "uid-1";
const SECRETS: &str = "/api/v1/namespaces/team-a/secrets";
const SECRET: &str = "/api/v1/namespaces/team-a/secrets/grafana";
const OBJECT: &str = "/apis/clientops.dev/v1alpha1/namespaces/team-a/oauthclients/grafana";
const STATUS: &str = "/apis/clientops.dev/v1alpha1/namespaces/team-a/oauthclients/grafana/status";

// ---------------------------------------------------------------------------
// The fake apiserver.

/// What the fake apiserver answers to one request.
enum Answer {
    /// This status code and body.
    With(u16, Value),
    /// 200 with the request's body, given a new resourceVersion (a write that took).
    Echo,
}

/// One scripted exchange: the request expected next, and its answer.
struct Step {
    method: &'static str,
    path: &'static str,
    answer: Answer,
}

fn step(method: &'static str, path: &'static str, answer: Answer) -> Step {
    Step {
        method,
        path,
        answer,
    }
}

/// A request as the fake apiserver received it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    body: Value,
}

/// An apiserver that answers a script in order. Events (published without
/// waiting, by a task of their own) are accepted and not part of the script.
#[derive(Clone, Default)]
struct ApiServer {
    state: Arc<Mutex<(VecDeque<Step>, Vec<Seen>)>>,
}

impl ApiServer {
    fn new(script: Vec<Step>) -> Self {
        let me = Self::default();
        me.state.lock().unwrap().0 = script.into();
        me
    }

    /// A kube client whose requests this server answers.
    fn client(&self) -> kube::Client {
        let me = self.clone();
        let router = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let me = me.clone();
            async move { me.answer(req).await }
        });
        kube::Client::new(router, "default")
    }

    async fn answer(&self, req: axum::extract::Request) -> axum::response::Response {
        let method = req.method().to_string();
        let path = req.uri().path().to_string();
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if path.starts_with("/apis/events.k8s.io/") {
            return respond(201, body);
        }
        let mut state = self.state.lock().unwrap();
        state.1.push(Seen {
            method: method.clone(),
            path: path.clone(),
            body: body.clone(),
        });
        match state.0.pop_front() {
            Some(s) if s.method == method && s.path == path => match s.answer {
                Answer::With(code, body) => respond(code, body),
                Answer::Echo => {
                    let mut body = body;
                    body["metadata"]["resourceVersion"] = json!("100");
                    respond(200, body)
                }
            },
            other => respond(
                500,
                status_body(
                    500,
                    "InternalError",
                    &format!(
                        "unscripted request {method} {path}; expected {:?}",
                        other.map(|s| (s.method, s.path))
                    ),
                ),
            ),
        }
    }

    /// The requests received, in order.
    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().1.clone()
    }

    /// Method and path of the requests received, in order.
    fn requests(&self) -> Vec<(String, String)> {
        self.seen()
            .into_iter()
            .map(|s| (s.method, s.path))
            .collect()
    }

    /// Every scripted exchange took place.
    fn finished(&self) -> bool {
        self.state.lock().unwrap().0.is_empty()
    }
}

fn respond(code: u16, body: Value) -> axum::response::Response {
    axum::response::Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap()
}

/// A `metav1.Status` failure, as the apiserver sends it.
fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn conflict() -> Answer {
    Answer::With(
        409,
        status_body(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        ),
    )
}

fn already_exists() -> Answer {
    Answer::With(
        409,
        status_body(409, "AlreadyExists", "secrets \"grafana\" already exists"),
    )
}

fn requests(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

// ---------------------------------------------------------------------------
// The fake provider.

/// An in-memory provider account: client `c1`, made with secret `s1`; a
/// rotation issues `s2`. Every call is recorded.
#[derive(Clone, Default)]
struct FakeProvider {
    /// Shared by the copy the runner calls and the one the test reads.
    calls: Arc<Mutex<Vec<String>>>,
    /// `create` is refused as invalid.
    rejects_create: bool,
    /// clientops chooses the id and the secret (CSP-like modes).
    chosen: bool,
    /// `create_with` answers Conflict: the id is taken.
    create_conflicts: bool,
    /// `get` finds nothing, even after a Conflict (an old client being deleted).
    get_finds_nothing: bool,
    /// A tenant wrote the provider object (a namespaced OAuthProvider): its
    /// errors are shown without the far end's words.
    tenant: bool,
    /// When a new client's secret expires, as the provider says.
    secret_expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl FakeProvider {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }
}

fn remote_c1(fields: &ClientFields) -> RemoteClient {
    RemoteClient {
        id: "c1".into(),
        fields: fields.clone(),
        has_rotated_secret: false,
        created_at: None,
        marker: None,
        secret_changed_at: None,
        secret_expires_at: None,
    }
}

#[async_trait]
impl Provider for FakeProvider {
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn account(&self) -> &str {
        "fake"
    }
    async fn check_credentials(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn list(&self) -> Result<Vec<RemoteClient>, ProviderError> {
        self.record("list".into());
        Ok(vec![])
    }
    async fn get(&self, id: &str) -> Result<Option<RemoteClient>, ProviderError> {
        self.record(format!("get {id}"));
        let held = self.create_conflicts && !self.get_finds_nothing;
        Ok(held.then(|| remote_c1(&ClientFields::default())))
    }
    async fn update(
        &self,
        id: &str,
        fields: &ClientFields,
        _changed: &[Field],
    ) -> Result<RemoteClient, ProviderError> {
        self.record(format!("update {id}"));
        Ok(remote_c1(fields))
    }
    async fn delete(&self, id: &str) -> Result<(), ProviderError> {
        self.record(format!("delete {id}"));
        Ok(())
    }
    fn creation(&self) -> Creation<'_> {
        match self.chosen {
            true => Creation::Chosen(self),
            false => Creation::Assigned(self),
        }
    }
    fn secrets(&self) -> Secrets<'_> {
        match self.chosen {
            true => Secrets::Chosen(self),
            false => Secrets::Generated(self),
        }
    }
}

#[async_trait]
impl ChosenIds for FakeProvider {
    async fn create_with(
        &self,
        fields: &ClientFields,
        id: &str,
        secret: &ClientSecret,
    ) -> Result<RemoteClient, ProviderError> {
        self.record(format!("create_with {id} {}", secret.expose()));
        if self.create_conflicts {
            return Err(ProviderError::Conflict { messages: vec![] });
        }
        Ok(remote_c1(fields))
    }
}

#[async_trait]
impl ChosenSecrets for FakeProvider {
    fn generate_secret(&self) -> ClientSecret {
        self.record("generate".into());
        ClientSecret::new("g1")
    }
    fn keeps_previous(&self) -> bool {
        true
    }
    async fn rotate_to(
        &self,
        id: &str,
        new: &ClientSecret,
        _grace: std::time::Duration,
    ) -> Result<(), ProviderError> {
        self.record(format!("rotate_to {id} {}", new.expose()));
        Ok(())
    }
    async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        self.record(format!("retire {id}"));
        Ok(())
    }
}

#[async_trait]
impl AssignedIds for FakeProvider {
    async fn create(
        &self,
        fields: &ClientFields,
        _marker: &str,
    ) -> Result<CreatedClient, ProviderError> {
        self.record("create".into());
        if self.rejects_create {
            return Err(ProviderError::Invalid {
                status: 400,
                messages: vec![ProviderMessage::new(
                    Some("HostDenied".into()),
                    FAR_END_WORDS,
                    None,
                )],
            });
        }
        let mut client = remote_c1(fields);
        client.secret_expires_at = self.secret_expires_at;
        Ok(CreatedClient {
            client,
            secret: Some(ClientSecret::new("s1")),
        })
    }
}

#[async_trait]
impl GeneratedSecrets for FakeProvider {
    async fn rotate(&self, id: &str) -> Result<ClientSecret, ProviderError> {
        self.record(format!("rotate {id}"));
        Ok(ClientSecret::new("s2"))
    }
    async fn retire(&self, id: &str) -> Result<(), ProviderError> {
        self.record(format!("retire {id}"));
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// The object, its Secret, the context.

fn context(client: kube::Client) -> Context {
    crate::tls::install_crypto_provider();
    let (clients, _writer) = kube::runtime::reflector::store();
    Context {
        client,
        reporter: Reporter {
            controller: "clientops".into(),
            instance: None,
        },
        settings: Settings::new("clientops-system", Duration::from_secs(300)),
        clock: Arc::new(SystemClock),
        http: reqwest::Client::new(),
        tenant_http: reqwest::Client::new(),
        workers: Workers::new(4),
        in_flight: InFlight::default(),
        forced: ForcedResyncs::new(FORCED_RESYNC_INTERVAL),
        limiters: RateLimiterRegistry::new(),
        accounts: AccountCache::default(),
        cache: ReadCache::default(),
        own_writes: Arc::default(),
        secret_memo: Arc::default(),
        clients,
        intent_keys: Arc::new(IntentKeys::new(vec![7; 32], None).expect("long enough")),
        metrics: Arc::new(Metrics::new()),
    }
}

/// OAuthClient `team-a/grafana` at a Cloudflare-like provider, with `status`.
fn object(status: Value) -> OAuthClient {
    serde_json::from_value(json!({
        "apiVersion": "clientops.dev/v1alpha1",
        "kind": "OAuthClient",
        "metadata": {"name": "grafana", "namespace": NS, "uid": UID,
                     "resourceVersion": "10", "generation": 1,
                     "finalizers": [FINALIZER]},
        "spec": {
            "providerRef": {"kind": "ClusterOAuthProvider", "name": "cf"},
            "clientName": "Grafana",
            "redirectUris": ["https://grafana.example.com/callback"],
            "grantTypes": ["authorization_code", "refresh_token"],
            "scopes": ["account.read"],
        },
        "status": status,
    }))
    .expect("a valid OAuthClient")
}

fn desired(obj: &OAuthClient) -> Desired {
    let kind = crate::provider::registry::kind(ProviderType::Cloudflare);
    desired_for(obj, Some(kind)).expect("a valid spec")
}

/// The Secret as clientops writes it for `obj`, holding `secret` (and `previous`).
fn our_secret(obj: &OAuthClient, secret: &str, resource_version: &str) -> Secret {
    let creds = Credentials {
        client_id: "c1".into(),
        secret: Some(ClientSecret::new(secret)),
        previous: None,
        pending: None,
    };
    let mut s = render(obj, &desired(obj).secret, &creds, &Stamps::default());
    s.metadata.resource_version = Some(resource_version.into());
    s
}

/// A Secret of that name that is not this OAuthClient's.
fn foreign_secret() -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "grafana", "namespace": NS, "resourceVersion": "3"},
           "data": {"password": "aHVudGVyMg=="}})
}

/// The value under `key` of a Secret as sent to the apiserver.
fn secret_value(body: &Value, key: &str) -> Option<String> {
    let v = body["data"][key].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
    String::from_utf8(bytes).ok()
}

/// Everything one run needs, and what it left behind.
struct Run {
    server: ApiServer,
    provider: Arc<FakeProvider>,
    ctx: Context,
    obj: OAuthClient,
    obs: Observation,
    writer: StatusWriter,
}

impl Run {
    /// `obj` observed with Secret `raw` (`None`: known to be absent), at
    /// `provider`, against an apiserver answering `script`.
    fn new(
        obj: OAuthClient,
        raw: Option<Secret>,
        provider: FakeProvider,
        script: Vec<Step>,
    ) -> Self {
        let server = ApiServer::new(script);
        let ctx = context(server.client());
        let scoped = ScopedProvider::new(Box::new(provider.clone()), "", "", provider.tenant);
        let provider = Arc::new(provider);
        let resolved = Resolved {
            provider: Arc::new(scoped),
            kind: crate::provider::registry::kind(ProviderType::Cloudflare),
            provider_type: ProviderType::Cloudflare,
            origin: Origin::Cluster { name: "cf".into() },
            limiter: Arc::new(RateLimiter::new(
                LimiterKey::new("http://127.0.0.1:1", "acct"),
                RateLimitConfig::new(1000, Duration::from_secs(1)),
                None,
            )),
            policy: None,
            unproven_import_allowed: false,
        };
        let d = desired(&obj);
        let remote = match obj.status.as_ref().and_then(|s| s.client_id.as_ref()) {
            Some(_) => RemoteObs::Found(Box::new(remote_c1(&d.fields))),
            None => RemoteObs::NotCreated,
        };
        let obs = Observation::by_hand(&obj, d, Some(resolved), remote, raw);
        let writer = StatusWriter::new(Api::namespaced(ctx.client.clone(), NS), "grafana".into());
        Run {
            server,
            provider,
            ctx,
            obj,
            obs,
            writer,
        }
    }

    async fn run(&mut self, actions: &[Action]) -> Executed {
        PlanRunner::new(&self.ctx, &self.obj, &self.obs, &mut self.writer)
            .run(actions)
            .await
    }
}

fn created_status() -> Value {
    json!({"clientId": "c1", "secretName": "grafana", "secretMAC": "m1",
           "rotation": {"phase": "Idle", "lastRotatedAt": "2026-11-01T00:00:00Z"}})
}

fn pending_create() -> Value {
    json!({"pendingCreate": {"startedAt": "2026-11-24T12:00:00Z", "marker": "sent:abc"}})
}

fn rotate_c1() -> Action {
    Action::Rotate {
        id: "c1".into(),
        reason: RotationReason::Requested("r".into()),
        retire_at: chrono::Utc::now() + chrono::Duration::hours(1),
        secret: ChosenSecret::New,
    }
}

// ---------------------------------------------------------------------------
// The branches.

#[tokio::test]
async fn a_secret_changed_since_it_was_read_is_read_again_and_the_new_secret_written() {
    let mut status = created_status();
    status["pendingRotation"] =
        json!({"startedAt": "2026-11-24T12:00:00Z", "marker": "requested:r"});
    let obj = object(status);
    let raw = our_secret(&obj, "s1", "5");
    let mut run = Run::new(
        obj.clone(),
        Some(raw.clone()),
        FakeProvider::default(),
        vec![
            step("PUT", SECRET, conflict()),
            step(
                "GET",
                SECRET,
                Answer::With(
                    200,
                    serde_json::to_value(our_secret(&obj, "s1", "6")).unwrap(),
                ),
            ),
            step("PUT", SECRET, Answer::Echo),
        ],
    );
    let done = run.run(&[rotate_c1()]).await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert_eq!(
        run.provider.calls(),
        ["rotate c1"],
        "the secret the provider returned once is kept, not asked for again"
    );
    assert_eq!(
        run.server.requests(),
        requests(&[("PUT", SECRET), ("GET", SECRET), ("PUT", SECRET)])
    );
    let seen = run.server.seen();
    let key = desired(&obj).secret;
    let last = &seen[2].body;
    assert_eq!(
        last["metadata"]["resourceVersion"],
        json!("6"),
        "written over the version read again"
    );
    assert_eq!(
        secret_value(last, &key.key_client_secret).as_deref(),
        Some("s2")
    );
    assert_eq!(
        secret_value(last, &key.key_previous).as_deref(),
        Some("s1"),
        "the previous secret stays published in grace"
    );
    // The status write ends the plan's last action: held back, to go out with
    // the conditions; our copy has it.
    assert!(run.writer.holds());
    assert_eq!(done.status.pending_rotation, None);
    assert_eq!(
        done.status.rotation.and_then(|r| r.phase),
        Some(RotationPhase::Retiring)
    );
    // The next round starts from the Secret as written, without reading it.
    assert!(done.secret_touched);
    let (_, written) = done.secret.expect("known");
    assert_eq!(
        written.and_then(|s| s.metadata.resource_version).as_deref(),
        Some("100")
    );
}

#[tokio::test]
async fn a_first_create_that_finds_a_foreign_secret_deletes_its_client_and_voids_the_intent() {
    // A never-reconciled object's Secret is assumed absent, not read (reconcile.rs).
    let obj = object(pending_create());
    let answer = serde_json::to_value(&obj).unwrap();
    let mut run = Run::new(
        obj,
        None,
        FakeProvider::default(),
        vec![
            step("POST", SECRETS, already_exists()),
            step("GET", SECRET, Answer::With(200, foreign_secret())),
            step("PATCH", STATUS, Answer::With(200, answer)),
        ],
    );
    let done = run
        .run(&[Action::Create {
            how: CreatePath::Generated,
        }])
        .await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert!(run.server.finished());
    assert_eq!(
        run.provider.calls(),
        ["create", "delete c1"],
        "nobody can hold the new client's secret: the client is deleted"
    );
    let seen = run.server.seen();
    assert_eq!(
        seen[0].body["metadata"]["ownerReferences"][0]["uid"],
        json!(UID)
    );
    assert_eq!(
        seen[2].body,
        json!({"status": {"pendingCreate": null}}),
        "the intent is void: nothing it made is left"
    );
    assert_eq!(done.status.pending_create, None);
    assert_eq!(done.status.client_id, None);
    // The Secret is known now: the next round observes it, and stalls saying why.
    let (name, found) = done.secret.expect("known");
    assert_eq!(name, "grafana");
    assert!(found.is_some_and(|s| s.data.is_some_and(|d| d.contains_key("password"))));
}

#[tokio::test]
async fn a_first_create_that_finds_its_own_secret_writes_over_it() {
    // An earlier attempt of ours wrote the Secret (then stopped): ours, replaced.
    let obj = object(pending_create());
    let ours = serde_json::to_value(our_secret(&obj, "s0", "4")).unwrap();
    let mut run = Run::new(
        obj.clone(),
        None,
        FakeProvider::default(),
        vec![
            step("POST", SECRETS, already_exists()),
            step("GET", SECRET, Answer::With(200, ours)),
            step("PUT", SECRET, Answer::Echo),
        ],
    );
    let done = run
        .run(&[Action::Create {
            how: CreatePath::Generated,
        }])
        .await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert!(run.server.finished());
    assert_eq!(run.provider.calls(), ["create"]);
    let seen = run.server.seen();
    assert_eq!(seen[2].body["metadata"]["resourceVersion"], json!("4"));
    let key = desired(&obj).secret;
    assert_eq!(
        secret_value(&seen[2].body, &key.key_client_secret).as_deref(),
        Some("s1")
    );
    assert_eq!(
        secret_value(&seen[2].body, &key.key_client_id).as_deref(),
        Some("c1")
    );
    // Recorded as created (held back for the conditions).
    assert!(run.writer.holds());
    assert_eq!(done.status.client_id.as_deref(), Some("c1"));
    assert_eq!(done.status.pending_create, None);
}

#[tokio::test]
async fn a_create_records_when_its_secret_expires_and_when_it_is_replaced() {
    // In the create's own status write: not one more write in the next round.
    let expires = "2028-12-01T00:00:00Z";
    let mut run = Run::new(
        object(pending_create()),
        None,
        FakeProvider {
            secret_expires_at: Some(expires.parse().unwrap()),
            ..Default::default()
        },
        vec![step("POST", SECRETS, Answer::Echo)],
    );
    let done = run
        .run(&[Action::Create {
            how: CreatePath::Generated,
        }])
        .await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert!(run.server.finished(), "{:?}", run.server.requests());
    let rotation = done.status.rotation.expect("rotation status");
    assert_eq!(rotation.secret_expires_at.as_deref(), Some(expires));
    assert_eq!(
        rotation.next_rotation_at.as_deref(),
        Some("2028-11-24T00:00:00Z"),
        "a week before it expires"
    );
}

#[tokio::test]
async fn a_create_the_provider_rejects_voids_its_intent_and_writes_no_secret() {
    let (run, done) = rejected_create(false).await;
    let err = done.result.expect_err("the provider refused the create");
    assert!(err.is_stalled(), "a human must fix the spec: {err}");
    assert!(run.server.finished(), "{:?}", run.server.requests());
    assert_eq!(
        run.server.requests(),
        requests(&[("PATCH", OBJECT), ("PATCH", STATUS)]),
        "no Secret is written for a client that was not made"
    );
    let seen = run.server.seen();
    assert_eq!(
        seen[0].body,
        json!({"metadata": {"annotations": {markers::PENDING_CREATE: null}}})
    );
    assert_eq!(seen[1].body, json!({"status": {"pendingCreate": null}}));
    assert_eq!(done.status.pending_create, None);
    assert_eq!(run.provider.calls(), ["create"]);
}

/// What a rejecting fake provider's far end says: words a tenant must not read
/// when it wrote the provider object.
const FAR_END_WORDS: &str = "db.internal:5432 said: relation admin_users";

/// A create the provider rejects, with a signed intent, at a provider object a
/// tenant wrote (`tenant`) or the admin did: the run and what it did.
async fn rejected_create(tenant: bool) -> (Run, Executed) {
    let mut obj = object(pending_create());
    obj.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(markers::PENDING_CREATE.into(), "signed intent".into());
    let answer = serde_json::to_value(&obj).unwrap();
    let mut run = Run::new(
        obj,
        None,
        FakeProvider {
            rejects_create: true,
            tenant,
            ..Default::default()
        },
        vec![
            step("PATCH", OBJECT, Answer::With(200, answer.clone())),
            step("PATCH", STATUS, Answer::With(200, answer)),
        ],
    );
    let done = run
        .run(&[Action::Create {
            how: CreatePath::Generated,
        }])
        .await;
    (run, done)
}

async fn rejected_create_error(tenant: bool) -> Error {
    let (_, done) = rejected_create(tenant).await;
    done.result.expect_err("the provider refused the create")
}

#[tokio::test]
async fn a_provider_error_leaves_the_runner_as_its_provider_objects_owner_may_read_it() {
    let tenant = rejected_create_error(true).await;
    let text = tenant.to_string();
    assert!(
        !text.contains("db.internal") && !text.contains("HostDenied"),
        "{text}"
    );
    assert!(
        text.contains("HTTP 400"),
        "the class of failure still shows: {text}"
    );
    assert!(tenant.is_stalled(), "the class decides as before: {tenant}");
    assert_eq!(tenant.reason(), "ProviderRejected");

    let admin = rejected_create_error(false).await.to_string();
    assert!(
        admin.contains(FAR_END_WORDS),
        "the admin reads it whole: {admin}"
    );
}

#[tokio::test]
async fn a_rotation_never_starts_when_its_intent_cannot_be_recorded() {
    let obj = object(created_status());
    let answer = serde_json::to_value(&obj).unwrap();
    let raw = our_secret(&obj, "s1", "5");
    let mut run = Run::new(
        obj,
        Some(raw),
        FakeProvider::default(),
        vec![
            step("PATCH", STATUS, conflict()),
            // The next write (the conditions, in the reconcile) carries it.
            step("PATCH", STATUS, Answer::With(200, answer)),
        ],
    );
    let done = run
        .run(&[
            Action::RecordPendingRotation {
                reason: RotationReason::Requested("r".into()),
            },
            rotate_c1(),
        ])
        .await;
    assert!(done.result.is_err());
    assert_eq!(
        run.provider.calls(),
        Vec::<String>::new(),
        "no rotation without its recorded intent"
    );
    assert_eq!(
        done.status.pending_rotation, None,
        "not written: not in our copy"
    );
    assert!(!done.secret_touched);
    // The intent was not lost: it goes out with the next status write.
    assert!(run.writer.holds());
    run.writer.flush(&run.ctx).await.expect("written");
    let seen = run.server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body);
    assert_eq!(
        seen[1].body["status"]["pendingRotation"]["marker"],
        json!("requested:r")
    );
}

#[tokio::test]
async fn a_first_create_never_runs_when_its_finalizer_and_intent_cannot_be_written() {
    let mut obj = object(json!({}));
    obj.metadata.finalizers = None;
    let mut run = Run::new(
        obj,
        None,
        FakeProvider::default(),
        vec![step("PATCH", OBJECT, conflict())],
    );
    let done = run
        .run(&[
            Action::AddFinalizerWithIntent {
                marker: "sent:abc".into(),
            },
            Action::Create {
                how: CreatePath::Generated,
            },
        ])
        .await;
    assert!(done.result.is_err());
    assert_eq!(run.provider.calls(), Vec::<String>::new());
    assert!(!done.has_finalizer);
    assert_eq!(done.status.pending_create, None);
    let body = &run.server.seen()[0].body;
    assert_eq!(
        body["metadata"]["resourceVersion"],
        json!("10"),
        "a compare-and-swap on the version planned from"
    );
    assert_eq!(body["metadata"]["finalizers"], json!([FINALIZER]));
    assert!(body["metadata"]["annotations"][markers::PENDING_CREATE].is_string());
}

#[tokio::test]
async fn a_status_write_refused_after_the_secret_write_leaves_the_secret_for_the_next_round() {
    let mut status = created_status();
    status["pendingRotation"] =
        json!({"startedAt": "2026-11-24T12:00:00Z", "marker": "requested:r"});
    let obj = object(status);
    let raw = our_secret(&obj, "s1", "5");
    let mut run = Run::new(
        obj,
        Some(raw),
        FakeProvider::default(),
        vec![
            step("PUT", SECRET, Answer::Echo),
            step("PATCH", STATUS, conflict()),
        ],
    );
    // Not the last action: the rotation's status write is sent, not held.
    let done = run
        .run(&[
            rotate_c1(),
            Action::RecordReconcileRequest { value: "x".into() },
        ])
        .await;
    assert!(done.result.is_err());
    assert_eq!(run.provider.calls(), ["rotate c1"]);
    assert_eq!(
        run.server.requests(),
        requests(&[("PUT", SECRET), ("PATCH", STATUS)]),
        "the Secret first, then status"
    );
    // The Secret holds the new secret, stamped with the pending rotation's id:
    // the next round finishes the rotation from it (FinishRotation).
    let seen = run.server.seen();
    assert_eq!(
        seen[0].body["metadata"]["annotations"][crate::secret::render::ROTATION_ID],
        json!("2026-11-24T12:00:00Z")
    );
    assert!(done.secret_touched);
    assert!(
        done.status.pending_rotation.is_some(),
        "status still says pending"
    );
    assert_eq!(
        done.status.last_reconcile_request, None,
        "the actions after the failure did not run"
    );
}

// ---------------------------------------------------------------------------
// Where clientops chooses the secret: which secret a repeated call sends (the
// planner's `ChosenSecret`), and the GET after a create's Conflict.

/// `obj`'s Secret holding `secret` and, as a rotation's pending one, `pending`.
fn our_secret_with_pending(obj: &OAuthClient, secret: &str, pending: &str) -> Secret {
    let creds = Credentials {
        client_id: "c1".into(),
        secret: Some(ClientSecret::new(secret)),
        previous: None,
        pending: Some(ClientSecret::new(pending)),
    };
    let mut s = render(obj, &desired(obj).secret, &creds, &Stamps::default());
    s.metadata.resource_version = Some("5".into());
    s
}

fn chosen() -> FakeProvider {
    FakeProvider {
        chosen: true,
        ..Default::default()
    }
}

fn rotate_c1_with(secret: ChosenSecret) -> Action {
    Action::Rotate {
        id: "c1".into(),
        reason: RotationReason::Requested("r".into()),
        retire_at: chrono::Utc::now() + chrono::Duration::hours(1),
        secret,
    }
}

#[tokio::test]
async fn a_repeated_rotation_sends_the_pending_secret_in_the_secret_again() {
    let mut status = created_status();
    status["pendingRotation"] =
        json!({"startedAt": "2026-11-24T12:00:00Z", "marker": "requested:r"});
    let obj = object(status);
    let raw = our_secret_with_pending(&obj, "s1", "p1");
    let mut run = Run::new(
        obj.clone(),
        Some(raw),
        chosen(),
        vec![step("PUT", SECRET, Answer::Echo)],
    );
    let done = run.run(&[rotate_c1_with(ChosenSecret::Kept)]).await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert_eq!(
        run.provider.calls(),
        ["rotate_to c1 p1"],
        "the secret an earlier attempt persisted is sent again; none is generated"
    );
    assert_eq!(
        run.server.requests(),
        requests(&[("PUT", SECRET)]),
        "the pending secret is already in the Secret: one write, after the call"
    );
    let key = desired(&obj).secret;
    let written = &run.server.seen()[0].body;
    assert_eq!(
        secret_value(written, &key.key_client_secret).as_deref(),
        Some("p1")
    );
    assert_eq!(
        secret_value(written, &key.key_previous).as_deref(),
        Some("s1")
    );
}

#[tokio::test]
async fn a_new_rotation_persists_the_generated_secret_before_the_call() {
    let mut status = created_status();
    status["pendingRotation"] =
        json!({"startedAt": "2026-11-24T12:00:00Z", "marker": "requested:r"});
    let obj = object(status);
    let raw = our_secret(&obj, "s1", "5");
    let mut run = Run::new(
        obj.clone(),
        Some(raw),
        chosen(),
        vec![
            step("PUT", SECRET, Answer::Echo),
            step("PUT", SECRET, Answer::Echo),
        ],
    );
    let done = run.run(&[rotate_c1_with(ChosenSecret::New)]).await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert_eq!(run.provider.calls(), ["generate", "rotate_to c1 g1"]);
    let key = desired(&obj).secret;
    let seen = run.server.seen();
    assert_eq!(
        secret_value(&seen[0].body, crate::secret::render::PENDING_KEY).as_deref(),
        Some("g1"),
        "the new secret is in the Secret before the provider is asked"
    );
    assert_eq!(
        secret_value(&seen[1].body, &key.key_client_secret).as_deref(),
        Some("g1")
    );
}

/// A repeated create of chosen id `c1` whose Secret already holds `s1` (an
/// earlier attempt wrote it), at `provider`: the run and what it did.
async fn repeated_chosen_create(provider: FakeProvider) -> (Run, Executed) {
    let obj =
        object(json!({"pendingCreate": {"startedAt": "2026-11-24T12:00:00Z", "marker": "id:c1"}}));
    let raw = our_secret(&obj, "s1", "5");
    let mut run = Run::new(
        obj,
        Some(raw),
        provider,
        vec![step("PUT", SECRET, Answer::Echo)],
    );
    let done = run
        .run(&[Action::Create {
            how: CreatePath::ChosenId {
                id: "c1".into(),
                secret: ChosenSecret::Kept,
            },
        }])
        .await;
    (run, done)
}

#[tokio::test]
async fn a_repeated_create_with_a_chosen_id_sends_the_secret_in_the_secret_again() {
    let (run, done) = repeated_chosen_create(chosen()).await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert_eq!(run.provider.calls(), ["create_with c1 s1"]);
    assert_eq!(done.status.client_id.as_deref(), Some("c1"));
    assert_eq!(done.status.pending_create, None);
}

#[tokio::test]
async fn a_chosen_id_the_provider_already_holds_is_read_and_taken_as_created() {
    let (run, done) = repeated_chosen_create(FakeProvider {
        chosen: true,
        create_conflicts: true,
        ..Default::default()
    })
    .await;
    assert!(done.result.is_ok(), "{:?}", done.result.err());
    assert_eq!(
        run.provider.calls(),
        ["create_with c1 s1", "get c1"],
        "a Conflict on our own id is our earlier attempt: read, not created again"
    );
    assert_eq!(done.status.client_id.as_deref(), Some("c1"));
    assert_eq!(done.status.pending_create, None);
}

#[tokio::test]
async fn a_chosen_id_in_conflict_that_cannot_be_read_is_an_error_not_a_client() {
    let (run, done) = repeated_chosen_create(FakeProvider {
        chosen: true,
        create_conflicts: true,
        get_finds_nothing: true,
        ..Default::default()
    })
    .await;
    assert!(
        done.result.is_err(),
        "the provider is still deleting an old c1"
    );
    assert_eq!(run.provider.calls(), ["create_with c1 s1", "get c1"]);
    assert_eq!(done.status.client_id, None);
    assert!(
        done.status.pending_create.is_some(),
        "the intent stays: a later round finds c1"
    );
}
