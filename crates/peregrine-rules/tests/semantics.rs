//! Operators, transformers, macros, lists, exceptions and overrides.
mod common;

use common::*;
use peregrine_rules::{Engine, Priority};

const O_RDONLY: u64 = 0;
const O_WRONLY_CREAT: u64 = 0o101;

fn fires(rules: &str, c: &Ctx) -> Vec<String> {
    let e = Engine::from_str("test.yaml", rules).unwrap_or_else(|e| panic!("{e}"));
    e.evaluate(c).into_iter().map(|m| m.rule).collect()
}

fn cond(condition: &str, c: &Ctx) -> bool {
    let rules = format!(
        "- rule: r\n  desc: d\n  condition: {}\n  output: o\n  priority: WARNING\n",
        serde_json::to_string(condition).unwrap()
    );
    !fires(&rules, c).is_empty()
}

fn cat_shadow() -> Ctx {
    ctx(
        open("cat", "/etc/shadow", O_RDONLY),
        &[
            ("cat", "/usr/bin/cat", &["cat", "/etc/shadow"]),
            ("bash", "/bin/bash", &["bash"]),
            ("sshd", "/usr/sbin/sshd", &["sshd", "-D"]),
        ],
    )
}

#[test]
fn comparison_operators() {
    let c = cat_shadow();
    for (expr, want) in [
        ("fd.name = /etc/shadow", true),
        ("fd.name == /etc/shadow", true),
        ("fd.name != /etc/shadow", false),
        ("fd.name contains shad", true),
        ("fd.name icontains SHAD", true),
        ("fd.name startswith /etc/", true),
        ("fd.name endswith dow", true),
        ("fd.name glob '/etc/sh*'", true),
        ("fd.name iglob '/ETC/SH*'", true),
        ("fd.name glob '/etc/x*'", false),
        ("fd.name regex '^/etc/[a-z]+$'", true),
        ("fd.name in (/etc/passwd, /etc/shadow)", true),
        ("fd.name in (/etc/passwd)", false),
        ("fd.name pmatch (/etc)", true),
        ("fd.name pmatch (/et)", false),
        ("fd.directory = /etc", true),
        ("fd.filename = shadow", true),
        ("fd.name bcontains 736861646f77", true),
        ("fd.name bstartswith 2f657463", true),
        ("fd.name bstartswith 2f746d70", false),
        ("evt.rawres >= 0", true),
        ("evt.rawres < 3", false),
        ("evt.rawres <= 3", true),
        ("evt.rawres > 2", true),
        ("evt.res = SUCCESS", true),
        ("proc.pid = 100", true),
        ("evt.is_open_read = true", true),
        ("evt.is_open_write = true", false),
        ("evt.arg.flags contains O_RDONLY", true),
        ("proc.name exists", true),
        ("proc.env exists", false),
        ("container.id = host", true),
        ("container.image.repository exists", false),
        ("user.name = root", true),
        ("evt.type in (open, openat)", true),
        ("evt.dir = <", true),
        ("fd.typechar = f", true),
    ] {
        assert_eq!(cond(expr, &c), want, "{expr}");
    }
}

#[test]
fn absent_fields_make_every_check_false() {
    let c = cat_shadow();
    assert!(!cond("proc.env = x", &c));
    assert!(!cond("proc.env != x", &c));
    assert!(cond("not proc.env = x", &c));
}

#[test]
fn ancestry_fields() {
    let c = cat_shadow();
    assert!(cond("proc.pname = bash", &c));
    assert!(cond("proc.aname[2] = sshd", &c));
    assert!(cond("proc.aname = sshd", &c), "any ancestor");
    assert!(cond("proc.aname in (sshd, init)", &c));
    assert!(!cond("proc.aname = systemd", &c));
    assert!(cond("proc.pcmdline = bash", &c));
    assert!(cond("proc.aexepath[2] = /usr/sbin/sshd", &c));
    assert!(cond("proc.cmdline = 'cat /etc/shadow'", &c));
    assert!(cond("proc.args = /etc/shadow", &c));
    assert!(cond("proc.exe = cat", &c));
    assert!(!cond("proc.aname[7] exists", &c));
}

#[test]
fn transformers_and_val() {
    let c = cat_shadow();
    assert!(cond("toupper(proc.name) = CAT", &c));
    assert!(cond("tolower(toupper(proc.name)) = cat", &c));
    assert!(cond("basename(fd.name) = shadow", &c));
    assert!(cond("len(fd.name) = 11", &c));
    assert!(cond("proc.name = val(proc.name)", &c));
    assert!(!cond("proc.name = val(proc.pname)", &c));
}

