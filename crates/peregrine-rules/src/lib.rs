//! Falco-compatible rule language for Peregrine.
#![deny(missing_docs)]

pub mod actions;
pub mod analysis;
pub mod ast;
pub mod compile;
pub mod context;
pub mod diag;
pub mod engine;
pub mod eval;
pub mod fields;
pub mod limits;
pub mod loader;
pub mod names;
pub mod optimize;
pub mod output;
pub mod parser;
pub mod program;
pub mod yaml;
pub use diag::{Diagnostic, LoadError};
pub use engine::{Engine, Match, Stats};
pub use loader::Priority;
pub mod ruletest;
pub mod sequence;
pub mod sigma;
pub mod sources;
pub mod threshold;
