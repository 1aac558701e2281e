//! Standard output sink.
use super::StdoutConfig;
use crate::alert::Alert;
use crate::sinks::{Component, Sink, SinkError};
use peregrine_rules::Priority;
use std::io::Write;

/// Writes alerts to stdout as JSON lines or Falco-style text lines.
pub struct StdoutSink {
    json: bool,
    min: Priority,
    shape: crate::sinks::shared::JsonShape,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl StdoutSink {
    /// A stdout sink.
    pub fn new(json: bool, min: Priority) -> StdoutSink {
        StdoutSink {
            json,
            min,
            shape: Default::default(),
            out: std::io::BufWriter::new(std::io::stdout()),
        }
    }

    /// Write JSON lines with these properties.
    pub fn shaped(mut self, shape: crate::sinks::shared::JsonShape) -> StdoutSink {
        self.shape = shape;
        self
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
            let line = self.shape.encode(alert).map_err(|e| io(e.into()))?;
            self.out.write_all(&line).map_err(io)?;
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

impl Component for StdoutConfig {
    fn name(&self) -> String {
        "stdout".into()
    }
    fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(
            StdoutSink::new(self.json, self.min_priority).shaped(self.shape),
        ))
    }
    /// Standard output is open (a closed fd 1 would lose every alert).
    fn healthcheck(&self) -> Result<(), SinkError> {
        // SAFETY: F_GETFL on a descriptor number only reads its flags.
        let flags = unsafe { libc::fcntl(1, libc::F_GETFL) };
        if flags == -1 {
            return Err(SinkError::Unhealthy {
                sink: "stdout".into(),
                reason: std::io::Error::last_os_error().to_string(),
                meanwhile: "alerts written to it are lost".into(),
            });
        }
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            return Err(SinkError::Unhealthy {
                sink: "stdout".into(),
                reason: "standard output is open read-only".into(),
                meanwhile: "alerts written to it are lost".into(),
            });
        }
        Ok(())
    }
}
