//! End to end, the live anomaly model: record a test program's normal
//! syscall stream with the sensor, train on it (`model train --traces`),
//! start the agent selecting that program by comm, then: an unselected
//! program streams nothing, the normal workload raises nothing, and an
//! unusual syscall pattern raises exactly one `source: anomaly` alert whose
//! explanation names the unusual calls. Run as root.
use peregrine_event::{EventData, EventKind};
use peregrine_sensor::{KernelFilter, Sensor, SensorConfig};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The selected program's name (its comm).
const COMM: &str = "pg-mlive";
/// The same program under a name the agent does not select.
const OTHER: &str = "pg-mlive-other";

const PROGRAM: &str = r#"
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = argc > 2 ? atoi(argv[2]) : 100;
    if (argc > 1 && strcmp(argv[1], "odd") == 0) {
        for (int i = 0; i < n; i++) {
            int s = socket(AF_NETLINK, SOCK_RAW, 0);
            int m = memfd_create("x", 0);
            (void)getppid();
            close(s);
            close(m);
        }
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd >= 0) close(fd);
    }
    return 0;
}
"#;

/// Compile the test program as `dir/COMM` and `dir/OTHER`.
fn build_program(dir: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("prog.c");
    std::fs::write(&src, PROGRAM).unwrap();
    let bin = dir.join(COMM);
    let ok = |args: &[&str]| {
        Command::new("cc")
            .args(args)
            .arg(&src)
            .arg("-o")
            .arg(&bin)
            .status()
            .is_ok_and(|s| s.success())
    };
    // Static: the start-up is the same few calls on every run.
    assert!(ok(&["-O2", "-static"]) || ok(&["-O2"]), "cc failed");
    let other = dir.join(OTHER);
    std::fs::copy(&bin, &other).unwrap();
    (bin, other)
}

fn run(bin: &Path, args: &[&str]) -> u32 {
    let mut c = Command::new(bin).args(args).spawn().unwrap();
    let pid = c.id();
    assert!(c.wait().unwrap().success());
    pid
}

