//! The server killed with SIGKILL in the middle of concurrent, duplicated
//! ingest: every batch it acknowledged is in the store after the crash, and
//! re-sending everything to the restarted server stores each alert exactly
//! once (re-sends are no-ops, never conflicts).

mod common;

use common::{peregrine, wait_until, Peregrine, Running};
use peregrine_event::{Alert, Priority};
use peregrine_store::{SqliteStore, Store};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BATCHES: usize = 60;
const PER_BATCH: usize = 200;

/// Batch `b`, the same every time it is built (a re-send is byte-identical).
fn batch(b: usize) -> Vec<Alert> {
    static T0: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let t0 = *T0.get_or_init(|| peregrine_store::now_ns() as u64);
    (0..PER_BATCH)
        .map(|i| Alert {
            time: peregrine_event::time::rfc3339(t0 + (b * PER_BATCH + i) as u64 * 1000),
            rule: "Reverse shell".into(),
            priority: Priority::Critical,
            source: "syscall".into(),
            hostname: "crash-host".into(),
            output: format!("connect batch={b} n={i}"),
            output_fields: [("evt.type".to_string(), "connect".to_string())].into(),
            tags: vec![],
            id: format!("k{b:03}-{i:03}"),
            count: 1,
            container: None,
            ancestry: vec![],
        })
        .collect()
}

/// `peregrine server` on a free port; its child and URL.
fn server(dd: &str) -> (Running, String) {
    let server = Peregrine::server()
        .args(["--listen", "127.0.0.1:0", "--data-dir", dd])
        .start();
    let url = server.ready_line().strip_prefix("ready ").unwrap();
    let url = url.trim().to_string();
    (server, url)
}

/// POST a batch; the answer's JSON on 200.
fn send(
    http: &reqwest::blocking::Client,
    url: &str,
    token: &str,
    b: usize,
) -> Option<serde_json::Value> {
    let r = http
        .post(format!("{url}/api/v1/ingest/alerts"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(serde_json::to_string(&batch(b)).unwrap())
        .send()
        .ok()?;
    (r.status().as_u16() == 200)
        .then(|| r.json().ok())
        .flatten()
}

#[test]
fn sigkill_mid_ingest_loses_nothing_acknowledged_and_resends_store_once() {
    let dir = tempfile::tempdir().unwrap();
    let dd = dir.path().to_str().unwrap().to_string();
    let out = peregrine()
        .args([
            "server",
            "token",
            "add",
            "node-k",
            "--role",
            "agent",
            "--data-dir",
            &dd,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let (mut child, url) = server(&dd);
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Three senders, each sending every batch (duplicates race).
    let acked = Arc::new(Mutex::new(Vec::new()));
    let dead = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..3)
        .map(|_| {
            let (http, url, token) = (http.clone(), url.clone(), token.clone());
            let (acked, dead) = (acked.clone(), dead.clone());
            std::thread::spawn(move || {
                for b in 0..BATCHES {
                    match send(&http, &url, &token, b) {
                        Some(v) => {
                            assert_eq!(v["conflicts"], serde_json::json!([]));
                            acked.lock().unwrap().push(b);
                        }
                        None if dead.load(Ordering::SeqCst) => return,
                        None => panic!("batch {b} refused before the crash"),
                    }
                }
            })
        })
        .collect();
    wait_until("batches acknowledged", Duration::from_secs(60), || {
        acked.lock().unwrap().len() >= 10
    });
    dead.store(true, Ordering::SeqCst);
    child.signal(libc::SIGKILL);
    child.child().wait().unwrap();
    for s in senders {
        s.join().unwrap();
    }
    let acked: Vec<usize> = acked.lock().unwrap().clone();

    // Everything acknowledged survived.
    {
        let store = SqliteStore::open(&dir.path().join("peregrine.db")).unwrap();
        for &b in &acked {
            for a in batch(b) {
                assert!(
                    store.get_alert(Some("node-k"), &a.id).unwrap().is_some(),
                    "acknowledged alert {} lost",
                    a.id
                );
            }
        }
    }

    // The agent re-sends everything: each alert stored once.
    let (mut child, url) = server(&dd);
    let mut new = 0;
    for b in 0..BATCHES {
        let v = send(&http, &url, &token, b).expect("batch accepted after restart");
        assert_eq!(v["conflicts"], serde_json::json!([]));
        new += v["new"].as_u64().unwrap();
    }
    child.signal(libc::SIGTERM);
    child.child().wait().unwrap();
    let store = SqliteStore::open(&dir.path().join("peregrine.db")).unwrap();
    assert_eq!(store.count().unwrap(), (BATCHES * PER_BATCH) as u64);
    let before = BATCHES * PER_BATCH - new as usize;
    assert!(before >= acked.iter().collect::<std::collections::HashSet<_>>().len() * PER_BATCH);
}
