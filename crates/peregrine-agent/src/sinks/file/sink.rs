//! JSON-lines (or text-lines) file sink with size-based rotation.
use super::FileConfig;
use crate::alert::Alert;
use crate::sinks::{Component, Sink, SinkError};
use peregrine_rules::Priority;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Appends alerts to a file, one JSON object per line.
pub struct FileSink {
    path: PathBuf,
    name: String,
    file: std::io::BufWriter<File>,
    size: u64,
    max_bytes: u64,
    keep: usize,
    min: Priority,
    text: bool,
    shape: crate::sinks::shared::JsonShape,
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl FileSink {
    /// Open (create) the file; an unwritable path is an error now.
    pub fn open(
        path: PathBuf,
        max_bytes: u64,
        keep: usize,
        min: Priority,
    ) -> Result<FileSink, SinkError> {
        let name = format!("file:{}", path.display());
        let file = open(&path).map_err(|source| SinkError::Io {
            sink: name.clone(),
            source,
        })?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(FileSink {
            path,
            name,
            file: std::io::BufWriter::new(file),
            size,
            max_bytes,
            keep,
            min,
            text: false,
            shape: Default::default(),
        })
    }

    /// Write JSON lines with these properties.
    pub fn shaped(mut self, shape: crate::sinks::shared::JsonShape) -> FileSink {
        self.shape = shape;
        self
    }

    /// Write each alert's output line instead of its JSON.
    pub fn text_lines(mut self, text: bool) -> FileSink {
        self.text = text;
        self
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        for i in (1..self.keep).rev() {
            let from = PathBuf::from(format!("{}.{i}", self.path.display()));
            if from.exists() {
                std::fs::rename(&from, format!("{}.{}", self.path.display(), i + 1))?;
            }
        }
        if self.keep > 0 {
            std::fs::rename(&self.path, format!("{}.1", self.path.display()))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.file = std::io::BufWriter::new(open(&self.path)?);
        self.size = 0;
        Ok(())
    }
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_priority(&self) -> Priority {
        self.min
    }
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let io = |name: &str, source| SinkError::Io {
            sink: name.to_string(),
            source,
        };
        let mut line = if self.text {
            alert.output.clone().into_bytes()
        } else {
            self.shape
                .encode(alert)
                .map_err(|e| io(&self.name, e.into()))?
        };
        line.push(b'\n');
        if self.max_bytes > 0 && self.size + line.len() as u64 > self.max_bytes && self.size > 0 {
            self.rotate().map_err(|e| io(&self.name, e))?;
        }
        self.file.write_all(&line).map_err(|e| io(&self.name, e))?;
        self.size += line.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.file.flush().map_err(|source| SinkError::Io {
            sink: self.name.clone(),
            source,
        })
    }
}

/// Can this process write `path` (or create it in its directory)?
fn writable(path: &Path) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let target = if path.exists() {
        path.to_path_buf()
    } else {
        match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    };
    let c = std::ffi::CString::new(target.as_os_str().as_bytes())
        .map_err(|_| format!("{}: NUL in path", target.display()))?;
    // SAFETY: access(2) only reads the NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(format!(
            "{}: {}",
            target.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

impl Component for FileConfig {
    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }
    fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(Box::new(FileSink::open(
            self.path.clone(),
            self.max_bytes,
            self.keep,
            self.min_priority,
        )?
        .text_lines(self.text)
        .shaped(self.shape)))
    }
    /// The file, or its directory when it does not exist yet, is writable.
    fn healthcheck(&self) -> Result<(), SinkError> {
        writable(&self.path).map_err(|reason| SinkError::Unhealthy {
            sink: self.name(),
            reason,
            meanwhile: "alerts cannot be written".into(),
        })
    }
}
