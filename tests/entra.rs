//! What only the Entra provider does, against the Entra emulator started
//! in-process on loopback: the provider (`EntraProvider`) driven directly, edits
//! behind its back made with Graph calls. The shared behaviour is in
//! `provider_behaviour.rs` (`entra::`).

use std::time::Duration;

use clientops::emulator::entra::Config;
use clientops::emulator::entra::server::EntraServer;
use clientops::provider::entra::fields::HAND_ADDED_PASSWORDS;
use clientops::provider::entra::{EntraClient, EntraConfig, EntraCredentials, EntraProvider};
use clientops::provider::model::{
    ClientFields, Creation, OwnFields, Provider, SecretCheck, Secrets,
};
use clientops::provider::transport::ProviderClient;
use clientops::secret::ClientSecret;
use reqwest::Method;
use serde_json::{Value, json};

struct Env {
    _srv: EntraServer,
    http: reqwest::Client,
    base: String,
    tenant: String,
    op: (String, String),
}

async fn start() -> Env {
    clientops::tls::install_crypto_provider();
    let srv = EntraServer::start(
        Config {
            rate_limit: None,
            ..Config::default()
        },
        "127.0.0.1:0",
        None,
        std::future::pending(),
    )
    .await
    .unwrap();
    let base = srv.http_url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let t: Value = http
        .post(format!("{base}/__emulator/tenants"))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = |v: &Value| v.as_str().unwrap().to_string();
    Env {
        tenant: s(&t["tenantId"]),
        op: (
            s(&t["operator"]["appId"]),
            s(&t["operator"]["clientSecret"]),
        ),
        _srv: srv,
        http,
        base,
    }
}

impl Env {
    /// clientops' provider as the operator `(id, secret)`.
    fn provider_as(&self, op: &(String, String)) -> EntraProvider {
        let config = EntraConfig::new(
            self.tenant.clone(),
            self.base.clone(),
            self.base.clone(),
            EntraCredentials::client_secret(&op.0, &op.1),
        );
        EntraProvider::new(EntraClient::standalone(config).unwrap())
    }

    fn provider(&self) -> EntraProvider {
        self.provider_as(&self.op)
    }

    async fn admin(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}/__emulator/{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "admin {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn token(&self, id: &str, secret: &str) -> Option<String> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("client_id", id)
            .append_pair("client_secret", secret)
            .append_pair("scope", "https://graph.microsoft.com/.default")
            .finish();
        let r = self
            .http
            .post(format!("{}/{}/oauth2/v2.0/token", self.base, self.tenant))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().map(String::from)
    }

