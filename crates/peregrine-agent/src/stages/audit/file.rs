//! The file source: an API server's audit log (`--audit-log-path`, JSON
//! lines) followed as it grows. Like Falco's plugin it starts at the end of
//! a file that exists at start; a file created later, or the new file after
//! a rotation (another inode at the path), is read from its start, after
//! the rest of the rotated one; a truncated file is read again from 0.

use super::eval::Evaluator;
use peregrine_rules::fields::k8saudit::{parse_payload, AuditEvent};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the file is looked at.
const POLL: Duration = Duration::from_millis(200);

/// One followed file.
pub struct Follower {
    path: PathBuf,
    file: Option<(File, u64)>,
    offset: u64,
    partial: Vec<u8>,
    /// Skipping the rest of a line longer than `max_line`.
    skipping: bool,
    max_line: usize,
}

impl Follower {
    /// Follow `path`; lines longer than `max_line` are skipped. Starts at
    /// the end of the file if it exists now.
    pub fn new(path: PathBuf, max_line: usize) -> Follower {
        let mut f = Follower {
            path,
            file: None,
            offset: 0,
            partial: Vec::new(),
            skipping: false,
            max_line,
        };
        if f.open() {
            if let Some((file, _)) = &mut f.file {
                f.offset = file.seek(SeekFrom::End(0)).unwrap_or(0);
            }
        }
        f
    }

    fn open(&mut self) -> bool {
        match File::open(&self.path).and_then(|f| Ok((f.metadata()?.ino(), f))) {
            Ok((ino, f)) => {
                self.file = Some((f, ino));
                self.offset = 0;
                self.partial.clear();
                self.skipping = false;
                true
            }
            Err(_) => false,
        }
    }

    /// Read what was appended (following a rotation or truncation) and
    /// return the complete lines' audit events.
    pub fn poll(&mut self) -> Vec<AuditEvent> {
        let mut out = Vec::new();
        if self.file.is_none() && !self.open() {
            return out;
        }
        let now_ino = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        self.read_new(&mut out);
        let rotated = self
            .file
            .as_ref()
            .is_some_and(|(_, ino)| now_ino != Some(*ino));
        if rotated {
            // The rest of the old file was read above; now the new one.
            self.file = None;
            if self.open() {
                self.read_new(&mut out);
            }
        }
        out
    }

    fn read_new(&mut self, out: &mut Vec<AuditEvent>) {
        let Some((file, _)) = &mut self.file else {
            return;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            tracing::info!(path = %self.path.display(), "k8s audit log truncated: reading from its start");
            self.offset = 0;
            self.partial.clear();
            self.skipping = false;
        }
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            self.offset += n as u64;
            for chunk in buf[..n].split_inclusive(|&b| b == b'\n') {
                let ends = chunk.ends_with(b"\n");
                if !self.skipping {
                    self.partial.extend_from_slice(chunk);
                }
                if self.partial.len() > self.max_line {
                    tracing::warn!(path = %self.path.display(), "k8s audit log line longer than {} bytes skipped", self.max_line);
                    self.partial.clear();
                    self.skipping = true;
                }
                if ends {
                    let line = std::mem::take(&mut self.partial);
                    if !self.skipping {
                        parse_line(&self.path, &line, out);
                    }
                    self.skipping = false;
                }
            }
        }
    }
}

fn parse_line(path: &std::path::Path, line: &[u8], out: &mut Vec<AuditEvent>) {
    let line = line.trim_ascii();
    if line.is_empty() {
        return;
    }
    match parse_payload(line) {
        Ok(items) => {
            for item in items {
                match item {
                    Ok(ev) => out.push(ev),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "k8s audit log: {e}; event skipped")
                    }
                }
            }
        }
        Err(e) => tracing::warn!(path = %path.display(), "k8s audit log: {e}; line skipped"),
    }
}

/// Follow `files` until `stop`, handing events to `evaluator`.
pub fn follow(
    files: Vec<PathBuf>,
    max_line: usize,
    evaluator: Arc<Evaluator>,
    stop: Arc<AtomicBool>,
) {
    let mut followers: Vec<Follower> = files
        .into_iter()
        .map(|p| Follower::new(p, max_line))
        .collect();
    while !stop.load(Ordering::Relaxed) {
        for f in &mut followers {
            let events = f.poll();
            if !events.is_empty() && !evaluator.submit(&events) {
                return;
            }
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn line(id: &str) -> String {
        format!(
            "{{\"kind\":\"Event\",\"auditID\":\"{id}\",\"stageTimestamp\":\"2024-01-01T00:00:00Z\"}}\n"
        )
    }

    fn ids(evs: Vec<AuditEvent>) -> Vec<String> {
        evs.iter().map(|e| e.audit_id().to_string()).collect()
    }

    #[test]
    fn follows_appends_partial_lines_rotation_and_truncation() {
        let dir = std::env::temp_dir().join(format!("pg-audit-follow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.log");
        std::fs::write(&path, line("old")).unwrap();
        let mut f = Follower::new(path.clone(), 1 << 20);
        assert!(
            f.poll().is_empty(),
            "what was there at start is not replayed"
        );
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let a = line("a");
        w.write_all(&a.as_bytes()[..10]).unwrap();
        assert!(f.poll().is_empty(), "half a line waits");
        w.write_all(&a.as_bytes()[10..]).unwrap();
        w.write_all(b"not json\n").unwrap();
        w.write_all(line("b").as_bytes()).unwrap();
        assert_eq!(ids(f.poll()), ["a", "b"]);
        // Rotation: the old file gets a last line, is renamed, a new one appears.
        w.write_all(line("c").as_bytes()).unwrap();
        std::fs::rename(&path, dir.join("audit.log.1")).unwrap();
        std::fs::write(&path, line("d")).unwrap();
        assert_eq!(ids(f.poll()), ["c", "d"]);
        // Truncation in place.
        let mut w = File::create(&path).unwrap();
        assert!(f.poll().is_empty());
        w.write_all(line("e").as_bytes()).unwrap();
        assert_eq!(ids(f.poll()), ["e"]);
        // Removed, then created again.
        std::fs::remove_file(&path).unwrap();
        assert!(f.poll().is_empty());
        std::fs::write(&path, line("f")).unwrap();
        assert_eq!(ids(f.poll()), ["f"]);
        // A line past the limit is skipped, the next one read.
        let mut f = Follower::new(path.clone(), 80);
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        w.write_all(format!("{}\n", "x".repeat(200)).as_bytes())
            .unwrap();
        w.write_all(line("g").as_bytes()).unwrap();
        assert_eq!(ids(f.poll()), ["g"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
