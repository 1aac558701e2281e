//! Payloads of the HTTP flavours, and whether the destination accepted one.

use super::HttpFormat;
use crate::alert::Alert;

/// Encode a batch of alert JSON lines for the destination; returns the body
/// and its content type.
pub fn payload(format: &HttpFormat, lines: &[String]) -> (String, &'static str) {
    let alerts = || {
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Alert>(l).ok())
    };
    match format {
        HttpFormat::Json if lines.len() == 1 => (lines[0].clone(), "application/json"),
        HttpFormat::Json => (format!("[{}]", lines.join(",")), "application/json"),
        HttpFormat::Text => {
            let texts: Vec<String> = alerts().map(|a| a.output).collect();
            (texts.join("\n"), "text/plain")
        }
        HttpFormat::Slack => {
            let texts: Vec<String> = alerts()
                .map(|a| serde_json::json!({ "text": format!("[{}] {}: {}", a.priority, a.rule, a.output) }).to_string())
                .collect();
            (texts.join("\n"), "application/json")
        }
        HttpFormat::ElasticBulk { index } => {
            let mut body = String::new();
            for (a, line) in alerts().zip(lines) {
                body.push_str(
                    &serde_json::json!({ "index": { "_index": index, "_id": a.id } }).to_string(),
                );
                body.push('\n');
                body.push_str(line);
                body.push('\n');
            }
            (body, "application/x-ndjson")
        }
        HttpFormat::SplunkHec => {
            let mut body = String::new();
            for a in alerts() {
                let time = crate::alert::parse_rfc3339(&a.time) as f64 / 1e9;
                let host = a.hostname.clone();
                body.push_str(
                    &serde_json::json!({
                        "time": time, "host": host, "source": "peregrine", "sourcetype": "falco", "event": a
                    })
                    .to_string(),
                );
            }
            (body, "application/json")
        }
        HttpFormat::Loki => {
            let mut streams: std::collections::BTreeMap<(String, String), Vec<[String; 2]>> =
                Default::default();
            for (a, line) in alerts().zip(lines) {
                let ts = crate::alert::parse_rfc3339(&a.time).to_string();
                streams
                    .entry((a.priority.to_string(), a.hostname.clone()))
                    .or_default()
                    .push([ts, line.clone()]);
            }
            let streams: Vec<serde_json::Value> = streams
                .into_iter()
                .map(|((priority, host), values)| {
                    serde_json::json!({
                        "stream": { "job": "peregrine", "priority": priority, "hostname": host },
                        "values": values
                    })
                })
                .collect();
            (
                serde_json::json!({ "streams": streams }).to_string(),
                "application/json",
            )
        }
    }
}

/// Did the destination accept everything? (`_bulk` answers 200 with
/// `"errors": true` when some documents failed.)
pub(super) fn accepted(format: &HttpFormat, body: &str) -> bool {
    match format {
        HttpFormat::ElasticBulk { .. } => serde_json::from_str::<serde_json::Value>(body)
            .map(|v| v.get("errors").and_then(|e| e.as_bool()) != Some(true))
            .unwrap_or(true),
        _ => true,
    }
}
