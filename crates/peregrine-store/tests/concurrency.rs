//! Exactly-once ingest under concurrent duplicate load, on both back ends:
//! several writers send the same batches (retries racing their originals,
//! in different orders) for two agents; every alert is stored once per
//! agent, no re-send is taken for a conflict.

mod common;

use peregrine_event::{Alert, Priority};
use peregrine_store::*;
use std::collections::HashMap;
use std::sync::Arc;

const T0: u64 = 1_764_000_000_000_000_000;
const ALERTS: usize = 200;

fn alerts() -> Vec<Alert> {
    (0..ALERTS)
        .map(|i| Alert {
            time: peregrine_event::time::rfc3339(T0 + i as u64 * 1_000_000),
            rule: "Reverse shell".into(),
            priority: Priority::Critical,
            source: "syscall".into(),
            hostname: "h".into(),
            output: format!("connect n={i}"),
            output_fields: [("evt.type".to_string(), "connect".to_string())].into(),
            tags: vec![],
            id: format!("c{i:05}"),
            count: 1,
            container: None,
            ancestry: vec![],
        })
        .collect()
}

fn hammer(s: Arc<dyn Store>) {
    let all = Arc::new(alerts());
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let (s, all) = (s.clone(), all.clone());
            std::thread::spawn(move || {
                let agent = if w % 2 == 0 { "agent-a" } else { "agent-b" };
                // Each writer starts elsewhere and walks the batches in its
                // own direction, so batches overlap in every order.
                let mut order: Vec<usize> = (0..ALERTS / 20).collect();
                let n = order.len();
                order.rotate_left(w * 3 % n);
                if w % 3 == 1 {
                    order.reverse();
                }
                let mut new: HashMap<String, usize> = HashMap::new();
                for b in order {
                    let batch = &all[b * 20..(b + 1) * 20];
                    let done = s.insert_alerts(agent, batch).unwrap();
                    assert_eq!(done.conflicts(), 0, "a re-send is not a conflict");
                    for i in done.positions(Outcome::New) {
                        *new.entry(format!("{agent}/{}", batch[i].id)).or_default() += 1;
                    }
                }
                new
            })
        })
        .collect();
    let mut new: HashMap<String, usize> = HashMap::new();
    for w in writers {
        for (k, n) in w.join().unwrap() {
            *new.entry(k).or_default() += n;
        }
    }
    assert_eq!(new.len(), 2 * ALERTS, "every alert of both agents stored");
    assert!(new.values().all(|n| *n == 1), "each stored exactly once");
    assert_eq!(s.count().unwrap(), 2 * ALERTS as u64);
}

#[test]
fn sqlite_ingest_is_exactly_once_under_concurrent_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    hammer(Arc::new(
        SqliteStore::open(&dir.path().join("p.db")).unwrap(),
    ));
}

#[test]
fn postgres_ingest_is_exactly_once_under_concurrent_duplicates() {
    let Some(url) = common::pg_fresh() else {
        return;
    };
    hammer(Arc::from(open(&url).unwrap()));
}
