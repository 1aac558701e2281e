//! Connection, time and size limits of the server (defaults documented in
//! docs/SECURITY.md; every one is enforced before the work it bounds).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Limits on connections, request timing and request sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// A connection must deliver its request headers within this many
    /// milliseconds of being opened (or of starting the next request).
    pub header_read_ms: u64,
    /// A request body must arrive completely within this many milliseconds.
    pub body_read_ms: u64,
    /// A connection with no request in progress is closed after this many
    /// milliseconds (keep-alive idle).
    pub idle_ms: u64,
    /// Connections open at once, all peers together (further ones first
    /// evict the oldest idle connection, or are refused).
    pub max_connections: usize,
    /// Connections open at once from one peer IP address.
    pub max_connections_per_peer: usize,
    /// Largest request head (start line and headers), bytes.
    pub max_header_bytes: usize,
    /// Largest heartbeat body, bytes.
    pub max_heartbeat_body: usize,
    /// Largest rule-set body, bytes.
    pub max_rules_body: usize,
    /// Largest body of the small API routes (triage, sign-in), bytes.
    pub max_small_body: usize,
    /// How long a one-time sign-in code stays valid, seconds.
    pub sign_in_code_secs: u64,
    /// How long a dashboard session lasts, seconds.
    pub session_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_ms: 10_000,
            body_read_ms: 60_000,
            idle_ms: 60_000,
            max_connections: 4096,
            max_connections_per_peer: 256,
            max_header_bytes: 32 << 10,
            max_heartbeat_body: 64 << 10,
            max_rules_body: 8 << 20,
            max_small_body: 4 << 10,
            sign_in_code_secs: 600,
            session_secs: 12 * 3600,
        }
    }
}

impl Limits {
    /// Header read timeout.
    pub fn header_read(&self) -> Duration {
        Duration::from_millis(self.header_read_ms.max(1))
    }
    /// Body read timeout.
    pub fn body_read(&self) -> Duration {
        Duration::from_millis(self.body_read_ms.max(1))
    }
    /// Idle timeout.
    pub fn idle(&self) -> Duration {
        Duration::from_millis(self.idle_ms.max(1))
    }
    /// The global connection cap, lowered to fit the process's open-file
    /// limit (a quarter of the descriptors stay free for the store, logs
    /// and the listener).
    pub fn effective_max_connections(&self) -> usize {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0;
        let fd_cap = if ok && r.rlim_cur != libc::RLIM_INFINITY {
            (r.rlim_cur as usize).saturating_mul(3) / 4
        } else {
            usize::MAX
        };
        self.max_connections.min(fd_cap).max(1)
    }
}
