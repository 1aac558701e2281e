//! End to end: the agent receives real Kubernetes audit events over its
//! HTTPS webhook (the API server's audit webhook backend format) and from a
//! followed audit log, evaluates Falco's k8s audit rules and delivers the
//! alerts (`source: k8s_audit`) to a file sink; oversize bodies get 413.
mod common;

use common::{
    alerts, free_port, http_get, peregrine, repo, run_failing, wait_for_rule, wait_until,
    Peregrine, Running,
};
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The first audit event of a sample of Falco's test data.
fn sample(name: &str) -> serde_json::Value {
    let path = repo("crates/peregrine-rules/tests/data/k8s_audit").join(name);
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(text.lines().next().unwrap()).unwrap()
}

/// The agent with metrics on a free port and `args`, started.
fn start_agent(args: &[String]) -> Running {
    Peregrine::agent().metrics().args(args).start()
}

#[test]
fn audit_webhook_and_log_file_raise_k8s_audit_alerts_on_a_file_sink() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = Command::new(repo("scripts/test-pki.sh"))
        .arg(d)
        .status()
        .unwrap();
    assert!(pki.success(), "scripts/test-pki.sh (needs openssl)");
    std::fs::write(d.join("token"), "s3cret-audit-token\n").unwrap();
    let log = d.join("audit.log");
    std::fs::write(&log, "").unwrap();
    let out = d.join("alerts.jsonl");
    let port = free_port();
    let p = |f: &str| d.join(f).display().to_string();
    let agent = start_agent(&[
        "--rules".into(),
        repo("rules/falco-upstream/k8s_audit_rules.yaml")
            .display()
            .to_string(),
        "--output".into(),
        format!("file:{}", out.display()),
        "--k8s-audit-listen".into(),
        port.to_string(),
        "--k8s-audit-tls-cert".into(),
        p("cert.pem"),
        "--k8s-audit-tls-key".into(),
        p("key.pem"),
        "--k8s-audit-token-file".into(),
        p("token"),
        "--k8s-audit-max-body".into(),
        "200000".into(),
        "--k8s-audit-file".into(),
        log.display().to_string(),
    ]);
    post_to_the_webhook(d, port);
    let exec = wait_for_rule(&out, "Attach/Exec Pod");
    assert_eq!(exec["source"], "k8s_audit");
    assert_eq!(exec["priority"], "Notice");
    assert_eq!(exec["time"], "2018-10-26T13:38:34.902914000Z");
    assert_eq!(exec["output_fields"]["ka.user.name"], "minikube-user");
    assert_eq!(
        exec["output_fields"]["ka.target.name"],
        "nginx-deployment-7998647bdf-phvq7"
    );
    assert_eq!(exec["output_fields"]["ka.uri.param[command]"], "bash");
    assert!(exec["output"]
        .as_str()
        .unwrap()
        .starts_with("13:38:34.902914000: Notice Attach/Exec to pod (user=minikube-user"));
    let pod = wait_for_rule(&out, "Create Privileged Pod");
    assert_eq!(pod["source"], "k8s_audit");
    assert_eq!(
        pod["output_fields"]["ka.req.pod.containers.image"],
        "(nginx)"
    );

    append_and_rotate_the_log(d, &log, &out);
    // Audit events count as events of kind k8s_audit: 3 posted, 2 read.
    let metrics = agent.metrics_addr();
    assert!(!metrics.is_empty(), "metrics address");
    let text = http_get(&metrics, "/metrics");
    assert!(
        text.contains("peregrine_events_total{kind=\"k8s_audit\"} 5"),
        "{text}"
    );
    // A clean stop (SIGTERM): the audit stage ends, the sinks are flushed.
    agent.stop();
    // The benign pod raised nothing: exactly what the samples fire.
    let mut rules: Vec<String> = alerts(&out)
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    rules.sort();
    assert_eq!(
        rules,
        [
            "Attach to cluster-admin Role",
            "Attach/Exec Pod",
            "ClusterRole With Wildcard Created",
            "Create Privileged Pod",
            "K8s ClusterRole Created",
            "K8s ClusterRoleBinding Created",
        ]
    );
}

#[test]
fn a_webhook_without_certificate_is_a_clear_start_error() {
    let err = run_failing(
        peregrine()
            .args(["agent", "--no-metrics", "--rules"])
            .arg(repo("rules/falco-upstream/k8s_audit_rules.yaml"))
            .args(["--k8s-audit-listen", "127.0.0.1:0"]),
    );
    assert!(err.contains("--k8s-audit-tls-cert"), "{err}");
}

#[test]
fn replay_k8s_audit_evaluates_a_log_offline() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let mut text = String::new();
    for s in [
        "attach_pod.json",
        "create_nginx_pod_hostnetwork.json",
        "create_nginx_pod_nohostnetwork.json",
    ] {
        text.push_str(&serde_json::to_string(&sample(s)).unwrap());
        text.push('\n');
    }
    text.push_str("not json\n");
    std::fs::write(&log, text).unwrap();
    let out = peregrine()
        .args(["replay", "--json", "--rules"])
        .arg(repo("rules/falco-upstream/k8s_audit_rules.yaml"))
        .arg("--k8s-audit")
        .arg(&log)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let rules: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let a: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(a["source"], "k8s_audit");
            a["rule"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(rules, ["Attach/Exec Pod", "Create HostNetwork Pod"]);
    assert!(
        err.contains("replayed 3 k8s audit events: 2 alerts, 1 skipped"),
        "{err}"
    );
    assert!(err.contains(":4: not JSON"), "{err}");
}