    /// A Graph call as the operator (a person with clientops' credentials).
    async fn graph(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let token = self.token(&self.op.0, &self.op.1).await.unwrap();
        let mut req = self
            .http
            .request(method, format!("{}/v1.0/{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn passwords(&self, id: &str) -> Vec<Value> {
        let (s, v) = self
            .graph(
                Method::GET,
                &format!("applications(appId='{id}')?$select=passwordCredentials"),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        v["passwordCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// A self-signed test certificate (RSA 2048, made for these tests only), its key,
/// and another key.
const TEST_CERT: &str = include_str!("fixtures/entra-test-cert.pem");
const OTHER_KEY: &str = include_str!("fixtures/entra-other-key.pem");
const TEST_KEY: &str = include_str!("fixtures/entra-test-key.pem");

/// The desired fields of a minimal web application, as the kind makes them.
fn desired(name: &str, block: Value) -> ClientFields {
    use clientops::provider::registry::Kind;
    let spec: clientops::api::OAuthClientSpec = serde_json::from_value(json!({
        "providerRef": {"kind": "ClusterOAuthProvider", "name": "entra"},
        "redirectUris": [format!("https://{name}.example.com/cb")],
        "entra": block,
    }))
    .unwrap();
    let mut f = ClientFields {
        name: name.into(),
        redirect_uris: spec.redirect_uris.clone(),
        grant_types: ["authorization_code".to_string()].into(),
        response_types: ["code".to_string()].into(),
        token_endpoint_auth_method: "client_secret_basic".into(),
        own: OwnFields::default(),
        ..Default::default()
    };
    clientops::provider::entra::kind::EntraKind
        .desire(&spec, &mut f)
        .unwrap();
    f
}

async fn create(p: &EntraProvider, f: &ClientFields, marker: &str) -> (String, ClientSecret) {
    let Creation::Assigned(a) = p.creation() else {
        panic!("Entra assigns ids")
    };
    let c = a.create(f, marker).await.unwrap();
    (c.client.id, c.secret.expect("a first secret"))
}

/// An OAuthClient UID (a random version-4 UUID in its text form).
fn uid() -> String {
    let h: String = (0..32)
        .map(|_| format!("{:x}", rand::random::<u8>() % 16))
        .collect();
    format!(
        "{}-{}-4{}-8{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

#[tokio::test]
async fn a_create_is_found_by_its_marker_and_its_secret_gets_a_token() {
    let env = start().await;
    let p = env.provider();
    let f = desired("app", json!({}));
    let marker = uid();
    let (id, secret) = create(&p, &f, &marker).await;
    assert!(env.token(&id, secret.expose()).await.is_some());
    assert_eq!(
        p.verify_secret(&id, &secret).await.unwrap(),
        SecretCheck::Accepted
    );
    assert_eq!(
        p.verify_secret(&id, &ClientSecret::new("not-the-secret-0123456789"))
            .await
            .unwrap(),
        SecretCheck::Rejected
    );
    let listed = p.list().await.unwrap();
    let found = listed.iter().find(|c| c.id == id).expect("listed");
    assert_eq!(found.marker.as_deref(), Some(marker.as_str()));
    assert_eq!(f.diff(&found.fields), vec![], "no drift after a create");
    // A repeated create (its answer lost) finds the same application, and the
    // password nobody holds is replaced.
    let (again, second) = create(&p, &f, &marker).await;
    assert_eq!(again, id);
    assert_eq!(env.passwords(&id).await.len(), 1);
    assert!(env.token(&id, secret.expose()).await.is_none());
    assert!(env.token(&id, second.expose()).await.is_some());
}

#[tokio::test]
async fn a_new_application_unknown_for_a_moment_is_asked_again() {
    let env = start().await;
    env.admin(
        Method::PUT,
        "consistency",
        json!({"add_password_not_found": 2, "service_principal_not_ready": 2}),
    )
    .await;
    let p = env.provider();
    let (id, secret) = create(&p, &desired("lag", json!({})), &uid()).await;
    assert!(env.token(&id, secret.expose()).await.is_some());
}

#[tokio::test]
async fn rotation_keeps_the_previous_password_and_retire_keeps_only_the_newest() {
    let env = start().await;
    let p = env.provider();
    // Personal accounts: at most two passwords, which a rotation uses up.
    let f = desired(
        "personal",
        json!({"signInAudience": "AzureADandPersonalMicrosoftAccount"}),
    );
    let (id, first) = create(&p, &f, &uid()).await;
    let Secrets::Generated(g) = p.secrets() else {
        panic!("Entra generates secrets")
    };
    for _ in 0..2 {
        let before = env.passwords(&id).await.len();
        assert_eq!(before, 1);
        let new = g.rotate(&id).await.unwrap();
        assert!(p.get(&id).await.unwrap().unwrap().has_rotated_secret);
        let names: Vec<String> = env
            .passwords(&id)
            .await
            .iter()
            .map(|p| p["displayName"].as_str().unwrap_or_default().to_string())
            .collect();
        assert!(
            names.iter().all(|n| n.starts_with("clientops-")),
            "{names:?}"
        );
        g.retire(&id).await.unwrap();
        assert!(env.token(&id, new.expose()).await.is_some());
        assert_eq!(env.passwords(&id).await.len(), 1);
    }
    assert!(env.token(&id, first.expose()).await.is_none());
}

#[tokio::test]
async fn a_password_added_by_hand_is_drift_and_the_update_removes_it() {
    let env = start().await;
    let p = env.provider();
    let f = desired("hand", json!({}));
    let (id, secret) = create(&p, &f, &uid()).await;
    let (s, v) = env
        .graph(
            Method::POST,
            &format!("applications(appId='{id}')/addPassword"),
            Some(json!({"passwordCredential": {"displayName": "a backdoor"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let hand = v["secretText"].as_str().unwrap().to_string();
    let remote = p.get(&id).await.unwrap().unwrap();
    let drift = f.diff(&remote.fields);
    assert_eq!(drift, vec![HAND_ADDED_PASSWORDS]);
    let after = p.update(&id, &f, &drift).await.unwrap();
    assert_eq!(f.diff(&after.fields), vec![]);
    assert!(env.token(&id, &hand).await.is_none(), "removed");
    assert!(
        env.token(&id, secret.expose()).await.is_some(),
        "clientops' kept"
    );
}

#[tokio::test]
async fn a_name_held_by_a_deleted_application_is_restored_or_moved_on() {
    let env = start().await;
    // clientops with OwnedBy only: it cannot list deleted items, so the next name.
    let p = env.provider();
    let f = desired("gone", json!({}));
    let marker = uid();
    let (id, _) = create(&p, &f, &marker).await;
    p.delete(&id).await.unwrap();
    assert!(p.get(&id).await.unwrap().is_none());
    let (again, secret) = create(&p, &f, &marker).await;
    assert_ne!(again, id, "a new application under the next name");
    let found = p.get(&again).await.unwrap().unwrap();
    assert_eq!(found.marker.as_deref(), Some(marker.as_str()));
    assert!(env.token(&again, secret.expose()).await.is_some());

    // With Application.Read.All too, the deleted application is restored.
    let op = env
        .admin(
            Method::POST,
            &format!("tenants/{}/operators", env.tenant),
            json!({"roles": ["Application.ReadWrite.OwnedBy", "Application.Read.All"]}),
        )
        .await;
    let s = |v: &Value| v.as_str().unwrap().to_string();
    let reader = env.provider_as(&(s(&op["appId"]), s(&op["clientSecret"])));
    let marker = uid();
    let (id, _) = create(&reader, &f, &marker).await;
    reader.delete(&id).await.unwrap();
    let (restored, secret) = create(&reader, &f, &marker).await;
    assert_eq!(restored, id, "the same application, restored");
    let back = reader.get(&id).await.unwrap().unwrap();
    assert!(!back.has_rotated_secret, "only the new password");
    assert!(env.token(&id, secret.expose()).await.is_some());
}

#[tokio::test]
async fn a_certificate_of_clientops_own_application_gets_its_token() {
    use base64::Engine;
    use clientops::provider::entra::auth::CertificateSigner;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let env = start().await;
    // An administrator uploads the certificate to clientops' app registration.
    let admin = env
        .admin(
            Method::POST,
            &format!("tenants/{}/operators", env.tenant),
            json!({"roles": ["Application.ReadWrite.All"]}),
        )
        .await;
    let s = |v: &Value| v.as_str().unwrap().to_string();
    let admin_token = env
        .token(&s(&admin["appId"]), &s(&admin["clientSecret"]))
        .await
        .unwrap();
    let der = CertificateDer::from_pem_slice(TEST_CERT.as_bytes()).unwrap();
    let r = env
        .http
        .patch(format!(
            "{}/v1.0/applications(appId='{}')",
            env.base, env.op.0
        ))
        .bearer_auth(admin_token)
        .json(
            &json!({"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify",
            "key": base64::engine::general_purpose::STANDARD.encode(der.as_ref())}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
    let signer = CertificateSigner::from_pem(TEST_CERT, TEST_KEY).unwrap();
    let config = EntraConfig::new(
        env.tenant.clone(),
        env.base.clone(),
        env.base.clone(),
        EntraCredentials::Certificate {
            client_id: env.op.0.clone(),
            signer: std::sync::Arc::new(signer),
        },
    );
    let p = EntraProvider::new(EntraClient::standalone(config).unwrap());
    p.check_credentials().await.unwrap();
    let (id, secret) = create(&p, &desired("cert", json!({})), &uid()).await;
    assert!(env.token(&id, secret.expose()).await.is_some());
    // Another key under the same certificate's name is refused.
    let other = CertificateSigner::from_pem(TEST_CERT, OTHER_KEY).unwrap();
    let config = EntraConfig::new(
        env.tenant.clone(),
        env.base.clone(),
        env.base.clone(),
        EntraCredentials::Certificate {
            client_id: env.op.0.clone(),
            signer: std::sync::Arc::new(other),
        },
    );
    let e = EntraClient::standalone(config)
        .unwrap()
        .check()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("spec.entra.auth"), "{e}");
}

#[tokio::test]
async fn the_list_follows_every_next_link() {
    let env = start().await;
    let p = env.provider();
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..5 {
        ids.insert(
            create(&p, &desired(&format!("page{i}"), json!({})), &uid())
                .await
                .0,
        );
    }
    let config = EntraConfig::new(
        env.tenant.clone(),
        env.base.clone(),
        env.base.clone(),
        EntraCredentials::client_secret(&env.op.0, &env.op.1),
    )
    .with_page_size(2);
    let small = EntraProvider::new(EntraClient::standalone(config).unwrap());
    let listed: std::collections::BTreeSet<String> = small
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(listed, ids, "three pages of two");
}

/// base64url without padding.
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A service-account token as the kubelet projects it: RS256 by the cluster's
/// issuer key ([`TEST_KEY`], `kid` k1), for `sub`, audience
/// `api://AzureADTokenExchange`, valid for an hour; and that key as a JWKS.
fn projected_token(issuer: &str, sub: &str) -> (String, Value) {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let key = match PrivateKeyDer::from_pem_slice(TEST_KEY.as_bytes()).unwrap() {
        PrivateKeyDer::Pkcs8(k) => ring::signature::RsaKeyPair::from_pkcs8(k.secret_pkcs8_der()),
        PrivateKeyDer::Pkcs1(k) => ring::signature::RsaKeyPair::from_der(k.secret_pkcs1_der()),
        _ => panic!("an RSA key"),
    }
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let signing = format!(
        "{}.{}",
        b64url(
            json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})
                .to_string()
                .as_bytes()
        ),
        b64url(
            json!({"iss": issuer, "sub": sub, "aud": ["api://AzureADTokenExchange"],
                "iat": now, "nbf": now, "exp": now + 3600})
            .to_string()
            .as_bytes()
        )
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public());
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
        "n": b64url(&public.n), "e": b64url(&public.e)}]});
    (format!("{signing}.{}", b64url(&sig)), jwks)
}

#[tokio::test]
async fn the_operators_projected_token_is_its_credential_without_any_secret() {
    use clientops::provider::federated_token::FederatedToken;
    let env = start().await;
    let issuer = "https://oidc.cluster.example.com";
    let subject = "system:serviceaccount:clientops-system:clientops";
    let (token, jwks) = projected_token(issuer, subject);
    // What an administrator sets up once: the cluster's issuer keys (Entra
    // fetches them from the issuer; the emulator is told them) and a federated
    // identity credential on clientops' app registration.
    env.admin(
        Method::PUT,
        "issuers",
        json!({"issuer": issuer, "jwks": jwks}),
    )
    .await;
    let admin = env
        .admin(
            Method::POST,
            &format!("tenants/{}/operators", env.tenant),
            json!({"roles": ["Application.ReadWrite.All"]}),
        )
        .await;
    let s = |v: &Value| v.as_str().unwrap().to_string();
    let admin_token = env
        .token(&s(&admin["appId"]), &s(&admin["clientSecret"]))
        .await
        .unwrap();
    let r = env
        .http
        .post(format!(
            "{}/v1.0/applications(appId='{}')/federatedIdentityCredentials",
            env.base, env.op.0
        ))
        .bearer_auth(admin_token)
        .json(
            &json!({"name": "clientops", "issuer": issuer, "subject": subject,
            "audiences": ["api://AzureADTokenExchange"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201, "{}", r.text().await.unwrap());
    let dir = std::env::temp_dir().join(format!("clientops-wif-{}", uid()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, &token).unwrap();
    let as_operator = |file: &std::path::Path| {
        let config = EntraConfig::new(
            env.tenant.clone(),
            env.base.clone(),
            env.base.clone(),
            EntraCredentials::Federated {
                client_id: env.op.0.clone(),
                token: FederatedToken::new(file),
            },
        );
        EntraProvider::new(EntraClient::standalone(config).unwrap())
    };
    let p = as_operator(&file);
    p.check_credentials().await.unwrap();
    let (id, secret) = create(&p, &desired("federated", json!({})), &uid()).await;
    assert!(env.token(&id, secret.expose()).await.is_some());
    // Another service account's token is not the operator's.
    let (other, _) = projected_token(issuer, "system:serviceaccount:team-a:default");
    let other_file = dir.join("other");
    std::fs::write(&other_file, other).unwrap();
    let e = as_operator(&other_file)
        .check_credentials()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("spec.entra.auth"), "{e}");
    assert!(!e.to_string().contains("eyJ"), "no token in errors: {e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
