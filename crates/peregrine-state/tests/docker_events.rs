//! The Docker event stream against a real daemon: a started container is
//! inspected (name, image) before anyone asks, a rename refreshes it, a
//! removal forgets it; a running container is inspected on first sight.
use peregrine_state::{watch_docker, ContainerCache, RuntimeUpdate};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

const IMAGE: &str = "peregrine-test:latest";
const SOCKET: &str = "/var/run/docker.sock";

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn wait_for(
    rx: &Receiver<RuntimeUpdate>,
    what: &str,
    f: impl Fn(&RuntimeUpdate) -> bool,
) -> RuntimeUpdate {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(u) = rx.recv_timeout(Duration::from_millis(200)) {
            if f(&u) {
                return u;
            }
        }
    }
    panic!("no {what} from the docker event stream");
}

#[test]
fn started_renamed_and_removed_containers_reach_the_cache() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-image.sh");
    assert!(
        Command::new("bash").arg(script).status().unwrap().success(),
        "test image (is dockerd running? scripts/test.sh starts it)"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_docker(SOCKET.into(), tx, stop.clone());
    std::thread::sleep(Duration::from_millis(800)); // let it subscribe

    let name = format!("pg-events-{}", std::process::id());
    let id = docker(&["run", "-d", "--name", &name, IMAGE, "/bin/sleep", "60"]);
    let mut cache = ContainerCache::new("/nonexistent.sock");
    let up = wait_for(
        &rx,
        "upsert on start",
        |u| matches!(u, RuntimeUpdate::Upsert(v) if v.id == id),
    );
    let RuntimeUpdate::Upsert(v) = &up else {
        unreachable!()
    };
    assert_eq!(v.name, name);
    assert_eq!(v.image, IMAGE);
    cache.apply(up);
    // Known without asking the (here unreachable) socket.
    assert_eq!(
        cache.lookup(&id).map(|c| c.name.clone()),
        Some(name.clone())
    );

    let renamed = format!("{name}-renamed");
    docker(&["rename", &name, &renamed]);
    let up = wait_for(
        &rx,
        "upsert on rename",
        |u| matches!(u, RuntimeUpdate::Upsert(v) if v.id == id && v.name == renamed),
    );
    cache.apply(up);
    assert_eq!(cache.lookup(&id).map(|c| c.name.clone()), Some(renamed));

    docker(&["rm", "-f", &id]);
    let gone = wait_for(
        &rx,
        "remove on destroy",
        |u| matches!(u, RuntimeUpdate::Remove(r) if *r == id),
    );
    let before = cache.len();
    cache.apply(gone);
    assert_eq!(cache.len(), before - 1);

    stop.store(true, Ordering::Relaxed);
    drop(rx);
    watcher.join().unwrap();
}

/// A container seen before any event is inspected on first sight through
/// the configured socket, and one client serves several lookups.
#[test]
fn a_running_container_is_inspected_on_first_sight() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-image.sh");
    assert!(
        Command::new("bash").arg(script).status().unwrap().success(),
        "test image (is dockerd running? scripts/test.sh starts it)"
    );
    let name = format!("pg-inspect-{}", std::process::id());
    let id = docker(&[
        "run",
        "-d",
        "--label",
        "app=pg",
        "-v",
        "/tmp:/host-tmp:ro",
        "--name",
        &name,
        IMAGE,
        "/bin/sleep",
        "60",
    ]);
    let mut cache = ContainerCache::new(SOCKET);
    let v = cache.lookup(&format!("docker-{id}.scope")).cloned();
    let mut client =
        peregrine_state::docker::DockerClient::new(SOCKET, Duration::from_secs(2)).unwrap();
    let again = client.inspect(&id);
    let twice = client.inspect(&id);
    let unknown = client.inspect(&"0".repeat(64));
    docker(&["rm", "-f", &id]);
    let v = v.expect("resolved");
    assert_eq!(v.id, id);
    assert_eq!(v.name, name);
    assert_eq!(v.image, IMAGE);
    assert_eq!(
        (v.image_repository.as_str(), v.image_tag.as_str()),
        ("peregrine-test", "latest")
    );
    assert_eq!(v.labels["app"], "pg");
    assert!(!v.privileged, "--privileged is refused on this machine");
    assert!(v
        .mounts
        .iter()
        .any(|m| m.0 == "/tmp" && m.1 == "/host-tmp" && !m.3));
    assert!(v.start_ns > 0);
    assert_eq!(v.runtime, "docker");
    assert_eq!(cache.failures, 0);
    assert_eq!(again.unwrap().name, name);
    assert_eq!(
        twice.unwrap().name,
        name,
        "the kept-alive connection is reused"
    );
    assert!(matches!(
        unknown,
        Err(peregrine_state::RuntimeError::NotFound)
    ));
}

/// A socket that forwards to Docker's and can cut every connection it
/// carries, as a daemon restart or an idle timeout would.
struct CuttingProxy {
    path: std::path::PathBuf,
    conns: Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl CuttingProxy {
    fn new() -> CuttingProxy {
        use std::os::unix::net::{UnixListener, UnixStream};
        let path = std::env::temp_dir().join(format!("pg-docker-cut-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = conns.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let upstream = UnixStream::connect(SOCKET).expect("dockerd");
                kept.lock().unwrap().push(client.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                    (upstream, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        CuttingProxy { path, conns }
    }

    /// Cut every connection; how many there were.
    fn cut(&self) -> usize {
        let mut conns = self.conns.lock().unwrap();
        for c in conns.iter() {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        std::mem::take(&mut *conns).len()
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One client keeps its connection between requests and, when the daemon
/// side closed it, the next request goes out on a fresh one.
#[test]
fn a_cut_connection_is_replaced_transparently() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-image.sh");
    assert!(
        Command::new("bash").arg(script).status().unwrap().success(),
        "test image (is dockerd running? scripts/test.sh starts it)"
    );
    let id = docker(&["run", "-d", IMAGE, "/bin/sleep", "30"]);
    let proxy = CuttingProxy::new();
    let mut client =
        peregrine_state::docker::DockerClient::new(&proxy.path, Duration::from_secs(2)).unwrap();
    let first = client.inspect(&id).map(|v| v.id);
    let second = client.inspect(&id).map(|v| v.id);
    let kept = proxy.cut();
    std::thread::sleep(Duration::from_millis(100));
    let after_cut = client.inspect(&id).map(|v| v.id);
    let fresh = proxy.cut();
    docker(&["rm", "-f", &id]);
    assert_eq!(first.unwrap(), id);
    assert_eq!(second.unwrap(), id);
    assert_eq!(kept, 1, "/version and two inspections on one connection");
    assert_eq!(after_cut.unwrap(), id);
    assert_eq!(fresh, 1, "a new connection after the cut");
}
