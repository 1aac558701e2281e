//! `peregrine ci`: a failing command fails the build; reports are written.
mod common;

use common::{falco_rules, peregrine, repo_str, scratch, test_image};

#[test]
fn reading_shadow_fails_the_build_and_a_clean_command_passes() {
    let dir = scratch("ci");
    let sarif = dir.join("out.sarif");
    let junit = dir.join("out.xml");
    let out = peregrine()
        .args(["ci", "--rules", &falco_rules(), "--sarif"])
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
    let ok = peregrine()
        .args(["ci", "--rules", &falco_rules(), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let failing = peregrine()
        .args(["ci", "--rules", &falco_rules(), "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(failing.status.code(), Some(3));
    std::fs::remove_dir_all(dir).ok();
}

/// Event-generator behaviours (their shell equivalents) run for real under
/// `peregrine ci` with the default ruleset: each raises its rule.
#[test]
fn the_default_ruleset_catches_real_behaviour() {
    let dir = &repo_str("rules/peregrine");
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
    let mut cmd = peregrine();
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
    test_image();
    let rules = &repo_str("rules/peregrine");
    let marker = format!("/etc/pg-ci-ctr-{}", std::process::id());
    let out = peregrine()
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
/// user. (The discovery container waits a second before its commands: `ci`
/// adds a container to the kernel scope when Docker announces its start, and
/// on a loaded machine a container's first milliseconds can run before that.)
#[test]
fn packet_socket_udp_from_a_system_utility_and_userfaultfd() {
    test_image();
    let trigger =
        std::path::Path::new(env!("CARGO_BIN_EXE_peregrine")).with_file_name("pg-trigger");
    assert!(trigger.exists(), "pg-trigger is built with the workspace");
    let dir = scratch("ci-utils");
    let sha1sum = dir.join("sha1sum");
    std::fs::copy(&trigger, &sha1sum).unwrap();
    let t = trigger.display();
    let script = format!(
        "{sha} udp-sendto 9; setpriv --reuid=65534 --regid=65534 --clear-groups {t} userfaultfd; \
         docker run --rm -v {t}:/t:ro -v /lib/x86_64-linux-gnu/libgcc_s.so.1:/lib/x86_64-linux-gnu/libgcc_s.so.1:ro \
         peregrine-test:latest /t packet-socket; \
         docker run --rm peregrine-test:latest /bin/sh -c 'sleep 1; id; uname -a; whoami; hostname' >/dev/null",
        sha = sha1sum.display()
    );
    let rules = &repo_str("rules/peregrine");
    let mut cmd = peregrine();
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
    let dir = scratch("ci-pwnkit");
    // pkexec is not installed here: a harmless program under its name.
    let pkexec = dir.join("pkexec");
    std::fs::copy("/bin/true", &pkexec).unwrap();
    let rules = &repo_str("rules/peregrine");
    let out = peregrine()
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
    let rules = &repo_str("rules/peregrine");
    let out = peregrine()
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

/// A socket at another path that forwards to the real Docker socket and
/// records what its clients send (the request lines show who asked what).
fn docker_proxy(path: &std::path::Path) -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind the proxy socket");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let mut upstream = UnixStream::connect("/var/run/docker.sock").expect("dockerd");
            let (mut back_from, mut back_to) =
                (upstream.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut back_from, &mut back_to));
            let log = log.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n @ 1..) = client.read(&mut buf) {
                    log.lock().unwrap().extend_from_slice(&buf[..n]);
                    if upstream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = upstream.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    seen
}

/// `--docker-socket` is what `ci` talks to: through a socket at another
/// path, the container the command starts is followed into the kernel scope
/// and its metadata is asked there; a socket that is not there is an error
/// before the command runs, not a silent fall-back to the default.
#[test]
fn ci_uses_the_docker_socket_it_is_given() {
    test_image();
    let pid = std::process::id();
    let other = std::path::PathBuf::from(format!("/tmp/pg-ci-other-{pid}.sock"));
    let seen = docker_proxy(&other);
    let rules = &repo_str("rules/peregrine");
    let marker = format!("/etc/pg-ci-sock-{pid}");
    let out = peregrine()
        .args(["ci", "--fail-on", "notice", "--docker-socket"])
        .arg(&other)
        .arg("--rules")
        .arg(format!("{rules}/00-base.yaml"))
        .arg("--rules")
        .arg(format!("{rules}/persistence.yaml"))
        .args(["--", "docker", "run", "--rm", "peregrine-test:latest"])
        .args(["/bin/sh", "-c"])
        .arg(format!("sleep 1; touch {marker}; rm {marker}"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&other);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("File written below /etc: {marker} by touch")),
        "{err}"
    );
    assert!(!err.contains("container=host)"), "{err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    let sent = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
    assert!(
        sent.contains("GET /v1.41/events?filters="),
        "the event stream went through {}: {sent}",
        other.display()
    );
    assert!(
        sent.contains("GET /v1.41/containers/"),
        "metadata lookups went through {}: {sent}",
        other.display()
    );

    let missing = format!("/tmp/pg-ci-none-{pid}.sock");
    let ran = format!("/tmp/pg-ci-ran-{pid}");
    let out = peregrine()
        .args(["ci", "--docker-socket", &missing, "--rules"])
        .arg(format!("{rules}/00-base.yaml"))
        .args(["--", "touch", &ran])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "--docker-socket: cannot reach {missing}: No such file"
        )),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&ran).exists(),
        "the command did not run"
    );
}
