//! The HTTP API against a real server on a loopback port, SQLite store.

use peregrine_event::alert::{AncestorInfo, ContainerInfo};
use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, ServerConfig};
use peregrine_store::{Role, SqliteStore, Store};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    url: String,
    store: Arc<dyn Store>,
    agent: String,
    viewer: String,
    admin: String,
    http: Client,
    _server: peregrine_server::ServerHandle,
}

fn fixture_with(cfg: ServerConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap());
    let agent = auth::issue(store.as_ref(), "node-7", Role::Agent).unwrap();
    let viewer = auth::issue(store.as_ref(), "vera", Role::Viewer).unwrap();
    let admin = auth::issue(store.as_ref(), "ada", Role::Admin).unwrap();
    let server = peregrine_server::start(cfg, store.clone()).unwrap();
    Fixture {
        _dir: dir,
        url: server.url(),
        store,
        agent,
        viewer,
        admin,
        // No pooled connections: a server may close a connection after
        // refusing a body (413), and a reused socket would then race.
        http: Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
        _server: server,
    }
}

fn fixture() -> Fixture {
    fixture_with(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        max_body: 1 << 20,
        ..ServerConfig::default()
    })
}

fn alert(i: u32, rule: &str, prio: Priority) -> Alert {
    Alert {
        time: peregrine_event::time::rfc3339(
            (peregrine_store::now_ns() as u64) - 60_000_000_000 + i as u64 * 1_000_000,
        ),
        rule: rule.into(),
        priority: prio,
        source: "syscall".into(),
        hostname: "node-7".into(),
        output: format!("x: {prio} something happened n={i} file=/etc/shadow"),
        output_fields: [
            ("evt.type".to_string(), "openat".to_string()),
            ("proc.name".to_string(), "cat".to_string()),
        ]
        .into_iter()
        .collect(),
        tags: vec!["T1003".into()],
        id: format!("a{i:04}"),
        count: 1,
        container: i.is_multiple_of(2).then(|| ContainerInfo {
            id: "f00dfeed1234567890".into(),
            name: "payments-api".into(),
            image: "registry.local/payments:2.1".into(),
            privileged: false,
            k8s_namespace: Some("prod".into()),
            k8s_pod: Some("payments-api-0".into()),
            ..Default::default()
        }),
        ancestry: vec![
            AncestorInfo {
                pid: 20,
                name: "cat".into(),
                exepath: "/usr/bin/cat".into(),
                cmdline: "cat /etc/shadow".into(),
            },
            AncestorInfo {
                pid: 10,
                name: "sh".into(),
                exepath: "/bin/sh".into(),
                cmdline: "sh -c x".into(),
            },
        ],
    }
}

impl Fixture {
    fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut r = self.http.get(format!("{}{path}", self.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().unwrap();
        let code = resp.status().as_u16();
        (code, resp.json().unwrap_or(Value::Null))
    }
    fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, Value) {
        let mut r = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let resp = r.send().unwrap();
        let code = resp.status().as_u16();
        (code, resp.json().unwrap_or(Value::Null))
    }
    fn ingest(&self, alerts: &[Alert]) -> (u16, Value) {
        self.post(
            "/api/v1/ingest/alerts",
            Some(&self.agent),
            serde_json::to_string(alerts).unwrap(),
        )
    }
}

