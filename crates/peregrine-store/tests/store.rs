//! One behavioural suite, run against SQLite and a real PostgreSQL (started
//! by the test command; `PEREGRINE_TEST_POSTGRES` is its URL).

use peregrine_event::alert::{AncestorInfo, ContainerInfo};
use peregrine_event::{Alert, Priority};
use peregrine_store::*;
use std::collections::BTreeMap;

mod common;
use common::pg_fresh;

const T0: i64 = 1_764_000_000_000_000_000; // 2025-11-24T16:00:00Z

fn alert(i: i64, rule: &str, prio: Priority, host: &str, container: Option<(&str, &str)>) -> Alert {
    let t = T0 + i * 1_000_000_000;
    let mut fields = BTreeMap::new();
    fields.insert("evt.type".to_string(), "openat".to_string());
    fields.insert("proc.name".to_string(), "cat".to_string());
    fields.insert("proc.pid".to_string(), (1000 + i).to_string());
    fields.insert("fd.name".to_string(), "/etc/shadow".to_string());
    Alert {
        time: peregrine_event::time::rfc3339(t as u64),
        rule: rule.to_string(),
        priority: prio,
        source: "syscall".into(),
        hostname: host.into(),
        output: format!("Sensitive file opened (file=/etc/shadow n={i} 50%_x)"),
        output_fields: fields,
        tags: vec!["T1003".into()],
        id: format!("id-{i:06}"),
        count: 1,
        container: container.map(|(id, name)| ContainerInfo {
            id: id.into(),
            name: name.into(),
            image: "docker.io/library/nginx:1.27".into(),
            privileged: false,
            k8s_namespace: Some("payments".into()),
            k8s_pod: Some("web-0".into()),
            ..Default::default()
        }),
        ancestry: vec![
            AncestorInfo {
                pid: (1000 + i) as u32,
                name: "cat".into(),
                exepath: "/usr/bin/cat".into(),
                cmdline: "cat /etc/shadow".into(),
            },
            AncestorInfo {
                pid: 900,
                name: "bash".into(),
                exepath: "/usr/bin/bash".into(),
                cmdline: "bash".into(),
            },
        ],
    }
}

fn fixture() -> Vec<Alert> {
    let cid = "4f1d2a3b5c6d7e8f90112233445566778899aabbccddeeff0011223344556677";
    (0..120)
        .map(|i| {
            let (rule, prio) = match i % 3 {
                0 => ("Read sensitive file untrusted", Priority::Warning),
                1 => ("Terminal shell in container", Priority::Notice),
                _ => ("Reverse shell", Priority::Critical),
            };
            let host = if i % 2 == 0 { "node-a" } else { "node-b" };
            let c = if i % 4 == 0 { Some((cid, "web")) } else { None };
            alert(i, rule, prio, host, c)
        })
        .collect()
}

fn q() -> AlertQuery {
    AlertQuery::default()
}

