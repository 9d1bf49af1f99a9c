//! The core with a toy third emulator: what it takes to write one (a state, an
//! error type, routes, and the `Emulated` impl) and what the core then does for
//! it, over real HTTP on loopback.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;
use crate::emulator::core::StateFile;

/// Notes by name; `seeded` exists from the start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct Notes {
    version: u32,
    notes: BTreeMap<String, String>,
}

impl Default for Notes {
    fn default() -> Self {
        Self {
            version: 1,
            notes: BTreeMap::new(),
        }
    }
}

impl StateFile for Notes {
    const VERSION: u32 = 1;
    fn version(&self) -> u32 {
        self.version
    }
}

/// `{"problem": ...}` with a status (and, when throttled, the core's headers).
#[derive(Debug)]
struct Problem(StatusCode, String, Box<HeaderMap>);

fn problem(status: StatusCode, text: &str) -> Problem {
    Problem(status, text.into(), Box::default())
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        (self.0, *self.2, axum::Json(json!({ "problem": self.1 }))).into_response()
    }
}

impl From<CoreError> for Problem {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Throttled(headers) => Problem(
                StatusCode::TOO_MANY_REQUESTS,
                "slow down".into(),
                Box::new(headers),
            ),
            CoreError::NoRoute => problem(StatusCode::NOT_FOUND, "no such thing"),
            CoreError::MethodNotAllowed => problem(StatusCode::METHOD_NOT_ALLOWED, "not like that"),
            other => problem(StatusCode::INTERNAL_SERVER_ERROR, &format!("{other:?}")),
        }
    }
}

#[derive(Debug)]
struct Writer;

impl RateLimited for Writer {
    fn bucket_key(&self) -> &str {
        "writer"
    }
}

struct NotesConfig {
    state_file: Option<PathBuf>,
    rate_limit: Option<RateLimit>,
}

struct NotesApi;

impl Emulated for NotesApi {
    type Config = NotesConfig;
    type State = Notes;
    type Error = Problem;
    type Caller = Writer;
    /// How many notes were read since the start or the last reset.
    type Transient = Mutex<u32>;

    const NAME: &'static str = "notes";
    const API_PREFIX: &'static str = "/api";
    const BASE_PATH: &'static str = "/api";
    const ADMIN_ENDPOINTS: &'static [&'static str] = &["GET /__emulator/reads"];

    fn check(_: &NotesConfig) -> anyhow::Result<()> {
        Ok(())
    }
    fn state_file(cfg: &NotesConfig) -> Option<&Path> {
        cfg.state_file.as_deref()
    }
    fn rate_limit(cfg: &NotesConfig) -> Option<RateLimit> {
        cfg.rate_limit
    }
    fn seed(_: &NotesConfig, state: &mut Notes) {
        state.notes.entry("seeded".into()).or_default();
    }
    fn reset_transient(reads: &Mutex<u32>) {
        *reads.lock().unwrap() = 0;
    }
    fn authenticate(_: &Emulator<Self>, headers: &HeaderMap) -> Result<Writer, Problem> {
        match headers.get("x-writer") {
            Some(_) => Ok(Writer),
            None => Err(problem(StatusCode::UNAUTHORIZED, "who are you")),
        }
    }
    fn classify(method: &Method, _: &str) -> &'static str {
        if method == Method::GET {
            "read"
        } else {
            "write"
        }
    }
    fn credentials_valid(em: &Emulator<Self>, client_id: &str, secret: &str) -> bool {
        em.read(|st| st.notes.get(client_id).is_some_and(|n| n == secret))
    }
    fn api(em: Emulator<Self>) -> Router {
        let notes = Router::new()
            .route(
                "/notes/{name}",
                put(write_note).fallback(method_not_allowed::<Problem>),
            )
            .layer(middleware::from_fn_with_state(em.clone(), gate::<Self>))
            .route("/notes/{name}/text", get(read_note))
            .fallback(no_route::<Problem>)
            .with_state(em);
        Router::new().nest("/api", notes)
    }
    fn admin(em: Emulator<Self>) -> Router {
        Router::new()
            .route("/__emulator/reads", get(reads))
            .with_state(em)
    }
}

async fn write_note(
    State(em): State<Emulator<NotesApi>>,
    UrlPath(name): UrlPath<String>,
    text: String,
) -> Result<StatusCode, Problem> {
    em.mutate(|st| {
        st.notes.insert(name, text);
        Ok(StatusCode::NO_CONTENT)
    })
}

async fn read_note(
    State(em): State<Emulator<NotesApi>>,
    UrlPath(name): UrlPath<String>,
) -> Result<String, Problem> {
    *em.transient().lock().unwrap() += 1;
    em.read(|st| st.notes.get(&name).cloned())
        .ok_or_else(|| CoreError::NoRoute.into())
}

async fn reads(State(em): State<Emulator<NotesApi>>) -> String {
    em.transient().lock().unwrap().to_string()
}

fn http() -> reqwest::Client {
    crate::provider::http::build_client(&Default::default()).unwrap()
}

async fn start(cfg: NotesConfig) -> RunningEmulator<NotesApi> {
    Emulator::<NotesApi>::start(cfg, "127.0.0.1:0")
        .await
        .unwrap()
}

