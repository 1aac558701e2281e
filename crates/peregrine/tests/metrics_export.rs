//! The agent's metrics pushed to a real OTLP receiver (the official
//! OpenTelemetry protobuf classes decode them: scripts/otlp-receiver.py)
//! over OTLP/HTTP and OTLP/gRPC, and written as CloudWatch Embedded Metric
//! Format documents.
mod common;

use common::{falco_rules, free_port, peregrine, scratch, Peregrine, Running, Terminated};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn receiver(grpc: u16, http: u16, out: &Path) -> Terminated {
    let mut child = Command::new("python3")
        .arg(common::repo("scripts/otlp-receiver.py"))
        .args([
            "--grpc",
            &grpc.to_string(),
            "--http",
            &http.to_string(),
            "--out",
        ])
        .arg(out)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(
        line.trim(),
        "ready",
        "receiver did not start (bootstrap installs its modules)"
    );
    Terminated(child)
}

fn agent(extra: &[String]) -> Running {
    Peregrine::agent()
        .no_metrics()
        .args(["--metrics-interval", "1"])
        .rules(falco_rules())
        .args(extra)
        .start()
}

/// The first JSON line of `path` that `pred` accepts, waiting 20 s (a line
/// the receiver is still writing is skipped, not an error).
fn wait_line(path: &Path, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    common::wait_for(what, Duration::from_secs(20), || {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| pred(v))
    })
}

fn events_sum(transport: &'static str) -> impl Fn(&Value) -> bool {
    move |v: &Value| {
        v["kind"] == "metric"
            && v["transport"] == transport
            && v["name"] == "peregrine_events_total"
            && v["type"] == "sum"
            && v["monotonic"] == true
            && v["attributes"]["kind"] == "exec"
            && v["value"].as_f64().is_some_and(|x| x >= 1.0)
    }
}

#[test]
fn metrics_reach_an_otlp_receiver_over_http_and_grpc() {
    let dir = scratch("mexport-otlp");
    let out = dir.join("received.jsonl");
    let (g, h) = (free_port(), free_port());
    let _rx = receiver(g, h, &out);
    let _http = agent(&[format!("--metrics-otlp=http://127.0.0.1:{h}/v1/metrics")]);
    let _grpc = agent(&[
        format!("--metrics-otlp=http://127.0.0.1:{g}"),
        "--metrics-otlp-protocol=grpc".into(),
    ]);
    // Something to count.
    for _ in 0..3 {
        Command::new("true").status().unwrap();
    }
    for transport in ["http", "grpc"] {
        let v = wait_line(&out, "exec counter", events_sum(transport));
        assert_eq!(v["resource"]["service.name"], "peregrine", "{v}");
        assert!(
            v["resource"]["host.name"]
                .as_str()
                .is_some_and(|h| !h.is_empty()),
            "{v}"
        );
        assert_eq!(v["scope"]["name"], "peregrine-agent");
        assert_eq!(v["temporality"], 2, "cumulative: {v}");
        assert!(
            v["start_time_unix_nano"].as_u64() < v["time_unix_nano"].as_u64(),
            "{v}"
        );
        wait_line(&out, "a gauge", |v| {
            v["transport"] == transport
                && v["type"] == "gauge"
                && v["name"] == "peregrine_queue_depth"
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metrics_are_written_as_cloudwatch_emf() {
    let dir = scratch("mexport-emf");
    let file = dir.join("emf.jsonl");
    let _a = agent(&[format!("--metrics-emf={}", file.display())]);
    Command::new("true").status().unwrap();
    let doc = wait_line(&file, "an EMF document with the exec count", |v| {
        v["kind"] == "exec"
            && v["peregrine_events_total"]
                .as_f64()
                .is_some_and(|x| x >= 1.0)
    });
    let decl = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(decl["Namespace"], "Peregrine", "{doc}");
    assert_eq!(
        decl["Dimensions"][0],
        serde_json::json!(["host", "kind"]),
        "{doc}"
    );
    let metric = &decl["Metrics"][0];
    assert_eq!(metric["Name"], "peregrine_events_total");
    assert_eq!(metric["Unit"], "Count");
    assert!(
        doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000,
        "{doc}"
    );
    assert!(doc["host"].as_str().is_some_and(|h| !h.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_export_setting_is_a_clear_error() {
    let out = peregrine()
        .args([
            "agent",
            "--no-metrics",
            "--metrics-otlp",
            "ftp://x",
            "--rules",
        ])
        .arg(falco_rules())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("metrics export") && err.contains("ftp://x"),
        "{err}"
    );
}
