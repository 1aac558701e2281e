//! No alert is lost while a webhook receiver is down, nor across a restart.
mod common;

use common::{
    cat_shadow, falco_rules, free_port, http_receiver, scratch, wait_until, Peregrine, Request,
    Running,
};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::time::Duration;

/// The agent with Falco's rules, metrics on a free port and `outputs`.
fn start_agent(outputs: &[String]) -> Running {
    outputs
        .iter()
        .fold(Peregrine::agent().metrics().rules(falco_rules()), |a, o| {
            a.output(o)
        })
        .start()
}

/// How many times each alert id was delivered in `requests` (a body is
/// one JSON alert or an array of them).
fn delivered(requests: &Mutex<Vec<Request>>) -> HashMap<String, usize> {
    let mut got = HashMap::new();
    for r in requests.lock().unwrap().iter() {
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
        let items = match v {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        for a in items {
            *got.entry(a["id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    got
}

fn ids_in(file: &std::path::Path, pids: &[u32]) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| {
            v["rule"] == "Read sensitive file untrusted"
                && pids.iter().any(|p| v["ancestry"][0]["pid"] == *p)
        })
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect()
}

/// Alerts wait in the webhook's disk buffer under `dir`.
fn assert_buffered(dir: &std::path::Path, what: &str) {
    assert!(
        std::fs::metadata(dir.join("buf/queue.jsonl"))
            .unwrap()
            .len()
            > 0,
        "{what}"
    );
}

#[test]
fn alerts_survive_a_down_receiver_and_an_agent_restart() {
    let dir = scratch("webhook");
    let port = free_port();
    let reference = dir.join("reference.jsonl");
    let outputs = vec![
        format!("file:{}", reference.display()),
        format!(
            "webhook:http://127.0.0.1:{port}/alerts,buffer={},header=Authorization:Bearer t0ken",
            dir.join("buf").display()
        ),
    ];

    // Receiver down: three alerts are raised and buffered; the agent stops.
    let agent = start_agent(&outputs);
    let mut pids: Vec<u32> = (0..3).map(|_| cat_shadow()).collect();
    wait_until(
        "3 alerts in the reference file",
        Duration::from_secs(15),
        || ids_in(&reference, &pids).len() == 3,
    );
    std::thread::sleep(Duration::from_millis(500));
    agent.stop();
    assert_buffered(&dir, "alerts wait on disk");

    // Restarted, still down; one more alert; then the receiver comes up.
    let agent = start_agent(&outputs);
    pids.push(cat_shadow());
    wait_until(
        "4 alerts in the reference file",
        Duration::from_secs(15),
        || ids_in(&reference, &pids).len() == 4,
    );
    std::thread::sleep(Duration::from_millis(700));
    let got = http_receiver(TcpListener::bind(("127.0.0.1", port)).unwrap());

    let expected = ids_in(&reference, &pids);
    wait_until(
        "every alert at the receiver",
        Duration::from_secs(60),
        || {
            let g = delivered(&got);
            expected.iter().all(|id| g.contains_key(id))
        },
    );
    agent.stop();
    let g = delivered(&got);
    for id in &expected {
        assert_eq!(g[id], 1, "alert {id} delivered exactly once");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_unreachable_webhook_is_a_clear_warning_and_detection_goes_on() {
    let dir = scratch("webhook-down");
    let port = free_port();
    let file = dir.join("alerts.jsonl");
    let agent = Peregrine::agent()
        .no_metrics()
        .rules(falco_rules())
        .output_file(&file)
        .output(format!(
            "webhook:http://127.0.0.1:{port}/x,buffer={}",
            dir.join("buf").display()
        ))
        .start();
    let seen = agent.log();
    assert!(
        seen.contains(&format!(
            "webhook http://127.0.0.1:{port}/x unreachable at start"
        )),
        "{seen}"
    );
    assert!(seen.contains("alerts are buffered in"), "{seen}");
    let pid = cat_shadow();
    wait_until(
        "the alert in the file sink",
        Duration::from_secs(15),
        || ids_in(&file, &[pid]).len() == 1,
    );
    agent.stop();
    assert_buffered(&dir, "buffered on disk");
    std::fs::remove_dir_all(dir).ok();
}
