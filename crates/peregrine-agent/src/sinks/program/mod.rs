//! A program fed every alert on its standard input, as Falco's
//! `program_output`: `sh -c PROGRAM`, one line per alert (the alert JSON or
//! its text output line), either one run per alert or (`keep_alive`) one
//! long-running program for all of them.

mod config;
mod sink;
#[cfg(test)]
mod tests;

pub use config::{ProgramConfig, ProgramSettings};
pub use sink::ProgramSink;
