//! Lists the default ruleset compiled into the binary: Falco's stable rules
//! file, then every `rules/peregrine/*.yaml` in name order (the order
//! `scripts/run.sh` loads them in). Writes `$OUT_DIR/default_rules.rs`, one
//! `(name, include_str!(path))` per file.
use std::path::{Path, PathBuf};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let falco = root.join("falco-upstream/falco_rules.yaml");
    let ours = root.join("peregrine");
    println!("cargo:rerun-if-changed={}", falco.display());
    println!("cargo:rerun-if-changed={}", ours.display());
    let mut files: Vec<(String, PathBuf)> = vec![("falco_rules.yaml".into(), falco)];
    let mut mine: Vec<PathBuf> = std::fs::read_dir(&ours)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", ours.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    mine.sort();
    for p in mine {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        files.push((format!("peregrine-{name}"), p));
    }
    let mut out = String::from("&[\n");
    for (name, path) in &files {
        let path = path
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        out.push_str(&format!(
            "    Embedded {{ name: {name:?}, text: include_str!({:?}) }},\n",
            path.display().to_string()
        ));
    }
    out.push_str("]\n");
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("default_rules.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("{}: {e}", dest.display()));
}
