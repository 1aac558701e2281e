//! The Docker event stream against a real daemon: a started container is
//! inspected (name, image) before anyone asks, a rename refreshes it, a
//! removal forgets it.
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
