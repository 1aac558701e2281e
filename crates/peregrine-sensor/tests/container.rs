//! A command in a Docker container: the cgroup leaf name is the container id.
mod common;

use common::Capture;
use peregrine_event::EventKind;
use std::process::Command;

const IMAGE: &str = "peregrine-test:latest";

fn ensure_image() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/test-image.sh");
    let st = Command::new("bash")
        .arg(script)
        .status()
        .expect("run scripts/test-image.sh");
    assert!(
        st.success(),
        "building the test image failed (is dockerd running? scripts/test.sh starts it)"
    );
}

#[test]
fn exec_in_a_docker_container_carries_the_container_id() {
    ensure_image();
    let cap = Capture::start(&[EventKind::Exec]);
    let out = Command::new("docker")
        .args(["run", "-d", IMAGE, "/bin/sleep", "3"])
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(id.len(), 64, "container id {id}");
    let ev = cap.wait_for("exec of sleep in the container", |e| {
        e.process.cgroup == id && e.exec().is_some_and(|x| x.filename == "/bin/sleep")
    });
    let x = ev.exec().unwrap();
    assert_eq!(x.args, vec!["/bin/sleep", "3"]);
    assert_eq!(x.exe, "/bin/sleep", "container-relative path");
    assert!(ev.process.cgroup_id > 1);
    assert_ne!(
        ev.process.vpid, ev.process.pid,
        "pid namespace of the container"
    );
    assert_eq!(ev.process.vpid, 1);
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
}
