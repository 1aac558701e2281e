//! The syslog sink: datagrams (UDP, unix socket) sent as alerts come, or
//! TCP through the shared disk buffer.

use super::{format, SyslogConfig, SyslogFormat, SyslogTarget};
use crate::alert::Alert;
use crate::sinks::shared::tcp_reachable;
use crate::sinks::{BufferedSink, Component, Sink, SinkError, Transport};
use peregrine_rules::Priority;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

enum Conn {
    Udp(UdpSocket, std::net::SocketAddr),
    Unix(UnixDatagram, String),
}

/// Syslog over TCP as a [`Transport`]: one connection, re-opened after an
/// error; a batch is acknowledged only when every frame was written.
struct TcpTransport {
    addr: String,
    stream: Option<TcpStream>,
    fmt: SyslogFormat,
    facility: u8,
    batch: usize,
}

impl Transport for TcpTransport {
    fn max_batch(&self) -> usize {
        self.batch
    }
    fn deliver(&mut self, lines: &[String]) -> Result<(), String> {
        if self.stream.is_none() {
            let a = self
                .addr
                .to_socket_addrs()
                .map_err(|e| e.to_string())?
                .next()
                .ok_or("address resolves to nothing")?;
            let s = TcpStream::connect_timeout(&a, Duration::from_secs(3))
                .map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(Duration::from_secs(5))).ok();
            self.stream = Some(s);
        }
        let mut out = Vec::new();
        for l in lines {
            // A line that is not an alert (corrupt buffer) is skipped, not retried forever.
            let Ok(a) = serde_json::from_str::<Alert>(l) else {
                continue;
            };
            let msg = format(self.fmt, self.facility, &a);
            out.extend_from_slice(format!("{} {msg}", msg.len()).as_bytes());
        }
        let r = match self.stream.as_mut() {
            Some(s) => s.write_all(&out).and_then(|_| s.flush()),
            None => Ok(()),
        };
        if let Err(e) = r {
            self.stream = None; // reconnect on the next attempt
            return Err(e.to_string());
        }
        Ok(())
    }
}

/// Syslog over TCP to `addr` with the disk buffer of `cfg` (its
/// `buffer_dir`, or `/var/lib/peregrine/buffer/syslog` when unset).
pub fn tcp_buffered(addr: &str, cfg: &SyslogConfig) -> Result<BufferedSink, SinkError> {
    let dir = cfg
        .buffer_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("/var/lib/peregrine/buffer/syslog"));
    BufferedSink::start(
        format!("syslog:tcp://{addr}"),
        cfg.min_priority,
        &dir,
        cfg.buffer_max_bytes,
        Box::new(TcpTransport {
            addr: addr.to_string(),
            stream: None,
            fmt: cfg.format,
            facility: cfg.facility,
            batch: cfg.batch.max(1),
        }),
    )
}

/// The syslog sink.
pub struct SyslogSink {
    name: String,
    fmt: SyslogFormat,
    facility: u8,
    min: Priority,
    conn: Conn,
}

impl SyslogSink {
    /// Validate the target and open the socket (TCP connects lazily).
    pub fn open(
        target: &SyslogTarget,
        fmt: SyslogFormat,
        facility: u8,
        min: Priority,
    ) -> Result<SyslogSink, SinkError> {
        let name = format!("syslog:{target}");
        let io = |source| SinkError::Io {
            sink: name.clone(),
            source,
        };
        let conn = match target {
            SyslogTarget::Udp(a) => {
                let addr =
                    a.to_socket_addrs()
                        .map_err(io)?
                        .next()
                        .ok_or_else(|| SinkError::Config {
                            spec: name.clone(),
                            reason: format!("'{a}' resolves to nothing"),
                        })?;
                let bind = if addr.is_ipv4() {
                    "0.0.0.0:0"
                } else {
                    "[::]:0"
                };
                Conn::Udp(UdpSocket::bind(bind).map_err(io)?, addr)
            }
            SyslogTarget::Tcp(_) => {
                return Err(SinkError::Config {
                    spec: name,
                    reason: "syslog over TCP is buffered: build it with tcp_buffered".into(),
                })
            }
            SyslogTarget::Unix(p) => Conn::Unix(UnixDatagram::unbound().map_err(io)?, p.clone()),
        };
        Ok(SyslogSink {
            name,
            fmt,
            facility,
            min,
            conn,
        })
    }
}

impl Sink for SyslogSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn min_priority(&self) -> Priority {
        self.min
    }
    fn send(&mut self, alert: &Alert) -> Result<(), SinkError> {
        let msg = format(self.fmt, self.facility, alert);
        let name = self.name.clone();
        let io = |source| SinkError::Io {
            sink: name.clone(),
            source,
        };
        match &mut self.conn {
            Conn::Udp(s, addr) => s.send_to(msg.as_bytes(), *addr).map(|_| ()).map_err(io),
            Conn::Unix(s, path) => s
                .send_to(msg.as_bytes(), path.as_str())
                .map(|_| ())
                .map_err(io),
        }
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}


impl Component for SyslogConfig {
    fn name(&self) -> String {
        format!("syslog:{}", self.target)
    }
    fn build(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(match &self.target {
            SyslogTarget::Tcp(addr) => Box::new(tcp_buffered(addr, self)?),
            t => Box::new(SyslogSink::open(
                t,
                self.format,
                self.facility,
                self.min_priority,
            )?),
        })
    }
    /// TCP: a connection opens; unix: the socket takes a connection; UDP:
    /// the address resolves (a datagram destination cannot say more).
    fn healthcheck(&self) -> Result<(), SinkError> {
        let unhealthy = |reason: String, meanwhile: String| SinkError::Unhealthy {
            sink: self.name(),
            reason,
            meanwhile,
        };
        match &self.target {
            SyslogTarget::Tcp(addr) => {
                let (host, port) = addr
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.trim_matches(['[', ']']), p.parse().ok()?)))
                    .ok_or_else(|| unhealthy(format!("'{addr}' is not HOST:PORT"), String::new()))?;
                tcp_reachable(host, port).map_err(|r| {
                    let dir = self.buffer_dir.clone().unwrap_or_default();
                    unhealthy(
                        r,
                        format!("alerts are buffered in {} until it answers", dir.display()),
                    )
                })
            }
            SyslogTarget::Unix(p) => UnixDatagram::unbound()
                .and_then(|s| s.connect(p))
                .map_err(|e| {
                    unhealthy(
                        format!("{p}: {e}"),
                        "alerts sent meanwhile fail and are counted".into(),
                    )
                }),
            SyslogTarget::Udp(a) => match a.to_socket_addrs().map(|mut it| it.next()) {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err(unhealthy(
                    format!("'{a}' resolves to nothing"),
                    "alerts sent meanwhile are lost".into(),
                )),
                Err(e) => Err(unhealthy(
                    format!("{a}: {e}"),
                    "alerts sent meanwhile are lost".into(),
                )),
            },
        }
    }
}
