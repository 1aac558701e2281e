//! The rule engine's view of one event: a snapshot of the event with its
//! ancestry and container, detached from the host state so that rule
//! workers on other threads can evaluate it while the state moves on.

use peregrine_event::{ContainerView, Event, ProcessView};
use peregrine_rules::context::Context;
use peregrine_state::UserDb;
use std::borrow::Cow;
use std::sync::Arc;

/// One event and everything rules read about it besides host-wide data.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The event (with `process.exe` filled from the table).
    pub event: Event,
    /// The event's process and its ancestors, itself first (empty when the
    /// table does not know the process).
    pub chain: Vec<Arc<ProcessView>>,
    /// Container of the event's process.
    pub container: Option<Arc<ContainerView>>,
    /// Event sequence number (from 1).
    pub num: u64,
}

/// Host-wide, read-only data alerts and rules need (shared by workers).
#[derive(Debug, Default)]
pub struct HostInfo {
    /// User and group names.
    pub users: UserDb,
    /// Host name put in alerts.
    pub hostname: String,
    /// Alert id source.
    pub ids: crate::alert::IdGen,
    /// Prefix alert outputs with the full ISO 8601 time instead of the time
    /// of day (Falco's `time_format_iso_8601`).
    pub iso_time: bool,
    /// `append_output`: more output text and fields for chosen rules.
    pub append: crate::append_output::Appender,
}

/// Everything a rule may look at for one event.
pub struct AgentContext<'a> {
    /// The event and its ancestry.
    pub snap: &'a Snapshot,
    /// Host-wide data.
    pub host: &'a HostInfo,
}

impl Context for AgentContext<'_> {
    fn event(&self) -> &Event {
        &self.snap.event
    }
    fn process(&self, level: usize) -> Option<Cow<'_, ProcessView>> {
        self.snap.chain.get(level).map(|p| Cow::Borrowed(&**p))
    }
    fn container(&self) -> Option<&ContainerView> {
        self.snap.container.as_deref()
    }
    fn user_name(&self, uid: u32) -> Option<Cow<'_, str>> {
        self.host.users.user(uid).map(Cow::Borrowed)
    }
    fn group_name(&self, gid: u32) -> Option<Cow<'_, str>> {
        self.host.users.group(gid).map(Cow::Borrowed)
    }
    fn hostname(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.host.hostname)
    }
    fn event_num(&self) -> u64 {
        self.snap.num
    }
}
