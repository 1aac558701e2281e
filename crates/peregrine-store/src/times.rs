//! Response times: **MTTD**, mean time to detect (the event's time to the
//! alert stored), and **MTTR**, mean time to remediate (the alert stored to
//! its resolution), per rule, priority and team, over any alert query.
//! A team is a rule tag `team:NAME` (an alert may count for several).
//! One SQL pass groups by (rule, priority, tags); the groups — a handful
//! per rule — are folded here.

use crate::dialect::{Dialect, TextSearch};
use crate::exec::Exec;
use crate::{AlertQuery, Result};
use peregrine_event::Priority;
use serde::Serialize;
use std::collections::BTreeMap;

/// Times of one group of alerts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Timing {
    /// Rule, priority or team name (empty for the overall line).
    pub name: String,
    /// Alerts.
    pub alerts: u64,
    /// Mean time to detect, milliseconds (event time to stored).
    pub mttd_ms: Option<i64>,
    /// Alerts resolved.
    pub resolved: u64,
    /// Mean time to remediate of the resolved ones, seconds.
    pub mttr_secs: Option<i64>,
}

/// MTTD and MTTR overall and per rule, priority and team.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ResponseTimes {
    /// Every alert of the query.
    pub overall: Timing,
    /// Per rule, most alerts first.
    pub by_rule: Vec<Timing>,
    /// Per priority, most severe first.
    pub by_priority: Vec<Timing>,
    /// Per `team:NAME` tag, most alerts first.
    pub by_team: Vec<Timing>,
}

/// Sums a group contributes.
#[derive(Default, Clone, Copy)]
struct Acc {
    alerts: u64,
    detect_ns: f64,
    resolved: u64,
    repair_ns: f64,
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.alerts += o.alerts;
        self.detect_ns += o.detect_ns;
        self.resolved += o.resolved;
        self.repair_ns += o.repair_ns;
    }

    fn timing(&self, name: String) -> Timing {
        Timing {
            name,
            alerts: self.alerts,
            mttd_ms: (self.alerts > 0).then(|| (self.detect_ns / self.alerts as f64 / 1e6) as i64),
            resolved: self.resolved,
            mttr_secs: (self.resolved > 0)
                .then(|| (self.repair_ns / self.resolved as f64 / 1e9) as i64),
        }
    }
}

fn sorted(map: BTreeMap<String, Acc>) -> Vec<Timing> {
    let mut v: Vec<Timing> = map.into_iter().map(|(k, a)| a.timing(k)).collect();
    v.sort_by(|a, b| b.alerts.cmp(&a.alerts).then_with(|| a.name.cmp(&b.name)));
    v
}

/// The response times of the alerts `q` selects.
pub(crate) fn response_times(
    x: &mut dyn Exec,
    d: Dialect,
    q: &AlertQuery,
    how: TextSearch,
) -> Result<ResponseTimes> {
    let (where_, p) = q.where_sql(d, false, how)?;
    // Means as integers (both back ends): a negative detection time (an
    // agent clock ahead of the server's) counts as 0.
    let sql = format!(
        "SELECT rule, priority, tags, COUNT(*),
                COALESCE(CAST(AVG(CASE WHEN received_ns > time_ns THEN received_ns - time_ns ELSE 0 END) AS BIGINT), 0),
                SUM(CASE WHEN status = 'resolved' AND status_ns IS NOT NULL THEN 1 ELSE 0 END),
                COALESCE(CAST(AVG(CASE WHEN status = 'resolved' AND status_ns IS NOT NULL
                    THEN (CASE WHEN status_ns > received_ns THEN status_ns - received_ns ELSE 0 END) END) AS BIGINT), 0)
         FROM alerts WHERE {where_} GROUP BY rule, priority, tags"
    );
    let mut overall = Acc::default();
    let mut rules: BTreeMap<String, Acc> = BTreeMap::new();
    let mut prios: BTreeMap<i64, Acc> = BTreeMap::new();
    let mut teams: BTreeMap<String, Acc> = BTreeMap::new();
    for mut r in x.rows(&sql, &p)? {
        let (rule, prio, tags) = (r.text(0)?, r.int(1)?, r.text(2)?);
        let alerts = r.int(3)?.max(0) as u64;
        let resolved = r.int(5)?.max(0) as u64;
        let acc = Acc {
            alerts,
            detect_ns: r.int(4)? as f64 * alerts as f64,
            resolved,
            repair_ns: r.int(6)? as f64 * resolved as f64,
        };
        overall.add(&acc);
        rules.entry(rule).or_default().add(&acc);
        prios.entry(prio).or_default().add(&acc);
        for team in tags.split(',').filter_map(|t| t.strip_prefix("team:")) {
            teams.entry(team.to_string()).or_default().add(&acc);
        }
    }
    Ok(ResponseTimes {
        overall: overall.timing(String::new()),
        by_rule: sorted(rules),
        by_priority: prios
            .into_iter()
            .map(|(p, a)| {
                let name = Priority::from_index(p).map_or(p.to_string(), |p| p.to_string());
                a.timing(name)
            })
            .collect(),
        by_team: sorted(teams),
    })
}