/// Every reply of the webhook, ending with the accepted EventList.
fn post_to_the_webhook(d: &Path, port: u16) {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(d.join("ca.pem")).unwrap()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let url = format!("https://localhost:{port}/k8s-audit");
    // What the API server's webhook backend posts: an audit.k8s.io/v1 EventList.
    let list = serde_json::json!({
        "kind": "EventList",
        "apiVersion": "audit.k8s.io/v1",
        "metadata": {},
        "items": [
            sample("exec_pod.json"),
            sample("create_nginx_pod_privileged.json"),
            sample("create_nginx_pod_unprivileged.json"),
        ],
    });
    let post = |body: Vec<u8>, token: Option<&str>, ctype: &str| {
        let mut req = client.post(&url).header("Content-Type", ctype).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().unwrap().status().as_u16()
    };
    let body = serde_json::to_vec(&list).unwrap();
    let token = Some("s3cret-audit-token");
    assert_eq!(post(body.clone(), None, "application/json"), 401);
    assert_eq!(post(body.clone(), Some("wrong"), "application/json"), 401);
    assert_eq!(post(body.clone(), token, "text/plain"), 415);
    assert_eq!(
        post(b"{\"kind\":\"Pod\"}".to_vec(), token, "application/json"),
        400
    );
    let mut huge = serde_json::to_vec(&list).unwrap();
    huge.extend(std::iter::repeat_n(b' ', 250_000));
    assert_eq!(post(huge, token, "application/json"), 413);
    assert_eq!(post(body, token, "application/json"), 200);
    // Plain HTTP is not served.
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        plain,
        "POST /k8s-audit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    let _ = plain.read_to_end(&mut reply);
    assert!(!String::from_utf8_lossy(&reply).contains("200 OK"));
}

/// Lines appended to the followed log, also across a rotation.
fn append_and_rotate_the_log(d: &Path, log: &Path, out: &Path) {
    // The log file: a line appended after start (as the API server writes it).
    let mut f = std::fs::OpenOptions::new().append(true).open(log).unwrap();
    let line = serde_json::to_string(&sample("create_cluster_role_wildcard_verbs.json")).unwrap();
    writeln!(f, "{line}").unwrap();
    let role = wait_for_rule(out, "ClusterRole With Wildcard Created");
    assert_eq!(role["output_fields"]["ka.target.name"], "some-reader");
    // Rotation: the log is renamed and a new one started.
    std::fs::rename(log, d.join("audit.log.1")).unwrap();
    let line = serde_json::to_string(&sample("attach_cluster_admin_role.json")).unwrap();
    std::fs::write(log, format!("{line}\n")).unwrap();
    wait_for_rule(out, "Attach to cluster-admin Role");
}

/// A rule file changed while the agent runs: the audit source evaluates the
/// reloaded rules (custom `source: k8s_audit` rules, the log file source).
#[test]
fn audit_rules_reload_while_the_agent_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rule = |name: &str, verb: &str| {
        format!(
            "- rule: {name}\n  desc: d\n  condition: ka.verb = {verb} and ka.target.resource = pods\n  output: {verb} of %ka.target.name by %ka.user.name\n  priority: NOTICE\n  source: k8s_audit\n"
        )
    };
    let rules = d.join("audit.yaml");
    std::fs::write(&rules, rule("Pod deleted", "delete")).unwrap();
    let log = d.join("audit.log");
    std::fs::write(&log, "").unwrap();
    let out = d.join("alerts.jsonl");
    let agent = start_agent(&[
        "--rules".into(),
        rules.display().to_string(),
        "--output".into(),
        format!("file:{}", out.display()),
        "--k8s-audit-file".into(),
        log.display().to_string(),
    ]);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let created = serde_json::to_string(&sample("create_nginx_pod_unprivileged.json")).unwrap();
    writeln!(f, "{created}").unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(alerts(&out).is_empty(), "{:?}", alerts(&out));
    // The watcher polls every 2 s; then the new rule is in force.
    std::fs::write(&rules, rule("Pod created", "create")).unwrap();
    wait_until("the reloaded rule to fire", Duration::from_secs(20), || {
        if !alerts(&out).is_empty() {
            return true;
        }
        writeln!(f, "{created}").unwrap();
        std::thread::sleep(Duration::from_millis(700));
        false
    });
    let a = &alerts(&out)[0];
    assert_eq!(a["rule"], "Pod created");
    assert_eq!(a["source"], "k8s_audit");
    assert!(a["output"].as_str().unwrap().ends_with(
        "Notice create of <NA> by system:serviceaccount:kube-system:replicaset-controller"
    ));
    agent.stop();
}

#[test]
fn rules_validate_counts_the_audit_rules() {
    let out = peregrine()
        .args(["rules", "validate"])
        .arg(repo("rules/falco-upstream/k8s_audit_rules.yaml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("48 rules, 45 macros, 18 lists"), "{text}");
    assert!(text.contains("0 warnings"), "{text}");
    assert!(text.contains("k8s_audit: 48 rules"), "{text}");
    let fields = peregrine().args(["rules", "fields"]).output().unwrap();
    let text = String::from_utf8_lossy(&fields.stdout);
    assert!(
        text.contains("ka.req.pod.containers.image.repository"),
        "{text}"
    );
    assert!(text.contains("jevt.value"), "{text}");
}
