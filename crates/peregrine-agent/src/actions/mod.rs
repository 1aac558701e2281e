//! Response actions: what the agent does about a rule's match besides
//! alerting (`actions:` on a rule, see [`peregrine_rules::actions`]). Each
//! action lives in its own directory and is registered in [`build`]; the
//! mechanisms are `peregrine-respond`'s.
//!
//! The agent runs in **monitor** mode unless configured with
//! `response: {mode: enforce}` or `--enforce`: every action is then only
//! reported in the alert (`response.kill: would kill pid 42 …`) and counted
//! in `/metrics`, so a policy can be watched before it is switched on. A
//! rule with `action_mode: monitor` stays a dry run under `--enforce`.

pub mod block;
pub mod container;
pub mod kill;
pub mod quarantine;

use crate::alert::Alert;
use peregrine_rules::actions::{ActionKind, ActionMode, RuleActions};
use serde::Deserialize;
use std::path::PathBuf;

/// `response:` in the agent configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseSettings {
    /// `monitor` (report what would be done) or `enforce` (act).
    pub mode: Mode,
    /// Longest an exec or open waits for a `block` decision, in ms; then
    /// it is allowed (`fail_mode: open`) or denied (`closed`).
    pub block_timeout_ms: u64,
    /// What a `block` request gets when no decision arrives in time.
    pub fail_mode: peregrine_respond::block::FailMode,
    /// Path prefixes never blocked, besides init, systemd and sshd.
    pub exempt_paths: Vec<PathBuf>,
    /// Where `quarantine` moves files (created 0700).
    pub quarantine_dir: PathBuf,
    /// Seconds `stop_container` gives the container after SIGTERM before
    /// SIGKILL.
    pub stop_grace_s: u32,
}

impl Default for ResponseSettings {
    fn default() -> Self {
        ResponseSettings {
            mode: Mode::Monitor,
            block_timeout_ms: 1000,
            fail_mode: peregrine_respond::block::FailMode::Open,
            exempt_paths: Vec::new(),
            quarantine_dir: PathBuf::from("/var/lib/peregrine/quarantine"),
            stop_grace_s: 2,
        }
    }
}

/// The agent's response mode (serde: `monitor` / `enforce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Report only.
    #[default]
    Monitor,
    /// Act.
    Enforce,
}

impl From<Mode> for ActionMode {
    fn from(m: Mode) -> ActionMode {
        match m {
            Mode::Monitor => ActionMode::Monitor,
            Mode::Enforce => ActionMode::Enforce,
        }
    }
}

/// What a match's actions act on, taken from the event when it was raised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Thread-group id of the event's process.
    pub pid: u32,
    /// The event's file: the path of a file event, the executable of an exec.
    pub file: Option<String>,
    /// Container id of the event's process.
    pub container: Option<String>,
}

/// The actions a match asks for and what they act on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planned {
    /// The rule's actions.
    pub actions: RuleActions,
    /// What they act on.
    pub target: Target,
}

/// What an action did about one match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The action does not apply to this match (e.g. no file to quarantine).
    Skipped(String),
    /// Done; what was done.
    Done(String),
    /// Tried and failed, and why.
    Failed(String),
}

/// A response action (one per directory here).
pub trait Action: Send {
    /// Which `actions:` entry it carries out.
    fn kind(&self) -> ActionKind;
    /// What it would do to `target` in monitor mode (`Err`: why it would
    /// not apply).
    fn plan(&self, target: &Target) -> Result<String, String>;
    /// Do it.
    fn act(&mut self, alert: &Alert, target: &Target) -> Outcome;
}

/// Every action the agent can take, built from the settings. `block` is
/// not here: it is decided before the operation runs ([`block`]).
pub fn build(settings: &crate::config::Settings) -> Vec<Box<dyn Action>> {
    let r = &settings.response;
    vec![
        Box::new(kill::Kill::process()),
        Box::new(kill::Kill::tree()),
        Box::new(quarantine::Quarantine::new(r.quarantine_dir.clone())),
        Box::new(container::Container::pause(settings.docker_socket.clone())),
        Box::new(container::Container::stop(
            settings.docker_socket.clone(),
            r.stop_grace_s,
        )),
    ]
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn the_response_section_is_read_and_a_typo_is_an_error_with_its_place() {
        let text = "response:\n  mode: enforce\n  block_timeout_ms: 250\n  fail_mode: closed\n  exempt_paths: [/opt/agent/]\n";
        let s = Settings::from_yaml("p.yaml", text, None).expect("loads");
        assert_eq!(s.response.mode, super::Mode::Enforce);
        assert_eq!(s.response.block_timeout_ms, 250);
        assert_eq!(
            s.response.fail_mode,
            peregrine_respond::block::FailMode::Closed
        );
        assert_eq!(Settings::default().response.mode, super::Mode::Monitor);
        let errs = Settings::from_yaml(
            "p.yaml",
            "response:\n  mode: enforce\n  fail_mod: open\n",
            None,
        )
        .expect_err("a typo");
        let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert!(
            all.iter()
                .any(|e| e.starts_with("p.yaml:3:") && e.contains("fail_mod")),
            "{all:?}"
        );
        let errs = Settings::from_yaml("p.yaml", "response: {mode: sometimes}\n", None)
            .expect_err("a bad mode");
        assert!(
            errs.iter().any(|e| e.to_string().contains("sometimes")),
            "{errs:?}"
        );
    }
}
