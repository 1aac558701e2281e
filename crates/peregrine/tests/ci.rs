//! `peregrine ci`: a failing command fails the build; reports are written.
use std::process::Command;

fn rules() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/falco-upstream/falco_rules.yaml"
    )
    .to_string()
}

#[test]
fn reading_shadow_fails_the_build_and_a_clean_command_passes() {
    let dir = std::env::temp_dir().join(format!("pg-ci-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sarif = dir.join("out.sarif");
    let junit = dir.join("out.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["ci", "--rules", &rules(), "--sarif"])
        .arg(&sarif)
        .arg("--junit")
        .arg(&junit)
        .args(["--", "sh", "-c", "cat /etc/shadow > /dev/null"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("FAIL  [Warning] Read sensitive file untrusted"),
        "{err}"
    );

    // SARIF 2.1.0: valid against the official JSON schema.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    // The published schema has one pattern an ECMA-262 regex engine rejects
    // (an unbalanced ']' in run.language); use the intended pattern.
    let schema_text = include_str!("data/sarif-2.1.0-rtm.5.json").replace(
        "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$",
        "^[a-zA-Z]{2}(-[a-zA-Z]{2})?$",
    );
    let schema: serde_json::Value = serde_json::from_str(&schema_text).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let problems: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "SARIF schema violations: {problems:#?}"
    );
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("catastrophic");
    assert!(
        !validator.is_valid(&broken),
        "the schema check is not vacuous"
    );
    assert_eq!(doc["version"], "2.1.0");
    assert!(doc["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &doc["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "Peregrine");
    let rule_ids: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        assert!(
            rule_ids.contains(&r["ruleId"].as_str().unwrap()),
            "every result's rule is described"
        );
        assert!(["none", "note", "warning", "error"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        assert!(
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .starts_with("file:///")
        );
    }
    let shadow = results
        .iter()
        .find(|r| r["ruleId"] == "Read sensitive file untrusted")
        .unwrap();
    assert_eq!(shadow["level"], "warning");
    assert_eq!(
        shadow["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "file:///etc/shadow"
    );

    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"));
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("<testcase classname=\"peregrine.rules\" name=\"Read sensitive file untrusted\">\n      <failure"));
    assert_eq!(
        xml.matches("<testcase ").count(),
        xml.matches("</testcase>").count()
    );

    // A clean command passes, and its own failure is passed through.
    let ok = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["ci", "--rules", &rules(), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let failing = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["ci", "--rules", &rules(), "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(failing.status.code(), Some(3));
    std::fs::remove_dir_all(dir).ok();
}

/// Event-generator behaviours (their shell equivalents) run for real under
/// `peregrine ci` with the default ruleset: each raises its rule.
#[test]
fn the_default_ruleset_catches_real_behaviour() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/peregrine");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    files.sort();
    let script = r#"
        f=$(mktemp); chmod u+s $f; rm -f $f
        mkdir /tmp/.pg-hidden-$$; rmdir /tmp/.pg-hidden-$$
        d=$(mktemp -d); : > $d/syslog; rm -rf $d
        echo ZGVjb2Rl | base64 -d >/dev/null
        touch /tmp/pg_ash_history-$$; mv /tmp/pg_ash_history-$$ /tmp/ash_history; rm -f /tmp/ash_history
        find /tmp -maxdepth 1 -iname id_rsa >/dev/null
        cat /proc/self/environ >/dev/null
        ln -s /etc /tmp/pg-etc-link-$$; rm -f /tmp/pg-etc-link-$$
        cat /etc/../etc/../etc/shadow >/dev/null
        touch /dev/pg-eg-$$; rm -f /dev/pg-eg-$$
        mkdir /bin/pg-eg-$$; rmdir /bin/pg-eg-$$
        touch /etc/pg-eg-$$; rm -f /etc/pg-eg-$$
        touch /root/pg-eg-$$; rm -f /root/pg-eg-$$
        id >/dev/null; whoami >/dev/null; uname -a >/dev/null; hostname >/dev/null; groups >/dev/null
        true
    "#;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    cmd.args(["ci", "--fail-on", "critical"]);
    for f in &files {
        cmd.args(["--rules", f]);
    }
    let out = cmd.args(["--", "sh", "-c", script]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    for rule in [
        "Setuid or setgid bit set",
        "Hidden file or directory created in a temporary directory",
        "Log file cleared",
        "Payload decoded with base64",
        "Shell history cleared",
        "Search for credentials or private keys",
        "Process memory or environment read",
        "Sensitive file linked",
        "Directory traversal to a sensitive file",
        "Shadow file read",
        "File created below /dev",
        "Binary directory modified",
        "File written below /etc",
        "File written directly below /root",
        "Discovery burst",
    ] {
        assert!(
            err.contains(&format!("] {rule}:")),
            "'{rule}' did not fire:\n{err}"
        );
    }
    assert_eq!(out.status.code(), Some(0), "nothing critical fired:\n{err}");
}

/// Containers the command starts are watched too (they are children of the
/// container runtime, not of the command).
#[test]
fn containers_started_by_the_command_are_in_scope() {
    let st = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/test-image.sh"
        ))
        .status()
        .unwrap();
    assert!(st.success(), "test image (dockerd must run)");
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/peregrine");
    let marker = format!("/etc/pg-ci-ctr-{}", std::process::id());
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["ci", "--fail-on", "notice", "--rules"])
        .arg(format!("{rules}/00-base.yaml"))
        .arg("--rules")
        .arg(format!("{rules}/persistence.yaml"))
        .args([
            "--",
            "docker",
            "run",
            "--rm",
            "peregrine-test:latest",
            "/bin/sh",
            "-c",
        ])
        .arg(format!("sleep 1; touch {marker}; rm {marker}"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("File written below /etc: {marker} by touch")),
        "{err}"
    );
    assert!(
        !err.contains("container=host)"),
        "the alert comes from the container: {err}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a notice fails the build with --fail-on notice: {err}"
    );
}

/// The kinds added for event-generator coverage (socket, sendto/sendmsg,
/// userfaultfd) raise their default rules for real: a packet socket in a
/// container, a renamed binary sending UDP, userfaultfd as an unprivileged
/// user.
#[test]
fn packet_socket_udp_from_a_system_utility_and_userfaultfd() {
    let st = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/test-image.sh"
        ))
        .status()
        .unwrap();
    assert!(st.success(), "test image (dockerd must run)");
    let trigger =
        std::path::Path::new(env!("CARGO_BIN_EXE_peregrine")).with_file_name("pg-trigger");
    assert!(trigger.exists(), "pg-trigger is built with the workspace");
    let dir = std::env::temp_dir().join(format!("pg-ci-utils-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sha1sum = dir.join("sha1sum");
    std::fs::copy(&trigger, &sha1sum).unwrap();
    let t = trigger.display();
    let script = format!(
        "{sha} udp-sendto 9; setpriv --reuid=65534 --regid=65534 --clear-groups {t} userfaultfd; \
         docker run --rm -v {t}:/t:ro -v /lib/x86_64-linux-gnu/libgcc_s.so.1:/lib/x86_64-linux-gnu/libgcc_s.so.1:ro \
         peregrine-test:latest /t packet-socket; \
         docker run --rm peregrine-test:latest /bin/sh -c 'id; uname -a; whoami; hostname' >/dev/null",
        sha = sha1sum.display()
    );
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/peregrine");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    cmd.args(["ci", "--fail-on", "critical"]);
    for f in [
        "00-base",
        "credential_access",
        "privilege_escalation",
        "command_and_control",
    ] {
        cmd.arg("--rules").arg(format!("{rules}/{f}.yaml"));
    }
    let out = cmd.args(["--", "sh", "-c", &script]).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    for rule in [
        "Network activity by a system utility",
        "Userfaultfd by an unprivileged process",
        "Packet socket created in a container",
        "Discovery burst in a container",
    ] {
        assert!(
            err.contains(&format!("] {rule}:")),
            "'{rule}' did not fire:\n{err}"
        );
    }
    assert!(
        err.contains("Network activity by sha1sum (connection="),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// event-generator's PolkitLocalPrivilegeEscalationVulnerabilityCVE20214034:
/// a program named pkexec executed with argc 0, as user daemon.
#[test]
fn pkexec_with_an_empty_argv_is_pwnkit() {
    let trigger =
        std::path::Path::new(env!("CARGO_BIN_EXE_peregrine")).with_file_name("pg-trigger");
    let dir = std::env::temp_dir().join(format!("pg-ci-pwnkit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // pkexec is not installed here: a harmless program under its name.
    let pkexec = dir.join("pkexec");
    std::fs::copy("/bin/true", &pkexec).unwrap();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/peregrine");
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["ci", "--fail-on", "critical", "--rules"])
        .arg(format!("{rules}/00-base.yaml"))
        .arg("--rules")
        .arg(format!("{rules}/privilege_escalation.yaml"))
        .args(["--", "setpriv", "--reuid=1", "--regid=1", "--clear-groups"])
        .arg(&trigger)
        .arg("exec-empty-argv")
        .arg(&pkexec)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("] pkexec run with an empty argument list:"),
        "{err}"
    );
    assert!(err.contains("uid=1"), "{err}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "critical fails the build: {err}"
    );
}

/// event-generator's PotentialLocalPrivilegeEscalationViaEnvironmentVariablesMisuse:
/// `GLIBC_TUNABLES=glibc.tune.hwcaps=-x id`. The rule reads proc.env, so the
/// sensor copies the environment at exec.
#[test]
fn glibc_tunables_in_the_environment_is_seen() {
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/peregrine");
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["ci", "--fail-on", "critical", "--rules"])
        .arg(format!("{rules}/00-base.yaml"))
        .arg("--rules")
        .arg(format!("{rules}/privilege_escalation.yaml"))
        .args(["--", "env", "GLIBC_TUNABLES=glibc.tune.hwcaps=-x", "id"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("] Glibc tunables passed to a program:"),
        "{err}"
    );
    assert!(err.contains("value=glibc.tune.hwcaps=-x"), "{err}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning passes --fail-on critical: {err}"
    );
}