/// Record the selected program's stream for each run with the sensor and
/// write one trace file per run (x86_64 numbers).
fn record_training(bin: &Path, dir: &Path) -> usize {
    let cfg = SensorConfig {
        kinds: [EventKind::Syscalls].into_iter().collect(),
        filter: KernelFilter {
            stream_comms: vec![COMM.into()],
            ..Default::default()
        },
        ..SensorConfig::default()
    };
    let mut sensor = Sensor::load(&cfg).expect("sensor loads");
    let mut ids: HashMap<u32, Vec<u16>> = HashMap::new();
    let mut done: Vec<u32> = Vec::new();
    let counts = [40, 60, 80, 100, 120, 150, 200, 250, 300, 60, 90, 110];
    let mut pids = Vec::new();
    for n in counts {
        pids.push(run(bin, &["normal", &n.to_string()]));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while done.len() < pids.len() && Instant::now() < deadline {
        sensor
            .poll(Duration::from_millis(20), |e| {
                if let EventData::Syscalls(b) = e.data {
                    ids.entry(e.process.pid).or_default().extend(&b.ids);
                    if b.exit {
                        done.push(e.process.pid);
                    }
                }
            })
            .unwrap();
    }
    assert_eq!(
        done.len(),
        pids.len(),
        "every training run streamed to its exit"
    );
    for (i, pid) in pids.iter().enumerate() {
        let t: Vec<String> = ids[pid].iter().map(|x| x.to_string()).collect();
        assert!(t.len() > 2 * counts[i], "run {i}: {} calls", t.len());
        std::fs::write(dir.join(format!("run{i:02}.txt")), t.join(" ")).unwrap();
    }
    pids.len()
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of one series on /metrics (0 when absent).
fn metric(metrics: &str, series: &str) -> u64 {
    let prefix = format!("{series} ");
    http_get(metrics, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_string))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// `peregrine_events_total{kind="syscalls"}`: stream records the agent read.
fn stream_records(metrics: &str) -> u64 {
    metric(metrics, "peregrine_events_total{kind=\"syscalls\"}")
}

fn anomaly_alerts(file: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["source"] == "anomaly")
        .collect()
}

struct Agent(std::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start the agent; returns it, its metrics address and what it logged
/// before it was ready.
fn start_agent(model: &Path, rules: &Path, alerts: &Path) -> (Agent, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args([
            "agent",
            "--ready",
            "--metrics-addr",
            "127.0.0.1:0",
            "--rules",
        ])
        .arg(rules)
        .arg("--output")
        .arg(format!("file:{}", alerts.display()))
        .arg("--model")
        .arg(model)
        .args(["--model-comm", COMM])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !seen.lines().any(|l| l.starts_with("ready")) || !seen.ends_with('\n') {
        let n = err.read(&mut buf).unwrap();
        assert!(
            n > 0 && Instant::now() < deadline,
            "agent did not start: {seen}"
        );
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
    });
    let metrics = seen
        .lines()
        .find_map(|l| l.strip_prefix("ready metrics="))
        .expect("metrics address")
        .to_string();
    (Agent(child), metrics, seen)
}

fn wait_until(what: &str, secs: u64, f: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A rule file whose one rule never fires: only the model can alert.
fn never_rule(dir: &Path) -> PathBuf {
    let rules = dir.join("rules.yaml");
    std::fs::write(
        &rules,
        "- rule: Never\n  desc: never\n  condition: evt.type = mkdir and proc.name = no-such-proc\n  output: never\n  priority: INFO\n",
    )
    .unwrap();
    rules
}

#[test]
fn a_corrupt_model_file_leaves_the_agent_running_with_rules_only() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("corrupt.model");
    std::fs::write(&model, b"PRGNMODL this is not a model").unwrap();
    let rules = never_rule(dir.path());
    let (agent, metrics, log) = start_agent(&model, &rules, &dir.path().join("a.json"));
    assert!(
        log.contains("corrupt.model") && log.contains("rules only"),
        "{log}"
    );
    // No detector, no stream: nothing was registered or attached for it.
    let text = http_get(&metrics, "/metrics");
    assert!(!text.contains("peregrine_model_threads"), "{text}");
    drop(agent);
}

#[test]
fn live_model_alerts_on_an_unusual_sequence_only() {
    let dir = tempfile::tempdir().unwrap();
    let (bin, other) = build_program(dir.path());
    let traces = dir.path().join("traces");
    std::fs::create_dir(&traces).unwrap();
    let n = record_training(&bin, &traces);
    assert!(n >= 10);

    let model = dir.path().join("live.model");
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["model", "train", "--traces"])
        .arg(&traces)
        .arg("-o")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let rules = never_rule(dir.path());
    let alerts = dir.path().join("alerts.json");
    let (agent, metrics, _) = start_agent(&model, &rules, &alerts);

    // Unselected: the same unusual pattern under another comm streams nothing.
    run(&other, &["odd", "50"]);
    run(&other, &["normal", "500"]);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        stream_records(&metrics),
        0,
        "records for an unselected comm"
    );

    // Normal runs: streamed and scored, no alert.
    for c in ["70", "130", "220"] {
        run(&bin, &["normal", c]);
    }
    wait_until("the normal runs' records", 10, || {
        stream_records(&metrics) >= 3
    });
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        anomaly_alerts(&alerts).is_empty(),
        "{:?}",
        anomaly_alerts(&alerts)
    );

    // The unusual pattern: exactly one anomaly alert, explained.
    let pid = run(&bin, &["odd", "40"]);
    wait_until("an anomaly alert", 15, || {
        !anomaly_alerts(&alerts).is_empty()
    });
    std::thread::sleep(Duration::from_millis(700));
    let found = anomaly_alerts(&alerts);
    assert_eq!(found.len(), 1, "{found:?}");
    let a = &found[0];
    assert_eq!(a["rule"], "Anomalous syscall sequence");
    assert_eq!(a["priority"], "Warning");
    let f = &a["output_fields"];
    assert_eq!(f["proc.name"], COMM);
    assert_eq!(f["proc.pid"], pid.to_string());
    let rarest = f["anomaly.rarest"].as_str().unwrap();
    assert!(
        ["socket", "memfd_create", "getppid"]
            .iter()
            .any(|c| rarest.contains(c)),
        "{rarest}"
    );
    let score: f64 = f["anomaly.score"].as_str().unwrap().parse().unwrap();
    let threshold: f64 = f["anomaly.threshold"].as_str().unwrap().parse().unwrap();
    assert!(score > threshold, "{score} vs {threshold}");
    let output = a["output"].as_str().unwrap();
    assert!(output.contains(COMM) && output.contains(rarest), "{output}");
    assert_eq!(metric(&metrics, "peregrine_model_alerts_total"), 1);
    assert_eq!(metric(&metrics, "peregrine_model_threads"), 0);
    drop(agent);
}

