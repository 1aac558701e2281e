//! containerd without Docker, against a real daemon (scripts/start-containerd.sh):
//! a container run in the `k8s.io` namespace with Kubernetes' CRI labels is
//! resolved from its cgroup leaf name to its name, image and pod.
use peregrine_state::ContainerCache;
use std::process::Command;

const SOCKET: &str = "/run/pg-containerd/containerd.sock";
const IMAGE: &str = "docker.io/library/peregrine-test:latest";

fn ctr(args: &[&str]) -> String {
    let out = Command::new("ctr")
        .args(["-a", SOCKET, "-n", "k8s.io"])
        .args(args)
        .output()
        .expect("run ctr");
    assert!(
        out.status.success(),
        "ctr {args:?}: {} (is scripts/start-containerd.sh running?)",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Running(String);
impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("ctr")
            .args([
                "-a", SOCKET, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", &self.0,
            ])
            .output();
        for _ in 0..50 {
            let rm = Command::new("ctr")
                .args(["-a", SOCKET, "-n", "k8s.io", "containers", "rm", &self.0])
                .output();
            if rm.is_ok_and(|o| o.status.success()) {
                break;
            }
            let _ = Command::new("ctr")
                .args(["-a", SOCKET, "-n", "k8s.io", "tasks", "rm", "-f", &self.0])
                .output();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[test]
fn containerd_container_resolves_with_its_pod() {
    // A Kubernetes-style id: 64 hex digits, also the cgroup leaf name.
    let id: String = format!(
        "{:016x}{:016x}{:016x}{:016x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
        0xfeed_u64,
        0xbeef_u64
    );
    ctr(&[
        "run",
        "-d",
        "--label",
        "io.kubernetes.pod.name=web-0",
        "--label",
        "io.kubernetes.pod.namespace=shop",
        "--label",
        "io.kubernetes.container.name=nginx",
        "--label",
        "app=web",
        IMAGE,
        &id,
        "sleep",
        "30",
    ]);
    let _guard = Running(id.clone());
    // The cgroup the task runs in ends with the id.
    let pid = ctr(&["tasks", "ls"])
        .lines()
        .find(|l| l.starts_with(&id))
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .expect("task listed");
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let leaf = cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .or_else(|| cgroup.lines().next().and_then(|l| l.rsplit(':').next()))
        .and_then(|p| p.rsplit('/').next())
        .unwrap()
        .to_string();
    assert_eq!(leaf, id, "cgroup leaf is the container id: {cgroup}");

    // Docker does not know it; containerd does.
    let mut cache = ContainerCache::new("/var/run/docker.sock").with_containerd(SOCKET);
    let v = cache.lookup(&leaf).expect("resolved").clone();
    assert_eq!(v.id, id);
    assert_eq!(v.name, "nginx");
    assert_eq!(v.image, IMAGE);
    assert_eq!(v.image_repository, "docker.io/library/peregrine-test");
    assert_eq!(v.image_tag, "latest");
    assert_eq!(v.labels["io.kubernetes.pod.name"], "web-0");
    assert_eq!(v.labels["io.kubernetes.pod.namespace"], "shop");
    assert_eq!(v.labels["app"], "web");
    assert_eq!(v.runtime, "containerd");
    assert!(!v.privileged);
    assert!(v.start_ns > 0);
    assert_eq!(cache.failures, 0);

    // An id no runtime knows is not invented (retried later instead).
    let unknown = "0".repeat(64);
    assert!(cache.lookup(&unknown).is_none());
}

/// A containerd of the test's own on a private socket (no containers: the
/// lookups only need its API).
struct PrivateContainerd {
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateContainerd {
    fn new() -> PrivateContainerd {
        let dir = std::env::temp_dir().join(format!("pg-ctrd-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        std::fs::write(
            dir.join("config.toml"),
            format!(
                "version = 2\nroot = \"{d}/root\"\nstate = \"{d}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
                 [grpc]\n  address = \"{d}/c.sock\"\n[ttrpc]\n  address = \"{d}/c.sock.ttrpc\"\n\
                 [debug]\n  address = \"\"\n"
            ),
        )
        .unwrap();
        let mut c = PrivateContainerd { dir, child: None };
        c.start();
        c
    }

    fn socket(&self) -> String {
        self.dir.join("c.sock").display().to_string()
    }

    fn start(&mut self) {
        let log = std::fs::File::create(self.dir.join("log")).unwrap();
        self.child = Some(
            Command::new("containerd")
                .arg("--config")
                .arg(self.dir.join("config.toml"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("containerd is installed (scripts/bootstrap.sh --test)"),
        );
        for _ in 0..100 {
            let up = Command::new("ctr")
                .args(["-a", &self.socket(), "namespaces", "create", "k8s.io"])
                .output()
                .is_ok_and(|o| {
                    o.status.success()
                        || String::from_utf8_lossy(&o.stderr).contains("already exists")
                });
            if up {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "private containerd did not come up: see {}",
            self.dir.display()
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // as if it crashed
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The connection is kept between lookups, and a lookup after containerd
/// restarted reconnects instead of failing; while it is down the socket is
/// reported unreachable.
#[test]
fn lookups_survive_a_containerd_restart() {
    use peregrine_state::containerd::Containerd;
    use peregrine_state::RuntimeError;
    let mut daemon = PrivateContainerd::new();
    let mut client = Containerd::new(daemon.socket(), std::time::Duration::from_secs(2));
    let unknown = "1".repeat(64);
    assert!(matches!(
        client.lookup(&unknown),
        Err(RuntimeError::NotFound)
    ));
    assert!(matches!(
        client.lookup(&unknown),
        Err(RuntimeError::NotFound)
    ));
    daemon.stop();
    daemon.start();
    let after_restart = client.lookup(&unknown);
    assert!(
        matches!(after_restart, Err(RuntimeError::NotFound)),
        "{after_restart:?}"
    );
    daemon.stop();
    let down = client.lookup(&unknown);
    assert!(
        matches!(down, Err(RuntimeError::Connect { .. })),
        "{down:?}"
    );
}
