//! End to end: `peregrine run` (agent + server + dashboard in one) and a
//! separate `peregrine server` fed by `peregrine agent --server` over TLS.
use serde_json::Value;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo(p: &str) -> String {
    format!("{}/../../{p}", env!("CARGO_MANIFEST_DIR"))
}

/// A child process stopped (SIGTERM, then waited for) when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `peregrine ARGS` and wait for its "ready …" line on stderr.
fn spawn_ready(args: &[&str]) -> (Proc, String) {
    let mut child = Proc(
        Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = child.0.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(l) = seen.lines().find(|l| l.starts_with("ready")) {
            if seen.ends_with('\n') {
                let line = l.to_string();
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut err, &mut std::io::sink());
                });
                return (child, line);
            }
        }
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0 && Instant::now() < deadline, "did not start: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn get(http: &reqwest::blocking::Client, url: &str, token: &str) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .and_then(|r| r.json())
        .unwrap_or(Value::Null)
}

#[test]
fn run_all_in_one_shows_a_real_alert_with_its_process_tree() {
    let data = tempfile::tempdir().unwrap();
    let dd = data.path().to_str().unwrap();
    let rules = repo("rules/falco-upstream/falco_rules.yaml");
    let (_run, ready) = spawn_ready(&[
        "run",
        "--ready",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dd,
        "--no-metrics",
        "--rules",
        &rules,
        "--output",
        "file:/dev/null",
    ]);
    let url = ready.strip_prefix("ready ").unwrap().to_string();
    let token = std::fs::read_to_string(data.path().join("admin.token")).unwrap();
    let token = token.trim();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.path().join("admin.token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let shell = Command::new("sh")
        .args(["-c", "cat /etc/shadow > /dev/null"])
        .spawn()
        .unwrap();
    let shell_pid = shell.id();
    assert!(shell.wait_with_output().unwrap().status.success());
    let http = reqwest::blocking::Client::new();
    // The agent sees the whole host: other tests read /etc/shadow too, so
    // pick the alert whose ancestry holds this test's shell.
    let alert = wait_for("the alert in the store", 20, || {
        let v = get(
            &http,
            &format!("{url}/api/v1/alerts?rule=Read%20sensitive%20file%20untrusted&q=/etc/shadow"),
            token,
        );
        v["alerts"].as_array().and_then(|a| {
            a.iter()
                .find(|al| {
                    al["ancestry"]
                        .as_array()
                        .is_some_and(|anc| anc.iter().any(|p| p["pid"] == shell_pid))
                })
                .cloned()
        })
    });
    assert_eq!(alert["output_fields"]["proc.name"], "cat");
    assert_eq!(alert["status"], "open");
    let id = alert["id"].as_str().unwrap();
    let detail = get(&http, &format!("{url}/api/v1/alerts/{id}"), token);
    let events = detail["events"].as_array().unwrap();
    let procs: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "process")
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(procs.last(), Some(&"cat"), "{procs:?}");
    assert!(
        procs.contains(&"sh"),
        "the shell that ran cat is an ancestor: {procs:?}"
    );
    assert_eq!(events.last().unwrap()["detail"]["fd.name"], "/etc/shadow");

    // The local agent reports itself and its rules.
    let agents = wait_for("a heartbeat with counters", 20, || {
        let v = get(&http, &format!("{url}/api/v1/agents"), token);
        v.as_array()
            .filter(|a| a.first().is_some_and(|a| a["events"].as_u64() > Some(0)))
            .cloned()
    });
    assert!(agents[0]["rules"].as_u64().unwrap() >= 20);
    let rules = get(&http, &format!("{url}/api/v1/rules"), token);
    let r = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Read sensitive file untrusted")
        .unwrap();
    assert!(r["alerts"].as_u64().unwrap() >= 1);
    // The dashboard is served by the same process.
    let page = http.get(format!("{url}/")).send().unwrap().text().unwrap();
    assert!(page.contains("Peregrine"));
}

