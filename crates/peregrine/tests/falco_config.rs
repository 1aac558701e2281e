//! `peregrine agent --falco-config falco.yaml`: a Falco user's own
//! configuration (rules_files with a directory, json_output, file_output,
//! http_output, config.d) delivers the same real alert to the file and to a
//! real HTTP listener, in Falco's JSON shape.
mod common;

use common::{
    cat_shadow, falco_rules, http_receiver, peregrine, run_failing, scratch, wait_for, Peregrine,
};
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

/// The alert of `rule` for process `pid` among JSON values.
fn find(
    values: impl IntoIterator<Item = serde_json::Value>,
    rule: &str,
    pid: u32,
) -> Option<serde_json::Value> {
    values
        .into_iter()
        .find(|v| v["rule"] == rule && v["ancestry"][0]["pid"] == pid)
}

fn assert_falco_shape(v: &serde_json::Value) {
    for key in [
        "output",
        "priority",
        "rule",
        "time",
        "output_fields",
        "source",
        "tags",
        "hostname",
    ] {
        assert!(v.get(key).is_some(), "no '{key}' in {v}");
    }
    assert_eq!(v["source"], "syscall");
    assert!(v["tags"].is_array() && v["output_fields"].is_object());
    let time = v["time"].as_str().unwrap();
    assert!(
        time.len() == 30 && time.ends_with('Z'),
        "ISO 8601 with ns: {time}"
    );
}

