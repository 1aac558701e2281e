//! Shared by the browser tests: a W3C WebDriver client for Debian's
//! chromium-driver, and alert fixtures.
#![allow(dead_code)]

use peregrine_event::alert::{AncestorInfo, ContainerInfo};
use peregrine_event::{Alert, Priority};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Driver {
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
    pub fn start() -> Driver {
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

    pub fn cmd(&mut self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}/{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).json(&body),
        };
        let v: Value = req.send().unwrap().json().unwrap();
        v["value"].clone()
    }

    /// Resize the browser window.
    pub fn window(&mut self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "window/rect",
            json!({ "width": width, "height": height }),
        );
    }

    pub fn go(&mut self, url: &str) {
        self.cmd("POST", "url", json!({ "url": url }));
    }

    pub fn js(&mut self, script: &str) -> Value {
        self.cmd(
            "POST",
            "execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    pub fn find(&mut self, css: &str) -> Option<String> {
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

    pub fn wait(&mut self, css: &str) -> String {
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
    pub fn wait_js(&mut self, what: &str, script: &str) -> Value {
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

    pub fn click(&mut self, css: &str) {
        let e = self.wait(css);
        self.cmd("POST", &format!("element/{e}/click"), json!({}));
    }

    pub fn type_in(&mut self, css: &str, text: &str) {
        let e = self.wait(css);
        self.cmd("POST", &format!("element/{e}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("element/{e}/value"),
            json!({ "text": text }),
        );
    }

    pub fn text(&mut self, css: &str) -> String {
        let e = self.wait(css);
        self.cmd("GET", &format!("element/{e}/text"), Value::Null)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn screenshot(&mut self, name: &str) {
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

pub fn alert(i: u32, rule: &str, prio: Priority, container: bool) -> Alert {
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
            ..Default::default()
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
