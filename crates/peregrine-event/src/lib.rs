//! Peregrine's event model.
//!
//! * [`abi`]: `#[repr(C)]` mirrors of the kernel record layouts defined once
//!   in `bpf/include/peregrine_event.h`.
//! * [`decode`]: raw record → [`Event`], defensive against hostile input.
//! * [`event`]: the owned event every later stage (state, rules, sinks) uses.
#![deny(missing_docs)]

pub mod abi;
pub mod alert;
pub mod decode;
pub mod event;
pub mod kind;
pub mod model;
pub mod time;
pub mod wire;

pub use alert::{Alert, Priority};
pub use decode::{decode, Clock, DecodeError};
pub use event::*;
pub use kind::{Category, EventKind, Syscall, UnknownName};
pub use model::{ContainerView, OwnerRef, ProcessView, Workload};
