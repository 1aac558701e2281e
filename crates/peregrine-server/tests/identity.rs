//! Alert identity across agents through the HTTP API (real server, SQLite):
//! ids are unique per agent token, re-sends are no-ops, a reused id with
//! other content is reported in the ingest answer and the metrics.

use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, ServerConfig};
use peregrine_store::{Role, SqliteStore, Store};
use reqwest::blocking::Client;
use serde_json::Value;
use std::sync::Arc;

struct Api {
    url: String,
    http: Client,
}

impl Api {
    fn send(&self, r: reqwest::blocking::RequestBuilder, token: &str) -> (u16, Value) {
        let resp = r.bearer_auth(token).send().unwrap();
        let code = resp.status().as_u16();
        (code, resp.json().unwrap_or(Value::Null))
    }
    fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(self.http.get(format!("{}{path}", self.url)), token)
    }
    fn post(&self, path: &str, token: &str, body: String) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).body(body);
        self.send(r.header("content-type", "application/json"), token)
    }
    fn ingest(&self, token: &str, alerts: &[Alert]) -> Value {
        let body = serde_json::to_string(alerts).unwrap();
        let (code, v) = self.post("/api/v1/ingest/alerts", token, body);
        assert_eq!(code, 200, "{v}");
        v
    }
}

fn alert(output: &str) -> Alert {
    Alert {
        time: peregrine_event::time::rfc3339(peregrine_store::now_ns() as u64),
        rule: "Reverse shell".into(),
        priority: Priority::Critical,
        source: "syscall".into(),
        hostname: "h".into(),
        output: output.into(),
        output_fields: [("evt.type".to_string(), "connect".to_string())].into(),
        tags: vec![],
        id: "same-id".into(),
        count: 1,
        container: None,
        ancestry: vec![],
    }
}

#[test]
fn alert_ids_are_unique_per_agent_and_conflicts_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap());
    let one = auth::issue(store.as_ref(), "node-1", Role::Agent).unwrap();
    let two = auth::issue(store.as_ref(), "node-2", Role::Agent).unwrap();
    let admin = auth::issue(store.as_ref(), "ada", Role::Admin).unwrap();
    let server = peregrine_server::start(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        },
        store.clone(),
    )
    .unwrap();
    let api = Api {
        url: server.url(),
        http: Client::new(),
    };
    let (a1, a2) = (alert("from node-1"), alert("from node-2"));

    // Two agents, one id: two alerts.
    assert_eq!(api.ingest(&one, std::slice::from_ref(&a1))["new"], 1);
    assert_eq!(api.ingest(&two, std::slice::from_ref(&a2))["new"], 1);
    let (_, page) = api.get("/api/v1/alerts", &admin);
    let mut agents: Vec<&str> = page["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["agent"].as_str().unwrap())
        .collect();
    agents.sort();
    assert_eq!(agents, ["node-1", "node-2"]);

    // A re-send is a no-op; other content under the same id is reported.
    let v = api.ingest(&one, std::slice::from_ref(&a1));
    assert_eq!(
        (&v["new"], &v["duplicates"]),
        (&Value::from(0), &Value::from(1))
    );
    assert_eq!(v["conflicts"], serde_json::json!([]));
    let v = api.ingest(&one, &[alert("other content")]);
    assert_eq!(
        (&v["new"], &v["duplicates"]),
        (&Value::from(0), &Value::from(0))
    );
    assert_eq!(v["conflicts"], serde_json::json!(["same-id"]));
    assert_eq!(store.count().unwrap(), 2);
    let metrics = reqwest::blocking::get(format!("{}/metrics", api.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("peregrine_server_alerts_conflicting_total 1"),
        "{metrics}"
    );

    // Looking the id up needs the agent once two agents use it.
    let (code, v) = api.get("/api/v1/alerts/same-id", &admin);
    assert_eq!(code, 409, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("node-1") && msg.contains("node-2"), "{msg}");
    let (code, v) = api.get("/api/v1/alerts/same-id?agent=node-2", &admin);
    assert_eq!(code, 200);
    assert_eq!(v["alert"]["output"], "from node-2");
    assert_eq!(v["events"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.get("/api/v1/alerts/same-id?agent=node-3", &admin).0,
        404
    );
    assert_eq!(api.get("/api/v1/alerts/same-id?agnt=node-2", &admin).0, 400);
    let body = r#"{"status":"resolved"}"#.to_string();
    let path = "/api/v1/alerts/same-id/status?agent=node-1";
    assert_eq!(api.post(path, &admin, body).0, 200);
    let (_, v) = api.get("/api/v1/alerts/same-id?agent=node-2", &admin);
    assert_eq!(v["alert"]["status"], "open", "only node-1's alert changed");
}
