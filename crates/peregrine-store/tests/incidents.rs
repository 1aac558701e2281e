//! Incidents on both back ends: grouping by (agent, host, container, rule,
//! process tree) within the window, status/assignee/comment changes with an
//! append-only history, all-or-nothing bulk changes, and the version 3 → 4
//! upgrade.

mod common;

use peregrine_event::alert::{AncestorInfo, ContainerInfo};
use peregrine_event::{Alert, Priority};
use peregrine_store::*;
use std::collections::BTreeMap;

const T0: i64 = 1_764_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn alert(id: &str, secs: i64, rule: &str, container: &str, root: u32, prio: Priority) -> Alert {
    let mut fields = BTreeMap::new();
    fields.insert("proc.pid".to_string(), "4242".to_string());
    Alert {
        time: peregrine_event::time::rfc3339((T0 + secs * SEC) as u64),
        rule: rule.into(),
        priority: prio,
        source: "syscall".into(),
        hostname: "web-1".into(),
        output: format!("{rule} ({id})"),
        output_fields: fields,
        tags: vec![],
        id: id.into(),
        count: 1,
        container: (!container.is_empty()).then(|| ContainerInfo {
            id: container.into(),
            name: format!("{container}-name"),
            ..Default::default()
        }),
        ancestry: vec![
            AncestorInfo {
                pid: 4242,
                name: "cat".into(),
                exepath: "/usr/bin/cat".into(),
                cmdline: "cat".into(),
            },
            AncestorInfo {
                pid: root,
                name: "bash".into(),
                exepath: "/usr/bin/bash".into(),
                cmdline: "bash".into(),
            },
            AncestorInfo {
                pid: 1,
                name: "init".into(),
                exepath: "/sbin/init".into(),
                cmdline: "init".into(),
            },
        ],
    }
}

fn all(s: &dyn Store) -> Vec<Incident> {
    s.incidents(&IncidentQuery::default()).unwrap()
}

fn grouping(s: &dyn Store) {
    use Priority::*;
    let batch = [
        alert("a1", 0, "R", "c1", 100, Warning),
        alert("a2", 600, "R", "c1", 100, Critical), // same key, in window
        alert("a3", 601, "R", "c2", 100, Warning),  // other container
        alert("a4", 602, "Other", "c1", 100, Warning), // other rule
        alert("a5", 603, "R", "c1", 200, Warning),  // other process tree
        alert("a6", 600 + 3601, "R", "c1", 100, Warning), // past the window
    ];
    s.insert_alerts("ag", &batch).unwrap();
    let inc = all(s);
    assert_eq!(inc.len(), 5, "{inc:#?}");
    let first = inc
        .iter()
        .find(|i| i.alert_count == 2)
        .expect("a1+a2 grouped");
    assert_eq!(
        (
            first.rule.as_str(),
            first.container_id.as_str(),
            first.tree_pid
        ),
        ("R", "c1", 100)
    );
    assert_eq!((first.first_ns, first.last_ns), (T0, T0 + 600 * SEC));
    assert_eq!(first.priority, Critical.index() as i64, "most severe wins");
    assert_eq!(first.status, IncidentStatus::Open);
    let d = s.incident(first.id).unwrap().unwrap();
    let ids: Vec<_> = d.alerts.iter().map(|a| a.alert.id.as_str()).collect();
    assert_eq!(ids, ["a2", "a1"], "alerts newest first");
    let actions: Vec<_> = d.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["created", "alert", "alert"]);
    assert_eq!(d.history[0].actor, SYSTEM_ACTOR);
    // A re-sent alert does not count twice.
    s.insert_alerts("ag", &batch[..1]).unwrap();
    assert_eq!(
        s.incident(first.id).unwrap().unwrap().incident.alert_count,
        2
    );
    // A closed incident takes no new alerts: the next one opens another.
    s.update_incidents(
        &[first.id],
        &IncidentChange {
            status: Some(IncidentStatus::Resolved),
            ..Default::default()
        },
        "alice",
    )
    .unwrap();
    s.insert_alerts("ag", &[alert("a7", 10, "R", "c1", 100, Warning)])
        .unwrap();
    assert_eq!(all(s).len(), 6);
    // The window is configurable.
    s.set_incident_window(10);
    s.insert_alerts("ag", &[alert("b1", 0, "W", "", 7, Warning)])
        .unwrap();
    s.insert_alerts("ag", &[alert("b2", 11, "W", "", 7, Warning)])
        .unwrap();
    s.insert_alerts("ag", &[alert("b3", 20, "W", "", 7, Warning)])
        .unwrap();
    let w: Vec<i64> = all(s)
        .iter()
        .filter(|i| i.rule == "W")
        .map(|i| i.alert_count)
        .collect();
    assert_eq!(
        w,
        [2, 1],
        "newest first: b2+b3 within 10 s of each other, b1 alone"
    );
}

