//! Synchronous exec/open blocking.
//!
//! [`fanotify`] holds the kernel interface (a fanotify group with permission
//! events on a whole filesystem); [`Blocker`] runs it: a reader thread that
//! answers exempt and cached requests at once, decision workers that ask a
//! [`Decider`], and a watchdog that answers every request still pending at its
//! deadline, so a slow or stuck decider never hangs the host.
//! BPF-LSM (`bprm_check_security`, `file_open`) would be the first choice
//! where the kernel accepts trampoline programs; [`crate::probe`] reports it.

mod cache;
mod config;
mod decider;
mod engine;
pub mod fanotify;
mod guardian;
mod metrics;
mod procinfo;

pub use config::{BlockerConfig, FailMode};
pub use decider::{AccessKind, AccessRequest, Decider, PathSetDecider, ProcessInfo, Verdict};
pub use engine::{BlockError, Blocker};
pub use metrics::{BlockMetrics, BlockMetricsSnapshot};
