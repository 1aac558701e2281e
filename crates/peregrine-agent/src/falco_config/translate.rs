//! The merged Falco keys onto [`Settings`]: rules, the minimum priority,
//! outputs (Falco's order: file, stdout, syslog, program, http) and their
//! format; what cannot be honoured is listed.

use super::model::{FalcoFile, HttpOutput, KNOWN};
use super::{invalid, FalcoConfig, FalcoConfigError};
use crate::config::Settings;
use crate::sinks::SinkConfig;
use peregrine_rules::Priority;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Translate merged keys (`root` is the merged map, for the keys ignored);
/// `main` names the configuration in errors.
pub fn translate(
    f: &FalcoFile,
    root: &Map<String, Value>,
    main: &Path,
) -> Result<FalcoConfig, FalcoConfigError> {
    let mut notes = Vec::new();
    let settings = Settings {
        rules: rules(f, main, &mut notes)?,
        outputs: outputs(f, main, &mut notes)?,
        time_format_iso_8601: f.time_format_iso_8601.unwrap_or(false),
        min_priority: min_priority(f, main)?,
        append_output: append_output(f, main)?,
        ..Settings::default()
    };
    not_honoured(f, &mut notes);
    Ok(FalcoConfig {
        settings,
        files: Vec::new(),
        ignored: ignored_keys(root),
        notes,
    })
}

/// `rules_files` (or the older `rules_file`; both is an error, as in
/// Falco). Entries that do not exist are skipped, as Falco skips them.
fn rules(
    f: &FalcoFile,
    main: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<PathBuf>, FalcoConfigError> {
    let list = match (&f.rules_files, &f.rules_file) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                main,
                "both 'rules_files' and 'rules_file' keys set",
            ));
        }
        (Some(l), None) => l.clone(),
        (None, Some(l)) => {
            notes.push(
                "deprecated key 'rules_file' (singular) read; Falco now spells it 'rules_files'"
                    .into(),
            );
            l.clone()
        }
        (None, None) => Vec::new(),
    };
    let (present, missing): (Vec<PathBuf>, Vec<PathBuf>) =
        list.into_iter().partition(|p| p.exists());
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        notes.push(format!(
            "rules_files: skipped (they do not exist, as Falco skips them): {}",
            names.join(", ")
        ));
    }
    Ok(present)
}

fn min_priority(f: &FalcoFile, main: &Path) -> Result<Priority, FalcoConfigError> {
    let p = f.priority.as_deref().unwrap_or("debug");
    Priority::parse(p).ok_or_else(|| {
        invalid(
            main,
            format!(
                "Unknown priority \"{p}\"--must be one of emergency, alert, critical, error, warning, notice, informational, debug"
            ),
        )
    })
}

fn sink(main: &Path, v: Value) -> Result<SinkConfig, FalcoConfigError> {
    let map = match v {
        Value::Object(m) => m,
        other => Map::from_iter([("type".to_string(), other)]),
    };
    SinkConfig::from_map(map).map_err(|e| invalid(main, e.to_string()))
}

/// `*_output` blocks to sinks, in Falco's order.
/// The local syslog socket `syslog_output` writes to.
const DEV_LOG: &str = "/dev/log";

