//! Peregrine agent: the process left running on every host.
//!
//! Data path, one stage each ([`stages`]): [`peregrine_sensor`] (kernel) →
//! [`peregrine_state`] (process table, containers, users) → detection
//! ([`peregrine_rules`], Falco-compatible rules) → routing (threshold,
//! dedup, rate limit) → response → [`sinks`]. [`config::Settings`] is what
//! a user configures; [`Wiring`] what the embedding program passes in.
#![deny(missing_docs)]

pub mod actions;
pub mod alert;
pub mod append_output;
pub mod config;
pub mod context;
pub mod dedup;
pub mod evaluate;
pub mod export;
pub mod falco_config;
pub mod kubernetes;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod replay;
pub mod report;
pub mod sinks;
pub mod stages;
pub mod wiring;
pub mod workers;

pub use config::Settings;
pub use pipeline::{
    run, run_with_reload, AgentConfig, AgentError, AgentStats, DetectorFactoryHandle, SinkFactory,
    Wiring,
};
