//! The incident API against a real server on a loopback port, once on
//! SQLite and once on the test PostgreSQL: listing, detail with alerts and
//! history, changes by a responder, refusals for a viewer, bulk changes,
//! and problem+json for every bad request.

use peregrine_event::alert::AncestorInfo;
use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, ServerConfig};
use peregrine_store::{Role, Store};
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::sync::Arc;

fn alert(i: u32, rule: &str, root: u32) -> Alert {
    Alert {
        time: peregrine_event::time::rfc3339(
            (peregrine_store::now_ns() as u64) - 60_000_000_000 + i as u64 * 1_000_000,
        ),
        rule: rule.into(),
        priority: Priority::Error,
        source: "syscall".into(),
        hostname: "node-7".into(),
        output: format!("{rule} n={i}"),
        output_fields: Default::default(),
        tags: vec![],
        id: format!("i{i:04}"),
        count: 1,
        container: None,
        ancestry: vec![
            AncestorInfo {
                pid: 5000 + i,
                name: "cat".into(),
                exepath: "/usr/bin/cat".into(),
                cmdline: "cat".into(),
            },
            AncestorInfo {
                pid: root,
                name: "sh".into(),
                exepath: "/bin/sh".into(),
                cmdline: "sh".into(),
            },
        ],
    }
}

struct F {
    url: String,
    http: Client,
    agent: String,
    viewer: String,
    responder: String,
    _server: peregrine_server::ServerHandle,
}

impl F {
    fn start(store: Arc<dyn Store>) -> F {
        let agent = auth::issue(store.as_ref(), "node-7", Role::Agent).unwrap();
        let viewer = auth::issue(store.as_ref(), "vera", Role::Viewer).unwrap();
        let responder = auth::issue(store.as_ref(), "rita", Role::Responder).unwrap();
        let server = peregrine_server::start(
            ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                ..ServerConfig::default()
            },
            store,
        )
        .unwrap();
        F {
            url: server.url(),
            http: Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            agent,
            viewer,
            responder,
            _server: server,
        }
    }

    fn call(&self, method: &str, path: &str, token: &str, body: Option<&str>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = self
            .http
            .request(m, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = r.send().unwrap();
        let code = resp.status().as_u16();
        let problem = resp
            .headers()
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json");
        let v: Value = resp.json().unwrap_or(Value::Null);
        if code >= 400 {
            assert!(problem, "{method} {path}: {code} is problem+json: {v}");
            assert_eq!(v["status"], code, "{v}");
        }
        (code, v)
    }
}

