//! Settings of the program sink: `program:COMMAND[,keep_alive=true,format=text]`
//! or `{type: program, program: COMMAND, keep_alive: true, format: json}`.

use crate::sinks::registry::SinkKind;
use crate::sinks::shared::Shared;
use crate::sinks::shorthand::Options;
use crate::sinks::stdout::StdoutFormat;
use peregrine_rules::Priority;

/// The program sink's own settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSettings {
    /// `program`: a shell command line (run with `sh -c`).
    pub program: String,
    /// `keep_alive`: start the program once and write every alert to it
    /// (default false: one run per alert, its stdin closed after the line).
    #[serde(default)]
    pub keep_alive: bool,
    /// `format`: `json` (default, the alert JSON) or `text` (its output line).
    #[serde(default = "json")]
    pub format: StdoutFormat,
    /// `json_include`: which JSON properties (see [`crate::sinks::shared::shape`]).
    #[serde(default)]
    pub json_include: crate::sinks::shared::JsonShape,
}

fn json() -> StdoutFormat {
    StdoutFormat::Json
}

/// What the program sink runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramConfig {
    /// Shell command line.
    pub program: String,
    /// One long-running program.
    pub keep_alive: bool,
    /// JSON lines (else text lines).
    pub json: bool,
    /// JSON properties included.
    pub shape: crate::sinks::shared::JsonShape,
    /// Minimum priority.
    pub min_priority: Priority,
}

impl SinkKind for ProgramConfig {
    const NAMES: &'static [&'static str] = &["program"];
    type Settings = ProgramSettings;

    fn shorthand(
        _kind: &str,
        arg: Option<&str>,
        opts: &mut Options<'_>,
    ) -> Result<ProgramSettings, String> {
        let program = match arg {
            Some(p) if !p.trim().is_empty() => p.to_string(),
            _ => return Err("program needs a command: program:COMMAND".into()),
        };
        let keep_alive = match opts.take("keep_alive") {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => return Err(format!("keep_alive '{v}' is not true or false")),
        };
        let format = match opts.take("format") {
            None | Some("json") => StdoutFormat::Json,
            Some("text") => StdoutFormat::Text,
            Some(v) => return Err(format!("format '{v}' is not json or text")),
        };
        Ok(ProgramSettings {
            program,
            keep_alive,
            format,
            json_include: Default::default(),
        })
    }

    fn resolve(_kind: &str, s: ProgramSettings, shared: Shared) -> Result<ProgramConfig, String> {
        if s.program.trim().is_empty() {
            return Err("program needs a command".into());
        }
        Ok(ProgramConfig {
            program: s.program,
            keep_alive: s.keep_alive,
            json: s.format == StdoutFormat::Json,
            shape: s.json_include,
            min_priority: shared.min,
        })
    }
}
