//! `actions:` / `action_mode:` on rules (Peregrine extension): loaded onto
//! the compiled rule, and bad values are load errors naming file:line:col.
use peregrine_rules::actions::{ActionKind, ActionMode, BlockTarget};
use peregrine_rules::Engine;

fn rule(extra: &str, condition: &str) -> String {
    format!(
        "- rule: R\n  desc: d\n  condition: {condition}\n  output: o %proc.name\n  priority: WARNING\n{extra}"
    )
}

fn errors(text: &str) -> Vec<String> {
    match Engine::from_str("policy.yaml", text) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.to_string())
            .collect(),
    }
}

const EXEC: &str = "evt.type in (execve, execveat) and proc.exepath = /tmp/evil";

#[test]
fn actions_and_their_mode_reach_the_compiled_rule() {
    let text = rule(
        "  actions: [block, kill, kill]\n  action_mode: monitor\n",
        EXEC,
    );
    let engine = Engine::from_str("policy.yaml", &text).expect("loads");
    let r = &engine.rules()[0];
    assert_eq!(r.actions.kinds, vec![ActionKind::Block, ActionKind::Kill]);
    assert_eq!(r.actions.mode, Some(ActionMode::Monitor));
    assert_eq!(r.block, Some(BlockTarget::Exec));

    let open = rule(
        "  actions: [block]\n",
        "evt.type = openat and fd.name = /tmp/secret",
    );
    let engine = Engine::from_str("policy.yaml", &open).expect("loads");
    assert_eq!(engine.rules()[0].block, Some(BlockTarget::Open));

    let plain = Engine::from_str("policy.yaml", &rule("", EXEC)).expect("loads");
    assert!(plain.rules()[0].actions.is_empty());
    assert_eq!(plain.rules()[0].block, None);
}

#[test]
fn an_append_adds_actions_to_an_existing_rule() {
    let text = format!(
        "{}- rule: R\n  actions: [kill_tree]\n  append: true\n",
        rule("", EXEC)
    );
    let engine = Engine::from_str("policy.yaml", &text).expect("loads");
    assert_eq!(engine.rules()[0].actions.kinds, vec![ActionKind::KillTree]);
}

#[test]
fn bad_actions_are_errors_with_their_place() {
    let e = errors(&rule("  actions: [block, explode]\n", EXEC));
    assert!(
        e.iter().any(|m| m.contains("policy.yaml:6:")
            && m.contains("unknown action 'explode'")
            && m.contains("block, kill, kill_tree, quarantine, pause_container, stop_container")),
        "{e:?}"
    );
    let e = errors(&rule("  actions: kill\n", EXEC));
    assert!(
        e.iter().any(|m| m.contains("'actions' must be a list")),
        "{e:?}"
    );
    let e = errors(&rule("  actions: [kill]\n  action_mode: sometimes\n", EXEC));
    assert!(
        e.iter()
            .any(|m| m.contains("policy.yaml:7:") && m.contains("invalid action_mode 'sometimes'")),
        "{e:?}"
    );
}

#[test]
fn block_on_a_rule_that_is_not_about_exec_or_open_is_an_error() {
    let e = errors(&rule(
        "  actions: [block]\n",
        "evt.type = connect and fd.sport = 22",
    ));
    assert!(
        e.iter().any(|m| m.contains("rule 'R'")
            && m.contains("action 'block' needs")
            && m.contains("connect")),
        "{e:?}"
    );
    let e = errors(&rule("  actions: [block]\n", "proc.name = bash"));
    assert!(
        e.iter().any(|m| m.contains("action 'block' needs")),
        "{e:?}"
    );
    // kill is fine on any rule.
    Engine::from_str(
        "policy.yaml",
        &rule(
            "  actions: [kill]\n",
            "evt.type = connect and fd.sport = 22",
        ),
    )
    .expect("kill on a connect rule loads");
}

#[test]
fn actions_on_an_audit_rule_are_a_warning_that_says_they_are_ignored() {
    let text = "- rule: A\n  desc: d\n  condition: ka.verb = create\n  output: o\n  priority: WARNING\n  source: k8s_audit\n  actions: [kill]\n";
    let engine = Engine::from_str("audit.yaml", text).expect("loads with a warning");
    let w: Vec<String> = engine.warnings().iter().map(|d| d.to_string()).collect();
    assert!(
        w.iter()
            .any(|m| m.contains("rule 'A'") && m.contains("actions are ignored")),
        "{w:?}"
    );
}
