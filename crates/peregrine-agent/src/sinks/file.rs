//! JSON-lines file sink with size-based rotation.
use super::{Sink, SinkError};
use crate::alert::Alert;
use peregrine_rules::Priority;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

/// Appends alerts to a file, one JSON object per line.
pub struct FileSink {
    path: PathBuf,
    name: String,
    file: std::io::BufWriter<File>,
    size: u64,
    max_bytes: u64,
    keep: usize,
    min: Priority,
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
        })
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
        let mut line = serde_json::to_vec(alert).map_err(|e| io(&self.name, e.into()))?;
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
