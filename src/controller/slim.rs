//! What the controller's caches keep of each object: what clientops reads, and
//! nothing else a tenant can make large.
//!
//! A tenant writes the metadata of its OAuthClients, OAuthProviders and Secrets;
//! an annotation clientops never reads (up to the apiserver's 256 KiB per object)
//! would otherwise be held in memory for as long as the object exists, and a few
//! hundred such objects would take the shared operator past its memory limit.
//! Every watch stream and cache passes its objects through these functions before
//! keeping them:
//!
//! - `managedFields` and every label go: nothing reads them from a cached copy
//!   (the OAuthClient watch selects by label on the server).
//! - Annotations: only those in [`CLIENT_ANNOTATIONS_READ`] stay, on OAuthClients;
//!   none on providers and Secrets. A kept value longer than
//!   [`MAX_READ_ANNOTATION`] bytes is kept as its SHA-256 instead
//!   ([`read_annotation`], which every reader of these annotations uses, so a
//!   fresh GET and the cached copy read the same; a changed value still reads as
//!   changed).
//!
//! A watch's list is read [`LIST_PAGE_SIZE`] objects at a time, since a page is
//! held whole before its objects are slimmed.
//!
//! Nothing clientops writes is built from a slimmed copy: status goes out as a
//! merge patch of status fields, the finalizer and the create-intent annotation as
//! merge patches of their own keys (other annotations, labels and finalizers are
//! left as they are on the server), and Secrets are written from a fresh GET.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::{Digest, Sha256};

use crate::api::OAuthClient;
use crate::api::annotations::{RECONCILE, RETIRE_PREVIOUS, ROTATE};
use crate::controller::markers::PENDING_CREATE;

/// Objects per page of a watch's list: a page is read whole before the objects
/// in it are slimmed, so its size bounds what a list holds at once (50 objects of
/// the apiserver's largest annotations: about 13 MiB; kube-rs' default of 500:
/// ten times that).
pub const LIST_PAGE_SIZE: u32 = 50;

/// The annotations of an OAuthClient that clientops reads; the cache keeps these
/// only.
pub const CLIENT_ANNOTATIONS_READ: &[&str] = &[ROTATE, RETIRE_PREVIOUS, RECONCILE, PENDING_CREATE];

/// The longest annotation value read as written; a longer one is read as
/// `sha256:<hex>` of it. clientops writes none this long, and a rotate or
/// reconcile request is a token, not a document.
pub const MAX_READ_ANNOTATION: usize = 1024;

/// The value of annotation `key` as clientops reads it (see the module).
pub fn read_annotation(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.annotations
        .as_ref()?
        .get(key)
        .map(|v| bounded(v).unwrap_or_else(|| v.clone()))
}

/// `Some(digest)` when `value` is too long to keep as it is.
fn bounded(value: &str) -> Option<String> {
    (value.len() > MAX_READ_ANNOTATION)
        .then(|| format!("sha256:{}", hex::encode(Sha256::digest(value.as_bytes()))))
}

/// Keep of `meta` what clientops reads of any object: drop managedFields, labels
/// and the annotations not in `keep` (bounding those kept).
fn slim_meta(meta: &mut ObjectMeta, keep: &[&str]) {
    meta.managed_fields = None;
    meta.labels = None;
    let kept: BTreeMap<String, String> = meta
        .annotations
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| {
            let v = bounded(&v).unwrap_or(v);
            (k, v)
        })
        .collect();
    meta.annotations = (!kept.is_empty()).then_some(kept);
}

/// An OAuthClient as the watch cache keeps it.
pub fn client(o: &mut OAuthClient) {
    slim_meta(&mut o.metadata, CLIENT_ANNOTATIONS_READ);
}

