//! Record a workload, replay it: the same alerts as the live agent.
mod common;

use common::{falco_rules, peregrine, run_ok, scratch, wait_for, Peregrine};
use std::process::Stdio;
use std::time::Duration;

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

#[test]
fn replay_gives_the_same_alerts_as_the_live_agent() {
    let dir = scratch("record");
    let live = dir.join("live.jsonl");
    let cap = dir.join("work.pgcap");

    let agent = Peregrine::agent()
        .no_metrics()
        .rules(falco_rules())
        .output_file(&live)
        .start();

    let recorder = peregrine()
        .args(["record", "-o"])
        .arg(&cap)
        .args([
            "--rules",
            &falco_rules(),
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

    let live_alerts = wait_for(
        "two live alerts under the recorder",
        Duration::from_secs(15),
        || {
            let a = alerts_under(&std::fs::read_to_string(&live).unwrap_or_default(), rec_pid);
            (a.len() >= 2).then_some(a)
        },
    );
    drop(agent);

    let replay =
        run_ok(
            peregrine()
                .arg("replay")
                .arg(&cap)
                .args(["--json", "--rules", &falco_rules()]),
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
    let r = peregrine()
        .arg("replay")
        .arg(&cut)
        .args(["--rules", &falco_rules()])
        .output()
        .unwrap();
    assert!(!r.status.success());
    let e = String::from_utf8_lossy(&r.stderr);
    assert!(e.contains("truncated") || e.contains("corrupt"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    let r = peregrine()
        .arg("replay")
        .arg(falco_rules())
        .args(["--rules", &falco_rules()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&r.stderr).contains("not a Peregrine capture"));
    std::fs::remove_dir_all(dir).ok();
}
