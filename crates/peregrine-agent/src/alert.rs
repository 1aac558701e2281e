//! Alerts in Falco's JSON shape, plus a stable id and context.

use peregrine_event::{ContainerView, Event};
use peregrine_rules::{Match, Priority};
use peregrine_state::ProcessTable;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// One process of an alert's ancestry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AncestorInfo {
    /// Pid.
    pub pid: u32,
    /// Name.
    pub name: String,
    /// Executable path.
    pub exepath: String,
    /// Command line.
    pub cmdline: String,
}

/// Container and Kubernetes context of an alert.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ContainerInfo {
    /// Full id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image.
    pub image: String,
    /// Privileged.
    pub privileged: bool,
    /// Kubernetes namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s_namespace: Option<String>,
    /// Kubernetes pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub k8s_pod: Option<String>,
}

/// An alert. The first seven fields are exactly Falco's JSON output.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    /// RFC 3339 time with nanoseconds.
    pub time: String,
    /// Rule name.
    pub rule: String,
    /// Priority.
    pub priority: Priority,
    /// Event source.
    pub source: String,
    /// Host name.
    pub hostname: String,
    /// `HH:MM:SS.nnnnnnnnn: Priority text`, as Falco writes it.
    pub output: String,
    /// Values of the output's fields.
    pub output_fields: BTreeMap<String, String>,
    /// Rule tags.
    pub tags: Vec<String>,
    /// Stable unique id (dedup key for receivers).
    pub id: String,
    /// How many identical alerts this one stands for (dedup summaries > 1).
    #[serde(default = "one")]
    pub count: u64,
    /// Container context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Process ancestry, the process itself first.
    #[serde(default)]
    pub ancestry: Vec<AncestorInfo>,
}

fn one() -> u64 {
    1
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
pub fn rfc3339(ts_ns: u64) -> String {
    let secs = (ts_ns / 1_000_000_000) as i64;
    let ns = ts_ns % 1_000_000_000;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ns:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Parse the RFC 3339 time of an alert back to ns since the epoch (0 if invalid).
pub fn parse_rfc3339(s: &str) -> u64 {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' {
        return 0;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok()).unwrap_or(0);
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (hh, mm, ss) = (n(11..13), n(14..16), n(17..19));
    let frac: String = s[19..]
        .trim_start_matches('.')
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .take(9)
        .collect();
    let ns: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().unwrap_or(0)
    };
    let y2 = y - (m <= 2) as i64;
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + hh * 3600 + mm * 60 + ss;
    if secs < 0 {
        return 0;
    }
    secs as u64 * 1_000_000_000 + ns as u64
}

/// Makes unique alert ids: a random per-process prefix and a counter.
#[derive(Debug)]
pub struct IdGen {
    prefix: u64,
    counter: AtomicU64,
}

impl Default for IdGen {
    fn default() -> Self {
        let mut seed = [0u8; 8];
        if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
            let _ = std::io::Read::read_exact(&mut f, &mut seed);
        }
        IdGen {
            prefix: u64::from_ne_bytes(seed) ^ std::process::id() as u64,
            counter: AtomicU64::new(0),
        }
    }
}

impl IdGen {
    /// The next id.
    pub fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{:016x}", self.prefix, n)
    }
}

/// Build the alert for a rule match.
pub fn build(
    m: Match,
    ev: &Event,
    table: &ProcessTable,
    container: Option<&ContainerView>,
    hostname: &str,
    ids: &IdGen,
) -> Alert {
    let time = rfc3339(ev.ts_ns);
    let output = format!("{}: {} {}", &time[11..29], m.priority, m.output);
    let ancestry = (0..16)
        .map_while(|l| table.ancestor(ev.process.pid, l))
        .map(|p| AncestorInfo {
            pid: p.pid,
            name: p.name.clone(),
            exepath: p.exepath.clone(),
            cmdline: p.cmdline.clone(),
        })
        .collect();
    Alert {
        time,
        rule: m.rule,
        priority: m.priority,
        source: "syscall".into(),
        hostname: hostname.to_string(),
        output,
        output_fields: m.output_fields,
        tags: m.tags,
        id: ids.next(),
        count: 1,
        container: container.map(|c| ContainerInfo {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            privileged: c.privileged,
            k8s_namespace: c.labels.get("io.kubernetes.pod.namespace").cloned(),
            k8s_pod: c.labels.get("io.kubernetes.pod.name").cloned(),
        }),
        ancestry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn time_formats() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_795_611_600_500_000_000),
            "2026-11-25T13:00:00.500000000Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
    }
    #[test]
    fn time_round_trips() {
        for t in [0u64, 1_795_611_600_500_000_000, 951_782_400_000_000_001] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), t);
        }
        assert_eq!(parse_rfc3339("garbage"), 0);
    }

    #[test]
    fn ids_are_unique() {
        let g = IdGen::default();
        assert_ne!(g.next(), g.next());
    }
}
