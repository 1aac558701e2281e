//! Quiet on ordinary work: the default ruleset (Falco's stable rules +
//! rules/peregrine) under `peregrine ci`, over a real root `make`, a real
//! setuid that keeps the identity (root -> root), a real identity change
//! (root -> nobody, which must alert) and a chrooted program writing
//! absolute paths (reported below its root, not as the host's /etc).
mod common;

use common::{default_rule_files, peregrine, rule_args};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small C program: `probe setuid UID` calls setuid(UID); `probe chroot
/// DIR` chroots into DIR (no exec) and changes files by absolute paths.
const PROBE: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "setuid") == 0)
        return setuid(atoi(argv[2])) != 0;
    if (argc == 3 && strcmp(argv[1], "chroot") == 0) {
        if (chroot(argv[2]) != 0 || chdir("/") != 0) return 2;
        int fd = open("/etc/pg-quiet", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return 3;
        close(fd);
        if (rename("/etc/pg-quiet", "/etc/pg-quiet2") != 0) return 4;
        if (unlink("/etc/pg-quiet2") != 0) return 5;
        fd = open("/usr/bin/pg-quiet", O_WRONLY | O_CREAT, 0755);
        if (fd < 0) return 6;
        close(fd);
        if (chmod("/usr/bin/pg-quiet", 04755) != 0) return 7;
        return unlink("/usr/bin/pg-quiet") != 0;
    }
    return 9;
}
"#;

const MAKEFILE: &str = "app: a.o b.o\n\tcc -o app a.o b.o\n\
%.o: %.c\n\tcc -c -o $@ $<\n\
check: app\n\t./app\n\ttrue\n\
clean:\n\trm -f app *.o\n";

fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("root/etc")).unwrap();
    std::fs::create_dir_all(dir.join("root/usr/bin")).unwrap();
    std::fs::write(dir.join("probe.c"), PROBE).unwrap();
    std::fs::write(dir.join("Makefile"), MAKEFILE).unwrap();
    std::fs::write(
        dir.join("a.c"),
        "int b(void);\nint main(void) { return b(); }\n",
    )
    .unwrap();
    std::fs::write(dir.join("b.c"), "int b(void) { return 0; }\n").unwrap();
    let st = Command::new("cc")
        .arg("-o")
        .arg(dir.join("pg-quiet-probe"))
        .arg(dir.join("probe.c"))
        .status()
        .expect("cc");
    assert!(st.success(), "cc builds the probe");
}

#[test]
fn root_make_and_setuid_noops_are_quiet_and_a_real_identity_change_alerts() {
    let dir = PathBuf::from(format!("/tmp/pg-quiet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    project(&dir);
    let d = dir.display();
    let script = format!(
        "set -e
        make -s -C {d} check
        make -s -C {d} clean
        make -s -C {d} -j2 app
        {d}/pg-quiet-probe setuid 0
        {d}/pg-quiet-probe setuid 65534
        {d}/pg-quiet-probe chroot {d}/root"
    );
    let sarif = dir.join("alerts.sarif");
    let out = peregrine()
        .args(["ci", "--fail-on", "emergency", "--sarif"])
        .arg(&sarif)
        .args(rule_args(&default_rule_files()))
        .args(["--", "sh", "-c", &script])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "the work succeeded:\n{err}");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    let alerts: Vec<(String, String)> = results
        .iter()
        .map(|r| {
            (
                r["ruleId"].as_str().unwrap().to_string(),
                r["message"]["text"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    // make (hundreds of seteuid(0) calls in a bigger build) and setuid(0)
    // as root keep the identity: nothing. setuid(65534) changes it: one.
    let identity: Vec<&(String, String)> = alerts
        .iter()
        .filter(|(r, _)| r == "Identity changed by an unusual program")
        .collect();
    assert_eq!(identity.len(), 1, "{alerts:#?}");
    assert!(
        identity[0].1.contains("from uid 0/0 to 65534/65534"),
        "{}",
        identity[0].1
    );
    // The chrooted program's /etc is the project's root/etc: no rule about
    // the host's /etc fires; its setuid bit is reported where it really is.
    let setuid: Vec<&(String, String)> = alerts
        .iter()
        .filter(|(r, _)| r == "Setuid or setgid bit set")
        .collect();
    assert_eq!(setuid.len(), 1, "{alerts:#?}");
    assert!(
        setuid[0]
            .1
            .contains(&format!("file={d}/root/usr/bin/pg-quiet ")),
        "{}",
        setuid[0].1
    );
    assert_eq!(alerts.len(), 2, "nothing else fired: {alerts:#?}");
}
