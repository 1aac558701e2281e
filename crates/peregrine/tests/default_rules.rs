//! The default ruleset is compiled into the binary: a lone copy of it,
//! outside the repository and run from elsewhere, starts with those rules
//! and raises real alerts; `rules dump-defaults` writes them out and
//! `--rules DIR` loads a directory of them back.
mod common;

use common::{cat_shadow, run_failing, scratch, wait_for_alert, Peregrine};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The built binary copied alone into `dir`.
fn lone_binary(dir: &Path) -> PathBuf {
    let bin = dir.join("peregrine");
    std::fs::copy(env!("CARGO_BIN_EXE_peregrine"), &bin).unwrap();
    bin
}

/// A command for `bin` run from `cwd`, with no rules from the environment.
fn command(bin: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.current_dir(cwd).env_remove("PEREGRINE_RULES");
    cmd
}

/// `bin ARGS…` run from `cwd` as a harness process, with no rules from
/// the environment.
fn lone(bin: &Path, cwd: &Path, args: &[&str]) -> Peregrine {
    Peregrine::with_args(bin, args)
        .current_dir(cwd)
        .env_remove("PEREGRINE_RULES")
}

#[test]
fn a_lone_copied_binary_runs_the_embedded_defaults_and_alerts() {
    let dir = scratch("lone");
    let bin = lone_binary(&dir);
    let alerts = dir.join("alerts.jsonl");
    let agent = lone(&bin, Path::new("/"), &["agent", "--ready"])
        .metrics()
        .output_file(&alerts)
        .args(["--log-level", "info"])
        .start();
    let started = agent.log();
    assert!(
        started.contains("using the embedded default ruleset"),
        "{started}"
    );
    let pid = cat_shadow();
    let falco = wait_for_alert(&alerts, |v| {
        v["rule"] == "Read sensitive file untrusted" && v["ancestry"][0]["pid"] == pid
    });
    assert_eq!(falco["output_fields"]["fd.name"], "/etc/shadow");
    // Ours come with it (rules/peregrine/credential_access.yaml).
    wait_for_alert(&alerts, |v| {
        v["rule"] == "Shadow file read" && v["ancestry"][0]["pid"] == pid
    });
    agent.stop();

    // Opting out leaves no rules: a clear error.
    let err = run_failing(command(&bin, &dir).args(["agent", "--no-default-rules"]));
    assert!(err.contains("no rule files (--no-default-rules)"), "{err}");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_lone_copied_binary_runs_all_in_one_with_the_embedded_defaults() {
    let dir = scratch("lone-run");
    let bin = lone_binary(&dir);
    let alerts = dir.join("alerts.jsonl");
    let data = dir.join("data");
    let run = lone(&bin, &dir, &["run", "--ready", "--listen", "127.0.0.1:0"])
        .no_metrics()
        .arg("--data-dir")
        .arg(&data)
        .output_file(&alerts)
        .start();
    let started = run.log();
    assert!(started.contains("ready http://127.0.0.1:"), "{started}");
    let pid = cat_shadow();
    let alert = wait_for_alert(&alerts, |v| {
        v["rule"] == "Read sensitive file untrusted" && v["ancestry"][0]["pid"] == pid
    });
    assert_eq!(alert["output_fields"]["proc.name"], "cat");
    run.stop();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dumped_defaults_load_back_as_a_directory_mixed_with_files() {
    let dir = scratch("dump");
    let bin = lone_binary(&dir);
    let rules = dir.join("rules");
    let out = command(&bin, &dir)
        .args(["rules", "dump-defaults"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(rules.join("falco_rules.yaml").is_file());
    assert!(rules.join("peregrine-00-base.yaml").is_file());
    // A second dump keeps the user's edits unless --force.
    std::fs::write(rules.join("falco_rules.yaml"), "# edited\n[]\n").unwrap();
    let again = command(&bin, &dir)
        .args(["rules", "dump-defaults"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("refusing to overwrite") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(rules.join("falco_rules.yaml")).unwrap(),
        "# edited\n[]\n"
    );
    let forced = command(&bin, &dir)
        .args(["rules", "dump-defaults", "--force"])
        .arg(&rules)
        .output()
        .unwrap();
    assert!(forced.status.success(), "{forced:?}");

    // `rules test DIR` runs the tests embedded in every file of it.
    let out = command(&bin, &dir)
        .args(["rules", "test"])
        .arg(&rules)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let summary = text.lines().last().unwrap_or_default();
    let passed: usize = summary
        .strip_prefix("rule tests: ")
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed > 50 && summary.ends_with(", 0 failed"), "{summary}");

    // The directory plus one file of ours refining a rule of it, mixed;
    // files that are not YAML are not rules.
    std::fs::write(rules.join("README.txt"), "not rules").unwrap();
    let local = dir.join("local.yaml");
    std::fs::write(
        &local,
        "- rule: Read sensitive file untrusted\n  output: LOCAL %fd.name by %proc.name\n  override: {output: replace}\n",
    )
    .unwrap();
    let out = command(&bin, &dir)
        .arg("ci")
        .arg("--rules")
        .arg(&rules)
        .arg("--rules")
        .arg(&local)
        .args(["--", "sh", "-c", "cat /etc/shadow > /dev/null"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("LOCAL /etc/shadow by cat"), "{err}");
    assert!(
        err.contains("] Shadow file read:"),
        "ours loaded too: {err}"
    );

    // A lone `ci` without --rules uses the embedded set.
    let out = command(&bin, &dir)
        .args(["ci", "--", "sh", "-c", "cat /etc/shadow > /dev/null"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("Read sensitive file untrusted"), "{err}");

    // A missing path is an error naming it.
    let err = run_failing(command(&bin, &dir).args(["rules", "validate", "no-such-dir"]));
    assert!(
        err.contains("cannot read no-such-dir: the rules path does not exist"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
