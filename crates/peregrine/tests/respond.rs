//! End to end: response actions on real processes. A rule with
//! `actions: [block]` denies the exec under `--enforce` (EPERM, fanotify)
//! and only reports it in monitor mode; `actions: [kill]` kills the
//! matching process under `--enforce`, and `action_mode: monitor` keeps a
//! rule a dry run even then. The rules name only programs the tests create,
//! so nothing else on the host is touched.
mod common;

use common::{run_ok, wait_for, wait_for_alert_as, wait_until, Peregrine, Running};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The agent with `rules`, alerts to `alerts` and `extra`, started.
fn start_agent(rules: &Path, alerts: &Path, extra: &[&str]) -> Running {
    Peregrine::agent()
        .no_metrics()
        .rules(rules)
        .output_file(alerts)
        .args(extra)
        .start()
}

/// A directory on the root filesystem (the blocker marks the filesystem
/// of `/`), removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = PathBuf::from(format!("/tmp/pg-respond-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = std::fs::metadata("/").unwrap().dev();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().dev(),
            root,
            "{} is not on the root filesystem",
            dir.display()
        );
        Scratch(dir)
    }

    /// A copy of a system program under a name of ours.
    fn program(&self, from: &str, name: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::copy(from, &p).unwrap();
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rule(name: &str, exe: &Path, extra: &str) -> String {
    format!(
        "- rule: {name}\n  desc: test policy\n  condition: evt.type in (execve, execveat) and proc.exepath = {}\n  output: policy program run (exe=%proc.exepath pid=%proc.pid)\n  priority: CRITICAL\n{extra}",
        exe.display()
    )
}

/// The first alert of `rule` carrying the output field `key`.
fn wait_alert(path: &Path, rule: &str, key: &str) -> serde_json::Value {
    wait_for_alert_as(path, &format!("{rule} with {key}"), |v| {
        v["rule"] == rule && v["output_fields"].get(key).is_some()
    })
}

#[test]
fn an_enforced_block_rule_denies_the_exec_and_another_program_runs() {
    let dir = Scratch::new("block");
    let forbidden = dir.program("/bin/true", "forbidden");
    let allowed = dir.program("/bin/true", "allowed");
    let rules = dir.0.join("policy.yaml");
    std::fs::write(
        &rules,
        rule("Forbidden program", &forbidden, "  actions: [block]\n"),
    )
    .unwrap();
    let alerts = dir.0.join("alerts.json");
    let agent = start_agent(&rules, &alerts, &["--enforce"]);

    let denied = Command::new(&forbidden).status();
    let code = denied.as_ref().err().and_then(|e| e.raw_os_error());
    assert!(
        matches!(code, Some(libc::EPERM) | Some(libc::EACCES)),
        "exec of the forbidden program was not denied: {denied:?}"
    );
    assert!(
        Command::new(&allowed).status().unwrap().success(),
        "another program is blocked"
    );

    let a = wait_alert(&alerts, "Forbidden program", "response.block");
    let what = a["output_fields"]["response.block"].as_str().unwrap();
    assert!(
        what.starts_with(&format!("denied exec of {}", forbidden.display())),
        "{a}"
    );
    assert!(a["output"].as_str().unwrap().contains("exe="), "{a}");
    agent.stop();
    // The fanotify group went with the agent.
    assert!(Command::new(&forbidden).status().unwrap().success());
}

#[test]
fn in_monitor_mode_a_block_rule_reports_and_the_exec_runs() {
    let dir = Scratch::new("monitor");
    let forbidden = dir.program("/bin/true", "forbidden");
    let rules = dir.0.join("policy.yaml");
    std::fs::write(
        &rules,
        rule("Forbidden program", &forbidden, "  actions: [block]\n"),
    )
    .unwrap();
    let alerts = dir.0.join("alerts.json");
    let agent = start_agent(&rules, &alerts, &[]);
    assert!(Command::new(&forbidden).status().unwrap().success());
    let a = wait_alert(&alerts, "Forbidden program", "response.block");
    assert_eq!(
        a["output_fields"]["response.block"], "would block (monitor mode)",
        "{a}"
    );
    agent.stop();
}

#[test]
fn kill_acts_under_enforce_and_a_monitor_rule_stays_a_dry_run() {
    let dir = Scratch::new("kill");
    let doomed = dir.program("/bin/sleep", "doomed");
    let spared = dir.program("/bin/sleep", "spared");
    let rules = dir.0.join("policy.yaml");
    let text = format!(
        "{}{}",
        rule("Doomed program", &doomed, "  actions: [kill]\n"),
        rule(
            "Spared program",
            &spared,
            "  actions: [kill]\n  action_mode: monitor\n"
        )
    );
    std::fs::write(&rules, text).unwrap();
    let alerts = dir.0.join("alerts.json");
    let agent = start_agent(&rules, &alerts, &["--enforce"]);

    let mut spared_child = Command::new(&spared).arg("30").spawn().unwrap();
    let mut doomed_child = Command::new(&doomed).arg("30").spawn().unwrap();
    let status = wait_for(
        "the doomed process to be killed",
        Duration::from_secs(15),
        || doomed_child.try_wait().unwrap(),
    );
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    let a = wait_alert(&alerts, "Doomed program", "response.kill");
    assert_eq!(
        a["output_fields"]["response.kill"],
        format!("killed pid {} (1 process)", doomed_child.id()),
        "{a}"
    );
    let a = wait_alert(&alerts, "Spared program", "response.kill");
    assert_eq!(
        a["output_fields"]["response.kill"],
        format!("would kill pid {} (monitor mode)", spared_child.id()),
        "{a}"
    );
    assert!(
        spared_child.try_wait().unwrap().is_none(),
        "the monitor rule killed"
    );
    spared_child.kill().unwrap();
    spared_child.wait().unwrap();
    agent.stop();
}

#[test]
fn quarantine_moves_the_written_file_under_enforce() {
    let dir = Scratch::new("quarantine");
    let dropped = dir.0.join("dropped.bin");
    let qdir = dir.0.join("q");
    let rules = dir.0.join("policy.yaml");
    std::fs::write(
        &rules,
        format!(
            "- rule: Dropped file\n  desc: test policy\n  condition: evt.type in (open, openat, openat2) and evt.is_open_write=true and fd.name = {}\n  output: file dropped (file=%fd.name)\n  priority: CRITICAL\n  actions: [quarantine]\n",
            dropped.display()
        ),
    )
    .unwrap();
    let config = dir.0.join("agent.yaml");
    std::fs::write(
        &config,
        format!("response:\n  quarantine_dir: {}\n", qdir.display()),
    )
    .unwrap();
    let alerts = dir.0.join("alerts.json");
    let agent = start_agent(
        &rules,
        &alerts,
        &["--enforce", "--config", config.to_str().unwrap()],
    );
    let wrote = Command::new("sh")
        .arg("-c")
        .arg(format!("printf payload > {}", dropped.display()))
        .status()
        .unwrap();
    assert!(wrote.success());
    let a = wait_alert(&alerts, "Dropped file", "response.quarantine");
    let what = a["output_fields"]["response.quarantine"].as_str().unwrap();
    assert!(
        what.starts_with(&format!("moved {}", dropped.display())),
        "{a}"
    );
    assert!(!dropped.exists(), "the file is still in place");
    let bins: Vec<_> = std::fs::read_dir(&qdir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "bin"))
        .collect();
    assert_eq!(bins.len(), 1, "one quarantined file");
    assert_eq!(std::fs::read(bins[0].path()).unwrap(), b"payload");
    let mode = std::fs::metadata(&qdir).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o700);
    agent.stop();
}

