//! What the agent runs with: [`Settings`] (what a user configures) and
//! [`Wiring`] (what the embedding program passes in: `peregrine ci`'s
//! collector and scope, `peregrine run`'s store sink and status, tests).

use crate::alert::Alert;
use crate::config::Settings;
use crate::report::{AgentStatus, ServerLink};
use crate::sinks::Sink;
use crate::stages::detect::DetectorFactory;
use std::sync::{Arc, Mutex};

/// What code passes in (not user settings): where alerts also go, the
/// kernel scope, live status, sinks the embedding program builds, the
/// server link.
#[derive(Debug, Clone, Default)]
pub struct Wiring {
    /// Watch only these processes and their descendants (CI mode).
    pub scope_pids: Option<Vec<u32>>,
    /// Cgroup v2 ids to add to the kernel scope while running (CI mode:
    /// containers the command starts). `Some` enables the cgroup scope.
    pub scope_cgroups: Option<Arc<Mutex<Vec<u64>>>>,
    /// Also collect every alert here (CI mode, tests).
    pub collector: Option<Arc<Mutex<Vec<Alert>>>>,
    /// Ship alerts, heartbeats and rule sets to a Peregrine server.
    pub server: Option<ServerLink>,
    /// Live counters for heartbeats (created when `server` is set).
    pub status: Option<Arc<AgentStatus>>,
    /// Sinks built by the embedding program (`peregrine run`: the store).
    pub extra_sinks: Vec<SinkFactory>,
    /// Detectors besides the rules engine (one instance per worker).
    pub detectors: Vec<DetectorFactoryHandle>,
    /// Register more metrics in the agent's registry (served on /metrics).
    pub metrics: Vec<MetricsHook>,
    /// Stream raw syscall ids of tasks with these comms (the anomaly model).
    pub stream_comms: Vec<String>,
    /// Stream raw syscall ids of tasks in these cgroup v2 ids.
    pub stream_cgroups: Vec<u64>,
    /// Events from this source instead of the eBPF sensor (`peregrine trace`).
    pub source: Option<crate::stages::source::SourceHandle>,
}

/// A [`DetectorFactory`] that prints as its role (for `Debug`).
#[derive(Clone)]
pub struct DetectorFactoryHandle(pub DetectorFactory);

impl std::fmt::Debug for DetectorFactoryHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DetectorFactory")
    }
}

/// Registers metrics of a component built outside the agent.
#[derive(Clone)]
pub struct MetricsHook(pub Arc<dyn Fn(&mut prometheus_client::registry::Registry) + Send + Sync>);

impl std::fmt::Debug for MetricsHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsHook")
    }
}

/// What the agent runs with: the user's settings and the program's wiring.
#[derive(Debug, Clone, Default)]
pub struct AgentConfig {
    /// What the user configured.
    pub settings: Settings,
    /// What the program passes in.
    pub wiring: Wiring,
}

/// Builds a sink the agent does not know how to configure itself.
#[derive(Clone)]
pub struct SinkFactory(pub Arc<dyn Fn() -> Box<dyn Sink> + Send + Sync>);

impl std::fmt::Debug for SinkFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SinkFactory")
    }
}
