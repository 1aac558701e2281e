//! Drift against a real Docker container: a binary copied into the
//! container after it started is in the upper layer, the image's are not.
use peregrine_state::ContainerCache;
use std::process::Command;

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

fn in_upper(
    cache: &mut ContainerCache,
    leaf: &str,
    pid: u32,
    ppid: u32,
    exe: &str,
) -> Option<bool> {
    cache
        .exe_upper_file(leaf, pid, ppid, exe)
        .map(|m| m.is_some())
}

#[test]
fn dropped_binary_is_in_the_upper_layer_image_binary_is_not() {
    let id = docker(&["run", "-d", "peregrine-test:latest", "/bin/sleep", "30"]);
    let pid: u32 = docker(&["inspect", "-f", "{{.State.Pid}}", &id])
        .parse()
        .unwrap();
    docker(&["exec", &id, "/bin/cp", "/bin/true", "/tmp/dropped"]);
    let mut cache = ContainerCache::new("/nonexistent/docker.sock");
    let r = (
        in_upper(&mut cache, &id, pid, pid, "/tmp/dropped"),
        in_upper(&mut cache, &id, pid, pid, "/bin/sleep"),
        in_upper(&mut cache, &id, pid, pid, "/tmp/../bin/sleep"),
        // The host is not a container.
        in_upper(&mut cache, "user.slice", 1, 1, "/tmp/dropped"),
    );
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    assert_eq!(r, (Some(true), Some(false), None, None));
}
