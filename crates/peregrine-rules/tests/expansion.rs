//! Hostile rules files (issue 16, class 1): macros and lists shared instead
//! of re-expanded, nesting and expansion bounded with errors naming the
//! place and the limit, never a stack overflow or gigabytes.
mod common;

use peregrine_rules::limits::{
    MAX_ALIAS_NODES, MAX_DIAGNOSTICS, MAX_EXPANDED_DEPTH, MAX_LIST_DEPTH, MAX_LIST_VALUES,
};
use peregrine_rules::Engine;

fn rule(condition: &str) -> String {
    format!("- rule: r\n  desc: d\n  condition: {condition}\n  output: o\n  priority: INFO\n")
}

/// The errors of a file that must not load, rendered.
fn errors(text: &str) -> Vec<String> {
    match Engine::from_str("hostile.yaml", text) {
        Ok(_) => panic!("loaded"),
        Err(e) => e
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect(),
    }
}

fn matches(e: &Engine, comm: &str) -> bool {
    let c = common::ctx(common::exec(comm, "/bin/x", &[comm]), &[]);
    !e.evaluate(&c).is_empty()
}

/// m_i = (m_{i-1} and m_{i-1}) or ... : 2^60 checks once expanded. The
/// program holds each macro once and the answer is right.
#[test]
fn macro_diamonds_are_compiled_once() {
    let mut text = String::from("- macro: m0\n  condition: proc.name = bomb\n");
    for i in 1..=60 {
        let p = i - 1;
        text.push_str(&format!(
            "- macro: m{i}\n  condition: (m{p} and m{p}) or (m{p} and not proc.name = other{i})\n"
        ));
    }
    text.push_str(&rule("evt.type = execve and m60"));
    let e = Engine::from_str("diamond.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    let (code, checks) = e.program_size();
    assert!(
        code < 2_000 && checks < 200,
        "program {code} instructions, {checks} checks"
    );
    assert!(matches(&e, "bomb"));
    assert!(!matches(&e, "other"));
}

/// The same diamond 300 levels deep crosses the expansion depth limit: one
/// error, found without expanding (what failed is not retried per use).
#[test]
fn a_macro_diamond_past_the_depth_limit_is_one_error() {
    let mut text = String::from("- macro: m0\n  condition: proc.name = bomb\n");
    for i in 1..=300 {
        let p = i - 1;
        text.push_str(&format!(
            "- macro: m{i}\n  condition: (m{p} and m{p}) or (m{p} and not proc.name = other{i})\n"
        ));
    }
    text.push_str(&rule("evt.type = execve and m300"));
    text.push_str(&rule("evt.type = execve and m1").replace("rule: r", "rule: shallow"));
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("levels once macros are expanded (through m300 -> m299"),
        "{}",
        errs[0]
    );
    assert!(errs[0].contains("(in macro '"), "{}", errs[0]);
}

