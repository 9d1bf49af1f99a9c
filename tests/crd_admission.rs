//! The CRDs against a real kube-apiserver: they install, every example is accepted,
//! and each static rule rejects a bad manifest at admission with a message that names
//! the field.

mod support;

use std::time::Duration;

use kube::api::{Api, DynamicObject};
use serde_json::json as j;
use support::*;

/// A valid OAuthClient for the Cloudflare provider, as YAML, with `extra` merged into
/// its spec (a JSON object).
fn oauth_client(name: &str, extra: serde_json::Value) -> DynamicObject {
    let mut spec = j!({
        "providerRef": {"kind": "ClusterOAuthProvider", "name": "cloudflare-demo"},
        "clientName": "Test client",
        "redirectUris": ["https://app.example.com/callback"],
        "grantTypes": ["authorization_code"],
        "scopes": ["user-details.read"],
    });
    merge(&mut spec, extra);
    serde_json::from_value(j!({
        "apiVersion": "clientops.dev/v1alpha1",
        "kind": "OAuthClient",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn provider(kind: &str, name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(j!({
        "apiVersion": "clientops.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

/// JSON merge patch semantics (null deletes).
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
    match (base, patch) {
        (serde_json::Value::Object(b), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(&k);
                } else {
                    merge(b.entry(k).or_insert(serde_json::Value::Null), v);
                }
            }
        }
        (b, p) => *b = p,
    }
}

fn cf_block(auth: serde_json::Value) -> serde_json::Value {
    j!({"cloudflare": {"accountId": "023e105f4ecef8ad9ca31a8372d0c353", "auth": auth}})
}

fn token_ref(ns: Option<&str>) -> serde_json::Value {
    let mut r = j!({"name": "cf-api", "key": "token"});
    if let Some(ns) = ns {
        r["namespace"] = ns.into();
    }
    j!({"apiTokenSecretRef": r})
}

/// Apply `obj` and assert the apiserver rejects it with a message containing every
/// string in `expect`.
async fn assert_rejected(
    client: &kube::Client,
    ns: &str,
    case: &str,
    obj: &DynamicObject,
    expect: &[&str],
) {
    let err = match apply(client, obj, ns).await {
        Ok(_) => panic!("case {case:?}: the apiserver accepted an invalid manifest"),
        Err(e) => e,
    };
    let msg = rejection_message(&err);
    for want in expect {
        assert!(
            msg.contains(want),
            "case {case:?}: message does not contain {want:?}:\n{msg}"
        );
    }
    eprintln!("case {case:?} rejected as expected: {msg}");
}

#[tokio::test]
async fn crds_are_established_with_names_and_columns() {
    let client = client().await;
    let api: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client);
    for name in [
        "oauthclients.clientops.dev",
        "oauthproviders.clientops.dev",
        "clusteroauthproviders.clientops.dev",
    ] {
        let crd = api.get(name).await.expect(name);
        let conds = crd.status.unwrap().conditions.unwrap();
        assert!(
            conds
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True"),
            "{name}"
        );
        assert!(
            conds
                .iter()
                .any(|c| c.type_ == "NamesAccepted" && c.status == "True"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn every_example_is_accepted() {
    let client = client().await;
    let dir = repo_root().join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut applied = 0;
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        let objs = apply_yaml(&client, &text, "default")
            .await
            .unwrap_or_else(|e| panic!("{} was rejected: {e}", f.display()));
        applied += objs.len();
    }
    assert!(
        applied >= 10,
        "expected the examples to hold at least 10 objects, applied {applied}"
    );
}

#[tokio::test]
async fn a_new_oauthclient_reads_as_unobserved() {
    let client = client().await;
    let ns = namespace(&client, "unobserved").await;
    let obj = apply(&client, &oauth_client("fresh", j!({})), &ns)
        .await
        .unwrap();
    // The status default {observedGeneration: -1} is what keeps kstatus and
    // `kubectl wait` from calling a new object Current before the controller saw it.
    assert_eq!(
        obj.data["status"]["observedGeneration"], -1,
        "{:?}",
        obj.data
    );
    assert_eq!(obj.data["spec"]["deletionPolicy"], "Delete");
}

#[tokio::test]
async fn invalid_provider_manifests_are_rejected_with_the_field_named() {
    let client = client().await;
    let ns = namespace(&client, "bad-providers").await;
    let two_blocks = {
        let mut s = cf_block(token_ref(Some("x")));
        s["hydra"] = j!({"adminUrl": "http://hydra:4445"});
        s
    };
    let cases: Vec<(&str, DynamicObject, Vec<&str>)> = vec![
        (
            "two provider blocks",
            provider("ClusterOAuthProvider", "bad-two-blocks", two_blocks),
            vec!["spec", "exactly one provider block"],
        ),
        (
            "no provider block",
            provider(
                "ClusterOAuthProvider",
                "bad-no-block",
                j!({"rateLimit": {"requests": 5, "period": "1m"}}),
            ),
            vec!["exactly one provider block"],
        ),
        (
            "account id of 31 characters",
            provider("ClusterOAuthProvider", "bad-account-short", {
                let mut s = cf_block(token_ref(Some("x")));
                s["cloudflare"]["accountId"] = "023e105f4ecef8ad9ca31a8372d0c35".into();
                s
            }),
            vec!["spec.cloudflare.accountId", "32 lower-case hexadecimal"],
        ),
        (
            "account id not hexadecimal",
            provider("ClusterOAuthProvider", "bad-account-hex", {
                let mut s = cf_block(token_ref(Some("x")));
                s["cloudflare"]["accountId"] = "zzze105f4ecef8ad9ca31a8372d0c353".into();
                s
            }),
            vec!["spec.cloudflare.accountId"],
        ),
        (
            "token and api key both set",
            provider(
                "ClusterOAuthProvider",
                "bad-two-auths",
                cf_block(j!({
                    "apiTokenSecretRef": {"namespace": "x", "name": "a", "key": "t"},
                    "apiKeySecretRef": {"namespace": "x", "name": "a", "key": "k"},
                    "email": "a@example.com"
                })),
            ),
            vec!["spec.cloudflare.auth", "exactly one of apiTokenSecretRef"],
        ),
        (
            "api key without email",
            provider(
                "ClusterOAuthProvider",
                "bad-key-no-email",
                cf_block(j!({
                    "apiKeySecretRef": {"namespace": "x", "name": "a", "key": "k"}
                })),
            ),
            vec!["spec.cloudflare.auth.email"],
        ),
        (
            "cluster provider credentials without namespace",
            provider(
                "ClusterOAuthProvider",
                "bad-no-ns",
                cf_block(token_ref(None)),
            ),
            vec!["spec.cloudflare.auth", "add namespace"],
        ),
        (
            "namespaced provider reading another namespace",
            provider(
                "OAuthProvider",
                "bad-other-ns",
                cf_block(token_ref(Some("kube-system"))),
            ),
            vec!["spec.cloudflare.auth", "only from its own namespace"],
        ),
        (
            "plain http base URL to a remote host",
            provider("ClusterOAuthProvider", "bad-base-url", {
                let mut s = cf_block(token_ref(Some("x")));
                s["cloudflare"]["baseUrl"] = "http://api.example.com/client/v4".into();
                s
            }),
            vec!["spec.cloudflare.baseUrl", "https://"],
        ),
        (
            "rate limit period that is not a duration",
            provider("ClusterOAuthProvider", "bad-rate-period", {
                let mut s = cf_block(token_ref(Some("x")));
                s["rateLimit"] = j!({"requests": 100, "period": "5 minutes"});
                s
            }),
            vec!["spec.rateLimit.period"],
        ),
        (
            "CSP org id that is not a GUID",
            provider(
                "ClusterOAuthProvider",
                "bad-csp-org",
                j!({
                    "vmwareCsp": {"orgId": "my-org", "auth": {"apiTokenSecretRef": {"namespace": "x", "name": "a", "key": "t"}}}
                }),
            ),
            vec!["spec.vmwareCsp.orgId"],
        ),
    ];
    assert!(cases.len() >= 10);
    for (case, obj, expect) in &cases {
        assert_rejected(&client, &ns, case, obj, expect).await;
    }
}

/// The credentials-namespace rules are generated from each block's Secret refs:
/// for every provider, a ClusterOAuthProvider must name each ref's namespace and
/// an OAuthProvider must not, whichever of its refs it uses.
#[tokio::test]
async fn every_providers_credentials_follow_the_namespace_rules() {
    let client = client().await;
    let ns = namespace(&client, "cred-namespaces").await;
    let secret = |namespace: Option<&str>| match namespace {
        Some(n) => j!({"namespace": n, "name": "creds", "key": "k"}),
        None => j!({"name": "creds", "key": "k"}),
    };
    // Each provider's blocks, one per way of giving credentials, and the field
    // the refusal names.
    type Block = fn(serde_json::Value) -> serde_json::Value;
    let blocks: Vec<(Block, &str)> = vec![
        (
            |r| cf_block(j!({"apiTokenSecretRef": r})),
            "spec.cloudflare.auth",
        ),
        (
            |r| cf_block(j!({"apiKeySecretRef": r, "email": "a@example.com"})),
            "spec.cloudflare.auth",
        ),
        (
            |r| j!({"vmwareCsp": {"orgId": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "auth": {"apiTokenSecretRef": r}}}),
            "spec.vmwareCsp.auth.apiTokenSecretRef.namespace",
        ),
        (
            |r| j!({"hydra": {"adminUrl": "http://hydra-admin.auth.svc:4445", "auth": {"bearerTokenSecretRef": r}}}),
            "spec.hydra.auth.bearerTokenSecretRef.namespace",
        ),
        (
            |r| j!({"keycloak": {"url": "https://sso.example.com", "realm": "apps", "auth": {"clientCredentials": {"clientId": "clientops", "secretRef": r}}}}),
            "spec.keycloak.auth",
        ),
        (
            |r| j!({"keycloak": {"url": "https://sso.example.com", "realm": "apps", "auth": {"password": {"username": "admin", "passwordSecretRef": r}}}}),
            "spec.keycloak.auth",
        ),
        (
            |r| j!({"entra": {"tenantId": "contoso.onmicrosoft.com", "auth": {"clientId": "00000000-0000-0000-0000-000000000001", "clientSecretSecretRef": r}}}),
            "spec.entra.auth",
        ),
        (
            |r| {
                j!({"entra": {"tenantId": "contoso.onmicrosoft.com", "auth": {"clientId": "00000000-0000-0000-0000-000000000001",
                "certificate": {"certificateSecretRef": r, "privateKeySecretRef": r}}}})
            },
            "spec.entra.auth",
        ),
    ];
    for (i, (block, field)) in blocks.iter().enumerate() {
        let cluster = provider(
            "ClusterOAuthProvider",
            &format!("cred-cluster-{i}"),
            block(secret(None)),
        );
        assert_rejected(&client, &ns, field, &cluster, &[field, "add namespace"]).await;
        let local = provider(
            "OAuthProvider",
            &format!("cred-local-{i}"),
            block(secret(Some("kube-system"))),
        );
        assert_rejected(
            &client,
            &ns,
            field,
            &local,
            &[field, "only from its own namespace"],
        )
        .await;
        // And the right way round is accepted.
        let cluster = provider(
            "ClusterOAuthProvider",
            &format!("cred-cluster-ok-{i}"),
            block(secret(Some("x"))),
        );
        apply(&client, &cluster, &ns)
            .await
            .unwrap_or_else(|e| panic!("{field}: {e}"));
        let local = provider(
            "OAuthProvider",
            &format!("cred-local-ok-{i}"),
            block(secret(None)),
        );
        apply(&client, &local, &ns)
            .await
            .unwrap_or_else(|e| panic!("{field}: {e}"));
    }
}

/// The operator's own identity (workload identity federation) is the admin's:
/// a ClusterOAuthProvider may use it, an OAuthProvider may not, and it is one of
/// the ways of giving credentials, not one more.
#[tokio::test]
async fn only_a_cluster_provider_may_use_the_operators_identity() {
    let client = client().await;
    let ns = namespace(&client, "operator-identity").await;
    let entra = |auth: serde_json::Value| {
        let mut a = j!({"clientId": "00000000-0000-0000-0000-000000000001"});
        merge(&mut a, auth);
        j!({"entra": {"tenantId": "contoso.onmicrosoft.com", "auth": a}})
    };
    let wif = j!({"workloadIdentity": {}});
    let cluster = provider("ClusterOAuthProvider", "wif-cluster", entra(wif.clone()));
    apply(&client, &cluster, &ns)
        .await
        .unwrap_or_else(|e| panic!("a ClusterOAuthProvider with workloadIdentity: {e}"));
    let local = provider("OAuthProvider", "wif-local", entra(wif));
    assert_rejected(
        &client,
        &ns,
        "an OAuthProvider with workloadIdentity",
        &local,
        &[
            "spec.entra.auth.workloadIdentity",
            "only a ClusterOAuthProvider",
        ],
    )
    .await;
    let both = provider(
        "ClusterOAuthProvider",
        "wif-and-secret",
        entra(j!({"workloadIdentity": {},
            "clientSecretSecretRef": {"namespace": "ops", "name": "creds", "key": "k"}})),
    );
    assert_rejected(
        &client,
        &ns,
        "workloadIdentity and a secret",
        &both,
        &["spec.entra.auth: set exactly one of clientSecretSecretRef, certificate or workloadIdentity"],
    )
    .await;
}

#[tokio::test]
async fn invalid_oauthclients_are_rejected_with_the_field_named() {
    let client = client().await;
    let ns = namespace(&client, "bad-clients").await;

    let cases: Vec<(&str, serde_json::Value, Vec<&str>)> = vec![
        (
            "two provider blocks",
            j!({"cloudflare": {}, "hydra": {}}),
            vec!["at most one provider-specific block"],
        ),
        (
            "http redirect to a remote host",
            j!({"redirectUris": ["http://app.example.com/cb"]}),
            vec!["spec.redirectUris", "loopback"],
        ),
        (
            "redirect that is not a URL",
            j!({"redirectUris": ["not a url"]}),
            vec!["spec.redirectUris"],
        ),
        (
            "http post-logout redirect",
            j!({"postLogoutRedirectUris": ["http://app.example.com/bye"]}),
            vec!["spec.postLogoutRedirectUris"],
        ),
        (
            "rotation.every that is not a duration",
            j!({"rotation": {"every": "90d"}}),
            vec!["spec.rotation.every"],
        ),
        (
            "rotation.every shorter than an hour",
            j!({"rotation": {"every": "30m"}}),
            vec!["spec.rotation.every", "at least 1h"],
        ),
        (
            "gracePeriod longer than every",
            j!({"rotation": {"every": "24h", "gracePeriod": "48h"}}),
            vec!["spec.rotation.gracePeriod"],
        ),
        (
            "Secret name that is not DNS-1123",
            j!({"secret": {"name": "Bad_Name"}}),
            vec!["spec.secret.name"],
        ),
        (
            "providerRef to an unknown kind",
            j!({"providerRef": {"kind": "Issuer", "name": "x"}}),
            vec!["spec.providerRef.kind"],
        ),
        (
            "unknown deletionPolicy",
            j!({"deletionPolicy": "Keep"}),
            vec!["spec.deletionPolicy"],
        ),
        (
            "Cloudflare without authorization_code",
            j!({"cloudflare": {}, "grantTypes": ["refresh_token"]}),
            vec!["spec.grantTypes", "authorization_code"],
        ),
        (
            "Cloudflare with client_credentials",
            j!({"cloudflare": {}, "grantTypes": ["authorization_code", "client_credentials"]}),
            vec!["spec.grantTypes"],
        ),
        (
            "Cloudflare colon scope",
            j!({"cloudflare": {}, "scopes": ["account:read"]}),
            vec!["spec.scopes", "colon"],
        ),
        (
            "Cloudflare optional scope not in scopes",
            j!({"cloudflare": {"optionalScopes": ["account.read"]}}),
            vec!["spec.cloudflare.optionalScopes", "spec.scopes"],
        ),
        (
            "Cloudflare optional openid",
            j!({"scopes": ["openid"], "cloudflare": {"optionalScopes": ["openid"]}}),
            vec!["spec.cloudflare.optionalScopes", "never be optional"],
        ),
        (
            "CSP unknown grant type",
            j!({"vmwareCsp": {}, "grantTypes": ["password"]}),
            vec!["spec.grantTypes", "VMware CSP"],
        ),
        (
            "CSP refresh TTL not longer than access TTL",
            j!({"vmwareCsp": {"accessTokenTtl": "1h", "refreshTokenTtl": "30m"}}),
            vec!["spec.vmwareCsp.refreshTokenTtl"],
        ),
        (
            "duplicate Secret key names",
            j!({"secret": {"keys": {"clientId": "ID", "clientSecret": "ID"}}}),
            vec!["spec.secret.keys"],
        ),
        (
            "extraData colliding with a credential key",
            j!({"secret": {"extraData": {"client_secret": "x"}}}),
            vec!["spec.secret.extraData"],
        ),
        (
            "label owned by clientops",
            j!({"secret": {"labels": {"clientops.dev/client": "x"}}}),
            vec!["spec.secret.labels"],
        ),
        (
            "redirect URIs missing for Cloudflare",
            j!({"cloudflare": {}, "redirectUris": null}),
            vec!["spec.redirectUris", "at least one"],
        ),
    ];
    for (i, (case, extra, expect)) in cases.iter().enumerate() {
        let obj = oauth_client(&format!("bad-{i}"), extra.clone());
        assert_rejected(&client, &ns, case, &obj, expect).await;
    }
}

#[tokio::test]
async fn immutable_fields_cannot_change_after_creation() {
    let client = client().await;
    let ns = namespace(&client, "immutable").await;

    apply(&client, &oauth_client("moves", j!({})), &ns)
        .await
        .expect("valid client");
    let moved = oauth_client(
        "moves",
        j!({"providerRef": {"kind": "ClusterOAuthProvider", "name": "other"}}),
    );
    assert_rejected(
        &client,
        &ns,
        "providerRef change",
        &moved,
        &["spec.providerRef", "cannot change"],
    )
    .await;

    let imported = j!({"import": {"clientId": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}});
    apply(&client, &oauth_client("adopts", imported), &ns)
        .await
        .expect("valid import");
    let other = oauth_client(
        "adopts",
        j!({"import": {"clientId": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}}),
    );
    assert_rejected(
        &client,
        &ns,
        "import.clientId change",
        &other,
        &["spec.import.clientId", "cannot be"],
    )
    .await;
    let added = oauth_client(
        "moves",
        j!({"import": {"clientId": "cccccccccccccccccccccccccccccccc"}}),
    );
    assert_rejected(
        &client,
        &ns,
        "import added later",
        &added,
        &["spec.import.clientId"],
    )
    .await;

    let public =
        j!({"clientUri": "https://app.example.com", "cloudflare": {"visibility": "public"}});
    apply(&client, &oauth_client("goes-public", public), &ns)
        .await
        .expect("valid public client");
    let private = oauth_client("goes-public", j!({"cloudflare": {"visibility": "private"}}));
    assert_rejected(
        &client,
        &ns,
        "public back to private",
        &private,
        &["spec.cloudflare.visibility", "never become private"],
    )
    .await;

    // Other fields stay editable.
    let edited = oauth_client(
        "moves",
        j!({"redirectUris": ["https://app.example.com/new"]}),
    );
    apply(&client, &edited, &ns)
        .await
        .expect("ordinary edits are accepted");
}

#[tokio::test]
async fn kubectl_explain_prints_the_doc_text() {
    let path = kubeconfig();
    // The discovery cache of kubectl may lag behind a just-installed CRD.
    let mut last = String::new();
    let ok = wait_for(Duration::from_secs(30), || {
        let out = std::process::Command::new("kubectl")
            .args([
                "--kubeconfig",
                path.to_str().unwrap(),
                "explain",
                "oauthclient.spec.rotation",
            ])
            .output()
            .expect("kubectl must be installed");
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let hit = out.status.success()
            && last.contains("gracePeriod")
            && last.contains("Rotate the secret this long after the last rotation");
        async move { hit.then_some(()) }
    })
    .await;
    assert!(
        ok.is_some(),
        "kubectl explain did not show the doc text:\n{last}"
    );
}

#[tokio::test]
async fn short_name_and_printer_columns_work_in_kubectl() {
    let client = client().await;
    let ns = namespace(&client, "kubectl-get").await;
    apply(&client, &oauth_client("listed", j!({})), &ns)
        .await
        .unwrap();
    let out = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            kubeconfig().to_str().unwrap(),
            "get",
            "oac",
            "-n",
            &ns,
        ])
        .output()
        .expect("kubectl must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let header = text.lines().next().unwrap_or_default();
    for col in ["NAME", "READY", "CLIENT ID", "ROTATION", "AGE"] {
        assert!(header.contains(col), "column {col} missing in {header:?}");
    }
    assert!(text.contains("listed"));
}