fn suite(s: &dyn Store) {
    let all = fixture();
    assert_eq!(s.insert_alerts("agent-1", &all[..60]).unwrap().stored(), 60);
    assert_eq!(
        s.insert_alerts("agent-1", &all).unwrap().stored(),
        60,
        "ids already stored are ignored"
    );
    assert_eq!(s.count().unwrap(), 120);

    // Newest first, cursor pages cover everything once.
    let mut seen = Vec::new();
    let mut query = AlertQuery {
        limit: Some(7),
        ..q()
    };
    loop {
        let page = s.query_alerts(&query).unwrap();
        assert_eq!(page.total, 120);
        seen.extend(page.alerts.iter().map(|a| a.alert.id.clone()));
        match page.next {
            Some(c) => query.cursor = Some(c),
            None => break,
        }
    }
    let mut expected: Vec<String> = all.iter().rev().map(|a| a.id.clone()).collect();
    assert_eq!(seen, expected);
    expected.sort();

    let count = |query: AlertQuery| s.query_alerts(&query).unwrap().total;
    assert_eq!(
        count(AlertQuery {
            min_priority: Some(Priority::Warning),
            ..q()
        }),
        80
    );
    assert_eq!(
        count(AlertQuery {
            priorities: vec![Priority::Notice],
            ..q()
        }),
        40
    );
    assert_eq!(
        count(AlertQuery {
            rule: Some("Reverse shell".into()),
            ..q()
        }),
        40
    );
    assert_eq!(
        count(AlertQuery {
            host: Some("node-a".into()),
            ..q()
        }),
        60
    );
    assert_eq!(
        count(AlertQuery {
            container: Some("web".into()),
            ..q()
        }),
        30
    );
    assert_eq!(
        count(AlertQuery {
            container: Some("4f1d2a3b5c6d".into()),
            ..q()
        }),
        30
    );
    assert_eq!(
        count(AlertQuery {
            container: Some("4f".into()),
            ..q()
        }),
        0
    );
    assert_eq!(
        count(AlertQuery {
            image: Some("docker.io/library/nginx*".into()),
            ..q()
        }),
        30
    );
    assert_eq!(
        count(AlertQuery {
            k8s_namespace: Some("payments".into()),
            ..q()
        }),
        30
    );
    assert_eq!(
        count(AlertQuery {
            text: Some("ETC/SHAD".into()),
            ..q()
        }),
        120
    );
    assert_eq!(
        count(AlertQuery {
            text: Some("n=11".into()),
            ..q()
        }),
        11,
        "n=11, n=110..119"
    );
    assert_eq!(
        count(AlertQuery {
            text: Some("%_".into()),
            ..q()
        }),
        120,
        "LIKE wildcards are literal"
    );
    assert_eq!(
        count(AlertQuery {
            text: Some("reverse".into()),
            ..q()
        }),
        40,
        "rule names are searched"
    );
    assert_eq!(
        count(AlertQuery {
            text: Some("\"quoted' nothing".into()),
            ..q()
        }),
        0
    );
    assert_eq!(
        count(AlertQuery {
            from_ns: Some(T0 + 10_000_000_000),
            to_ns: Some(T0 + 20_000_000_000),
            ..q()
        }),
        10
    );
    assert!(s
        .query_alerts(&AlertQuery {
            cursor: Some("junk".into()),
            ..q()
        })
        .is_err());

    // Detail and context.
    let a = s.get_alert(None, "id-000004").unwrap().unwrap();
    assert_eq!(a.alert, all[4]);
    assert_eq!(a.agent, "agent-1");
    assert_eq!(a.status, Status::Open);
    assert_eq!(a.time_ns, T0 + 4_000_000_000);
    assert!(s.get_alert(None, "nope").unwrap().is_none());
    let ev = s.alert_events(None, "id-000004").unwrap();
    assert_eq!(ev.len(), 3);
    assert_eq!(
        (ev[0].kind.as_str(), ev[0].name.as_str()),
        ("process", "bash")
    );
    assert_eq!(ev[1].cmdline, "cat /etc/shadow");
    assert_eq!(ev[2].kind, "openat");
    assert_eq!(ev[2].detail["fd.name"], "/etc/shadow");

    // Triage.
    assert!(s
        .set_status(None, "id-000004", Status::Acknowledged, "alice")
        .unwrap());
    assert!(!s
        .set_status(None, "nope", Status::Resolved, "alice")
        .unwrap());
    let a = s.get_alert(None, "id-000004").unwrap().unwrap();
    assert_eq!(
        (a.status, a.status_by.as_deref()),
        (Status::Acknowledged, Some("alice"))
    );
    assert_eq!(
        count(AlertQuery {
            status: Some(Status::Acknowledged),
            ..q()
        }),
        1
    );

    // Aggregations.
    let agg = s.aggregate(&q(), 60).unwrap();
    assert_eq!(agg.total, 120);
    assert_eq!(agg.by_priority[Priority::Critical.index() as usize], 40);
    assert_eq!(agg.buckets.len(), 2, "120 s in 60 s buckets");
    assert_eq!(
        agg.buckets
            .iter()
            .map(|b| b.counts.iter().sum::<u64>())
            .sum::<u64>(),
        120
    );
    assert_eq!(agg.top_rules.len(), 3);
    assert_eq!(
        agg.top_containers,
        vec![Top {
            name: "web".into(),
            count: 30
        }]
    );
    assert_eq!(agg.top_hosts[0].count, 60);
    assert_eq!(agg.by_status["acknowledged"], 1);

    // Agents and rules.
    let hb = Heartbeat {
        agent: "agent-1".into(),
        hostname: "node-a".into(),
        version: "0.1.0".into(),
        events: 10,
        drops: [("file".to_string(), 3u64)].into_iter().collect(),
        ..Default::default()
    };
    s.heartbeat(&hb).unwrap();
    s.heartbeat(&Heartbeat {
        events: 20,
        ..hb.clone()
    })
    .unwrap();
    let agents = s.agents().unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].heartbeat.events, 20);
    assert_eq!(agents[0].heartbeat.drops["file"], 3);
    let rule = |name: &str| RuleInfo {
        name: name.into(),
        priority: Priority::Warning,
        tags: vec![],
        desc: "d".into(),
        enabled: true,
        file: "x.yaml".into(),
    };
    s.put_ruleset("agent-1", &[rule("Reverse shell"), rule("Unused")])
        .unwrap();
    s.put_ruleset("agent-2", &[rule("Reverse shell")]).unwrap();
    let rules = s.rules().unwrap();
    assert_eq!(rules.len(), 2);
    let rs = rules
        .iter()
        .find(|r| r.rule.name == "Reverse shell")
        .unwrap();
    assert_eq!((rs.agents, rs.alerts), (2, 40));
    s.put_ruleset("agent-1", &[]).unwrap();
    assert_eq!(s.rules().unwrap().len(), 1);

    // Tokens.
    s.add_token("agent-1", Role::Agent, "aa").unwrap();
    s.add_token("ops", Role::Admin, "bb").unwrap();
    assert_eq!(s.token("aa").unwrap().unwrap().role, Role::Agent);
    assert!(s.token("cc").unwrap().is_none());
    assert_eq!(s.tokens().unwrap().len(), 2);
    assert_eq!(s.revoke_token("agent-1").unwrap(), 1);
    assert!(s.token("aa").unwrap().is_none());

    // Retention: by age, then by count (events go with their alerts).
    let now = T0 + 200_000_000_000;
    let gone = s
        .retain(
            &Retention {
                max_age_secs: 100,
                max_alerts: 0,
                max_bytes: 0,
            },
            now,
        )
        .unwrap();
    assert_eq!(gone, 100);
    assert_eq!(s.count().unwrap(), 20);
    let gone = s
        .retain(
            &Retention {
                max_age_secs: 0,
                max_alerts: 5,
                max_bytes: 0,
            },
            now,
        )
        .unwrap();
    assert_eq!(gone, 15);
    let left = s.query_alerts(&q()).unwrap();
    assert_eq!(left.alerts[0].alert.id, "id-000119");
    assert_eq!(left.alerts.len(), 5);
    assert!(s.alert_events(None, "id-000004").unwrap().is_empty());
    assert_eq!(s.alert_events(None, "id-000119").unwrap().len(), 3);
}

