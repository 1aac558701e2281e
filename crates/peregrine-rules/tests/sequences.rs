//! Sequence rules: loading, errors with their place, the embedded tests,
//! and the bounds of the partial-match state.
use peregrine_rules::sequence::Tracker;
use peregrine_rules::{ruletest, Engine};

fn data() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sequences.yaml")
}

#[test]
fn embedded_sequence_tests_pass_and_a_wrong_expectation_fails() {
    let e = Engine::from_files(&[data()]).unwrap();
    assert_eq!(e.sequences().list().len(), 3);
    let (outcomes, diags) = ruletest::run_all(&e);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(outcomes.len(), 12);
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
    let text = std::fs::read_to_string(data())
        .unwrap()
        .replace("{after: 61s,", "{after: 59s,");
    let e = Engine::from_str("shifted.yaml", &text).unwrap();
    let (outcomes, _) = ruletest::run_all(&e);
    let failed: Vec<_> = outcomes.iter().filter(|o| !o.passed()).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].name, "beyond the window");
}

#[test]
fn step_event_types_are_captured() {
    let e = Engine::from_files(&[data()]).unwrap();
    let kinds: Vec<&str> = e.required_kinds().iter().map(|k| k.name()).collect();
    for k in ["open", "connect", "exec"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
}

fn load_error(text: &str) -> String {
    match Engine::from_str("s.yaml", text) {
        Ok(_) => panic!("loaded: {text}"),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

const HEAD: &str = "- sequence: s\n  desc: d\n  by: process_tree\n  within: 10s\n  output: o\n  priority: WARNING\n  steps:\n";

#[test]
fn malformed_sequences_are_errors_naming_file_line_and_column() {
    let cases = [
        (
            "    - condition: evt.type = execve\n    - condition: evt.type = execve and proc.name = ${nope}\n",
            "s.yaml:9:",
            "'${nope}' is not captured by an earlier step",
        ),
        (
            "    - condition: evt.type = execve\n      capture: {p: proc.nam}\n    - condition: evt.type = execve\n",
            "s.yaml:9:",
            "unknown field 'proc.nam'",
        ),
        (
            "    - condition: evt.type = execve\n      capture: {p: proc.name}\n    - condition: evt.type = execve and (proc.name = ${p} or proc.name = x)\n",
            "s.yaml:10:",
            "can only be compared directly in a top-level 'and'",
        ),
        (
            "    - condition: evt.type = execve\n      capture: {p: proc.name}\n    - condition: evt.type = execve and proc.name glob ${p}\n",
            "s.yaml:10:",
            "'glob' cannot compare with a captured value",
        ),
        (
            "    - condition: evt.type = execve and\n    - condition: evt.type = execve\n",
            "s.yaml:8:",
            "",
        ),
        ("    - condition: evt.type = execve\n", "s.yaml:8:5", "a sequence has 2 to 8 steps, not 1"),
        (
            "    - condition: evt.type = execve\n      captur: {p: proc.name}\n    - condition: evt.type = execve\n",
            "s.yaml:9:",
            "unknown step key 'captur'",
        ),
    ];
    for (steps, at, msg) in cases {
        let all = load_error(&format!("{HEAD}{steps}"));
        assert!(
            all.contains(at) && all.contains(msg),
            "want {at} {msg} in:\n{all}"
        );
    }
    let bad_within = HEAD.replace("within: 10s", "within: 10 parsecs");
    let all = load_error(&format!(
        "{bad_within}    - condition: evt.type = execve\n    - condition: evt.type = execve\n"
    ));
    assert!(
        all.contains("s.yaml:4:11") && all.contains("'within' must be a duration"),
        "{all}"
    );
    let bad_by = HEAD.replace("by: process_tree", "by: planet");
    let all = load_error(&format!(
        "{bad_by}    - condition: evt.type = execve\n    - condition: evt.type = execve\n"
    ));
    assert!(
        all.contains("s.yaml:3:7") && all.contains("'by' must be process_tree, container or user"),
        "{all}"
    );
    let bad_out = HEAD.replace("output: o", "output: \"x ${q}\"");
    let all = load_error(&format!(
        "{bad_out}    - condition: evt.type = execve\n    - condition: evt.type = execve\n"
    ));
    assert!(
        all.contains("s.yaml:5:") && all.contains("'${q}', which no step captures"),
        "{all}"
    );
}

/// Many first steps that never continue: the oldest are evicted at the
/// cap, and the counters say so.
#[test]
fn partial_matches_are_bounded_and_counted() {
    let text = format!(
        "{}    - condition: evt.type = connect\n    - condition: evt.type = execve and proc.name = sh\n  tests: []\n",
        HEAD.replace("within: 10s", "within: 10s\n  max_partials: 16")
    );
    let e = Engine::from_str("cap.yaml", &text).unwrap();
    let seqs = e.sequences();
    let mut t = Tracker::new(seqs);
    let mut memo = e.memo();
    let yaml = |pid: u32, ts_s: u64, ty: &str, name: &str| {
        format!("{{type: {ty}, proc: {{name: {name}, pid: {pid}}}, net: {{sip: 10.0.0.1, sport: 80}}, ts: {ts_s}}}")
    };
    let mut fired = 0;
    for pid in 0..100u32 {
        fired += peregrine_rules::sequence::ruletest::observe_yaml(
            &mut t,
            &e,
            &yaml(pid + 2, 1, "connect", "c"),
            &mut memo,
        )
        .unwrap();
    }
    let s = t.stats()[0];
    assert_eq!(s.active, 16);
    assert_eq!(s.evictions, 84);
    // An evicted one no longer continues; a held one does.
    let child = |parent: u32| {
        format!("{{type: execve, proc: {{name: sh, pid: 9000}}, ancestors: [{{name: c, pid: {parent}}}], ts: 2}}")
    };
    fired += peregrine_rules::sequence::ruletest::observe_yaml(&mut t, &e, &child(2), &mut memo)
        .unwrap();
    assert_eq!(fired, 0);
    fired += peregrine_rules::sequence::ruletest::observe_yaml(&mut t, &e, &child(101), &mut memo)
        .unwrap();
    assert_eq!(fired, 1);
    let s = t.stats()[0];
    assert_eq!((s.active, s.completions), (15, 1));
}

/// A first step repeated with the same key and captured values is one
/// partial match (its window restarts), not one per event; different
/// values are separate ones.
#[test]
fn repeated_first_steps_are_one_partial_match() {
    let text = format!(
        "{}    - condition: evt.type = connect\n      capture: {{peer: fd.sip}}\n    - condition: evt.type = execve and proc.name = sh\n",
        HEAD
    );
    let e = Engine::from_str("dedup.yaml", &text).unwrap();
    let mut t = Tracker::new(e.sequences());
    let mut memo = e.memo();
    let connect = |ip: &str, ts: u64| {
        format!(
            "{{type: connect, proc: {{name: c, pid: 7}}, net: {{sip: {ip}, sport: 80}}, ts: {ts}}}"
        )
    };
    for i in 0..50 {
        peregrine_rules::sequence::ruletest::observe_yaml(
            &mut t,
            &e,
            &connect("10.0.0.1", i / 10),
            &mut memo,
        )
        .unwrap();
    }
    assert_eq!(t.stats()[0].active, 1);
    peregrine_rules::sequence::ruletest::observe_yaml(
        &mut t,
        &e,
        &connect("10.0.0.2", 5),
        &mut memo,
    )
    .unwrap();
    assert_eq!(t.stats()[0].active, 2);
    // 9 s after the last repeat (14 s after the first): still within 10 s
    // of the refreshed start.
    let shell = "{type: execve, proc: {name: sh, pid: 8}, ancestors: [{name: c, pid: 7}], ts: 13}";
    let n =
        peregrine_rules::sequence::ruletest::observe_yaml(&mut t, &e, shell, &mut memo).unwrap();
    assert_eq!(n, 1, "one alert for the two partial matches it completes");
    let s = t.stats()[0];
    assert_eq!((s.active, s.completions), (0, 2));
}

#[test]
fn a_step_without_event_types_is_a_warning() {
    let text =
        format!("{HEAD}    - condition: proc.name = x\n    - condition: evt.type = execve\n");
    let e = Engine::from_str("w.yaml", &text).unwrap();
    let w: Vec<String> = e.warnings().iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter()
            .any(|d| d.starts_with("w.yaml:8:7: warning: step does not restrict evt.type")),
        "{w:?}"
    );
    // Every kind is then captured.
    assert_eq!(
        e.required_kinds().len(),
        peregrine_event::EventKind::ALL.len()
    );
}

/// A later file disables a sequence as it disables a rule; one not yet
/// defined is an error.
#[test]
fn a_later_file_disables_a_sequence() {
    let mut l = peregrine_rules::loader::Loader::new();
    l.load_file(&data());
    l.load_str(
        "local.yaml",
        "- sequence: Download then run\n  enabled: false\n",
    );
    let e = Engine::from_loader(l).unwrap();
    let names: Vec<&str> = e
        .sequences()
        .list()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Shell under a connected process",
            "Same user reads then writes"
        ]
    );
    let all = load_error("- sequence: Nothing\n  enabled: false\n");
    assert!(
        all.contains("s.yaml:1:13") && all.contains("before it is defined"),
        "{all}"
    );
}