/// A provider object (ClusterOAuthProvider, OAuthProvider) or a Secret (its
/// metadata from the watch, or the credentials Secret the read cache keeps) as
/// the caches keep it: nothing of its annotations and labels is read.
pub fn object<K: kube::Resource>(o: &mut K) {
    slim_meta(o.meta_mut(), &[]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::annotations::CLIENT_LABEL;

    fn fat_client() -> OAuthClient {
        let big = "x".repeat(200 * 1024);
        serde_json::from_value(serde_json::json!({
            "apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient",
            "metadata": {
                "name": "a", "namespace": "n", "uid": "u", "resourceVersion": "7",
                "generation": 3,
                "finalizers": ["clientops.dev/cleanup", "someone.else/keep"],
                "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "ou"}],
                "labels": {"team": "a", "big": "y"},
                "annotations": {
                    ROTATE: "2026-12-07",
                    RETIRE_PREVIOUS: "r1",
                    RECONCILE: "now",
                    PENDING_CREATE: "{\"startedAt\":\"2026-12-07T00:00:00Z\",\"marker\":\"sent:f\"}",
                    "kubectl.kubernetes.io/last-applied-configuration": big.clone(),
                    "example.com/unread": big.clone(),
                    "clientops.dev/unread": big,
                },
                "managedFields": [{"manager": "kubectl", "operation": "Apply", "apiVersion": "v1",
                                   "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}],
            },
            "spec": {"providerRef": {"kind": "ClusterOAuthProvider", "name": "p"},
                     "redirectUris": ["https://a.example.com/cb"]},
            "status": {"clientId": "c1", "secretName": "a"},
        }))
        .unwrap()
    }

    #[test]
    fn the_client_cache_keeps_what_is_read_and_drops_the_rest() {
        let full = fat_client();
        let mut slim = full.clone();
        client(&mut slim);
        // Every annotation clientops reads reads the same from the slim copy.
        for key in CLIENT_ANNOTATIONS_READ {
            assert_eq!(
                read_annotation(&slim.metadata, key),
                read_annotation(&full.metadata, key),
                "{key}"
            );
            assert!(read_annotation(&slim.metadata, key).is_some(), "{key} kept");
        }
        // ...and nothing else of the metadata a tenant can make large.
        let annotations = slim.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.len(), CLIENT_ANNOTATIONS_READ.len());
        assert!(slim.metadata.labels.is_none());
        assert!(slim.metadata.managed_fields.is_none());
        // What identifies the object, and everything else it holds, is intact.
        let (mut a, mut b) = (
            serde_json::to_value(&full).unwrap(),
            serde_json::to_value(&slim).unwrap(),
        );
        for v in [&mut a, &mut b] {
            let m = v["metadata"].as_object_mut().unwrap();
            m.remove("annotations");
            m.remove("labels");
            m.remove("managedFields");
        }
        assert_eq!(a, b);
        // 600 KiB of tenant annotations are gone.
        let size = serde_json::to_string(&slim).unwrap().len();
        assert!(size < 2048, "{size} bytes kept");
        // Idempotent: a copy slimmed twice is the same.
        let mut twice = slim.clone();
        client(&mut twice);
        assert_eq!(serde_json::to_value(&twice).unwrap(), b_with_meta(&slim));
    }

    fn b_with_meta(o: &OAuthClient) -> serde_json::Value {
        serde_json::to_value(o).unwrap()
    }

    #[test]
    fn a_read_annotation_too_long_is_read_as_its_digest_from_a_get_and_the_cache_alike() {
        let mut full = fat_client();
        let long = "r".repeat(200 * 1024);
        full.metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ROTATE.into(), long.clone());
        let mut slim = full.clone();
        client(&mut slim);
        let read = read_annotation(&slim.metadata, ROTATE).unwrap();
        assert!(read.starts_with("sha256:") && read.len() < 100, "{read}");
        assert_eq!(Some(read.clone()), read_annotation(&full.metadata, ROTATE));
        // Another long value reads as another value: a new request.
        let mut other = full.clone();
        other
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .insert(ROTATE.into(), format!("{long}2"));
        assert_ne!(Some(read), read_annotation(&other.metadata, ROTATE));
    }

    /// A `clientops.dev/` key added where OAuthClient annotations are named must
    /// be kept by the cache (or said here to be read from no OAuthClient), or
    /// clientops would never see it.
    #[test]
    fn every_annotation_key_named_for_oauthclients_is_kept_or_known_unread() {
        use crate::api::annotations::{FINALIZER, ROTATED_AT};
        // A Secret's label, a Secret's annotation, a finalizer.
        let not_oauthclient_annotations = [CLIENT_LABEL, ROTATED_AT, FINALIZER];
        for source in [
            include_str!("../api/annotations.rs"),
            include_str!("markers.rs"),
        ] {
            for line in source.lines() {
                let Some((_, value)) = line.split_once(": &str = \"clientops.dev/") else {
                    continue;
                };
                let key = format!("clientops.dev/{}", value.trim_end_matches("\";"));
                assert!(
                    CLIENT_ANNOTATIONS_READ.contains(&key.as_str())
                        || not_oauthclient_annotations.contains(&key.as_str()),
                    "{key}: add it to CLIENT_ANNOTATIONS_READ (and read it with read_annotation), \
                     or to the keys read from no OAuthClient"
                );
            }
        }
    }

    #[test]
    fn providers_and_secrets_keep_no_annotation_or_label() {
        let mut s: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "s", "namespace": "n", "uid": "u", "resourceVersion": "1",
                         "labels": {CLIENT_LABEL: "a"},
                         "annotations": {"example.com/unread": "x".repeat(1000)},
                         "ownerReferences": [{"apiVersion": "clientops.dev/v1alpha1", "kind": "OAuthClient", "name": "a", "uid": "cu"}]},
            "data": {"token": "dG9rZW4="},
        }))
        .unwrap();
        object(&mut s);
        assert!(s.metadata.annotations.is_none() && s.metadata.labels.is_none());
        assert_eq!(s.metadata.owner_references.as_ref().map(Vec::len), Some(1));
        assert!(
            s.data.as_ref().unwrap().contains_key("token"),
            "data is read"
        );
    }
}
