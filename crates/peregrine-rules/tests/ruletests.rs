//! The embedded rule test format.
use peregrine_rules::{ruletest, Engine};

#[test]
fn embedded_tests_run_and_report_pass_and_fail() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/with_tests.yaml");
    let e = Engine::from_files(&[&path]).unwrap();
    let (outcomes, diags) = ruletest::run_all(&e);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(outcomes.len(), 5);
    for o in &outcomes {
        assert!(
            o.passed(),
            "{} :: {} (expect {}, fired {})",
            o.rule,
            o.name,
            o.expect,
            o.fired
        );
    }

    // A wrong expectation fails, with its location.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "expect: no_fire\n      event:\n        type: openat",
        "expect: fire\n      event:\n        type: openat",
    );
    let e = Engine::from_str("flipped.yaml", &text).unwrap();
    let (outcomes, _) = ruletest::run_all(&e);
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].name, "reading is fine");
    assert_eq!(failed[0].at.pos.line, 36);
}

#[test]
fn malformed_tests_are_diagnostics() {
    let text = "- rule: r\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: INFO\n  tests:\n    - name: a\n      expect: maybe\n      event: {type: execve}\n    - name: b\n      expect: fire\n      event: {type: teleport}\n    - name: c\n      expect: fire\n";
    let e = Engine::from_str("t.yaml", text).unwrap();
    let (outcomes, diags) = ruletest::run_all(&e);
    assert!(outcomes.is_empty());
    let all: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(
        all[0].contains("t.yaml:7:") && all[0].contains("expect must be fire or no_fire"),
        "{all:?}"
    );
    assert!(
        all[1].contains("event type 'teleport' is not captured"),
        "{all:?}"
    );
    assert!(all[2].contains("has no 'event'"), "{all:?}");
}

#[test]
fn misspelt_event_keys_are_errors_not_silently_ignored() {
    let text = "- rule: r\n  desc: d\n  condition: evt.type = listen and fd.sport = 22\n  output: o\n  priority: INFO\n  tests:\n    - name: a\n      expect: no_fire\n      event: {type: listen, net: {sip: 0.0.0.0, lport: 22}}\n    - name: b\n      expect: fire\n      event: {type: listen, prc: {name: sshd}}\n";
    let e = Engine::from_str("t.yaml", text).unwrap();
    let (outcomes, diags) = ruletest::run_all(&e);
    assert!(outcomes.is_empty(), "neither test may run");
    let all: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(
        all[0].contains("unknown key 'lport' in 'net'") && all[0].contains("sport"),
        "{all:?}"
    );
    assert!(all[1].contains("unknown key 'prc' in 'event'"), "{all:?}");
}

#[test]
fn docs_rules_md_documents_every_field() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/RULES.md"))
        .unwrap();
    for f in peregrine_rules::fields::FIELDS {
        assert!(
            doc.contains(&format!("| `{}` |", f.name)),
            "docs/RULES.md lacks {} (regenerate: peregrine rules fields --markdown)",
            f.name
        );
    }
}

#[test]
fn the_default_ruleset_loads_and_every_embedded_test_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/peregrine");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let e = Engine::from_files(&files).unwrap_or_else(|e| panic!("{e}"));
    assert!(e.stats().enabled >= 30, "{:?}", e.stats());
    assert!(
        e.warnings().is_empty(),
        "{:?}",
        e.warnings()
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
    );
    let (outcomes, diags) = ruletest::run_all(&e);
    assert!(
        diags.is_empty(),
        "{:?}",
        diags.iter().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| format!("{} :: {}", o.rule, o.name))
        .collect();
    assert!(failed.is_empty(), "failing rule tests: {failed:?}");
    assert!(
        e.sequences().list().len() >= 3,
        "the default sequence rules"
    );
    for s in e.sequences().list() {
        for want in [true, false] {
            assert!(
                outcomes
                    .iter()
                    .any(|o| o.rule == s.name && o.expect == want),
                "sequence '{}' has no test expecting fire={want}",
                s.name
            );
        }
    }
    for r in e.rules() {
        assert!(
            outcomes.iter().any(|o| o.rule == r.name && o.expect),
            "rule '{}' has no test that makes it fire",
            r.name
        );
        assert!(
            r.tags.iter().any(|t| t.starts_with('T')),
            "rule '{}' has no ATT&CK technique tag",
            r.name
        );
    }
}
