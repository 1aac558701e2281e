//! Malformed rule files: every problem reported with its location, nothing loaded.
use peregrine_rules::Engine;

fn errors(text: &str) -> Vec<String> {
    match Engine::from_str("bad.yaml", text) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect(),
    }
}

#[test]
fn every_error_is_reported_with_file_line_and_column() {
    let text = "\
- macro: m
  condition: proc.name = bash and (fd.name = x
- rule: a
  desc: d
  condition: proc.nme = bash
  output: o
  priority: WARNING
- rule: b
  desc: d
  condition: evt.type = open and undefined_macro
  output: o %proc.nope
  priority: LOUD
- rule: c
  desc: d
  condition: m
  output: o
  priority: INFO
- list: l
  items: {a: 1}
- rule: d
  desc: d
  condition: fd.name startswith
  output: o
  priority: ERROR
";
    let errs = errors(text);
    let joined = errs.join("\n");
    assert!(
        joined.contains("bad.yaml:5:14: error: unknown field 'proc.nme' (in rule 'a')"),
        "{joined}"
    );
    assert!(
        joined.contains("bad.yaml:12:13: error: invalid priority 'LOUD'"),
        "{joined}"
    );
    assert!(
        joined.contains("bad.yaml:2:35: error: unbalanced '(': missing ')' (in macro 'm')"),
        "{joined}"
    );
    assert!(
        joined.contains("bad.yaml:19:10: error: 'items' must be a list of strings"),
        "{joined}"
    );
    assert!(
        joined.contains("bad.yaml:22:14: error: expected a value after 'startswith'"),
        "{joined}"
    );
    // The caret line points into the source.
    let a = errs.iter().find(|e| e.contains("proc.nme")).unwrap();
    assert!(
        a.contains("\n    condition: proc.nme = bash\n               ^"),
        "{a}"
    );
}

#[test]
fn undefined_macro_and_output_field_are_named() {
    let errs = errors("- rule: b\n  desc: d\n  condition: evt.type = open and undefined_macro\n  output: o %proc.nope\n  priority: INFO\n");
    let joined = errs.join("\n");
    assert!(
        joined.contains("bad.yaml:3:34: error: undefined macro 'undefined_macro'"),
        "{joined}"
    );
    assert!(joined.contains("unknown field 'proc.nope'"), "{joined}");
}

#[test]
fn structural_problems() {
    assert!(errors("rule: x\n")[0].contains("a rules file is a sequence of items"));
    assert!(errors("- 42\n")[0].contains("each item must be a mapping"));
    assert!(errors("- rule: x\n  desc: d\n")[0]
        .contains("rule is missing: condition, output, priority"));
    assert!(errors("- frobnicate: x\n")[0].contains("unknown item 'frobnicate'"));
    assert!(errors("- list: x\n  items: [a]\n  append: true\n")[0]
        .contains("appended to before it is defined"));
    assert!(errors("- required_engine_version: 99.0.0\n")[0]
        .contains("rules require engine version 99.0.0"));
    assert!(errors("- macro: a\n  condition: b\n- macro: b\n  condition: a\n- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n")
        .join("\n")
        .contains("refers to itself"));
    assert!(errors(
        "- rule: r\n  desc: d\n  condition: fd.name regex '('\n  output: o\n  priority: INFO\n"
    )[0]
    .contains("invalid regex"));
    assert!(errors(
        "- rule: r\n  desc: d\n  condition: fd.sip = bash\n  output: o\n  priority: INFO\n"
    )[0]
    .contains("not an IP address"));
    assert!(errors(
        "- rule: r\n  desc: d\n  condition: proc.pid > x\n  output: o\n  priority: INFO\n"
    )[0]
    .contains("compares numbers"));
    assert!(errors("\t- rule: [\n")[0].contains("invalid YAML"));
}

#[test]
fn hostile_inputs_do_not_panic() {
    let long = "a".repeat(100_000);
    let deep = format!(
        "- rule: r\n  desc: d\n  condition: {}x{}\n  output: o\n  priority: INFO\n",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    for text in [
        String::new(),
        "---\n...\n".into(),
        "- rule: \"\\u0000\"\n".into(),
        format!("- list: {long}\n  items: [{long}]\n"),
        deep,
        "- rule: r\n  desc: d\n  condition: proc.name in (\n  output: o\n  priority: INFO\n".into(),
        "- &a [*a]\n".into(),
        "- rule: r\n  desc: d\n  condition: '%'\n  output: '%'\n  priority: INFO\n".into(),
        "- rule: r\n  desc: d\n  condition: proc.aname[x] = 1\n  output: o %proc.aname[\n  priority: INFO\n".into(),
    ] {
        let _ = Engine::from_str("h.yaml", &text);
    }
}

/// Random mutations of real conditions: the parser never panics (a stable
/// stand-in for the cargo-fuzz target in fuzz/, which needs a nightly
/// toolchain this machine does not have).
#[test]
fn condition_parser_survives_mutations() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/falco-upstream");
    let text = std::fs::read_to_string(dir.join("falco_rules.yaml")).unwrap();
    let seeds: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" and ") || l.contains(" in ("))
        .collect();
    let alphabet: Vec<char> = "()'\"[],=<>!and or not in exists %.\\ a1_-"
        .chars()
        .collect();
    let mut x: u64 = 0x2545F4914F6CDD1D;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..40_000 {
        let seed = seeds[(next() as usize) % seeds.len()];
        let mut chars: Vec<char> = seed.chars().collect();
        for _ in 0..(1 + next() % 6) {
            let pos = (next() as usize) % (chars.len() + 1);
            match next() % 3 {
                0 if pos < chars.len() => {
                    chars.remove(pos);
                }
                1 => chars.insert(pos, alphabet[(next() as usize) % alphabet.len()]),
                _ if pos < chars.len() => chars[pos] = alphabet[(next() as usize) % alphabet.len()],
                _ => {}
            }
        }
        let s: String = chars.into_iter().collect();
        let _ = peregrine_rules::parser::parse(&s);
        if i % 10 == 0 {
            let _ = peregrine_rules::output::Template::compile(&s);
        }
    }
}

