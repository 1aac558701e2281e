//! `peregrine trace`: the default rules (Falco's stable rules and
//! Peregrine's) fire under ptrace as under eBPF, with the same fields;
//! hostile programs do not break it; the command's exit status is kept.
mod common;

use common::{default_rule_files, peregrine, repo, rule_args, scratch, wait_for, Peregrine};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `--rules` arguments for the default rule set.
fn default_rules() -> Vec<String> {
    rule_args(&default_rule_files())
}

/// Run `peregrine trace` with JSON alerts on stdout: (alerts, exit code,
/// stderr).
fn trace(cmd: &[&str]) -> (Vec<serde_json::Value>, Option<i32>, String) {
    let out = peregrine()
        .arg("trace")
        .args(default_rules())
        .args(["--output", "stdout:json", "--"])
        .args(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let alerts = json_alerts(&out.stdout);
    (
        alerts,
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON alerts among the lines of a stdout.
fn json_alerts(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("an alert is JSON"))
        .collect()
}

fn fired<'a>(alerts: &'a [serde_json::Value], rule: &str) -> Vec<&'a serde_json::Value> {
    alerts.iter().filter(|a| a["rule"] == rule).collect()
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    scratch(&format!("trace-{name}"))
}

#[test]
fn reading_etc_shadow_fires_the_default_rules() {
    let (alerts, code, err) = trace(&["cat", "/etc/shadow"]);
    assert_eq!(code, Some(0), "{err}");
    let a = fired(&alerts, "Read sensitive file untrusted");
    assert_eq!(a.len(), 1, "{alerts:#?}\n{err}");
    let a = a[0];
    assert_eq!(a["priority"], "Warning");
    assert_eq!(a["source"], "syscall");
    assert_eq!(a["output_fields"]["fd.name"], "/etc/shadow");
    assert_eq!(a["output_fields"]["proc.cmdline"], "cat /etc/shadow");
    assert_eq!(a["output_fields"]["evt.type"], "openat");
    assert_eq!(a["output_fields"]["user.name"], "root");
    assert_eq!(a["output_fields"]["proc.pname"], "peregrine");
    let own = fired(&alerts, "Shadow file read");
    assert_eq!(own.len(), 1, "{alerts:#?}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_shell_started_by_a_server_fires() {
    let dir = tmpdir("shell");
    let nginx = dir.join("nginx");
    std::fs::copy("/bin/dash", &nginx).unwrap();
    // `; true` keeps dash from exec'ing the last command in place.
    let (alerts, code, err) = trace(&[nginx.to_str().unwrap(), "-c", "sh -c true; true"]);
    assert_eq!(code, Some(0), "{err}");
    let a = fired(&alerts, "Shell spawned by a server process");
    assert_eq!(a.len(), 1, "{alerts:#?}\n{err}");
    assert_eq!(a[0]["priority"], "Critical");
    assert!(a[0]["output"]
        .as_str()
        .unwrap()
        .contains("Shell sh -c true spawned by server nginx"));
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_connect_by_a_renamed_utility_fires_and_exit_codes_pass_through() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let dir = tmpdir("connect");
    let cat = dir.join("cat");
    std::fs::copy("/bin/bash", &cat).unwrap();
    let script = format!("exec 3<>/dev/tcp/127.0.0.1/{port}; exit 3");
    let (alerts, code, err) = trace(&[cat.to_str().unwrap(), "-c", &script]);
    assert_eq!(code, Some(3), "the command's exit status: {err}");
    let a = fired(&alerts, "Network activity by a system utility");
    assert_eq!(a.len(), 1, "{alerts:#?}\n{err}");
    let name = a[0]["output_fields"]["fd.name"].as_str().unwrap();
    assert!(name.ends_with(&format!("->127.0.0.1:{port}")), "{name}");
    assert!(!fired(&alerts, "Reverse shell command line").is_empty());
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn hostile_commands_end_cleanly() {
    let many: Vec<String> = (0..1000).map(|i| format!("a{i}")).collect();
    let mut argv = vec!["/bin/true"];
    argv.extend(many.iter().map(String::as_str));
    let (_, code, err) = trace(&argv);
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // A path beyond NAME_MAX, then a shell that dies by a signal (bad
    // pointers and the rest: crates/peregrine-trace/tests/events.rs).
    let long = format!("cat /{} 2>/dev/null; kill -9 $$", "x".repeat(5000));
    let (_, code, err) = trace(&["sh", "-c", &long]);
    assert_eq!(code, Some(128 + 9), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let (_, code, err) = trace(&["/nonexistent/program"]);
    assert_eq!(code, Some(127));
    assert!(err.contains("cannot run /nonexistent/program"), "{err}");
}

/// Alerts of the descendants of a shell, not of the shell itself.
fn below(a: &serde_json::Value, sh: u32) -> bool {
    a["ancestry"][0]["pid"] != sh
        && a["ancestry"]
            .as_array()
            .is_some_and(|v| v.iter().any(|p| p["pid"] == sh))
}

/// The eBPF agent's alerts for `sh -c script` (its descendants').
fn under_ebpf(script: &str) -> Vec<serde_json::Value> {
    let mut agent = Peregrine::agent()
        .args(default_rules())
        // No dedup: the agent sees the whole host, and an identical alert
        // of another test (the attach test's `cat /etc/shadow` loop, also
        // under a sh under this test binary) must not swallow ours.
        .args(["--no-metrics", "--output", "stdout:json"])
        .args(["--dedup-window", "0", "--rate-limit", "0"])
        .capture_stdout()
        .start();
    let sh = Command::new("sh").args(["-c", script]).spawn().unwrap();
    let sh_pid = sh.id();
    assert!(sh.wait_with_output().unwrap().status.success());
    // Alerts of the shell's children as they come (the machine may be slow).
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    let stdout = agent.child().stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let mut ebpf: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|t| t.elapsed() < Duration::from_secs(1)) {
        if let Ok(v) = rx.recv_timeout(Duration::from_millis(100)) {
            if below(&v, sh_pid) {
                settle.get_or_insert_with(Instant::now);
                ebpf.push(v);
            }
        }
    }
    agent.signal(libc::SIGTERM);
    agent.child().wait().unwrap();
    ebpf.extend(rx.try_iter().filter(|v| below(v, sh_pid)));
    if ebpf.is_empty() {
        eprintln!("agent's log:\n{}", agent.log_now());
    }
    ebpf
}

/// The eBPF agent and `peregrine trace` on the same commands (a shadow
/// read, a shell started by a "server", a connect by a renamed utility):
/// the same rules fire with the same output fields (pids, times and the
/// ancestors above the commands' shell aside: those differ by construction).
#[test]
fn alerts_match_the_ebpf_agent() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let dir = tmpdir("compare");
    std::fs::copy("/bin/dash", dir.join("nginx")).unwrap();
    std::fs::copy("/bin/bash", dir.join("cat")).unwrap();
    let d = dir.display();
    let script = format!(
        "cat /etc/shadow > /dev/null; {d}/nginx -c 'sh -c true; true'; \
         {d}/cat -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'; true"
    );
    let script = script.as_str();
    let ebpf = under_ebpf(script);
    // Under ptrace.
    let (traced, code, err) = trace(&["sh", "-c", script]);
    assert_eq!(code, Some(0), "{err}");
    // Under trace the shell's parent is peregrine: leave its own alerts out.
    let traced: Vec<serde_json::Value> = traced
        .into_iter()
        .filter(|a| a["ancestry"][1]["name"] != "peregrine")
        .collect();
    let rules = |v: &[serde_json::Value]| {
        let mut r: Vec<String> = v.iter().map(|a| a["rule"].to_string()).collect();
        r.sort();
        r
    };
    for rule in [
        "Read sensitive file untrusted",
        "Shell spawned by a server process",
        "Network activity by a system utility",
    ] {
        assert!(
            ebpf.iter().any(|a| a["rule"] == rule),
            "the agent saw {rule}: {ebpf:#?}"
        );
    }
    assert_eq!(rules(&ebpf), rules(&traced), "the same rules fire");
    let differs = |k: &str| {
        k.contains("pid")
            || k.contains("gparent")
            || k.starts_with("proc.aname")
            || k.starts_with("proc.apid")
            || k.contains("time")
            || k == "fd.cport"
            || k == "fd.lport"
    };
    for e in &ebpf {
        let t = traced.iter().find(|t| t["rule"] == e["rule"]).unwrap();
        let (ef, tf) = (
            e["output_fields"].as_object().unwrap(),
            t["output_fields"].as_object().unwrap(),
        );
        let keys =
            |m: &serde_json::Map<String, serde_json::Value>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(ef), keys(tf), "{}", e["rule"]);
        for (k, v) in ef {
            if !differs(k) {
                assert_eq!(
                    client_port_aside(v),
                    client_port_aside(&tf[k]),
                    "{}: {k}",
                    e["rule"]
                );
            }
        }
        assert_eq!(e["priority"], t["priority"]);
        assert_eq!(e["tags"], t["tags"]);
    }
    std::fs::remove_dir_all(dir).ok();
}