#[test]
fn tokens_and_roles_are_enforced() {
    let f = fixture();
    assert_eq!(f.get("/healthz", None).0, 200);
    let (code, body) = f.get("/api/v1/alerts", None);
    assert_eq!(code, 401);
    assert!(body["error"].as_str().unwrap().contains("Bearer"));
    assert_eq!(f.get("/api/v1/alerts", Some("pg_not-a-token")).0, 401);
    let raw = f
        .http
        .get(format!("{}/api/v1/alerts", f.url))
        .header("authorization", format!("Basic {}", f.viewer))
        .send()
        .unwrap();
    assert_eq!(raw.status().as_u16(), 401);
    // Agent tokens ship, they do not read; viewers read, do not ship or triage.
    assert_eq!(f.get("/api/v1/alerts", Some(&f.agent)).0, 403);
    assert_eq!(f.get("/api/v1/alerts", Some(&f.viewer)).0, 200);
    let one = serde_json::to_string(&vec![alert(1, "R", Priority::Warning)]).unwrap();
    assert_eq!(
        f.post("/api/v1/ingest/alerts", Some(&f.viewer), one.clone())
            .0,
        403
    );
    assert_eq!(f.post("/api/v1/ingest/alerts", None, one.clone()).0, 401);
    assert_eq!(f.ingest(&[alert(1, "R", Priority::Warning)]).0, 200);
    let (code, _) = f.post(
        "/api/v1/alerts/a0001/status",
        Some(&f.viewer),
        r#"{"status":"resolved"}"#,
    );
    assert_eq!(code, 403);
    let (code, body) = f.post(
        "/api/v1/alerts/a0001/status",
        Some(&f.admin),
        r#"{"status":"resolved"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(f.get("/api/v1/whoami", Some(&f.viewer)).1["role"], "viewer");
    // Revoked tokens stop working at once.
    f.store.revoke_token("vera").unwrap();
    assert_eq!(f.get("/api/v1/alerts", Some(&f.viewer)).0, 401);
    assert_eq!(f.get("/nope", None).0, 404);
}

#[test]
fn ingest_search_detail_triage_stats() {
    let f = fixture();
    let batch: Vec<Alert> = (0u32..30)
        .map(|i| {
            let (r, p) = if i.is_multiple_of(3) {
                ("Reverse shell", Priority::Critical)
            } else {
                ("Read sensitive file untrusted", Priority::Warning)
            };
            alert(i, r, p)
        })
        .collect();
    let (code, body) = f.ingest(&batch);
    assert_eq!((code, body["new"].as_u64()), (200, Some(30)));
    // Retried batches (agents resend after a failure) are not duplicated.
    let (code, body) = f.ingest(&batch);
    assert_eq!((code, body["new"].as_u64()), (200, Some(0)));
    // A single object is accepted too.
    let (code, body) = f.post(
        "/api/v1/ingest/alerts",
        Some(&f.agent),
        serde_json::to_string(&alert(99, "Solo", Priority::Notice)).unwrap(),
    );
    assert_eq!((code, body["new"].as_u64()), (200, Some(1)));

    let v = &f.viewer;
    let total = |q: &str| -> u64 {
        let (code, body) = f.get(&format!("/api/v1/alerts?{q}"), Some(v));
        assert_eq!(code, 200, "{q}: {body}");
        body["total"].as_u64().unwrap()
    };
    assert_eq!(total(""), 31);
    assert_eq!(total("min_priority=critical"), 10);
    assert_eq!(total("priority=Warning,Notice"), 21);
    assert_eq!(total("rule=Reverse%20shell"), 10);
    assert_eq!(total("container=payments-api"), 15);
    assert_eq!(total("image=registry.local/*"), 15);
    assert_eq!(total("namespace=prod&min_priority=critical"), 5);
    assert_eq!(total("q=SHADOW"), 31);
    assert_eq!(total("q=n%3D2"), 11, "n=2 and n=20..29");
    assert_eq!(total("host=node-7&from=-1h"), 31);
    assert_eq!(total("from=-1s"), 0);

    // Pages.
    let (_, p1) = f.get("/api/v1/alerts?limit=20", Some(v));
    assert_eq!(p1["alerts"].as_array().unwrap().len(), 20);
    let next = p1["next"].as_str().unwrap().to_string();
    let (_, p2) = f.get(&format!("/api/v1/alerts?limit=20&cursor={next}"), Some(v));
    assert_eq!(p2["alerts"].as_array().unwrap().len(), 11);
    assert!(p2["next"].is_null());

    // Detail with the events around the alert.
    let (code, d) = f.get("/api/v1/alerts/a0004", Some(v));
    assert_eq!(code, 200);
    assert_eq!(d["alert"]["rule"], "Read sensitive file untrusted");
    assert_eq!(
        d["alert"]["agent"], "node-7",
        "filed under the agent token's name"
    );
    assert_eq!(d["alert"]["container"]["name"], "payments-api");
    let ev = d["events"].as_array().unwrap();
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0]["name"], "sh");
    assert_eq!(ev[1]["cmdline"], "cat /etc/shadow");
    assert_eq!(ev[2]["kind"], "openat");
    assert_eq!(f.get("/api/v1/alerts/zzz", Some(v)).0, 404);

    // Triage.
    let (code, _) = f.post(
        "/api/v1/alerts/a0004/status",
        Some(&f.admin),
        r#"{"status":"acknowledged"}"#,
    );
    assert_eq!(code, 200);
    assert_eq!(total("status=acknowledged"), 1);
    let (_, d) = f.get("/api/v1/alerts/a0004", Some(v));
    assert_eq!(
        (
            d["alert"]["status"].as_str(),
            d["alert"]["status_by"].as_str()
        ),
        (Some("acknowledged"), Some("ada"))
    );
    let (code, body) = f.post(
        "/api/v1/alerts/a0004/status",
        Some(&f.admin),
        r#"{"status":"maybe"}"#,
    );
    assert_eq!(code, 400);
    assert!(body["error"].as_str().unwrap().contains("maybe"));
    assert_eq!(
        f.post(
            "/api/v1/alerts/nope/status",
            Some(&f.admin),
            r#"{"status":"resolved"}"#
        )
        .0,
        404
    );

    // Aggregations.
    let (code, st) = f.get("/api/v1/stats?from=-1h", Some(v));
    assert_eq!(code, 200);
    assert_eq!(st["total"], 31);
    assert_eq!(st["by_priority"][2], 10);
    assert_eq!(st["top_rules"][0]["name"], "Read sensitive file untrusted");
    assert_eq!(st["top_containers"][0]["count"], 15);
    let bucketed: u64 = st["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            b["counts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(bucketed, 31);

    // Heartbeats and rule sets land under the token's agent name.
    let hb = json!({"agent": "spoofed", "hostname": "node-7", "version": "0.1.0", "events": 5, "drops": {"file": 2}});
    assert_eq!(
        f.post("/api/v1/ingest/heartbeat", Some(&f.agent), hb.to_string())
            .0,
        200
    );
    let (_, agents) = f.get("/api/v1/agents", Some(v));
    assert_eq!(agents[0]["agent"], "node-7");
    assert_eq!(agents[0]["drops"]["file"], 2);
    let rules = json!([{"name": "Reverse shell", "priority": "Critical", "enabled": true, "tags": ["T1059"]}]);
    let resp = f
        .http
        .put(format!("{}/api/v1/ingest/rules", f.url))
        .bearer_auth(&f.agent)
        .body(rules.to_string())
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, rules) = f.get("/api/v1/rules", Some(v));
    assert_eq!(rules[0]["name"], "Reverse shell");
    assert_eq!(rules[0]["alerts"], 10);
}

