//! The agent's stages, each with one job and its own thread(s), metrics and
//! shutdown; [`crate::pipeline`] wires them:
//!
//! ```text
//! sensor (pg-sensor) → state (main thread) → detect (pg-rules-N, or inline)
//!   → sinks thread (pg-sinks): route → respond → deliver to each sink
//! k8s audit (pg-k8s-audit webhook, pg-k8s-audit-file) → sinks thread
//! ```

pub mod anomaly;
pub mod audit;
pub mod detect;
pub mod profile;
pub mod respond;
pub mod route;
pub mod sensor;
pub mod sequence;
pub mod sinks;
pub mod source;
pub mod state;