/// Alerts are one agent's: the same id from two agents is two alerts; a
/// re-send is a no-op; the same id with other content is a reported
/// conflict that changes nothing.
fn identity(s: &dyn Store) {
    let a = alert(1, "Reverse shell", Priority::Critical, "node-a", None);
    let mut b = alert(
        2,
        "Terminal shell in container",
        Priority::Notice,
        "node-b",
        None,
    );
    b.id = a.id.clone();
    let id = a.id.as_str();
    let r = s
        .insert_alerts("agent-a", std::slice::from_ref(&a))
        .unwrap();
    assert_eq!(r.outcomes, vec![Outcome::New]);
    let r = s
        .insert_alerts("agent-b", std::slice::from_ref(&b))
        .unwrap();
    assert_eq!(
        r.outcomes,
        vec![Outcome::New],
        "another agent's id is another alert"
    );
    assert_eq!(s.count().unwrap(), 2);

    // Identical re-send: a no-op.
    let r = s
        .insert_alerts("agent-a", std::slice::from_ref(&a))
        .unwrap();
    assert_eq!((r.stored(), r.duplicates(), r.conflicts()), (0, 1, 0));
    // Same agent, same id, other content: reported, nothing changes.
    let r = s.insert_alerts("agent-a", &[b.clone(), a.clone()]).unwrap();
    assert_eq!(r.outcomes, vec![Outcome::Conflict, Outcome::Duplicate]);
    assert_eq!(r.positions(Outcome::Conflict).collect::<Vec<_>>(), vec![0]);
    assert_eq!(s.count().unwrap(), 2);
    let got = |agent| s.get_alert(Some(agent), id).unwrap().unwrap();
    assert_eq!(
        (got("agent-a").alert, got("agent-a").agent),
        (a.clone(), "agent-a".into())
    );
    assert_eq!(got("agent-b").alert, b);

    // Looking it up without the agent is ambiguous, and says who has it.
    match s.get_alert(None, id) {
        Err(StoreError::Ambiguous { agents, .. }) => assert_eq!(agents, ["agent-a", "agent-b"]),
        other => panic!("expected ambiguous, got {other:?}"),
    }
    assert!(s.alert_events(None, id).is_err());
    assert!(s.get_alert(Some("agent-c"), id).unwrap().is_none());
    assert_eq!(s.alert_events(Some("agent-b"), id).unwrap().len(), 3);
    assert!(s
        .set_status(Some("agent-b"), id, Status::Resolved, "bob")
        .unwrap());
    assert_eq!(got("agent-b").status, Status::Resolved);
    assert_eq!(got("agent-a").status, Status::Open);

    // Within one batch too; and the same alert (same time and id) from two
    // agents pages without skipping either.
    let mut c = alert(7, "Reverse shell", Priority::Critical, "node-c", None);
    c.id = "batch-1".into();
    let mut c2 = c.clone();
    c2.output.push_str(" changed");
    let r = s
        .insert_alerts("agent-c", &[c.clone(), c2, c.clone()])
        .unwrap();
    assert_eq!(
        r.outcomes,
        vec![Outcome::New, Outcome::Conflict, Outcome::Duplicate]
    );
    s.insert_alerts("agent-d", std::slice::from_ref(&c))
        .unwrap();
    let mut query = AlertQuery {
        limit: Some(1),
        host: Some("node-c".into()),
        ..q()
    };
    let mut seen = Vec::new();
    loop {
        let page = s.query_alerts(&query).unwrap();
        seen.extend(page.alerts.iter().map(|a| a.agent.clone()));
        match page.next {
            Some(n) => query.cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["agent-d", "agent-c"]);
}

#[test]
fn sqlite_alert_identity_is_per_agent() {
    let dir = tempfile::tempdir().unwrap();
    identity(&SqliteStore::open(&dir.path().join("p.db")).unwrap());
}

#[test]
fn postgres_alert_identity_is_per_agent() {
    let Some(url) = pg_fresh() else { return };
    identity(open(&url).unwrap().as_ref());
}

#[test]
fn sqlite_store_behaves() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(s.backend(), "sqlite");
    suite(s.as_ref());
    // Reopening applies no migration twice and keeps the data.
    drop(s);
    let s = open(dir.path().join("peregrine.db").to_str().unwrap()).unwrap();
    assert_eq!(s.count().unwrap(), 5);
}

