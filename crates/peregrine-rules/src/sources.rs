//! Where rules come from: files, directories (every `*.yaml`/`*.yml` in
//! it, in lexical order, not recursive, as Falco reads a directory named in
//! `rules_files`) and the default ruleset compiled into the binary.
//!
//! The embedded files are named `builtin:NAME` (`builtin:falco_rules.yaml`,
//! `builtin:peregrine-00-base.yaml`, …); the path `builtin:` alone stands
//! for all of them in order. Diagnostics in an embedded file name it and the
//! line like any other file.

use std::path::{Path, PathBuf};

/// One rules file compiled into the binary.
#[derive(Debug)]
pub struct Embedded {
    /// File name (without the `builtin:` prefix); `rules dump-defaults`
    /// writes it under this name.
    pub name: &'static str,
    /// Its text.
    pub text: &'static str,
}

/// The default ruleset, in load order: Falco's stable rules, then
/// Peregrine's own (`rules/peregrine/*.yaml`), listed at build time.
pub const DEFAULTS: &[Embedded] = include!(concat!(env!("OUT_DIR"), "/default_rules.rs"));

/// Prefix naming an embedded file.
pub const BUILTIN: &str = "builtin:";

/// The rules path standing for the whole default ruleset.
pub fn builtin_all() -> PathBuf {
    PathBuf::from(BUILTIN)
}

/// One file to load.
#[derive(Debug, Clone)]
pub enum RuleFile {
    /// A file on disk.
    Disk(PathBuf),
    /// A file compiled into the binary.
    Builtin(&'static Embedded),
}

impl RuleFile {
    /// The name diagnostics and statistics use.
    pub fn name(&self) -> String {
        match self {
            RuleFile::Disk(p) => p.display().to_string(),
            RuleFile::Builtin(e) => format!("{BUILTIN}{}", e.name),
        }
    }
}

/// True for `*.yaml` and `*.yml`.
fn is_yaml(p: &Path) -> bool {
    p.extension().is_some_and(|x| x == "yaml" || x == "yml")
}

/// The files a rules path stands for: an embedded name, a directory's
/// `*.yaml`/`*.yml` regular files (symlinks followed) in lexical order, or
/// the file itself (whatever its extension). A path that does not exist, an
/// unknown embedded name or an unreadable directory is an error naming it.
pub fn expand(path: &Path) -> Result<Vec<RuleFile>, String> {
    if let Some(name) = path.to_str().and_then(|s| s.strip_prefix(BUILTIN)) {
        if name.is_empty() {
            return Ok(DEFAULTS.iter().map(RuleFile::Builtin).collect());
        }
        return DEFAULTS
            .iter()
            .find(|e| e.name == name)
            .map(|e| vec![RuleFile::Builtin(e)])
            .ok_or_else(|| {
                let known: Vec<&str> = DEFAULTS.iter().map(|e| e.name).collect();
                format!(
                    "no embedded rules file '{name}' (embedded: {})",
                    known.join(", ")
                )
            });
    }
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!(
                "cannot read {}: the rules path does not exist",
                path.display()
            )
        }
        _ => format!("cannot read rules path {}: {e}", path.display()),
    })?;
    if !meta.is_dir() {
        return Ok(vec![RuleFile::Disk(path.to_path_buf())]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| format!("cannot list rules directory {}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_yaml(p) && std::fs::metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    files.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    Ok(files.into_iter().map(RuleFile::Disk).collect())
}

/// The paths on disk whose change should reload the rules: every file the
/// paths expand to, and the directories themselves (a file added or
/// removed changes them). Paths that do not expand are kept as given.
pub fn watched(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.to_str().is_some_and(|s| s.starts_with(BUILTIN)) {
            continue;
        }
        if p.is_dir() {
            out.push(p.clone());
        }
        match expand(p) {
            Ok(files) => out.extend(files.into_iter().filter_map(|f| match f {
                RuleFile::Disk(d) => Some(d),
                RuleFile::Builtin(_) => None,
            })),
            Err(_) => out.push(p.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_start_with_falco_then_ours_in_name_order() {
        assert_eq!(DEFAULTS[0].name, "falco_rules.yaml");
        assert_eq!(DEFAULTS[1].name, "peregrine-00-base.yaml");
        let names: Vec<&str> = DEFAULTS.iter().map(|e| e.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(
            names, sorted,
            "dumped to a directory they load in the same order"
        );
        assert!(DEFAULTS
            .iter()
            .all(|e| e.text.contains("- rule:") || e.text.contains("- macro:")));
    }

    #[test]
    fn a_directory_is_its_yaml_files_in_lexical_order() {
        let dir = std::env::temp_dir().join(format!("pg-sources-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub.yaml")).unwrap();
        for f in ["b.yml", "a.yaml", "10.yaml", "c.txt", "sub.yaml/inner.yaml"] {
            std::fs::write(dir.join(f), "[]").unwrap();
        }
        let names: Vec<String> = expand(&dir)
            .unwrap()
            .iter()
            .map(|f| f.name().rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["10.yaml", "a.yaml", "b.yml"]);
        let e = expand(&dir.join("missing.yaml")).unwrap_err();
        assert!(
            e.contains("missing.yaml: the rules path does not exist"),
            "{e}"
        );
        let w = watched(std::slice::from_ref(&dir));
        assert_eq!(w.len(), 4, "the directory and its three files: {w:?}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn embedded_rules_load_and_are_located_by_file_and_line() {
        let engine = crate::Engine::from_files(&[builtin_all()]).expect("the defaults load");
        let rule = "Read sensitive file untrusted";
        let r = engine.rules().iter().find(|r| r.name == rule).unwrap();
        assert_eq!(r.at.source.name, "builtin:falco_rules.yaml");
        let line = DEFAULTS[0]
            .text
            .lines()
            .position(|l| l.trim() == format!("- rule: {rule}"))
            .unwrap()
            + 1;
        assert_eq!(r.at.pos.line, line);
    }

    #[test]
    fn builtin_names_resolve_and_unknown_ones_are_named() {
        assert_eq!(expand(Path::new("builtin:")).unwrap().len(), DEFAULTS.len());
        let one = expand(Path::new("builtin:falco_rules.yaml")).unwrap();
        assert_eq!(one[0].name(), "builtin:falco_rules.yaml");
        let e = expand(Path::new("builtin:nope.yaml")).unwrap_err();
        assert!(
            e.contains("'nope.yaml'") && e.contains("falco_rules.yaml"),
            "{e}"
        );
    }
}
