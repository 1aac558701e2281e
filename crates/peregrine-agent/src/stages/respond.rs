//! Response: the actions a matched rule asks for (`actions:`), run on the
//! sink thread after the threshold and before dedup, so every match acts
//! (two processes raising identical alerts are both killed) and what was
//! done — or in monitor mode, what would have been — is recorded in the
//! alert (`response.<action>` in `output_fields`) and counted in
//! `/metrics`. `block` is decided earlier, before the operation runs (see
//! [`crate::actions::block`]); here it only reports a match that was not
//! blocked.

use crate::actions::{Action, Outcome, Planned};
use crate::alert::Alert;
use crate::metrics::{Metrics, ResponseLabel};
use peregrine_rules::actions::{ActionKind, ActionMode};
use std::sync::Arc;

/// Runs the actions each match asks for.
pub struct Responder {
    mode: ActionMode,
    actions: Vec<Box<dyn Action>>,
    /// Whether a blocker runs (enforce mode with a `block` rule).
    blocking: bool,
    metrics: Option<Arc<Metrics>>,
    /// Actions done.
    pub done: u64,
    /// Actions that failed.
    pub failed: u64,
}

impl Default for Responder {
    fn default() -> Self {
        Responder::new(ActionMode::Monitor, Vec::new(), None)
    }
}

impl Responder {
    /// A responder in `mode` with these actions, counting into `metrics`.
    pub fn new(
        mode: ActionMode,
        actions: Vec<Box<dyn Action>>,
        metrics: Option<Arc<Metrics>>,
    ) -> Responder {
        Responder {
            mode,
            actions,
            blocking: false,
            metrics,
            done: 0,
            failed: 0,
        }
    }

    /// Note that a blocker is running (enforced `block` rules are decided
    /// before the operation).
    pub fn set_blocking(&mut self, on: bool) {
        self.blocking = on;
    }

    /// Carry out `planned` for `alert`, recording each outcome in it.
    pub fn respond(&mut self, alert: &mut Alert, planned: Option<&Planned>) {
        let Some(planned) = planned else { return };
        let mode = planned.actions.effective_mode(self.mode);
        for &kind in &planned.actions.kinds {
            let (outcome, text) = self.one(kind, mode, alert, planned);
            if let Some(m) = &self.metrics {
                m.response_actions
                    .get_or_create(&ResponseLabel {
                        action: kind.name().into(),
                        outcome: outcome.into(),
                    })
                    .inc();
            }
            match outcome {
                "done" => self.done += 1,
                "failed" => {
                    self.failed += 1;
                    tracing::warn!(
                        action = kind.name(),
                        rule = alert.rule,
                        "response failed: {text}"
                    );
                }
                _ => {}
            }
            alert
                .output_fields
                .insert(format!("response.{}", kind.name()), text);
        }
    }

    /// One action: (outcome label, what to record).
    fn one(
        &mut self,
        kind: ActionKind,
        mode: ActionMode,
        alert: &Alert,
        planned: &Planned,
    ) -> (&'static str, String) {
        if kind == ActionKind::Block {
            return match (mode, self.blocking) {
                (ActionMode::Monitor, _) => ("monitor", "would block (monitor mode)".into()),
                (ActionMode::Enforce, true) => (
                    "missed",
                    "not blocked: the operation ran (the decision timed out, or the rule reads what is not known before it runs)".into(),
                ),
                (ActionMode::Enforce, false) => (
                    "failed",
                    "failed: no blocking mechanism is running (fanotify unavailable)".into(),
                ),
            };
        }
        let Some(action) = self.actions.iter_mut().find(|a| a.kind() == kind) else {
            return ("failed", format!("failed: action {kind} is not available"));
        };
        let target = &planned.target;
        if mode == ActionMode::Monitor {
            return match action.plan(target) {
                Ok(what) => ("monitor", format!("would {what} (monitor mode)")),
                Err(why) => ("skipped", format!("skipped: {why}")),
            };
        }
        match action.act(alert, target) {
            Outcome::Done(what) => ("done", what),
            Outcome::Skipped(why) => ("skipped", format!("skipped: {why}")),
            Outcome::Failed(why) => ("failed", format!("failed: {why}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::Target;
    use peregrine_rules::actions::RuleActions;

    fn alert() -> Alert {
        serde_json::from_str(
            r#"{"time":"2026-01-01T00:00:00Z","rule":"R","priority":"Warning","source":"syscall","hostname":"h","output":"o","output_fields":{},"tags":[],"id":"1"}"#,
        )
        .expect("an alert")
    }

    fn planned(kinds: &[ActionKind], mode: Option<ActionMode>, pid: u32) -> Planned {
        Planned {
            actions: RuleActions {
                kinds: kinds.to_vec(),
                mode,
            },
            target: Target {
                pid,
                ..Target::default()
            },
        }
    }

    #[test]
    fn without_actions_an_alert_passes_unchanged() {
        let mut r = Responder::default();
        let mut a = alert();
        r.respond(&mut a, None);
        r.respond(&mut a, Some(&planned(&[], None, 7)));
        assert!(a.output_fields.is_empty());
    }

    #[test]
    fn monitor_mode_reports_what_would_be_done_and_does_nothing() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut r = Responder::new(
            ActionMode::Monitor,
            crate::actions::build(&crate::config::Settings::default()),
            None,
        );
        let mut a = alert();
        r.respond(
            &mut a,
            Some(&planned(
                &[ActionKind::Kill, ActionKind::Block, ActionKind::Quarantine],
                None,
                pid,
            )),
        );
        assert_eq!(
            a.output_fields["response.kill"],
            format!("would kill pid {pid} (monitor mode)")
        );
        assert_eq!(
            a.output_fields["response.block"],
            "would block (monitor mode)"
        );
        assert_eq!(
            a.output_fields["response.quarantine"],
            "skipped: the event has no file"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "monitor mode killed the process"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn enforce_mode_kills_unless_the_rule_stays_in_monitor() {
        let mut r = Responder::new(
            ActionMode::Enforce,
            crate::actions::build(&crate::config::Settings::default()),
            None,
        );
        let mut kept = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut a = alert();
        r.respond(
            &mut a,
            Some(&planned(
                &[ActionKind::Kill],
                Some(ActionMode::Monitor),
                kept.id(),
            )),
        );
        assert!(a.output_fields["response.kill"].starts_with("would kill"));
        assert!(kept.try_wait().unwrap().is_none());
        kept.kill().unwrap();
        kept.wait().unwrap();

        let mut doomed = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut a = alert();
        r.respond(
            &mut a,
            Some(&planned(&[ActionKind::Kill], None, doomed.id())),
        );
        assert_eq!(
            a.output_fields["response.kill"],
            format!("killed pid {} (1 process)", doomed.id())
        );
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(doomed.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert_eq!((r.done, r.failed), (1, 0));
    }
}
