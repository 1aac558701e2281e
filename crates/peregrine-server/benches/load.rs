//! Server load benchmark (not a timed test):
//!
//! 1. ingest: N simulated agents (own tokens, own HTTP clients) send
//!    RATE alerts/s in total for SECS seconds; every alert must be stored.
//! 2. query: the store is filled to TOTAL alerts over 7 days, then a mix of
//!    dashboard/API queries runs over HTTP; p50/p95 per query.
//!
//! `cargo bench -p peregrine-server --bench load` (env: PG_LOAD_SECS=60,
//! PG_LOAD_RATE=1000, PG_LOAD_AGENTS=20, PG_QUERY_TOTAL=1000000,
//! PG_STORE=postgres://… to use PostgreSQL instead of SQLite).

use peregrine_event::alert::{AncestorInfo, ContainerInfo};
use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, ServerConfig};
use peregrine_store::{Role, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env(k: &str, d: u64) -> u64 {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

const RULES: [(&str, Priority); 8] = [
    ("Read sensitive file untrusted", Priority::Warning),
    ("Terminal shell in container", Priority::Notice),
    ("Reverse shell", Priority::Critical),
    ("Write below etc", Priority::Error),
    ("Launch Privileged Container", Priority::Informational),
    ("Outbound connection to C2", Priority::Critical),
    ("Clear log activities", Priority::Warning),
    ("Fileless execution via memfd_create", Priority::Alert),
];

fn alert(agent: usize, n: u64, time_ns: u64) -> Alert {
    let (rule, prio) = RULES[(n as usize * 7 + agent) % RULES.len()];
    let host = format!("node-{agent:02}");
    let files = [
        "/etc/shadow",
        "/etc/sudoers",
        "/root/.ssh/id_rsa",
        "/var/log/auth.log",
    ];
    let f = files[(n % 4) as usize];
    Alert {
        time: peregrine_event::time::rfc3339(time_ns),
        rule: rule.into(),
        priority: prio,
        source: "syscall".into(),
        hostname: host.clone(),
        output: format!(
            "{prio} {rule} (file={f} user=root user_uid=0 process=cat proc_exepath=/usr/bin/cat parent=bash command=cat {f} container_id=c{:011x} n={n})",
            n % 97
        ),
        output_fields: [("evt.type", "openat"), ("fd.name", f), ("proc.name", "cat"), ("user.name", "root")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        tags: vec!["mitre_credential_access".into(), "T1003".into()],
        id: format!("{agent:02}-{n:012}"),
        count: 1,
        container: (!n.is_multiple_of(3)).then(|| ContainerInfo {
            id: format!("c{:063x}", n % 97),
            name: format!("svc-{}", n % 97),
            image: format!("registry.local/team-{}/svc:{}", n % 7, n % 5),
            privileged: false,
            k8s_namespace: Some(format!("ns-{}", n % 11)),
            k8s_pod: Some(format!("svc-{}-0", n % 97)),
            ..Default::default()
        }),
        ancestry: vec![
            AncestorInfo { pid: 4000, name: "cat".into(), exepath: "/usr/bin/cat".into(), cmdline: format!("cat {f}") },
            AncestorInfo { pid: 3000, name: "bash".into(), exepath: "/usr/bin/bash".into(), cmdline: "bash".into() },
        ],
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn open_store(dir: &std::path::Path) -> Arc<dyn Store> {
    match std::env::var("PG_STORE") {
        Ok(url) => Arc::from(peregrine_store::open(&url).expect("store")),
        Err(_) => Arc::from(peregrine_store::open(dir.to_str().unwrap()).expect("store")),
    }
}

fn main() {
    let secs = env("PG_LOAD_SECS", 60);
    let rate = env("PG_LOAD_RATE", 1000);
    let agents = env("PG_LOAD_AGENTS", 20) as usize;
    let total = env("PG_QUERY_TOTAL", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let server = peregrine_server::start(
        ServerConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..ServerConfig::default()
        },
        store.clone(),
    )
    .unwrap();
    let url = server.url();
    println!("store: {}, server {url}", store.backend());

    // ---- 1. ingest ----
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
    let per_agent = rate as f64 / agents as f64;
    let tick = Duration::from_millis(100);
    let start = Instant::now();
    let threads: Vec<_> = (0..agents)
        .map(|a| {
            let token = auth::issue(store.as_ref(), &format!("node-{a:02}"), Role::Agent).unwrap();
            let (url, sent, failed, lat) = (url.clone(), sent.clone(), failed.clone(), lat.clone());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut n = 0u64;
                let mut owed = 0.0;
                let mut next = Instant::now();
                while start.elapsed() < Duration::from_secs(secs) {
                    owed += per_agent * tick.as_secs_f64();
                    let k = owed.floor() as u64;
                    owed -= k as f64;
                    let now = peregrine_store::now_ns() as u64;
                    let batch: Vec<Alert> = (0..k).map(|i| alert(a, n + i, now)).collect();
                    n += k;
                    if !batch.is_empty() {
                        let body = serde_json::to_string(&batch).unwrap();
                        // Retry like an agent's buffered sink: until accepted.
                        loop {
                            let t0 = Instant::now();
                            let ok = http
                                .post(format!("{url}/api/v1/ingest/alerts"))
                                .bearer_auth(&token)
                                .body(body.clone())
                                .send()
                                .map(|r| r.status().is_success())
                                .unwrap_or(false);
                            lat.lock().unwrap().push(t0.elapsed().as_secs_f64() * 1e3);
                            if ok {
                                break;
                            }
                            failed.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        sent.fetch_add(k, Ordering::Relaxed);
                    }
                    next += tick;
                    if let Some(d) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(d);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let sent = sent.load(Ordering::Relaxed);
    let stored = store.count().unwrap();
    let mut l = lat.lock().unwrap().clone();
    println!(
        "ingest: {agents} agents, {sent} alerts in {elapsed:.1} s = {:.0} alerts/s; stored {stored} (lost {}); failed requests {}; request p50 {:.1} ms p95 {:.1} ms",
        sent as f64 / elapsed,
        sent.saturating_sub(stored),
        failed.load(Ordering::Relaxed),
        pct(&mut l, 0.5),
        pct(&mut l, 0.95)
    );

    // ---- 2. query over a large store ----
    let have = store.count().unwrap();
    let t0 = Instant::now();
    let week = 7 * 86_400_000_000_000u64;
    let now = peregrine_store::now_ns() as u64;
    let mut n = 0u64;
    while have + n < total {
        let k = 5000.min(total - have - n);
        let batch: Vec<Alert> = (0..k)
            .map(|i| {
                let j = n + i;
                alert(
                    (j % 20) as usize + 100,
                    j,
                    now - week + (j * 7_919 % (week / 1_000_000_000)) * 1_000_000_000,
                )
            })
            .collect();
        store.insert_alerts("bulk", &batch).unwrap();
        n += k;
    }
    // What the server's periodic maintenance (retention + planner
    // statistics, every 5 minutes) would have done by now.
    store
        .retain(
            &peregrine_store::Retention {
                max_age_secs: 0,
                max_alerts: 0,
                max_bytes: 0,
            },
            0,
        )
        .unwrap();
    // The server's periodic maintenance pass (retention; PostgreSQL also
    // refreshes planner statistics) as it would have run by now.
    store
        .retain(
            &peregrine_store::Retention {
                max_age_secs: 0,
                max_alerts: 0,
                max_bytes: 0,
            },
            0,
        )
        .unwrap();
    println!(
        "filled to {} alerts in {:.0} s ({} bytes on disk)",
        store.count().unwrap(),
        t0.elapsed().as_secs_f64(),
        dir_size(dir.path())
    );
    let viewer = auth::issue(store.as_ref(), "bench-viewer", Role::Viewer).unwrap();
    let http = reqwest::blocking::Client::new();
    let queries: Vec<(&str, String)> = vec![
        ("latest page", "/api/v1/alerts?limit=50".into()),
        ("last 24h", "/api/v1/alerts?from=-24h&limit=50".into()),
        (
            "priority >= critical",
            "/api/v1/alerts?min_priority=critical&limit=50".into(),
        ),
        (
            "rule",
            "/api/v1/alerts?rule=Reverse%20shell&limit=50".into(),
        ),
        ("host", "/api/v1/alerts?host=node-105&limit=50".into()),
        (
            "container",
            "/api/v1/alerts?container=svc-42&limit=50".into(),
        ),
        (
            "k8s namespace + priority",
            "/api/v1/alerts?namespace=ns-3&min_priority=warning&limit=50".into(),
        ),
        ("free text", "/api/v1/alerts?q=id_rsa&limit=50".into()),
        (
            "free text + 1h",
            "/api/v1/alerts?q=sudoers&from=-1h&limit=50".into(),
        ),
        ("alert detail", "/api/v1/alerts/102-000000000042".into()),
        ("overview stats 1h", "/api/v1/stats?from=-1h".into()),
        ("overview stats 24h", "/api/v1/stats?from=-24h".into()),
    ];
    let mut all = Vec::new();
    println!("{:<28} {:>9} {:>9}", "query", "p50 ms", "p95 ms");
    for (name, q) in &queries {
        let mut v = Vec::new();
        for _ in 0..40 {
            let t = Instant::now();
            let r = http
                .get(format!("{url}{q}"))
                .bearer_auth(&viewer)
                .send()
                .unwrap();
            assert!(r.status().is_success(), "{name}: {}", r.status());
            let _ = r.bytes().unwrap();
            v.push(t.elapsed().as_secs_f64() * 1e3);
        }
        all.extend(v.iter().copied());
        println!(
            "{name:<28} {:>9.1} {:>9.1}",
            pct(&mut v, 0.5),
            pct(&mut v, 0.95)
        );
    }
    println!(
        "all queries: p50 {:.1} ms, p95 {:.1} ms",
        pct(&mut all, 0.5),
        pct(&mut all, 0.95)
    );
}

fn dir_size(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|d| {
            d.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