/// A connection's `client:port->server:port` with the (ephemeral) client
/// port replaced; other values as they are.
fn client_port_aside(v: &serde_json::Value) -> String {
    let s = v.to_string();
    match s.split_once("->") {
        Some((client, server)) => match client.rsplit_once(':') {
            Some((ip, _)) => format!("{ip}:*->{server}"),
            None => s,
        },
        None => s,
    }
}

/// `--pid`: attach to a running shell loop (PTRACE_SEIZE), see its
/// children read /etc/shadow, detach on SIGINT; the loop runs on untraced.
#[test]
fn attaching_to_a_running_process_then_detaching() {
    let mut target = Command::new("sh")
        .args([
            "-c",
            "while true; do cat /etc/shadow > /dev/null; sleep 0.1; done",
        ])
        .spawn()
        .unwrap();
    let pid = target.id();
    let tracer = peregrine()
        .arg("trace")
        .args(default_rules())
        .args(["--output", "stdout:json", "--pid", &pid.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(tracer.id() as i32, libc::SIGINT) };
    let out = tracer.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let alerts: Vec<serde_json::Value> = json_alerts(&out.stdout);
    let shadow = fired(&alerts, "Read sensitive file untrusted");
    assert!(!shadow.is_empty(), "{alerts:#?}\n{err}");
    assert!(shadow
        .iter()
        .all(|a| a["ancestry"][1]["pid"] == pid && a["output_fields"]["proc.pname"] == "sh"));
    std::thread::sleep(Duration::from_millis(300));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(status.contains("TracerPid:\t0"), "detached: {status}");
    assert!(target.try_wait().unwrap().is_none(), "the loop still runs");
    target.kill().unwrap();
    target.wait().unwrap();
}

/// The first (and only) child of `pid`.
fn child_of(pid: u32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `--attach-all` as a pod sidecar sees it: in a pid namespace of its own
/// (`unshare`, as `shareProcessNamespace: true` gives), the processes
/// already there and one entering later from outside (`nsenter`, as
/// `kubectl exec` does) are traced; SIGINT detaches.
#[test]
fn attach_all_follows_processes_entering_the_namespace() {
    let rules = default_rules().join(" ");
    let pg = env!("CARGO_BIN_EXE_peregrine");
    let inner = format!(
        "sh -c 'while true; do cat /etc/shadow > /dev/null; sleep 0.2; done' & exec {pg} trace {rules} --output stdout:json --attach-all"
    );
    let ns = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sh", "-c", &inner])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let tracer = wait_for("the tracer to start", Duration::from_secs(10), || {
        let p = child_of(ns.id())?;
        let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        (comm.trim() == "peregrine").then_some(p)
    });
    std::thread::sleep(Duration::from_millis(1500));
    // A process entering the namespace from outside, like `kubectl exec`.
    let late = Command::new("nsenter")
        .args(["-t", &tracer.to_string(), "-p", "-m", "--", "sh", "-c"])
        .arg("sleep 1; head -c 1 /etc/shadow > /dev/null")
        .status()
        .unwrap();
    assert!(late.success());
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling a process of ours.
    unsafe { libc::kill(tracer as i32, libc::SIGINT) };
    let out = ns.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let alerts: Vec<serde_json::Value> = json_alerts(&out.stdout);
    let shadow = fired(&alerts, "Read sensitive file untrusted");
    assert!(
        shadow
            .iter()
            .any(|a| a["output_fields"]["proc.name"] == "cat"),
        "the loop already there: {alerts:#?}\n{err}"
    );
    assert!(
        shadow
            .iter()
            .any(|a| a["output_fields"]["proc.name"] == "head"),
        "the process that entered later: {alerts:#?}\n{err}"
    );
}

