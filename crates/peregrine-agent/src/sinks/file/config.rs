//! Settings of the file sink: `file:PATH[,max_mb=N,keep=N,format=text]` or
//! `{type: file, path: PATH, max_mb: N, keep: N, format: text}`.

use crate::sinks::registry::SinkKind;
use crate::sinks::shared::Shared;
use crate::sinks::shorthand::Options;
use crate::sinks::stdout::StdoutFormat;
use peregrine_rules::Priority;
use std::path::PathBuf;

fn default_max_mb() -> u64 {
    100
}

fn default_keep() -> usize {
    5
}

/// The file sink's own settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// `path`: the file (created if absent, appended to).
    pub path: PathBuf,
    /// `max_mb`: rotate when the file would exceed this many MiB (0: never;
    /// default 100).
    #[serde(default = "default_max_mb")]
    pub max_mb: u64,
    /// `keep`: rotated files kept (`PATH.1` newest; default 5).
    #[serde(default = "default_keep")]
    pub keep: usize,
    /// `format`: `json` (default: one alert JSON object per line) or `text`
    /// (the alert's output line, as Falco writes it without json_output).
    #[serde(default = "json_lines")]
    pub format: StdoutFormat,
    /// `json_include`: which JSON properties (see [`crate::sinks::shared::shape`]).
    #[serde(default)]
    pub json_include: crate::sinks::shared::JsonShape,
}

fn json_lines() -> StdoutFormat {
    StdoutFormat::Json
}

/// What the file sink runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct FileConfig {
    /// Path.
    pub path: PathBuf,
    /// Rotate when the file exceeds this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: usize,
    /// Text lines instead of JSON lines.
    pub text: bool,
    /// JSON properties included.
    pub shape: crate::sinks::shared::JsonShape,
    /// Minimum priority.
    pub min_priority: Priority,
}

impl SinkKind for FileConfig {
    const NAMES: &'static [&'static str] = &["file"];
    type Settings = FileSettings;

    fn shorthand(
        _kind: &str,
        arg: Option<&str>,
        opts: &mut Options<'_>,
    ) -> Result<FileSettings, String> {
        let path = match arg {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => return Err("file needs a path: file:PATH".into()),
        };
        Ok(FileSettings {
            path,
            max_mb: opts.take_parsed("max_mb")?.unwrap_or(default_max_mb()),
            keep: opts.take_parsed("keep")?.unwrap_or(default_keep()),
            format: match opts.take("format") {
                None | Some("json") => StdoutFormat::Json,
                Some("text") => StdoutFormat::Text,
                Some(v) => return Err(format!("format '{v}' is not json or text")),
            },
            json_include: Default::default(),
        })
    }

    fn resolve(_kind: &str, s: FileSettings, shared: Shared) -> Result<FileConfig, String> {
        if s.path.as_os_str().is_empty() {
            return Err("file needs a path".into());
        }
        Ok(FileConfig {
            path: s.path,
            max_bytes: s.max_mb << 20,
            keep: s.keep,
            text: s.format == StdoutFormat::Text,
            shape: s.json_include,
            min_priority: shared.min,
        })
    }
}
