//! The dashboard in headless Chromium, driven over W3C WebDriver
//! (Debian's chromium + chromium-driver): sign in, overview, filter alerts,
//! open one and see its process tree, triage, live updates, viewer rights.
//! Screenshots go to target/test-artifacts/dashboard/.

use peregrine_event::alert::{AncestorInfo, ContainerInfo};
use peregrine_event::wire::{Heartbeat, RuleInfo};
use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, ServerConfig};
use peregrine_store::{Role, SqliteStore, Store};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    child: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self
            .http
            .delete(format!("{}/session/{}", self.base, self.session))
            .send();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian chromium-driver, installed by the test bootstrap)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", "--window-size=1440,960",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        let mut d = Driver {
            child,
            base,
            session,
            http,
            _profile: profile,
        };
        d.cmd(
            "POST",
            "timeouts",
            json!({"implicit": 0, "pageLoad": 30000, "script": 10000}),
        );
        d
    }

    fn cmd(&mut self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let v: Value = req.send().unwrap().json().unwrap();
        v["value"].clone()
    }

    fn go(&mut self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url }));
    }

    fn js(&mut self, script: &str) -> Value {
        self.cmd(
            "POST",
            "execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    fn find(&mut self, css: &str) -> Option<String> {
        let v = self.cmd(
            "POST",
            "element",
            json!({"using": "css selector", "value": css}),
        );
        if std::env::var("PG_WD_DEBUG").is_ok() {
            eprintln!("find {css}: {v}");
        }
        v[ELEMENT].as_str().map(str::to_string)
    }

    fn wait(&mut self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(e) = self.find(css) {
                return e;
            }
            if Instant::now() > deadline {
                self.screenshot("failure");
                panic!("no element '{css}' on the page");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until `script` (returning a value) returns something truthy.
    fn wait_js(&mut self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.js(script);
            if !(v.is_null() || v == json!(false) || v == json!(0) || v == json!("")) {
                return v;
            }
            if Instant::now() > deadline {
                self.screenshot("failure");
                panic!("timed out waiting for {what} ({script})");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn click(&mut self, css: &str) {
        let e = self.wait(css);
        self.cmd("POST", &format!("element/{e}/click"), json!({}));
    }

    fn type_in(&mut self, css: &str, text: &str) {
        let e = self.wait(css);
        self.cmd("POST", &format!("element/{e}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("element/{e}/value"),
            json!({ "text": text }),
        );
    }

    fn text(&mut self, css: &str) -> String {
        let e = self.wait(css);
        self.cmd("GET", &format!("element/{e}/text"), Value::Null)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn screenshot(&mut self, name: &str) {
        let b64 = self.cmd("GET", "screenshot", Value::Null);
        let Some(b64) = b64.as_str() else { return };
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/test-artifacts/dashboard");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

fn alert(i: u32, rule: &str, prio: Priority, container: bool) -> Alert {
    let now = peregrine_store::now_ns() as u64;
    Alert {
        time: peregrine_event::time::rfc3339(
            now - (i as u64 % 40) * 600_000_000_000 - i as u64 * 1_000_000,
        ),
        rule: rule.into(),
        priority: prio,
        source: "syscall".into(),
        hostname: if i.is_multiple_of(3) {
            "web-01"
        } else {
            "db-02"
        }
        .into(),
        output: format!("{prio} {rule} (user=root process=cat file=/etc/shadow n={i})"),
        output_fields: [
            ("evt.type", "openat"),
            ("proc.name", "cat"),
            ("fd.name", "/etc/shadow"),
            ("user.name", "root"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        tags: vec!["mitre_credential_access".into(), "T1003.008".into()],
        id: format!("ui{i:05}"),
        count: 1,
        container: container.then(|| ContainerInfo {
            id: "c0ffee0123456789abcdef".into(),
            name: "checkout".into(),
            image: "registry.local/checkout:1.4".into(),
            privileged: false,
            k8s_namespace: Some("shop".into()),
            k8s_pod: Some("checkout-7d9f".into()),
        }),
        ancestry: vec![
            AncestorInfo {
                pid: 4242,
                name: "cat".into(),
                exepath: "/usr/bin/cat".into(),
                cmdline: "cat /etc/shadow".into(),
            },
            AncestorInfo {
                pid: 4200,
                name: "bash".into(),
                exepath: "/usr/bin/bash".into(),
                cmdline: "bash -i".into(),
            },
            AncestorInfo {
                pid: 900,
                name: "sshd".into(),
                exepath: "/usr/sbin/sshd".into(),
                cmdline: "sshd: admin@pts/0".into(),
            },
        ],
    }
}

#[test]
fn dashboard_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap());
    let admin = auth::issue(store.as_ref(), "ada", Role::Admin).unwrap();
    let viewer = auth::issue(store.as_ref(), "vera", Role::Viewer).unwrap();
    let alerts: Vec<Alert> = (0..60)
        .map(|i| match i % 4 {
            0 => alert(i, "Reverse shell", Priority::Critical, true),
            1 => alert(i, "Terminal shell in container", Priority::Notice, true),
            _ => alert(i, "Read sensitive file untrusted", Priority::Warning, false),
        })
        .collect();
    store.insert_alerts("web-01", &alerts).unwrap();
    store
        .heartbeat(&Heartbeat {
            agent: "web-01".into(),
            hostname: "web-01".into(),
            version: "0.1.0".into(),
            kernel: "6.18".into(),
            events: 123456,
            alerts: 60,
            rules: 3,
            ..Default::default()
        })
        .unwrap();
    let rule = |n: &str, p| RuleInfo {
        name: n.into(),
        priority: p,
        tags: vec!["T1059".into()],
        desc: "d".into(),
        enabled: true,
        file: "r.yaml".into(),
    };
    store
        .put_ruleset(
            "web-01",
            &[
                rule("Reverse shell", Priority::Critical),
                rule("Read sensitive file untrusted", Priority::Warning),
            ],
        )
        .unwrap();
    let server = peregrine_server::start(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        },
        store.clone(),
    )
    .unwrap();
    let url = server.url();
    let _ = std::fs::remove_dir_all(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/test-artifacts/dashboard"),
    );
    let mut d = Driver::start();

    // Sign-in link: the token travels in the fragment, then leaves the URL.
    d.go(&format!("{url}/#token={admin}"));
    let total = d.wait_js(
        "the overview",
        "const e = document.querySelector('#card-total .v'); return e && e.textContent;",
    );
    assert_eq!(total, json!("60"));
    assert!(!d
        .js("return location.href")
        .as_str()
        .unwrap()
        .contains("pg_"));
    d.wait("#top-rules .bar-row");
    assert!(d
        .text("#top-rules")
        .contains("Read sensitive file untrusted"));
    d.wait_js(
        "live indicator",
        "return document.querySelector('#live-indicator.on') !== null",
    );
    d.screenshot("overview");

    // Alerts table, then a free-text filter.
    d.click("#nav-alerts");
    d.wait_js(
        "60 rows",
        "return document.querySelectorAll('#alerts-table tbody tr[data-id]').length === 60",
    );
    d.type_in("#filter-q", "reverse\u{E007}");
    d.wait_js("filtered rows", "const r = [...document.querySelectorAll('#alerts-table tbody tr[data-id]')]; return r.length === 15 && r.every(x => x.children[2].textContent === 'Reverse shell');");
    assert!(d.text("#alerts-count").starts_with("15"));
    // Priority filter on top of it (a select: set it like a user would).
    d.js("const s = document.querySelector('#filter-priority'); s.value = 'Warning'; s.dispatchEvent(new Event('change'));");
    d.wait_js("priority in the URL", "return location.hash.includes('min_priority=Warning') && location.hash.includes('q=reverse')");
    d.wait_js(
        "rows after priority filter",
        "return document.querySelectorAll('#alerts-table tbody tr[data-id]').length === 15",
    );
    d.screenshot("alerts-filtered");

    // Open an alert: process tree and container context.
    d.click("#alerts-table tbody tr[data-id]");
    d.wait("#process-tree");
    let tree = d.text("#process-tree");
    let (s, b, c) = (
        tree.find("sshd").unwrap(),
        tree.find("bash").unwrap(),
        tree.find("cat /etc/shadow").unwrap(),
    );
    assert!(s < b && b < c, "ancestors render oldest first: {tree}");
    assert!(tree.contains("alerting process"));
    assert_eq!(
        d.js("return document.querySelectorAll('#process-tree .proc').length"),
        json!(4)
    );
    let page = d.text("#main");
    assert!(
        page.contains("checkout")
            && page.contains("shop")
            && page.contains("registry.local/checkout:1.4"),
        "{page}"
    );
    assert_eq!(d.text("#alert-rule"), "Reverse shell");
    d.screenshot("alert-detail");
    // Triage from the page.
    let id = d
        .js("return location.hash.split('/')[2]")
        .as_str()
        .unwrap()
        .to_string();
    d.click("#btn-ack");
    d.wait_js("acknowledged", "const e = document.querySelector('#alert-status'); return e && e.textContent === 'acknowledged';");
    let stored = store.get_alert(&id).unwrap().unwrap();
    assert_eq!(stored.status, peregrine_store::Status::Acknowledged);
    assert_eq!(stored.status_by.as_deref(), Some("ada"));

    // Live: a new alert appears in the open table without a reload.
    d.go(&format!("{url}/#/alerts"));
    d.wait_js(
        "rows",
        "return document.querySelectorAll('#alerts-table tbody tr[data-id]').length === 60",
    );
    d.wait_js(
        "live indicator",
        "return document.querySelector('#live-indicator.on') !== null",
    );
    let mut fresh = alert(999, "Fresh live alert", Priority::Error, false);
    fresh.time = peregrine_event::time::rfc3339(peregrine_store::now_ns() as u64);
    server.ingest.alerts("web-01", &[fresh]).unwrap();
    d.wait_js(
        "the live row",
        "return document.querySelector('#alerts-table tbody tr[data-id=\"ui00999\"]') !== null",
    );
    d.screenshot("alerts-live");

    // Rules and agents pages.
    d.click("#nav-rules");
    d.wait_js(
        "rules",
        "return document.querySelectorAll('#rules-table tbody tr').length === 2",
    );
    d.click("#nav-agents");
    d.wait_js("agents", "const t = document.querySelector('#agents-table'); return t && t.textContent.includes('web-01') && t.textContent.includes('123,456');");
    d.screenshot("agents");

    // Sign out; a wrong token is refused; a viewer cannot triage.
    d.click("#logout");
    d.wait_js(
        "login form",
        "return !document.querySelector('#login').classList.contains('hidden')",
    );
    d.type_in("#login-token", "pg_wrong");
    d.click("#login-submit");
    d.wait_js(
        "refusal",
        "return document.querySelector('#login-error').textContent.includes('refused')",
    );
    d.screenshot("login-refused");
    d.type_in("#login-token", &viewer);
    d.click("#login-submit");
    d.wait_js(
        "signed in",
        "return document.querySelector('#login').classList.contains('hidden')",
    );
    d.go(&format!("{url}/#/alert/{id}"));
    d.wait("#process-tree");
    assert!(
        d.find("#btn-resolve").is_none(),
        "viewers get no triage buttons"
    );
    assert!(d.text("#whoami").contains("viewer"));
}