#[test]
fn networks_and_ports() {
    let c = ctx(
        connect("curl", "192.168.1.20", 443),
        &[("curl", "/usr/bin/curl", &["curl", "x"])],
    );
    assert!(cond("fd.sip = 192.168.1.20", &c));
    assert!(cond("fd.snet = 192.168.0.0/16", &c));
    assert!(cond("fd.rnet in (10.0.0.0/8, 192.168.0.0/16)", &c));
    assert!(!cond("fd.sip = 10.0.0.1", &c));
    assert!(cond("fd.sport = 443 and fd.lport = 40000", &c));
    assert!(cond("fd.rport in (80, 443)", &c));
    assert!(cond("fd.l4proto = tcp and fd.type = ipv4", &c));
    assert!(cond("fd.name = '10.0.0.5:40000->192.168.1.20:443'", &c));
    assert!(cond("fd.net = 10.0.0.0/8", &c), "either end");
}

const LIB: &str = r#"
- list: shells
  items: [bash, sh]
- list: more_shells
  items: [shells, zsh]
- macro: spawned
  condition: evt.type = execve
- macro: shell_proc
  condition: proc.name in (more_shells)
- rule: Shell
  desc: shell
  condition: spawned and shell_proc
  output: shell %proc.name by %proc.pname (%user.name)
  priority: NOTICE
  tags: [shell]
"#;

#[test]
fn macros_and_nested_lists_expand() {
    let c = ctx(
        exec("zsh", "/bin/zsh", &["zsh"]),
        &[
            ("zsh", "/bin/zsh", &["zsh"]),
            ("sshd", "/usr/sbin/sshd", &["sshd"]),
        ],
    );
    let e = Engine::from_str("t.yaml", LIB).unwrap();
    let m = e.evaluate(&c);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].output, "shell zsh by sshd (root)");
    assert_eq!(m[0].output_fields["proc.pname"], "sshd");
    assert_eq!(m[0].priority, Priority::Notice);
    let c2 = ctx(
        exec("cat", "/bin/cat", &["cat"]),
        &[("cat", "/bin/cat", &["cat"])],
    );
    assert!(e.evaluate(&c2).is_empty());
}

#[test]
fn list_and_macro_append_and_override() {
    let c = ctx(
        exec("fish", "/bin/fish", &["fish"]),
        &[
            ("fish", "/bin/fish", &["fish"]),
            ("sshd", "/usr/sbin/sshd", &[]),
        ],
    );
    assert!(fires(LIB, &c).is_empty());
    let appended = format!("{LIB}\n- list: shells\n  items: [fish]\n  append: true\n");
    assert_eq!(fires(&appended, &c), vec!["Shell"]);
    let overridden =
        format!("{LIB}\n- list: shells\n  items: [fish]\n  override:\n    items: append\n");
    assert_eq!(fires(&overridden, &c), vec!["Shell"]);
    // Replacing the macro.
    let replaced = format!("{LIB}\n- macro: shell_proc\n  condition: proc.name = fish\n");
    assert_eq!(fires(&replaced, &c), vec!["Shell"]);
    // Appending to a rule's condition narrows it.
    let narrowed = format!("{LIB}\n- list: shells\n  items: [fish]\n  append: true\n- rule: Shell\n  condition: and proc.pname = init\n  append: true\n");
    assert!(fires(&narrowed, &c).is_empty());
    let ovr = format!("{LIB}\n- list: shells\n  items: [fish]\n  append: true\n- rule: Shell\n  condition: spawned and proc.name = fish and proc.pname = sshd\n  priority: CRITICAL\n  override:\n    condition: replace\n    priority: replace\n");
    let e = Engine::from_str("t.yaml", &ovr).unwrap();
    let m = e.evaluate(&c);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].priority, Priority::Critical);
    // Disabling.
    let off = format!(
        "{LIB}\n- list: shells\n  items: [fish]\n  append: true\n- rule: Shell\n  enabled: false\n"
    );
    assert!(fires(&off, &c).is_empty());
}

#[test]
fn exceptions_tuple_and_single_field() {
    let rules = r#"
- rule: Read shadow
  desc: d
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "%proc.name read %fd.name"
  priority: WARNING
  exceptions:
    - name: trusted
      fields: [proc.name, proc.pname]
      values:
        - [cat, bash]
    - name: by_name
      fields: proc.name
      comps: in
      values: [unix_chkpwd]
"#;
    assert!(
        fires(rules, &cat_shadow()).is_empty(),
        "cat under bash is excepted"
    );
    let other_parent = ctx(
        open("cat", "/etc/shadow", O_RDONLY),
        &[
            ("cat", "/bin/cat", &["cat"]),
            ("python3", "/usr/bin/python3", &[]),
        ],
    );
    assert_eq!(fires(rules, &other_parent), vec!["Read shadow"]);
    let chk = ctx(
        open("unix_chkpwd", "/etc/shadow", O_RDONLY),
        &[
            ("unix_chkpwd", "/sbin/unix_chkpwd", &[]),
            ("sshd", "/usr/sbin/sshd", &[]),
        ],
    );
    assert!(fires(rules, &chk).is_empty());
    // Exceptions appended later.
    let more = format!("{rules}\n- rule: Read shadow\n  exceptions:\n    - name: trusted\n      values:\n        - [cat, python3]\n  append: true\n");
    assert!(fires(&more, &other_parent).is_empty());
}

