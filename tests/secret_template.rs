//! `spec.secret.endpoints` and `spec.secret.template` end to end: a real
//! apiserver, the Cloudflare emulator over real HTTP and `clientops run` as a
//! process. The Secret carries the provider's endpoints and keys rendered from
//! templates; a rotation rewrites all of them in the write that carries the new
//! secret; a hand-edited rendered key is restored without a rotation; a template
//! that cannot render stalls the object before anything is created; the CRD
//! refuses what it can tell at admission.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clientops::api::{ClusterOAuthProvider, OAuthClient};
use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use support::scenario::{Kind, Scenario, condition, is_ready};

const WAIT: Duration = Duration::from_secs(60);

/// The `spec.secret` of every test: the token URL and issuer as keys, and three
/// templates (a `.env` file, a JSON credentials file, a URL with credentials).
fn secret_spec() -> Value {
    json!({
        "endpoints": {"issuer": "ISSUER", "tokenUrl": "TOKEN_URL"},
        "extraData": {"realm": "prod"},
        "template": {
            "app.env": "OAUTH_CLIENT_ID={{ clientId }}\nOAUTH_CLIENT_SECRET={{ clientSecret }}\n{% if previousClientSecret %}OAUTH_CLIENT_SECRET_PREVIOUS={{ previousClientSecret }}\n{% endif %}OAUTH_TOKEN_URL={{ endpoints.tokenUrl }}\n",
            "credentials.json": "{\"client_id\": {{ clientId | tojson }}, \"client_secret\": {{ clientSecret | tojson }}, \"token_uri\": {{ endpoints.tokenUrl | tojson }}}",
            "broker-url": "amqps://{{ clientId | urlcomponent }}:{{ clientSecret | urlcomponent }}@broker.example.com/{{ extraData.realm }}",
            // Empty outside a grace period.
            "previous.txt": "{% if previousClientSecret %}{{ previousClientSecret }}{% endif %}",
        },
    })
}

fn text(s: &Secret, key: &str) -> Option<String> {
    s.data
        .as_ref()?
        .get(key)
        .map(|v| String::from_utf8(v.0.clone()).expect("UTF-8"))
}

