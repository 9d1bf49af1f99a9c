//! Gather what the planner needs: the desired state, the provider, the remote
//! client, the Secret.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::claims::Claims;
use super::context::Context;
use super::desired::{Desired, SpecError, desired_for};
use super::fairness::Slot;
pub use super::markers::{CreateMarker, sent_fingerprint};
use super::plan::{Remote, Triggers, Unavailable};
use super::resolve::{Origin, Resolved, resolve};
use super::secret_memo::Basis;
use crate::api::OAuthClient;
use crate::api::annotations::{RECONCILE, RETIRE_PREVIOUS, ROTATE};
use crate::provider::error::ProviderError;
use crate::provider::model::{RemoteClient, SecretCheck};
use crate::provider::scoped::Shown;
use crate::secret::ClientSecret;
use crate::secret::observe::{ObservedSecret, entered_value, observe as observe_secret};

/// Clock skew tolerated between us and the provider when matching a pending create.
const CREATE_MATCH_SKEW: chrono::Duration = chrono::Duration::seconds(120);

/// The remote client, owned (the planner borrows from it).
#[derive(Clone, Debug)]
pub enum RemoteObs {
    NotCreated,
    Found(Box<RemoteClient>),
    Missing,
    Candidates(Vec<RemoteClient>),
    Unavailable(Unavailable),
}

impl RemoteObs {
    pub fn as_remote(&self) -> Remote<'_> {
        match self {
            RemoteObs::NotCreated => Remote::NotCreated,
            RemoteObs::Found(r) => Remote::Found(r.as_ref()),
            RemoteObs::Missing => Remote::Missing,
            RemoteObs::Candidates(c) => Remote::Candidates(c.iter().collect()),
            RemoteObs::Unavailable(u) => Remote::Unavailable(u.clone()),
        }
    }
}

/// Everything observed for one OAuthClient.
pub struct Observation {
    pub desired: Result<Desired, SpecError>,
    pub resolved: Option<Resolved>,
    pub remote: RemoteObs,
    pub secret: ObservedSecret,
    /// The Secret as read (or as the previous round wrote it); `None`: absent, or
    /// not read (`secret_recalled`).
    pub raw_secret: Option<Secret>,
    /// `secret.state` is remembered from an earlier read
    /// ([`super::secret_memo::SecretMemo`]); the
    /// values and `raw_secret` are not known. Only a plan with no actions may be
    /// made from it.
    pub secret_recalled: bool,
    /// The memo's epoch before the Secret was read
    /// (see [`super::secret_memo::SecretMemo::remember`]).
    pub secret_epoch: u64,
    pub triggers: Triggers,
    /// The value under `spec.import.secretRef`, read while the import is not yet
    /// adopted: the proof of ownership, and what the adoption writes.
    pub import_secret: Option<ClientSecret>,
    /// A new `clientops.dev/reconcile` value arrived within the forced-resync
    /// interval: the provider was read as usual, and the value is honoured after
    /// this long (the planner decides what that means: [`super::plan::Input`]).
    pub reconcile_deferred: Option<Duration>,
    /// This reconcile's place among its namespace's reconciles on the provider.
    _slot: Option<Slot>,
}

/// Classify a provider error for the planner (its message goes into conditions,
/// hence [`Shown`]).
pub fn provider_unavailable(e: &Shown) -> Unavailable {
    let (reason, transient) = match &**e {
        e if let Some(reason) = e.misconfiguration() => (reason, false),
        ProviderError::Unauthorized { .. } => ("ProviderUnauthorized", false),
        ProviderError::Forbidden { .. } => ("ProviderForbidden", false),
        ProviderError::RateLimited { .. } => ("ProviderRateLimited", true),
        ProviderError::DeadlineExceeded { .. } => ("DeadlineExceeded", true),
        _ => ("ProviderNotReady", true),
    };
    let hint = super::error::credentials_hint(e);
    Unavailable {
        reason: reason.into(),
        message: format!("{e}{hint}"),
        transient,
    }
}

fn annotation(obj: &OAuthClient, key: &str) -> Option<String> {
    super::slim::read_annotation(&obj.metadata, key)
}

