//! What the sinks share: the options every sink has (`min`) and those of
//! the disk-buffered sinks (`buffer`, `batch`, `buffer_max_mb`), parsed once
//! for both front ends; the disk queue and the delivery thread with retries
//! ([`buffer`], [`buffered`]); the TCP reachability check of the remote
//! sinks' healthchecks.

pub mod buffer;
pub mod buffered;
pub mod shape;

pub use buffered::{BufferedSink, DeliveryStats, Transport};
pub use shape::JsonShape;

use super::shorthand::Options;
use peregrine_rules::Priority;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Options handled once for every sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    /// `min`: alerts less severe than this are not sent (default: all).
    pub min: Priority,
    /// Disk-buffer options (disk-buffered sinks only; empty otherwise).
    pub buffer: BufferOptions,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            min: Priority::Debug,
            buffer: BufferOptions::default(),
        }
    }
}

/// Options of the disk-buffered sinks.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BufferOptions {
    /// `buffer`: directory of the disk queue (default: one per destination
    /// under `/var/lib/peregrine/buffer`).
    pub buffer: Option<PathBuf>,
    /// `batch`: alerts per delivery (default 100).
    pub batch: Option<usize>,
    /// `buffer_max_mb`: largest queue before new alerts are refused and
    /// counted (default 1024).
    pub buffer_max_mb: Option<u64>,
}

/// The shared keys of the disk-buffered sinks.
const BUFFER_KEYS: [&str; 3] = ["buffer", "batch", "buffer_max_mb"];

impl BufferOptions {
    /// Whether any option was given.
    pub fn is_set(&self) -> bool {
        *self != BufferOptions::default()
    }
    /// The queue directory: as given, or one named after the destination
    /// (a hash kept stable across versions, so that alerts buffered by an
    /// earlier run are found).
    pub fn dir(&self, kind: &str, destination: &str) -> PathBuf {
        self.buffer.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "/var/lib/peregrine/buffer/{kind}-{:016x}",
                fnv(destination)
            ))
        })
    }
    /// Alerts per delivery.
    pub fn batch(&self) -> usize {
        self.batch.unwrap_or(100).max(1)
    }
    /// Largest queue in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.buffer_max_mb.unwrap_or(1024).max(1) << 20
    }
}

/// A priority name (case-insensitive; INFO accepted).
pub fn priority(v: &str) -> Result<Priority, String> {
    Priority::parse(v).ok_or_else(|| format!("unknown priority '{v}'"))
}

impl Shared {
    /// Take the shared options from a shorthand spec.
    pub(crate) fn from_shorthand(opts: &mut Options<'_>, buffered: bool) -> Result<Shared, String> {
        let mut shared = Shared::default();
        if let Some(v) = opts.take("min") {
            shared.min = priority(v)?;
        }
        if buffered {
            shared.buffer = BufferOptions {
                buffer: opts.take("buffer").map(PathBuf::from),
                batch: opts.take_parsed("batch")?,
                buffer_max_mb: opts.take_parsed("buffer_max_mb")?,
            };
        }
        Ok(shared)
    }

    /// Take the shared options from the typed map form of sink `kind`.
    pub(crate) fn from_map(
        kind: &str,
        map: &mut Map<String, Value>,
        buffered: bool,
    ) -> Result<Shared, String> {
        let mut shared = Shared::default();
        match map.remove("min") {
            None => {}
            Some(Value::String(v)) => shared.min = priority(&v)?,
            Some(v) => return Err(format!("min: {v} is not a priority name")),
        }
        if buffered {
            let mut b = Map::new();
            for k in BUFFER_KEYS {
                if let Some(v) = map.remove(k) {
                    b.insert(k.to_string(), v);
                }
            }
            shared.buffer =
                serde_json::from_value(Value::Object(b)).map_err(|e| format!("{kind}: {e}"))?;
        }
        Ok(shared)
    }
}

/// FNV-1a-style hash of a destination, naming its default buffer directory.
fn fnv(s: &str) -> u64 {
    let mut h = 0u64;
    for b in s.bytes() {
        h = h.wrapping_mul(1099511628211) ^ b as u64;
    }
    h
}

/// Can a TCP connection to `host:port` be opened (2 s per address)?
pub fn tcp_reachable(host: &str, port: u16) -> Result<(), String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last = String::from("no address");
    for a in addrs {
        match std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("{a}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_buffer_dirs_are_stable_across_versions() {
        // Alerts buffered by an earlier run must be found: these names were
        // computed by the version before sinks became components.
        let b = BufferOptions::default();
        assert_eq!(
            b.dir("webhook", "http://a/x"),
            PathBuf::from(format!(
                "/var/lib/peregrine/buffer/webhook-{:016x}",
                fnv("http://a/x")
            ))
        );
        assert_eq!(fnv("ab"), (97u64.wrapping_mul(1099511628211)) ^ 98);
        assert_eq!(b.batch(), 100);
        assert_eq!(b.max_bytes(), 1 << 30);
        assert!(!b.is_set());
    }

    #[test]
    fn tcp_reachability() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(tcp_reachable("127.0.0.1", port).is_ok());
        drop(l);
        let e = tcp_reachable("127.0.0.1", port).unwrap_err();
        assert!(e.contains("refused"), "{e}");
    }
}
