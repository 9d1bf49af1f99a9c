//! The eventual-consistency fault (off by default): Entra replicates a new
//! application slowly, so calls right after the create can fail (facts doc §6).
//! When set (`PUT /__emulator/consistency`), each application created from
//! then on answers its first `add_password_not_found` `addPassword` calls with
//! 404 `Request_ResourceNotFound` and its first `service_principal_not_ready`
//! `POST /servicePrincipals` calls with 400 `NoBackingApplicationObject`.
//! In memory only; an admin reset turns it off.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// The fault's setting.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LagConfig {
    /// addPassword calls per new application answered 404.
    #[serde(default)]
    pub add_password_not_found: u32,
    /// Service principal creations per new application answered 400.
    #[serde(default)]
    pub service_principal_not_ready: u32,
}

/// An operation the fault delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lagging {
    AddPassword,
    ServicePrincipal,
}

/// The setting and what each new application has left to fail.
#[derive(Default)]
pub struct Lag {
    config: Mutex<LagConfig>,
    pending: Mutex<HashMap<(String, Lagging), u32>>,
}

impl Lag {
    /// The setting in force.
    pub fn get(&self) -> LagConfig {
        *self.config.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Change the setting (applications created from now on).
    pub fn set(&self, cfg: LagConfig) {
        *self.config.lock().unwrap_or_else(|e| e.into_inner()) = cfg;
    }

    /// Off, and nothing pending.
    pub fn clear(&self) {
        self.set(LagConfig::default());
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// An application was created: arm its counters (keyed by appId).
    pub fn created(&self, app_id: &str) {
        let cfg = self.get();
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for (op, n) in [
            (Lagging::AddPassword, cfg.add_password_not_found),
            (Lagging::ServicePrincipal, cfg.service_principal_not_ready),
        ] {
            if n > 0 {
                p.insert((app_id.to_ascii_lowercase(), op), n);
            }
        }
    }

    /// True when this call must fail (and counts it).
    pub fn lagging(&self, app_id: &str, op: Lagging) -> bool {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let key = (app_id.to_ascii_lowercase(), op);
        match p.get_mut(&key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    p.remove(&key);
                }
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_apps_lag_for_the_configured_calls() {
        let lag = Lag::default();
        lag.created("A");
        assert!(!lag.lagging("a", Lagging::AddPassword));
        lag.set(LagConfig {
            add_password_not_found: 2,
            service_principal_not_ready: 0,
        });
        lag.created("B");
        assert!(lag.lagging("b", Lagging::AddPassword));
        assert!(lag.lagging("B", Lagging::AddPassword));
        assert!(!lag.lagging("b", Lagging::AddPassword));
        assert!(!lag.lagging("b", Lagging::ServicePrincipal));
    }
}
