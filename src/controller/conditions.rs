//! kstatus conditions: `Ready`, `Reconciling`, `Stalled`.
//!
//! - Ready=True: the client exists at the provider as specified and the Secret holds
//!   working credentials.
//! - Reconciling=True: clientops is working on it (or waiting on something that
//!   resolves by itself, such as a rate limit).
//! - Stalled=True: clientops cannot make progress until a human changes something;
//!   the message names the field and the fix.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use super::plan::Verdict;

/// The three conditions for `verdict`, keeping `lastTransitionTime` of those whose
/// status did not change.
pub fn conditions(
    verdict: &Verdict,
    generation: i64,
    previous: &[Condition],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Condition> {
    let (ready, reconciling, stalled) = match verdict {
        Verdict::Ready => (
            (
                "True",
                "Ready",
                "the client exists at the provider and the Secret holds working credentials"
                    .to_string(),
            ),
            None,
            None,
        ),
        Verdict::Progressing { reason, message } => (
            ("False", reason.as_str(), message.clone()),
            Some((reason.as_str(), message.clone())),
            None,
        ),
        Verdict::Stalled { reason, message } => (
            ("False", reason.as_str(), message.clone()),
            None,
            Some((reason.as_str(), message.clone())),
        ),
        Verdict::Deleting => (
            (
                "False",
                "Deleting",
                "the OAuthClient is being deleted".to_string(),
            ),
            Some(("Deleting", "cleaning up".to_string())),
            None,
        ),
    };
    let make = |type_: &str, status: &str, reason: &str, message: String| {
        let last = previous.iter().find(|c| c.type_ == type_);
        let transition = match last {
            Some(c) if c.status == status => c.last_transition_time.clone(),
            _ => Time(
                k8s_openapi::jiff::Timestamp::from_millisecond(now.timestamp_millis())
                    .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
            ),
        };
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            observed_generation: Some(generation),
            last_transition_time: transition,
        }
    };
    vec![
        make("Ready", ready.0, ready.1, ready.2),
        match reconciling {
            Some((r, m)) => make("Reconciling", "True", r, m),
            None => make("Reconciling", "False", "Idle", String::new()),
        },
        match stalled {
            Some((r, m)) => make("Stalled", "True", r, m),
            None => make("Stalled", "False", "Progressing", String::new()),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kstatus_shapes() {
        let now = chrono::Utc::now();
        let c = conditions(&Verdict::Ready, 3, &[], now);
        assert_eq!(
            (c[0].type_.as_str(), c[0].status.as_str()),
            ("Ready", "True")
        );
        assert_eq!(c[1].status, "False");
        assert_eq!(c[2].status, "False");
        assert!(c.iter().all(|c| c.observed_generation == Some(3)));
        let s = conditions(
            &Verdict::Stalled {
                reason: "InvalidSpec".into(),
                message: "spec.scopes: x".into(),
            },
            4,
            &c,
            now,
        );
        assert_eq!(
            (s[0].status.as_str(), s[0].reason.as_str()),
            ("False", "InvalidSpec")
        );
        assert_eq!(
            (s[2].status.as_str(), s[2].message.as_str()),
            ("True", "spec.scopes: x")
        );
        // Reconciling stayed False: its transition time is kept.
        let later = now + chrono::Duration::seconds(60);
        let s2 = conditions(
            &Verdict::Stalled {
                reason: "InvalidSpec".into(),
                message: "m".into(),
            },
            4,
            &s,
            later,
        );
        assert_eq!(s2[2].last_transition_time, s[2].last_transition_time);
        assert_eq!(s2[1].last_transition_time, c[1].last_transition_time);
    }
}
