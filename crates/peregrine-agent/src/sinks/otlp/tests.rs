//! The OTLP sink against a real OTLP receiver: `scripts/otlp-receiver.py`
//! decodes what arrives with the official generated Python classes
//! (PyPI `opentelemetry-proto`, `grpcio`) and writes it as JSON lines.

use super::*;
use crate::alert::{Alert, ContainerInfo};
use crate::sinks::{Sink, SinkConfig, SinkError};
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use peregrine_rules::Priority;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn alert(id: &str, priority: Priority) -> Alert {
    let mut f = BTreeMap::new();
    f.insert("proc.name".to_string(), "cat".to_string());
    f.insert("proc.pid".to_string(), "4242".to_string());
    f.insert("fd.name".to_string(), "/etc/shadow".to_string());
    Alert {
        time: "2026-11-25T13:00:00.000000001Z".into(),
        rule: "Read sensitive file untrusted".into(),
        priority,
        source: "syscall".into(),
        hostname: "node-1".into(),
        output: "13:00:00.000000001: Warning Sensitive file opened (file=/etc/shadow)".into(),
        output_fields: f,
        tags: vec!["filesystem".into(), "mitre_credential_access".into()],
        id: id.into(),
        count: 1,
        container: Some(ContainerInfo {
            id: "0123456789ab".into(),
            name: "web".into(),
            image: "nginx:1.27".into(),
            privileged: false,
            k8s_namespace: Some("shop".into()),
            k8s_pod: Some("web-5d9c".into()),
            ..Default::default()
        }),
        ancestry: vec![],
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pg-otlp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The Python receiver, killed on drop.
struct Receiver {
    child: Child,
    out: PathBuf,
}

impl Receiver {
    fn start(grpc: u16, http: u16, out: &Path) -> Receiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/otlp-receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--grpc", &grpc.to_string(), "--http", &http.to_string()])
            .arg("--out")
            .arg(out)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert_eq!(
            first.trim(),
            "ready",
            "receiver did not start (scripts/bootstrap.sh --test installs its modules)"
        );
        Receiver {
            child,
            out: out.to_path_buf(),
        }
    }

    /// The records received, waiting until there are `n`.
    fn records(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got: Vec<Value> = std::fs::read_to_string(&self.out)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_drained(s: &dyn Sink) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.buffered_bytes() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.buffered_bytes(), 0, "every alert acknowledged");
}

/// What both transports must produce for `alert("a1", Warning)`.
fn assert_record(r: &Value, transport: &str) {
    assert_eq!(r["transport"], transport);
    assert_eq!(r["resource"]["service.name"], "peregrine");
    assert_eq!(r["resource"]["host.name"], "node-1");
    assert_eq!(r["resource"]["deployment.environment"], "test");
    assert_eq!(r["scope"]["name"], "peregrine");
    assert_eq!(r["time_unix_nano"], 1_795_611_600_000_000_001u64);
    assert!(r["observed_time_unix_nano"].as_u64().unwrap() > 1_700_000_000_000_000_000);
    assert_eq!(r["severity_number"], SeverityNumber::Warn as i32);
    assert_eq!(r["severity_text"], "Warning");
    assert_eq!(r["event_name"], "peregrine.alert");
    assert!(r["body"].as_str().unwrap().contains("Sensitive file opened"));
    let a = &r["attributes"];
    assert_eq!(a["rule"], "Read sensitive file untrusted");
    assert_eq!(a["priority"], "Warning");
    assert_eq!(a["source"], "syscall");
    assert_eq!(
        a["tags"],
        serde_json::json!(["filesystem", "mitre_credential_access"])
    );
    assert_eq!(a["alert.id"], "a1");
    assert_eq!(a["alert.count"], 1);
    assert_eq!(a["proc.name"], "cat");
    assert_eq!(a["proc.pid"], 4242, "integer fields are int attributes");
    assert_eq!(a["fd.name"], "/etc/shadow");
    assert_eq!(a["container.id"], "0123456789ab");
    assert_eq!(a["container.name"], "web");
    assert_eq!(a["container.image.name"], "nginx:1.27");
    assert_eq!(a["container.privileged"], false);
    assert_eq!(a["k8s.namespace.name"], "shop");
    assert_eq!(a["k8s.pod.name"], "web-5d9c");
}

fn export_through(protocol: &str) {
    let dir = scratch(protocol);
    let (grpc, http) = (free_port(), free_port());
    let rx = Receiver::start(grpc, http, &dir.join("got.jsonl"));
    let endpoint = match protocol {
        "grpc" => format!("http://127.0.0.1:{grpc}"),
        _ => format!("http://127.0.0.1:{http}"),
    };
    let spec = format!(
        "otlp:{endpoint},protocol={protocol},header=X-Api-Key:s3cret,resource=deployment.environment:test,buffer={}",
        dir.join("buf").display()
    );
    let cfg = SinkConfig::parse(&spec).unwrap();
    cfg.component().healthcheck().unwrap();
    let mut s = cfg.build().unwrap();
    s.send(&alert("a1", Priority::Warning)).unwrap();
    s.send(&alert("a2", Priority::Critical)).unwrap();
    s.flush().unwrap();
    let got = rx.records(2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_record(&got[0], protocol);
    assert_eq!(got[0]["metadata"]["x-api-key"], "s3cret");
    assert_eq!(got[1]["attributes"]["alert.id"], "a2");
    assert_eq!(got[1]["severity_number"], SeverityNumber::Fatal as i32);
    assert_eq!(got[1]["severity_text"], "Critical");
    wait_drained(s.as_ref());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_protobuf_export_is_decoded_by_the_official_classes() {
    export_through("http");
}

#[test]
fn grpc_export_is_decoded_by_the_official_classes() {
    export_through("grpc");
}

/// Receiver down: alerts wait on disk, across a restart of the sink too;
/// once it is up every alert arrives exactly once.
fn outage(protocol: &str) {
    let dir = scratch(&format!("outage-{protocol}"));
    let (grpc, http) = (free_port(), free_port());
    let port = if protocol == "grpc" { grpc } else { http };
    let spec = format!(
        "otlp:http://127.0.0.1:{port},protocol={protocol},batch=3,buffer={}",
        dir.join("buf").display()
    );
    let cfg = SinkConfig::parse(&spec).unwrap();
    assert!(matches!(
        cfg.component().healthcheck(),
        Err(SinkError::Unhealthy { .. })
    ));
    let mut s = cfg.build().unwrap();
    for i in 0..5 {
        s.send(&alert(&format!("b{i}"), Priority::Error)).unwrap();
    }
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(s.buffered_bytes() > 0, "kept on disk while the receiver is down");
    assert!(s.failures() > 0);
    drop(s); // the agent stops; the alerts stay in the buffer
    let rx = Receiver::start(grpc, http, &dir.join("got.jsonl"));
    let mut s = cfg.build().unwrap();
    s.send(&alert("b5", Priority::Error)).unwrap();
    s.flush().unwrap();
    wait_drained(s.as_ref());
    let got = rx.records(6);
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r["attributes"]["alert.id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["b0", "b1", "b2", "b3", "b4", "b5"], "each exactly once");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn grpc_outage_is_buffered_and_delivered_once() {
    outage("grpc");
}

#[test]
fn http_outage_is_buffered_and_delivered_once() {
    outage("http");
}

#[test]
fn shorthand_and_map_reach_the_same_config() {
    let spec = "otlp:http://collector:4317,protocol=grpc,header=Authorization:Bearer T,resource=k8s.cluster.name:prod,timeout=5,min=notice,buffer=/tmp/b,batch=7,buffer_max_mb=3";
    let want = SinkConfig::Otlp(OtlpConfig {
        endpoint: "http://collector:4317".into(),
        protocol: OtlpProtocol::Grpc,
        headers: vec![("Authorization".into(), "Bearer T".into())],
        resource: vec![("k8s.cluster.name".into(), "prod".into())],
        timeout: Duration::from_secs(5),
        min_priority: Priority::Notice,
        buffer_dir: "/tmp/b".into(),
        batch: 7,
        buffer_max_bytes: 3 << 20,
    });
    assert_eq!(SinkConfig::parse(spec).unwrap(), want);
    let typed: SinkConfig = serde_json::from_str(
        r#"{"type": "otlp", "endpoint": "http://collector:4317", "protocol": "grpc",
            "headers": {"Authorization": "Bearer T"}, "resource": {"k8s.cluster.name": "prod"},
            "timeout": 5, "min": "notice", "buffer": "/tmp/b", "batch": 7, "buffer_max_mb": 3}"#,
    )
    .unwrap();
    assert_eq!(typed, want);
    // Over HTTP a bare collector URL gets the logs path, as OTLP exporters do.
    match SinkConfig::parse("otlp:http://collector:4318").unwrap() {
        SinkConfig::Otlp(c) => {
            assert_eq!(c.endpoint, "http://collector:4318/v1/logs");
            assert_eq!(c.protocol, OtlpProtocol::Http);
            assert_eq!(c.timeout, Duration::from_secs(10));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_otlp_specs_name_the_problem() {
    let err = |spec: &str| SinkConfig::parse(spec).unwrap_err().to_string();
    assert!(err("otlp").contains("otlp needs an endpoint"));
    assert!(err("otlp:http://c:4317,protocol=thrift").contains("protocol 'thrift'"));
    assert!(err("otlp:ftp://c:4317").contains("http(s)://"));
    assert!(err("otlp:http://c:4318,header=novalue").contains("header 'novalue'"));
    assert!(err("otlp:http://c:4318,timeout=0").contains("timeout"));
    assert!(err("otlp:http://c:4318,format=cef").contains("format"));
    let typed = serde_json::from_str::<SinkConfig>(
        r#"{"type": "otlp", "endpoint": "http://c:4318", "compression": "gzip"}"#,
    )
    .unwrap_err()
    .to_string();
    assert!(typed.contains("compression"), "{typed}");
    let bad_md = SinkConfig::parse("otlp:http://127.0.0.1:1,protocol=grpc,header=bad name:v,buffer=/tmp/pg-otlp-bad")
        .unwrap()
        .build();
    assert!(matches!(bad_md, Err(SinkError::Config { .. })));
}

#[test]
fn priorities_map_onto_increasing_severities() {
    let mut last = 0;
    for p in Priority::ALL.iter().rev() {
        let n = records::severity(*p) as i32;
        assert!(n > last, "{p:?}");
        last = n;
    }
}
