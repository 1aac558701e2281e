//! The program sink: writes alert lines to `sh -c PROGRAM`.
use super::ProgramConfig;
use crate::alert::Alert;
use crate::sinks::{Component, Sink, SinkError};
use peregrine_rules::Priority;
use std::io::Write;
use std::process::{Child, Command, Stdio};

/// How long one run per alert is waited for (Falco's default
/// `output_timeout`).
const RUN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Feeds alerts to a program's standard input.
pub struct ProgramSink {
    cfg: ProgramConfig,
    name: String,
    /// The running program (keep_alive).
    child: Option<Child>,
    failures: u64,
}

impl ProgramSink {
    /// A sink for `cfg` (nothing is started until the first alert).
    pub fn new(cfg: ProgramConfig) -> ProgramSink {
        let name = format!("program:{}", cfg.program);
        ProgramSink {
            cfg,
            name,
            child: None,
            failures: 0,
        }
    }

    fn spawn(&self) -> std::io::Result<Child> {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.cfg.program)
            .stdin(Stdio::piped())
            .spawn()
    }

    fn line(&self, alert: &Alert) -> Result<Vec<u8>, SinkError> {
        let mut line = if self.cfg.json {
            self.cfg.shape.encode(alert).map_err(|e| self.io(e.into()))?
        } else {
            alert.output.clone().into_bytes()
        };
        line.push(b'\n');
        Ok(line)
    }

    fn io(&self, source: std::io::Error) -> SinkError {
        SinkError::Io {
            sink: self.name.clone(),
            source,
        }
    }

    /// Write to the long-running program, starting (or restarting, once,
    /// when it has exited) it as needed.
    fn send_kept(&mut self, line: &[u8]) -> Result<(), SinkError> {
        for attempt in 0..2 {
            if self.child.is_none() {
                self.child = Some(self.spawn().map_err(|e| self.io(e))?);
            }
            let child = self.child.as_mut().expect("started above");
            let stdin = child.stdin.as_mut().expect("stdin is piped");
            match stdin.write_all(line) {
                Ok(()) => return Ok(()),
                Err(e) if attempt == 0 => {
                    tracing::warn!("{}: {e}; starting it again", self.name);
                    self.reap();
                }
                Err(e) => return Err(self.io(e)),
            }
        }
        Ok(())
    }

    /// One run for one alert: the line on stdin, then end of input, then
    /// wait for the program (so runs keep the alerts' order, as Falco's
    /// pclose does) — at most [`RUN_TIMEOUT`]; one still running then is
    /// left to finish on its own (reaped by a thread) with a warning.
    fn send_once(&mut self, line: &[u8]) -> Result<(), SinkError> {
        let mut child = self.spawn().map_err(|e| self.io(e))?;
        let written = child.stdin.take().map(|mut s| s.write_all(line));
        let deadline = std::time::Instant::now() + RUN_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    if !status.success() {
                        tracing::debug!("{}: exited with {status}", self.name);
                    }
                    break;
                }
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Ok(None) => {
                    tracing::warn!(
                        "{}: still running after {:?}; not waiting for it",
                        self.name,
                        RUN_TIMEOUT
                    );
                    std::thread::spawn(move || {
                        let _ = child.wait();
                    });
                    break;
                }
                Err(e) => return Err(self.io(e)),
            }
        }
        match written {
            Some(Err(e)) => Err(self.io(e)),
            _ => Ok(()),
        }
    }

    fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let _ = c.wait();
        }
    }
}

impl Sink for ProgramSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_priority(&self) -> Priority {
        self.cfg.min_priority
    }
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let line = self.line(alert)?;
        let sent = if self.cfg.keep_alive {
            self.send_kept(&line)
        } else {
            self.send_once(&line)
        };
        if sent.is_err() {
            self.failures += 1;
        }
        sent
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        if let Some(stdin) = self.child.as_mut().and_then(|c| c.stdin.as_mut()) {
            stdin.flush().map_err(|source| SinkError::Io {
                sink: self.name.clone(),
                source,
            })?;
        }
        Ok(())
    }
    fn failures(&self) -> u64 {
        self.failures
    }
}

impl Drop for ProgramSink {
    /// End of input for the long-running program; wait for it to finish.
    fn drop(&mut self) {
        self.reap();
    }
}

impl Component for ProgramConfig {
    fn name(&self) -> String {
        format!("program:{}", self.program)
    }
    fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(ProgramSink::new(self.clone())))
    }
    /// The shell is there to run the program.
    fn healthcheck(&self) -> Result<(), SinkError> {
        if std::path::Path::new("/bin/sh").exists() {
            Ok(())
        } else {
            Err(SinkError::Unhealthy {
                sink: self.name(),
                reason: "/bin/sh not found".into(),
                meanwhile: "alerts cannot be delivered".into(),
            })
        }
    }
}