#[test]
fn rules_are_indexed_by_event_type() {
    let e = Engine::from_str("t.yaml", LIB).unwrap();
    let kinds = e.required_kinds();
    assert!(kinds.contains(&peregrine_event::EventKind::Exec));
    assert!(!kinds.contains(&peregrine_event::EventKind::Open));
    let c = ctx(
        open("bash", "/x", O_WRONLY_CREAT),
        &[("bash", "/bin/bash", &[])],
    );
    assert!(
        e.evaluate(&c).is_empty(),
        "open events never reach the execve rule"
    );
}

#[test]
fn falco_stable_rule_fires_on_a_sensitive_read() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/falco-upstream");
    let e = Engine::from_files(&[dir.join("falco_rules.yaml")]).unwrap();
    let m = e.evaluate(&cat_shadow());
    let hit = m
        .iter()
        .find(|m| m.rule == "Read sensitive file untrusted")
        .expect("rule fired");
    assert!(
        hit.output.starts_with(
            "Sensitive file opened for reading by non-trusted program | file=/etc/shadow"
        ),
        "{}",
        hit.output
    );
    assert_eq!(hit.output_fields["proc.aname[2]"], "sshd");
    assert_eq!(hit.priority, Priority::Warning);
    // A trusted program does not fire it.
    let c = ctx(
        open("sshd", "/etc/shadow", O_RDONLY),
        &[
            ("sshd", "/usr/sbin/sshd", &["sshd"]),
            ("systemd", "/lib/systemd/systemd", &[]),
        ],
    );
    assert!(!e
        .evaluate(&c)
        .iter()
        .any(|m| m.rule == "Read sensitive file untrusted"));
}

/// The evaluator's borrowed-text fast path gives exactly what the general
/// extraction gives, for every field it serves, on every kind of context
/// (full ancestry, no parent, the event alone, file/exec/network events).
#[test]
fn text_fast_path_agrees_with_extraction() {
    use peregrine_rules::context::{EventOnly, Value};
    use peregrine_rules::fields::{bind, extract, extract_text, Text};
    let names = [
        "evt.type",
        "proc.name",
        "proc.exe",
        "proc.exepath",
        "proc.cwd",
        "proc.cmdline",
        "proc.pname",
        "proc.pexe",
        "proc.pexepath",
        "proc.pcmdline",
        "fd.name",
        "fd.nameraw",
        "fd.directory",
        "fd.filename",
        "proc.pid",
        "proc.aname[2]",
    ];
    let full = cat_shadow();
    let mut with_cmdline = cat_shadow();
    for p in &mut with_cmdline.procs {
        p.cmdline = p.args.join(" ");
    }
    let alone = ctx(
        open("cat", "/etc/shadow", O_RDONLY),
        &[("cat", "/usr/bin/cat", &["cat"])],
    );
    let exec_ctx = ctx(
        exec("curl", "/usr/bin/curl", &["curl", "-s", "x"]),
        &[
            ("curl", "/usr/bin/curl", &["curl", "-s", "x"]),
            ("sh", "/bin/sh", &["sh"]),
        ],
    );
    let net = ctx(
        connect("nc", "10.0.0.1", 4444),
        &[("nc", "/bin/nc", &["nc"])],
    );
    // As decoded: the socket name rendered once by the decoder.
    let mut named = ctx(
        connect("nc", "10.0.0.1", 4444),
        &[("nc", "/bin/nc", &["nc"])],
    );
    if let peregrine_event::EventData::Net(x) = &mut named.event.data {
        x.name = x.render_name(named.event.kind);
    }
    let contexts: Vec<&dyn peregrine_rules::context::Context> =
        vec![&full, &with_cmdline, &alone, &exec_ctx, &net, &named];
    let event_only = EventOnly(&full.event);
    let mut served = 0;
    for c in contexts
        .into_iter()
        .chain([&event_only as &dyn peregrine_rules::context::Context])
    {
        for name in names {
            let (n, arg) = match name.split_once('[') {
                Some((n, a)) => (n, Some(a.trim_end_matches(']'))),
                None => (name, None),
            };
            let b = bind(n, arg).unwrap();
            match extract_text(&b, c) {
                Text::Str(s) => {
                    served += 1;
                    assert_eq!(extract(&b, c), Some(Value::Str(s.into())), "{name}")
                }
                Text::Absent => assert_eq!(extract(&b, c), None, "{name}"),
                Text::Other => {}
            }
        }
    }
    assert!(served > 40, "fast path served only {served} lookups");
}
