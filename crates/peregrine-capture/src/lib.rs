//! Peregrine capture files (`.pgcap`).
//!
//! ```text
//! file   := magic "PEREGRNC" | version u16 LE | flags u16 LE | header_len u32 LE
//!           | header (JSON, header_len bytes) | body
//! body   := deflate stream of frames, ended by an END frame
//! frame  := kind u8 | len u32 LE | payload (len bytes)
//! kinds  := 1 kernel record (bytes as the sensor read them, ABI in header)
//!           2 container metadata (JSON ContainerView)
//!           255 end of capture (len 0)
//! ```
//!
//! The header carries the host, kernel, clock offset, kernel ABI version and a
//! snapshot of the process table, so a capture replays on any machine. Every
//! length is bounded; corrupt, truncated and future-version files are errors
//! that say what and where, never panics.
#![deny(missing_docs)]

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use peregrine_event::{ContainerView, ProcessView};
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// File magic.
pub const MAGIC: &[u8; 8] = b"PEREGRNC";
/// Format version written by this build.
pub const VERSION: u16 = 1;
/// Largest header accepted.
pub const MAX_HEADER: u32 = 64 << 20;
/// Largest frame accepted.
pub const MAX_FRAME: u32 = 1 << 20;

const KIND_RECORD: u8 = 1;
const KIND_CONTAINER: u8 = 2;
const KIND_END: u8 = 255;

/// A process in the header snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotProcess {
    /// The process.
    pub view: ProcessView,
    /// Its cgroup leaf name.
    pub cgroup: String,
}

/// Capture header.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Header {
    /// Kernel record ABI (`PG_ABI_VERSION`).
    pub abi_version: u32,
    /// Host name.
    pub hostname: String,
    /// `uname -r`.
    pub kernel: String,
    /// Start of the capture, ns since the epoch.
    pub started_ns: u64,
    /// Realtime minus boottime at the capture, ns.
    pub clock_offset_ns: i64,
    /// Event kinds captured.
    pub kinds: Vec<String>,
    /// Processes alive at the start.
    pub processes: Vec<SnapshotProcess>,
    /// uid → user name of the host.
    pub users: Vec<(u32, String)>,
    /// Free-form: what was recorded (command, duration).
    pub comment: String,
}

/// Something read from a capture.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A raw kernel record.
    Record(Vec<u8>),
    /// Container metadata seen during the capture.
    Container(Box<ContainerView>),
}

/// Why a capture cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// I/O.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Not a capture file.
    #[error("not a Peregrine capture (bad magic at byte 0)")]
    BadMagic,
    /// Written by a newer Peregrine.
    #[error("capture format version {0} is newer than this build reads (up to {VERSION})")]
    FutureVersion(u16),
    /// The header is unreadable.
    #[error("capture header: {0}")]
    BadHeader(String),
    /// A frame is damaged.
    #[error("capture frame {frame}: {reason}")]
    BadFrame {
        /// Frame number (from 0).
        frame: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file ends before its END frame.
    #[error("capture truncated after {0} frames (no end marker)")]
    Truncated(u64),
}

/// Writes a capture.
pub struct Writer<W: Write> {
    enc: DeflateEncoder<W>,
    frames: u64,
}

impl<W: Write> Writer<W> {
    /// Write the file header and start the body.
    pub fn new(mut out: W, header: &Header) -> Result<Writer<W>, CaptureError> {
        let h = serde_json::to_vec(header).map_err(|e| CaptureError::BadHeader(e.to_string()))?;
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&0u16.to_le_bytes())?;
        out.write_all(&(h.len() as u32).to_le_bytes())?;
        out.write_all(&h)?;
        Ok(Writer {
            enc: DeflateEncoder::new(out, Compression::fast()),
            frames: 0,
        })
    }

    fn frame(&mut self, kind: u8, payload: &[u8]) -> Result<(), CaptureError> {
        if payload.len() as u64 > MAX_FRAME as u64 {
            return Err(CaptureError::BadFrame {
                frame: self.frames,
                reason: format!("{} bytes exceed the frame limit", payload.len()),
            });
        }
        self.enc.write_all(&[kind])?;
        self.enc.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.enc.write_all(payload)?;
        self.frames += 1;
        Ok(())
    }

    /// Append a raw kernel record.
    pub fn record(&mut self, raw: &[u8]) -> Result<(), CaptureError> {
        self.frame(KIND_RECORD, raw)
    }

    /// Append container metadata.
    pub fn container(&mut self, c: &ContainerView) -> Result<(), CaptureError> {
        let j = serde_json::to_vec(c).map_err(|e| CaptureError::BadHeader(e.to_string()))?;
        self.frame(KIND_CONTAINER, &j)
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Write the end marker and flush.
    pub fn finish(mut self) -> Result<W, CaptureError> {
        self.frame(KIND_END, &[])?;
        Ok(self.enc.finish()?)
    }
}

/// Reads a capture.
pub struct Reader<R: Read> {
    dec: DeflateDecoder<R>,
    /// The header.
    pub header: Header,
    frames: u64,
    done: bool,
}

