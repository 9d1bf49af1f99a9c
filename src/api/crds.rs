//! The CustomResourceDefinitions as installed: generated from the types, with the
//! few touches the derive cannot express.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSON,
};
use kube::CustomResourceExt;

use super::{ClusterOAuthProvider, OAuthClient, OAuthProvider};

/// Every CRD of clientops, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    vec![
        with_status_default(ClusterOAuthProvider::crd()),
        with_status_default(OAuthProvider::crd()),
        with_status_default(OAuthClient::crd()),
    ]
}

/// All CRDs as one multi-document YAML stream, exactly what `clientops crd` prints
/// and `crds/clientops.yaml` holds.
pub fn render_yaml() -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for crd in all() {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd)?);
    }
    Ok(out)
}

/// Default `status` to `{observedGeneration: -1}` (the Flux convention), so a new
/// object reads as "not yet observed" and kstatus / `kubectl wait` never call it
/// Current before the controller has looked at it.
fn with_status_default(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    for version in &mut crd.spec.versions {
        let status = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
            .and_then(|s| s.properties.as_mut())
            .and_then(|p| p.get_mut("status"));
        if let Some(status) = status {
            status.default = Some(JSON(serde_json::json!({ "observedGeneration": -1 })));
        }
    }
    crd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema_json(kind: &str) -> serde_json::Value {
        let crd = all()
            .into_iter()
            .find(|c| c.spec.names.kind == kind)
            .expect("crd");
        serde_json::to_value(&crd.spec.versions[0].schema).unwrap()
    }

    #[test]
    fn status_defaults_to_unobserved_generation() {
        for kind in ["OAuthClient", "OAuthProvider", "ClusterOAuthProvider"] {
            let s = schema_json(kind);
            assert_eq!(
                s["openAPIV3Schema"]["properties"]["status"]["default"]["observedGeneration"], -1,
                "{kind}"
            );
        }
    }

    #[test]
    fn oauthclient_names_and_columns() {
        let crd = OAuthClient::crd();
        assert_eq!(crd.spec.group, "clientops.dev");
        assert_eq!(crd.spec.names.short_names, Some(vec!["oac".to_string()]));
        assert_eq!(
            crd.spec.names.categories,
            Some(vec!["clientops".to_string()])
        );
        let cols: Vec<_> = crd.spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| c.name.clone())
            .collect();
        assert_eq!(cols, ["Ready", "Client ID", "Rotation", "Age"]);
        assert!(
            crd.spec.versions[0]
                .subresources
                .as_ref()
                .unwrap()
                .status
                .is_some()
        );
    }

    #[test]
    fn every_property_has_a_description() {
        fn walk(path: &str, v: &serde_json::Value, missing: &mut Vec<String>) {
            if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
                for (name, sub) in props {
                    let p = format!("{path}.{name}");
                    let is_meta = p.ends_with(".metadata")
                        || p.ends_with(".apiVersion")
                        || p.ends_with(".kind");
                    if sub.get("description").is_none() && !is_meta && !p.contains(".conditions") {
                        missing.push(p.clone());
                    }
                    walk(&p, sub, missing);
                }
            }
            if let Some(items) = v.get("items") {
                walk(&format!("{path}[]"), items, missing);
            }
        }
        for kind in ["OAuthClient", "OAuthProvider", "ClusterOAuthProvider"] {
            let mut missing = vec![];
            walk(kind, &schema_json(kind)["openAPIV3Schema"], &mut missing);
            assert!(missing.is_empty(), "fields without doc text: {missing:?}");
        }
    }
}
