//! Hostile clients against a real server on a loopback port (issue 16):
//! half-sent requests and large unauthenticated bodies held open, revoked
//! tokens holding live streams, one-time sign-in codes, and values the API
//! must refuse or bound (see docs/SECURITY.md).

use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, Limits, ServerConfig, ServerHandle};
use peregrine_store::{Role, SqliteStore, Store};
use reqwest::blocking::Client;
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Fixture {
    dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    server: ServerHandle,
    agent: String,
    viewer: String,
    admin: String,
    http: Client,
}

fn fixture(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap());
    let agent = auth::issue(store.as_ref(), "node-7", Role::Agent).unwrap();
    let viewer = auth::issue(store.as_ref(), "vera", Role::Viewer).unwrap();
    let admin = auth::issue(store.as_ref(), "ada", Role::Admin).unwrap();
    let server = peregrine_server::start(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            max_body: 1 << 20,
            limits,
            ..ServerConfig::default()
        },
        store.clone(),
    )
    .unwrap();
    Fixture {
        dir,
        store,
        server,
        agent,
        viewer,
        admin,
        http: Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap(),
    }
}

fn alert(i: u32) -> Alert {
    Alert {
        time: peregrine_event::time::rfc3339(peregrine_store::now_ns() as u64),
        rule: "R".into(),
        priority: Priority::Warning,
        source: "syscall".into(),
        hostname: "node-7".into(),
        output: format!("out {i}"),
        output_fields: Default::default(),
        tags: vec![],
        id: format!("s{i:05}"),
        count: 1,
        container: None,
        ancestry: vec![],
    }
}

impl Fixture {
    fn addr(&self) -> std::net::SocketAddr {
        self.server.addr
    }
    fn ingest(&self, alerts: &[Alert]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/ingest/alerts", self.server.url()))
            .bearer_auth(&self.agent)
            .body(serde_json::to_string(alerts).unwrap())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }
    fn get(&self, path: &str, token: &str) -> (u16, String, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.server.url()))
            .bearer_auth(token)
            .send()
            .unwrap();
        let code = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (code, ctype, r.json().unwrap_or(Value::Null))
    }
}

fn raise_nofile(want: u64) {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut r), 0);
        if r.rlim_cur < want {
            r.rlim_cur = want.min(r.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &r), 0);
        }
    }
}

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Has the server closed this socket? (non-blocking peek)
fn closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 512];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

