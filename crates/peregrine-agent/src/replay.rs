//! Offline evaluation of a capture file: the same state, rules and alerts as
//! the live agent, fed from recorded kernel records, within the same bounds
//! (process table, container metadata: [`ReplayBounds`]), so a hostile
//! capture cannot exhaust memory.

use crate::alert::{Alert, IdGen};
use crate::context::HostInfo;
use crate::stages::state::StateStage;
use peregrine_capture::{CaptureError, Item, Reader};
use peregrine_event::{decode, Clock};
use peregrine_rules::Engine;
use peregrine_state::{HostState, ProcessTable, UserDb};
use std::io::Read;
use std::sync::Arc;

/// What a replay went through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Kernel records read.
    pub records: u64,
    /// Records that could not be decoded.
    pub decode_errors: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Container metadata records read.
    pub containers: u64,
    /// Most containers known at once (at most the bound).
    pub max_containers_held: usize,
    /// Containers forgotten because the bound was reached.
    pub container_evictions: u64,
}

/// The state's bounds during a replay: the live agent's defaults unless
/// told otherwise (`peregrine replay` passes the agent's settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayBounds {
    /// Process table capacity.
    pub max_processes: usize,
    /// Containers whose metadata is kept at once.
    pub max_containers: usize,
}

impl Default for ReplayBounds {
    fn default() -> Self {
        let s = crate::config::Settings::default();
        ReplayBounds {
            max_processes: s.max_processes,
            max_containers: s.max_containers,
        }
    }
}

impl From<&crate::config::Settings> for ReplayBounds {
    fn from(s: &crate::config::Settings) -> Self {
        ReplayBounds {
            max_processes: s.max_processes,
            max_containers: s.max_containers,
        }
    }
}

/// Replay every record through `engine` within the live agent's default
/// bounds (see [`replay_bounded`]).
pub fn replay<R: Read>(
    reader: &mut Reader<R>,
    engine: &Engine,
    on_alert: impl FnMut(Alert),
    progress: impl FnMut(u64),
) -> (ReplayStats, Option<CaptureError>) {
    replay_bounded(reader, engine, ReplayBounds::default(), on_alert, progress)
}

/// Replay every record through `engine`, calling `on_alert` for each alert
/// and `progress` with the record count every 10,000 records. An error
/// (truncated or corrupt file) ends the replay after the records before it.
pub fn replay_bounded<R: Read>(
    reader: &mut Reader<R>,
    engine: &Engine,
    bounds: ReplayBounds,
    mut on_alert: impl FnMut(Alert),
    mut progress: impl FnMut(u64),
) -> (ReplayStats, Option<CaptureError>) {
    let h = std::mem::take(&mut reader.header.processes);
    let mut table = ProcessTable::new(bounds.max_processes);
    for p in h {
        table.insert(p.view, p.cgroup);
    }
    let host = Arc::new(HostInfo {
        users: UserDb::from_pairs(&reader.header.users),
        hostname: reader.header.hostname.clone(),
        ids: IdGen::default(),
        iso_time: false,
        append: Default::default(),
    });
    let mut state = StateStage::offline(HostState::offline(table, bounds.max_containers), host);
    let clock = Clock::with_offset(reader.header.clock_offset_ns as i128);
    let mut memo = engine.memo();
    let mut gate = peregrine_rules::threshold::ThresholdGate::default();
    let mut sequences = crate::stages::sequence::SequenceCore::new(engine);
    let mut stats = ReplayStats::default();
    loop {
        let item = match reader.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => return (stats, None),
            Err(e) => return (stats, Some(e)),
        };
        let raw = match item {
            Item::Container(c) => {
                let containers = &mut state.state().containers;
                containers.insert(*c);
                stats.containers += 1;
                stats.max_containers_held = stats.max_containers_held.max(containers.len());
                stats.container_evictions = containers.stats().evicted;
                continue;
            }
            Item::Record(r) => r,
        };
        stats.records += 1;
        if stats.records % 10_000 == 0 {
            progress(stats.records);
        }
        let ev = match decode(&raw, &clock) {
            Ok(e) => e,
            Err(_) => {
                stats.decode_errors += 1;
                continue;
            }
        };
        let snap = state.snapshot(ev, stats.records);
        let host = state.host();
        let (mut alerts, _) = crate::evaluate::evaluate(engine, &mut memo, &snap, host);
        alerts.extend(sequences.observe(engine, &snap, host));
        for a in alerts {
            if let Some(a) = crate::evaluate::pass_threshold(a, &mut gate) {
                stats.alerts += 1;
                on_alert(a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_capture::{Header, Writer};
    use peregrine_event::ContainerView;

    /// A capture of `n` container records, each with a huge label (the
    /// frame limit allows 1 MB; deflate shrinks it to a few KB) and many
    /// small ones.
    fn hostile_capture(n: usize) -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), &Header::default()).unwrap();
        let huge = "x".repeat(64 << 10);
        for i in 0..n {
            let mut c = ContainerView {
                id: format!("{i:064x}"),
                name: "n".repeat(5000),
                ..ContainerView::default()
            };
            c.labels.insert("huge".into(), huge.clone());
            for l in 0..300 {
                c.labels.insert(format!("label{l}"), format!("{l}"));
            }
            w.container(&c).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn container_records_beyond_the_bound_are_forgotten() {
        let bytes = hostile_capture(200);
        assert!(bytes.len() < 2 << 20, "{} bytes", bytes.len());
        let rule = "- rule: exec\n  desc: d\n  condition: evt.type = execve\n  output: x\n  priority: WARNING\n";
        let engine = Engine::from_str("r.yaml", rule).unwrap();
        let mut reader = Reader::new(bytes.as_slice()).unwrap();
        let bounds = ReplayBounds {
            max_processes: 1000,
            max_containers: 32,
        };
        let (stats, err) = replay_bounded(&mut reader, &engine, bounds, |_| {}, |_| {});
        assert!(err.is_none(), "{err:?}");
        assert_eq!(stats.containers, 200);
        assert_eq!(stats.max_containers_held, 32);
        assert_eq!(stats.container_evictions, 200 - 32);
    }

    #[test]
    fn replay_uses_the_live_agents_bounds_by_default() {
        let live = crate::config::Settings::default();
        let b = ReplayBounds::default();
        assert_eq!(
            (b.max_processes, b.max_containers),
            (live.max_processes, live.max_containers)
        );
    }
}
