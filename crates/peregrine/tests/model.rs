//! `peregrine model train` + `model eval` on a fixed subset of ADFA-LD
//! (Creech & Hu 2013): the first 300 training traces, every 8th validation
//! trace and the attack directories `*_1` and `*_2` of each family.
mod common;

use common::{peregrine, repo, run_ok};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed ADFA-LD subset (crates/peregrine-detect/testdata, with its
/// README), unpacked into `dst`; returns the ADFA-LD directory and the number
/// of (validation, attack) traces in it. Always the same traces, wherever
/// the repository is checked out.
fn fixture(dst: &Path) -> (PathBuf, usize, usize) {
    let tarball = repo("crates/peregrine-detect/testdata/adfa-ld-subset.tar.gz");
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dst)
        .status()
        .unwrap();
    assert!(st.success(), "unpacking {}", tarball.display());
    let root = dst.join("adfa-ld");
    let count = |d: &Path| std::fs::read_dir(d).unwrap().count();
    let nval = count(&root.join("ADFA-LD/Validation_Data_Master"));
    let natt = std::fs::read_dir(root.join("ADFA-LD/Attack_Data_Master"))
        .unwrap()
        .map(|e| count(&e.unwrap().path()))
        .sum();
    (root, nval, natt)
}

/// `peregrine ARGS…`, asserting it succeeded; its stdout.
fn peregrine_ok(args: &[&str]) -> String {
    String::from_utf8_lossy(&run_ok(peregrine().args(args)).stdout).into_owned()
}

/// The AUC printed on the `ROC AUC:` line.
fn printed_auc(report: &str) -> f64 {
    let line = report
        .lines()
        .find(|l| l.starts_with("ROC AUC: "))
        .expect("an AUC line");
    line["ROC AUC: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Reads the CSV and recomputes the AUC from it (all pairs, ties one half).
fn csv_auc(csv: &Path, rows: usize) -> f64 {
    let text = std::fs::read_to_string(csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("trace,label,score"));
    let (mut pos, mut neg) = (Vec::new(), Vec::new());
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 3, "{l}");
        let s: f64 = f[2].parse().unwrap();
        assert!(s.is_finite() && s >= 0.0, "{l}");
        match f[1] {
            "attack" => pos.push(s),
            "normal" => neg.push(s),
            other => panic!("label {other}"),
        }
    }
    assert_eq!(pos.len() + neg.len(), rows);
    let mut wins = 0.0;
    for p in &pos {
        for n in &neg {
            wins += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (pos.len() * neg.len()) as f64
}

#[test]
fn train_and_eval_on_a_fixed_adfa_ld_subset() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, nval, natt) = fixture(tmp.path());
    assert!(nval > 500 && natt > 100, "{nval} {natt}");
    let d = data.to_str().unwrap();
    let mut aucs = Vec::new();
    for kind in ["kn", "ngram"] {
        let model = tmp.path().join(format!("{kind}.model"));
        let csv = tmp.path().join(format!("{kind}.csv"));
        let (m, c) = (model.to_str().unwrap(), csv.to_str().unwrap());
        let t = peregrine_ok(&["model", "train", "--adfa-ld", d, "-o", m, "--kind", kind]);
        assert!(
            t.contains("on 300 normal traces (240 fit + 60 held out)"),
            "{t}"
        );
        let r = peregrine_ok(&[
            "model",
            "eval",
            "--adfa-ld",
            d,
            "--model",
            m,
            "--scores",
            c,
            "--bootstrap",
            "200",
        ]);
        assert!(
            r.contains(&format!("scored: {nval} normal, {natt} attack traces")),
            "{r}"
        );
        assert!(r.contains("200 stratified bootstrap resamples"), "{r}");
        assert!(r.contains("DR@1%FP: ") && r.contains("DR@5%FP: "), "{r}");
        for fam in [
            "Adduser",
            "Hydra_FTP",
            "Hydra_SSH",
            "Java_Meterpreter",
            "Meterpreter",
            "Web_Shell",
        ] {
            assert!(r.lines().any(|l| l.starts_with(fam)), "no {fam} row: {r}");
        }
        let auc = printed_auc(&r);
        assert!(
            (csv_auc(&csv, nval + natt) - auc).abs() < 1e-4,
            "CSV disagrees with {auc}"
        );
        aucs.push(auc);
    }
    // A broken model (constant or random scores) sits near 0.5.
    assert!(aucs[0] > 0.8, "Kneser-Ney AUC {} on the subset", aucs[0]);
    assert!(
        aucs[1] > 0.55,
        "n-gram baseline AUC {} on the subset",
        aucs[1]
    );
}

#[test]
fn a_corrupt_model_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _, _) = fixture(tmp.path());
    let bad = tmp.path().join("bad.model");
    std::fs::write(&bad, b"PRGNMODL\x01\x00\x02\x00garbage").unwrap();
    let out = peregrine()
        .args(["model", "eval", "--adfa-ld", data.to_str().unwrap()])
        .args([
            "--model",
            bad.to_str().unwrap(),
            "--scores",
            tmp.path().join("s.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("model file {}", bad.display())) && err.contains("header"),
        "{err}"
    );
}
