//! A database made by an earlier Peregrine (schema version 2, written with
//! that version's exact schema text) opened by this one: nothing is lost,
//! search and context still work, and alerts become unique per agent.

mod common;

use peregrine_event::{Alert, Priority};
use peregrine_store::*;
use std::collections::BTreeMap;

const T0: i64 = 1_764_000_000_000_000_000;

fn old_alert(i: i64) -> Alert {
    let mut fields = BTreeMap::new();
    fields.insert("evt.type".to_string(), "openat".to_string());
    fields.insert("proc.name".to_string(), "cat".to_string());
    Alert {
        time: peregrine_event::time::rfc3339((T0 + i * 1_000_000_000) as u64),
        rule: "Read sensitive file".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "old-host".into(),
        output: format!("Sensitive file opened (file=/etc/shadow n={i})"),
        output_fields: fields,
        tags: vec!["T1003".into()],
        id: format!("old-{i}"),
        count: 1,
        container: None,
        ancestry: vec![],
    }
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The statements the old server ran: the migrations, then three alerts of
/// `agent-old` (one acknowledged) with a context row each, a token, an agent.
fn old_database(migrations: &[&str], int: &str) -> String {
    let mut sql = format!("CREATE TABLE schema_migrations (version {int} PRIMARY KEY);\n");
    for (i, m) in migrations.iter().enumerate() {
        sql.push_str(m);
        sql.push_str(&format!(
            ";\nINSERT INTO schema_migrations(version) VALUES ({});\n",
            i + 1
        ));
    }
    for i in 0..3 {
        let a = old_alert(i);
        sql.push_str(&format!(
            "INSERT INTO alerts (id, time_ns, received_ns, rule, priority, source, hostname, agent,
                tags, output, count, doc)
             VALUES ({}, {}, {}, {}, 4, 'syscall', 'old-host', 'agent-old', 'T1003', {}, 1, {});
             INSERT INTO alert_events (alert_rid, seq, kind, pid, name, exepath, cmdline, detail)
             VALUES ((SELECT rid FROM alerts WHERE id = {}), 0, 'openat', 7, 'cat', '/usr/bin/cat',
                'cat /etc/shadow', '{{}}');\n",
            lit(&a.id),
            T0 + i * 1_000_000_000,
            T0,
            lit(&a.rule),
            lit(&a.output),
            lit(&serde_json::to_string(&a).unwrap()),
            lit(&a.id),
        ));
    }
    sql.push_str(
        "UPDATE alerts SET status = 'acknowledged', status_by = 'alice' WHERE id = 'old-1';
         INSERT INTO tokens (sha256, name, role, created) VALUES ('aa', 'agent-old', 'agent', 1);
         INSERT INTO agents (id, first_seen, last_seen, doc)
         VALUES ('agent-old', 1, 2, '{\"agent\":\"agent-old\",\"hostname\":\"old-host\",\"version\":\"0.1.0\"}');",
    );
    sql
}

/// What must hold after the upgrade; `events` counts every context row.
fn upgraded(s: &dyn Store, events: &dyn Fn() -> i64) {
    assert_eq!(s.count().unwrap(), 3, "no alert lost");
    let a = s.get_alert(None, "old-1").unwrap().unwrap();
    assert_eq!((a.alert, a.agent.as_str()), (old_alert(1), "agent-old"));
    assert_eq!(
        (a.status, a.status_by.as_deref()),
        (Status::Acknowledged, Some("alice"))
    );
    assert_eq!(
        s.alert_events(None, "old-2").unwrap()[0].cmdline,
        "cat /etc/shadow"
    );
    assert_eq!(events(), 3);
    let text = |t: &str| {
        s.query_alerts(&AlertQuery {
            text: Some(t.into()),
            ..Default::default()
        })
        .unwrap()
        .total
    };
    assert_eq!(text("etc/shadow n=2"), 1, "old rows are still searchable");
    assert_eq!(s.token("aa").unwrap().unwrap().name, "agent-old");
    assert_eq!(s.agents().unwrap()[0].heartbeat.hostname, "old-host");

    // Old rows take part in the new identity rules.
    let r = s.insert_alerts("agent-old", &[old_alert(0)]).unwrap();
    assert_eq!(
        r.outcomes,
        [Outcome::Duplicate],
        "identical re-send of an old row"
    );
    let mut changed = old_alert(0);
    changed.output.push_str(" (changed)");
    let r = s
        .insert_alerts("agent-old", std::slice::from_ref(&changed))
        .unwrap();
    assert_eq!(r.outcomes, [Outcome::Conflict]);
    let r = s.insert_alerts("agent-new", &[changed]).unwrap();
    assert_eq!(r.outcomes, [Outcome::New], "another agent's old-0");
    assert_eq!(text("(changed)"), 1, "new rows are indexed");
    assert_eq!(events(), 4);
    // New alerts group into incidents (version 4); old ones stay outside.
    let inc = s.incidents(&IncidentQuery::default()).unwrap();
    assert_eq!(inc.len(), 1, "{inc:?}");
    assert_eq!(
        (inc[0].agent.as_str(), inc[0].alert_count),
        ("agent-new", 1)
    );

    // Context rows still go with their alerts.
    s.retain(
        &Retention {
            max_age_secs: 0,
            max_alerts: 1,
            max_bytes: 0,
        },
        T0,
    )
    .unwrap();
    assert_eq!(s.count().unwrap(), 1);
    assert_eq!(events(), 1);
}

#[test]
fn sqlite_database_of_schema_2_upgrades() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(&old_database(common::old_schema::SQLITE, "INTEGER"))
            .unwrap();
    }
    let events = || {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.query_row("SELECT COUNT(*) FROM alert_events", [], |r| r.get(0))
            .unwrap()
    };
    let s = SqliteStore::open(&path).unwrap();
    upgraded(&s, &events);
    drop(s);
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.count().unwrap(), 1, "reopening migrates nothing twice");
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(v, 4);
}

#[test]
fn postgres_database_of_schema_2_upgrades() {
    let Some(url) = common::pg_fresh() else {
        return;
    };
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&old_database(common::old_schema::POSTGRES, "BIGINT"))
        .unwrap();
    let events = || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one("SELECT COUNT(*) FROM alert_events", &[])
            .unwrap()
            .get::<_, i64>(0)
    };
    let s = open(&url).unwrap();
    upgraded(s.as_ref(), &events);
    drop(s);
    let s = open(&url).unwrap();
    assert_eq!(s.count().unwrap(), 1, "reopening migrates nothing twice");
}
