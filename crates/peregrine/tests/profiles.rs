//! End to end: behaviour profiles on a real container. The agent learns a
//! container's repeated workload (a bash loop sourcing a step script from a
//! bind mount), switches the profile to monitor after a short stable
//! period, and then the workload runs a new binary, reads under a new path
//! prefix and connects to a new peer: exactly those three drift alerts, none
//! for what was learned. After a restart with the same profiles directory
//! the profile is still monitored (no re-learning) and a new drift alerts.
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LEARNED: &str = "cat /etc/hostname >/dev/null\nls / >/dev/null\nid >/dev/null\n";

/// A running agent, killed when dropped.
struct Agent(Child);

impl Agent {
    fn start(dir: &Path, alerts: &Path) -> Agent {
        Agent::start_logged(dir, alerts).0
    }

    /// Start; also what it wrote on stderr until it was ready.
    fn start_logged(dir: &Path, alerts: &Path) -> (Agent, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine"))
            .args(["agent", "--ready", "--no-metrics", "--config"])
            .arg(dir.join("agent.yaml"))
            .arg("--output")
            .arg(format!("file:{}", alerts.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("agent starts");
        let mut err = child.stderr.take().expect("stderr");
        let mut seen = String::new();
        let mut buf = [0u8; 256];
        let deadline = Instant::now() + Duration::from_secs(30);
        while !seen.lines().any(|l| l.starts_with("ready")) {
            let n = err.read(&mut buf).expect("read stderr");
            assert!(
                n > 0 && Instant::now() < deadline,
                "agent did not start: {seen}"
            );
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut err, &mut std::io::sink());
        });
        (Agent(child), seen)
    }

    fn stop(mut self) {
        // SAFETY: a signal to our own child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let status = self.0.wait().expect("agent exits");
        assert!(status.success(), "agent exit: {status:?}");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The test container and its image tag (of its own: other tests run the
/// test image too, and a profile merges every container of an image),
/// removed when dropped.
struct Container(String, String);

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
        let _ = Command::new("docker").args(["rmi", &self.1]).output();
    }
}

fn tag() -> String {
    format!("peregrine-test:profiles-{}", std::process::id())
}

/// Replace the step script the container's loop sources (atomically).
fn set_step(ctl: &Path, script: &str) {
    let tmp = ctl.join(".step.tmp");
    std::fs::write(&tmp, script).unwrap();
    std::fs::rename(&tmp, ctl.join("step.sh")).unwrap();
}

/// The saved profile of the test image, if written yet.
fn saved_profile(profiles: &Path) -> Option<serde_json::Value> {
    for e in std::fs::read_dir(profiles).ok()?.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if v["profile"]["unit"]
            .as_str()
            .is_some_and(|u| u == format!("image:{}", tag()))
        {
            return Some(v);
        }
    }
    None
}

/// Drift alerts of the test image's profile in `alerts`.
fn drifts(alerts: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(alerts)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON alert"))
        .filter(|v| {
            v["source"] == "profile"
                && v["output_fields"]["profile.unit"]
                    .as_str()
                    .is_some_and(|u| u == format!("image:{}", tag()))
        })
        .collect()
}