/// A container of the test image running `sleep`, removed when dropped.
struct TestContainer(String);

impl TestContainer {
    fn start(name: &str) -> TestContainer {
        let _ = Command::new("docker").args(["rm", "-f", name]).output();
        run_ok(Command::new("docker").args([
            "run",
            "-d",
            "--name",
            name,
            "peregrine-test:latest",
            "sleep",
            "120",
        ]));
        TestContainer(name.to_string())
    }

    fn state(&self, what: &str) -> String {
        let out = Command::new("docker")
            .args(["inspect", "-f", &format!("{{{{.State.{what}}}}}"), &self.0])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn wait_state(&self, what: &str, want: &str) {
        wait_until(
            &format!("{}: State.{what} to become {want}", self.0),
            Duration::from_secs(20),
            || self.state(what) == want,
        );
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["unpause", &self.0]).output();
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

#[test]
fn stop_and_pause_container_act_on_the_container_of_the_match() {
    let dir = Scratch::new("containers");
    let pid = std::process::id();
    let (stop_name, pause_name) = (
        format!("pg-respond-stop-{pid}"),
        format!("pg-respond-pause-{pid}"),
    );
    let policy = |rule: &str, name: &str, action: &str| {
        format!(
            "- rule: {rule}\n  desc: test policy\n  condition: evt.type in (execve, execveat) and container.name = {name} and proc.name = uname\n  output: uname in a container (container=%container.name)\n  priority: CRITICAL\n  actions: [{action}]\n"
        )
    };
    let rules = dir.0.join("policy.yaml");
    std::fs::write(
        &rules,
        policy("Stop me", &stop_name, "stop_container")
            + &policy("Pause me", &pause_name, "pause_container"),
    )
    .unwrap();
    let stop_c = TestContainer::start(&stop_name);
    let pause_c = TestContainer::start(&pause_name);
    let alerts = dir.0.join("alerts.json");
    let agent = start_agent(&rules, &alerts, &["--enforce"]);
    for c in [&stop_c, &pause_c] {
        run_ok(Command::new("docker").args(["exec", &c.0, "uname"]));
    }
    stop_c.wait_state("Running", "false");
    pause_c.wait_state("Paused", "true");
    let a = wait_alert(&alerts, "Stop me", "response.stop_container");
    assert!(
        a["output_fields"]["response.stop_container"]
            .as_str()
            .unwrap()
            .starts_with("stopped container "),
        "{a}"
    );
    let a = wait_alert(&alerts, "Pause me", "response.pause_container");
    assert!(
        a["output_fields"]["response.pause_container"]
            .as_str()
            .unwrap()
            .starts_with("paused container "),
        "{a}"
    );
    agent.stop();
}