/// A `.env` file as dotenv libraries read it.
fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l.split_once('=').expect("KEY=value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// What the workload reads from every rendered key, parsed the way it parses
/// it: (client id, secret, previous secret, token URL), one tuple per key.
fn read_back(s: &Secret) -> Vec<(String, String, Option<String>, Option<String>)> {
    let env = parse_env(&text(s, "app.env").expect("app.env"));
    let json: Value =
        serde_json::from_str(&text(s, "credentials.json").expect("credentials.json")).unwrap();
    let url = url::Url::parse(&text(s, "broker-url").expect("broker-url")).unwrap();
    vec![
        (
            env["OAUTH_CLIENT_ID"].clone(),
            env["OAUTH_CLIENT_SECRET"].clone(),
            env.get("OAUTH_CLIENT_SECRET_PREVIOUS").cloned(),
            Some(env["OAUTH_TOKEN_URL"].clone()),
        ),
        (
            json["client_id"].as_str().unwrap().to_string(),
            json["client_secret"].as_str().unwrap().to_string(),
            None,
            json["token_uri"].as_str().map(String::from),
        ),
        (
            url.username().to_string(),
            url.password().unwrap_or_default().to_string(),
            None,
            None,
        ),
    ]
}

/// Every rendered key of `s` agrees with its credential keys: the state a
/// workload may read at any moment.
fn assert_consistent(s: &Secret, token_url: &str) {
    let id = text(s, "client_id").expect("client_id");
    let secret = text(s, "client_secret").expect("client_secret");
    let previous = text(s, "client_secret_previous");
    let rendered = read_back(s);
    let version = s.metadata.resource_version.clone().unwrap_or_default();
    assert_eq!(
        rendered[0],
        (
            id.clone(),
            secret.clone(),
            previous,
            Some(token_url.to_string())
        ),
        "app.env of version {version}"
    );
    assert_eq!(
        rendered[1],
        (
            id.clone(),
            secret.clone(),
            None,
            Some(token_url.to_string())
        ),
        "credentials.json of version {version}"
    );
    assert_eq!(
        (rendered[2].0.as_str(), rendered[2].1.as_str()),
        (id.as_str(), secret.as_str()),
        "broker-url of version {version}"
    );
    assert_eq!(text(s, "TOKEN_URL").as_deref(), Some(token_url));
}

/// The token endpoint the Cloudflare emulator's provider object implies.
fn token_url(s: &Scenario) -> String {
    match s.kind {
        Kind::Cloudflare => {
            let base = url::Url::parse(&s.emu.api_url()).unwrap();
            format!("{}/oauth2/token", base.origin().ascii_serialization())
        }
        Kind::Csp => format!(
            "{}/csp/gateway/am/api/auth/token",
            s.emu.base.trim_end_matches('/')
        ),
    }
}

async fn ready_client(s: &Scenario, name: &str, extra: Value) -> OAuthClient {
    let mut secret = secret_spec();
    if s.kind == Kind::Csp {
        // Not known for CSP (docs/secret.md).
        secret["endpoints"]
            .as_object_mut()
            .unwrap()
            .remove("issuer");
    }
    let mut spec = json!({"secret": secret});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    s.apply_client(name, spec).await;
    s.wait_ready(name).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_secret_carries_the_endpoints_and_every_rendered_key() {
    let s = Scenario::new("tmpl-shape", &[]).await;
    ready_client(&s, "app", json!({})).await;
    let secret = s.secret("app").await.expect("Secret");
    assert_consistent(&secret, &token_url(&s));
    let origin = token_url(&s).trim_end_matches("/oauth2/token").to_string();
    assert_eq!(text(&secret, "ISSUER"), Some(origin));
    // The credentials the rendered keys carry work at the provider.
    let c = s.assert_working("app").await;
    assert_eq!(read_back(&secret)[1].1, c.secret.unwrap());
    // Nothing but the keys asked for (and the credentials) is in it.
    let keys: Vec<_> = secret.data.unwrap().into_keys().collect();
    assert_eq!(
        keys,
        [
            "ISSUER",
            "TOKEN_URL",
            "app.env",
            "broker-url",
            "client_id",
            "client_secret",
            "credentials.json",
            "previous.txt",
            "realm"
        ]
    );
    assert_eq!(
        text(&s.secret("app").await.unwrap(), "previous.txt").as_deref(),
        Some("")
    );
    // Rendering is deterministic and the observation agrees with the write: the
    // Secret is not written again while nothing changes (a few resyncs).
    let version = s.secret("app").await.unwrap().metadata.resource_version;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        s.secret("app").await.unwrap().metadata.resource_version,
        version,
        "the Secret was rewritten with nothing changed; log:\n{}",
        s.ctl.logs()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotation_rewrites_every_rendered_key_in_the_write_of_the_new_secret() {
    rotation_rewrites_rendered_keys_atomically(Kind::Cloudflare).await;
}

/// VMware CSP: clientops chooses the secret and writes it to the Secret (as a
/// pending key) before the provider call; the rendered keys keep the secret in
/// force until the write that makes the new one current.
#[tokio::test(flavor = "multi_thread")]
async fn a_csp_rotation_rewrites_every_rendered_key_in_the_write_of_the_new_secret() {
    rotation_rewrites_rendered_keys_atomically(Kind::Csp).await;
}

async fn rotation_rewrites_rendered_keys_atomically(kind: Kind) {
    let s = Scenario::for_provider(kind, "tmpl-rotate", &[], &[]).await;
    let before = ready_client(&s, "app", json!({"rotation": {"gracePeriod": "1h"}})).await;
    let old = s.creds("app").await.secret.unwrap();

    // Every version of the Secret from now on, as a workload watching it sees them.
    let seen: Arc<Mutex<Vec<Secret>>> = Arc::default();
    let api: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    let watch = tokio::spawn({
        let seen = seen.clone();
        async move {
            let cfg = watcher::Config::default().fields("metadata.name=app");
            let mut stream = watcher(api, cfg).applied_objects().boxed();
            while let Some(Ok(secret)) = stream.next().await {
                seen.lock().unwrap().push(secret);
            }
        }
    });
    // The watch holds the current version (its list is done): every later one
    // reaches it.
    support::wait_for(WAIT, || async {
        (!seen.lock().unwrap().is_empty()).then_some(())
    })
    .await
    .expect("the watch lists the Secret");
    s.annotate("app", "clientops.dev/rotate", "r1").await;
    let after = s
        .wait_until("app", WAIT, "rotated", |o| {
            is_ready(o)
                && o.status
                    .as_ref()
                    .and_then(|s| s.rotation.as_ref())
                    .and_then(|r| r.last_request.as_deref())
                    == Some("r1")
        })
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    watch.abort();

    let seen = seen.lock().unwrap().clone();
    let url = token_url(&s);
    for version in &seen {
        assert_consistent(version, &url);
    }
    if kind == Kind::Csp {
        // The version that held the chosen secret before the call was seen, and
        // its rendered keys still had the secret then in force.
        assert!(
            seen.iter()
                .any(|v| text(v, "clientops.pending-secret").is_some()),
            "the pending write was seen"
        );
    }
    let last = seen.last().expect("versions seen");
    let new = text(last, "client_secret").unwrap();
    assert_ne!(new, old, "rotated");
    assert_eq!(text(last, "client_secret_previous"), Some(old.clone()));
    assert!(
        seen.iter()
            .any(|v| text(v, "client_secret").as_deref() == Some(new.as_str())),
        "the rotation's write was seen"
    );
    // The workload's files hold the new secret, and it works; the old one still
    // does during the grace period (and the .env file says so).
    assert!(
        s.emu
            .check(&read_back(last)[1].0, &read_back(last)[1].1)
            .await
    );
    assert!(s.emu.check(&read_back(last)[1].0, &old).await);
    assert_eq!(read_back(last)[0].2.as_deref(), Some(old.as_str()));
    assert_ne!(
        before.status.unwrap().secret_mac,
        after.status.unwrap().secret_mac
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_edited_rendered_key_is_restored_and_not_taken_for_a_lost_secret() {
    let s = Scenario::new("tmpl-edit", &[]).await;
    let before = ready_client(&s, "app", json!({})).await;
    let good = s.secret("app").await.unwrap();
    let want_env = text(&good, "app.env").unwrap();
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);

    for (key, value) in [
        ("app.env", Some("OAUTH_CLIENT_SECRET=edited-by-hand\n")),
        ("credentials.json", None),
        ("TOKEN_URL", Some("https://evil.example.com/token")),
    ] {
        let patch = json!({"data": {key: value.map(|v| ByteString(v.as_bytes().to_vec()))}});
        secrets
            .patch("app", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("edit the Secret");
        let restored = support::wait_for(WAIT, || async {
            let sec = s.secret("app").await?;
            (text(&sec, "app.env").as_deref() == Some(want_env.as_str())
                && text(&sec, "credentials.json").is_some()
                && text(&sec, "TOKEN_URL").as_deref() == Some(token_url(&s).as_str()))
            .then_some(sec)
        })
        .await
        .unwrap_or_else(|| panic!("{key} was not restored; log:\n{}", s.ctl.logs()));
        assert_consistent(&restored, &token_url(&s));
        // Same credentials: no rotation, no new secret.
        assert_eq!(
            text(&restored, "client_secret"),
            text(&good, "client_secret"),
            "{key}"
        );
    }
    let after = s.wait_ready("app").await;
    let status = |o: &OAuthClient| o.status.clone().unwrap_or_default();
    assert_eq!(status(&after).secret_mac, status(&before).secret_mac);
    assert_eq!(
        status(&after).rotation.and_then(|r| r.last_rotated_at),
        status(&before).rotation.and_then(|r| r.last_rotated_at)
    );
    s.assert_working("app").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_that_cannot_render_stalls_before_anything_is_created() {
    let s = Scenario::new("tmpl-bad", &[]).await;
    let mut spec = secret_spec();
    spec["template"]["app.env"] =
        json!("OAUTH_CLIENT_ID={{ clientId }}\nOAUTH_CLIENT_SECRET={{ clientSecrett }}\n");
    s.apply_client("app", json!({"secret": spec})).await;
    let o = s
        .wait_until("app", WAIT, "Stalled", |o| {
            condition(o, "Stalled").is_some_and(|c| c.status == "True")
        })
        .await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "InvalidTemplate");
    assert!(
        c.message.starts_with(
            "spec.secret.template[app.env]: line 2, column 24: unknown variable \"clientSecrett\"; the variables are clientId"
        ),
        "{}",
        c.message
    );
    assert_eq!(s.remote_count().await, 0, "no client was created");
    assert!(s.secret("app").await.is_none(), "no Secret was written");

    // An endpoint the provider does not have, by name.
    let mut spec = secret_spec();
    spec["endpoints"]["introspectionUrl"] = json!("INTROSPECTION_URL");
    s.apply_client("app", json!({"secret": spec})).await;
    let o = s
        .wait_until("app", WAIT, "Stalled on the endpoint", |o| {
            condition(o, "Stalled").is_some_and(|c| c.message.contains("introspectionUrl"))
        })
        .await;
    let c = condition(&o, "Stalled").unwrap();
    assert_eq!(c.reason, "InvalidTemplate");
    assert!(
        c.message.starts_with(
            "spec.secret.endpoints.introspectionUrl: the provider has no introspectionUrl"
        ),
        "{}",
        c.message
    );

    // Fixed: the client is made and the Secret written.
    s.apply_client("app", json!({"secret": secret_spec()}))
        .await;
    s.wait_ready("app").await;
    assert_consistent(&s.secret("app").await.unwrap(), &token_url(&s));
    let logs = s.ctl.logs();
    let secret = s.creds("app").await.secret.unwrap();
    assert!(
        !logs.contains(&secret),
        "the secret is in the controller's log"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_endpoints_follow_the_provider_when_it_changes() {
    let s = Scenario::new("tmpl-follow", &[]).await;
    ready_client(&s, "app", json!({})).await;
    assert_consistent(&s.secret("app").await.unwrap(), &token_url(&s));
    // The same emulator under another name: the provider's endpoints change.
    let moved = s.emu.api_url().replace("127.0.0.1", "localhost");
    Api::<ClusterOAuthProvider>::all(s.client.clone())
        .patch(
            &s.provider,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"cloudflare": {"baseUrl": moved}}})),
        )
        .await
        .expect("move the provider");
    let want = token_url(&s).replace("127.0.0.1", "localhost");
    let moved = support::wait_for(WAIT, || async {
        let sec = s.secret("app").await?;
        (text(&sec, "TOKEN_URL").as_deref() == Some(want.as_str())).then_some(sec)
    })
    .await
    .unwrap_or_else(|| panic!("the endpoints did not follow; log:\n{}", s.ctl.logs()));
    assert_consistent(&moved, &want);
    s.assert_working("app").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_crd_refuses_key_names_it_can_judge() {
    let s = Scenario::new("tmpl-admit", &[]).await;
    let cases = [
        (
            json!({"template": {"client_secret": "{{ clientId }}"}}),
            "spec.secret.template: a key collides with a credential key",
        ),
        (
            json!({"keys": {"clientId": "ID"}, "template": {"ID": "x"}}),
            "spec.secret.template: a key collides",
        ),
        (
            json!({"extraData": {"a": "b"}, "template": {"a": "x"}}),
            "spec.secret.template: a key collides",
        ),
        (
            json!({"template": {"a/b": "x"}}),
            "spec.secret.template: keys may contain only",
        ),
        (
            json!({"template": {"clientops.pending-secret": "x"}}),
            "may not start with 'clientops.'",
        ),
        (
            json!({"template": {"big": "x".repeat(8193)}}),
            "spec.secret.template.big",
        ),
        (json!({"template": {"..": "x"}}), "may not be '.' or '..'"),
        (
            json!({"endpoints": {"issuer": "."}}),
            "are not valid Secret keys",
        ),
        (
            json!({"endpoints": {"issuer": "URL", "tokenUrl": "URL"}}),
            "spec.secret.endpoints: two endpoints have the same key name",
        ),
        (
            json!({"endpoints": {"tokenUrl": "client_id"}}),
            "spec.secret.endpoints: a key name collides",
        ),
        (
            json!({"endpoints": {"tokenUrl": "T"}, "template": {"T": "x"}}),
            "spec.secret.endpoints: a key name collides",
        ),
    ];
    for (i, (secret, says)) in cases.into_iter().enumerate() {
        let obj = s.manifest(&format!("bad-{i}"), json!({"secret": secret}));
        let err = support::apply(&s.client, &obj, &s.ns)
            .await
            .expect_err(&format!("case {i} is refused"));
        let message = support::rejection_message(&err);
        assert!(message.contains(says), "case {i}: {message}");
    }
    let too_many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("x"))).collect();
    let obj = s.manifest("bad-many", json!({"secret": {"template": too_many}}));
    let err = support::apply(&s.client, &obj, &s.ns).await.unwrap_err();
    assert!(support::rejection_message(&err).contains("spec.secret.template"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hydras_endpoints_are_the_ones_its_discovery_document_names() {
    // Never skipped, as tests/hydra.rs: without Go and gcc the Hydra build fails.
    support::hydra::binary();
    let s = support::kinds::World::<support::kinds::hydra::Hydra>::new("tmpl", &[], &[])
        .await
        .expect("Hydra is installed");
    let endpoints = json!({
        "issuer": "ISSUER", "authorizationUrl": "AUTHORIZATION_URL", "tokenUrl": "TOKEN_URL",
        "discoveryUrl": "DISCOVERY_URL", "jwksUrl": "JWKS_URL", "revocationUrl": "REVOCATION_URL",
        "userinfoUrl": "USERINFO_URL",
    });
    s.apply_client(
        "app",
        json!({"secret": {
            "endpoints": endpoints,
            "template": {"credentials.json": "{\"id\": {{ clientId | tojson }}, \"secret\": {{ clientSecret | tojson }}, \"token_uri\": {{ endpoints.tokenUrl | tojson }}}"},
        }}),
    )
    .await;
    s.wait_ready("app").await;
    let secret = s.secret("app").await.expect("Secret");
    let discovery_url = text(&secret, "DISCOVERY_URL").expect("DISCOVERY_URL");
    assert!(
        discovery_url.starts_with("http://127.0.0.1:"),
        "{discovery_url}"
    );
    let doc: Value = reqwest::get(&discovery_url)
        .await
        .expect("Hydra answers")
        .json()
        .await
        .expect("a discovery document");
    for (key, field) in [
        ("ISSUER", "issuer"),
        ("AUTHORIZATION_URL", "authorization_endpoint"),
        ("TOKEN_URL", "token_endpoint"),
        ("JWKS_URL", "jwks_uri"),
        ("REVOCATION_URL", "revocation_endpoint"),
        ("USERINFO_URL", "userinfo_endpoint"),
    ] {
        assert_eq!(
            text(&secret, key).as_deref(),
            doc[field].as_str(),
            "{key} vs the discovery document's {field}"
        );
    }
    // The rendered file's credentials get a token at the rendered token URL.
    let file: Value = serde_json::from_str(&text(&secret, "credentials.json").unwrap()).unwrap();
    let (id, secret_value) = (
        file["id"].as_str().unwrap(),
        file["secret"].as_str().unwrap(),
    );
    assert_eq!(
        file["token_uri"].as_str(),
        Some(format!("{}/oauth2/token", s.kind.server.public).as_str())
    );
    assert!(s.kind.server.accepts(id, secret_value).await);
}
