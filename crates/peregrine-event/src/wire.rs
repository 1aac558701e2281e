//! What agents send a server besides alerts: heartbeats and rule sets.

use crate::Priority;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What an agent reports periodically.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Heartbeat {
    /// Stable agent id (host name unless configured).
    pub agent: String,
    /// Host name.
    pub hostname: String,
    /// Peregrine version.
    pub version: String,
    /// Kernel release.
    #[serde(default)]
    pub kernel: String,
    /// Events processed since start.
    #[serde(default)]
    pub events: u64,
    /// Alerts raised since start.
    #[serde(default)]
    pub alerts: u64,
    /// Kernel drops per category since start.
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
    /// Enabled rules.
    #[serde(default)]
    pub rules: u64,
    /// Agent start, Unix seconds.
    #[serde(default)]
    pub started: i64,
}

/// A rule as an agent reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleInfo {
    /// Name.
    pub name: String,
    /// Priority.
    pub priority: Priority,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Description.
    #[serde(default)]
    pub desc: String,
    /// Enabled.
    pub enabled: bool,
    /// File that defined it.
    #[serde(default)]
    pub file: String,
}
