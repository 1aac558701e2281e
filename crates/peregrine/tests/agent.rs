//! End to end: the agent with Falco's stable rules raises real alerts.
mod common;

use common::{
    cat, cat_shadow, falco_rules, http_get, peregrine, run_failing, run_ok, scratch, script,
    test_image, wait_for_alert, wait_until, Peregrine,
};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The agent with Falco's rules, metrics on a free port and `outputs`.
fn agent(outputs: &[String]) -> Peregrine {
    outputs
        .iter()
        .fold(Peregrine::agent().metrics().rules(falco_rules()), |a, o| {
            a.output(o)
        })
}

#[test]
fn reading_etc_shadow_raises_read_sensitive_file_untrusted_on_every_sink() {
    let dir = scratch("agent");
    let file = dir.join("alerts.jsonl");
    let agent = agent(&["stdout:json".into(), format!("file:{}", file.display())])
        .capture_stdout()
        .start();
    let pid = cat_shadow();

    let alert = wait_for_alert(&file, |v| {
        v["rule"] == "Read sensitive file untrusted" && v["ancestry"][0]["pid"] == pid
    });
    assert_eq!(alert["priority"], "Warning");
    assert_eq!(alert["source"], "syscall");
    assert_eq!(alert["output_fields"]["fd.name"], "/etc/shadow");
    assert_eq!(alert["output_fields"]["proc.name"], "cat");
    assert_eq!(alert["output_fields"]["user.name"], "root");
    assert_eq!(alert["output_fields"]["proc.cmdline"], "cat /etc/shadow");
    assert!(alert["output"].as_str().unwrap().contains(
        ": Warning Sensitive file opened for reading by non-trusted program | file=/etc/shadow"
    ));
    assert!(alert["time"].as_str().unwrap().ends_with('Z'));
    assert!(alert["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "T1555"));
    assert_eq!(alert["id"].as_str().unwrap().len(), 32);
    assert_eq!(
        alert["ancestry"][1]["pid"],
        std::process::id(),
        "parent is this test"
    );

    // Metrics and health.
    let health = http_get(&agent.metrics_addr(), "/healthz");
    assert!(
        health.starts_with("HTTP/1.0 200") || health.starts_with("HTTP/1.1 200"),
        "{health}"
    );
    let m = http_get(&agent.metrics_addr(), "/metrics");
    assert!(
        m.contains(
            "peregrine_alerts_total{rule=\"Read sensitive file untrusted\",priority=\"Warning\"}"
        ),
        "{m}"
    );
    assert!(m.contains("peregrine_events_total{kind=\"open\"}"), "{m}");
    assert!(m.contains("peregrine_kernel_dropped_events_total"), "{m}");
    assert!(m.contains("peregrine_rule_eval_seconds_bucket"), "{m}");
    assert!(
        m.contains("peregrine_sink_sent_alerts_total{sink=\"stdout\"}"),
        "{m}"
    );

    let stdout = agent.stop();
    let on_stdout: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        on_stdout.iter().any(|v| v["id"] == alert["id"]),
        "same alert on stdout"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn invalid_sink_and_missing_rules_are_clear_errors() {
    let err = run_failing(peregrine().args([
        "agent",
        "--rules",
        &falco_rules(),
        "--output",
        "ftp://nowhere",
    ]));
    assert!(err.contains("invalid sink 'ftp://nowhere'"), "{err}");
    let err = run_failing(peregrine().args(["agent", "--rules", "/nonexistent.yaml"]));
    assert!(err.contains("cannot read /nonexistent.yaml"), "{err}");
    let err = run_failing(peregrine().args([
        "agent",
        "--rules",
        &falco_rules(),
        "--output",
        "file:/nonexistent-dir/x.json",
    ]));
    assert!(err.contains("file:/nonexistent-dir/x.json"), "{err}");
}

#[test]
fn a_terminal_shell_in_a_docker_container_carries_container_context() {
    test_image();
    let dir = scratch("agent-ctr");
    let file = dir.join("alerts.jsonl");
    let agent = agent(&[format!("file:{}", file.display())]).start();
    let name = format!("pg-shell-{}", std::process::id());
    let out = run_ok(Command::new("docker").args([
        "run",
        "-d",
        "-t",
        "--name",
        &name,
        "peregrine-test:latest",
        "/bin/sleep",
        "30",
    ]));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let st = Command::new("docker")
        .args(["exec", "-t", &id, "/bin/sh", "-c", "true"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let alert = wait_for_alert(&file, |v| {
        v["rule"] == "Terminal shell in container" && v["container"]["id"] == id.as_str()
    });
    assert_eq!(alert["container"]["name"], name.as_str());
    assert_eq!(alert["container"]["image"], "peregrine-test:latest");
    assert_eq!(alert["priority"], "Notice");
    assert_eq!(alert["output_fields"]["proc.name"], "sh");
    assert_ne!(alert["output_fields"]["proc.tty"], "0");
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    agent.stop();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_kubernetes_container_run_by_containerd_carries_its_pod() {
    // containerd of our own, with the test image in the k8s.io namespace.
    let out = script("scripts/start-containerd.sh");
    let socket = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let ctr = |args: &[&str]| {
        Command::new("ctr")
            .args(["-a", &socket, "-n", "k8s.io"])
            .args(args)
            .output()
            .unwrap()
    };
    let dir = scratch("agent-ctrd");
    let file = dir.join("alerts.jsonl");
    let agent = agent(&[format!("file:{}", file.display())])
        .args(["--containerd-socket", &socket])
        .start();
    let id = format!("{:032x}{:032x}", std::process::id(), 0xc0ffee_u64);
    let out = ctr(&[
        "run",
        "--rm",
        "--label",
        "io.kubernetes.pod.name=payments-7d9f",
        "--label",
        "io.kubernetes.pod.namespace=prod",
        "--label",
        "io.kubernetes.container.name=api",
        "docker.io/library/peregrine-test:latest",
        &id,
        "/bin/sh",
        "-c",
        // The image has no /etc/shadow: make one, then read it.
        "touch /etc/shadow && cat /etc/shadow",
    ]);
    assert!(
        out.status.success(),
        "ctr run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let alert = wait_for_alert(&file, |v| {
        v["rule"] == "Read sensitive file untrusted" && v["container"]["id"] == id.as_str()
    });
    assert_eq!(alert["container"]["name"], "api");
    assert_eq!(
        alert["container"]["image"],
        "docker.io/library/peregrine-test:latest"
    );
    assert_eq!(alert["container"]["k8s_pod"], "payments-7d9f");
    assert_eq!(alert["container"]["k8s_namespace"], "prod");
    agent.stop();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_binary_dropped_into_a_container_and_run_is_drift() {
    test_image();
    let dir = scratch("agent-drift");
    let file = dir.join("alerts.jsonl");
    let agent = agent(&[format!("file:{}", file.display())]).start();
    let out = run_ok(Command::new("docker").args([
        "run",
        "-d",
        "peregrine-test:latest",
        "/bin/sleep",
        "30",
    ]));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // The image's own binaries are not drift; a copy written after start is.
    let st = Command::new("docker")
        .args([
            "exec",
            &id,
            "/bin/sh",
            "-c",
            // event-generator's DropAndExecuteNewBinaryInContainer, with true for ls
            "/bin/true && cp /bin/true /bin/eg-drift && /bin/eg-drift",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let alert = wait_for_alert(&file, |v| {
        v["rule"] == "Drop and execute new binary in container"
            && v["container"]["id"] == id.as_str()
    });
    assert_eq!(alert["priority"], "Critical");
    assert_eq!(alert["output_fields"]["proc.exepath"], "/bin/eg-drift");
    // The copy was made just before it ran: its ctime is seconds old.
    let since: u64 = alert["output_fields"]["proc.exe_ino.ctime_duration_proc_start"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("ctime duration: {alert}"));
    assert!(since < 60_000_000_000, "{since} ns");
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    let text = std::fs::read_to_string(&file).unwrap();
    let drift: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("Drop and execute new binary in container") && l.contains(&id))
        .collect();
    assert_eq!(drift.len(), 1, "only the dropped binary: {drift:?}");
    agent.stop();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn identical_alerts_are_aggregated_with_a_count() {
    let dir = scratch("agent-dedup");
    let file = dir.join("alerts.jsonl");
    let agent = agent(&[format!("file:{}", file.display())])
        .args(["--dedup-window", "60"])
        .start();
    let pids: Vec<u32> = (0..4)
        .map(|_| {
            let c = Command::new("cat")
                .arg("/etc/shadow")
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            let pid = c.id();
            c.wait_with_output().unwrap();
            pid
        })
        .collect();
    let first = wait_for_alert(&file, |v| {
        v["rule"] == "Read sensitive file untrusted" && v["ancestry"][0]["pid"] == pids[0]
    });
    assert_eq!(first["count"], 1);
    std::thread::sleep(Duration::from_millis(800));
    agent.stop();
    let text = std::fs::read_to_string(&file).unwrap();
    let mine: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| {
            v["rule"] == "Read sensitive file untrusted"
                && pids.iter().any(|p| v["ancestry"][0]["pid"] == *p)
        })
        .collect();
    assert_eq!(
        mine.len(),
        2,
        "first alert + one summary at shutdown: {mine:?}"
    );
    assert_eq!(mine[1]["count"], 3);
    assert!(mine[1]["output"]
        .as_str()
        .unwrap()
        .ends_with("(3 similar alerts in 60s)"));
    std::fs::remove_dir_all(dir).ok();
}

fn rss_anon_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .unwrap()
}

/// 10,000 short-lived processes in two halves: whatever the first half
/// allocated is reused by the second (no growth per process: no leak, the
/// process table is bounded and exited processes expire).
#[test]
fn ten_thousand_short_lived_processes_leave_memory_flat() {
    let agent = agent(&["file:/dev/null".to_string()]).start();
    let pid = agent.pid();
    let spawn = |n: usize| {
        let st = Command::new("bash")
            .args(["-c", &format!("for i in $(seq {n}); do /bin/true; done")])
            .status()
            .unwrap();
        assert!(st.success());
        std::thread::sleep(Duration::from_secs(7)); // exited processes expire after 5 s
    };
    spawn(5_000);
    let half = rss_anon_kb(pid);
    spawn(5_000);
    let full = rss_anon_kb(pid);
    agent.stop();
    assert!(
        full < half + 4 * 1024,
        "anonymous RSS grew from {half} kB after 5,000 processes to {full} kB after 10,000"
    );
}

#[test]
fn sighup_reloads_rules_and_a_broken_file_keeps_the_old_ones() {
    let dir = scratch("agent-reload");
    let rules = dir.join("rules.yaml");
    let marker = |tag: &str| dir.join(format!("target-{tag}"));
    let rule = |tag: &str| {
        format!(
            "- rule: Touch {tag}\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = {}\n  output: \"{tag} %fd.name\"\n  priority: NOTICE\n",
            marker(tag).display()
        )
    };
    std::fs::write(&rules, rule("a")).unwrap();
    std::fs::write(marker("a"), "").unwrap();
    std::fs::write(marker("b"), "").unwrap();
    let out = dir.join("alerts.jsonl");
    let agent = Peregrine::agent()
        .no_metrics()
        .rules(&rules)
        .output_file(&out)
        .start();
    cat(&marker("a"));
    wait_for_alert(&out, |v| v["rule"] == "Touch a");

    std::fs::write(&rules, rule("b")).unwrap();
    agent.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(800));
    cat(&marker("b"));
    wait_for_alert(&out, |v| v["rule"] == "Touch b");

    std::fs::write(&rules, "- rule: broken\n  condition: (\n").unwrap();
    agent.signal(libc::SIGHUP);
    std::thread::sleep(Duration::from_millis(800));
    cat(&marker("b"));
    wait_until(
        "the old rules to keep working after a failed reload",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(&out)
                .unwrap()
                .lines()
                .filter(|l| l.contains("\"Touch b\""))
                .count()
                >= 2
        },
    );
    agent.stop();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn partitioned_rule_workers_raise_every_alert_once() {
    let dir = scratch("agent-workers");
    let file = dir.join("alerts.jsonl");
    let agent = agent(&[format!("file:{}", file.display())])
        .args(["--workers", "3", "--dedup-window", "0"])
        .start();
    // Several processes (spread over the workers by pid), each reading the
    // shadow file: one alert per process, none lost or duplicated.
    let mut pids = Vec::new();
    for _ in 0..6 {
        pids.push(cat_shadow());
    }
    for pid in &pids {
        wait_for_alert(&file, |v| {
            v["rule"] == "Read sensitive file untrusted" && v["ancestry"][0]["pid"] == *pid
        });
    }
    agent.stop();
    let text = std::fs::read_to_string(&file).unwrap();
    for pid in &pids {
        let n = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| {
                v["rule"] == "Read sensitive file untrusted" && v["ancestry"][0]["pid"] == *pid
            })
            .count();
        assert_eq!(n, 1, "pid {pid}: {n} alerts");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn editing_a_rule_file_reloads_it_without_a_signal() {
    let dir = scratch("agent-watch");
    let rules = dir.join("rules.yaml");
    let target = dir.join("target");
    std::fs::write(&target, "").unwrap();
    let rule = |name: &str| {
        format!(
            "- rule: {name}\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = {}\n  output: \"%fd.name\"\n  priority: NOTICE\n",
            target.display()
        )
    };
    std::fs::write(&rules, rule("Before edit")).unwrap();
    let out = dir.join("alerts.jsonl");
    let agent = Peregrine::agent()
        .no_metrics()
        .rules(&rules)
        .output_file(&out)
        .start();
    let read = || {
        cat(&target);
    };
    read();
    wait_for_alert(&out, |v| v["rule"] == "Before edit");
    std::fs::write(&rules, rule("After edit")).unwrap();
    // Polled every 2 s, loaded once the change has settled: read until the
    // new rule answers.
    wait_until("the edit to be picked up", Duration::from_secs(15), || {
        read();
        std::thread::sleep(Duration::from_millis(200));
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("\"After edit\"")
    });
    agent.stop();
    std::fs::remove_dir_all(dir).ok();
}