/// A Falco configuration as a Falco user has one: `rules_files` with a
/// directory (Falco's stable rules plus a local file), `config.d`, JSON
/// output to a file and to HTTP (the URL from `$PG_TEST_FALCO_HTTP_URL`),
/// keys Peregrine ignores. Returns (falco.yaml, the events file, config.d).
fn falco_setup(d: &std::path::Path) -> (PathBuf, PathBuf, PathBuf) {
    let rules_dir = d.join("rules.d");
    std::fs::create_dir_all(&rules_dir).unwrap();
    std::fs::copy(falco_rules(), rules_dir.join("falco_rules.yaml")).unwrap();
    // Loaded after falco_rules.yaml (lexical order): refines its rule.
    std::fs::write(
        rules_dir.join("local.yaml"),
        "- rule: Read sensitive file untrusted\n  tags: [local_tag]\n  override: {tags: append}\n\
         - macro: pg_test_cat_shadow\n  condition: evt.type in (open, openat, openat2) and fd.name = /etc/shadow and proc.name = cat\n\
         - rule: PG test shadow at notice\n  desc: at the minimum priority\n  condition: pg_test_cat_shadow\n  output: notice %proc.pid\n  priority: NOTICE\n\
         - rule: PG test shadow at informational\n  desc: below it\n  condition: pg_test_cat_shadow\n  output: info %proc.pid\n  priority: INFORMATIONAL\n",
    )
    .unwrap();
    std::fs::write(rules_dir.join("notes.txt"), "not rules").unwrap();
    let events = d.join("events.json");
    let conf_d = d.join("config.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    let falco_yaml = d.join("falco.yaml");
    std::fs::write(
        &falco_yaml,
        format!(
            "config_files:\n  - {conf}\nwatch_config_files: true\n\
             rules_files:\n  - {rules}\n  - /etc/falco/falco_rules.local.yaml.absent\n\
             engine:\n  kind: modern_ebpf\nplugins: []\n\
             json_output: true\njson_include_output_property: true\njson_include_message_property: true\npriority: debug\n\
             time_format_iso_8601: true\nbuffered_outputs: false\noutputs_queue: {{capacity: 0}}\n\
             append_output:\n  - suggested_output: true\n\
               \x20 - match: {{rule: Read sensitive file untrusted, source: syscall, tags: [T1555]}}\n    \
                 extra_output: 'appended ppid=%proc.ppid'\n    extra_fields: [proc.pid, {{who: '%user.name!'}}]\n\
               \x20 - match: {{tags: [no_rule_has_this_tag]}}\n    extra_output: never\n\
             stdout_output: {{enabled: false}}\nsyslog_output: {{enabled: false}}\n\
             file_output:\n  enabled: true\n  keep_alive: false\n  filename: {events}\n\
             http_output:\n  enabled: true\n  url: ${{PG_TEST_FALCO_HTTP_URL}}\n  user_agent: falcosecurity/falco\n\
             webserver: {{enabled: true, listen_port: 8765}}\n",
            conf = conf_d.display(),
            rules = rules_dir.display(),
            events = events.display(),
        ),
    )
    .unwrap();
    // config.d (merged after the main file): raise the minimum priority.
    std::fs::write(conf_d.join("10-priority.yaml"), "priority: notice\n").unwrap();
    (falco_yaml, events, conf_d)
}

#[test]
fn a_falco_yaml_delivers_the_same_alert_to_file_and_http_in_falcos_shape() {
    let d = scratch("falco-config-alerts");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/falco", listener.local_addr().unwrap());
    let got = http_receiver(listener);
    let (falco_yaml, events, _) = falco_setup(&d);

    let f = falco_yaml.to_str().unwrap();
    let args = [
        "agent",
        "--falco-config",
        f,
        "--ready",
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    // The URL comes from the environment, as Falco expands ${VAR}.
    let agent = Peregrine::with_args(env!("CARGO_BIN_EXE_peregrine"), &args)
        .envs(&[("PG_TEST_FALCO_HTTP_URL", &url)])
        .env_remove("PEREGRINE_RULES")
        .env_remove("PEREGRINE_OUTPUTS")
        .start();
    let log = agent.log();
    assert!(
        log.contains("4 key(s) ignored (no Peregrine equivalent): engine, plugins, watch_config_files, webserver"),
        "one warning lists the ignored keys: {log}"
    );
    assert!(log.contains("falco_rules.local.yaml.absent"), "{log}");

    let pid = cat_shadow();
    let rule = "Read sensitive file untrusted";
    let in_file = wait_for("the alert in file_output", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&events).ok()?;
        find(
            text.lines().map(|l| serde_json::from_str(l).unwrap()),
            rule,
            pid,
        )
    });
    let (in_http, request) = wait_for(
        "the alert posted to http_output",
        Duration::from_secs(20),
        || {
            let reqs = got.lock().unwrap().clone();
            reqs.into_iter().find_map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
                find([v], rule, pid).map(|v| (v, r))
            })
        },
    );
    assert_eq!(
        in_file["id"], in_http["id"],
        "the same alert in both places"
    );
    assert_eq!(in_file, in_http);
    assert_falco_shape(&in_file);
    assert_eq!(in_file["priority"], "Warning");
    assert_eq!(in_file["output_fields"]["fd.name"], "/etc/shadow");
    let output = in_file["output"].as_str().unwrap();
    assert!(output.contains("/etc/shadow"));
    // append_output: the matching entry's text and fields, not the other's.
    let ppid = in_file["ancestry"][1]["pid"].as_u64().unwrap();
    assert!(
        output.ends_with(&format!(" appended ppid={ppid}")),
        "{output}"
    );
    assert!(!output.contains("never"), "{output}");
    // json_include_message_property: the output without time and priority.
    let message = in_file["message"].as_str().unwrap();
    assert_eq!(
        format!("{}: Warning {message}", in_file["time"].as_str().unwrap()),
        output
    );
    assert_eq!(in_file["output_fields"]["proc.pid"], pid.to_string());
    assert_eq!(in_file["output_fields"]["who"], "root!");
    assert_eq!(in_file["output_fields"]["proc.ppid"], ppid.to_string());
    let time = in_file["time"].as_str().unwrap();
    assert!(
        output.starts_with(&format!("{time}: Warning ")),
        "time_format_iso_8601: {output}"
    );
    let tags: Vec<&str> = in_file["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(
        tags.contains(&"local_tag"),
        "the directory's second file loaded: {tags:?}"
    );
    // priority: notice (from config.d): a rule at notice alerts, one below
    // it does not, on the same event.
    wait_for("the notice rule's alert", Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&events).ok()?;
        find(
            text.lines().map(|l| serde_json::from_str(l).unwrap()),
            "PG test shadow at notice",
            pid,
        )
    });
    let text = std::fs::read_to_string(&events).unwrap();
    assert!(!text.contains("PG test shadow at informational"), "{text}");
    let posted = got
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.body.contains("PG test shadow at informational"));
    assert!(!posted, "nor over http");
    let header = |k: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("user-agent"), Some("falcosecurity/falco"));
    assert_eq!(header("content-type"), Some("application/json"));
    drop(agent);

    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn a_yaml_error_in_an_included_file_names_it_and_the_line() {
    let d = scratch("falco-config-broken");
    let (falco_yaml, _, conf_d) = falco_setup(&d);
    let f = falco_yaml.to_str().unwrap();
    std::fs::write(
        conf_d.join("20-broken.yaml"),
        "file_output:\n  enabled: [true\n",
    )
    .unwrap();
    let err = run_failing(peregrine().args(["agent", "--falco-config", f]));
    let at = format!("{}:2:", conf_d.join("20-broken.yaml").display());
    assert!(err.contains(&at), "{err}");
    std::fs::remove_dir_all(&d).ok();
}
