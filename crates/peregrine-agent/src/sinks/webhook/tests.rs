use super::payload::accepted;
use super::*;
use crate::sinks::{SinkConfig, SinkError};
use peregrine_rules::Priority;
use std::io::{Read, Write};
use std::net::TcpListener;

fn line(id: &str, rule: &str) -> String {
    format!(
        r#"{{"time":"2026-11-25T13:00:00.000000001Z","rule":"{rule}","priority":"Warning","source":"syscall","hostname":"h1","output":"o","output_fields":{{}},"tags":[],"id":"{id}","count":1,"ancestry":[]}}"#
    )
}

#[test]
fn encodings() {
    let lines = vec![line("a1", "R"), line("a2", "R")];
    let (b, t) = payload(&HttpFormat::Json, &lines);
    assert_eq!(t, "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&b)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (b, t) = payload(&HttpFormat::ElasticBulk { index: "pg".into() }, &lines);
    assert_eq!(t, "application/x-ndjson");
    let l: Vec<&str> = b.lines().collect();
    assert_eq!(l.len(), 4);
    assert_eq!(l[0], r#"{"index":{"_id":"a1","_index":"pg"}}"#);
    assert!(l[1].contains("\"id\":\"a1\""));
    let (b, _) = payload(&HttpFormat::SplunkHec, &lines[..1]);
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["sourcetype"], "falco");
    assert_eq!(v["event"]["id"], "a1");
    assert!((v["time"].as_f64().unwrap() - 1_795_611_600.0).abs() < 1e-3);
    let (b, _) = payload(&HttpFormat::Loki, &lines);
    let v: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(v["streams"][0]["stream"]["priority"], "Warning");
    assert_eq!(v["streams"][0]["values"][0][0], "1795611600000000001");
    assert_eq!(v["streams"][0]["values"].as_array().unwrap().len(), 2);
    let (b, _) = payload(&HttpFormat::Slack, &lines[..1]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&b).unwrap()["text"],
        "[Warning] R: o"
    );
}