/// Docker and the test image (scripts/start-docker.sh and test-image.sh are
/// idempotent).
fn ensure_docker_image() {
    for s in ["start-docker.sh", "test-image.sh"] {
        let script = format!("{}/../../scripts/{s}", env!("CARGO_MANIFEST_DIR"));
        let st = Command::new("bash").arg(&script).status().unwrap();
        assert!(st.success(), "{script} failed");
    }
}

/// A model of a loop no real program runs: any real program's calls are
/// anomalous to it.
fn synthetic_model(dir: &Path) -> PathBuf {
    let traces = dir.join("traces");
    std::fs::create_dir(&traces).unwrap();
    for i in 0..10 {
        let t = "0 1 ".repeat(100 + 10 * i);
        std::fs::write(traces.join(format!("t{i:02}.txt")), t).unwrap();
    }
    let model = dir.join("synthetic.model");
    let st = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["model", "train", "--traces"])
        .arg(&traces)
        .arg("-o")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    model
}

#[test]
fn peregrine_run_stores_model_alerts_with_their_source() {
    let dir = tempfile::tempdir().unwrap();
    let model = synthetic_model(dir.path());
    let comm = "pg-mlive-store";
    let bin = dir.path().join(comm);
    std::fs::copy("/bin/cat", &bin).unwrap();
    let data = dir.path().join("data");
    let rules = never_rule(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["run", "--ready", "--listen", "127.0.0.1:0", "--no-metrics"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--rules")
        .arg(&rules)
        .args(["--output", "file:/dev/null", "--model"])
        .arg(&model)
        .args(["--model-comm", comm])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let run = Agent(child);
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !seen.lines().any(|l| l.starts_with("ready")) || !seen.ends_with('\n') {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "peregrine run did not start: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
    });
    let url = seen
        .lines()
        .find_map(|l| l.strip_prefix("ready "))
        .unwrap()
        .trim()
        .to_string();
    let token = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let mut c = Command::new(&bin)
        .arg("/etc/hostname")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = c.id().to_string();
    assert!(c.wait().unwrap().success());
    let http = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let stored = loop {
        let v: serde_json::Value = http
            .get(format!(
                "{url}/api/v1/alerts?rule=Anomalous%20syscall%20sequence"
            ))
            .bearer_auth(token.trim())
            .send()
            .unwrap()
            .json()
            .unwrap();
        let found = v["alerts"].as_array().and_then(|a| {
            a.iter()
                .find(|al| al["output_fields"]["proc.pid"] == pid.as_str())
                .cloned()
        });
        if let Some(a) = found {
            break a;
        }
        assert!(Instant::now() < deadline, "no stored anomaly alert: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(stored["source"], "anomaly", "{stored}");
    assert_eq!(stored["output_fields"]["proc.name"], comm);
    drop(run);
}

#[test]
fn a_selected_container_is_streamed_and_its_alerts_carry_it() {
    ensure_docker_image();
    let dir = tempfile::tempdir().unwrap();
    let model = synthetic_model(dir.path());

    let name = format!("pgmlive{}", std::process::id());
    let out = Command::new("docker")
        .args([
            "run",
            "-d",
            "--name",
            &name,
            "peregrine-test:latest",
            "sh",
            "-c",
        ])
        .arg("while true; do cat /etc/hostname >/dev/null; sleep 0.3; done")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    struct Rm(String);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
        }
    }
    let _rm = Rm(id.clone());

    let rules = never_rule(dir.path());
    let alerts = dir.path().join("alerts.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args([
            "agent",
            "--ready",
            "--metrics-addr",
            "127.0.0.1:0",
            "--rules",
        ])
        .arg(&rules)
        .arg("--output")
        .arg(format!("file:{}", alerts.display()))
        .arg("--model")
        .arg(&model)
        .args(["--model-container", &name])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let agent = Agent(child);
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.lines().any(|l| l.starts_with("ready")) || !seen.ends_with('\n') {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "agent did not start: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
    });
    wait_until("an anomaly alert from the container", 20, || {
        !anomaly_alerts(&alerts).is_empty()
    });
    for a in anomaly_alerts(&alerts) {
        let cid = a["output_fields"]["container.id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            !cid.is_empty() && id.starts_with(&cid),
            "{cid} vs {id}: {a}"
        );
        assert_eq!(a["container"]["id"].as_str(), Some(cid.as_str()), "{a}");
    }
    drop(agent);
}
