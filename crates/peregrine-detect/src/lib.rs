//! Detection beyond rules.
//!
//! Behaviour profiles ([`profile`]): what each workload does while it is
//! learned, and drift alerts once it is monitored. The syscall-sequence
//! anomaly model ([`model`]):
//! trained offline on normal system-call traces (ADFA-LD, Creech & Hu 2013),
//! scored one system call at a time by a per-thread sliding-window
//! [`model::Scorer`]; [`live`] runs it in the agent on the sensor's syscall
//! id stream. See `docs/DETECTION.md`.
#![deny(missing_docs)]

pub mod live;
pub mod model;
pub mod profile;
