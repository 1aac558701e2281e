//! Falco's own configuration (`falco.yaml` and its `config_files`, e.g.
//! `/etc/falco/config.d`), read as Falco reads it and translated to
//! [`Settings`]: a Falco user points `peregrine agent --falco-config` at
//! their file and gets the same alerts in the same places.
//!
//! [`model`] is the typed model of the keys read; [`load`] reads the main
//! file and merges the included ones the way Falco does (top-level keys; a
//! sequence is appended to with the `append` strategy, other keys replaced;
//! `override` replaces; `add-only` adds only missing keys; a directory's
//! regular files in lexical order; an entry that does not exist is skipped;
//! an included file may not include others); [`translate`] maps the merged
//! keys onto the agent's settings and sinks, and lists every key it does
//! not honour. `${VAR}` in values is replaced by the environment
//! variable, as Falco does (`env.rs`). YAML errors name `file:line:column`.

mod env;
pub mod model;
#[cfg(test)]
mod tests;
mod translate;

pub use model::FalcoFile;
pub use translate::translate;

use crate::config::Settings;
use model::Strategy;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Why a Falco configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FalcoConfigError {
    /// A file could not be read.
    #[error("cannot read Falco configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Malformed YAML or a key of the wrong type.
    #[error("{file}:{line}:{col}: error: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// Line (1-based; 0 when unknown).
        line: usize,
        /// Column.
        col: usize,
        /// What is wrong.
        message: String,
    },
    /// A configuration Falco also refuses.
    #[error("{file}: error: {message}")]
    Invalid {
        /// The file (the main one for problems of the merged result).
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// A Falco configuration, merged and translated.
#[derive(Debug, Clone)]
pub struct FalcoConfig {
    /// The agent settings it amounts to.
    pub settings: Settings,
    /// Every file read, in merge order.
    pub files: Vec<PathBuf>,
    /// Keys present that Peregrine does not read (dotted for sub-keys).
    pub ignored: Vec<String>,
    /// Other notes: keys read whose value Peregrine cannot honour, rules
    /// entries skipped because they do not exist (as Falco skips them).
    pub notes: Vec<String>,
}

impl FalcoConfig {
    /// Log what was read and, in one warning, which keys are ignored.
    pub fn report(&self) {
        let files: Vec<String> = self.files.iter().map(|p| p.display().to_string()).collect();
        tracing::info!("Falco configuration read from {}", files.join(", "));
        if !self.ignored.is_empty() {
            tracing::warn!(
                "Falco configuration: {} key(s) ignored (no Peregrine equivalent): {}",
                self.ignored.len(),
                self.ignored.join(", ")
            );
        }
        for n in &self.notes {
            tracing::warn!("Falco configuration: {n}");
        }
    }
}

/// Read `path` and the files its `config_files` name, merge them and
/// translate the result.
pub fn load(path: &Path) -> Result<FalcoConfig, FalcoConfigError> {
    let (main, mut root) = read_one(path)?;
    let mut files = vec![path.to_path_buf()];
    let mut notes = Vec::new();
    for entry in main.config_files.clone().unwrap_or_default() {
        if entry.path == path {
            return Err(invalid(
                path,
                format!(
                    "'config_files' tried to include the main configuration file {}",
                    path.display()
                ),
            ));
        }
        for file in included(&entry.path, &mut notes) {
            let (part, map) = read_one(&file)?;
            if part.config_files.is_some() {
                return Err(invalid(
                    &file,
                    "'config_files' in an included configuration file (Falco allows it only in the main one)",
                ));
            }
            merge(&mut root, map, entry.strategy);
            files.push(file);
        }
    }
    let merged: FalcoFile = serde_json::from_value(Value::Object(root.clone()))
        .map_err(|e| invalid(path, format!("the merged configuration: {e}")))?;
    let mut out = translate(&merged, &root, path)?;
    out.files = files;
    notes.append(&mut out.notes);
    out.notes = notes;
    Ok(out)
}

fn invalid(file: &Path, message: impl Into<String>) -> FalcoConfigError {
    FalcoConfigError::Invalid {
        file: file.display().to_string(),
        message: message.into(),
    }
}

/// The files a `config_files` entry stands for: the file, or a directory's
/// regular files in lexical order; nothing (noted) when it does not exist.
fn included(path: &Path, notes: &mut Vec<String>) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let Ok(dir) = std::fs::read_dir(path) else {
        if !path.exists() {
            tracing::debug!("config_files: {} does not exist, skipped", path.display());
        } else {
            notes.push(format!(
                "config_files: {} cannot be listed, skipped",
                path.display()
            ));
        }
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    files
}

/// Read one file: its typed keys (a wrong type is an error with its
/// position) and its top-level map (to merge).
fn read_one(path: &Path) -> Result<(FalcoFile, Map<String, Value>), FalcoConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| FalcoConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let name = path.display().to_string();
    let yaml_err = |e: serde_saphyr::Error| {
        let (line, col) = e
            .location()
            .map_or((0, 0), |l| (l.line() as usize, l.column() as usize));
        let plain = e.without_snippet().to_string();
        let suffix = format!(" at line {line}, column {col}");
        FalcoConfigError::Yaml {
            file: name.clone(),
            line,
            col,
            message: plain.strip_suffix(&suffix).unwrap_or(&plain).to_string(),
        }
    };
    let mut map = match serde_saphyr::from_str::<Option<Value>>(&text).map_err(yaml_err)? {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(invalid(path, "a Falco configuration is a mapping of keys")),
    };
    map.values_mut()
        .for_each(|v| env::expand_tree(v, &|k| std::env::var(k).ok()));
    let typed = serde_saphyr::from_str::<Option<FalcoFile>>(&text)
        .map_err(yaml_err)?
        .unwrap_or_default();
    Ok((typed, map))
}

/// Merge an included file's top-level keys into `root` (Falco's
/// strategies).
fn merge(root: &mut Map<String, Value>, part: Map<String, Value>, strategy: Strategy) {
    for (key, value) in part {
        match strategy {
            Strategy::Append => match (root.get_mut(&key), value) {
                (Some(Value::Array(have)), Value::Array(more)) => have.extend(more),
                (_, Value::Array(more)) => {
                    // Falco appends to whatever is there; a scalar or a
                    // missing key becomes the sequence.
                    root.insert(key, Value::Array(more));
                }
                (_, v) => {
                    root.insert(key, v);
                }
            },
            Strategy::Override => {
                root.insert(key, value);
            }
            Strategy::AddOnly => {
                root.entry(key).or_insert(value);
            }
        }
    }
}