#[test]
fn sqlite_corrupt_document_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let s = SqliteStore::open(&path).unwrap();
    s.insert_alerts("a", &fixture()[..2]).unwrap();
    let c = rusqlite_conn(&path);
    c.execute(
        "UPDATE alerts SET doc = '{not json' WHERE id = 'id-000001'",
        [],
    )
    .unwrap();
    let e = s.get_alert(None, "id-000001").unwrap_err().to_string();
    assert!(e.contains("id-000001"), "{e}");
    assert!(s.get_alert(None, "id-000000").unwrap().is_some());
}

#[test]
fn sqlite_size_retention_trims_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("p.db")).unwrap();
    let many: Vec<Alert> = (0..3000)
        .map(|i| alert(i, "Reverse shell", Priority::Critical, "h", None))
        .collect();
    s.insert_alerts("a", &many).unwrap();
    let gone = s
        .retain(
            &Retention {
                max_age_secs: 0,
                max_alerts: 0,
                max_bytes: 1 << 20,
            },
            T0,
        )
        .unwrap();
    assert!(gone > 0 && gone < 3000, "{gone}");
    let newest = s.query_alerts(&q()).unwrap().alerts[0].alert.id.clone();
    assert_eq!(newest, "id-002999");
}

fn rusqlite_conn(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn postgres_store_behaves() {
    let Some(url) = pg_fresh() else { return };
    let s = open(&url).unwrap();
    assert_eq!(s.backend(), "postgres");
    suite(s.as_ref());
    drop(s);
    let s = open(&url).unwrap();
    assert_eq!(s.count().unwrap(), 5);
}

#[test]
fn postgres_unreachable_is_a_clear_error() {
    let e = match open("postgres://u:secret@127.0.0.1:1/db") {
        Err(e) => e.to_string(),
        Ok(_) => panic!("connected to port 1"),
    };
    assert!(
        e.contains("cannot connect to PostgreSQL") && !e.contains("secret"),
        "{e}"
    );
}
