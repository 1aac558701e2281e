//! `actions:` and `action_mode:` on a rule (Peregrine extension; see
//! [`crate::actions`]).

use super::Loader;
use crate::actions::{ActionKind, ActionMode, RuleActions};
use crate::diag::Source;
use crate::yaml::Node;
use std::sync::Arc;

impl Loader {
    /// The rule's actions; `None` (after reporting) when they are invalid,
    /// `Some(empty)` when it has none.
    pub(super) fn actions(
        &mut self,
        src: &Arc<Source>,
        node: &Node,
        item: &str,
    ) -> Option<RuleActions> {
        let mut out = RuleActions::default();
        let known = || {
            ActionKind::ALL
                .iter()
                .map(|(_, n)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(list) = node.get("actions") {
            let Some(items) = list.as_seq() else {
                self.err(
                    src,
                    list.pos,
                    item,
                    format!("'actions' must be a list of actions ({})", known()),
                );
                return None;
            };
            for a in items {
                match a.as_str().and_then(ActionKind::parse) {
                    Some(kind) if !out.kinds.contains(&kind) => out.kinds.push(kind),
                    Some(_) => {}
                    None => {
                        self.err(
                            src,
                            a.pos,
                            item,
                            format!(
                                "unknown action '{}': expected one of {}",
                                a.as_str().unwrap_or("(not a name)"),
                                known()
                            ),
                        );
                        return None;
                    }
                }
            }
        }
        if let Some(m) = node.get("action_mode") {
            match m.as_str().and_then(ActionMode::parse) {
                Some(mode) => out.mode = Some(mode),
                None => {
                    self.err(
                        src,
                        m.pos,
                        item,
                        format!(
                            "invalid action_mode '{}': expected monitor or enforce",
                            m.as_str().unwrap_or("")
                        ),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}
