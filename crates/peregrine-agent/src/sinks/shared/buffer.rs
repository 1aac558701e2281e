//! A durable FIFO of alerts on disk, one per remote sink.
//!
//! `queue.jsonl` holds appended alerts (one JSON line each); `cursor` holds
//! the byte offset of the first alert not yet acknowledged by the
//! destination, replaced atomically (write + rename) after each delivered
//! batch. After a crash or restart delivery resumes at the cursor: an alert
//! may be sent twice (at-least-once; receivers deduplicate by `id`), never
//! lost. When everything is acknowledged the queue is truncated.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A disk-backed queue of JSON lines.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    writer: File,
    cursor: u64,
    max_bytes: u64,
    /// Alerts discarded because the queue was full.
    pub overflowed: u64,
}

fn read_cursor(dir: &Path) -> u64 {
    fs::read_to_string(dir.join("cursor"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

impl DiskQueue {
    /// Open (or create) the queue in `dir`.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<DiskQueue> {
        fs::create_dir_all(dir)?;
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(dir.join("queue.jsonl"))?;
        let len = writer.metadata()?.len();
        let mut cursor = read_cursor(dir);
        if cursor > len {
            cursor = 0;
        }
        Ok(DiskQueue {
            dir: dir.to_path_buf(),
            writer,
            cursor,
            max_bytes,
            overflowed: 0,
        })
    }

    /// Bytes waiting.
    pub fn pending_bytes(&self) -> u64 {
        self.writer
            .metadata()
            .map(|m| m.len())
            .unwrap_or(0)
            .saturating_sub(self.cursor)
    }

    /// Append one line (durable once `sync` returns).
    pub fn push(&mut self, line: &[u8]) -> std::io::Result<bool> {
        if self.max_bytes > 0 && self.pending_bytes() + line.len() as u64 > self.max_bytes {
            self.overflowed += 1;
            return Ok(false);
        }
        self.writer.write_all(line)?;
        self.writer.write_all(b"\n")?;
        Ok(true)
    }

    /// Flush appended lines to disk.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.writer.sync_data()
    }

    /// Up to `max` lines after the cursor, with the offset after the last one.
    pub fn peek(&self, max: usize) -> std::io::Result<(Vec<String>, u64)> {
        let mut f = File::open(self.dir.join("queue.jsonl"))?;
        f.seek(SeekFrom::Start(self.cursor))?;
        let mut r = BufReader::new(f);
        let mut out = Vec::new();
        let mut end = self.cursor;
        let mut line = String::new();
        while out.len() < max {
            line.clear();
            let n = r.read_line(&mut line)?;
            if n == 0 || !line.ends_with('\n') {
                break; // end, or a line still being written
            }
            end += n as u64;
            let l = line.trim_end();
            if !l.is_empty() {
                out.push(l.to_string());
            }
        }
        Ok((out, end))
    }

    /// Acknowledge everything before `offset`.
    pub fn ack(&mut self, offset: u64) -> std::io::Result<()> {
        self.cursor = offset;
        let len = self.writer.metadata()?.len();
        if self.cursor >= len {
            // All delivered: start over with an empty file.
            self.writer.set_len(0)?;
            self.cursor = 0;
        }
        let tmp = self.dir.join("cursor.tmp");
        fs::write(&tmp, self.cursor.to_string())?;
        fs::rename(tmp, self.dir.join("cursor"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pg-q-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn survives_reopen_and_acks_in_order() {
        let d = dir("reopen");
        let mut q = DiskQueue::open(&d, 0).unwrap();
        for i in 0..5 {
            q.push(format!("{{\"n\":{i}}}").as_bytes()).unwrap();
        }
        q.sync().unwrap();
        let (lines, end) = q.peek(2).unwrap();
        assert_eq!(lines, vec!["{\"n\":0}", "{\"n\":1}"]);
        q.ack(end).unwrap();
        drop(q);
        let mut q = DiskQueue::open(&d, 0).unwrap();
        let (lines, end) = q.peek(10).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0], "{\"n\":2}");
        q.ack(end).unwrap();
        assert_eq!(q.pending_bytes(), 0);
        assert_eq!(
            fs::metadata(d.join("queue.jsonl")).unwrap().len(),
            0,
            "truncated when drained"
        );
        fs::remove_dir_all(d).ok();
    }

    #[test]
    fn bounded_with_overflow_counted() {
        let d = dir("bound");
        let mut q = DiskQueue::open(&d, 20).unwrap();
        assert!(q.push(b"0123456789").unwrap());
        assert!(!q.push(b"0123456789abc").unwrap());
        assert_eq!(q.overflowed, 1);
        fs::remove_dir_all(d).ok();
    }

    #[test]
    fn a_corrupt_cursor_restarts_from_the_beginning() {
        let d = dir("corrupt");
        let mut q = DiskQueue::open(&d, 0).unwrap();
        q.push(b"a").unwrap();
        q.sync().unwrap();
        drop(q);
        fs::write(d.join("cursor"), "999999").unwrap();
        let q = DiskQueue::open(&d, 0).unwrap();
        assert_eq!(q.peek(5).unwrap().0, vec!["a"]);
        fs::remove_dir_all(d).ok();
    }
}
