//! The dashboard in headless Chromium, driven over W3C WebDriver
//! (Debian's chromium + chromium-driver): sign in, overview, filter alerts,
//! open one and see its process tree, triage, live updates, viewer rights.
//! Screenshots go to target/test-artifacts/dashboard/.

mod common;

use common::{alert, Driver};
use peregrine_event::wire::{Heartbeat, RuleInfo};
use peregrine_event::{Alert, Priority};
use peregrine_server::{auth, ServerConfig};
use peregrine_store::{Role, SqliteStore, Store};
use serde_json::json;
use std::sync::Arc;

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

    // Sign-in link: a one-time code travels in the fragment, then leaves the
    // URL; the browser keeps an HttpOnly session cookie, no token.
    let link = server.sign_in_link(&admin).unwrap();
    assert!(
        link.contains("#code=pgc_") && !link.contains(&admin),
        "{link}"
    );
    d.go(&link);
    let total = d.wait_js(
        "the overview",
        "const e = document.querySelector('#card-total .v'); return e && e.textContent;",
    );
    assert_eq!(total, json!("60"));
    let href = d.js("return location.href").as_str().unwrap().to_string();
    assert!(!href.contains("pg_") && !href.contains("pgc_"), "{href}");
    assert_eq!(
        d.js("return document.cookie + JSON.stringify(Object.entries(localStorage))"),
        json!("[]"),
        "the session cookie is HttpOnly and nothing is kept in storage"
    );
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
        .js("return location.hash.split('/')[2].split('?')[0]")
        .as_str()
        .unwrap()
        .to_string();
    d.click("#btn-ack");
    d.wait_js("acknowledged", "const e = document.querySelector('#alert-status'); return e && e.textContent === 'acknowledged';");
    let stored = store.get_alert(None, &id).unwrap().unwrap();
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
    // The sign-in link worked once: used again it is refused.
    d.go("about:blank");
    d.go(&link);
    d.wait_js(
        "used link refused",
        "return document.querySelector('#login-error').textContent.includes('already used')",
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