#[test]
fn agent_buffers_while_the_server_is_away_then_ships_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca, cert, key) = make_pki(d);
    let data = d.join("server-data");
    let dd = data.to_str().unwrap();
    // An agent token, created before the server runs.
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args([
            "server",
            "token",
            "add",
            "ci-node",
            "--role",
            "agent",
            "--data-dir",
            dd,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agent_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(agent_token.starts_with("pg_"));

    // A free port for the server that is not up yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("https://localhost:{port}");
    let rules = repo("rules/falco-upstream/falco_rules.yaml");
    let buffer = d.join("buffer");
    let (_agent, _) = spawn_ready(&[
        "agent",
        "--ready",
        "--no-metrics",
        "--rules",
        &rules,
        "--output",
        "file:/dev/null",
        "--server",
        &url,
        "--server-token",
        &agent_token,
        "--server-ca",
        ca.to_str().unwrap(),
        "--server-buffer",
        buffer.to_str().unwrap(),
    ]);
    let status = Command::new("sh")
        .args(["-c", "cat /etc/shadow >/dev/null"])
        .status()
        .unwrap();
    assert!(status.success());
    // Buffered on disk while nobody listens.
    wait_for("the alert in the disk buffer", 15, || {
        let n: u64 = std::fs::read_dir(&buffer)
            .ok()?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        (n > 0).then_some(())
    });

    let listen = format!("127.0.0.1:{port}");
    let (_server, _) = spawn_ready(&[
        "server",
        "--ready",
        "--listen",
        &listen,
        "--data-dir",
        dd,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let admin = std::fs::read_to_string(data.join("admin.token")).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let alerts = wait_for("the buffered alert at the server", 30, || {
        let v = get(
            &http,
            &format!("{url}/api/v1/alerts?rule=Read%20sensitive%20file%20untrusted"),
            admin.trim(),
        );
        v["alerts"].as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(
        alerts[0]["agent"], "ci-node",
        "filed under the agent token's name"
    );
    assert_eq!(alerts[0]["output_fields"]["fd.name"], "/etc/shadow");
    // Exactly once, and the agent reports in.
    std::thread::sleep(Duration::from_secs(2));
    let v = get(
        &http,
        &format!(
            "{url}/api/v1/alerts?rule=Read%20sensitive%20file%20untrusted&q=cat%20/etc/shadow"
        ),
        admin.trim(),
    );
    let ids: Vec<&str> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    let mut uniq = ids.clone();
    uniq.dedup();
    assert_eq!(ids, uniq);
    let agents = wait_for("a heartbeat", 20, || {
        let v = get(&http, &format!("{url}/api/v1/agents"), admin.trim());
        v.as_array().filter(|a| !a.is_empty()).cloned()
    });
    assert_eq!(agents[0]["agent"], "ci-node");
    // A viewer can read, not triage; a wrong token reads nothing.
    assert_eq!(
        http.get(format!("{url}/api/v1/alerts"))
            .bearer_auth(&agent_token)
            .send()
            .unwrap()
            .status()
            .as_u16(),
        403
    );
}

#[test]
fn server_bad_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let dd = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run(&[
        "server",
        "token",
        "add",
        "x",
        "--role",
        "root",
        "--data-dir",
        dd,
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("role 'root'"), "{err}");
    let (code, err) = run(&[
        "server",
        "--store",
        "postgres://u:hunter2@127.0.0.1:1/db",
        "--data-dir",
        dd,
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("PostgreSQL") && !err.contains("hunter2"),
        "{err}"
    );
    let (code, err) = run(&[
        "server",
        "--tls-cert",
        "/nonexistent.pem",
        "--tls-key",
        "/nonexistent.key",
        "--data-dir",
        dd,
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nonexistent.pem"), "{err}");
    let (code, err) = run(&[
        "agent",
        "--rules",
        &repo("rules/falco-upstream/falco_rules.yaml"),
        "--server",
        "https://x:1",
    ]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--server-token"), "{err}");
    let (code, err) = run(&["server", "token", "revoke", "nobody", "--data-dir", dd]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no token named 'nobody'"), "{err}");
}

/// A private CA and a localhost certificate (scripts/test-pki.sh).
fn make_pki(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-pki.sh");
    let out = std::process::Command::new("bash")
        .arg(script)
        .arg(dir)
        .output()
        .expect("run scripts/test-pki.sh (openssl is installed by the test bootstrap)");
    assert!(
        out.status.success(),
        "test-pki.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