fn read_exact_or_eof<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "frame cut short",
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl<R: Read> Reader<R> {
    /// Read and check the file header.
    pub fn new(mut input: R) -> Result<Reader<R>, CaptureError> {
        let mut fixed = [0u8; 16];
        input
            .read_exact(&mut fixed)
            .map_err(|_| CaptureError::BadMagic)?;
        if &fixed[..8] != MAGIC {
            return Err(CaptureError::BadMagic);
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version > VERSION {
            return Err(CaptureError::FutureVersion(version));
        }
        if version == 0 {
            return Err(CaptureError::BadHeader("version 0".into()));
        }
        let len = u32::from_le_bytes([fixed[12], fixed[13], fixed[14], fixed[15]]);
        if len > MAX_HEADER {
            return Err(CaptureError::BadHeader(format!(
                "header of {len} bytes exceeds {MAX_HEADER}"
            )));
        }
        let mut h = vec![0u8; len as usize];
        input.read_exact(&mut h).map_err(|_| {
            CaptureError::BadHeader(format!("file ends inside the {len}-byte header"))
        })?;
        let header: Header =
            serde_json::from_slice(&h).map_err(|e| CaptureError::BadHeader(e.to_string()))?;
        Ok(Reader {
            dec: DeflateDecoder::new(input),
            header,
            frames: 0,
            done: false,
        })
    }

    /// The next item; `Ok(None)` after the end marker.
    pub fn next_item(&mut self) -> Result<Option<Item>, CaptureError> {
        if self.done {
            return Ok(None);
        }
        let frame = self.frames;
        let bad = |reason: String| CaptureError::BadFrame { frame, reason };
        let mut head = [0u8; 5];
        match read_exact_or_eof(&mut self.dec, &mut head) {
            Ok(true) => {}
            Ok(false) => return Err(CaptureError::Truncated(self.frames)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(CaptureError::Truncated(self.frames))
            }
            Err(e) => return Err(bad(format!("corrupt compressed data: {e}"))),
        }
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        if len > MAX_FRAME {
            return Err(bad(format!("length {len} exceeds the frame limit")));
        }
        let mut payload = vec![0u8; len as usize];
        match read_exact_or_eof(&mut self.dec, &mut payload) {
            Ok(true) => {}
            Ok(false) if len == 0 => {}
            Ok(false) => return Err(CaptureError::Truncated(self.frames)),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(CaptureError::Truncated(self.frames))
            }
            Err(e) => return Err(bad(format!("corrupt compressed data: {e}"))),
        }
        self.frames += 1;
        match head[0] {
            KIND_RECORD => Ok(Some(Item::Record(payload))),
            KIND_CONTAINER => serde_json::from_slice(&payload)
                .map(|c| Some(Item::Container(Box::new(c))))
                .map_err(|e| bad(format!("container metadata: {e}"))),
            KIND_END => {
                self.done = true;
                Ok(None)
            }
            k => Err(bad(format!("unknown frame kind {k}"))),
        }
    }

    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let header = Header {
            abi_version: 1,
            hostname: "h".into(),
            comment: "t".into(),
            ..Default::default()
        };
        let mut w = Writer::new(Vec::new(), &header).unwrap();
        w.record(b"abc").unwrap();
        w.container(&ContainerView {
            id: "c1".into(),
            ..Default::default()
        })
        .unwrap();
        w.record(&[0u8; 5000]).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let data = sample();
        let mut r = Reader::new(&data[..]).unwrap();
        assert_eq!(r.header.hostname, "h");
        assert_eq!(r.next_item().unwrap(), Some(Item::Record(b"abc".to_vec())));
        assert!(matches!(r.next_item().unwrap(), Some(Item::Container(c)) if c.id == "c1"));
        assert!(matches!(r.next_item().unwrap(), Some(Item::Record(v)) if v.len() == 5000));
        assert_eq!(r.next_item().unwrap(), None);
        assert_eq!(r.next_item().unwrap(), None);
    }

    #[test]
    fn hostile_files_are_errors() {
        let good = sample();
        assert!(matches!(
            Reader::new(&b"nope"[..]),
            Err(CaptureError::BadMagic)
        ));
        let mut future = good.clone();
        future[8] = 9;
        assert!(matches!(
            Reader::new(&future[..]),
            Err(CaptureError::FutureVersion(9))
        ));
        let mut huge = good.clone();
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Reader::new(&huge[..]),
            Err(CaptureError::BadHeader(_))
        ));
        // Every truncation: an error or a clean prefix, never a panic.
        for n in 0..good.len() {
            if let Ok(mut r) = Reader::new(&good[..n]) {
                let mut items = 0;
                loop {
                    match r.next_item() {
                        Ok(Some(_)) => items += 1,
                        // Only the deflate trailer may be missing.
                        Ok(None) => {
                            assert_eq!(items, 3, "truncated file at {n} reported complete");
                            break;
                        }
                        Err(_) => break,
                    }
                }
            }
        }
        // Random corruption of the body.
        let mut x: u64 = 88172645463325252;
        for _ in 0..2000 {
            let mut bad = good.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % bad.len();
                bad[i] ^= (x >> 32) as u8 | 1;
            }
            if let Ok(mut r) = Reader::new(&bad[..]) {
                for _ in 0..10 {
                    match r.next_item() {
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
            }
        }
    }
}
