//! End to end: `peregrine run` (agent + server + dashboard in one) and a
//! separate `peregrine server` fed by `peregrine agent --server` over TLS.
mod common;

use common::{falco_rules, free_port, peregrine, repo, run_ok, spawn_ready, wait_for};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

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
    let rules = falco_rules();
    let run = spawn_ready(&[
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
    let url = run.ready_line().strip_prefix("ready ").unwrap().to_string();
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
    let alert = wait_for("the alert in the store", Duration::from_secs(20), || {
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
    let agents = wait_for("a heartbeat with counters", Duration::from_secs(20), || {
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
    let out = run_ok(peregrine().args([
        "server",
        "token",
        "add",
        "ci-node",
        "--role",
        "agent",
        "--data-dir",
        dd,
    ]));
    let agent_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(agent_token.starts_with("pg_"));

    // A free port for the server that is not up yet.
    let port = free_port();
    let url = format!("https://localhost:{port}");
    let rules = falco_rules();
    let buffer = d.join("buffer");
    let _agent = spawn_ready(&[
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
    wait_for(
        "the alert in the disk buffer",
        Duration::from_secs(15),
        || {
            let n: u64 = std::fs::read_dir(&buffer)
                .ok()?
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum();
            (n > 0).then_some(())
        },
    );

    let listen = format!("127.0.0.1:{port}");
    let _server = spawn_ready(&[
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
    let alerts = wait_for(
        "the buffered alert at the server",
        Duration::from_secs(30),
        || {
            let v = get(
                &http,
                &format!("{url}/api/v1/alerts?rule=Read%20sensitive%20file%20untrusted"),
                admin.trim(),
            );
            v["alerts"].as_array().filter(|a| !a.is_empty()).cloned()
        },
    );
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
    let agents = wait_for("a heartbeat", Duration::from_secs(20), || {
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
        let o = peregrine().args(args).output().unwrap();
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
        &falco_rules(),
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
    let script = repo("scripts/test-pki.sh");
    // openssl is installed by the test bootstrap.
    run_ok(std::process::Command::new("bash").arg(script).arg(dir));
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}
