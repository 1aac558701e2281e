//! Which of Falco's JSON properties an alert line carries: Falco's
//! `json_include_output_property`, `json_include_output_fields_property`,
//! `json_include_tags_property` and `json_include_message_property`, as the
//! `json_include` map of the JSON-writing sinks (stdout, file, program,
//! webhook): `json_include: {output: false, tags: false, message: true}`.

use crate::alert::Alert;
use serde::Deserialize;
use serde_json::Value;

/// The properties included (Falco's defaults: all but `message`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonShape {
    /// `output`: the output line.
    pub output: bool,
    /// `output_fields`: the values of the output's fields.
    pub output_fields: bool,
    /// `tags`: the rule's tags.
    pub tags: bool,
    /// `message`: the output without its time and priority.
    pub message: bool,
}

impl Default for JsonShape {
    fn default() -> Self {
        JsonShape {
            output: true,
            output_fields: true,
            tags: true,
            message: false,
        }
    }
}

/// The output without its leading `TIME: Priority `.
fn message(output: &str) -> &str {
    output
        .split_once(": ")
        .and_then(|(_, rest)| rest.split_once(' '))
        .map_or(output, |(_, m)| m)
}

impl JsonShape {
    /// Every default property, nothing added: the alert as it serializes.
    pub fn is_full(&self) -> bool {
        *self == JsonShape::default()
    }

    /// Apply to an alert's JSON object.
    fn apply(&self, v: &mut Value) {
        let Some(obj) = v.as_object_mut() else {
            return;
        };
        if self.message {
            let m = obj
                .get("output")
                .and_then(Value::as_str)
                .map(|o| message(o).to_string());
            if let Some(m) = m {
                obj.insert("message".into(), Value::String(m));
            }
        }
        for (keep, key) in [
            (self.output, "output"),
            (self.output_fields, "output_fields"),
            (self.tags, "tags"),
        ] {
            if !keep {
                obj.remove(key);
            }
        }
    }

    /// The alert's JSON line (without the newline).
    pub fn encode(&self, alert: &Alert) -> serde_json::Result<Vec<u8>> {
        if self.is_full() {
            return serde_json::to_vec(alert);
        }
        let mut v = serde_json::to_value(alert)?;
        self.apply(&mut v);
        serde_json::to_vec(&v)
    }

    /// Reshape an alert JSON line already encoded in full (disk-buffered
    /// sinks keep full lines); a line that is not JSON is kept.
    pub fn reshape(&self, line: &str) -> String {
        if self.is_full() {
            return line.to_string();
        }
        match serde_json::from_str::<Value>(line) {
            Ok(mut v) => {
                self.apply(&mut v);
                v.to_string()
            }
            Err(_) => line.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peregrine_rules::Priority;

    fn alert() -> Alert {
        Alert {
            time: "2026-11-25T13:00:00.000000000Z".into(),
            rule: "R".into(),
            priority: Priority::Warning,
            source: "syscall".into(),
            hostname: "h1".into(),
            output: "2026-11-25T13:00:00.000000000Z: Warning Opened x by bash".into(),
            output_fields: [("proc.name".to_string(), "bash".to_string())].into(),
            tags: vec!["t".into()],
            id: "a1".into(),
            count: 1,
            container: None,
            ancestry: vec![],
        }
    }

    #[test]
    fn properties_are_dropped_and_the_message_added_as_asked() {
        let full: Value =
            serde_json::from_slice(&JsonShape::default().encode(&alert()).unwrap()).unwrap();
        assert!(full.get("output").is_some() && full.get("message").is_none());
        let lean = JsonShape {
            output: false,
            output_fields: false,
            tags: false,
            message: true,
        };
        let v: Value = serde_json::from_slice(&lean.encode(&alert()).unwrap()).unwrap();
        for gone in ["output", "output_fields", "tags"] {
            assert!(v.get(gone).is_none(), "{gone} in {v}");
        }
        assert_eq!(v["message"], "Opened x by bash");
        assert_eq!(v["rule"], "R");
        let again: Value =
            serde_json::from_str(&lean.reshape(&serde_json::to_string(&alert()).unwrap())).unwrap();
        assert_eq!(again, v);
        assert_eq!(
            message("13:00:00.000000000: Notice text: here"),
            "text: here"
        );
    }
}