/// How `observe` learns what the Secret holds.
pub enum SecretSource {
    /// Read it, unless the memo remembers it on the same basis.
    Recall,
    /// Read it.
    Read,
    /// `(name, Secret)` as this reconcile last wrote it (`None`: absent), after
    /// the memo's epoch given; for another name, read it.
    Known(Box<(String, Option<Secret>)>, u64),
}

/// What [`observe`] found.
pub enum Observed {
    Observation(Box<Observation>),
    /// Not this namespace's turn: it already holds its share of a saturated
    /// provider. The reconcile gives its worker back and comes back after this
    /// long; nothing was read.
    Deferred(Duration),
}

/// Observe `obj`, learning what its Secret holds from `source`.
pub async fn observe(
    ctx: &Context,
    obj: &OAuthClient,
    source: SecretSource,
) -> Result<Observed, kube::Error> {
    let status = obj.status.clone().unwrap_or_default();
    let triggers = Triggers {
        rotate: annotation(obj, ROTATE),
        retire_previous: annotation(obj, RETIRE_PREVIOUS),
        reconcile: annotation(obj, RECONCILE),
    };
    let resolved = resolve(ctx, obj).await;
    // Without a provider, the spec is still read for the Secret's shape and the
    // deletion policy; the provider's own rules are checked once it resolves.
    let desired = desired_for(obj, resolved.as_ref().ok().map(|r| r.kind)).and_then(|mut d| {
        // The provider's endpoints for `spec.secret`; templates are checked now,
        // before any action (issue 19). Not while deleting: an error would lose
        // `deletionPolicy` (deletion falls back to Delete without a desired state).
        let endpoints = resolved.as_ref().ok().map(|r| r.provider.endpoints());
        let checked = d.secret.publish_endpoints(endpoints);
        if obj.metadata.deletion_timestamp.is_none() {
            checked?;
        }
        Ok(d)
    });
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();

    // Fairness: beyond its share of a saturated provider, a namespace waits
    // without holding a worker.
    let slot = match &resolved {
        Ok(r) => match ctx.in_flight.admit(&r.limiter, ns, ctx.settings.fair_share) {
            Ok(slot) => Some(slot),
            Err(wait) => return Ok(Observed::Deferred(wait)),
        },
        Err(_) => None,
    };

    let learned = learn_secret(ctx, obj, desired.as_ref().ok(), source).await?;
    let import_secret = match desired.as_ref().ok().and_then(|d| d.import.as_ref()) {
        Some(import) if status.client_id.is_none() => read_import_secret(ctx, obj, import).await?,
        _ => None,
    };
    let mut reconcile_deferred = None;
    let remote = match &resolved {
        Err(u) => RemoteObs::Unavailable(u.clone()),
        Ok(r) => match policy_violation(obj, r) {
            Some(u) => RemoteObs::Unavailable(u),
            None => {
                let requested = triggers.reconcile.is_some()
                    && triggers.reconcile != status.last_reconcile_request;
                // A changed `clientops.dev/reconcile` forces a provider read at most
                // once per interval per object; a value changed again sooner is
                // honoured (and recorded) when the interval has passed.
                let force = requested
                    && match ctx
                        .forced
                        .try_force(obj.metadata.uid.as_deref().unwrap_or_default())
                    {
                        Ok(()) => true,
                        Err(wait) => {
                            reconcile_deferred = Some(wait);
                            false
                        }
                    };
                let seen = (desired.as_ref().ok(), import_secret.as_ref());
                match observe_remote(ctx, obj, r, seen, force).await {
                    Ok(obs) => obs,
                    Err(e) => RemoteObs::Unavailable(provider_unavailable(&r.provider.shown(e))),
                }
            }
        },
    };
    Ok(Observed::Observation(Box::new(Observation {
        desired,
        resolved: resolved.ok(),
        remote,
        secret: learned.secret,
        raw_secret: learned.raw,
        secret_recalled: learned.recalled,
        secret_epoch: learned.epoch,
        triggers,
        import_secret,
        reconcile_deferred,
        _slot: slot,
    })))
}