fn workflow(store: Arc<dyn Store>) {
    let f = F::start(store);
    let batch = vec![alert(1, "R1", 10), alert(2, "R1", 10), alert(3, "R2", 10)];
    let (code, _) = f.call(
        "POST",
        "/api/v1/ingest/alerts",
        &f.agent,
        Some(&serde_json::to_string(&batch).unwrap()),
    );
    assert_eq!(code, 200);
    let (code, v) = f.call("GET", "/api/v1/incidents", &f.viewer, None);
    assert_eq!(code, 200, "{v}");
    let list = v["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let r1 = list.iter().find(|i| i["rule"] == "R1").unwrap();
    assert_eq!(
        (r1["alert_count"].as_i64(), r1["status"].as_str()),
        (Some(2), Some("open"))
    );
    let (r1, r2) = (
        r1["id"].as_i64().unwrap(),
        list.iter().find(|i| i["rule"] == "R2").unwrap()["id"]
            .as_i64()
            .unwrap(),
    );

    let (code, d) = f.call("GET", &format!("/api/v1/incidents/{r1}"), &f.viewer, None);
    assert_eq!(code, 200);
    assert_eq!(d["alerts"].as_array().unwrap().len(), 2, "{d}");
    assert_eq!(d["alerts"][0]["id"], "i0002");

    // A viewer may read but not change.
    let body = r#"{"status":"acknowledged","assignee":"rita"}"#;
    let (code, v) = f.call(
        "PATCH",
        &format!("/api/v1/incidents/{r1}"),
        &f.viewer,
        Some(body),
    );
    assert_eq!(code, 403, "{v}");
    let (code, _) = f.call(
        "POST",
        "/api/v1/incidents/bulk",
        &f.viewer,
        Some(r#"{"ids":[1],"status":"resolved"}"#),
    );
    assert_eq!(code, 403);
    let (code, _) = f.call(
        "POST",
        &format!("/api/v1/incidents/{r1}/comments"),
        &f.viewer,
        Some(r#"{"text":"x"}"#),
    );
    assert_eq!(code, 403);

    // A responder may.
    let (code, d) = f.call(
        "PATCH",
        &format!("/api/v1/incidents/{r1}"),
        &f.responder,
        Some(body),
    );
    assert_eq!(code, 200, "{d}");
    assert_eq!(
        (
            d["incident"]["status"].as_str(),
            d["incident"]["assignee"].as_str()
        ),
        (Some("acknowledged"), Some("rita"))
    );
    let (code, d) = f.call(
        "POST",
        &format!("/api/v1/incidents/{r1}/comments"),
        &f.responder,
        Some(r#"{"text":"  looking at the shell  "}"#),
    );
    assert_eq!(code, 200);
    let last = d["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last,
        json!({"at_ns": last["at_ns"], "actor": "rita", "action": "comment", "old": "", "new": "looking at the shell"})
    );

    // Bulk: all or nothing.
    let (code, v) = f.call(
        "POST",
        "/api/v1/incidents/bulk",
        &f.responder,
        Some(&format!(
            r#"{{"ids":[{r1},{r2},999999],"status":"resolved"}}"#
        )),
    );
    assert_eq!((code, v["param"].as_str()), (404, Some("ids")), "{v}");
    assert!(v["detail"].as_str().unwrap().contains("999999"), "{v}");
    let (_, d) = f.call("GET", &format!("/api/v1/incidents/{r2}"), &f.viewer, None);
    assert_eq!(d["incident"]["status"], "open", "nothing changed");
    let (code, v) = f.call(
        "POST",
        "/api/v1/incidents/bulk",
        &f.responder,
        Some(&format!(
            r#"{{"ids":[{r2},{r1}],"status":"false_positive","comment":"test traffic"}}"#
        )),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["updated"], json!([r1.min(r2), r1.max(r2)]));
    let (_, v) = f.call(
        "GET",
        "/api/v1/incidents?status=false_positive&assignee=rita",
        &f.viewer,
        None,
    );
    assert_eq!(v["incidents"].as_array().unwrap().len(), 1, "{v}");
    let (_, d) = f.call("GET", &format!("/api/v1/incidents/{r2}"), &f.viewer, None);
    let actions: Vec<(&str, &str)> = d["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["actor"].as_str().unwrap(), h["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("peregrine", "created"),
            ("peregrine", "alert"),
            ("rita", "status"),
            ("rita", "comment")
        ]
    );

    // Bad requests: clear problem+json naming the place.
    let bad: &[(&str, &str, Option<&str>, u16, &str)] = &[
        ("GET", "/api/v1/incidents/abc", None, 400, "id"),
        ("GET", "/api/v1/incidents/0", None, 400, "id"),
        ("GET", "/api/v1/incidents/99999999", None, 404, "id"),
        (
            "GET",
            "/api/v1/incidents?status=closed",
            None,
            400,
            "status",
        ),
        ("GET", "/api/v1/incidents?limit=0", None, 400, "limit"),
        ("GET", "/api/v1/incidents?status=", None, 400, "status"),
        (
            "PATCH",
            "/api/v1/incidents/1",
            Some(r#"{"status":"open","comment":null}"#),
            400,
            "body",
        ),
        ("GET", "/api/v1/incidents?before=-1", None, 400, "before"),
        ("GET", "/api/v1/incidents?bogus=1", None, 400, "bogus"),
        ("PATCH", "/api/v1/incidents/1", Some("{}"), 400, "body"),
        (
            "PATCH",
            "/api/v1/incidents/1",
            Some(r#"{"status":"done"}"#),
            400,
            "status",
        ),
        (
            "PATCH",
            "/api/v1/incidents/1",
            Some(r#"{"colour":"red"}"#),
            400,
            "body",
        ),
        (
            "PATCH",
            "/api/v1/incidents/1",
            Some("not json"),
            400,
            "body",
        ),
        (
            "PATCH",
            "/api/v1/incidents/1",
            Some(r#"{"assignee":"a\u0001"}"#),
            400,
            "assignee",
        ),
        (
            "PATCH",
            "/api/v1/incidents/1",
            Some(r#"{"ids":[1],"status":"open"}"#),
            400,
            "ids",
        ),
        (
            "POST",
            "/api/v1/incidents/1/comments",
            Some(r#"{"text":"   "}"#),
            400,
            "text",
        ),
        (
            "POST",
            "/api/v1/incidents/bulk",
            Some(r#"{"ids":[],"status":"open"}"#),
            400,
            "ids",
        ),
        (
            "POST",
            "/api/v1/incidents/bulk",
            Some(r#"{"ids":[-3],"status":"open"}"#),
            400,
            "ids",
        ),
        (
            "POST",
            "/api/v1/incidents/bulk",
            Some(r#"{"ids":[1]}"#),
            400,
            "body",
        ),
    ];
    for (m, path, body, want, param) in bad {
        let (code, v) = f.call(m, path, &f.responder, *body);
        assert_eq!(
            (code, v["param"].as_str()),
            (*want, Some(*param)),
            "{m} {path}: {v}"
        );
    }
    let long = format!(r#"{{"text":"{}"}}"#, "x".repeat(4001));
    let (code, v) = f.call(
        "POST",
        &format!("/api/v1/incidents/{r1}/comments"),
        &f.responder,
        Some(&long),
    );
    assert_eq!((code, v["param"].as_str()), (400, Some("text")));
}

#[test]
fn incidents_api_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    workflow(Arc::new(
        peregrine_store::SqliteStore::open(&dir.path().join("p.db")).unwrap(),
    ));
}

#[test]
fn incidents_api_on_postgres() {
    let Ok(url) = std::env::var("PEREGRINE_TEST_POSTGRES") else {
        if std::env::var("PEREGRINE_TEST_NO_POSTGRES").is_ok() {
            return;
        }
        panic!("PEREGRINE_TEST_POSTGRES is not set: run the suite with ./scripts/test.sh, or set PEREGRINE_TEST_NO_POSTGRES=1 to skip");
    };
    let name = format!(
        "srvinc_{}_{}",
        std::process::id(),
        peregrine_store::now_ns() % 1_000_000_000
    );
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    workflow(Arc::from(
        peregrine_store::open(&format!("{base}/{name}")).unwrap(),
    ));
}