/// The sidecar example of docs/TRACE.md is a valid Pod (Kubernetes
/// OpenAPI schemas, offline) with a shared process namespace and the
/// capability attach mode needs, and its arguments parse.
#[test]
fn the_sidecar_example_is_a_valid_pod() {
    let path = repo("deploy/kubernetes/examples/trace-sidecar.yaml");
    let out = Command::new("kubernetes-validate")
        .arg("--strict")
        .arg(&path)
        .output()
        .expect("kubernetes-validate (scripts/bootstrap.sh --test installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("shareProcessNamespace: true"));
    assert!(text.contains("add: [SYS_PTRACE]"));
    // The arguments are the CLI's: with a conflicting flag added, clap
    // names the conflict (so it parsed the rest).
    let out = peregrine()
        .args([
            "trace",
            "--rules",
            "/dev/null",
            "--attach-all",
            "--output",
            "stdout:json",
        ])
        .args(["--pid", "1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot be used with"), "{err}");
}

/// Without privileges (the wrapped-entrypoint sidecar as a non-root user,
/// no capabilities): the seccomp filter goes in with `no_new_privs`, the
/// rules fire with the user's name, the exit status passes through.
#[test]
fn runs_as_an_unprivileged_user() {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(env!("CARGO_BIN_EXE_peregrine"))
        .arg("trace")
        .args(default_rules())
        .args(["--output", "stdout:json", "--", "sh", "-c"])
        .arg("bash -c 'exec 3<>/dev/tcp/127.0.0.1/9' 2>/dev/null; exit 5")
        .current_dir("/")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    let alerts: Vec<serde_json::Value> = json_alerts(&out.stdout);
    let a = fired(&alerts, "Reverse shell command line");
    assert!(!a.is_empty(), "{alerts:#?}\n{err}");
    assert!(a
        .iter()
        .all(|a| a["output_fields"]["user.name"] == "nobody"));
    assert!(
        !err.contains("every syscall stops"),
        "the filter went in: {err}"
    );
}

/// A SIGTERM to `peregrine trace` is passed on to the command, whose exit
/// status (from its handler) ends the trace.
#[test]
fn sigterm_is_passed_on_to_the_command() {
    let child = peregrine()
        .arg("trace")
        .args(default_rules())
        .args(["--output", "file:/dev/null", "--", "sh", "-c"])
        .arg("trap 'exit 4' TERM; while :; do sleep 0.1; done")
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait_with_output().unwrap().status;
    assert_eq!(status.code(), Some(4));
}
