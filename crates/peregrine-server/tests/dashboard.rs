//! The dashboard's behaviour a user hits first, in headless Chromium: the
//! time chart draws the whole selected range; live updates add only
//! matching alerts and keep "Load older" pages; the range selector shows a
//! range from the URL and keeps `to`; an 800 px window fits; a sign-in link
//! opened in a signed-out tab signs in; secrets in alerts are redacted
//! before storage and never shown.

mod common;

use common::{alert, Driver};
use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, ServerConfig, ServerHandle};
use peregrine_store::{Role, SqliteStore, Store};
use serde_json::json;
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    server: ServerHandle,
    admin: String,
    d: Driver,
}

impl Fixture {
    fn new(alerts: &[Alert]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("p.db")).unwrap());
        let admin = auth::issue(store.as_ref(), "ada", Role::Admin).unwrap();
        if !alerts.is_empty() {
            store.insert_alerts("web-01", alerts).unwrap();
        }
        let server = peregrine_server::start(
            ServerConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                ..ServerConfig::default()
            },
            store.clone(),
        )
        .unwrap();
        let mut d = Driver::start();
        let link = server.sign_in_link(&admin).unwrap();
        d.go(&link);
        d.wait_js(
            "signed in",
            "return document.querySelector('#login').classList.contains('hidden') && document.querySelector('#card-total .v')",
        );
        Fixture {
            _dir: dir,
            store,
            server,
            admin,
            d,
        }
    }

    fn url(&self) -> String {
        self.server.url()
    }
}

/// An alert `secs_ago` seconds old.
fn aged(i: u32, rule: &str, secs_ago: u64) -> Alert {
    let mut a = alert(i, rule, Priority::Warning, false);
    let now = peregrine_store::now_ns() as u64;
    a.time = peregrine_event::time::rfc3339(now - secs_ago * 1_000_000_000);
    a
}

