//! The front ends and the registry, across sinks.
use super::*;

#[test]
fn specs_parse_and_errors_name_the_problem() {
    assert_eq!(
        SinkConfig::parse("stdout").unwrap(),
        SinkConfig::Stdout(StdoutConfig {
            json: false,
            min_priority: Priority::Debug,
            shape: Default::default(),
        })
    );
    assert!(matches!(
        SinkConfig::parse("file:/tmp/a.json,min=warning,max_mb=1").unwrap(),
        SinkConfig::File(FileConfig {
            max_bytes: 1048576,
            min_priority: Priority::Warning,
            ..
        })
    ));
    for bad in [
        "",
        "ftp://x",
        "file:",
        "stdout,min=loud",
        "stdout,x=1",
        "stdout,min",
    ] {
        let e = SinkConfig::parse(bad).unwrap_err().to_string();
        assert!(e.contains("invalid sink"), "{e}");
    }
    let e = SinkConfig::parse("ftp://x").unwrap_err().to_string();
    assert!(
        e.contains("unknown sink 'ftp'") && e.contains("stdout, file, webhook, slack"),
        "{e}"
    );
    let e = SinkConfig::parse("stdout,min=loud")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown priority 'loud'"), "{e}");
}

#[test]
fn an_option_no_sink_has_names_the_sink_and_the_option() {
    let e = SinkConfig::parse("stdout,batch=5").unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid sink 'stdout,batch=5': stdout has no option 'batch' (its options: min)"
    );
    let e = SinkConfig::parse("file:/x,min=info,colour=red")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("file has no option 'colour' (its options: min, max_mb, keep, format)"),
        "{e}"
    );
}

#[test]
fn the_config_file_takes_strings_and_maps_alike() {
    // What a settings type declaring `outputs: Vec<SinkConfig>` gets.
    let v: Vec<SinkConfig> = serde_json::from_str(
        r#"["stdout:json", {"type": "file", "path": "/tmp/a.jsonl", "min": "warning"}]"#,
    )
    .unwrap();
    assert_eq!(v[0], SinkConfig::parse("stdout:json").unwrap());
    assert_eq!(
        v[1],
        SinkConfig::parse("file:/tmp/a.jsonl,min=warning").unwrap()
    );
    for (text, want) in [
        (r#"["stdout,batch=5"]"#, "stdout has no option 'batch'"),
        (r#"[{"url": "http://x"}]"#, "missing `type`"),
        (r#"[{"type": "ftp"}]"#, "unknown sink 'ftp'"),
        (r#"[{"type": 3}]"#, "`type` must be a sink name"),
        (
            r#"[{"type": "stdout", "min": "loud"}]"#,
            "unknown priority 'loud'",
        ),
        (
            r#"[{"type": "stdout", "min": 3}]"#,
            "min: 3 is not a priority name",
        ),
        (r#"[7]"#, "a map with `type`"),
    ] {
        let e = serde_json::from_str::<Vec<SinkConfig>>(text)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn every_kind_is_registered_once() {
    let mut all: Vec<&str> = KINDS.iter().flat_map(|k| k.names.iter().copied()).collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a kind name registered twice");
    assert_eq!(
        registry::names(),
        "stdout, file, webhook, slack, elasticsearch, splunk, loki, syslog, otlp, program"
    );
}

#[test]
fn a_yaml_settings_file_takes_both_forms() {
    // The shape of the agent's settings: `outputs: Vec<SinkConfig>` in a
    // `deny_unknown_fields` struct, read by the YAML deserializer.
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        outputs: Vec<SinkConfig>,
    }
    let text = "outputs:\n  - stdout:json\n  - {type: file, path: /tmp/a.jsonl, max_mb: 1, keep: 2}\n  - type: webhook\n    url: https://siem.example/ingest\n    headers: {Authorization: Bearer T0KEN}\n    min: warning\n    batch: 50\n  - type: syslog\n    target: tcp://127.0.0.1:6514\n    format: cef\n    facility: 4\n";
    let s: Settings = serde_saphyr::from_str(text).unwrap();
    assert_eq!(s.outputs[0], SinkConfig::parse("stdout:json").unwrap());
    assert_eq!(
        s.outputs[1],
        SinkConfig::parse("file:/tmp/a.jsonl,max_mb=1,keep=2").unwrap()
    );
    assert_eq!(
        s.outputs[2],
        SinkConfig::parse(
            "webhook:https://siem.example/ingest,header=Authorization:Bearer T0KEN,min=warning,batch=50"
        )
        .unwrap()
    );
    assert_eq!(
        s.outputs[3],
        SinkConfig::parse("syslog:tcp://127.0.0.1:6514,format=cef,facility=4").unwrap()
    );
    let e =
        serde_saphyr::from_str::<Settings>("outputs:\n  - stdout\n  - {type: stdout, batch: 5}\n")
            .unwrap_err()
            .to_string();
    assert!(e.contains("stdout") && e.contains("`batch`"), "{e}");
    let e = serde_saphyr::from_str::<Settings>("outputs: ['stdout,batch=5']\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("stdout has no option 'batch'"), "{e}");
}