fn workflow(s: &dyn Store) {
    s.insert_alerts(
        "ag",
        &[
            alert("x1", 0, "X", "c1", 10, Priority::Error),
            alert("y1", 0, "Y", "c1", 10, Priority::Error),
        ],
    )
    .unwrap();
    let inc = all(s);
    let (x, y) = (inc[1].id, inc[0].id);
    let change = |status, assignee: Option<&str>, comment: Option<&str>| IncidentChange {
        status,
        assignee: assignee.map(str::to_string),
        comment: comment.map(str::to_string),
    };
    let missing = s
        .update_incidents(
            &[x, 999_999],
            &change(Some(IncidentStatus::Acknowledged), None, None),
            "bob",
        )
        .unwrap();
    assert_eq!(missing, [999_999]);
    assert_eq!(
        s.incident(x).unwrap().unwrap().incident.status,
        IncidentStatus::Open,
        "all or nothing"
    );
    let missing = s
        .update_incidents(
            &[x, y],
            &change(
                Some(IncidentStatus::Acknowledged),
                Some("bob"),
                Some("on it"),
            ),
            "bob",
        )
        .unwrap();
    assert!(missing.is_empty());
    s.update_incidents(
        &[y],
        &change(Some(IncidentStatus::FalsePositive), Some("bob"), None),
        "carol",
    )
    .unwrap();
    let d = s.incident(y).unwrap().unwrap();
    assert_eq!(
        (d.incident.status, d.incident.assignee.as_str()),
        (IncidentStatus::FalsePositive, "bob")
    );
    let h: Vec<_> = d
        .history
        .iter()
        .skip(2)
        .map(|h| {
            (
                h.actor.as_str(),
                h.action.as_str(),
                h.old.as_str(),
                h.new.as_str(),
            )
        })
        .collect();
    assert_eq!(
        h,
        [
            ("bob", "status", "open", "acknowledged"),
            ("bob", "assignee", "", "bob"),
            ("bob", "comment", "", "on it"),
            ("carol", "status", "acknowledged", "false_positive"),
        ],
        "an unchanged assignee is not recorded"
    );
    assert!(d.history.windows(2).all(|w| w[0].at_ns <= w[1].at_ns));
    // Filters.
    let q = |status: Vec<IncidentStatus>, assignee: Option<&str>| {
        s.incidents(&IncidentQuery {
            status,
            assignee: assignee.map(str::to_string),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect::<Vec<_>>()
    };
    assert_eq!(q(vec![IncidentStatus::Acknowledged], None), [x]);
    assert_eq!(q(vec![], Some("bob")), [y, x]);
    assert_eq!(q(vec![IncidentStatus::Open], None), Vec::<i64>::new());
    let page = s
        .incidents(&IncidentQuery {
            limit: 1,
            before_id: Some(y),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.iter().map(|i| i.id).collect::<Vec<_>>(), [x]);
}

#[test]
fn sqlite_incidents_group_and_change() {
    let dir = tempfile::tempdir().unwrap();
    grouping(&SqliteStore::open(&dir.path().join("g.db")).unwrap());
    workflow(&SqliteStore::open(&dir.path().join("w.db")).unwrap());
}

#[test]
fn postgres_incidents_group_and_change() {
    let Some(url) = common::pg_fresh() else {
        return;
    };
    grouping(open(&url).unwrap().as_ref());
    let Some(url) = common::pg_fresh() else {
        return;
    };
    workflow(open(&url).unwrap().as_ref());
}

#[test]
fn sqlite_history_is_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.db");
    let s = SqliteStore::open(&path).unwrap();
    s.insert_alerts("ag", &[alert("h1", 0, "H", "", 5, Priority::Error)])
        .unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "UPDATE incident_history SET actor = 'mallory'",
        "DELETE FROM incident_history",
    ] {
        let e = c.execute(sql, []).unwrap_err().to_string();
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
}

#[test]
fn postgres_history_is_append_only() {
    let Some(url) = common::pg_fresh() else {
        return;
    };
    let s = open(&url).unwrap();
    s.insert_alerts("ag", &[alert("h1", 0, "H", "", 5, Priority::Error)])
        .unwrap();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for sql in [
        "UPDATE incident_history SET actor = 'mallory'",
        "DELETE FROM incident_history",
    ] {
        let e = c.batch_execute(sql).unwrap_err();
        let e = format!("{e:?}");
        assert!(e.contains("append-only"), "{sql}: {e}");
    }
}

/// A version 3 database (this schema without version 4's tables) with
/// alerts in it upgrades: the alerts stay, new ones group.
#[test]
fn sqlite_database_of_schema_3_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    let s = SqliteStore::open(&path).unwrap();
    drop(s);
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch(
        "DROP TABLE incident_history; DROP TABLE incident_alerts; DROP TABLE incidents;
         DELETE FROM schema_migrations WHERE version = 4;",
    )
    .unwrap();
    drop(c);
    let s = SqliteStore::open(&path).unwrap();
    s.insert_alerts("ag", &[alert("v1", 0, "V", "", 5, Priority::Error)])
        .unwrap();
    assert_eq!(all(&s).len(), 1);
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, 4);
}
