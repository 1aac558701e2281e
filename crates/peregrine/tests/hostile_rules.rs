//! End to end (issue 16, class 1): a watched rules file that turns hostile
//! — a macro diamond 2^300 checks wide once expanded, nested past the
//! expansion limit — is refused quickly: the agent stays up, keeps alerting
//! with the rules in force, and reports the error in its log and metrics.
mod common;

use common::{cat, http_get, scratch, wait_until, Peregrine};
use std::time::{Duration, Instant};

/// m_i = (m_{i-1} and m_{i-1}) or (m_{i-1} and not ...), 300 levels.
fn diamond_bomb() -> String {
    let mut text = String::from("- macro: m0\n  condition: proc.name = bomb\n");
    for i in 1..=300 {
        let p = i - 1;
        text.push_str(&format!(
            "- macro: m{i}\n  condition: (m{p} and m{p}) or (m{p} and not proc.name = x{i})\n"
        ));
    }
    text.push_str(
        "- rule: Bomb\n  desc: d\n  condition: evt.type in (open, openat) and m300\n  output: o\n  priority: NOTICE\n",
    );
    text
}

#[test]
fn a_watched_rules_file_turning_hostile_keeps_the_rules_in_force() {
    let dir = scratch("hostile-rules");
    let rules = dir.join("rules.yaml");
    let target = dir.join("target");
    std::fs::write(&target, "").unwrap();
    std::fs::write(
        &rules,
        format!(
            "- rule: Kept\n  desc: d\n  condition: evt.type in (open, openat) and fd.name = {}\n  output: \"%fd.name\"\n  priority: NOTICE\n",
            target.display()
        ),
    )
    .unwrap();
    let out = dir.join("alerts.jsonl");
    let mut agent = Peregrine::agent()
        .metrics()
        .rules(&rules)
        .output_file(&out)
        .start();
    let metrics = agent.metrics_addr().trim().to_string();
    assert!(!metrics.is_empty(), "metrics address");
    let alerts = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"Kept\""))
            .count()
    };
    let read = || {
        cat(&target);
    };
    read();
    wait_until("the first alert", Duration::from_secs(15), || alerts() >= 1);

    // The file turns hostile; the watcher reloads it (polled every 2 s).
    let written = Instant::now();
    std::fs::write(&rules, diamond_bomb()).unwrap();
    wait_until(
        "the reload error in the log",
        Duration::from_secs(20),
        || {
            agent
                .log_now()
                .contains("rule reload failed, keeping the rules in force")
        },
    );
    let took = written.elapsed();
    let text = agent.log_now();
    let line = text
        .lines()
        .find(|l| l.contains("rule reload failed"))
        .unwrap()
        .to_string();
    // The error names the file, the place and the limit.
    assert!(line.contains(&format!("{}:", rules.display())), "{line}");
    assert!(line.contains("levels once macros are expanded"), "{line}");
    assert!(took < Duration::from_secs(15), "refused after {took:?}");

    // Still up, still alerting with the old rule, the failure counted.
    assert!(
        agent.child().try_wait().unwrap().is_none(),
        "agent exited:\n{text}"
    );
    let before = alerts();
    wait_until(
        "an alert from the rules in force",
        Duration::from_secs(15),
        || {
            read();
            alerts() > before
        },
    );
    let m = http_get(&metrics, "/metrics");
    assert!(
        m.contains("peregrine_rule_reloads_total{result=\"error\"} 1"),
        "{m}"
    );
    assert!(http_get(&metrics, "/healthz").contains("200"));

    agent.stop();
    std::fs::remove_dir_all(dir).ok();
}
