//! The state stage's data: the process table and container metadata, both
//! bounded, updated by each event in order; [`HostState::observe`] hands out
//! what rules need (ancestry, container) as shared handles that stay valid
//! while the state moves on.

use crate::bounded::BoundedContainers;
use crate::{ContainerCache, ProcessTable, RuntimeUpdate};
use peregrine_event::{ContainerView, Event, ProcessView};
use std::sync::Arc;

/// Deepest ancestry handed out (the rule fields stop there too).
pub const MAX_ANCESTRY: usize = 64;

/// An event after the state saw it, with its ancestry and container.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The event (with `process.exe` filled from the table).
    pub event: Event,
    /// The event's process and its ancestors, itself first.
    pub chain: Vec<Arc<ProcessView>>,
    /// Container of the event's process.
    pub container: Option<Arc<ContainerView>>,
}

/// Process table and containers.
#[derive(Debug)]
pub struct HostState {
    /// Process table (bounded by its capacity).
    pub table: ProcessTable,
    /// Container metadata (bounded).
    pub containers: BoundedContainers,
    live: bool,
}

impl HostState {
    /// State for events of this host, now: execs are enriched from `/proc`.
    pub fn live(table: ProcessTable, containers: ContainerCache, max_containers: usize) -> Self {
        HostState {
            table,
            containers: BoundedContainers::new(containers, max_containers),
            live: true,
        }
    }

    /// State for recorded or synthetic events (replay, benches): nothing is
    /// read from the host.
    pub fn offline(table: ProcessTable, max_containers: usize) -> Self {
        HostState {
            table,
            containers: BoundedContainers::new(ContainerCache::offline(), max_containers),
            live: false,
        }
    }

    /// True when execs are enriched from this host.
    pub fn is_live(&self) -> bool {
        self.live
    }

    /// Apply `ev` to the state and detach what rules need from it.
    pub fn observe(&mut self, mut ev: Event) -> Observed {
        if self.live {
            crate::enrich::enrich_exec(self.containers.cache_mut(), &mut ev);
        }
        self.table.observe(&mut ev);
        let container = self.containers.lookup_shared(&ev.process.cgroup);
        let chain = self.table.chain(ev.process.pid, MAX_ANCESTRY);
        Observed {
            event: ev,
            chain,
            container,
        }
    }

    /// Apply a container runtime update.
    pub fn apply(&mut self, update: RuntimeUpdate) {
        self.containers.apply(update);
    }

    /// Expire exited processes and stale container lookups.
    pub fn gc(&mut self) {
        self.table.gc();
        self.containers.gc();
    }
}
