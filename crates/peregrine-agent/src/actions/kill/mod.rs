//! `kill` and `kill_tree`: SIGKILL the matching process (and its
//! descendants), through pidfds so a reused pid is never signalled
//! (`peregrine_respond::kill`). PID 1, the agent and its ancestors are
//! refused.

use super::{Action, Outcome, Target};
use crate::alert::Alert;
use peregrine_respond::kill::{kill, KillConfig};
use peregrine_rules::actions::ActionKind;

/// Kills the process, or its whole tree.
pub struct Kill {
    tree: bool,
}

impl Kill {
    /// `kill`: the process alone.
    pub fn process() -> Kill {
        Kill { tree: false }
    }

    /// `kill_tree`: the process and every descendant.
    pub fn tree() -> Kill {
        Kill { tree: true }
    }

    fn what(&self, pid: u32) -> String {
        if self.tree {
            format!("the process tree of pid {pid}")
        } else {
            format!("pid {pid}")
        }
    }
}

impl Action for Kill {
    fn kind(&self) -> ActionKind {
        if self.tree {
            ActionKind::KillTree
        } else {
            ActionKind::Kill
        }
    }

    fn plan(&self, target: &Target) -> Result<String, String> {
        match target.pid {
            0 => Err("no process".into()),
            pid => Ok(format!("kill {}", self.what(pid))),
        }
    }

    fn act(&mut self, _alert: &Alert, target: &Target) -> Outcome {
        if target.pid == 0 {
            return Outcome::Skipped("no process".into());
        }
        let config = KillConfig {
            tree: self.tree,
            protected_pids: Vec::new(),
        };
        match kill(target.pid, &config) {
            Ok(r) if r.killed.is_empty() => {
                Outcome::Done(format!("{} had already exited", self.what(target.pid)))
            }
            Ok(r) => Outcome::Done(format!(
                "killed {} ({} process{})",
                self.what(target.pid),
                r.killed.len(),
                if r.killed.len() == 1 { "" } else { "es" }
            )),
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}
