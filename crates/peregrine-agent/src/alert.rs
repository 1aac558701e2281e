//! Alerts in Falco's JSON shape, plus a stable id and context.

use crate::context::{HostInfo, Snapshot};
pub use peregrine_event::alert::{Alert, AncestorInfo, ContainerInfo};
use peregrine_rules::Match;
use std::sync::atomic::{AtomicU64, Ordering};

pub use peregrine_event::time::{parse_rfc3339, rfc3339};

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

/// The alert of a match on an event at `ts_ns` from `source`, without
/// process or container context (every source's alerts start here: the
/// output's time prefix follows `time_format_iso_8601`).
pub fn bare(m: Match, ts_ns: u64, source: &str, host: &HostInfo) -> Alert {
    let time = rfc3339(ts_ns);
    let stamp = if host.iso_time {
        &time[..]
    } else {
        &time[11..29]
    };
    let output = format!("{stamp}: {} {}", m.priority, m.output);
    Alert {
        time,
        rule: m.rule,
        priority: m.priority,
        source: source.into(),
        hostname: host.hostname.clone(),
        output,
        output_fields: m.output_fields,
        tags: m.tags,
        id: host.ids.next(),
        count: 1,
        container: None,
        ancestry: Vec::new(),
    }
}

/// Build the alert for a rule match on a syscall event: [`bare`] plus the
/// container and the process ancestry.
pub fn build(m: Match, snap: &Snapshot, host: &HostInfo) -> Alert {
    let mut alert = bare(m, snap.event.ts_ns, "syscall", host);
    alert.ancestry = snap
        .chain
        .iter()
        .take(16)
        .map(|p| AncestorInfo {
            pid: p.pid,
            name: p.name.clone(),
            exepath: p.exepath.clone(),
            cmdline: p.cmdline.clone(),
        })
        .collect();
    alert.container = snap.container.as_deref().map(|c| ContainerInfo {
        id: c.id.clone(),
        name: c.name.clone(),
        image: c.image.clone(),
        privileged: c.privileged,
        k8s_namespace: c.labels.get("io.kubernetes.pod.namespace").cloned(),
        k8s_pod: c.labels.get("io.kubernetes.pod.name").cloned(),
        k8s_workload_kind: c
            .workload
            .as_ref()
            .and_then(|w| w.top())
            .map(|o| o.kind.clone()),
        k8s_workload: c
            .workload
            .as_ref()
            .and_then(|w| w.top())
            .map(|o| o.name.clone()),
    });
    alert
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