/// A client of a ClusterOAuthProvider asks for what the provider's `spec.policy`
/// forbids: Stalled, and nothing is done at the provider (a client made before the
/// policy was tightened is left as it is). Deletion is never held back by it.
fn policy_violation(obj: &OAuthClient, r: &Resolved) -> Option<Unavailable> {
    if obj.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let policy = r.policy.as_ref()?;
    let Origin::Cluster { name } = &r.origin else {
        return None;
    };
    super::policy::check_for(policy, &obj.spec, r.provider_type, name)
        .err()
        .map(|v| Unavailable {
            reason: "PolicyViolation".into(),
            message: v.to_string(),
            transient: false,
        })
}

impl Observation {
    /// Read the Secret whose state was remembered (`secret_recalled`), so that
    /// values and `raw_secret` are known. The remote observation is kept.
    pub async fn read_secret(
        &mut self,
        ctx: &Context,
        obj: &OAuthClient,
    ) -> Result<(), kube::Error> {
        let learned =
            learn_secret(ctx, obj, self.desired.as_ref().ok(), SecretSource::Read).await?;
        self.secret = learned.secret;
        self.raw_secret = learned.raw;
        self.secret_recalled = learned.recalled;
        self.secret_epoch = learned.epoch;
        Ok(())
    }
}

/// What an observation of `obj`'s Secret depends on besides the Secret itself:
/// the key under which it is remembered and recalled.
pub fn secret_basis<'a>(obj: &'a OAuthClient, desired: &'a Desired) -> Basis<'a> {
    Basis {
        uid: obj.metadata.uid.as_deref().unwrap_or_default(),
        shape: &desired.secret,
        status_mac: obj.status.as_ref().and_then(|s| s.secret_mac.as_deref()),
    }
}

/// What [`learn_secret`] found.
struct Learned {
    raw: Option<Secret>,
    secret: ObservedSecret,
    epoch: u64,
    recalled: bool,
}

/// The Secret of `obj`, from `source`.
async fn learn_secret(
    ctx: &Context,
    obj: &OAuthClient,
    desired: Option<&Desired>,
    source: SecretSource,
) -> Result<Learned, kube::Error> {
    let status_mac = obj.status.as_ref().and_then(|s| s.secret_mac.as_deref());
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let secret_name = match desired {
        Some(d) => d.secret.name.clone(),
        None => obj
            .spec
            .secret
            .as_ref()
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| obj.metadata.name.clone().unwrap_or_default()),
    };
    let basis = desired.map(|d| secret_basis(obj, d));
    if let (SecretSource::Recall, Some(basis)) = (&source, basis)
        && let Some(state) = ctx.secret_memo.recall(&ns, &secret_name, basis)
    {
        return Ok(Learned {
            raw: None,
            secret: ObservedSecret {
                state,
                ..Default::default()
            },
            epoch: ctx.secret_memo.epoch(),
            recalled: true,
        });
    }
    let (raw, epoch) = match source {
        SecretSource::Known(known, epoch) if known.0 == secret_name => (known.1, epoch),
        _ => {
            let epoch = ctx.secret_memo.epoch();
            let raw = Api::<Secret>::namespaced(ctx.client.clone(), &ns)
                .get_opt(&secret_name)
                .await?;
            (raw, epoch)
        }
    };
    let secret = match desired {
        Some(d) => observe_secret(obj, &d.secret, raw.as_ref(), status_mac),
        None => ObservedSecret::default(),
    };
    Ok(Learned {
        raw,
        secret,
        epoch,
        recalled: false,
    })
}

/// The value under `spec.import.secretRef`, if it names one and it holds one.
async fn read_import_secret(
    ctx: &Context,
    obj: &OAuthClient,
    import: &super::desired::Import,
) -> Result<Option<ClientSecret>, kube::Error> {
    let Some((name, key)) = &import.secret_ref else {
        return Ok(None);
    };
    let ns = obj.metadata.namespace.as_deref().unwrap_or_default();
    let held = Api::<Secret>::namespaced(ctx.client.clone(), ns)
        .get_opt(name)
        .await?;
    Ok(held
        .and_then(|s| entered_value(&s, key))
        .map(ClientSecret::new))
}