#[test]
fn threshold_mistakes_are_errors_with_their_place() {
    let rule = |t: &str| {
        format!("- rule: r\n  desc: d\n  condition: evt.type = execve\n  output: o\n  priority: NOTICE\n  threshold: {t}\n")
    };
    let e = errors(&rule("{count: 1, window: 60}"));
    assert!(
        e.iter().any(|m| m.contains("bad.yaml:6:")
            && m.contains("threshold count must be a whole number from 2")),
        "{e:?}"
    );
    let e = errors(&rule("{count: 3, window: 60, distinct: proc.nmae}"));
    assert!(
        e.iter()
            .any(|m| m.contains("bad.yaml:6:")
                && m.contains("in threshold: unknown field 'proc.nmae'")),
        "{e:?}"
    );
    let e = errors(&rule("{count: 3, window: 60, per: proc.pid}"));
    assert!(
        e.iter().any(|m| m.contains("unknown threshold key 'per'")),
        "{e:?}"
    );
    let e = errors(&rule("{count: 3}"));
    assert!(
        e.iter()
            .any(|m| m.contains("threshold needs 'count' and 'window'")),
        "{e:?}"
    );
    let e = errors(&rule("five"));
    assert!(
        e.iter()
            .any(|m| m.contains("'threshold' must be a mapping")),
        "{e:?}"
    );
    // A good one loads and carries its compiled fields.
    let ok = Engine::from_str(
        "ok.yaml",
        &rule(
            "{count: 3, window: 60, group_by: [proc.ppid, \"proc.aname[2]\"], distinct: proc.name}",
        ),
    )
    .unwrap();
    let t = ok.rules()[0].threshold.as_ref().expect("threshold");
    assert_eq!((t.count, t.window_ns), (3, 60_000_000_000));
    assert_eq!(t.group_by.len(), 2);
    assert!(t.distinct.is_some());
}

#[test]
fn bcontains_with_a_multibyte_character_is_an_error_not_a_panic() {
    for v in ["aéb", "é", "0g", "abc"] {
        let text = format!(
            "- rule: r\n  desc: d\n  condition: evt.type = openat and evt.buffer bcontains {v}\n  output: o\n  priority: WARNING\n"
        );
        let e = errors(&text);
        assert!(
            e.iter().any(|m| m.contains("takes hex bytes")),
            "{v}: {e:?}"
        );
    }
    peregrine_rules::Engine::from_str(
        "ok.yaml",
        "- rule: r\n  desc: d\n  condition: evt.type = openat and evt.buffer bcontains 2f6574\n  output: o\n  priority: WARNING\n",
    )
    .expect("hex loads");
}
