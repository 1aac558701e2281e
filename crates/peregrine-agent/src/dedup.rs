//! Dedup and throttling of alerts.
//!
//! * Dedup: alerts of the same rule whose key fields are equal within a
//!   window are aggregated. The first goes out at once; at the end of the
//!   window one summary alert carries how many were suppressed (`count`).
//! * Throttling: at most N alerts per second per rule (token bucket); the
//!   rest are counted as suppressed.

use crate::alert::Alert;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// Output fields that differ between otherwise identical alerts and are
/// therefore not part of the default dedup key.
pub const VOLATILE_FIELDS: &[&str] = &[
    "evt.time",
    "evt.rawtime",
    "evt.num",
    "proc.pid",
    "proc.ppid",
    "proc.vpid",
    "thread.tid",
    "fd.num",
    "fd.cport",
    "fd.lport",
    "proc.duration",
    "proc.apid",
];

/// Settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DedupConfig {
    /// Aggregation window; zero disables dedup.
    pub window: Duration,
    /// Key fields; empty: every output field except [`VOLATILE_FIELDS`].
    pub key_fields: Vec<String>,
    /// Alerts per second per rule; zero: unlimited.
    pub rate_per_rule: u32,
}

struct Entry {
    opened: Instant,
    suppressed: u64,
    last: Option<Alert>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The dedup/throttle stage.
pub struct Dedup {
    cfg: DedupConfig,
    open: HashMap<u64, Entry>,
    buckets: HashMap<String, Bucket>,
    /// Alerts suppressed by dedup.
    pub deduped: u64,
    /// Alerts suppressed by the rate limit.
    pub throttled: u64,
}

impl Dedup {
    /// A stage with this configuration.
    pub fn new(cfg: DedupConfig) -> Dedup {
        Dedup {
            cfg,
            open: HashMap::new(),
            buckets: HashMap::new(),
            deduped: 0,
            throttled: 0,
        }
    }

    fn key(&self, a: &Alert) -> u64 {
        let mut h = DefaultHasher::new();
        a.rule.hash(&mut h);
        if self.cfg.key_fields.is_empty() {
            for (k, v) in &a.output_fields {
                if !VOLATILE_FIELDS.contains(&k.as_str()) {
                    k.hash(&mut h);
                    v.hash(&mut h);
                }
            }
        } else {
            for k in &self.cfg.key_fields {
                k.hash(&mut h);
                a.output_fields.get(k).hash(&mut h);
            }
        }
        a.container.as_ref().map(|c| &c.id).hash(&mut h);
        h.finish()
    }

    /// Admit an alert at `now`: `Some` to send it, `None` when suppressed.
    pub fn admit(&mut self, a: Alert, now: Instant) -> Option<Alert> {
        if self.cfg.rate_per_rule > 0 {
            let rate = self.cfg.rate_per_rule as f64;
            let b = self.buckets.entry(a.rule.clone()).or_insert(Bucket {
                tokens: rate,
                at: now,
            });
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(rate);
            b.at = now;
            if b.tokens < 1.0 {
                self.throttled += 1;
                return None;
            }
            b.tokens -= 1.0;
        }
        if self.cfg.window.is_zero() {
            return Some(a);
        }
        let key = self.key(&a);
        match self.open.get_mut(&key) {
            Some(e) if now.saturating_duration_since(e.opened) < self.cfg.window => {
                e.suppressed += 1;
                e.last = Some(a);
                self.deduped += 1;
                None
            }
            _ => {
                self.open.insert(
                    key,
                    Entry {
                        opened: now,
                        suppressed: 0,
                        last: None,
                    },
                );
                Some(a)
            }
        }
    }

    /// Close windows that ended before `now` (all of them with `force`) and
    /// return the summary alerts of those that suppressed something.
    pub fn expire(&mut self, now: Instant, force: bool) -> Vec<Alert> {
        let window = self.cfg.window;
        let mut out = Vec::new();
        self.open.retain(|_, e| {
            let done = force || now.saturating_duration_since(e.opened) >= window;
            if done && e.suppressed > 0 {
                if let Some(mut a) = e.last.take() {
                    a.count = e.suppressed;
                    a.output = format!(
                        "{} ({} similar alerts in {}s)",
                        a.output,
                        e.suppressed,
                        window.as_secs()
                    );
                    out.push(a);
                }
            }
            !done
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn alert(rule: &str, file: &str, pid: &str) -> Alert {
        let mut f = BTreeMap::new();
        f.insert("fd.name".to_string(), file.to_string());
        f.insert("proc.pid".to_string(), pid.to_string());
        Alert {
            time: String::new(),
            rule: rule.into(),
            priority: peregrine_rules::Priority::Warning,
            source: "syscall".into(),
            hostname: "h".into(),
            output: "out".into(),
            output_fields: f,
            tags: vec![],
            id: pid.into(),
            count: 1,
            container: None,
            ancestry: vec![],
        }
    }

    #[test]
    fn identical_alerts_aggregate_within_the_window() {
        let t0 = Instant::now();
        let mut d = Dedup::new(DedupConfig {
            window: Duration::from_secs(10),
            ..Default::default()
        });
        assert!(d.admit(alert("r", "/etc/shadow", "1"), t0).is_some());
        assert!(
            d.admit(alert("r", "/etc/shadow", "2"), t0 + Duration::from_secs(1))
                .is_none(),
            "pid is volatile"
        );
        assert!(d
            .admit(alert("r", "/etc/shadow", "3"), t0 + Duration::from_secs(2))
            .is_none());
        assert!(
            d.admit(alert("r", "/etc/passwd", "4"), t0 + Duration::from_secs(2))
                .is_some(),
            "other key"
        );
        assert!(
            d.admit(alert("q", "/etc/shadow", "5"), t0 + Duration::from_secs(2))
                .is_some(),
            "other rule"
        );
        assert!(d.expire(t0 + Duration::from_secs(5), false).is_empty());
        let s = d.expire(t0 + Duration::from_secs(11), false);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].count, 2);
        assert_eq!(s[0].id, "3");
        assert!(s[0].output.ends_with("(2 similar alerts in 10s)"));
        assert!(
            d.admit(alert("r", "/etc/shadow", "6"), t0 + Duration::from_secs(12))
                .is_some(),
            "new window"
        );
        assert_eq!(d.deduped, 2);
    }

    #[test]
    fn rate_limit_per_rule() {
        let t0 = Instant::now();
        let mut d = Dedup::new(DedupConfig {
            rate_per_rule: 2,
            ..Default::default()
        });
        let passed = (0..10)
            .filter(|i| d.admit(alert("r", &format!("/f{i}"), "1"), t0).is_some())
            .count();
        assert_eq!(passed, 2);
        assert!(d.admit(alert("other", "/x", "1"), t0).is_some());
        assert!(
            d.admit(alert("r", "/y", "1"), t0 + Duration::from_secs(1))
                .is_some(),
            "refilled"
        );
        assert_eq!(d.throttled, 8);
    }

    #[test]
    fn disabled_by_default() {
        let mut d = Dedup::new(DedupConfig::default());
        let t0 = Instant::now();
        assert!(d.admit(alert("r", "/a", "1"), t0).is_some());
        assert!(d.admit(alert("r", "/a", "1"), t0).is_some());
        assert!(d.expire(t0, true).is_empty());
    }
}
