//! Peregrine agent: the process left running on every host.
//!
//! Data path: [`peregrine_sensor`] (kernel) → [`peregrine_state`] (process
//! table, containers, users) → [`peregrine_rules`] (Falco-compatible rules)
//! → [`alert`] (Falco JSON) → [`sinks`].
#![deny(missing_docs)]

pub mod alert;
pub mod config;
pub mod context;
pub mod dedup;
pub mod evaluate;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod replay;
pub mod report;
pub mod sinks;
pub mod workers;

pub use pipeline::{run, run_with_reload, AgentConfig, AgentError, AgentStats, SinkFactory};