fn outputs(
    f: &FalcoFile,
    main: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<SinkConfig>, FalcoConfigError> {
    let json = f.json_output.unwrap_or(false);
    // The JSON properties (json_include_*), for the outputs writing JSON.
    let include = json.then(|| {
        json!({
            "output": f.json_include_output_property.unwrap_or(true),
            "output_fields": f.json_include_output_fields_property.unwrap_or(true),
            "tags": f.json_include_tags_property.unwrap_or(true),
            "message": f.json_include_message_property.unwrap_or(false),
        })
    });
    let shaped = |mut v: Value| {
        if let Some(i) = &include {
            v["json_include"] = i.clone();
        }
        v
    };
    let on = |e: Option<bool>| e.unwrap_or(false);
    let mut out = Vec::new();
    if let Some(file) = f.file_output.as_ref().filter(|o| on(o.enabled)) {
        let Some(path) = file.filename.as_ref().filter(|p| !p.as_os_str().is_empty()) else {
            return Err(invalid(
                main,
                "file output enabled but no filename in configuration block",
            ));
        };
        let format = if json { "json" } else { "text" };
        out.push(sink(
            main,
            shaped(json!({"type": "file", "path": path, "max_mb": 0, "format": format})),
        )?);
    }
    if f.stdout_output.as_ref().is_some_and(|o| on(o.enabled)) {
        let format = if json { "json" } else { "text" };
        out.push(sink(
            main,
            shaped(json!({"type": "stdout", "format": format})),
        )?);
    }
    if f.syslog_output.as_ref().is_some_and(|o| on(o.enabled)) && !Path::new(DEV_LOG).exists() {
        // Falco's syslog(3) drops messages silently without a syslog daemon.
        notes.push(format!(
            "syslog_output: {DEV_LOG} does not exist (no syslog daemon): skipped"
        ));
    } else if f.syslog_output.as_ref().is_some_and(|o| on(o.enabled)) {
        out.push(sink(
            main,
            json!({"type": "syslog", "target": "unix:///dev/log", "facility": 1}),
        )?);
    }
    if let Some(p) = f.program_output.as_ref().filter(|o| on(o.enabled)) {
        let Some(program) = p.program.as_ref().filter(|p| !p.is_empty()) else {
            return Err(invalid(
                main,
                "program output enabled but no program in configuration block",
            ));
        };
        out.push(sink(
            main,
            shaped(json!({"type": "program", "program": program,
                   "keep_alive": p.keep_alive.unwrap_or(false),
                   "format": if json { "json" } else { "text" }})),
        )?);
    }
    if let Some(h) = f.http_output.as_ref().filter(|o| on(o.enabled)) {
        out.push(sink(main, shaped(http(h, main, json)?))?);
    }
    Ok(out)
}

fn http(h: &HttpOutput, main: &Path, json: bool) -> Result<Value, FalcoConfigError> {
    let Some(url) = h.url.as_ref().filter(|u| !u.is_empty()) else {
        return Err(invalid(
            main,
            "http output enabled but no url in configuration block",
        ));
    };
    let agent = h
        .user_agent
        .clone()
        .unwrap_or_else(|| "falcosecurity/falco".into());
    let mut v = json!({
        "type": "webhook", "url": url, "headers": {"User-Agent": agent},
        "batch": 1, "format": if json { "json" } else { "text" },
    });
    if let Some(ca) = [&h.ca_cert, &h.ca_bundle]
        .into_iter()
        .flatten()
        .find(|c| !c.is_empty())
    {
        v["ca"] = json!(ca);
    }
    Ok(v)
}

/// `append_output`, checked (fields exist, formats compile).
fn append_output(
    f: &FalcoFile,
    main: &Path,
) -> Result<Vec<crate::append_output::AppendOutput>, FalcoConfigError> {
    let list = f.append_output.clone().unwrap_or_default();
    let list: Vec<crate::append_output::AppendOutput> = serde_json::from_value(Value::Array(list))
        .map_err(|e| invalid(main, format!("append_output: {e}")))?;
    crate::append_output::Appender::compile(&list).map_err(|e| invalid(main, e))?;
    Ok(list)
}

/// Keys read whose value Peregrine does not honour.
fn not_honoured(f: &FalcoFile, notes: &mut Vec<String>) {
    let mut unmet = Vec::new();
    let mut flag = |key: &str, set: bool| {
        if set {
            unmet.push(key.to_string());
        }
    };
    flag(
        "outputs_queue.capacity (Peregrine's alert queue is bounded at 4096)",
        f.outputs_queue
            .as_ref()
            .and_then(|q| q.capacity)
            .is_some_and(|c| c > 0),
    );

    if let Some(h) = f.http_output.as_ref().filter(|h| h.enabled == Some(true)) {
        flag("http_output.insecure: true", h.insecure == Some(true));
        flag("http_output.mtls: true", h.mtls == Some(true));
        flag("http_output.echo: true", h.echo == Some(true));
        flag(
            "http_output.compress_uploads: true",
            h.compress_uploads == Some(true),
        );
        flag(
            "http_output.ca_path (only ca_cert/ca_bundle files are read)",
            h.ca_path
                .as_deref()
                .is_some_and(|p| !p.is_empty() && p != "/etc/ssl/certs"),
        );
    }
    if !unmet.is_empty() {
        notes.push(format!("read but not honoured: {}", unmet.join("; ")));
    }
}

/// Top-level keys Peregrine does not read, in name order.
pub(super) fn ignored_keys(root: &Map<String, Value>) -> Vec<String> {
    root.keys()
        .filter(|k| !KNOWN.contains(&k.as_str()))
        .cloned()
        .collect()
}
