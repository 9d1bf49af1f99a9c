//! Proven credentials (issue 25): when the planner asks the provider whether it
//! still accepts the Secret's secret, and what it plans while the provider refuses
//! it. Pure, like `plan.rs`, which calls [`assess`].
//!
//! A check ([`Action::VerifyCredentials`]) is due:
//! - on a schedule of its own: once per `--credential-check-interval`, at a slot
//!   within the period derived from the object's UID, so clients spread evenly
//!   over the period instead of all checking together (a client never checked is
//!   first checked at its first slot after the object was created, so an upgrade
//!   or a mass create brings no burst); a scheduled check waits while the
//!   account's rate limiter is saturated (it is the lowest priority work);
//! - after every rotation and every repair (once a client has been checked);
//! - when the provider says the secret changed since the last check (Keycloak's
//!   secret creation time, free from the drift LIST);
//! - on a new `clientops.dev/reconcile` value.
//!
//! While the provider refuses the secret (`status.credentials.result: Rejected`),
//! a repair is planned at once, then again with a doubling backoff
//! ([`repair_backoff`]), each followed by a check: where clientops chooses the
//! secret the client's secret is set back to the Secret's
//! ([`Action::RestoreSecret`]); where the provider generates it, a new one is
//! issued and published in one Secret write (a rotation, as for a lost secret).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::plan::{Action, ChosenSecret, Input, RetireReason, RotationReason, parse_time};
use crate::api::client::CredentialsResult;
use crate::provider::model::{RemoteClient, SecretIssuance};

/// The first repair's wait after one that did not take; doubled per attempt.
pub const REPAIR_BACKOFF_BASE: Duration = Duration::from_secs(30);
/// The longest wait between two repairs.
pub const REPAIR_BACKOFF_MAX: Duration = Duration::from_secs(3600);

/// When this client's credentials are checked (an input of the plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CredentialChecks {
    /// The period of scheduled checks; `None`: only after rotations and repairs,
    /// on a secret change the provider reports, and on a forced resync.
    pub every: Option<Duration>,
    /// This client's slot within the period.
    pub phase: Duration,
    /// When the object was created: the first scheduled check is at the first
    /// slot after it.
    pub since: Option<DateTime<Utc>>,
    /// The account's rate limiter is saturated: a scheduled check waits.
    pub busy: bool,
}

impl CredentialChecks {
    /// The checks of the object with `uid`: its slot is a hash of the UID (FNV-1a,
    /// stable across builds and restarts) within the period.
    pub fn for_object(
        every: Option<Duration>,
        uid: &str,
        since: Option<DateTime<Utc>>,
        busy: bool,
    ) -> Self {
        let hash = uid.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let phase = every
            .map(|e| Duration::from_secs(hash % e.as_secs().max(1)))
            .unwrap_or_default();
        CredentialChecks {
            every,
            phase,
            since,
            busy,
        }
    }

    /// The latest slot at or before `now`.
    pub fn last_slot(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let every = self.every?.as_secs().max(1) as i64;
        let phase = self.phase.as_secs() as i64;
        let k = (now.timestamp() - phase).div_euclid(every);
        DateTime::from_timestamp(k * every + phase, 0)
    }
}

/// Why a check is due (a label of `clientops_credential_checks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckReason {
    /// A new `clientops.dev/reconcile` value.
    Requested,
    /// A rotation since the last check.
    Rotated,
    /// A repair since the last check.
    Repaired,
    /// The provider reports that the secret changed since the last check.
    Changed,
    /// The client's slot in the check period passed.
    Scheduled,
}

impl CheckReason {
    pub fn label(self) -> &'static str {
        match self {
            CheckReason::Requested => "requested",
            CheckReason::Rotated => "rotated",
            CheckReason::Repaired => "repaired",
            CheckReason::Changed => "changed",
            CheckReason::Scheduled => "scheduled",
        }
    }
}

/// The wait after `attempts` repairs that did not take.
pub fn repair_backoff(attempts: u32) -> Duration {
    let doublings = attempts.saturating_sub(1).min(16);
    REPAIR_BACKOFF_BASE
        .saturating_mul(1 << doublings)
        .min(REPAIR_BACKOFF_MAX)
}

/// The provider's secret change time as `status.credentials.secretChangedAt` holds it.
pub fn changed_marker(remote: &RemoteClient) -> Option<String> {
    remote
        .secret_changed_at
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// What the credentials add to a plan (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assessment {
    /// A check is due, and why.
    pub check: Option<CheckReason>,
    /// A repair is due: these actions, alone in the plan.
    pub repair: Option<Vec<Action>>,
    /// The provider refuses the Secret's secret and no repair is due now: why
    /// Ready is False, with what was tried.
    pub rejected: Option<String>,
    /// Look again then (the next slot, the next repair).
    pub wake: Option<DateTime<Utc>>,
}

