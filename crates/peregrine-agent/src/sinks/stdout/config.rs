//! Settings of the stdout sink: `stdout`, `stdout:json`, or
//! `{type: stdout, format: json}`.

use crate::sinks::registry::SinkKind;
use crate::sinks::shared::Shared;
use crate::sinks::shorthand::Options;
use peregrine_rules::Priority;

/// How alerts are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StdoutFormat {
    /// The alert's output line, as Falco prints it.
    #[default]
    Text,
    /// One alert JSON object per line.
    Json,
}

/// The stdout sink's own settings.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSettings {
    /// `format`: `text` (default) or `json`.
    #[serde(default)]
    pub format: StdoutFormat,
    /// `json_include`: which JSON properties (see [`crate::sinks::shared::shape`]).
    #[serde(default)]
    pub json_include: crate::sinks::shared::JsonShape,
}

/// What the stdout sink runs with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StdoutConfig {
    /// JSON lines.
    pub json: bool,
    /// Minimum priority.
    pub min_priority: Priority,
    /// JSON properties included.
    pub shape: crate::sinks::shared::JsonShape,
}

impl Default for StdoutConfig {
    /// Text, every priority.
    fn default() -> Self {
        StdoutConfig {
            json: false,
            min_priority: Priority::Debug,
            shape: Default::default(),
        }
    }
}

impl SinkKind for StdoutConfig {
    const NAMES: &'static [&'static str] = &["stdout"];
    type Settings = StdoutSettings;

    fn shorthand(
        _kind: &str,
        arg: Option<&str>,
        _opts: &mut Options<'_>,
    ) -> Result<StdoutSettings, String> {
        let format = match arg {
            None | Some("text") => StdoutFormat::Text,
            Some("json") => StdoutFormat::Json,
            Some(other) => return Err(format!("stdout:{other}: expected stdout or stdout:json")),
        };
        Ok(StdoutSettings {
            format,
            json_include: Default::default(),
        })
    }

    fn resolve(_kind: &str, s: StdoutSettings, shared: Shared) -> Result<StdoutConfig, String> {
        Ok(StdoutConfig {
            json: s.format == StdoutFormat::Json,
            min_priority: shared.min,
            shape: s.json_include,
        })
    }
}
