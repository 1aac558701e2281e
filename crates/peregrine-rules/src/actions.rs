//! Response actions on a rule (Peregrine extension, kept out of Falco's
//! files): what the agent does when the rule matches, besides alerting.
//!
//! ```yaml
//! - rule: Miner started
//!   condition: evt.type in (execve, execveat) and proc.exepath = /tmp/xmrig
//!   ...
//!   actions: [block, kill]
//!   action_mode: monitor    # optional: stays a dry run even under --enforce
//! ```
//!
//! The agent runs in monitor mode unless started with `--enforce`: every
//! action is then reported ("would kill …") and nothing is done.

use std::collections::BTreeSet;
use std::fmt;

/// One response action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ActionKind {
    /// Deny the operation synchronously (exec or open, where a hook allows).
    Block,
    /// Kill the matching process.
    Kill,
    /// Kill the matching process and all its descendants.
    KillTree,
    /// Move the event's file into the quarantine directory.
    Quarantine,
    /// Freeze every process of the event's container.
    PauseContainer,
    /// Stop the event's container.
    StopContainer,
}

impl ActionKind {
    /// Every action, with its name in rule files.
    pub const ALL: &'static [(ActionKind, &'static str)] = &[
        (ActionKind::Block, "block"),
        (ActionKind::Kill, "kill"),
        (ActionKind::KillTree, "kill_tree"),
        (ActionKind::Quarantine, "quarantine"),
        (ActionKind::PauseContainer, "pause_container"),
        (ActionKind::StopContainer, "stop_container"),
    ];

    /// The action named `name` in a rule file.
    pub fn parse(name: &str) -> Option<ActionKind> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// Its name in rule files.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map_or("?", |(_, n)| n)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a rule's actions act or are only reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ActionMode {
    /// Report what would be done; do nothing (the agent's default).
    #[default]
    Monitor,
    /// Act.
    Enforce,
}

impl ActionMode {
    /// `monitor` or `enforce`.
    pub fn parse(s: &str) -> Option<ActionMode> {
        match s {
            "monitor" => Some(ActionMode::Monitor),
            "enforce" => Some(ActionMode::Enforce),
            _ => None,
        }
    }
}

/// The actions of one rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleActions {
    /// Actions, in the order written (no duplicates).
    pub kinds: Vec<ActionKind>,
    /// `action_mode:` of the rule; `None` follows the agent's mode.
    pub mode: Option<ActionMode>,
}

impl RuleActions {
    /// No actions.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Whether `kind` is among them.
    pub fn has(&self, kind: ActionKind) -> bool {
        self.kinds.contains(&kind)
    }

    /// The mode actions run in when the agent runs in `agent` mode: a rule's
    /// `action_mode: monitor` keeps it a dry run under `--enforce`, and
    /// `action_mode: enforce` cannot act when the agent only monitors.
    pub fn effective_mode(&self, agent: ActionMode) -> ActionMode {
        match (agent, self.mode) {
            (ActionMode::Enforce, Some(ActionMode::Monitor)) => ActionMode::Monitor,
            (mode, _) => mode,
        }
    }
}

/// What `block` can stop: exec or open, decided before the operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockTarget {
    /// `execve`/`execveat`.
    Exec,
    /// `open`/`openat`/`openat2`/`creat`.
    Open,
}

const EXEC_TYPES: &[&str] = &["execve", "execveat"];
const OPEN_TYPES: &[&str] = &["open", "openat", "openat2", "creat"];

/// What a rule with `block` blocks, from the event types its condition can
/// match; an error when they are not all execs or all opens (the hook
/// decides before the operation, on exec or open only).
pub fn block_target(event_types: Option<&BTreeSet<String>>) -> Result<BlockTarget, String> {
    let why = "action 'block' needs a condition that matches only exec events \
               (evt.type in (execve, execveat)) or only open events \
               (evt.type in (open, openat, openat2, creat))";
    let Some(types) = event_types.filter(|t| !t.is_empty()) else {
        return Err(why.into());
    };
    if types.iter().all(|t| EXEC_TYPES.contains(&t.as_str())) {
        Ok(BlockTarget::Exec)
    } else if types.iter().all(|t| OPEN_TYPES.contains(&t.as_str())) {
        Ok(BlockTarget::Open)
    } else {
        Err(format!(
            "{why}; this one matches {}",
            types.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_set_to_monitor_stays_a_dry_run_under_enforce() {
        let a = RuleActions {
            kinds: vec![ActionKind::Kill],
            mode: Some(ActionMode::Monitor),
        };
        assert_eq!(a.effective_mode(ActionMode::Enforce), ActionMode::Monitor);
        let b = RuleActions {
            mode: Some(ActionMode::Enforce),
            ..a.clone()
        };
        assert_eq!(b.effective_mode(ActionMode::Monitor), ActionMode::Monitor);
        assert_eq!(b.effective_mode(ActionMode::Enforce), ActionMode::Enforce);
    }

    #[test]
    fn block_needs_exec_only_or_open_only() {
        let set = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            block_target(Some(&set(&["execve", "execveat"]))),
            Ok(BlockTarget::Exec)
        );
        assert_eq!(block_target(Some(&set(&["openat"]))), Ok(BlockTarget::Open));
        assert!(block_target(Some(&set(&["execve", "openat"]))).is_err());
        assert!(block_target(Some(&set(&["connect"]))).is_err());
        assert!(block_target(None).is_err());
    }
}