/// l_i = [l_{i-1}, l_{i-1}, x_i]: 2^30 values if re-expanded per reference.
#[test]
fn list_diamonds_are_expanded_once() {
    let mut text = String::from("- list: l0\n  items: [a, b]\n");
    for i in 1..=30 {
        let p = i - 1;
        text.push_str(&format!("- list: l{i}\n  items: [l{p}, l{p}, x{i}]\n"));
    }
    text.push_str(&rule("evt.type = execve and proc.name in (l30)"));
    let e = Engine::from_str("lists.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches(&e, "a") && matches(&e, "x17") && matches(&e, "x30"));
    assert!(!matches(&e, "x31") && !matches(&e, "l3"));
}

/// A list naming itself keeps its name as a value, as before.
#[test]
fn list_cycles_stay_values() {
    let text = "- list: a\n  items: [b, x]\n- list: b\n  items: [a, y]\n".to_string()
        + &rule("evt.type = execve and proc.name in (a)");
    let e = Engine::from_str("cycle.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
    for v in ["a", "x", "y"] {
        assert!(matches(&e, v), "{v}");
    }
}

#[test]
fn list_chains_past_the_limit_are_an_error_naming_the_list() {
    let n = MAX_LIST_DEPTH + 5;
    let mut text = String::from("- list: l0\n  items: [a]\n");
    for i in 1..=n {
        text.push_str(&format!("- list: l{i}\n  items: [l{}]\n", i - 1));
    }
    text.push_str(&rule(&format!("evt.type = execve and proc.name in (l{n})")));
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert!(
        e.contains(&format!("lists nested deeper than {MAX_LIST_DEPTH} levels")),
        "{e}"
    );
    assert!(e.contains("l37 -> l36"), "{e}");
    // The list that crosses the limit, where it is defined.
    assert!(e.starts_with("hostile.yaml:11:9: error"), "{e}");
    assert!(e.contains("(in list 'l5')"), "{e}");
}

/// 5,000 lists of 1,000 values each, all named by one list: the values
/// budget is spent before the memory is.
#[test]
fn list_expansion_past_the_budget_is_an_error() {
    let big: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
    let mut text = format!("- list: big\n  items: [{}]\n", big.join(", "));
    // Past the budget whatever the file's own size adds (~30 bytes a list).
    let n = MAX_LIST_VALUES / 950 + 100;
    let names: Vec<String> = (0..n).map(|i| format!("l{i}")).collect();
    for name in &names {
        text.push_str(&format!("- list: {name}\n  items: [big, z{name}]\n"));
    }
    text.push_str(&format!("- list: all\n  items: [{}]\n", names.join(", ")));
    text.push_str(&rule("evt.type = execve and proc.name in (all)"));
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("list expansion exceeds"), "{}", errs[0]);
    let budget = format!("({MAX_LIST_VALUES} plus one per byte of rules");
    assert!(errs[0].contains(&budget), "{}", errs[0]);
}

/// A chain of 100,000 macros each naming the next: an error at the
/// reference that crosses the depth limit, no stack overflow.
#[test]
fn a_macro_chain_100k_long_is_an_error_not_a_crash() {
    let n = 100_000;
    let mut text = String::from("- macro: m0\n  condition: proc.name = x\n");
    for i in 1..=n {
        text.push_str(&format!("- macro: m{i}\n  condition: m{}\n", i - 1));
    }
    text.push_str(&rule(&format!("evt.type = execve and m{n}")));
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert!(
        e.contains(&format!(
            "nested deeper than {MAX_EXPANDED_DEPTH} levels once macros are expanded"
        )),
        "{e}"
    );
    assert!(e.contains(&format!("m{n} -> m{}", n - 1)), "{e}");
    assert!(e.starts_with("hostile.yaml:"), "{e}");
    // A chain within the limit loads and matches.
    let mut ok = String::from("- macro: m0\n  condition: proc.name = x\n");
    for i in 1..=50 {
        ok.push_str(&format!("- macro: m{i}\n  condition: m{}\n", i - 1));
    }
    ok.push_str(&rule("evt.type = execve and m50"));
    let e = Engine::from_str("chain.yaml", &ok).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches(&e, "x"));
}

/// Deep nesting of every kind, each a clear error.
#[test]
fn deep_nesting_anywhere_is_an_error() {
    for (text, want) in [
        (
            rule(&("not ".repeat(100_000) + "proc.name = x")),
            "nested deeper than 200",
        ),
        (
            rule(&("(".repeat(100_000) + "proc.name = x" + &")".repeat(100_000))),
            "nested deeper than 200",
        ),
        (
            rule(&("tolower(".repeat(1000) + "proc.name" + &")".repeat(1000) + " = x")),
            "nested deeper than 200",
        ),
        ("- ".repeat(100_000) + "x\n", "YAML nested deeper than 256"),
        ("[".repeat(100_000) + &"]".repeat(100_000), "invalid YAML"),
        (
            "{a: ".repeat(100_000) + &"}".repeat(100_000),
            "invalid YAML",
        ),
    ] {
        let errs = errors(&text);
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
}

/// Ten anchors of ten aliases each (10^10 nodes): refused at the alias that
/// crosses the limit, with its place.
#[test]
fn a_yaml_alias_bomb_is_refused() {
    let mut text = String::from("- list: a0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("- list: a{i}\n  items: &a{i} [{refs}]\n"));
    }
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains(&format!("copy more than {MAX_ALIAS_NODES} nodes")),
        "{}",
        errs[0]
    );
    assert!(errs[0].starts_with("hostile.yaml:"), "{}", errs[0]);
    // Ordinary use of anchors (shared exception values) still loads.
    let ok = "- list: base\n  items: &b [sh, bash]\n- list: more\n  items: *b\n".to_string()
        + &rule("evt.type = execve and proc.name in (more)");
    let e = Engine::from_str("anchors.yaml", &ok).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches(&e, "bash"));
}

/// 10,000 broken rules: the first errors are reported with their places,
/// the rest counted in one line.
#[test]
fn many_errors_are_capped_and_counted() {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  condition: proc.name = x and undefined{i}\n  output: o\n  priority: INFO\n"
        ));
    }
    let errs = errors(&text);
    assert_eq!(errs.len(), MAX_DIAGNOSTICS + 1);
    assert!(
        errs[0].contains("undefined macro 'undefined0'"),
        "{}",
        errs[0]
    );
    let last = errs.last().unwrap();
    assert!(
        last.contains(&format!("{} more error(s)", 10_000 - MAX_DIAGNOSTICS)),
        "{last}"
    );
}