#[test]
fn the_chart_draws_every_bucket_of_the_selected_range() {
    // Alerts 6 days, 3 days and 1 minute ago.
    let alerts = vec![
        aged(1, "Old", 6 * 86400),
        aged(2, "Mid", 3 * 86400),
        aged(3, "New", 60),
    ];
    let mut f = Fixture::new(&alerts);
    let url = f.url();
    let d = &mut f.d;
    for (range, span) in [("-24h", 86_400i64), ("-7d", 7 * 86_400)] {
        d.go(&format!("{url}/#/overview"));
        d.wait("#overview-range");
        d.js(&format!("const s = document.querySelector('#overview-range'); s.value = '{range}'; s.dispatchEvent(new Event('change'));"));
        d.wait_js(
            "the chart of the range",
            &format!("const s = document.querySelector('.chart svg'); return s && (+s.dataset.to - +s.dataset.from) >= {span} - 3600 && s.querySelectorAll('g.bucket').length"),
        );
        let v = d.js("const s = document.querySelector('.chart svg'); const now = Date.now() / 1000; return { n: +s.dataset.buckets, slots: s.querySelectorAll('g.bucket').length, from: +s.dataset.from, to: +s.dataset.to, now, filled: [...s.querySelectorAll('g.bucket')].filter(g => g.querySelector('rect')).map(g => +g.dataset.start), ticks: [...s.querySelectorAll('text.tick')].map(t => t.textContent) };");
        let n = v["n"].as_i64().unwrap();
        assert!((60..=62).contains(&n), "{range}: {v}");
        assert_eq!(
            v["slots"].as_i64().unwrap(),
            n,
            "every bucket drawn, empty ones too: {v}"
        );
        assert!(
            v["to"].as_f64().unwrap() <= v["now"].as_f64().unwrap() + 5.0,
            "the axis runs into the future: {v}"
        );
        let from = v["from"].as_f64().unwrap();
        let filled: Vec<f64> = v["filled"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let ticks: Vec<&str> = v["ticks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(
            ticks.iter().all(|t| t.contains('/')),
            "{range}: multi-day labels carry dates: {ticks:?}"
        );
        if range == "-7d" {
            assert_eq!(filled.len(), 3, "three alerts in three buckets: {v}");
            // 6 days old in a 7-day range: one day (give or take a bucket) in.
            assert!(
                (filled[0] - from - 86_400.0).abs() < 2.0 * 10_080.0,
                "the oldest sits near the start: {v}"
            );
        } else {
            assert_eq!(filled.len(), 1, "{v}");
            assert!(
                from + 86_000.0 < filled[0],
                "the newest sits at the end: {v}"
            );
        }
    }
    d.screenshot("chart-7d");
}

#[test]
fn live_updates_add_matching_alerts_and_keep_older_pages() {
    let alerts: Vec<Alert> = (0..150)
        .map(|i| aged(i, "Read sensitive file untrusted", 600 + u64::from(i)))
        .collect();
    let mut f = Fixture::new(&alerts);
    let url = f.url();
    let rows = "return document.querySelectorAll('#alerts-table tbody tr[data-id]').length";
    f.d.go(&format!("{url}/#/alerts"));
    f.d.wait_js("page 1", &format!("{rows} === 100"));
    f.d.click("#load-more");
    f.d.wait_js("page 2", &format!("{rows} === 150"));
    f.d.wait_js(
        "live",
        "return document.querySelector('#live-indicator.on') !== null",
    );
    f.server
        .ingest
        .alerts("web-01", &[aged(500, "Fresh live alert", 0)])
        .unwrap();
    f.d.wait_js(
        "the new row on top, older pages kept",
        &format!("return {rows} === 151 && document.querySelector('#alerts-table tbody tr[data-id]').dataset.id === 'ui00500'"),
    );
    // With a rule filter, an alert of another rule fetches nothing.
    f.d.go(&format!("{url}/#/alerts?rule=Fresh%20live%20alert"));
    f.d.wait_js("filtered", &format!("{rows} === 1"));
    f.d.js("window.__alertFetches = 0; const of = window.fetch; window.fetch = (u, o) => { if (String(u).startsWith('/api/v1/alerts')) window.__alertFetches++; (window.__urls = window.__urls || []).push(String(u) + ' ' + (new Error().stack || '').split('\\n').slice(1,4).join('|')); return of(u, o); };");
    f.server
        .ingest
        .alerts("web-01", &[aged(501, "Another rule", 0)])
        .unwrap();
    f.server
        .ingest
        .alerts("web-01", &[aged(502, "Fresh live alert", 0)])
        .unwrap();
    f.d.wait_js("the matching one", &format!("{rows} === 2"));
    let urls = f.d.js("return window.__urls");
    assert_eq!(
        f.d.js("return window.__alertFetches"),
        json!(1),
        "one fetch, for the matching alert: {urls}"
    );
}

#[test]
fn the_range_selector_shows_the_url_range_and_filters_keep_to() {
    let alerts = vec![aged(1, "Old", 3 * 3600)];
    let mut f = Fixture::new(&alerts);
    let url = f.url();
    f.d.go(&format!("{url}/#/alerts?from=-2h"));
    f.d.wait("#filter-from");
    assert_eq!(
        f.d.js("return document.querySelector('#filter-from').value"),
        json!("-2h")
    );
    assert_eq!(
        f.d.js("const s = document.querySelector('#filter-from'); return s.options[s.selectedIndex].textContent"),
        json!("Custom: -2h")
    );
    f.d.go(&format!("{url}/#/alerts?from=-7d&to=-1h"));
    f.d.wait_js(
        "one row",
        "return document.querySelectorAll('#alerts-table tbody tr[data-id]').length === 1",
    );
    f.d.js("const s = document.querySelector('#filter-priority'); s.value = 'Warning'; s.dispatchEvent(new Event('change'));");
    f.d.wait_js(
        "priority applied, to kept",
        "return location.hash.includes('min_priority=Warning') && location.hash.includes('to=-1h')",
    );
    f.d.js("const s = document.querySelector('#filter-from'); s.value = '-24h'; s.dispatchEvent(new Event('change'));");
    f.d.wait_js(
        "another range drops to",
        "return location.hash.includes('from=-24h') && !location.hash.includes('to=')",
    );
}

#[test]
fn an_800px_window_fits_and_long_command_lines_wrap() {
    let mut a = aged(7, "Long command", 60);
    a.ancestry[0].cmdline = format!("python3 -c {}", "x".repeat(3000));
    let mut f = Fixture::new(&[a]);
    let url = f.url();
    f.d.window(800, 700);
    let fits =
        "const m = document.querySelector('main'); return m.scrollWidth <= m.clientWidth + 1";
    f.d.go(&format!("{url}/#/alerts"));
    f.d.wait_js(
        "the table",
        "return document.querySelectorAll('#alerts-table tbody tr[data-id]').length === 1",
    );
    assert_eq!(
        f.d.js(fits),
        json!(true),
        "the alerts page overflows 800 px"
    );
    f.d.go(&format!("{url}/#/alert/ui00007?agent=web-01"));
    f.d.wait("#process-tree .proc");
    assert_eq!(f.d.js(fits), json!(true), "the alert page overflows 800 px");
    let inside = f.d.js("const m = document.querySelector('main').getBoundingClientRect(); return [...document.querySelectorAll('#process-tree .proc')].every(p => p.getBoundingClientRect().right <= m.right + 1)");
    assert_eq!(inside, json!(true), "a process box runs over its panel");
    f.d.screenshot("alert-800px");
}

#[test]
fn a_sign_in_link_opened_in_a_signed_out_tab_signs_in() {
    let mut f = Fixture::new(&[]);
    f.d.click("#logout");
    f.d.wait_js(
        "signed out",
        "return !document.querySelector('#login').classList.contains('hidden')",
    );
    let link = f.server.sign_in_link(&f.admin).unwrap();
    let hash = &link[link.find('#').unwrap()..];
    // Same tab, no reload: only the fragment changes.
    f.d.js(&format!("location.hash = '{hash}'"));
    f.d.wait_js("signed in", "return document.querySelector('#login').classList.contains('hidden') && !location.hash.includes('code=')");
}

#[test]
fn secrets_in_alerts_are_redacted_before_storage_and_display() {
    let mut f = Fixture::new(&[]);
    let url = f.url();
    let mut a = aged(9, "Container started with secrets", 5);
    a.output =
        r#"docker run --env '{"AWS_SECRET_ACCESS_KEY":"wJalrXUtnFEMI/K7MDENG"}' app (user=root)"#
            .into();
    a.output_fields
        .insert("proc.cmdline".into(), "mysql --password=hunter2".into());
    a.ancestry[0].cmdline = "env GITHUB_TOKEN=ghp_abc123 sh".into();
    f.server.ingest.alerts("web-01", &[a]).unwrap();
    let stored =
        serde_json::to_string(&f.store.get_alert(None, "ui00009").unwrap().unwrap()).unwrap();
    for secret in ["wJalrXUtnFEMI", "hunter2", "ghp_abc123"] {
        assert!(!stored.contains(secret), "{secret} stored: {stored}");
    }
    assert!(stored.contains("[redacted]"), "{stored}");
    f.d.go(&format!("{url}/#/alert/ui00009?agent=web-01"));
    f.d.wait("#process-tree");
    let page = f.d.text("#main");
    assert!(
        page.contains("AWS_SECRET_ACCESS_KEY") && page.contains("[redacted]"),
        "{page}"
    );
    for secret in ["wJalrXUtnFEMI", "hunter2", "ghp_abc123"] {
        assert!(!page.contains(secret), "{secret} shown: {page}");
    }
}

#[test]
fn mttd_and_mttr_show_on_the_overview_and_in_prometheus_metrics() {
    let mut a = aged(11, "Shell", 30);
    a.tags.push("team:payments".into());
    let b = aged(12, "Miner", 90);
    let mut f = Fixture::new(&[a, b]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(f
        .store
        .set_status(
            Some("web-01"),
            "ui00011",
            peregrine_store::Status::Resolved,
            "ada"
        )
        .unwrap());
    let url = f.url();
    f.d.go(&format!("{url}/#/agents"));
    f.d.go(&format!("{url}/#/overview"));
    let mttd = f.d.wait_js(
        "the MTTD card",
        "const e = document.querySelector('#card-mttd .v'); return e && e.textContent !== '—' && e.textContent",
    );
    // (30 s + 90 s) / 2 from event to stored.
    assert_eq!(mttd, json!("60 s"), "MTTD");
    let mttr = f.d.text("#card-mttr .v");
    assert!(mttr.ends_with(" s") || mttr.ends_with(" ms"), "{mttr}");
    let rows = f.d.text("#times-by-rule");
    assert!(rows.contains("Shell") && rows.contains("Miner"), "{rows}");
    assert!(f.d.text("#times-by-team").contains("payments"));
    f.d.screenshot("overview-times");
    let metrics = reqwest::blocking::get(format!("{url}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("peregrine_server_mttd_seconds{priority=\"all\"}"))
        .unwrap_or_else(|| panic!("no MTTD gauge:\n{metrics}"));
    let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((v - 60.0).abs() < 3.0, "{line}");
    assert!(
        metrics.contains("peregrine_server_mttr_seconds{priority=\"Warning\"}"),
        "{metrics}"
    );
}