/// `desired` and `import_secret` as observed (see [`Observation`]).
async fn observe_remote(
    ctx: &Context,
    obj: &OAuthClient,
    r: &Resolved,
    (desired, import_secret): (Option<&Desired>, Option<&ClientSecret>),
    force: bool,
) -> Result<RemoteObs, ProviderError> {
    let status = obj.status.clone().unwrap_or_default();
    let p = r.provider.as_ref();
    let resync = ctx.settings.resync;
    if let Some(id) = &status.client_id {
        return Ok(match ctx.accounts.get(p, id, resync, force).await? {
            Some(c) => RemoteObs::Found(Box::new(c)),
            None => RemoteObs::Missing,
        });
    }
    let pending_marker = status
        .pending_create
        .as_ref()
        .and_then(|p| p.marker.as_deref())
        .and_then(CreateMarker::parse);
    if let Some(CreateMarker::ChosenId(_)) = pending_marker {
        // A create with a caller-chosen id: look for exactly that client. The id
        // is the one this UID gives, never the one the marker names, and a
        // client another object holds is never ours.
        let id = super::markers::chosen_client_id(obj.metadata.uid.as_deref().unwrap_or_default());
        let found = ctx.accounts.get(p, &id, Duration::ZERO, true).await?;
        let claims = Claims::of_others(&ctx.clients, obj);
        return Ok(RemoteObs::Candidates(
            found.into_iter().filter(|c| !claims.held(&c.id)).collect(),
        ));
    }
    if let Some(pending) = &status.pending_create {
        let Some(d) = desired else {
            return Ok(RemoteObs::Candidates(vec![]));
        };
        let since = super::plan::parse_time(&pending.started_at).map(|t| t - CREATE_MATCH_SKEW);
        let claimed = Claims::of_others(&ctx.clients, obj);
        let sent = match pending_marker {
            Some(CreateMarker::Sent(fp)) => Some(fp),
            _ => None,
        };
        let mut found: Vec<RemoteClient> = ctx
            .accounts
            .list(p, Duration::ZERO)
            .await?
            .into_iter()
            .filter(|c| is_candidate(c, d, since, &claimed, obj.metadata.uid.as_deref(), sent))
            .collect();
        found.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        return Ok(RemoteObs::Candidates(found));
    }
    if let Some(import) = desired.and_then(|d| d.import.as_ref()) {
        if let Some(refusal) = import_claimed(ctx, obj, &import.client_id) {
            return Ok(RemoteObs::Unavailable(refusal));
        }
        return Ok(
            match ctx.accounts.get(p, &import.client_id, resync, true).await? {
                Some(c) => match import_authorized(obj, r, &c, import, import_secret).await? {
                    None => RemoteObs::Found(Box::new(c)),
                    Some(refusal) => RemoteObs::Unavailable(refusal),
                },
                None => RemoteObs::Missing,
            },
        );
    }
    Ok(RemoteObs::NotCreated)
}

fn import_refusal(reason: &str, message: String) -> Unavailable {
    Unavailable {
        reason: reason.into(),
        message,
        transient: false,
    }
}

/// An import of a client that another OAuthClient manages is refused, whatever
/// proof comes with it: two objects would fight over one client (and its
/// `deletionPolicy` would let one delete the other's). Which object holds it is
/// not said: it may be another tenant's.
fn import_claimed(ctx: &Context, obj: &OAuthClient, id: &str) -> Option<Unavailable> {
    Claims::of_others(&ctx.clients, obj).held(id).then(|| {
        import_refusal(
            "ImportNotAuthorized",
            format!(
                "spec.import.clientId: client {id:?} is already managed by another OAuthClient; clientops lets one OAuthClient manage a client. Delete that OAuthClient with deletionPolicy: Orphan first if this one should take over"
            ),
        )
    })
}

