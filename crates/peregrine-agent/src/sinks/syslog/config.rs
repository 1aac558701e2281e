//! Settings of the syslog sink: `syslog:udp://H:P`, `syslog:tcp://H:P`,
//! `syslog:unix:///dev/log` with `,format=rfc5424|cef,facility=N`, or
//! `{type: syslog, target: tcp://H:P, format: cef, facility: 16}`; over TCP
//! the shared disk-buffer options apply.

use crate::sinks::registry::SinkKind;
use crate::sinks::shared::Shared;
use crate::sinks::shorthand::Options;
use peregrine_rules::Priority;
use std::path::PathBuf;

/// Message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// RFC 5424 with the alert JSON as message and structured data.
    #[default]
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


impl std::fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyslogTarget::Udp(a) => write!(f, "udp://{a}"),
            SyslogTarget::Tcp(a) => write!(f, "tcp://{a}"),
            SyslogTarget::Unix(p) => write!(f, "unix://{p}"),
        }
    }
}

fn default_facility() -> u8 {
    16
}

/// The syslog sink's own settings.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSettings {
    /// `target`: `udp://HOST:PORT`, `tcp://HOST:PORT` or `unix://PATH`.
    pub target: String,
    /// `format`: `rfc5424` (default) or `cef`.
    #[serde(default)]
    pub format: SyslogFormat,
    /// `facility`: 0..23 (default 16, local0).
    #[serde(default = "default_facility")]
    pub facility: u8,
}

/// What the syslog sink runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct SyslogConfig {
    /// Destination.
    pub target: SyslogTarget,
    /// Message format.
    pub format: SyslogFormat,
    /// Facility number (16 = local0).
    pub facility: u8,
    /// Minimum priority.
    pub min_priority: Priority,
    /// Disk buffer (TCP only).
    pub buffer_dir: Option<PathBuf>,
    /// Alerts per delivery (TCP).
    pub batch: usize,
    /// Largest disk buffer (TCP).
    pub buffer_max_bytes: u64,
}

impl SinkKind for SyslogConfig {
    const NAMES: &'static [&'static str] = &["syslog"];
    const BUFFERED: bool = true;
    type Settings = SyslogSettings;

    fn shorthand(
        _kind: &str,
        arg: Option<&str>,
        opts: &mut Options<'_>,
    ) -> Result<SyslogSettings, String> {
        let format = match opts.take("format") {
            None | Some("rfc5424") => SyslogFormat::Rfc5424,
            Some("cef") => SyslogFormat::Cef,
            Some(v) => return Err(format!("format '{v}': expected rfc5424 or cef")),
        };
        let facility = match opts.take("facility") {
            None => default_facility(),
            Some(v) => v
                .parse()
                .map_err(|_| format!("facility '{v}' is not 0..23"))?,
        };
        Ok(SyslogSettings {
            target: arg.unwrap_or("").to_string(),
            format,
            facility,
        })
    }

    fn resolve(_kind: &str, s: SyslogSettings, shared: Shared) -> Result<SyslogConfig, String> {
        let target = SyslogTarget::parse(&s.target).ok_or(
            "syslog target must be udp://HOST:PORT, tcp://HOST:PORT or unix://PATH",
        )?;
        if s.facility >= 24 {
            return Err(format!("facility '{}' is not 0..23", s.facility));
        }
        let buffer_dir = match &target {
            SyslogTarget::Tcp(a) => Some(shared.buffer.dir("syslog", a)),
            _ if shared.buffer.is_set() => {
                return Err(
                    "buffer, batch and buffer_max_mb apply to syslog over tcp:// only".into(),
                )
            }
            _ => None,
        };
        Ok(SyslogConfig {
            target,
            format: s.format,
            facility: s.facility,
            min_priority: shared.min,
            buffer_dir,
            batch: shared.buffer.batch(),
            buffer_max_bytes: shared.buffer.max_bytes(),
        })
    }
}
