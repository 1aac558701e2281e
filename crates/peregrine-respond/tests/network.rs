//! Real network isolation of a Docker container (needs root, dockerd and the
//! `peregrine-test:latest` image from scripts/test-image.sh).
use peregrine_respond::network::{AllowRule, Isolation, IsolationConfig};
use std::net::{IpAddr, TcpListener};
use std::process::Command;

struct Container(String);

impl Container {
    fn start() -> Self {
        let out = Command::new("docker")
            .args(["run", "-d", "--rm", "peregrine-test:latest", "sleep", "120"])
            .output()
            .expect("docker run");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(String::from_utf8(out.stdout).unwrap().trim().to_string())
    }

    fn gateway(&self) -> IpAddr {
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.NetworkSettings.Gateway}}", &self.0])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .expect("gateway address")
    }

    /// Connects from inside the container with bash's /dev/tcp.
    fn connects(&self, addr: IpAddr, port: u16) -> bool {
        let script = format!("echo hi > /dev/tcp/{addr}/{port} && echo connected");
        let out = Command::new("docker")
            .args(["exec", &self.0, "bash", "-c", &script])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains("connected")
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker").args(["rm", "-f", &self.0]).output();
    }
}

#[test]
fn isolate_blocks_a_containers_connect_and_undo_restores_it() {
    let blocked = TcpListener::bind("0.0.0.0:0").unwrap();
    let allowed = TcpListener::bind("0.0.0.0:0").unwrap();
    let (bport, aport) = (
        blocked.local_addr().unwrap().port(),
        allowed.local_addr().unwrap().port(),
    );
    let c = Container::start();
    let gw = c.gateway();
    assert!(
        c.connects(gw, bport),
        "container reaches the host before isolation"
    );
    let config = IsolationConfig {
        allow: vec![AllowRule {
            addr: gw,
            port: Some(aport),
        }],
        ..IsolationConfig::default()
    };
    let cgroup = config.docker_cgroup(&c.0);
    let mut iso = Isolation::isolate(&cgroup, &config).expect("isolate");
    assert!(!c.connects(gw, bport), "connect must fail while isolated");
    assert!(c.connects(gw, aport), "allowed destination still connects");
    let stats = iso.stats().unwrap();
    assert!(stats.denied >= 1 && stats.allowed >= 1, "{stats:?}");
    // The host (another cgroup) is not affected.
    assert!(std::net::TcpStream::connect((gw, bport)).is_ok());
    iso.undo();
    assert!(c.connects(gw, bport), "connect works again after undo");
}
