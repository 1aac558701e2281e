//! Record a workload, replay it: the same alerts as the live agent.
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_peregrine"))
}

fn rules() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/falco-upstream/falco_rules.yaml"
    )
    .to_string()
}

/// Alerts (rule, output fields) whose ancestry contains `pid`.
fn alerts_under(lines: &str, pid: u32) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON line"))
        .filter(|a| {
            a["ancestry"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["pid"] == pid)
        })
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_string(),
                a["output_fields"].to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn replay_gives_the_same_alerts_as_the_live_agent() {
    let dir = std::env::temp_dir().join(format!("pg-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let live = dir.join("live.jsonl");
    let cap = dir.join("work.pgcap");

    let mut agent = bin()
        .args([
            "agent",
            "--ready",
            "--no-metrics",
            "--rules",
            &rules(),
            "--output",
        ])
        .arg(format!("file:{}", live.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = agent.stderr.take().unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 256];
    while !seen.contains("ready") {
        let n = err.read(&mut buf).unwrap();
        assert!(n > 0, "{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut err, &mut std::io::sink());
    });
    let agent = Kill(agent);

    let recorder = bin()
        .args(["record", "-o"])
        .arg(&cap)
        .args([
            "--rules",
            &rules(),
            "--",
            "sh",
            "-c",
            "cat /etc/shadow >/dev/null; cat /etc/shadow >/dev/null; true",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rec_pid = recorder.id();
    let out = recorder.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let deadline = Instant::now() + Duration::from_secs(15);
    let live_alerts = loop {
        let a = alerts_under(&std::fs::read_to_string(&live).unwrap_or_default(), rec_pid);
        if a.len() >= 2 {
            break a;
        }
        assert!(Instant::now() < deadline, "live agent raised {a:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(agent);

    let replay = bin()
        .arg("replay")
        .arg(&cap)
        .args(["--json", "--rules", &rules()])
        .output()
        .unwrap();
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let replayed = alerts_under(&String::from_utf8(replay.stdout).unwrap(), rec_pid);
    assert_eq!(replayed, live_alerts);
    assert!(live_alerts
        .iter()
        .all(|(r, _)| r == "Read sensitive file untrusted"));
    assert!(String::from_utf8_lossy(&replay.stderr).contains("2 alerts") || replayed.len() == 2);

    // A truncated or foreign file is a clear error, never a panic.
    let bytes = std::fs::read(&cap).unwrap();
    let cut = dir.join("cut.pgcap");
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let body = bytes.len() - 16 - header_len;
    std::fs::write(&cut, &bytes[..16 + header_len + body / 2]).unwrap();
    let r = bin()
        .arg("replay")
        .arg(&cut)
        .args(["--rules", &rules()])
        .output()
        .unwrap();
    assert!(!r.status.success());
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(e.contains("truncated") || e.contains("corrupt"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    let r = bin()
        .arg("replay")
        .arg(rules())
        .args(["--rules", &rules()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a Peregrine capture"));
    std::fs::remove_dir_all(dir).ok();
}
