//! Standard output: Falco-style text lines or JSON lines.

mod config;
mod sink;
#[cfg(test)]
mod tests;

pub use config::{StdoutConfig, StdoutFormat, StdoutSettings};
pub use sink::StdoutSink;
