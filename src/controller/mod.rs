//! The OAuthClient controller: observe, plan, execute.
//!
//! - `desired`: the spec with defaults and the provider's own rules.
//! - `resolve`: providerRef → provider client (namespace rules, credentials).
//! - `observe`: the remote client and the Secret, as the planner sees them.
//! - `plan`: the pure planner. `execute`: the thin executor.
//! - `markers`: the intents' markers in status (pending create, pending rotation).
//! - `intent_proof`: the MAC that proves an intent annotation is clientops' own;
//!   `intent_key`: its key Secret (created at first start, read once per process).
//! - `claims`: which client ids other OAuthClients hold (no path adopts one).
//! - `status`: the one writer of an OAuthClient's status (typed merge patches).
//! - `policy`: a ClusterOAuthProvider's `spec.policy` applied to a client's spec.
//! - `reconcile`: observe → plan → execute rounds and the kstatus conditions.
//! - `providers`: the provider objects' Ready condition. `run`: wiring.
//! - `leader`: leader election on a Lease.
//! - `secret_memo`: what each Secret held when last read, for reconciles that change nothing.

pub mod accounts;
pub mod cache;
pub mod claims;
pub mod conditions;
pub mod context;
pub mod desired;
pub mod error;
pub mod execute;
pub mod fairness;
pub mod intent_key;
pub mod intent_proof;
pub mod leader;
pub mod markers;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod providers;
pub mod reconcile;
pub mod resolve;
pub mod run;
pub mod secret_memo;
pub mod status;
