//! The keys of Falco's `falco.yaml` that Peregrine reads, typed. Every key
//! is optional (Falco's defaults apply when absent); keys not listed here
//! are not errors: they are reported as ignored (see [`super::ignored_keys`]).

use serde::{Deserialize, Deserializer};
use std::path::PathBuf;

/// One Falco configuration file (or the merge of several).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FalcoFile {
    /// `config_files`: more configuration files or directories, merged
    /// after this one.
    pub config_files: Option<Vec<ConfigFileEntry>>,
    /// `rules_files`: rule files and directories, in order.
    #[serde(deserialize_with = "paths")]
    pub rules_files: Option<Vec<PathBuf>>,
    /// `rules_file`: the key's name before Falco 0.38.
    #[serde(deserialize_with = "paths")]
    pub rules_file: Option<Vec<PathBuf>>,
    /// `json_output`: alerts as JSON (default false: text).
    pub json_output: Option<bool>,
    /// `json_include_output_property` (default true).
    pub json_include_output_property: Option<bool>,
    /// `json_include_message_property` (default false).
    pub json_include_message_property: Option<bool>,
    /// `json_include_output_fields_property` (default true).
    pub json_include_output_fields_property: Option<bool>,
    /// `json_include_tags_property` (default true).
    pub json_include_tags_property: Option<bool>,
    /// `priority`: the minimum priority of rules (default debug).
    pub priority: Option<String>,
    /// `buffered_outputs` (default false: flush on every alert).
    pub buffered_outputs: Option<bool>,
    /// `outputs_queue`.
    pub outputs_queue: Option<OutputsQueue>,
    /// `append_output`.
    pub append_output: Option<Vec<serde_json::Value>>,
    /// `time_format_iso_8601` (default false).
    pub time_format_iso_8601: Option<bool>,
    /// `stdout_output`.
    pub stdout_output: Option<Enabled>,
    /// `syslog_output`.
    pub syslog_output: Option<Enabled>,
    /// `file_output`.
    pub file_output: Option<FileOutput>,
    /// `http_output`.
    pub http_output: Option<HttpOutput>,
    /// `program_output`.
    pub program_output: Option<ProgramOutput>,
}

/// The top-level keys of [`FalcoFile`], as Falco spells them.
pub const KNOWN: &[&str] = &[
    "config_files",
    "rules_files",
    "rules_file",
    "json_output",
    "json_include_output_property",
    "json_include_message_property",
    "json_include_output_fields_property",
    "json_include_tags_property",
    "priority",
    "buffered_outputs",
    "outputs_queue",
    "append_output",
    "time_format_iso_8601",
    "stdout_output",
    "syslog_output",
    "file_output",
    "http_output",
    "program_output",
];

/// How an included configuration file merges into what came before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Sequences are appended to, other keys replaced (Falco's default).
    #[default]
    Append,
    /// Every key replaced.
    Override,
    /// Only keys not yet set are added.
    AddOnly,
}

/// An entry of `config_files`: a path, or `{path, strategy}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigFileEntry {
    /// File or directory.
    pub path: PathBuf,
    /// Merge strategy.
    pub strategy: Strategy,
}

impl<'de> Deserialize<'de> for ConfigFileEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Path(PathBuf),
            Map {
                path: PathBuf,
                #[serde(default)]
                strategy: Strategy,
            },
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Path(path) => ConfigFileEntry {
                path,
                strategy: Strategy::Append,
            },
            Raw::Map { path, strategy } => ConfigFileEntry { path, strategy },
        })
    }
}

/// `outputs_queue`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct OutputsQueue {
    /// `capacity` (0: unbounded).
    pub capacity: Option<u64>,
}

/// An output with only `enabled`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Enabled {
    /// `enabled`.
    pub enabled: Option<bool>,
}

/// `file_output`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileOutput {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `keep_alive`: keep the file open (Peregrine always does).
    #[serde(deserialize_with = "flag")]
    pub keep_alive: Option<bool>,
    /// `filename`.
    pub filename: Option<PathBuf>,
}

/// `http_output`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HttpOutput {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `url`.
    pub url: Option<String>,
    /// `user_agent` (default `falcosecurity/falco`).
    pub user_agent: Option<String>,
    /// `insecure`: skip certificate checks.
    pub insecure: Option<bool>,
    /// `ca_cert`: a CA certificate file.
    pub ca_cert: Option<String>,
    /// `ca_bundle`: a CA bundle file.
    pub ca_bundle: Option<String>,
    /// `ca_path`: a directory of CA certificates.
    pub ca_path: Option<String>,
    /// `mtls`: present a client certificate.
    pub mtls: Option<bool>,
    /// `client_cert`.
    pub client_cert: Option<String>,
    /// `client_key`.
    pub client_key: Option<String>,
    /// `echo`: print the server's answers.
    pub echo: Option<bool>,
    /// `compress_uploads`.
    pub compress_uploads: Option<bool>,
    /// `keep_alive`.
    pub keep_alive: Option<bool>,
    /// `max_consecutive_timeouts`.
    pub max_consecutive_timeouts: Option<u64>,
}

/// `program_output`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProgramOutput {
    /// `enabled`.
    pub enabled: Option<bool>,
    /// `keep_alive`: one long-running program fed every alert (default:
    /// one run per alert).
    #[serde(deserialize_with = "flag")]
    pub keep_alive: Option<bool>,
    /// `program`: a shell command line.
    pub program: Option<String>,
}

/// A path or a list of paths.
fn paths<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<PathBuf>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(Some(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(p)) => vec![p],
        Some(OneOrMany::Many(v)) => v,
    }))
}

/// A boolean, or the strings `true`/`false` (Falco reads `keep_alive` as a
/// string and compares it with "true").
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Option::<Flag>::deserialize(d)? {
        None => None,
        Some(Flag::Bool(b)) => Some(b),
        Some(Flag::Text(t)) => Some(t == "true"),
    })
}