/// Assess the credentials of a client whose Secret holds a secret clientops vouches
/// for (`plan.rs` step 2 passed) and whose provider holds no pending rotation.
pub fn assess(input: &Input<'_>, remote: &RemoteClient, needs_secret: bool) -> Assessment {
    let Some(checks) = input.credentials.filter(|_| needs_secret) else {
        return Assessment::default();
    };
    let now = input.now;
    let status = input.status;
    let creds = status.credentials.clone().unwrap_or_default();
    let at = |s: &Option<String>| s.as_deref().and_then(parse_time);
    let checked_at = at(&creds.checked_at);
    let last_repair = at(&creds.last_repair_at);
    let attempts = creds.repair_attempts.unwrap_or(0);
    let rejected = creds.result == Some(CredentialsResult::Rejected);
    let mut out = Assessment::default();

    // Why a check is due, most urgent first.
    let requested = input
        .triggers
        .reconcile
        .as_ref()
        .is_some_and(|v| status.last_reconcile_request.as_ref() != Some(v));
    let last_rotated = status
        .rotation
        .as_ref()
        .and_then(|r| at(&r.last_rotated_at));
    let after = |t: Option<DateTime<Utc>>| match (t, checked_at) {
        (Some(t), Some(c)) => t > c,
        _ => false,
    };
    let changed = checked_at.is_some()
        && remote.secret_changed_at.is_some()
        && changed_marker(remote) != creds.secret_changed_at;
    let slot = checks.last_slot(now);
    let scheduled = slot.is_some_and(|s| {
        let base = checked_at.or(checks.since);
        base.is_none_or(|b| s > b)
    });
    out.check = if requested {
        Some(CheckReason::Requested)
    } else if after(last_repair) {
        Some(CheckReason::Repaired)
    } else if after(last_rotated) {
        Some(CheckReason::Rotated)
    } else if changed {
        Some(CheckReason::Changed)
    } else if scheduled && !checks.busy {
        Some(CheckReason::Scheduled)
    } else {
        None
    };
    let next_slot = slot.zip(checks.every).map(|(s, e)| s + chrono_dur(e));
    out.wake = next_slot;
    if !rejected {
        return out;
    }
    if out.check.is_some() {
        out.rejected = Some(format!(
            "the provider refused the credentials in the Secret for client {:?}; checking again",
            remote.id
        ));
        return out;
    }

    // Refused, and the last repair (if any) was checked since: repair when due.
    let next_repair = match (attempts, last_repair) {
        (0, _) | (_, None) => now,
        (n, Some(t)) => t + chrono_dur(repair_backoff(n)),
    };
    let id = remote.id.clone();
    if next_repair <= now {
        out.repair = Some(match input.capabilities.secret_issuance {
            SecretIssuance::CallerChosen => {
                vec![Action::RecordRepairAttempt, Action::RestoreSecret { id }]
            }
            // The provider refuses a second rotation while it holds two secrets;
            // neither is the Secret's working one, so nobody depends on the previous.
            SecretIssuance::ProviderGenerated if remote.has_rotated_secret => {
                vec![Action::Retire {
                    id,
                    reason: RetireReason::Unheld,
                }]
            }
            SecretIssuance::ProviderGenerated => vec![
                Action::RecordRepairAttempt,
                Action::RecordPendingRotation {
                    reason: RotationReason::CredentialsRejected,
                },
                // The secret the provider holds is nobody's: no grace for it.
                Action::Rotate {
                    id,
                    reason: RotationReason::CredentialsRejected,
                    retire_at: now,
                    secret: ChosenSecret::New,
                },
            ],
        });
        return out;
    }
    let how = match input.capabilities.secret_issuance {
        SecretIssuance::CallerChosen => "set the client's secret back to the Secret's",
        SecretIssuance::ProviderGenerated => "issue a new secret and publish it in the Secret",
    };
    let checked = creds.checked_at.as_deref().unwrap_or("an earlier check");
    let tried = match creds.last_repair_at.as_deref() {
        Some(last) => format!(
            "clientops tried {attempts} time(s) to {how}, the last at {last}, and the provider still refuses it; check the client at the provider (disabled, or no longer authenticating with a client secret?)"
        ),
        None => "no repair was tried yet".into(),
    };
    out.rejected = Some(format!(
        "the provider refuses the credentials in the Secret for client {:?} (checked at {checked}): {tried}; the next repair is at {}",
        remote.id,
        next_repair.to_rfc3339_opts(SecondsFormat::Secs, true)
    ));
    out.wake = Some(out.wake.map_or(next_repair, |w| w.min(next_repair)));
    out
}

fn chrono_dur(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        parse_time(s).unwrap()
    }

    #[test]
    fn slots_spread_by_uid_and_repeat_each_period() {
        let day = Duration::from_secs(86_400);
        let a = CredentialChecks::for_object(Some(day), "uid-a", None, false);
        let b = CredentialChecks::for_object(Some(day), "uid-b", None, false);
        assert_ne!(a.phase, b.phase);
        assert!(a.phase < day);
        let now = t("2026-11-24T12:00:00Z");
        let s = a.last_slot(now).unwrap();
        assert!(s <= now && now - s < chrono_dur(day));
        assert_eq!(a.last_slot(s).unwrap(), s);
        assert_eq!(
            a.last_slot(s + chrono_dur(day)).unwrap(),
            s + chrono_dur(day)
        );
        // Stable: the same UID gives the same slot in every process.
        assert_eq!(
            a,
            CredentialChecks::for_object(Some(day), "uid-a", None, false)
        );
        // 10,000 UIDs spread over the period: no hour holds more than twice its share.
        let mut hours = [0u32; 24];
        for i in 0..10_000 {
            let c = CredentialChecks::for_object(Some(day), &format!("uid-{i}"), None, false);
            hours[(c.phase.as_secs() / 3600) as usize] += 1;
        }
        assert!(hours.iter().all(|&h| h < 2 * 10_000 / 24), "{hours:?}");
        assert_eq!(
            CredentialChecks::for_object(None, "uid-a", None, false).last_slot(now),
            None
        );
    }

    #[test]
    fn repair_backoff_doubles_to_a_cap() {
        assert_eq!(repair_backoff(1), Duration::from_secs(30));
        assert_eq!(repair_backoff(2), Duration::from_secs(60));
        assert_eq!(repair_backoff(3), Duration::from_secs(120));
        assert_eq!(repair_backoff(30), REPAIR_BACKOFF_MAX);
        assert_eq!(repair_backoff(u32::MAX), REPAIR_BACKOFF_MAX);
    }
}