fn metric(f: &Fixture, name: &str) -> f64 {
    let text = f
        .http
        .get(format!("{}/metrics", f.server.url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn half_sent_requests_and_unauthenticated_bodies_cannot_starve_the_server() {
    raise_nofile(8192);
    let f = fixture(Limits {
        header_read_ms: 2000,
        body_read_ms: 2000,
        idle_ms: 3000,
        max_connections_per_peer: 256,
        ..Limits::default()
    });
    let rss0 = rss_kb();
    // 2,000 requests whose headers never finish.
    let mut half: Vec<TcpStream> = (0..2000)
        .map(|_| {
            let mut s = TcpStream::connect(f.addr()).unwrap();
            s.write_all(b"GET /api/v1/alerts HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // Large unauthenticated bodies, declared at 100 MB, 1 MB sent and held.
    let chunk = vec![b'['; 1 << 20];
    let mut bodies: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = TcpStream::connect(f.addr()).unwrap();
            s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
            let _ = s.write_all(
                b"POST /api/v1/ingest/alerts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n",
            );
            let _ = s.write_all(&chunk);
            s
        })
        .collect();
    // /healthz answers at once, from the same peer address, several times.
    for _ in 0..5 {
        let t = Instant::now();
        let r = f
            .http
            .get(format!("{}/healthz", f.server.url()))
            .timeout(Duration::from_secs(1))
            .send()
            .expect("/healthz answers under load");
        assert_eq!(r.status().as_u16(), 200);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
    // The server holds at most the per-peer cap; the rest were closed.
    let open = metric(&f, "peregrine_server_connections ");
    assert!(open <= 257.0, "{open} connections open");
    let evicted = |f: &Fixture| {
        metric(
            f,
            "peregrine_server_connections_closed_total{reason=\"per_peer_cap_evicted\"}",
        )
    };
    assert!(evicted(&f) >= 1.0);
    // Unauthenticated bodies: answered 401 (or reset) and closed, unread.
    for s in &mut bodies {
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut head = [0u8; 12];
        match s.read(&mut head) {
            Ok(n) if n > 0 => assert!(
                head.starts_with(b"HTTP/1.1 401"),
                "{}",
                String::from_utf8_lossy(&head[..n])
            ),
            Ok(_) => {}
            Err(e) => assert_ne!(e.kind(), ErrorKind::WouldBlock, "body connection left open"),
        }
    }
    // After the header timeout every half-sent connection is closed.
    for s in &mut half {
        s.set_nonblocking(true).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(6);
    loop {
        let open = half.iter_mut().map(closed).filter(|c| !c).count();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} half-sent connections still open"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Closed by the per-peer cap or the header timeout (connecting 2,000
    // sockets may outlast the timeout).
    let timed_out = metric(
        &f,
        "peregrine_server_connections_closed_total{reason=\"header_timeout\"}",
    );
    let evicted = evicted(&f);
    assert!(
        timed_out >= 1.0 && evicted + timed_out >= 2000.0 - 257.0,
        "{evicted} + {timed_out}"
    );
    let grown_mb = rss_kb().saturating_sub(rss0) / 1024;
    assert!(grown_mb < 64, "RSS grew by {grown_mb} MB");
    drop(half);
    drop(bodies);
    assert_eq!(
        f.http
            .get(format!("{}/healthz", f.server.url()))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[test]
fn bodies_are_bounded_per_route_and_in_time() {
    let f = fixture(Limits {
        body_read_ms: 1000,
        ..Limits::default()
    });
    let raw = |req: String, send: &[u8]| -> String {
        let mut s = TcpStream::connect(f.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let _ = s.write_all(send);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    };
    // Declared too large for the route: 413 before a byte is read.
    let t = Instant::now();
    let r = raw(
        format!(
            "POST /api/v1/ingest/heartbeat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 1000000\r\n\r\n",
            f.agent
        ),
        b"",
    );
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
    assert!(r.contains("application/problem+json") && r.contains("\"param\":\"body\""));
    assert!(t.elapsed() < Duration::from_secs(1));
    // Authenticated but trickling: 408 after the body timeout.
    let t = Instant::now();
    let r = raw(
        format!(
            "POST /api/v1/ingest/alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: 500000\r\n\r\n",
            f.agent
        ),
        &[b' '; 1000],
    );
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
    assert!(t.elapsed() >= Duration::from_millis(900) && t.elapsed() < Duration::from_secs(4));
    // Chunked (no length declared) past the small triage route's limit.
    let chunk = "x".repeat(10_000);
    let r = raw(
        format!(
            "POST /api/v1/alerts/s00001/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n",
            f.admin,
            chunk.len()
        ),
        b"",
    );
    assert!(r.starts_with("HTTP/1.1 413"), "{r}");
}

#[test]
fn revoking_a_token_ends_its_live_stream_within_a_second() {
    let f = fixture(Limits::default());
    let mut stream = f
        .http
        .get(format!("{}/api/v1/stream", f.server.url()))
        .bearer_auth(&f.viewer)
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("connected"));
    assert_eq!(f.ingest(&[alert(1)]).0, 200);
    let mut got = String::new();
    while !got.contains("s00001") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0);
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    // Revoke the way `peregrine server token revoke` does: another handle
    // on the same database, nothing said to the server.
    let cli = SqliteStore::open(&f.dir.path().join("p.db")).unwrap();
    assert_eq!(cli.revoke_token("vera").unwrap(), 1);
    let t = Instant::now();
    // An alert stored right after the revocation is not delivered.
    assert_eq!(f.ingest(&[alert(2)]).0, 200);
    let mut after = String::new();
    loop {
        let n = stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        after.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert!(
        !after.contains("s00002"),
        "delivered after revocation: {after}"
    );
    assert_eq!(f.get("/api/v1/alerts", &f.viewer).0, 401);
}

/// Sign in through a one-time code; revoking the token ends the session
/// and its stream.
#[test]
fn sign_in_codes_are_single_use_and_sessions_follow_their_token() {
    let f = fixture(Limits::default());
    let link = f.server.sign_in_link(&f.viewer).unwrap();
    let code = link.split("#code=").nth(1).unwrap().to_string();
    assert!(!link.contains(&f.viewer));
    let url = f.server.url();
    let sign_in = |body: String| {
        f.http
            .post(format!("{url}/api/v1/session"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .unwrap()
    };
    let r = sign_in(format!("{{\"code\":\"{code}\"}}"));
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in ["pg_session=pgs_", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let again = sign_in(format!("{{\"code\":\"{code}\"}}"));
    assert_eq!(again.status().as_u16(), 401, "a code works once");
    let with_cookie = |method: reqwest::Method, path: &str| {
        f.http
            .request(method, format!("{url}{path}"))
            .header("cookie", &session)
    };
    let who: Value = with_cookie(reqwest::Method::GET, "/api/v1/whoami")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(who["name"], "vera");
    // Cookie sessions need the CSRF header on changes.
    let r = with_cookie(reqwest::Method::POST, "/api/v1/alerts/s00001/status")
        .body(r#"{"status":"resolved"}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // An agent token cannot open a dashboard session.
    let r = f
        .http
        .post(format!("{url}/api/v1/session"))
        .bearer_auth(&f.agent)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Revocation ends the session's stream and the session.
    let mut stream = with_cookie(reqwest::Method::GET, "/api/v1/stream")
        .timeout(Duration::from_secs(30))
        .send()
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let mut buf = [0u8; 1024];
    assert!(stream.read(&mut buf).unwrap() > 0);
    f.store.revoke_token("vera").unwrap();
    let t = Instant::now();
    while stream.read(&mut buf).unwrap_or(0) > 0 {}
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let r = with_cookie(reqwest::Method::GET, "/api/v1/whoami")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

#[test]
fn values_are_validated_at_the_edge_with_problem_details() {
    let f = fixture(Limits::default());
    let v = f.viewer.clone();
    for (path, param) in [
        ("/api/v1/alerts?from=-1%C3%A9", "from"),
        ("/api/v1/alerts?from=-%C3%A9", "from"),
        ("/api/v1/alerts?q=a%00b", "q"),
        ("/api/v1/alerts?from=2026-13-01T00:00:00Z", "from"),
        ("/api/v1/alerts?limit=0", "limit"),
        ("/api/v1/alerts?limit=5000", "limit"),
        ("/api/v1/alerts?limit=1&limit=2", "limit"),
        ("/api/v1/alerts?bucket=5", "bucket"),
        ("/api/v1/stats?limit=5", "limit"),
        ("/api/v1/stats?bucket=0", "bucket"),
        ("/api/v1/stats?from=-30d&bucket=1", "bucket"),
        ("/api/v1/agents?x=1", "x"),
        ("/api/v1/rules?x=1", "x"),
        ("/api/v1/whoami?x=1", "x"),
        ("/api/v1/alerts/abc?x=1", "x"),
        ("/api/v1/alerts?q=%FF", "q"),
        ("/api/v1/alerts?q=%4", "q"),
    ] {
        let (code, ctype, body) = f.get(path, &v);
        assert_eq!(code, 400, "{path}: {body}");
        assert_eq!(ctype, "application/problem+json", "{path}");
        assert_eq!(body["status"], 400, "{path}");
        assert_eq!(body["param"], param, "{path}: {body}");
        assert!(body["title"].is_string() && body["type"].is_string());
        assert!(!body["detail"].as_str().unwrap().is_empty());
    }
    // Wrong methods and unknown routes answer JSON problems too.
    let r = f
        .http
        .delete(format!("{}/api/v1/alerts", f.server.url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    // Ingest: identity fields are refused (422 naming the field) ...
    let mut a = alert(1);
    a.time = "2026-13-01T00:00:00Z".into();
    let (code, body) = f.ingest(&[a]);
    assert_eq!(code, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("alert 0: time"),
        "{body}"
    );
    let mut a = alert(1);
    a.count = u64::MAX;
    assert_eq!(f.ingest(&[a]).0, 422, "counts must fit the store");
    let mut a = alert(1);
    a.output_fields.insert("k".repeat(300), "v".into());
    assert_eq!(f.ingest(&[a]).0, 422);
    // ... content fields are truncated with a marker, never silently.
    let mut a = alert(3);
    a.hostname = "h".repeat(200_000);
    a.tags = (0..100).map(|i| format!("t{i}")).collect();
    a.output = "nul\0inside".into();
    let (code, body) = f.ingest(&[a]);
    assert_eq!(code, 200, "{body}");
    let stored = f.store.get_alert(None, "s00003").unwrap().unwrap();
    assert!(stored.alert.hostname.len() <= 255);
    assert!(stored.alert.hostname.ends_with("…[truncated]"));
    assert_eq!(stored.alert.tags.len(), 64);
    assert_eq!(stored.alert.output, "nul\u{FFFD}inside");
    let cut = &stored.alert.output_fields["peregrine.truncated"];
    assert!(
        cut.contains("hostname") && cut.contains("tags(36 dropped)") && cut.contains("output"),
        "{cut}"
    );
    // A non-UTC offset is stored as the same instant in UTC.
    let mut a = alert(4);
    a.time = "2026-01-01T02:00:00+02:00".into();
    assert_eq!(f.ingest(&[a]).0, 200);
    let stored = f.store.get_alert(None, "s00004").unwrap().unwrap();
    assert_eq!(stored.alert.time, "2026-01-01T00:00:00.000000000Z");
    // Heartbeat counters that would wrap are refused.
    let r = f
        .http
        .post(format!("{}/api/v1/ingest/heartbeat", f.server.url()))
        .bearer_auth(&f.agent)
        .body(r#"{"agent":"a","hostname":"h","version":"1","events":18446744073709551615}"#)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
}
