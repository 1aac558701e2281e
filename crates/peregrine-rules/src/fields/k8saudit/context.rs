//! The evaluation context of one audit event.

use super::AuditEvent;
use crate::context::Context;
use peregrine_event::{Event, EventData, EventKind, Process};
use std::borrow::Cow;

/// What `k8s_audit` rules are evaluated against: an audit event, the host
/// that received it and its sequence number.
///
/// [`Context::event`] is a stand-in carrying only the event time (audit
/// rules cannot name syscall fields; `evt.time`/`evt.rawtime` read it).
pub struct AuditContext<'a> {
    audit: &'a AuditEvent,
    stand_in: Event,
    hostname: &'a str,
    num: u64,
}

impl<'a> AuditContext<'a> {
    /// The context of `audit`, received by `hostname`, the `num`th event
    /// (from 1).
    pub fn new(audit: &'a AuditEvent, hostname: &'a str, num: u64) -> AuditContext<'a> {
        AuditContext {
            audit,
            stand_in: Event {
                ts_ns: audit.ts_ns,
                kind: EventKind::Exit,
                syscall: None,
                process: Process::default(),
                data: EventData::Exit { code: 0, signal: 0 },
            },
            hostname,
            num,
        }
    }
}

impl Context for AuditContext<'_> {
    fn event(&self) -> &Event {
        &self.stand_in
    }
    fn hostname(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.hostname)
    }
    fn event_num(&self) -> u64 {
        self.num
    }
    fn audit(&self) -> Option<&AuditEvent> {
        Some(self.audit)
    }
}
