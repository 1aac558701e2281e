//! Syslog: RFC 5424 or CEF messages over UDP, a unix datagram socket, or
//! TCP (RFC 6587 octet counting, reconnecting), the TCP form disk-buffered
//! like the HTTP sinks so that nothing is lost while the collector is down.

mod config;
mod format;
mod sink;
#[cfg(test)]
mod tests;

pub use config::{SyslogConfig, SyslogFormat, SyslogSettings, SyslogTarget};
pub use format::{format, severity};
pub use sink::{tcp_buffered, SyslogSink};
