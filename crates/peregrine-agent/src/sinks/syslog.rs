//! Syslog sink: RFC 5424 or CEF messages over UDP, a unix datagram socket,
//! or TCP (RFC 6587 octet counting, reconnecting), the TCP form disk-buffered
//! like the HTTP sinks so that nothing is lost while the collector is down.

use super::buffered::{BufferedSink, Transport};
use super::{Sink, SinkError};
use crate::alert::Alert;
use peregrine_rules::Priority;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    /// RFC 5424 with the alert JSON as message and structured data.
    Rfc5424,
    /// ArcSight Common Event Format.
    Cef,
}

/// Where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// `udp://host:port`
    Udp(String),
    /// `tcp://host:port`
    Tcp(String),
    /// `unix:///dev/log`
    Unix(String),
}

impl SyslogTarget {
    /// Parse `udp://…`, `tcp://…` or `unix://…`.
    pub fn parse(s: &str) -> Option<SyslogTarget> {
        if let Some(a) = s.strip_prefix("udp://") {
            Some(SyslogTarget::Udp(a.to_string()))
        } else if let Some(a) = s.strip_prefix("tcp://") {
            Some(SyslogTarget::Tcp(a.to_string()))
        } else {
            s.strip_prefix("unix://")
                .map(|p| SyslogTarget::Unix(p.to_string()))
        }
    }
}

/// RFC 5424 severity of a priority (same order as Falco's priorities).
pub fn severity(p: Priority) -> u8 {
    p as u8
}

fn sd_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

fn cef_header_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|")
}

fn cef_ext_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// Format one alert.
pub fn format(f: SyslogFormat, facility: u8, a: &Alert) -> String {
    match f {
        SyslogFormat::Rfc5424 => {
            let pri = facility as u32 * 8 + severity(a.priority) as u32;
            let json = serde_json::to_string(a).unwrap_or_default();
            format!(
                "<{pri}>1 {} {} peregrine {} alert [peregrine@32473 rule=\"{}\" priority=\"{}\" id=\"{}\"] {json}",
                a.time,
                if a.hostname.is_empty() { "-" } else { &a.hostname },
                std::process::id(),
                sd_escape(&a.rule),
                a.priority,
                sd_escape(&a.id),
            )
        }
        SyslogFormat::Cef => {
            let sev = match a.priority {
                Priority::Emergency => 10,
                Priority::Alert => 9,
                Priority::Critical => 8,
                Priority::Error => 7,
                Priority::Warning => 5,
                Priority::Notice => 3,
                Priority::Informational => 2,
                Priority::Debug => 1,
            };
            let rt = crate::alert::parse_rfc3339(&a.time) / 1_000_000;
            let mut ext = format!(
                "rt={rt} dvchost={} externalId={} msg={}",
                cef_ext_escape(&a.hostname),
                cef_ext_escape(&a.id),
                cef_ext_escape(&a.output)
            );
            if let Some(p) = a.ancestry.first() {
                ext.push_str(&format!(
                    " dpid={} dproc={}",
                    p.pid,
                    cef_ext_escape(&p.exepath)
                ));
            }
            if let Some(u) = a.output_fields.get("user.name") {
                ext.push_str(&format!(" duser={}", cef_ext_escape(u)));
            }
            if let Some(c) = &a.container {
                ext.push_str(&format!(
                    " cs1Label=containerId cs1={} cs2Label=containerImage cs2={}",
                    cef_ext_escape(&c.id),
                    cef_ext_escape(&c.image)
                ));
            }
            format!(
                "CEF:0|Peregrine|Peregrine|{}|{}|{}|{sev}|{ext}",
                env!("CARGO_PKG_VERSION"),
                cef_header_escape(&a.rule),
                cef_header_escape(&a.rule)
            )
        }
    }
}

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
}

impl Transport for TcpTransport {
    fn max_batch(&self) -> usize {
        100
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

/// Syslog over TCP with a disk buffer in `dir`.
pub fn tcp_buffered(
    addr: &str,
    fmt: SyslogFormat,
    facility: u8,
    min: Priority,
    dir: &std::path::Path,
) -> Result<BufferedSink, SinkError> {
    BufferedSink::start(
        format!("syslog:tcp://{addr}"),
        min,
        dir,
        1 << 30,
        Box::new(TcpTransport {
            addr: addr.to_string(),
            stream: None,
            fmt,
            facility,
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
        let name = format!("syslog:{target:?}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn alert() -> Alert {
        let mut f = BTreeMap::new();
        f.insert("user.name".to_string(), "root".to_string());
        Alert {
            time: "2026-11-25T13:00:00.000000000Z".into(),
            rule: "Read | shadow".into(),
            priority: Priority::Warning,
            source: "syscall".into(),
            hostname: "h1".into(),
            output: "a=b \"q\"".into(),
            output_fields: f,
            tags: vec![],
            id: "x1".into(),
            count: 1,
            container: None,
            ancestry: vec![],
        }
    }

    #[test]
    fn rfc5424_and_cef() {
        let m = format(SyslogFormat::Rfc5424, 16, &alert());
        assert!(
            m.starts_with("<132>1 2026-11-25T13:00:00.000000000Z h1 peregrine "),
            "{m}"
        );
        assert!(
            m.contains("[peregrine@32473 rule=\"Read | shadow\" priority=\"Warning\" id=\"x1\"] {"),
            "{m}"
        );
        let c = format(SyslogFormat::Cef, 16, &alert());
        assert!(c.starts_with("CEF:0|Peregrine|Peregrine|"), "{c}");
        assert!(
            c.contains("|Read \\| shadow|Read \\| shadow|5|rt=1795611600000 "),
            "{c}"
        );
        assert!(c.contains("msg=a\\=b \"q\""), "{c}");
        assert!(c.contains("duser=root"), "{c}");
    }

    #[test]
    fn udp_delivery() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let t = SyslogTarget::parse(&format!("udp://{}", rx.local_addr().unwrap())).unwrap();
        let mut s = SyslogSink::open(&t, SyslogFormat::Rfc5424, 16, Priority::Debug).unwrap();
        s.send(&alert()).unwrap();
        let mut buf = [0u8; 4096];
        let n = rx.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("<132>1 "));
    }

    #[test]
    fn tcp_delivery_is_buffered_through_an_outage() {
        let dir = std::env::temp_dir().join(format!("pg-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A port nobody listens on yet.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut s = tcp_buffered(&addr, SyslogFormat::Cef, 16, Priority::Debug, &dir).unwrap();
        s.send(&alert()).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            s.buffered_bytes() > 0,
            "kept on disk while the collector is down"
        );
        assert!(s.failures() > 0);
        let l = std::net::TcpListener::bind(&addr).unwrap();
        let (mut c, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        let n = std::io::Read::read(&mut c, &mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).to_string();
        let (len, rest) = got.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len());
        assert!(rest.starts_with("CEF:0|"));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while s.buffered_bytes() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(s.buffered_bytes(), 0, "acknowledged once written");
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn targets_parse() {
        assert_eq!(
            SyslogTarget::parse("unix:///dev/log"),
            Some(SyslogTarget::Unix("/dev/log".into()))
        );
        assert!(SyslogTarget::parse("ftp://x").is_none());
    }
}
