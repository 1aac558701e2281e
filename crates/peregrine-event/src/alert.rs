//! Alerts: Falco's JSON shape plus a stable id and context. Shared by the
//! agent (which builds them), the server and the store (which ingest them).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Rule priority, most severe first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Priority {
    /// System is unusable.
    Emergency,
    /// Act immediately.
    Alert,
    /// Critical.
    Critical,
    /// Error.
    Error,
    /// Warning.
    Warning,
    /// Notice.
    Notice,
    /// Informational.
    Informational,
    /// Debug.
    Debug,
}

impl Priority {
    /// Every priority, most severe first (index = [`Priority::index`]).
    pub const ALL: [Priority; 8] = [
        Priority::Emergency,
        Priority::Alert,
        Priority::Critical,
        Priority::Error,
        Priority::Warning,
        Priority::Notice,
        Priority::Informational,
        Priority::Debug,
    ];
    /// 0 (Emergency) ..= 7 (Debug), syslog's severity numbering.
    pub fn index(self) -> u8 {
        self as u8
    }
    /// The priority with this [`Priority::index`].
    pub fn from_index(i: i64) -> Option<Priority> {
        usize::try_from(i)
            .ok()
            .and_then(|i| Priority::ALL.get(i).copied())
    }
    /// Parse a priority name (case-insensitive; INFO accepted).
    pub fn parse(s: &str) -> Option<Priority> {
        Some(match s.trim().to_ascii_uppercase().as_str() {
            "EMERGENCY" => Priority::Emergency,
            "ALERT" => Priority::Alert,
            "CRITICAL" => Priority::Critical,
            "ERROR" => Priority::Error,
            "WARNING" | "WARN" => Priority::Warning,
            "NOTICE" => Priority::Notice,
            "INFORMATIONAL" | "INFO" => Priority::Informational,
            "DEBUG" => Priority::Debug,
            _ => return None,
        })
    }
    /// Falco's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Emergency => "Emergency",
            Priority::Alert => "Alert",
            Priority::Critical => "Critical",
            Priority::Error => "Error",
            Priority::Warning => "Warning",
            Priority::Notice => "Notice",
            Priority::Informational => "Informational",
            Priority::Debug => "Debug",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One process of an alert's ancestry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AncestorInfo {
    /// Pid.
    pub pid: u32,
    /// Name.
    pub name: String,
    /// Executable path.
    pub exepath: String,
    /// Command line.
    pub cmdline: String,
}

/// Container and Kubernetes context of an alert.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerInfo {
    /// Full id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Privileged.
    pub privileged: bool,
    /// Kubernetes namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
    /// Kubernetes pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s_pod: Option<String>,
    /// Kind of the workload owning the pod (`Deployment`, `DaemonSet`,
    /// `CronJob`, …), from the API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_workload_kind: Option<String>,
    /// Name of that workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k8s_workload: Option<String>,
}

/// An alert. The first seven fields are exactly Falco's JSON output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    /// RFC 3339 time with nanoseconds.
    pub time: String,
    /// Rule name.
    pub rule: String,
    /// Priority.
    pub priority: Priority,
    /// Event source.
    pub source: String,
    /// Host name.
    pub hostname: String,
    /// `HH:MM:SS.nnnnnnnnn: Priority text`, as Falco writes it.
    pub output: String,
    /// Values of the output's fields.
    pub output_fields: BTreeMap<String, String>,
    /// Rule tags.
    pub tags: Vec<String>,
    /// Stable unique id (dedup key for receivers).
    pub id: String,
    /// How many identical alerts this one stands for (dedup summaries > 1).
    #[serde(default = "one")]
    pub count: u64,
    /// Container context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Process ancestry, the process itself first.
    #[serde(default)]
    pub ancestry: Vec<AncestorInfo>,
}

fn one() -> u64 {
    1
}
