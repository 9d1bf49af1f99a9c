//! The ValidatingAdmissionPolicy in `deploy/admission/` on a real kube-apiserver: an
//! OAuthClient that breaks its ClusterOAuthProvider's `spec.policy` is refused at
//! apply with the field named, a compliant one is accepted, clients of other
//! providers are unaffected, and the controller's `policy::check_for` reaches the
//! same verdict on the same field for every case.
//!
//! The policy and binding are installed under names of this test's own and bound only
//! to this test's namespace (a label), so they cannot refuse other tests' objects on
//! the shared control plane.

mod support;

use std::time::Duration;

use clientops::api::client::OAuthClientSpec;
use clientops::api::policy::ClientPolicy;
use clientops::api::provider::ProviderType;
use clientops::controller::policy::check_for;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json as j};
use support::*;

const TEST_LABEL: &str = "clientops.dev/admission-test";

fn vap_resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind),
        plural,
    )
}

/// The shipped policy and binding, renamed for this test and bound to namespaces
/// labelled `TEST_LABEL=<ns>` only.
fn shipped_admission(ns: &str) -> (DynamicObject, DynamicObject) {
    let dir = repo_root().join("deploy/admission");
    let read = |f: &str| {
        let mut objs = parse_yaml(&std::fs::read_to_string(dir.join(f)).unwrap());
        assert_eq!(objs.len(), 1, "{f} holds one object");
        objs.remove(0)
    };
    let mut vap = read("validatingadmissionpolicy.yaml");
    let mut binding = read("validatingadmissionpolicybinding.yaml");
    assert_eq!(
        binding.data["spec"]["policyName"].as_str(),
        vap.metadata.name.as_deref(),
        "the shipped binding names the shipped policy"
    );
    let name = format!("clientops-client-policy-{ns}");
    vap.metadata.name = Some(name.clone());
    binding.metadata.name = Some(name.clone());
    binding.data["spec"]["policyName"] = name.into();
    binding.data["spec"]["matchResources"] =
        j!({"namespaceSelector": {"matchLabels": {TEST_LABEL: ns}}});
    (vap, binding)
}

async fn apply_cluster(client: &kube::Client, ar: &ApiResource, obj: &DynamicObject) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let name = obj.metadata.name.clone().unwrap();
    api.patch(
        &name,
        &PatchParams::apply(TEST_MANAGER).force(),
        &Patch::Apply(obj),
    )
    .await
    .unwrap_or_else(|e| panic!("apply {} {name}: {e}", ar.kind));
}

async fn delete_cluster(client: &kube::Client, ar: &ApiResource, name: &str) {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
    let _ = api.delete(name, &DeleteParams::default()).await;
}

