//! Offline evaluation of a capture file: the same state, rules and alerts as
//! the live agent, fed from recorded kernel records.

use crate::alert::{Alert, IdGen};
use crate::context::HostInfo;
use crate::evaluate::HostState;
use peregrine_capture::{CaptureError, Item, Reader};
use peregrine_event::{decode, Clock};
use peregrine_rules::Engine;
use peregrine_state::{ContainerCache, ProcessTable, UserDb};
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
}

/// Replay every record through `engine`, calling `on_alert` for each alert
/// and `progress` with the record count every 10,000 records. An error
/// (truncated or corrupt file) ends the replay after the records before it.
pub fn replay<R: Read>(
    reader: &mut Reader<R>,
    engine: &Engine,
    mut on_alert: impl FnMut(Alert),
    mut progress: impl FnMut(u64),
) -> (ReplayStats, Option<CaptureError>) {
    let h = reader.header.clone();
    let mut table = ProcessTable::new(1 << 20);
    for p in h.processes {
        table.insert(p.view, p.cgroup);
    }
    let mut state = HostState {
        table,
        containers: ContainerCache::offline(),
        host: Arc::new(HostInfo {
            users: UserDb::from_pairs(&h.users),
            hostname: h.hostname.clone(),
            ids: IdGen::default(),
        }),
        live: false,
    };
    let clock = Clock::with_offset(h.clock_offset_ns as i128);
    let mut memo = engine.memo();
    let mut gate = peregrine_rules::threshold::ThresholdGate::default();
    let mut stats = ReplayStats::default();
    loop {
        let item = match reader.next_item() {
            Ok(Some(i)) => i,
            Ok(None) => return (stats, None),
            Err(e) => return (stats, Some(e)),
        };
        let raw = match item {
            Item::Container(c) => {
                state.containers.insert(*c);
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
        let (alerts, _) = state.evaluate(engine, &mut memo, ev, stats.records);
        for a in alerts {
            if let Some(a) = crate::evaluate::pass_threshold(a, &mut gate) {
                stats.alerts += 1;
                on_alert(a);
            }
        }
    }
}
