//! Alerts in Falco's JSON shape, plus a stable id and context.

use peregrine_event::{ContainerView, Event};
use peregrine_rules::{Match, Priority};
use peregrine_state::ProcessTable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

pub use peregrine_event::time::{parse_rfc3339, rfc3339};

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

/// Makes unique alert ids: a random per-process prefix and a counter.
#[derive(Debug)]
pub struct IdGen {
    prefix: u64,
    counter: AtomicU64,
}

impl Default for IdGen {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = std::io::Read::read_exact(&mut f, &mut seed);
        }
        IdGen {
            prefix: u64::from_ne_bytes(seed) ^ std::process::id() as u64,
            counter: AtomicU64::new(0),
        }
    }
}

impl IdGen {
    /// The next id.
    pub fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{:016x}", self.prefix, n)
    }
}

/// Build the alert for a rule match.
pub fn build(
    m: Match,
    ev: &Event,
    table: &ProcessTable,
    container: Option<&ContainerView>,
    hostname: &str,
    ids: &IdGen,
) -> Alert {
    let time = rfc3339(ev.ts_ns);
    let output = format!("{}: {} {}", &time[11..29], m.priority, m.output);
    let ancestry = (0..16)
        .map_while(|l| table.ancestor(ev.process.pid, l))
        .map(|p| AncestorInfo {
            pid: p.pid,
            name: p.name.clone(),
            exepath: p.exepath.clone(),
            cmdline: p.cmdline.clone(),
        })
        .collect();
    Alert {
        time,
        rule: m.rule,
        priority: m.priority,
        source: "syscall".into(),
        hostname: hostname.to_string(),
        output,
        output_fields: m.output_fields,
        tags: m.tags,
        id: ids.next(),
        count: 1,
        container: container.map(|c| ContainerInfo {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            privileged: c.privileged,
            k8s_namespace: c.labels.get("io.kubernetes.pod.namespace").cloned(),
            k8s_pod: c.labels.get("io.kubernetes.pod.name").cloned(),
        }),
        ancestry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ids_are_unique() {
        let g = IdGen::default();
        assert_ne!(g.next(), g.next());
    }
}
