//! clientops: a Kubernetes operator that manages OAuth clients declaratively.

#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod controller;
pub mod emulator;
pub mod failpoint;
pub mod provider;
pub mod secret;
pub mod telemetry;
pub mod tls;