fn unlimited() -> NotesConfig {
    NotesConfig {
        state_file: None,
        rate_limit: None,
    }
}

async fn json(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn the_core_serves_a_new_emulator_with_the_shared_admin_api() {
    let run = start(unlimited()).await;
    let http = http();
    let (status, index) = json(http.get(run.admin_url()).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(index["provider"], "notes");
    assert_eq!(index["api"], "/api");
    let endpoints = index["endpoints"].as_array().unwrap();
    assert_eq!(endpoints[0], "GET /__emulator/reads");
    assert!(
        endpoints.contains(&json!("POST /__emulator/reset")),
        "{index}"
    );

    // Outside the API and the admin API: the provider's own 404.
    let (status, body) = json(
        http.get(format!("http://{}/elsewhere", run.addr()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body), (404, json!({"problem": "no such thing"})));
    let (status, body) = json(
        http.get(format!("{}/nope", run.admin_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("GET /__emulator/"),
        "{body}"
    );

    // The gate: no caller, no write; a wrong method is the provider's 405.
    let note = format!("{}/notes/a", run.base_url());
    let (status, body) = json(http.put(&note).body("x").send().await.unwrap()).await;
    assert_eq!((status, body), (401, json!({"problem": "who are you"})));
    let resp = http
        .delete(&note)
        .header("x-writer", "me")
        .send()
        .await
        .unwrap();
    assert_eq!(json(resp).await, (405, json!({"problem": "not like that"})));

    // Credentials check and reset go through the provider's state and transient part.
    let resp = http
        .put(&note)
        .header("x-writer", "me")
        .body("pw")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let text = http
        .get(format!("{note}/text"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "pw");
    let check = |secret: &str| {
        http.post(format!("{}/credentials/check", run.admin_url()))
            .json(&json!({"client_id": "a", "client_secret": secret}))
            .send()
    };
    assert_eq!(
        json(check("pw").await.unwrap()).await.1,
        json!({"valid": true})
    );
    assert_eq!(
        json(check("no").await.unwrap()).await.1,
        json!({"valid": false})
    );
    let reads = || async {
        let r = http
            .get(format!("{}/reads", run.admin_url()))
            .send()
            .await
            .unwrap();
        r.text().await.unwrap()
    };
    assert_eq!(reads().await, "1");
    let resp = http
        .post(format!("{}/reset", run.admin_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(json(resp).await.1, json!({"reset": true}));
    assert_eq!(reads().await, "0");
    assert_eq!(
        run.emulator
            .read(|st| st.notes.keys().cloned().collect::<Vec<_>>()),
        ["seeded"]
    );
    run.shutdown().await.unwrap();
}

#[tokio::test]
async fn faults_and_the_rate_limit_answer_in_the_providers_format() {
    let run = start(NotesConfig {
        state_file: None,
        rate_limit: Some(RateLimit {
            requests: 1,
            period: Duration::from_secs(3600),
        }),
    })
    .await;
    let http = http();
    let note = format!("{}/notes/a", run.base_url());
    let write = || http.put(&note).header("x-writer", "me").body("x").send();
    let first = write().await.unwrap();
    assert_eq!(first.status(), 204);
    assert!(first.headers().contains_key("ratelimit"));
    let second = write().await.unwrap();
    assert!(second.headers().contains_key("retry-after"));
    assert_eq!(json(second).await, (429, json!({"problem": "slow down"})));

    let resp = http
        .put(format!("{}/faults", run.admin_url()))
        .json(&json!({"p_500": 1.0, "times": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (status, body) = json(http.get(format!("{note}/text")).send().await.unwrap()).await;
    assert_eq!((status, body), (500, json!({"problem": "Internal"})));
    let counted = json(
        http.get(format!("{}/requests", run.admin_url()))
            .send()
            .await
            .unwrap(),
    )
    .await
    .1;
    assert_eq!(counted["operations"]["write"]["total"], 2, "{counted}");
    assert_eq!(counted["operations"]["read"]["injected"], 1, "{counted}");
    run.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_state_file_outlives_the_emulator() {
    let dir = std::env::temp_dir().join(format!("clientops-core-notes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = || NotesConfig {
        state_file: Some(dir.join("state.json")),
        rate_limit: None,
    };
    let run = start(cfg()).await;
    let resp = http()
        .put(format!("{}/notes/kept", run.base_url()))
        .header("x-writer", "me")
        .body("yes")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    run.shutdown().await.unwrap();

    let again = Emulator::<NotesApi>::new(cfg()).unwrap();
    assert_eq!(
        again.read(|st| st.notes.get("kept").cloned()),
        Some("yes".into())
    );
    assert!(again.read(|st| st.notes.contains_key("seeded")));

    // A change whose file cannot be written is refused with the provider's 500
    // and not applied.
    std::fs::remove_dir_all(&dir).unwrap();
    let refused = again.mutate(|st| {
        st.notes.insert("lost".into(), String::new());
        Ok(())
    });
    assert!(
        matches!(refused, Err(Problem(StatusCode::INTERNAL_SERVER_ERROR, ref m, _)) if m == "NotSaved")
    );
    assert!(!again.read(|st| st.notes.contains_key("lost")));
}
