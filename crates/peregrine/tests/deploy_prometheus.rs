//! Prometheus and Grafana (deploy/prometheus, deploy/grafana): a real
//! Prometheus (Debian's `prometheus`) scrapes a running agent and server,
//! and every query of the Grafana dashboard returns data through
//! Prometheus' HTTP API; the alerting rules pass `promtool check rules` and
//! their unit tests (`promtool test rules`).
mod common;

use common::{cat_shadow, falco_rules, free_port, peregrine, repo, spawn_ready, Terminated};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every PromQL expression of the dashboard, with Grafana's variables
/// replaced the way Grafana would ("All" agents, a 1m rate window).
fn dashboard_queries() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo("deploy/grafana/peregrine.json")).unwrap();
    let d: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut out = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap();
            let q = expr
                .replace("$__rate_interval", "1m")
                .replace("$instance", ".*");
            assert!(!q.contains('$'), "unknown variable in {expr}");
            out.push((p["title"].as_str().unwrap().to_string(), q));
        }
    }
    assert!(out.len() >= 20, "dashboard has {} queries", out.len());
    out
}

fn promql(client: &reqwest::blocking::Client, base: &str, q: &str) -> Vec<Value> {
    let v: Value = client
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// A result has data when it has a series whose value is a number.
fn has_data(result: &[Value]) -> bool {
    result.iter().any(|s| {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|v| v.is_finite())
    })
}

#[test]
fn prometheus_scrapes_the_agent_and_every_dashboard_query_has_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let data_s = data.to_str().unwrap();
    let out = peregrine()
        .args(["server", "token", "add", "prom-node", "--role", "agent"])
        .args(["--data-dir", data_s])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let server_port = free_port();
    let server_addr = format!("127.0.0.1:{server_port}");
    let _server = spawn_ready(&[
        "server",
        "--listen",
        &server_addr,
        "--data-dir",
        data_s,
        "--ready",
    ]);

    // A webhook nobody listens on: deliveries fail and wait in its buffer.
    let dead = format!(
        "webhook:http://127.0.0.1:{},buffer={}",
        free_port(),
        dir.path().join("buf").display()
    );
    let rules = falco_rules();
    let server_url = format!("http://{server_addr}");
    let agent = spawn_ready(&[
        "agent",
        "--ready",
        "--metrics-addr",
        "127.0.0.1:0",
        "--rules",
        &rules,
        "--output",
        "stdout",
        "--output",
        &dead,
        "--dedup-window",
        "60",
        "--server",
        &server_url,
        "--server-token",
        &token,
        "--server-buffer",
        dir.path().join("sb").to_str().unwrap(),
    ]);
    let metrics = agent.metrics_addr();
    assert!(!metrics.is_empty(), "no metrics address: {}", agent.log());

    let prom_port = free_port();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{alerts}]\n\
             scrape_configs:\n\
             - job_name: peregrine-agent\n  static_configs: [{{targets: ['{metrics}']}}]\n\
             - job_name: peregrine-server\n  static_configs: [{{targets: ['{server_addr}']}}]\n",
            alerts = repo("deploy/prometheus/alerts.yml").display(),
        ),
    )
    .unwrap();
    let _prom = Terminated(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus (scripts/bootstrap.sh --test installs it)"),
    );
    let base = format!("http://127.0.0.1:{prom_port}");
    let client = reqwest::blocking::Client::new();

    // Activity behind every panel: alerts (twice: the second is
    // suppressed by dedup), a rule reload.
    cat_shadow();
    cat_shadow();
    std::thread::sleep(Duration::from_millis(500));
    // SIGHUP reloads the rules.
    agent.signal(libc::SIGHUP);

    let queries = dashboard_queries();
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        cat_shadow();
        let missing: Vec<&(String, String)> = queries
            .iter()
            .filter(|(_, q)| {
                client.get(format!("{base}/-/ready")).send().is_err()
                    || !has_data(&promql(&client, &base, q))
            })
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert!(
        missing.is_empty(),
        "dashboard queries without data: {missing:#?}"
    );

    // Prometheus loaded the alerting rules and scrapes both targets.
    let rules: Value = client
        .get(format!("{base}/api/v1/rules"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let names: Vec<&str> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for n in [
        "PeregrineAgentDown",
        "PeregrineKernelDrops",
        "PeregrineSinkBacklogGrowing",
    ] {
        assert!(names.contains(&n), "{n} not loaded: {names:?}");
    }
    let up = promql(&client, &base, "up{job=~\"peregrine-.*\"} == 1");
    assert_eq!(up.len(), 2, "{up:?}");
}

#[test]
fn promtool_checks_and_tests_the_alerting_rules() {
    for args in [
        vec!["check", "rules", "deploy/prometheus/alerts.yml"],
        vec!["test", "rules", "deploy/prometheus/alerts_test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(&args)
            .current_dir(repo(""))
            .output()
            .expect("promtool (scripts/bootstrap.sh --test installs it)");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
