//! The container image (deploy/Dockerfile, deploy/build-image.sh): it builds
//! here without a registry, its agent — run the way the DaemonSet runs it
//! (host PID namespace, the minimal capabilities, the node's tracefs, bpffs,
//! BTF, cgroupfs and runtime sockets) — raises an alert for `cat /etc/shadow`
//! in another container, and its server runs as a non-root user.
//!
//! The image is built from the binary cargo built for this test (no
//! compilation in Docker) and labelled with a hash of its content: with an
//! unchanged binary the build is skipped.
mod common;

use common::{repo_str as repo, run_ok as run};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const IMAGE: &str = "peregrine-deploy-test:latest";

fn build_image() {
    run(Command::new("bash").arg(repo("scripts/test-image.sh")));
    // The host-files base: fast on a fresh machine (debootstrap, the
    // script's default, takes minutes the first time).
    run(Command::new("bash")
        .arg(repo("deploy/build-image.sh"))
        .arg(env!("CARGO_BIN_EXE_peregrine"))
        .env("IMAGE", IMAGE)
        .env("PEREGRINE_BASE", "host")
        .env("PEREGRINE_BASE_IMAGE", "peregrine-base:host"));
}

/// A container removed (with `docker rm -f`) when dropped.
struct Container(String);

impl Container {
    fn start(name: &str, args: &[&str]) -> Container {
        let _ = Command::new("docker")
            .args(["rm", "-f", name])
            .stderr(Stdio::null())
            .stdout(Stdio::null())
            .status();
        let c = Container(name.to_string());
        run(Command::new("docker")
            .args(["run", "-d", "--name", name])
            .args(args));
        c
    }

    fn logs(&self) -> (String, String) {
        let out = run(Command::new("docker").args(["logs", &self.0]));
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn wait_stderr(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, err) = self.logs();
            if err.lines().any(|l| l.contains(what)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never logged {what:?}: {err}",
                self.0
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn inspect(&self, format: &str) -> String {
        let out = run(Command::new("docker").args(["inspect", "-f", format, &self.0]));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `docker run` arguments equivalent to the chart's DaemonSet with
/// `agent.privileged: false`. Docker 20.10 does not know CAP_BPF and
/// CAP_PERFMON by name (CAP_SYS_ADMIN covers both), and root here lacks
/// CAP_SYS_RESOURCE (which is why `--privileged` cannot start here).
const DAEMONSET_ARGS: &[&str] = &[
    "--pid=host",
    "--cap-drop=ALL",
    "--cap-add=SYS_ADMIN",
    "--cap-add=SYS_PTRACE",
    "--cap-add=DAC_READ_SEARCH",
    "--cap-add=NET_ADMIN",
    "--cap-add=KILL",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--read-only",
    "--tmpfs=/tmp",
    "--tmpfs=/var/lib/peregrine",
    "-v",
    "/sys/kernel/tracing:/sys/kernel/tracing",
    "-v",
    "/sys/fs/bpf:/sys/fs/bpf",
    "-v",
    "/sys/kernel/btf:/sys/kernel/btf:ro",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:ro",
    "-v",
    "/var/run/docker.sock:/var/run/docker.sock:ro",
];

#[test]
fn image_agent_alerts_on_shadow_read_in_another_container() {
    build_image();
    let pid = std::process::id();
    let mut args = DAEMONSET_ARGS.to_vec();
    // The image's entrypoint adds the rules shipped in the image.
    args.extend([
        IMAGE,
        "agent",
        "--ready",
        "--no-metrics",
        "--output",
        "stdout:json",
    ]);
    let agent = Container::start(&format!("pg-deploy-agent-{pid}"), &args);
    agent.wait_stderr("ready");

    let victim = format!("pg-deploy-victim-{pid}");
    let _victim = Container::start(
        &victim,
        &[
            "peregrine-test:latest",
            "sh",
            "-c",
            "echo 'root:*:19000:0:99999:7:::' > /etc/shadow; cat /etc/shadow; sleep 30",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let alert = loop {
        let (out, _) = agent.logs();
        let found = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|a| {
                a["rule"] == "Read sensitive file untrusted" && a["container"]["name"] == victim
            });
        if let Some(a) = found {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no alert for the other container: {out}\n{}",
            agent.logs().1
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(alert["priority"], "Warning");
    assert_eq!(alert["source"], "syscall");
    assert_eq!(alert["output_fields"]["fd.name"], "/etc/shadow");
    assert_eq!(alert["output_fields"]["proc.name"], "cat");
    assert_eq!(alert["output_fields"]["proc.cmdline"], "cat /etc/shadow");
    assert_eq!(alert["container"]["image"], "peregrine-test:latest");
    let id = _victim.inspect("{{.Id}}");
    assert_eq!(alert["container"]["id"], id.as_str());
}

#[test]
fn image_server_runs_as_non_root_and_serves() {
    build_image();
    let server = Container::start(
        &format!("pg-deploy-server-{}", std::process::id()),
        &[IMAGE, "server", "--listen", "0.0.0.0:8470", "--ready"],
    );
    server.wait_stderr("ready");
    // The entrypoint dropped to the peregrine user (65532) before exec.
    let host_pid = server.inspect("{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uids: Vec<&str> = uid_line.split_whitespace().skip(1).collect();
    assert_eq!(uids, ["65532"; 4], "{uid_line}");
    let cap_eff = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    assert!(cap_eff.ends_with("0000000000000000"), "{cap_eff}");
    let comm = std::fs::read_to_string(format!("/proc/{host_pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "peregrine");

    let ip = server.inspect("{{.NetworkSettings.IPAddress}}");
    let body = reqwest::blocking::get(format!("http://{ip}:8470/healthz"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(body, "ok\n");
    // The admin token was written by the unprivileged user into the volume.
    let out = run(Command::new("docker").args([
        "exec",
        &server.0,
        "/usr/bin/peregrine",
        "server",
        "token",
        "list",
    ]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("admin"), "{text}");
}
