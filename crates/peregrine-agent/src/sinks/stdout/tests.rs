use super::*;
use crate::sinks::SinkConfig;
use peregrine_rules::Priority;

#[test]
fn shorthand_and_map_reach_the_same_config() {
    let want = SinkConfig::Stdout(StdoutConfig {
        json: true,
        min_priority: Priority::Warning,
        shape: Default::default(),
    });
    assert_eq!(SinkConfig::parse("stdout:json,min=warning").unwrap(), want);
    let typed: SinkConfig =
        serde_json::from_str(r#"{"type": "stdout", "format": "json", "min": "WARNING"}"#).unwrap();
    assert_eq!(typed, want);
    assert_eq!(SinkConfig::parse("stdout").unwrap(), SinkConfig::default());
}

#[test]
fn options_stdout_does_not_have_are_errors_naming_both() {
    for spec in ["stdout,batch=5", "stdout:json,buffer=/tmp/x"] {
        let e = SinkConfig::parse(spec).unwrap_err().to_string();
        let opt = spec.rsplit(',').next().unwrap().split('=').next().unwrap();
        assert!(
            e.contains(&format!("stdout has no option '{opt}'")),
            "{spec}: {e}"
        );
    }
    let e = serde_json::from_str::<SinkConfig>(r#"{"type": "stdout", "batch": 5}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("stdout") && e.contains("`batch`"), "{e}");
    let e = SinkConfig::parse("stdout:yaml").unwrap_err().to_string();
    assert!(e.contains("expected stdout or stdout:json"), "{e}");
}

#[test]
fn healthcheck_sees_an_open_stdout() {
    // The test harness's stdout is open for writing.
    let c = SinkConfig::parse("stdout").unwrap();
    assert!(c.healthcheck().is_ok());
    assert!(matches!(c.build(), Ok(s) if s.name() == "stdout"));
}