#[test]
fn bulk_errors_are_not_acknowledged() {
    let f = HttpFormat::ElasticBulk { index: "x".into() };
    assert!(!accepted(&f, r#"{"took":1,"errors":true,"items":[]}"#));
    assert!(accepted(&f, r#"{"took":1,"errors":false,"items":[]}"#));
    assert!(accepted(&HttpFormat::Json, "whatever"));
}

#[test]
fn shorthand_and_map_reach_the_same_config() {
    let spec = "webhook:https://siem.example/ingest,header=Authorization:Bearer T0KEN,min=warning,buffer=/tmp/b,batch=7,buffer_max_mb=3";
    let want = SinkConfig::Webhook(WebhookConfig {
        url: "https://siem.example/ingest".into(),
        headers: vec![("Authorization".into(), "Bearer T0KEN".into())],
        buffer_dir: "/tmp/b".into(),
        buffer_max_bytes: 3 << 20,
        batch: 7,
        min_priority: Priority::Warning,
        format: HttpFormat::Json,
        ca_file: None,
        shape: Default::default(),
    });
    assert_eq!(SinkConfig::parse(spec).unwrap(), want);
    let typed: SinkConfig = serde_json::from_str(
        r#"{"type": "webhook", "url": "https://siem.example/ingest", "min": "warning",
            "headers": {"Authorization": "Bearer T0KEN"}, "buffer": "/tmp/b", "batch": 7,
            "buffer_max_mb": 3}"#,
    )
    .unwrap();
    assert_eq!(typed, want);
}

#[test]
fn flavours_take_their_own_options_only() {
    let SinkConfig::Webhook(c) =
        SinkConfig::parse("splunk:https://s:8088/services/collector/event,token=T").unwrap()
    else {
        panic!()
    };
    assert_eq!(c.format, HttpFormat::SplunkHec);
    assert_eq!(
        c.headers,
        vec![("Authorization".to_string(), "Splunk T".to_string())]
    );
    let SinkConfig::Webhook(c) = SinkConfig::parse("elasticsearch:http://es:9200/_bulk").unwrap()
    else {
        panic!()
    };
    assert_eq!(
        c.format,
        HttpFormat::ElasticBulk {
            index: "peregrine".into()
        }
    );
    assert!(c
        .buffer_dir
        .to_string_lossy()
        .starts_with("/var/lib/peregrine/buffer/webhook-"));
    for (spec, want) in [
        ("slack:https://h/x,index=a", "slack has no option 'index'"),
        ("webhook:https://h/x,token=a", "webhook has no option 'token'"),
        ("webhook:https://h/x,keep=1", "webhook has no option 'keep'"),
        ("webhook:https://h/x,max_mb=1", "webhook has no option 'max_mb'"),
        ("splunk:https://h/x", "splunk needs token=HEC_TOKEN"),
        ("webhook:ftp://x", "the URL must be http:// or https://"),
        ("webhook:", "webhook needs a URL"),
        ("loki:https://h/x,header=nocolon", "header 'nocolon' is not Name:value"),
        ("webhook:https://h/x,batch=many", "batch 'many' is not a number"),
    ] {
        let e = SinkConfig::parse(spec).unwrap_err().to_string();
        assert!(e.contains(want), "{spec}: {e}");
    }
    let e = serde_json::from_str::<SinkConfig>(r#"{"type": "slack", "url": "https://h/x", "index": "i"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("slack has no option 'index'"), "{e}");
    let e = serde_json::from_str::<SinkConfig>(r#"{"type": "webhook", "url": "https://h/x", "header": "A:b"}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("webhook") && e.contains("`header`"), "{e}");
}

#[test]
fn health_endpoints_of_the_flavours() {
    let u = |s: &str| reqwest::Url::parse(s).unwrap();
    let es = HttpFormat::ElasticBulk { index: "i".into() };
    assert_eq!(
        health::health_url(&es, &u("https://es:9200/_bulk")).unwrap().as_str(),
        "https://es:9200/_cluster/health"
    );
    assert_eq!(
        health::health_url(&HttpFormat::SplunkHec, &u("https://s:8088/services/collector/event"))
            .unwrap()
            .as_str(),
        "https://s:8088/services/collector/health/1.0"
    );
    assert_eq!(
        health::health_url(&HttpFormat::Loki, &u("http://g/proxy/loki/api/v1/push?x=1"))
            .unwrap()
            .as_str(),
        "http://g/proxy/ready"
    );
    assert!(health::health_url(&HttpFormat::Json, &u("http://h/x")).is_none());
    assert!(health::health_url(&HttpFormat::Loki, &u("http://h/other")).is_none());
}

/// What a test HTTP server saw: request lines and bodies.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A real HTTP server answering every request with `status`; returns the
/// port and what it saw.
fn http_server(status: u16) -> (u16, Seen) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Seen::default();
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            let head_end = loop {
                if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                    break Some(i + 4);
                }
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break None,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            };
            let Some(head_end) = head_end else {
                s2.lock().unwrap().push((String::new(), String::new()));
                continue;
            };
            let head = String::from_utf8_lossy(&req[..head_end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
                .unwrap_or(0);
            while req.len() < head_end + len {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let body = String::from_utf8_lossy(&req[head_end..]).to_string();
            let first = head.lines().next().unwrap_or("").to_string();
            s2.lock().unwrap().push((first, body));
            let _ = write!(c, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, seen)
}

#[test]
fn healthcheck_asks_the_health_endpoint_or_connects() {
    let (port, seen) = http_server(200);
    let loki = SinkConfig::parse(&format!(
        "loki:http://127.0.0.1:{port}/loki/api/v1/push,buffer=/tmp/unused"
    ))
    .unwrap();
    loki.healthcheck().unwrap();
    assert_eq!(seen.lock().unwrap()[0].0, "GET /ready HTTP/1.1");

    let (port, _) = http_server(503);
    let es = SinkConfig::parse(&format!("elasticsearch:http://127.0.0.1:{port}/_bulk")).unwrap();
    match es.healthcheck() {
        Err(SinkError::Unhealthy {
            sink,
            reason,
            meanwhile,
        }) => {
            assert_eq!(sink, format!("elasticsearch http://127.0.0.1:{port}/_bulk"));
            assert!(reason.contains("503"), "{reason}");
            assert!(meanwhile.contains("alerts are buffered in"), "{meanwhile}");
        }
        other => panic!("{other:?}"),
    }

    // A plain webhook is only connected to: nothing but alerts is POSTed.
    let (port, seen) = http_server(200);
    let hook = SinkConfig::parse(&format!("webhook:http://127.0.0.1:{port}/x")).unwrap();
    hook.healthcheck().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        seen.lock().unwrap().iter().all(|(l, _)| l.is_empty()),
        "{:?}",
        seen.lock().unwrap()
    );
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = SinkConfig::parse(&format!("webhook:http://127.0.0.1:{closed}/x")).unwrap();
    assert!(matches!(down.healthcheck(), Err(SinkError::Unhealthy { .. })));
}

#[test]
fn delivers_batches_to_a_real_receiver() {
    let dir = std::env::temp_dir().join(format!("pg-wh-deliver-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (port, seen) = http_server(200);
    let cfg = SinkConfig::parse(&format!(
        "webhook:http://127.0.0.1:{port}/in,buffer={},batch=2",
        dir.display()
    ))
    .unwrap();
    let mut s = cfg.build().unwrap();
    for i in 0..3 {
        let a: crate::alert::Alert = serde_json::from_str(&line(&format!("d{i}"), "R")).unwrap();
        s.send(&a).unwrap();
    }
    s.flush().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.buffered_bytes() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(s.buffered_bytes(), 0, "acknowledged by the receiver");
    let mut ids = Vec::new();
    // The healthcheck at build only connected (an empty request line).
    for (line, body) in seen.lock().unwrap().iter().filter(|(l, _)| !l.is_empty()) {
        assert!(line.starts_with("POST /in "), "{line}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        let batch = match v {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        assert!(batch.len() <= 2, "batch=2: {body}");
        ids.extend(batch.iter().map(|a| a["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(ids, vec!["d0", "d1", "d2"], "every alert, in order, once");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn text_format_posts_output_lines_as_plain_text() {
    let lines = vec![line("a1", "R")];
    assert_eq!(payload(&HttpFormat::Text, &lines), ("o".to_string(), "text/plain"));
    let SinkConfig::Webhook(w) = SinkConfig::parse("webhook:http://h/x,format=text").unwrap() else {
        panic!()
    };
    assert_eq!(w.format, HttpFormat::Text);
    let e = SinkConfig::parse("slack:http://h/x,format=text").unwrap_err().to_string();
    assert!(e.contains("slack has no option 'format'"), "{e}");
    let e = SinkConfig::parse("webhook:http://h/x,format=xml").unwrap_err().to_string();
    assert!(e.contains("format 'xml'"), "{e}");
}

#[test]
fn json_include_belongs_to_the_plain_json_webhook() {
    let map = |v: serde_json::Value| v.as_object().unwrap().clone();
    let ok = SinkConfig::from_map(map(serde_json::json!({
        "type": "webhook", "url": "http://h/x", "json_include": {"output": false, "message": true}
    })))
    .unwrap();
    let SinkConfig::Webhook(w) = ok else { panic!() };
    assert!(!w.shape.output && w.shape.message && w.shape.tags);
    for bad in [
        serde_json::json!({"type": "slack", "url": "http://h/x", "json_include": {"tags": false}}),
        serde_json::json!({"type": "webhook", "url": "http://h/x", "format": "text", "json_include": {}}),
    ] {
        let e = SinkConfig::from_map(map(bad)).unwrap_err().to_string();
        assert!(e.contains("no option 'json_include'"), "{e}");
    }
    let e = SinkConfig::from_map(map(serde_json::json!({
        "type": "webhook", "url": "http://h/x", "json_include": {"colour": true}
    })))
    .unwrap_err()
    .to_string();
    assert!(e.contains("colour"), "{e}");
}