#[test]
fn bad_requests_get_reasons_and_never_corrupt_the_store() {
    let f = fixture();
    assert_eq!(f.ingest(&[alert(1, "R", Priority::Warning)]).0, 200);
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not json", "{{{".into(), 400, "invalid JSON"),
        ("wrong shape", r#"{"rule": 5}"#.into(), 400, "invalid JSON"),
        ("scalar", "42".into(), 400, "JSON alert"),
        ("empty", "".into(), 400, "JSON alert"),
        (
            "binary",
            String::from_utf8_lossy(&[0xff, 0xfe, 0, 1, 2]).into_owned(),
            400,
            "",
        ),
    ];
    for (what, body, code, reason) in cases {
        let (c, b) = f.post("/api/v1/ingest/alerts", Some(&f.agent), body);
        assert_eq!(c, code, "{what}: {b}");
        assert!(
            b["error"].as_str().unwrap_or("").contains(reason),
            "{what}: {b}"
        );
    }
    // One bad alert refuses the whole batch: nothing partial is stored.
    let mut bad_time = alert(2, "R", Priority::Warning);
    bad_time.time = "yesterday".into();
    let (c, b) = f.ingest(&[alert(3, "R", Priority::Warning), bad_time]);
    assert_eq!(c, 422, "{b}");
    assert!(
        b["error"].as_str().unwrap().contains("alert 1: time"),
        "{b}"
    );
    let mut long_id = alert(4, "R", Priority::Warning);
    long_id.id = "x".repeat(500);
    assert_eq!(f.ingest(&[long_id]).0, 422);
    assert_eq!(f.store.count().unwrap(), 1);
    // Oversized bodies are refused before parsing.
    let huge = format!(
        "[{}]",
        vec![serde_json::to_string(&alert(5, "R", Priority::Warning)).unwrap(); 5000].join(",")
    );
    assert_eq!(f.post("/api/v1/ingest/alerts", Some(&f.agent), huge).0, 413);
    // Query parameters.
    for q in [
        "from=yesterday",
        "min_priority=loud",
        "limit=ten",
        "cursor=zz",
        "colour=red",
        "from=10&to=5",
        "status=later",
    ] {
        let (c, b) = f.get(&format!("/api/v1/alerts?{q}"), Some(&f.viewer));
        assert_eq!(c, 400, "{q}: {b}");
        assert!(!b["error"].as_str().unwrap().is_empty());
    }
    let long_q = format!("/api/v1/alerts?q={}", "a".repeat(300));
    assert_eq!(f.get(&long_q, Some(&f.viewer)).0, 400);
    // Hostile search text is data, not SQL.
    let (c, b) = f.get(
        "/api/v1/alerts?q=%27%29%3B%20DROP%20TABLE%20alerts%3B--",
        Some(&f.viewer),
    );
    assert_eq!((c, b["total"].as_u64()), (200, Some(0)));
    let (c, b) = f.get("/api/v1/alerts?q=%22%20OR%20%22", Some(&f.viewer));
    assert_eq!((c, b["total"].as_u64()), (200, Some(0)));
    assert_eq!(f.store.count().unwrap(), 1);
    // Raw garbage on the socket, then the server still answers.
    for junk in [
        &b"\x16\x03\x01garbage\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        &[0u8; 4096][..],
    ] {
        let mut s = std::net::TcpStream::connect(f.url.trim_start_matches("http://")).unwrap();
        let _ = s.write_all(junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    assert_eq!(f.get("/healthz", None).0, 200);
    assert_eq!(f.get("/api/v1/alerts", Some(&f.viewer)).1["total"], 1);
}

#[test]
fn live_stream_delivers_new_alerts() {
    let f = fixture();
    let mut resp = f
        .http
        .get(format!("{}/api/v1/stream", f.url))
        .bearer_auth(&f.viewer)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut buf = [0u8; 256];
    let n = resp.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("connected"));
    assert_eq!(f.ingest(&[alert(7, "Live rule", Priority::Error)]).0, 200);
    let mut got = String::new();
    while !got.contains("\n\n") {
        let n = resp.read(&mut buf).unwrap();
        assert!(n > 0, "stream ended");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.starts_with("event: alert\ndata: "), "{got}");
    let data: Value =
        serde_json::from_str(got.trim_start_matches("event: alert\ndata: ").trim()).unwrap();
    assert_eq!(data["alert"]["rule"], "Live rule");
    assert_eq!(data["agent"], "node-7");
    // The stream needs a read token too.
    let r = f
        .http
        .get(format!("{}/api/v1/stream", f.url))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn http2_cleartext_and_tls_with_alpn() {
    // h2c (prior knowledge).
    let f = fixture();
    let h2 = Client::builder().http2_prior_knowledge().build().unwrap();
    let r = h2
        .get(format!("{}/api/v1/alerts", f.url))
        .bearer_auth(&f.viewer)
        .send()
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status().as_u16(), 200);

    // HTTPS with a private CA; ALPN picks h2.
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert, key) = make_pki(dir.path());
    let f = fixture_with(ServerConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        tls: Some((cert.clone(), key.clone())),
        ..ServerConfig::default()
    });
    assert!(f.url.starts_with("https://"));
    // Untrusted certificate: refused by a default client.
    assert!(Client::new()
        .get(format!("{}/healthz", f.url))
        .send()
        .is_err());
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&ca_pem).unwrap()).unwrap();
    let tls = Client::builder().add_root_certificate(ca).build().unwrap();
    let r = tls
        .get(format!("{}/api/v1/whoami", f.url))
        .bearer_auth(&f.admin)
        .send()
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.json::<Value>().unwrap()["name"], "ada");
    let r = tls
        .post(format!("{}/api/v1/ingest/alerts", f.url))
        .bearer_auth(&f.agent)
        .body(serde_json::to_string(&[alert(1, "TLS", Priority::Notice)]).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Bad certificate files are a clear start-up error.
    let e = peregrine_server::start(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            tls: Some((key.clone(), key.clone())),
            ..ServerConfig::default()
        },
        f.store.clone(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("TLS") && e.contains("key.pem"), "{e}");
}

#[test]
fn dashboard_assets_are_embedded_with_a_strict_policy() {
    let f = fixture();
    for (path, ctype) in [
        ("/", "text/html"),
        ("/assets/app.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
        ("/assets/logo.svg", "image/svg+xml"),
    ] {
        let r = f.http.get(format!("{}{path}", f.url)).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ctype));
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
    }
    let spec = f
        .http
        .get(format!("{}/api/v1/openapi.yaml", f.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(spec.starts_with("openapi: 3"));
    for route in [
        "/api/v1/alerts:",
        "/api/v1/alerts/{id}:",
        "/api/v1/stats:",
        "/api/v1/agents:",
        "/api/v1/rules:",
        "/api/v1/ingest/alerts:",
    ] {
        assert!(spec.contains(route), "{route} undocumented");
    }
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
