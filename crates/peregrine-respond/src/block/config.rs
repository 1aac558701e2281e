//! Settings of the fanotify blocker.
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// What a request gets when no decision arrives before the timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Allow the operation (the default: never brick a node).
    #[default]
    Open,
    /// Deny the operation.
    Closed,
}

/// Settings of a [`super::Blocker`] (serde: `deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BlockerConfig {
    /// Mount point whose whole filesystem is marked (`FAN_MARK_FILESYSTEM`).
    pub filesystem: PathBuf,
    /// Watch executions (`FAN_OPEN_EXEC_PERM`).
    pub exec: bool,
    /// Watch opens (`FAN_OPEN_PERM`). Costs a round trip on every open of the
    /// filesystem: only turn on when a policy blocks opens.
    pub open: bool,
    /// Longest time a request waits for its decision, in milliseconds.
    pub timeout_ms: u64,
    /// Answer at the timeout unless the decider's `fail_mode` says otherwise.
    pub fail_mode: FailMode,
    /// Path prefixes never blocked (always allowed without asking the decider).
    pub exempt_paths: Vec<PathBuf>,
    /// Process ids never blocked, besides PID 1 and the agent itself.
    pub exempt_pids: Vec<u32>,
    /// Decision workers (threads calling the decider).
    pub workers: usize,
    /// Entries of the decision cache; 0 disables it.
    pub cache_capacity: usize,
    /// Fork a guardian process that sends SIGCONT to the agent when its
    /// watchdog has not run for `timeout_ms` (agent stopped), and SIGKILL
    /// (which releases the group) after `guardian_kill_after_ms`.
    pub guardian: bool,
    /// See `guardian`; at least 5 × `timeout_ms`.
    pub guardian_kill_after_ms: u64,
}

impl Default for BlockerConfig {
    fn default() -> Self {
        Self {
            filesystem: PathBuf::from("/"),
            exec: true,
            open: false,
            timeout_ms: 1000,
            fail_mode: FailMode::Open,
            exempt_paths: [
                "/sbin/init",
                "/lib/systemd/",
                "/usr/lib/systemd/",
                "/usr/sbin/sshd",
            ]
            .iter()
            .map(PathBuf::from)
            .collect(),
            exempt_pids: Vec::new(),
            workers: 2,
            cache_capacity: 65536,
            guardian: true,
            guardian_kill_after_ms: 10_000,
        }
    }
}

impl BlockerConfig {
    /// The timeout as a [`Duration`] (at least 1 ms).
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// When the guardian kills a stopped agent.
    pub fn guardian_kill_after(&self) -> Duration {
        Duration::from_millis(
            self.guardian_kill_after_ms
                .max(self.timeout_ms.saturating_mul(5)),
        )
    }
}