fn object(kind: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(j!({
        "apiVersion": "clientops.dev/v1alpha1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

/// A Cloudflare provider block aimed at a closed loopback port: no controller in this
/// test, and nothing may leave the machine if one looked.
fn cloudflare() -> Value {
    j!({"cloudflare": {
        "accountId": "023e105f4ecef8ad9ca31a8372d0c353",
        "baseUrl": "http://127.0.0.1:9/client/v4",
        "auth": {"apiTokenSecretRef": {"namespace": "clientops-system", "name": "cf-api", "key": "token"}},
    }})
}

fn hydra() -> Value {
    j!({"hydra": {"adminUrl": "http://127.0.0.1:9"}})
}

fn csp() -> Value {
    j!({"vmwareCsp": {
        "orgId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "baseUrl": "http://127.0.0.1:9",
        "auth": {"apiTokenSecretRef": {"namespace": "clientops-system", "name": "csp-api", "key": "token"}},
    }})
}

fn keycloak() -> Value {
    j!({"keycloak": {"url": "http://127.0.0.1:9", "realm": "apps", "auth": {"clientCredentials": {
        "clientId": "clientops",
        "secretRef": {"namespace": "clientops-system", "name": "kc", "key": "secret"},
    }}}})
}

fn entra() -> Value {
    j!({"entra": {"tenantId": "contoso.onmicrosoft.com",
        "authorityUrl": "http://127.0.0.1:9", "graphUrl": "http://127.0.0.1:9",
        "auth": {"clientId": "00000000-0000-0000-0000-000000000001",
            "clientSecretSecretRef": {"namespace": "clientops-system", "name": "entra", "key": "secret"}}}})
}

/// A client of `provider` (kind, name) that satisfies `guarded_policy`, with `patch`
/// merged into its spec (null removes a field).
fn client_spec(kind: &str, provider: &str, patch: Value) -> Value {
    let mut spec = j!({
        "providerRef": {"kind": kind, "name": provider},
        "redirectUris": ["https://grafana.apps.example.com/login", "http://localhost:3000/cb"],
        "grantTypes": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "account.read"],
        "rotation": {"every": "720h"},
    });
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            spec.as_object_mut().unwrap().remove(k);
        } else {
            spec[k] = v.clone();
        }
    }
    spec
}

fn guarded_policy() -> Value {
    j!({
        "redirectUriHosts": ["*.apps.example.com", "localhost"],
        "grantTypes": ["authorization_code", "refresh_token"],
        "scopes": ["openid", "account.read"],
        "allowPublicClients": false,
        "maxRotationEvery": "2160h",
    })
}

/// A Hydra client of the hydra provider (`maxTokenLifetime: 1h`) whose token
/// lifespan `key` is a minute too long, and every other one inside the bound.
fn hydra_lifespan(key: &str) -> Value {
    let mut lifespans = j!({
        "authorizationCodeGrantAccessToken": "1h",
        "authorizationCodeGrantIdToken": "1h",
        "authorizationCodeGrantRefreshToken": "1h",
        "clientCredentialsGrantAccessToken": "1h",
        "refreshTokenGrantAccessToken": "1h",
        "refreshTokenGrantRefreshToken": "1h",
    });
    lifespans[key] = "61m".into();
    j!({"grantTypes": ["client_credentials"], "scopes": ["openid"],
        "hydra": {"tokenLifespans": lifespans}})
}

/// Apply a client; `Ok` when accepted, the rejection message otherwise.
async fn try_apply(
    client: &kube::Client,
    ns: &str,
    name: &str,
    spec: &Value,
    dry_run: bool,
) -> Result<(), String> {
    let obj = object("OAuthClient", name, spec.clone());
    let ar = api_resource(&obj).0;
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let mut pp = PatchParams::apply(TEST_MANAGER).force();
    pp.dry_run = dry_run;
    match api.patch(name, &pp, &Patch::Apply(&obj)).await {
        Ok(_) => Ok(()),
        Err(e) => Err(rejection_message(&e)),
    }
}

/// Wait until the apiserver enforces the policy with `provider` as a param: a
/// known-bad client (dry run, so nothing is stored while it is still accepted) is
/// refused. VAP enforcement follows policy and param changes through informers.
async fn wait_enforced(client: &kube::Client, ns: &str, bad: &Value, expect: &str) {
    let enforced = wait_for(Duration::from_secs(60), || async {
        match try_apply(client, ns, "probe", bad, true).await {
            Err(m) if m.contains(expect) => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(
        enforced.is_some(),
        "the admission policy did not refuse a known-bad client ({expect}) within 60s"
    );
}

struct Case {
    name: &'static str,
    provider: (&'static str, String),
    patch: Value,
    /// `None`: accepted. `Some(field)`: refused, the message naming `field`, and the
    /// other strings.
    refused: Option<(&'static str, Vec<&'static str>)>,
}

#[tokio::test]
async fn the_admission_policy_refuses_what_the_provider_policy_forbids() {
    let client = client().await;
    let ns = namespace(&client, "vap").await;
    Api::<Namespace>::all(client.clone())
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(j!({"metadata": {"labels": {TEST_LABEL: ns}}})),
        )
        .await
        .unwrap();

    // Providers: one with the policy under test, one without a policy, a Hydra one
    // (its default scope), one with 100 long host patterns (CEL cost), and a
    // namespaced OAuthProvider with the guarded one's name.
    let guarded = format!("guarded-{ns}");
    let open = format!("open-{ns}");
    let hydra_name = format!("hydra-{ns}");
    let wide = format!("wide-{ns}");
    let mut guarded_spec = cloudflare();
    guarded_spec["policy"] = guarded_policy();
    let mut hydra_spec = hydra();
    hydra_spec["policy"] = j!({"grantTypes": ["client_credentials"], "scopes": ["openid"],
        "maxTokenLifetime": "1h"});
    // Keycloak: a client without scopes gets the realm's default client scopes.
    let keycloak_name = format!("keycloak-{ns}");
    let mut keycloak_spec = keycloak();
    keycloak_spec["policy"] = j!({
        "scopes": ["openid", "profile", "email"],
        "keycloakAttributes": ["exclude.session.state.from.auth.response"],
        "maxTokenLifetime": "5m",
    });
    // VMware CSP with the policy of issue 24: roles are scopes.
    let csp_name = format!("csp-{ns}");
    let mut csp_spec = csp();
    csp_spec["policy"] = j!({"grantTypes": ["client_credentials"], "scopes": ["org_member"]});
    // VMware CSP with token lifetime bounds below CSP's own defaults.
    let csp_short = format!("csp-short-{ns}");
    let mut csp_short_spec = csp();
    csp_short_spec["policy"] = j!({"maxTokenLifetime": "5m", "maxRefreshTokenLifetime": "720h"});
    // Entra: one more audience, Graph's User.Read (upper case: compared without case).
    let entra_name = format!("entra-{ns}");
    let mut entra_spec = entra();
    entra_spec["policy"] = j!({"signInAudiences": ["AzureADMultipleOrgs"],
        "apiPermissions": ["00000003-0000-0000-C000-000000000000/E1FE6DD8-ba31-4d61-89e7-88639da4683d"]});
    // Every rule that allows a widening field, set.
    let permissive = format!("permissive-{ns}");
    let mut permissive_spec = cloudflare();
    permissive_spec["policy"] = j!({
        "redirectUriHosts": ["*.apps.example.com", "localhost"],
        "displayUriHosts": ["cdn.example.net", "*.apps.example.com"],
        "allowWildcardCorsOrigins": true,
        "allowPublicVisibility": true,
        "allowAllOrganizationRoles": true,
        "audiences": ["https://api.example.com"],
        "allowSkipConsent": true,
        "allowFullScope": true,
        "keycloakAttributes": ["jwks.url"],
    });
    let mut wide_spec = cloudflare();
    let mut wide_hosts: Vec<String> = (0..99)
        .map(|i| format!("*.h{i}.{q}.{q}.{q}.example.com", q = "q".repeat(60)))
        .collect();
    wide_hosts.push("*.apps.example.com".into());
    wide_spec["policy"] = j!({"redirectUriHosts": wide_hosts});
    let providers = [
        object("ClusterOAuthProvider", &guarded, guarded_spec.clone()),
        object("ClusterOAuthProvider", &open, cloudflare()),
        object("ClusterOAuthProvider", &hydra_name, hydra_spec.clone()),
        object(
            "ClusterOAuthProvider",
            &keycloak_name,
            keycloak_spec.clone(),
        ),
        object("ClusterOAuthProvider", &wide, wide_spec.clone()),
        object("ClusterOAuthProvider", &csp_name, csp_spec.clone()),
        object("ClusterOAuthProvider", &permissive, permissive_spec.clone()),
        object("ClusterOAuthProvider", &csp_short, csp_short_spec.clone()),
        object("ClusterOAuthProvider", &entra_name, entra_spec.clone()),
    ];
    for p in &providers {
        apply(&client, p, &ns).await.expect("apply provider");
    }
    let mut namespaced = cloudflare();
    namespaced["cloudflare"]["auth"]["apiTokenSecretRef"]
        .as_object_mut()
        .unwrap()
        .remove("namespace");
    apply(&client, &object("OAuthProvider", &guarded, namespaced), &ns)
        .await
        .expect("apply namespaced provider");

    let (vap, binding) = shipped_admission(&ns);
    let vap_ar = vap_resource("ValidatingAdmissionPolicy", "validatingadmissionpolicies");
    let binding_ar = vap_resource(
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
    );
    apply_cluster(&client, &vap_ar, &vap).await;
    apply_cluster(&client, &binding_ar, &binding).await;

    let cop = || ("ClusterOAuthProvider", guarded.clone());
    let evil = j!({"redirectUris": ["https://grafana.apps.example.com/login", "https://evil.example.net/cb"]});
    wait_enforced(
        &client,
        &ns,
        &client_spec("ClusterOAuthProvider", &guarded, evil.clone()),
        "evil.example.net",
    )
    .await;
    for name in [&hydra_name, &wide, &csp_name, &permissive, &csp_short] {
        let bad = client_spec(
            "ClusterOAuthProvider",
            name,
            j!({"redirectUris": ["https://evil.example.net/cb"], "grantTypes": ["implicit"]}),
        );
        wait_enforced(&client, &ns, &bad, name).await;
    }

    let long_uris: Vec<String> = (0..100)
        .map(|i| {
            let host = if i == 99 {
                "z.evil.example.net".to_string()
            } else {
                format!("x{i}.{y}.{y}.apps.example.com", y = "y".repeat(60))
            };
            format!("https://{host}/{}", "p".repeat(1700))
        })
        .collect();

    let cases = vec![
        Case {
            name: "compliant",
            provider: cop(),
            patch: j!({}),
            refused: None,
        },
        Case {
            name: "compliant-edges",
            provider: cop(),
            patch: j!({
                "redirectUris": ["https://A.B.Apps.Example.com:8443/cb", "https://grafana.apps.example.com./cb"],
                "grantTypes": null,
                "tokenEndpointAuthMethod": "client_secret_post",
                "rotation": {"every": "90h30m"},
            }),
            refused: None,
        },
        Case {
            name: "redirect-host",
            provider: cop(),
            patch: evil.clone(),
            refused: Some((
                "spec.redirectUris[1]",
                vec![
                    "host \"evil.example.net\" is not allowed",
                    "policy redirectUriHosts [*.apps.example.com, localhost]",
                    "use a host the policy allows",
                ],
            )),
        },
        Case {
            name: "redirect-wildcard-base",
            provider: cop(),
            patch: j!({"redirectUris": ["https://apps.example.com/cb"]}),
            refused: Some(("spec.redirectUris[0]", vec!["\"apps.example.com\""])),
        },
        Case {
            name: "redirect-suffix-not-label",
            provider: cop(),
            patch: j!({"redirectUris": ["https://evilapps.example.com/cb"]}),
            refused: Some(("spec.redirectUris[0]", vec!["\"evilapps.example.com\""])),
        },
        Case {
            name: "redirect-userinfo",
            provider: cop(),
            patch: j!({"redirectUris": ["https://grafana.apps.example.com@evil.example.net/cb"]}),
            refused: Some(("spec.redirectUris[0]", vec!["\"evil.example.net\""])),
        },
        Case {
            name: "logout-host",
            provider: cop(),
            patch: j!({"postLogoutRedirectUris": ["https://grafana.apps.example.com/bye", "https://evil.example.net/bye"]}),
            refused: Some((
                "spec.postLogoutRedirectUris[1]",
                vec!["\"evil.example.net\""],
            )),
        },
        Case {
            name: "grant-type",
            provider: cop(),
            patch: j!({"grantTypes": ["authorization_code", "client_credentials"]}),
            refused: Some((
                "spec.grantTypes[1]",
                vec![
                    "grant type \"client_credentials\" is not allowed",
                    "policy grantTypes [authorization_code, refresh_token]",
                ],
            )),
        },
        Case {
            name: "scope",
            provider: cop(),
            patch: j!({"scopes": ["openid", "admin"]}),
            refused: Some((
                "spec.scopes[1]",
                vec![
                    "scope \"admin\" is not allowed",
                    "policy scopes [openid, account.read]",
                ],
            )),
        },
        Case {
            name: "public-client",
            provider: cop(),
            patch: j!({"tokenEndpointAuthMethod": "none"}),
            refused: Some((
                "spec.tokenEndpointAuthMethod",
                vec!["allowPublicClients: false"],
            )),
        },
        Case {
            name: "csp-general-scope",
            provider: cop(),
            patch: j!({"scopes": null, "vmwareCsp": {"generalScopes": ["openid", "email"]}}),
            refused: Some(("spec.vmwareCsp.generalScopes[1]", vec!["\"email\""])),
        },
        Case {
            name: "rotation-missing",
            provider: cop(),
            patch: j!({"rotation": null}),
            refused: Some((
                "spec.rotation.every",
                vec![
                    "not set",
                    "maxRotationEvery 2160h",
                    "set rotation.every to 2160h or less",
                ],
            )),
        },
        Case {
            name: "rotation-too-long",
            provider: cop(),
            patch: j!({"rotation": {"every": "2160h1s"}}),
            refused: Some((
                "spec.rotation.every",
                vec!["\"2160h1s\" is longer than", "maxRotationEvery 2160h"],
            )),
        },
        Case {
            name: "hydra-default-grant",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": null, "scopes": ["openid"]}),
            refused: Some((
                "spec.grantTypes",
                vec!["default grant type \"authorization_code\" (grantTypes is not set)"],
            )),
        },
        Case {
            name: "hydra-default-scope",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": null}),
            refused: Some(("spec.scopes", vec!["default scope", "\"offline_access\""])),
        },
        Case {
            name: "keycloak-default-scopes",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": null}),
            refused: Some(("spec.scopes", vec!["default scope", "\"web-origins\""])),
        },
        Case {
            name: "keycloak-compliant",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid", "profile"], "keycloak": {
                "optionalClientScopes": ["email"],
                "fullScopeAllowed": false,
                "attributes": {
                    "exclude.session.state.from.auth.response": "true",
                    "display.on.consent.screen": "true",
                    "oidc.ciba.grant.enabled": "true",
                },
            }}),
            refused: None,
        },
        // Issue 24: every field that widens what a client may do or reach.
        Case {
            name: "csp-compliant",
            provider: ("ClusterOAuthProvider", csp_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": null, "redirectUris": [],
                "vmwareCsp": {"organizationRoles": ["org_member"], "allOrganizationRoles": false}}),
            refused: None,
        },
        Case {
            name: "csp-org-role",
            provider: ("ClusterOAuthProvider", csp_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": null, "redirectUris": [],
                "vmwareCsp": {"organizationRoles": ["org_member", "org_owner"]}}),
            refused: Some((
                "spec.vmwareCsp.organizationRoles[1]",
                vec![
                    "organization role \"org_owner\" is not allowed",
                    "policy scopes [org_member]",
                ],
            )),
        },
        Case {
            name: "csp-all-roles",
            provider: ("ClusterOAuthProvider", csp_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": null, "redirectUris": [],
                "vmwareCsp": {"allOrganizationRoles": true}}),
            refused: Some((
                "spec.vmwareCsp.allOrganizationRoles",
                vec![
                    "true (every role of the organization)",
                    "(allowAllOrganizationRoles is not true)",
                    "organizationRoles instead",
                ],
            )),
        },
        Case {
            name: "cors-wildcard",
            provider: cop(),
            patch: j!({"allowedCorsOrigins": ["https://grafana.apps.example.com", "*"]}),
            refused: Some((
                "spec.allowedCorsOrigins[1]",
                vec![
                    "\"*\" is a wildcard origin",
                    "(allowWildcardCorsOrigins is not true)",
                ],
            )),
        },
        Case {
            name: "display-uri",
            provider: cop(),
            patch: j!({"clientUri": "https://grafana.apps.example.com/", "logoUri": "https://cdn.example.net/logo.png"}),
            refused: Some((
                "spec.logoUri",
                vec![
                    "host \"cdn.example.net\" is not allowed",
                    "redirectUriHosts [*.apps.example.com, localhost] (displayUriHosts is not set)",
                ],
            )),
        },
        Case {
            name: "public-visibility",
            provider: cop(),
            patch: j!({"cloudflare": {"visibility": "public"}}),
            refused: Some((
                "spec.cloudflare.visibility",
                vec!["(allowPublicVisibility is not true)"],
            )),
        },
        Case {
            name: "hydra-audience",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": ["openid"],
                "hydra": {"audience": ["https://api.example.com"]}}),
            refused: Some((
                "spec.hydra.audience[0]",
                vec![
                    "audience \"https://api.example.com\"",
                    "(audiences is not set, so no audience is allowed)",
                ],
            )),
        },
        Case {
            name: "hydra-skip-consent",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": ["openid"],
                "hydra": {"skipConsent": true}}),
            refused: Some((
                "spec.hydra.skipConsent",
                vec!["(allowSkipConsent is not true)"],
            )),
        },
        Case {
            name: "keycloak-optional-default",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"fullScopeAllowed": false}}),
            refused: Some((
                "spec.keycloak.optionalClientScopes",
                vec![
                    "default optional scopes",
                    "\"offline_access\" is not allowed",
                ],
            )),
        },
        Case {
            name: "keycloak-optional-scope",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"fullScopeAllowed": false, "optionalClientScopes": ["email", "phone"]}}),
            refused: Some((
                "spec.keycloak.optionalClientScopes[1]",
                vec!["scope \"phone\" is not allowed"],
            )),
        },
        Case {
            name: "keycloak-full-scope-default",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"optionalClientScopes": []}}),
            refused: Some((
                "spec.keycloak.fullScopeAllowed",
                vec![
                    "not set, so Keycloak puts every realm role",
                    "(allowFullScope is not true)",
                ],
            )),
        },
        Case {
            name: "keycloak-full-scope",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"optionalClientScopes": [], "fullScopeAllowed": true}}),
            refused: Some((
                "spec.keycloak.fullScopeAllowed",
                vec!["true (every realm role"],
            )),
        },
        Case {
            name: "keycloak-logout-url",
            provider: cop(),
            patch: j!({"keycloak": {"backChannelLogoutUrl": "https://evil.example.net/logout"}}),
            refused: Some((
                "spec.keycloak.backChannelLogoutUrl",
                vec![
                    "host \"evil.example.net\" is not allowed",
                    "policy redirectUriHosts [*.apps.example.com, localhost]",
                ],
            )),
        },
        Case {
            name: "keycloak-grant-attribute",
            provider: cop(),
            patch: j!({"keycloak": {"attributes": {"display.on.consent.screen": "true", "oidc.ciba.grant.enabled": "True"}}}),
            refused: Some((
                "spec.keycloak.attributes[\"oidc.ciba.grant.enabled\"]",
                vec![
                    "\"True\" switches on the grant type \"urn:openid:params:grant-type:ciba\"",
                    "policy grantTypes [authorization_code, refresh_token]",
                ],
            )),
        },
        Case {
            name: "keycloak-unknown-attribute",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"optionalClientScopes": [], "fullScopeAllowed": false,
                "attributes": {"zz.custom": "1", "jwks.url": "https://evil.example.net/jwks"}}}),
            refused: Some((
                "spec.keycloak.attributes[\"jwks.url\"]",
                vec![
                    "clientops cannot tell",
                    "keycloakAttributes [exclude.session.state.from.auth.response] does not list it",
                ],
            )),
        },
        Case {
            name: "entra-compliant",
            provider: ("ClusterOAuthProvider", entra_name.clone()),
            patch: j!({"scopes": null, "entra": {"signInAudience": "AzureADMultipleOrgs",
                "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
                    "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}]}}),
            refused: None,
        },
        Case {
            name: "entra-audience",
            provider: ("ClusterOAuthProvider", entra_name.clone()),
            patch: j!({"scopes": null, "entra": {"signInAudience": "AzureADandPersonalMicrosoftAccount"}}),
            refused: Some((
                "spec.entra.signInAudience",
                vec![
                    "\"AzureADandPersonalMicrosoftAccount\" is not allowed",
                    "signInAudiences [AzureADMultipleOrgs]",
                ],
            )),
        },
        Case {
            name: "entra-permission",
            provider: ("ClusterOAuthProvider", entra_name.clone()),
            patch: j!({"scopes": null, "entra": {"requiredResourceAccess": [
                {"resourceAppId": "00000003-0000-0000-c000-000000000000",
                    "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]},
                {"resourceAppId": "00000002-0000-0ff1-ce00-000000000000",
                    "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"},
                        {"id": "DC50A0FB-09A3-484D-BE87-E023B12C6440", "type": "Role"}]}]}}),
            refused: Some((
                "spec.entra.requiredResourceAccess[1].resourceAccess[0]",
                vec![
                    "permission \"00000002-0000-0ff1-ce00-000000000000/e1fe6dd8-ba31-4d61-89e7-88639da4683d\"",
                    "apiPermissions [00000003-0000-0000-C000-000000000000/",
                ],
            )),
        },
        Case {
            name: "entra-no-rules",
            provider: cop(),
            patch: j!({"entra": {"signInAudience": "AzureADMultipleOrgs"}}),
            refused: Some((
                "spec.entra.signInAudience",
                vec!["(signInAudiences is not set, so only AzureADMyOrg is allowed)"],
            )),
        },
        Case {
            name: "entra-no-permission-rule",
            provider: cop(),
            patch: j!({"entra": {"requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Role"}]}]}}),
            refused: Some((
                "spec.entra.requiredResourceAccess[0].resourceAccess[0]",
                vec!["(apiPermissions is not set, so no API permission is allowed)"],
            )),
        },
        Case {
            name: "permissive-cloudflare",
            provider: ("ClusterOAuthProvider", permissive.clone()),
            patch: j!({"allowedCorsOrigins": ["*"], "logoUri": "https://cdn.example.net/l.png",
                "clientUri": "https://grafana.apps.example.com/", "cloudflare": {"visibility": "public"}}),
            refused: None,
        },
        Case {
            name: "permissive-csp",
            provider: ("ClusterOAuthProvider", permissive.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "redirectUris": [], "vmwareCsp": {"allOrganizationRoles": true}}),
            refused: None,
        },
        Case {
            name: "permissive-hydra",
            provider: ("ClusterOAuthProvider", permissive.clone()),
            patch: j!({"hydra": {"audience": ["https://api.example.com"], "skipConsent": true}}),
            refused: None,
        },
        Case {
            name: "permissive-keycloak",
            provider: ("ClusterOAuthProvider", permissive.clone()),
            patch: j!({"keycloak": {"fullScopeAllowed": true, "attributes": {"jwks.url": "https://app.apps.example.com/jwks"},
                "frontChannelLogoutUrl": "https://app.apps.example.com/logout"}}),
            refused: None,
        },
        // Token lifetimes: each of the nine fields inside and outside its bound,
        // and unset (the provider's default: VMware CSP's own is checked).
        Case {
            name: "lifetimes-no-rule",
            provider: cop(),
            patch: j!({"hydra": {"tokenLifespans": {"authorizationCodeGrantAccessToken": "87600h",
                    "authorizationCodeGrantRefreshToken": "87600h"}}}),
            refused: None,
        },
        Case {
            name: "lifetimes-no-rule-keycloak",
            provider: cop(),
            patch: j!({"keycloak": {"accessTokenLifespan": "87600h"}}),
            refused: None,
        },
        Case {
            name: "csp-lifetimes-compliant",
            provider: ("ClusterOAuthProvider", csp_short.clone()),
            patch: j!({"vmwareCsp": {"accessTokenTtl": "300s", "refreshTokenTtl": "720h"}}),
            refused: None,
        },
        Case {
            name: "csp-access-ttl",
            provider: ("ClusterOAuthProvider", csp_short.clone()),
            patch: j!({"vmwareCsp": {"accessTokenTtl": "5m1s", "refreshTokenTtl": "720h"}}),
            refused: Some((
                "spec.vmwareCsp.accessTokenTtl",
                vec![
                    "\"5m1s\" is longer than",
                    "policy maxTokenLifetime 5m;",
                    "set spec.vmwareCsp.accessTokenTtl to 5m or less",
                ],
            )),
        },
        Case {
            name: "csp-refresh-ttl",
            provider: ("ClusterOAuthProvider", csp_short.clone()),
            patch: j!({"vmwareCsp": {"accessTokenTtl": "5m", "refreshTokenTtl": "721h"}}),
            refused: Some((
                "spec.vmwareCsp.refreshTokenTtl",
                vec![
                    "\"721h\" is longer than",
                    "policy maxRefreshTokenLifetime 720h;",
                ],
            )),
        },
        Case {
            name: "csp-access-ttl-default",
            provider: ("ClusterOAuthProvider", csp_short.clone()),
            patch: j!({"vmwareCsp": {"refreshTokenTtl": "720h"}}),
            refused: Some((
                "spec.vmwareCsp.accessTokenTtl",
                vec!["not set, so VMware CSP's default 10m applies, which is longer than"],
            )),
        },
        Case {
            name: "csp-refresh-ttl-default",
            provider: ("ClusterOAuthProvider", csp_short.clone()),
            patch: j!({"vmwareCsp": {"accessTokenTtl": "5m"}}),
            refused: Some((
                "spec.vmwareCsp.refreshTokenTtl",
                vec![
                    "not set, so VMware CSP's default 2160h applies",
                    "policy maxRefreshTokenLifetime 720h;",
                ],
            )),
        },
        Case {
            name: "csp-lifetimes-defaults",
            provider: ("ClusterOAuthProvider", csp_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": null, "redirectUris": [],
                "vmwareCsp": {"description": "no lifetime rule: CSP's defaults pass"}}),
            refused: None,
        },
        Case {
            name: "csp-lifetimes-no-rule",
            provider: ("ClusterOAuthProvider", csp_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": null, "redirectUris": [],
                "vmwareCsp": {"accessTokenTtl": "8760h", "refreshTokenTtl": "87600h"}}),
            refused: None,
        },
        Case {
            name: "hydra-lifetimes-compliant",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": ["openid"],
            "hydra": {"tokenLifespans": {
                "authorizationCodeGrantAccessToken": "1h",
                "authorizationCodeGrantIdToken": "60m",
                "authorizationCodeGrantRefreshToken": "3600s",
                "clientCredentialsGrantAccessToken": "30m",
                "refreshTokenGrantAccessToken": "0.5h",
                "refreshTokenGrantRefreshToken": "1h",
            }}}),
            refused: None,
        },
        Case {
            name: "hydra-lifetimes-unset",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": ["openid"],
                "hydra": {"accessTokenStrategy": "jwt", "tokenLifespans": {}}}),
            refused: None,
        },
        Case {
            name: "hydra-code-access-lifetime",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: hydra_lifespan("authorizationCodeGrantAccessToken"),
            refused: Some((
                "spec.hydra.tokenLifespans.authorizationCodeGrantAccessToken",
                vec!["\"61m\" is longer than", "policy maxTokenLifetime 1h;"],
            )),
        },
        Case {
            name: "hydra-code-id-lifetime",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: hydra_lifespan("authorizationCodeGrantIdToken"),
            refused: Some((
                "spec.hydra.tokenLifespans.authorizationCodeGrantIdToken",
                vec!["policy maxTokenLifetime 1h;"],
            )),
        },
        Case {
            name: "hydra-code-refresh-lifetime",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: hydra_lifespan("authorizationCodeGrantRefreshToken"),
            refused: Some((
                "spec.hydra.tokenLifespans.authorizationCodeGrantRefreshToken",
                vec!["policy maxTokenLifetime 1h (maxRefreshTokenLifetime is not set);"],
            )),
        },
        Case {
            name: "hydra-client-credentials-lifetime",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: hydra_lifespan("clientCredentialsGrantAccessToken"),
            refused: Some((
                "spec.hydra.tokenLifespans.clientCredentialsGrantAccessToken",
                vec!["policy maxTokenLifetime 1h;"],
            )),
        },
        Case {
            name: "hydra-refresh-access-lifetime",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: hydra_lifespan("refreshTokenGrantAccessToken"),
            refused: Some((
                "spec.hydra.tokenLifespans.refreshTokenGrantAccessToken",
                vec!["policy maxTokenLifetime 1h;"],
            )),
        },
        Case {
            name: "hydra-refresh-refresh-lifetime",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: hydra_lifespan("refreshTokenGrantRefreshToken"),
            refused: Some((
                "spec.hydra.tokenLifespans.refreshTokenGrantRefreshToken",
                vec!["policy maxTokenLifetime 1h (maxRefreshTokenLifetime is not set);"],
            )),
        },
        Case {
            name: "hydra-lifetimes-order",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": ["openid"],
            "hydra": {"skipConsent": false, "tokenLifespans": {
                "refreshTokenGrantRefreshToken": "2h",
                "authorizationCodeGrantIdToken": "3h",
            }}}),
            refused: Some((
                "spec.hydra.tokenLifespans.authorizationCodeGrantIdToken",
                vec!["\"3h\" is longer than"],
            )),
        },
        Case {
            name: "keycloak-lifetime-before-attributes",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"optionalClientScopes": [],
                "fullScopeAllowed": false, "accessTokenLifespan": "1h",
                "attributes": {"zz.custom": "1"}}}),
            refused: Some((
                "spec.keycloak.accessTokenLifespan",
                vec!["\"1h\" is longer than", "policy maxTokenLifetime 5m;"],
            )),
        },
        Case {
            name: "keycloak-lifetime-compliant",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"optionalClientScopes": [],
                "fullScopeAllowed": false, "accessTokenLifespan": "300s"}}),
            refused: None,
        },
        Case {
            name: "keycloak-lifetime",
            provider: ("ClusterOAuthProvider", keycloak_name.clone()),
            patch: j!({"scopes": ["openid"], "keycloak": {"optionalClientScopes": [],
                "fullScopeAllowed": false, "accessTokenLifespan": "5m1s"}}),
            refused: Some((
                "spec.keycloak.accessTokenLifespan",
                vec![
                    "\"5m1s\" is longer than",
                    "policy maxTokenLifetime 5m;",
                    "set spec.keycloak.accessTokenLifespan to 5m or less",
                ],
            )),
        },
        Case {
            name: "hydra-compliant",
            provider: ("ClusterOAuthProvider", hydra_name.clone()),
            patch: j!({"grantTypes": ["client_credentials"], "scopes": ["openid"], "redirectUris": ["https://evil.example.net/cb"]}),
            refused: None,
        },
        Case {
            name: "largest-lists",
            provider: ("ClusterOAuthProvider", wide.clone()),
            patch: j!({"redirectUris": long_uris.clone(), "postLogoutRedirectUris": long_uris.clone()}),
            refused: Some((
                "spec.redirectUris[99]",
                vec!["\"z.evil.example.net\"", ", ... (90 more)]"],
            )),
        },
        Case {
            name: "largest-lists-compliant",
            provider: ("ClusterOAuthProvider", wide.clone()),
            patch: j!({"redirectUris": long_uris[..99], "postLogoutRedirectUris": long_uris[..99]}),
            refused: None,
        },
        Case {
            name: "other-provider",
            provider: ("ClusterOAuthProvider", open.clone()),
            patch: j!({"redirectUris": ["https://evil.example.net/cb"], "grantTypes": ["client_credentials"], "tokenEndpointAuthMethod": "none", "rotation": null}),
            refused: None,
        },
        Case {
            name: "namespaced-same-name",
            provider: ("OAuthProvider", guarded.clone()),
            patch: j!({"redirectUris": ["https://evil.example.net/cb"], "scopes": ["admin"], "rotation": null}),
            refused: None,
        },
    ];

    let provider_policy = |name: &str| -> Option<(ClientPolicy, ProviderType)> {
        let spec = if name == guarded {
            &guarded_spec
        } else if name == hydra_name {
            &hydra_spec
        } else if name == keycloak_name {
            &keycloak_spec
        } else if name == wide {
            &wide_spec
        } else if name == csp_name {
            &csp_spec
        } else if name == permissive {
            &permissive_spec
        } else if name == csp_short {
            &csp_short_spec
        } else if name == entra_name {
            &entra_spec
        } else {
            return None;
        };
        let t = if spec.get("hydra").is_some() {
            ProviderType::Hydra
        } else if spec.get("keycloak").is_some() {
            ProviderType::Keycloak
        } else if spec.get("vmwareCsp").is_some() {
            ProviderType::VmwareCsp
        } else if spec.get("entra").is_some() {
            ProviderType::Entra
        } else {
            ProviderType::Cloudflare
        };
        Some((serde_json::from_value(spec["policy"].clone()).unwrap(), t))
    };

    let mut failures = vec![];
    for case in &cases {
        let spec = client_spec(case.provider.0, &case.provider.1, case.patch.clone());
        // The controller's verdict on the same spec.
        let typed: OAuthClientSpec = serde_json::from_value(spec.clone()).unwrap();
        let controller = match (case.provider.0, provider_policy(&case.provider.1)) {
            ("ClusterOAuthProvider", Some((policy, t))) => {
                check_for(&policy, &typed, t, &case.provider.1)
            }
            _ => Ok(()),
        };
        let admission = try_apply(&client, &ns, case.name, &spec, false).await;
        match (&case.refused, &admission, &controller) {
            (None, Ok(()), Ok(())) => eprintln!("case {}: accepted", case.name),
            (Some((field, words)), Err(msg), Err(v)) => {
                // Word for word the controller's message (the apiserver adds its
                // own prefix and the reason in parentheses).
                let same = msg.contains(&format!("denied request: {} (", v.message));
                let mut ok = same && v.field == *field;
                for w in words {
                    ok &= msg.contains(w) && v.message.contains(w);
                }
                if ok {
                    eprintln!(
                        "case {}: refused: {}",
                        case.name,
                        &msg[..msg.len().min(300)]
                    );
                } else {
                    failures.push(format!(
                        "case {}: want {field} {words:?};\n  admission: {msg}\n  controller: {v}",
                        case.name
                    ));
                }
            }
            _ => failures.push(format!(
                "case {}: want {:?}; admission {admission:?}; controller {controller:?}",
                case.name,
                case.refused.as_ref().map(|r| r.0)
            )),
        }
    }

    // A policy tightened later: an existing client is judged only when its spec
    // changes, so annotations (rotate, reconcile) and finalizers still work on it.
    let stale = client_spec("ClusterOAuthProvider", &guarded, j!({}));
    try_apply(&client, &ns, "stale", &stale, false)
        .await
        .expect("a compliant client is accepted");
    let mut tightened = guarded_spec.clone();
    tightened["policy"]["maxRotationEvery"] = "240h".into();
    apply(
        &client,
        &object("ClusterOAuthProvider", &guarded, tightened),
        &ns,
    )
    .await
    .unwrap();
    wait_enforced(&client, &ns, &stale, "maxRotationEvery 240h").await;
    let oac: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &api_resource(&object("OAuthClient", "x", j!({}))).0,
    );
    oac.patch(
        "stale",
        &PatchParams::default(),
        &Patch::Merge(j!({"metadata": {
            "annotations": {"clientops.dev/rotate": "now"},
            "finalizers": ["clientops.dev/test"],
        }})),
    )
    .await
    .expect("a metadata-only update of a client the tightened policy forbids passes");
    let edit = oac
        .patch(
            "stale",
            &PatchParams::default(),
            &Patch::Merge(j!({"spec": {"clientName": "renamed"}})),
        )
        .await
        .expect_err("a spec change is judged by the tightened policy");
    let msg = rejection_message(&edit);
    assert!(
        msg.contains("spec.rotation.every: \"720h\" is longer than") && msg.contains("240h"),
        "{msg}"
    );
    oac.patch(
        "stale",
        &PatchParams::default(),
        &Patch::Merge(j!({"metadata": {"finalizers": null}})),
    )
    .await
    .expect("removing a finalizer passes");

    // Clean up the cluster-scoped objects (the namespace goes with the test run).
    let name = vap.metadata.name.clone().unwrap();
    delete_cluster(&client, &binding_ar, &name).await;
    delete_cluster(&client, &vap_ar, &name).await;
    let cop_ar = api_resource(&providers[0]).0;
    for p in &providers {
        delete_cluster(&client, &cop_ar, p.metadata.name.as_deref().unwrap()).await;
    }
    let _ = Api::<Namespace>::all(client.clone())
        .delete(&ns, &DeleteParams::default())
        .await;

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The policy example is one a user can copy: its client keeps to its provider's
/// policy, and a changed host would not.
#[test]
fn the_policy_example_client_keeps_to_the_policy() {
    let text = std::fs::read_to_string(repo_root().join("examples/70-policy.yaml")).unwrap();
    let objs = parse_yaml(&text);
    let provider = objs
        .iter()
        .find(|o| o.types.as_ref().unwrap().kind == "ClusterOAuthProvider")
        .unwrap();
    let name = provider.metadata.name.as_deref().unwrap();
    let policy: ClientPolicy =
        serde_json::from_value(provider.data["spec"]["policy"].clone()).unwrap();
    let client = objs
        .iter()
        .find(|o| o.types.as_ref().unwrap().kind == "OAuthClient")
        .unwrap();
    let mut spec: OAuthClientSpec = serde_json::from_value(client.data["spec"].clone()).unwrap();
    assert_eq!(spec.provider_ref.name, name);
    assert_eq!(
        check_for(&policy, &spec, ProviderType::Cloudflare, name),
        Ok(())
    );
    spec.redirect_uris[0] = "https://wiki.example.org/oauth/callback".into();
    let v = check_for(&policy, &spec, ProviderType::Cloudflare, name).unwrap_err();
    assert_eq!(v.field, "spec.redirectUris[0]");
}

