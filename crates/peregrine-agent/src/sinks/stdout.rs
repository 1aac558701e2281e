//! Standard output sink.
use super::{Sink, SinkError};
use crate::alert::Alert;
use peregrine_rules::Priority;
use std::io::Write;

/// Writes alerts to stdout as JSON lines or Falco-style text lines.
pub struct StdoutSink {
    json: bool,
    min: Priority,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl StdoutSink {
    /// A stdout sink.
    pub fn new(json: bool, min: Priority) -> StdoutSink {
        StdoutSink {
            json,
            min,
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> &str {
        "stdout"
    }
    fn min_priority(&self) -> Priority {
        self.min
    }
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            sink: "stdout".into(),
            source,
        };
        if self.json {
            serde_json::to_writer(&mut self.out, alert).map_err(|e| io(e.into()))?;
            self.out.write_all(b"\n").map_err(io)
        } else {
            writeln!(self.out, "{}", alert.output).map_err(io)
        }
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().map_err(|source| SinkError::Io {
            sink: "stdout".into(),
            source,
        })
    }
}
