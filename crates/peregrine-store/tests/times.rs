//! MTTD (event time → stored) and MTTR (stored → resolved) per rule,
//! priority and `team:` tag, on SQLite and a real PostgreSQL.

use peregrine_event::{Alert, Priority};
use peregrine_store::*;

mod common;
use common::pg_fresh;

fn alert(id: &str, rule: &str, prio: Priority, secs_ago: u64, tags: &[&str]) -> Alert {
    let now = now_ns() as u64;
    Alert {
        time: peregrine_event::time::rfc3339(now - secs_ago * 1_000_000_000),
        rule: rule.into(),
        priority: prio,
        source: "syscall".into(),
        hostname: "node-a".into(),
        output: format!("{rule} happened"),
        output_fields: Default::default(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        id: id.into(),
        count: 1,
        container: None,
        ancestry: vec![],
    }
}

fn near(got: Option<i64>, want: i64, slack: i64, what: &str) {
    let g = got.unwrap_or_else(|| panic!("{what}: none"));
    assert!(
        (g - want).abs() <= slack,
        "{what}: {g}, expected {want} ± {slack}"
    );
}

fn behaves(s: &dyn Store) {
    let alerts = [
        alert("a", "Shell", Priority::Warning, 5, &["team:payments"]),
        alert(
            "b",
            "Shell",
            Priority::Warning,
            5,
            &["T1059", "team:payments"],
        ),
        alert("c", "Miner", Priority::Critical, 65, &["team:infra"]),
    ];
    s.insert_alerts("agent-1", &alerts).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(s
        .set_status(Some("agent-1"), "a", Status::Resolved, "ada")
        .unwrap());
    let t = s.response_times(&AlertQuery::default()).unwrap();
    assert_eq!(t.overall.alerts, 3);
    assert_eq!(t.overall.resolved, 1);
    near(
        t.overall.mttd_ms,
        (5_000 + 5_000 + 65_000) / 3,
        1_500,
        "overall MTTD",
    );
    near(t.overall.mttr_secs, 1, 1, "overall MTTR");

    let rule = |n: &str| t.by_rule.iter().find(|r| r.name == n).unwrap().clone();
    assert_eq!(t.by_rule[0].name, "Shell", "most alerts first");
    assert_eq!((rule("Shell").alerts, rule("Shell").resolved), (2, 1));
    near(rule("Shell").mttd_ms, 5_000, 1_500, "Shell MTTD");
    near(rule("Miner").mttd_ms, 65_000, 1_500, "Miner MTTD");
    assert_eq!(rule("Miner").mttr_secs, None, "nothing resolved, no MTTR");

    let prios: Vec<&str> = t.by_priority.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(prios, ["Critical", "Warning"], "most severe first");
    let teams: Vec<(&str, u64)> = t
        .by_team
        .iter()
        .map(|p| (p.name.as_str(), p.alerts))
        .collect();
    assert_eq!(teams, [("payments", 2), ("infra", 1)]);

    let only = s
        .response_times(&AlertQuery {
            rule: Some("Miner".into()),
            ..AlertQuery::default()
        })
        .unwrap();
    assert_eq!(only.overall.alerts, 1);
    let none = s
        .response_times(&AlertQuery {
            rule: Some("Nothing".into()),
            ..AlertQuery::default()
        })
        .unwrap();
    assert_eq!((none.overall.alerts, none.overall.mttd_ms), (0, None));
}

#[test]
fn sqlite_response_times() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("t.db")).unwrap();
    behaves(&s);
}

#[test]
fn postgres_response_times() {
    let Some(url) = pg_fresh() else { return };
    let s = open(&url).unwrap();
    behaves(s.as_ref());
}
