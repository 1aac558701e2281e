//! Syslog messages: RFC 5424 with structured data, or ArcSight CEF.

use super::SyslogFormat;
use crate::alert::Alert;
use peregrine_rules::Priority;

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

