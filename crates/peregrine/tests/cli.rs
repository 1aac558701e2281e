//! The `peregrine` binary: real captures and clear one-line errors.
mod common;

use common::{falco_rules, peregrine, repo_str, run_failing, run_ok, scratch, Peregrine};
use std::process::{Command, Stdio};
use std::time::Duration;

fn one_line_error(out: &std::process::Output) -> String {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn unknown_filter_is_a_one_line_error() {
    let out = peregrine()
        .args(["capture", "--filter", "colour=red"])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(err.contains("unknown key 'colour'"), "{err}");
    let out = peregrine()
        .args(["capture", "--filter", "kind=teleport"])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains("unknown EventKind 'teleport'") && err.contains("exec"),
        "{err}"
    );
}

#[test]
fn missing_or_bad_btf_is_a_one_line_error() {
    let out = peregrine()
        .args(["capture", "--btf", "/nonexistent/vmlinux"])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains("kernel BTF not found at /nonexistent/vmlinux"),
        "{err}"
    );
    let bad = std::env::temp_dir().join(format!("pg-bad-btf-{}", std::process::id()));
    std::fs::write(&bad, b"this is not BTF").unwrap();
    let out = peregrine()
        .args(["capture", "--btf", bad.to_str().unwrap()])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(err.contains("cannot read BTF from"), "{err}");
    std::fs::remove_file(bad).ok();
}

#[test]
fn capture_streams_json_events_with_the_executable_filled() {
    let marker = format!("pg-cli-{}", std::process::id());
    let mut child = peregrine()
        .args([
            "capture",
            "--json",
            "--filter",
            "kind=exec",
            "--duration",
            "3",
            "--ready",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for "ready" on stderr.
    let mut stderr = child.stderr.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut stderr, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    std::thread::sleep(Duration::from_millis(100));
    let st = Command::new("/bin/echo")
        .arg(&marker)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let ev: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("valid JSON line"))
        .find(|v| {
            v["data"]["args"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == marker.as_str()))
        })
        .unwrap_or_else(|| panic!("exec of echo not captured:\n{text}"));
    assert_eq!(ev["kind"], "exec");
    assert_eq!(ev["process"]["comm"], "echo");
    assert!(ev["process"]["exe"].as_str().unwrap().ends_with("/echo"));
    assert_eq!(ev["data"]["filename"], "/bin/echo");
}

#[test]
fn rules_validate_prints_counts_of_the_falco_files() {
    let dir = repo_str("rules/falco-upstream");
    let out = run_ok(
        peregrine()
            .args(["rules", "validate"])
            .arg(format!("{dir}/falco_rules.yaml"))
            .arg(format!("{dir}/falco-incubating_rules.yaml"))
            .arg(format!("{dir}/falco-sandbox_rules.yaml")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("falco_rules.yaml: 25 rules, 87 macros, 49 lists"),
        "{text}"
    );
    assert!(
        text.contains("falco-incubating_rules.yaml: 31 rules, 82 macros, 54 lists"),
        "{text}"
    );
    assert!(
        text.contains("falco-sandbox_rules.yaml: 37 rules, 183 macros, 60 lists"),
        "{text}"
    );
}

#[test]
fn rules_validate_reports_errors_with_a_caret_and_fails() {
    let f = std::env::temp_dir().join(format!("pg-bad-rules-{}.yaml", std::process::id()));
    std::fs::write(
        &f,
        "- rule: r\n  desc: d\n  condition: proc.nmae = x\n  output: o\n  priority: INFO\n",
    )
    .unwrap();
    let err = run_failing(peregrine().args(["rules", "validate"]).arg(&f));
    assert!(
        err.contains(":3:14: error: unknown field 'proc.nmae' (in rule 'r')"),
        "{err}"
    );
    assert!(
        err.contains("    condition: proc.nmae = x\n               ^"),
        "{err}"
    );
    assert!(err.contains("1 error(s); nothing loaded"), "{err}");
    std::fs::remove_file(f).ok();
}

#[test]
fn config_check_accepts_a_good_file_and_locates_errors_in_a_bad_one() {
    let dir = scratch("config");
    let rules = falco_rules();
    let good = dir.join("good.yaml");
    std::fs::write(
        &good,
        format!("rules: [{rules}]\noutputs:\n  - stdout:json\n  - \"file:/tmp/x.jsonl,min=warning\"\nmetrics_addr: 127.0.0.1:9400\ndedup: {{window: 30}}\n"),
    )
    .unwrap();
    let out = run_ok(peregrine().args(["config", "check"]).arg(&good));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(": ok") && text.contains("outputs: 2") && text.contains("dedup window: 30s"),
        "{text}"
    );

    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "rules: [/nonexistent.yaml]\noutputs: [\"webhook:ftp://x\"]\nring_mb: 8\n",
    )
    .unwrap();
    let err = run_failing(peregrine().args(["config", "check"]).arg(&bad));
    assert!(
        err.contains("bad.yaml:3:1: error: unknown key 'ring_mb'"),
        "{err}"
    );
    assert!(
        err.contains("bad.yaml:2:11: error: invalid sink 'webhook:ftp://x'"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_missing_or_refused_optional_program_is_one_warning_and_capture_goes_on() {
    let out = peregrine()
        .args([
            "capture",
            "--filter",
            "kind=module_load,exec",
            "--duration",
            "0.5",
            "--stats",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("events:"), "capture ran: {err}");
    let tracepoint =
        std::path::Path::new("/sys/kernel/tracing/events/syscalls/sys_exit_init_module");
    if tracepoint.exists() {
        assert!(!err.contains("sys_exit_init_module refused"), "{err}");
    } else {
        // This kernel has no module syscall tracepoints (CONFIG_MODULES off).
        let line = err
            .lines()
            .find(|l| {
                l.contains(
                    "program sys_exit_init_module refused by the kernel, continuing without it",
                )
            })
            .unwrap_or_else(|| panic!("no warning for the missing program: {err}"));
        assert!(line.contains("No such file or directory"), "{line}");
        assert_eq!(
            err.matches("program sys_exit_init_module refused").count(),
            1,
            "reported once"
        );
    }
}

#[test]
fn an_output_option_the_sink_does_not_have_is_a_one_line_error() {
    let rules = &falco_rules();
    let out = peregrine()
        .args(["agent", "--rules", rules, "--output", "stdout,batch=5"])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains("invalid sink 'stdout,batch=5': stdout has no option 'batch'"),
        "{err}"
    );
    // Buffer options on a syslog target that is not buffered (UDP) too.
    let out = peregrine()
        .args([
            "agent",
            "--rules",
            rules,
            "--output",
            "syslog:udp://127.0.0.1:9,batch=5",
        ])
        .output()
        .unwrap();
    let err = one_line_error(&out);
    assert!(
        err.contains("buffer, batch and buffer_max_mb apply to syslog over tcp:// only"),
        "{err}"
    );
}

#[test]
fn an_unhealthy_output_at_start_is_a_warning_and_the_agent_runs() {
    let rules = falco_rules();
    // Standard output open read-only: the stdout sink's healthcheck fails.
    let agent = Peregrine::agent()
        .no_metrics()
        .rules(&rules)
        .args(["--output", "stdout", "--output", "file:/dev/null"])
        .stdout(Stdio::from(std::fs::File::open("/dev/null").unwrap()))
        .start();
    let seen = agent.log().to_string();
    drop(agent);
    assert!(
        seen.contains("stdout unreachable at start (standard output is open read-only)"),
        "{seen}"
    );
    assert!(seen.lines().any(|l| l.starts_with("ready")), "{seen}");
}
