//! The per-event step shared by the live agent and replay: update the host
//! state with the event, evaluate the rules, build the alerts.

use crate::alert::{self, Alert, IdGen};
use crate::context::AgentContext;
use peregrine_event::Event;
use peregrine_rules::eval::Memo;
use peregrine_rules::Engine;
use peregrine_state::{ContainerCache, ProcessTable, UserDb};
use std::time::{Duration, Instant};

/// What the rules look at besides the event.
pub struct HostState {
    /// Process table.
    pub table: ProcessTable,
    /// Container metadata.
    pub containers: ContainerCache,
    /// User names.
    pub users: UserDb,
    /// Host name put in alerts.
    pub hostname: String,
    /// Alert id source.
    pub ids: IdGen,
}

impl HostState {
    /// Apply `ev` to the state, evaluate `engine` and return the alerts with
    /// the time the rule evaluation took. `num` is the event's sequence number.
    pub fn evaluate(
        &mut self,
        engine: &Engine,
        memo: &mut Memo,
        ev: &mut Event,
        num: u64,
    ) -> (Vec<Alert>, Duration) {
        self.table.observe(ev);
        let container = self.containers.lookup(&ev.process.cgroup);
        let ctx = AgentContext {
            event: ev,
            table: &self.table,
            container,
            users: &self.users,
            hostname: &self.hostname,
            num,
        };
        let mut matched = Vec::new();
        let t0 = Instant::now();
        engine.for_each_match_memo(&ctx, memo, |r| matched.push(r));
        let took = t0.elapsed();
        let alerts = matched
            .into_iter()
            .map(|r| {
                let (output, output_fields) = r.output.render(&ctx);
                let m = peregrine_rules::Match {
                    rule: r.name.clone(),
                    priority: r.priority,
                    output,
                    output_fields,
                    tags: r.tags.clone(),
                };
                alert::build(m, ev, &self.table, container, &self.hostname, &self.ids)
            })
            .collect();
        (alerts, took)
    }
}