/// The VMware CSP example's client keeps to its provider's token lifetime bounds,
/// and a longer refresh token, or none (CSP's 90 days), would not.
#[test]
fn the_csp_example_client_keeps_to_the_lifetime_bounds() {
    let text = std::fs::read_to_string(repo_root().join("examples/50-csp.yaml")).unwrap();
    let objs = parse_yaml(&text);
    let find = |kind: &str| {
        objs.iter()
            .find(|o| o.types.as_ref().unwrap().kind == kind)
            .unwrap()
    };
    let provider = find("ClusterOAuthProvider");
    let name = provider.metadata.name.as_deref().unwrap();
    let policy: ClientPolicy =
        serde_json::from_value(provider.data["spec"]["policy"].clone()).unwrap();
    assert!(policy.max_token_lifetime.is_some() && policy.max_refresh_token_lifetime.is_some());
    let mut spec: OAuthClientSpec =
        serde_json::from_value(find("OAuthClient").data["spec"].clone()).unwrap();
    assert_eq!(spec.provider_ref.name, name);
    assert_eq!(
        check_for(&policy, &spec, ProviderType::VmwareCsp, name),
        Ok(())
    );
    let csp = spec.vmware_csp.as_mut().unwrap();
    csp.refresh_token_ttl = Some("721h".into());
    let v = check_for(&policy, &spec, ProviderType::VmwareCsp, name).unwrap_err();
    assert_eq!(v.field, "spec.vmwareCsp.refreshTokenTtl");
    spec.vmware_csp.as_mut().unwrap().refresh_token_ttl = None;
    let v = check_for(&policy, &spec, ProviderType::VmwareCsp, name).unwrap_err();
    assert!(v.message.contains("VMware CSP's default 2160h"), "{v}");
}
