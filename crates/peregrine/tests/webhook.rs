//! No alert is lost while a webhook receiver is down, nor across a restart.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn rules() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/falco-upstream/falco_rules.yaml"
    )
    .to_string()
}

fn start_agent(outputs: &[String]) -> Guard {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    cmd.args([
        "agent",
        "--ready",
        "--metrics-addr",
        "127.0.0.1:0",
        "--rules",
        &rules(),
    ]);
    for o in outputs {
        cmd.args(["--output", o]);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
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
    Guard(Some(child))
}

/// Kills the agent if the test fails before stopping it.
struct Guard(Option<std::process::Child>);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stop_agent(mut guard: Guard) {
    let mut child = guard.0.take().unwrap();
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
}

/// A minimal HTTP receiver counting alerts by id.
fn receiver(listener: TcpListener, got: Arc<Mutex<HashMap<String, usize>>>) {
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let got = got.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        r.read_line(&mut line).unwrap();
                        if line == "\r\n" || line.is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap();
                        }
                    }
                    let mut body = vec![0u8; len];
                    r.read_exact(&mut body).unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON body");
                    let items = match v {
                        serde_json::Value::Array(a) => a,
                        one => vec![one],
                    };
                    let mut g = got.lock().unwrap();
                    for a in items {
                        *g.entry(a["id"].as_str().unwrap().to_string()).or_default() += 1;
                    }
                    drop(g);
                    conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                }
            });
        }
    });
}

fn shadow_read() -> u32 {
    let c = Command::new("cat")
        .arg("/etc/shadow")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = c.id();
    c.wait_with_output().unwrap();
    pid
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

fn wait(what: &str, secs: u64, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn alerts_survive_a_down_receiver_and_an_agent_restart() {
    let dir = std::env::temp_dir().join(format!("pg-webhook-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
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
    let mut pids: Vec<u32> = (0..3).map(|_| shadow_read()).collect();
    wait("3 alerts in the reference file", 15, || {
        ids_in(&reference, &pids).len() == 3
    });
    std::thread::sleep(Duration::from_millis(500));
    stop_agent(agent);
    assert!(
        std::fs::metadata(dir.join("buf/queue.jsonl"))
            .unwrap()
            .len()
            > 0,
        "alerts wait on disk"
    );

    // Restarted, still down; one more alert; then the receiver comes up.
    let agent = start_agent(&outputs);
    pids.push(shadow_read());
    wait("4 alerts in the reference file", 15, || {
        ids_in(&reference, &pids).len() == 4
    });
    std::thread::sleep(Duration::from_millis(700));
    let got = Arc::new(Mutex::new(HashMap::new()));
    receiver(TcpListener::bind(("127.0.0.1", port)).unwrap(), got.clone());

    let expected = ids_in(&reference, &pids);
    wait("every alert at the receiver", 60, || {
        let g = got.lock().unwrap();
        expected.iter().all(|id| g.contains_key(id))
    });
    stop_agent(agent);
    let g = got.lock().unwrap();
    for id in &expected {
        assert_eq!(g[id], 1, "alert {id} delivered exactly once");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_unreachable_webhook_is_a_clear_warning_and_detection_goes_on() {
    let dir = std::env::temp_dir().join(format!("pg-webhook-down-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = dir.join("alerts.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args([
            "agent",
            "--ready",
            "--no-metrics",
            "--rules",
            &rules(),
            "--output",
        ])
        .arg(format!("file:{}", file.display()))
        .arg("--output")
        .arg(format!(
            "webhook:http://127.0.0.1:{port}/x,buffer={}",
            dir.join("buf").display()
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !seen.contains("ready") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let guard = Guard(Some(child));
    assert!(
        seen.contains(&format!(
            "webhook http://127.0.0.1:{port}/x unreachable at start"
        )),
        "{seen}"
    );
    assert!(seen.contains("alerts are buffered in"), "{seen}");
    let pid = shadow_read();
    wait("the alert in the file sink", 15, || {
        ids_in(&file, &[pid]).len() == 1
    });
    stop_agent(guard);
    assert!(
        std::fs::metadata(dir.join("buf/queue.jsonl"))
            .unwrap()
            .len()
            > 0,
        "buffered on disk"
    );
    std::fs::remove_dir_all(dir).ok();
}
