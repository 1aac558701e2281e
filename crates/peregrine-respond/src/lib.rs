//! Peregrine response mechanisms, as a library the agent's respond stage drives.
//!
//! - [`block`]: synchronous exec/open blocking with fanotify permission events.
//! - [`network`]: cgroup network isolation (`isolate` with undo) with cgroup sock programs.
//! - [`kill`]: kill a process or its whole tree.
//! - [`quarantine`]: move a file into a 0700 quarantine directory, and restore it.
//! - [`probe`]: which mechanism backs each action on this kernel.
//!
//! See docs/RESPONSE.md for the capabilities each needs and how to roll back.
#![deny(missing_docs)]

pub mod block;
pub mod kill;
pub mod network;
pub mod probe;
pub mod quarantine;
