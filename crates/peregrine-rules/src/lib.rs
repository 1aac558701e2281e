//! Falco-compatible rule language for Peregrine.
#![deny(missing_docs)]

pub mod ast;
pub mod context;
pub mod diag;
pub mod fields;
pub mod names;
pub mod parser;
pub mod yaml;
