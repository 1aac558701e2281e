//! A JSON-lines file with size-based rotation.

mod config;
mod sink;
#[cfg(test)]
mod tests;

pub use config::{FileConfig, FileSettings};
pub use sink::FileSink;
