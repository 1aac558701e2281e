//! What rules are evaluated against: an event plus the host state around it.

use peregrine_event::Event;
use std::borrow::Cow;
use std::net::IpAddr;

pub use peregrine_event::model::{ContainerView, ProcessView};

/// Host state a rule can look at while evaluating one event.
///
/// Everything beyond `event()` has a default: a context that knows nothing
/// more than the event still evaluates (fields it cannot provide are absent
/// and every check on them is false, as in Falco).
pub trait Context {
    /// The event.
    fn event(&self) -> &Event;
    /// The process at `level` of the ancestry: 0 = the event's process,
    /// 1 = its parent, and so on.
    fn process(&self, level: usize) -> Option<Cow<'_, ProcessView>> {
        let _ = level;
        None
    }
    /// Container of the event's process, if any.
    fn container(&self) -> Option<&ContainerView> {
        None
    }
    /// User name of a uid.
    fn user_name(&self, uid: u32) -> Option<Cow<'_, str>> {
        let _ = uid;
        None
    }
    /// Group name of a gid.
    fn group_name(&self, gid: u32) -> Option<Cow<'_, str>> {
        let _ = gid;
        None
    }
    /// Host name.
    fn hostname(&self) -> Cow<'_, str> {
        Cow::Borrowed("")
    }
    /// Sequence number of the event, starting at 1 (Falco's `never_true`
    /// macro is `evt.num = 0`).
    fn event_num(&self) -> u64 {
        1
    }
    /// The Kubernetes audit event, for `k8s_audit` rules (none for syscalls).
    fn audit(&self) -> Option<&crate::fields::k8saudit::AuditEvent> {
        None
    }
}

/// A field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// Text.
    Str(Cow<'a, str>),
    /// Number.
    Num(i64),
    /// Boolean.
    Bool(bool),
    /// IP address.
    Ip(IpAddr),
    /// Several values (any may match).
    List(Vec<Value<'a>>),
}

impl Value<'_> {
    /// Render as Falco does in outputs.
    pub fn render(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Num(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Ip(ip) => ip.to_string(),
            Value::List(v) => {
                let parts: Vec<String> = v.iter().map(|x| x.render()).collect();
                format!("({})", parts.join(","))
            }
        }
    }
}

/// A context with nothing but the event.
pub struct EventOnly<'a>(pub &'a Event);

impl Context for EventOnly<'_> {
    fn event(&self) -> &Event {
        self.0
    }
}