fn kinds_and_items(alerts: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = alerts
        .iter()
        .map(|a| {
            (
                a["output_fields"]["profile.item_kind"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                a["output_fields"]["profile.item"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

fn wait_until<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn setup() -> PathBuf {
    let st = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scripts/test-image.sh"
        ))
        .status()
        .unwrap();
    assert!(
        st.success(),
        "test image (scripts/start-docker.sh starts dockerd)"
    );
    let dir = std::env::temp_dir().join(format!("pg-profiles-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("ctl/newdir")).unwrap();
    std::fs::write(dir.join("ctl/newdir/data.txt"), "new\n").unwrap();
    set_step(&dir.join("ctl"), LEARNED);
    std::fs::write(
        dir.join("rules.yaml"),
        "- rule: Never\n  desc: no rule alert in this test\n  condition: evt.type = execve and proc.name = pg-never-runs\n  output: never\n  priority: DEBUG\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("agent.yaml"),
        format!(
            "rules: [{}]\nprofiles: {{dir: {}, stable_after_s: 6, save_every_s: 1, containers_only: true}}\n",
            dir.join("rules.yaml").display(),
            dir.join("profiles").display()
        ),
    )
    .unwrap();
    dir
}

#[test]
fn a_learned_container_drifts_on_exactly_the_new_binary_path_and_peer_and_the_profile_persists() {
    let dir = setup();
    let (ctl, profiles) = (dir.join("ctl"), dir.join("profiles"));
    let first = dir.join("alerts-1.jsonl");
    let agent = Agent::start(&dir, &first);
    let name = format!("pg-profile-{}", std::process::id());
    let st = Command::new("docker")
        .args(["tag", "peregrine-test:latest", &tag()])
        .status()
        .unwrap();
    assert!(st.success(), "docker tag");
    let out = Command::new("docker")
        .args(["run", "-d", "--name", &name, "-v"])
        .arg(format!("{}:/ctl:ro", ctl.display()))
        .args([
            &tag(),
            "/bin/bash",
            "-c",
            "while true; do . /ctl/step.sh; sleep 0.3; done",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ctr = Container(
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
        tag(),
    );

    // Learn until the profile is stable and monitored (saved every second).
    let saved = wait_until("the profile to be monitored", 90, || {
        saved_profile(&profiles).filter(|v| v["profile"]["mode"] == "monitor")
    });
    let items = &saved["profile"]["items"];
    assert!(
        items["executable"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "/bin/cat"),
        "{saved}"
    );
    assert!(
        items["file_read"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "/ctl/"),
        "{saved}"
    );
    assert!(
        drifts(&first).is_empty(),
        "drift while learning: {:?}",
        drifts(&first)
    );
    // A few more learned rounds while monitored: still no drift.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        drifts(&first).is_empty(),
        "drift for learned behaviour: {:?}",
        drifts(&first)
    );

    set_step(
        &ctl,
        &format!(
            "{LEARNED}uname >/dev/null\ncat /ctl/newdir/data.txt >/dev/null\n{{ echo >/dev/tcp/127.0.0.1/9; }} 2>/dev/null || true\n"
        ),
    );
    wait_until("three drift alerts", 30, || {
        (drifts(&first).len() >= 3).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2)); // the drifting step runs again: no repeats
    set_step(&ctl, LEARNED);
    let got = drifts(&first);
    assert_eq!(
        kinds_and_items(&got),
        vec![
            ("executable".to_string(), "/bin/uname".to_string()),
            ("file_read".to_string(), "/ctl/newdir/".to_string()),
            ("peer".to_string(), "127.0.0.1:9".to_string()),
        ],
        "{got:#?}"
    );
    let exe = got
        .iter()
        .find(|a| a["output_fields"]["profile.item_kind"] == "executable")
        .unwrap();
    assert_eq!(exe["rule"], "Behaviour drift: new executable");
    assert_eq!(exe["priority"], "Warning");
    assert_eq!(exe["container"]["image"], tag().as_str());
    assert_eq!(exe["source"], "profile");
    let out = exe["output"].as_str().unwrap();
    assert!(
        out.contains("/bin/uname") && out.contains(&tag()) && out.contains("learned "),
        "{out}"
    );
    let read = got
        .iter()
        .find(|a| a["output_fields"]["profile.item_kind"] == "file_read")
        .unwrap();
    assert_eq!(read["priority"], "Notice");
    agent.stop();

    // Restart: the saved profile is loaded, monitored, and still alerts.
    let saved = saved_profile(&profiles).expect("profile saved at shutdown");
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["profile"]["mode"], "monitor");
    let second = dir.join("alerts-2.jsonl");
    let agent = Agent::start(&dir, &second);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        drifts(&second).is_empty(),
        "re-learning or drift for learned behaviour: {:?}",
        drifts(&second)
    );
    set_step(&ctl, &format!("{LEARNED}whoami >/dev/null\n"));
    wait_until("a drift after the restart", 30, || {
        (!drifts(&second).is_empty()).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    set_step(&ctl, LEARNED);
    assert_eq!(
        kinds_and_items(&drifts(&second)),
        vec![("executable".to_string(), "/bin/whoami".to_string())]
    );
    agent.stop();
    exported_rules_fire_on_drift_only(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `peregrine profile export` of the saved profile: the rules load, and an
/// agent running them (profiles off) alerts on a program the profile never
/// learned, not on the learned workload.
fn exported_rules_fire_on_drift_only(dir: &Path) {
    let file = std::fs::read_dir(dir.join("profiles"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains(&format!("\"image:{}\"", tag()))
        })
        .expect("the profile file");
    let rules = dir.join("exported.yaml");
    let peregrine = env!("CARGO_BIN_EXE_peregrine");
    let out = Command::new(peregrine)
        .args(["profile", "export"])
        .arg(&file)
        .arg("-o")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(peregrine)
        .args(["rules", "validate"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(peregrine)
        .args(["profile", "show"])
        .arg(&file)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("monitor (confidence 1.00)") && shown.contains("/bin/cat"),
        "{shown}"
    );
    std::fs::write(
        dir.join("agent.yaml"),
        format!("rules: [{}]\n", rules.display()),
    )
    .unwrap();
    let alerts = dir.join("alerts-3.jsonl");
    let agent = Agent::start(dir, &alerts);
    std::thread::sleep(Duration::from_secs(3));
    let read = || std::fs::read_to_string(&alerts).unwrap_or_default();
    assert_eq!(read(), "", "exported rules alert on the learned workload");
    set_step(&dir.join("ctl"), &format!("{LEARNED}hostname >/dev/null\n"));
    wait_until("an exported-rule alert", 30, || {
        read().contains("/bin/hostname").then_some(())
    });
    set_step(&dir.join("ctl"), LEARNED);
    agent.stop();
    let text = read();
    // Rules have no one-alert-per-event: the new program is also a new
    // exec edge.
    let fired: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect();
    let want: std::collections::BTreeSet<String> = ["new executable", "new exec edge"]
        .iter()
        .map(|k| format!("Profile image:{}: {k}", tag()))
        .collect();
    assert_eq!(fired, want, "{text}");
}

#[test]
fn a_corrupt_profile_file_is_an_error_naming_it_and_the_agent_runs_with_rules_only() {
    let dir = std::env::temp_dir().join(format!("pg-profiles-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("profiles")).unwrap();
    let bad = dir.join("profiles/broken.json");
    std::fs::write(
        &bad,
        "{\"format\": \"peregrine-profile\", \"version\": 1, \"profile\": {\"unit\": 3}}",
    )
    .unwrap();
    let program = dir.join("pg-prof-rule");
    std::fs::copy("/bin/true", &program).unwrap();
    std::fs::write(
        dir.join("rules.yaml"),
        "- rule: Profile test program\n  desc: t\n  condition: evt.type = execve and proc.name = pg-prof-rule\n  output: ran (exe=%proc.exepath)\n  priority: WARNING\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("agent.yaml"),
        format!(
            "rules: [{}]\nprofiles: {{dir: {}}}\n",
            dir.join("rules.yaml").display(),
            dir.join("profiles").display()
        ),
    )
    .unwrap();
    let alerts = dir.join("alerts.jsonl");
    let (agent, log) = Agent::start_logged(&dir, &alerts);
    assert!(
        log.contains(&format!("profile file {}: ", bad.display()))
            && log.contains("running with rules only"),
        "{log}"
    );
    assert!(Command::new(&program).status().unwrap().success());
    wait_until("the rule alert", 20, || {
        std::fs::read_to_string(&alerts)
            .unwrap_or_default()
            .contains("Profile test program")
            .then_some(())
    });
    agent.stop();
    for cmd in [
        &["profile", "export"][..],
        &["profile", "show"],
        &["profile", "set-mode"],
    ] {
        let mut c = Command::new(env!("CARGO_BIN_EXE_peregrine"));
        c.args(cmd).arg(&bad);
        if cmd[1] == "set-mode" {
            c.arg("monitor");
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd:?} accepted a corrupt file");
        assert!(
            err.contains(&format!("profile file {}: ", bad.display())),
            "{cmd:?}: {err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&bad).unwrap().len(),
        69,
        "the bad file is left as it was"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