/// Whether this OAuthClient has shown that it may manage client `c` it imports
/// (`None`: proven; else the refusal). The ways, in order: the client carries this
/// object's marker (a provider that stores one: Hydra); `spec.import.secretRef`
/// holds a secret the provider accepts for it; the provider's admin allows
/// unproven imports for this namespace. Until one holds, nothing is done to the
/// client: no adoption, rotation, patch or delete.
async fn import_authorized(
    obj: &OAuthClient,
    r: &Resolved,
    c: &RemoteClient,
    import: &super::desired::Import,
    import_secret: Option<&ClientSecret>,
) -> Result<Option<Unavailable>, ProviderError> {
    let uid = obj.metadata.uid.as_deref().unwrap_or_default();
    if !uid.is_empty() && c.marker.as_deref() == Some(uid) {
        return Ok(None);
    }
    let ns = obj.metadata.namespace.clone().unwrap_or_default();
    let mut unsupported = None;
    if let Some((name, key)) = &import.secret_ref {
        let Some(secret) = import_secret else {
            return Ok(Some(import_refusal(
                "ImportSecretNotFound",
                format!(
                    "spec.import.secretRef: Secret {name:?} has no non-empty key {key:?}; create it or fix the reference"
                ),
            )));
        };
        match r.provider.verify_secret(&c.id, secret).await? {
            SecretCheck::Accepted => return Ok(None),
            SecretCheck::Rejected => {
                return Ok(Some(import_refusal(
                    "ImportNotAuthorized",
                    format!(
                        "spec.import.secretRef: the provider does not accept the secret in Secret {name:?} key {key:?} for client {:?}; put the client's current secret there",
                        c.id
                    ),
                )));
            }
            SecretCheck::Unsupported(why) => unsupported = Some(why),
        }
    }
    if r.unproven_import_allowed {
        return Ok(None);
    }
    let admin_switch = match &r.origin {
        Origin::Cluster { name } => {
            format!("ClusterOAuthProvider {name:?} spec.policy.unprovenImportNamespaceSelector")
        }
        Origin::Namespaced { name, .. } => {
            format!("OAuthProvider {name:?} spec.allowUnprovenImport: true")
        }
    };
    let secret_way = match unsupported {
        Some(why) => format!("spec.import.secretRef cannot prove it here ({why})"),
        None => "set spec.import.secretRef to a Secret key holding the client's current secret (the provider must accept it)".into(),
    };
    Ok(Some(import_refusal(
        "ImportNotAuthorized",
        format!(
            "spec.import.clientId: clientops adopts an existing client only with proof that this OAuthClient may manage it: {secret_way}; or ask the provider's administrator to allow unproven imports for namespace {ns:?} ({admin_switch})"
        ),
    )))
}

/// The match rule for adopting the client a lost create made: not claimed by another
/// OAuthClient, and either carrying our marker (providers with metadata) or created
/// no earlier than the recorded intent (less clock skew) with the name and redirect
/// URIs that create sent (its fingerprint `sent`; without one, the spec's).
pub fn is_candidate(
    c: &RemoteClient,
    d: &Desired,
    since: Option<chrono::DateTime<chrono::Utc>>,
    claimed: &Claims,
    marker: Option<&str>,
    sent: Option<&str>,
) -> bool {
    let recent = match (since, c.created_at) {
        (Some(since), Some(at)) => at >= since,
        _ => true,
    };
    if claimed.held(&c.id) {
        return false;
    }
    // A provider that stores our marker tells exactly; otherwise match what we sent.
    match (&c.marker, marker) {
        (Some(m), Some(ours)) => m == ours,
        _ => {
            let same = match sent {
                Some(fp) => sent_fingerprint(&c.fields.name, &c.fields.redirect_uris) == fp,
                None => {
                    c.fields.name == d.fields.name
                        && sent_fingerprint("", &c.fields.redirect_uris)
                            == sent_fingerprint("", &d.fields.redirect_uris)
                }
            };
            recent && same
        }
    }
}

#[cfg(test)]
impl Observation {
    /// An observation made by hand, as `observe` would make it from these parts
    /// (the executor's tests): the Secret `raw` is observed for `obj`.
    pub fn by_hand(
        obj: &OAuthClient,
        desired: Desired,
        resolved: Option<Resolved>,
        remote: RemoteObs,
        raw: Option<Secret>,
    ) -> Self {
        let status_mac = obj.status.as_ref().and_then(|s| s.secret_mac.as_deref());
        let secret = observe_secret(obj, &desired.secret, raw.as_ref(), status_mac);
        Observation {
            triggers: Triggers {
                rotate: annotation(obj, ROTATE),
                retire_previous: annotation(obj, RETIRE_PREVIOUS),
                reconcile: annotation(obj, RECONCILE),
            },
            desired: Ok(desired),
            resolved,
            remote,
            secret,
            raw_secret: raw,
            secret_recalled: false,
            secret_epoch: 0,
            import_secret: None,
            reconcile_deferred: None,
            _slot: None,
        }
    }
}
