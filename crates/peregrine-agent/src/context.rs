//! The rule engine's view of one event: process table, container, users.

use peregrine_event::{ContainerView, Event, ProcessView};
use peregrine_rules::context::Context;
use peregrine_state::{ProcessTable, UserDb};
use std::borrow::Cow;

/// Everything a rule may look at for one event.
pub struct AgentContext<'a> {
    /// The event.
    pub event: &'a Event,
    /// Process table.
    pub table: &'a ProcessTable,
    /// Container of the event's process.
    pub container: Option<&'a ContainerView>,
    /// User names.
    pub users: &'a UserDb,
    /// Host name.
    pub hostname: &'a str,
    /// Event sequence number (from 1).
    pub num: u64,
}

impl Context for AgentContext<'_> {
    fn event(&self) -> &Event {
        self.event
    }
    fn process(&self, level: usize) -> Option<Cow<'_, ProcessView>> {
        self.table
            .ancestor(self.event.process.pid, level)
            .map(Cow::Borrowed)
    }
    fn container(&self) -> Option<&ContainerView> {
        self.container
    }
    fn user_name(&self, uid: u32) -> Option<Cow<'_, str>> {
        self.users.user(uid).map(Cow::Borrowed)
    }
    fn group_name(&self, gid: u32) -> Option<Cow<'_, str>> {
        self.users.group(gid).map(Cow::Borrowed)
    }
    fn hostname(&self) -> Cow<'_, str> {
        Cow::Borrowed(self.hostname)
    }
    fn event_num(&self) -> u64 {
        self.num
    }
}
