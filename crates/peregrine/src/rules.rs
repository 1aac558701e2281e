//! `peregrine rules …`.
use crate::cli::{RulesCommand, ValidateArgs};
use anyhow::{bail, Result};
use peregrine_rules::Engine;
use std::path::{Path, PathBuf};

/// Run a rules sub-command.
pub fn run(cmd: RulesCommand) -> Result<()> {
    match cmd {
        RulesCommand::Validate(args) => validate(args),
        RulesCommand::Test(args) => test(args),
        RulesCommand::DumpDefaults { dir, force } => dump_defaults(&dir, force),
        RulesCommand::Fields { markdown } => {
            fields(markdown);
            Ok(())
        }
        RulesCommand::ImportSigma {
            dirs,
            output,
            report,
        } => crate::sigma::import(&dirs, output.as_deref(), report.as_deref()),
    }
}

/// The rules paths to load: those given, else the embedded default ruleset
/// (unless `no_defaults`, then it is an error).
pub fn rule_paths(given: &[PathBuf], no_defaults: bool) -> Result<Vec<PathBuf>> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    if no_defaults {
        bail!(
            "no rule files (--no-default-rules): give --rules PATH, rules: in --config, or PEREGRINE_RULES"
        );
    }
    tracing::info!("no rule files given: using the embedded default ruleset");
    Ok(vec![peregrine_rules::sources::builtin_all()])
}

/// Write the embedded default ruleset into `dir`; existing files are an
/// error (nothing is written) unless `force`.
fn dump_defaults(dir: &Path, force: bool) -> Result<()> {
    use anyhow::Context;
    use peregrine_rules::sources::DEFAULTS;
    if !force {
        let existing: Vec<String> = DEFAULTS
            .iter()
            .map(|e| dir.join(e.name))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            bail!(
                "refusing to overwrite {} existing file(s) (use --force): {}",
                existing.len(),
                existing.join(", ")
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for e in DEFAULTS {
        let path = dir.join(e.name);
        std::fs::write(&path, e.text).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    eprintln!(
        "{} files written; load them with --rules {}",
        DEFAULTS.len(),
        dir.display()
    );
    Ok(())
}

/// Load rule files, printing every error (and warnings when asked) with its
/// location; the error says how many there were.
pub fn load_engine(files: &[std::path::PathBuf], warnings: bool) -> Result<Engine> {
    Engine::from_files(files).map_err(|e| {
        let errors = e.diagnostics.iter().filter(|d| d.is_error()).count();
        for d in e.diagnostics.iter().filter(|d| d.is_error() || warnings) {
            eprintln!("{d}");
        }
        anyhow::anyhow!("{errors} error(s); nothing loaded")
    })
}

fn load(args: &ValidateArgs) -> Result<Engine> {
    load_engine(&args.files, args.warnings)
}

fn test(args: ValidateArgs) -> Result<()> {
    let engine = load(&args)?;
    let (outcomes, diags) = peregrine_rules::ruletest::run_all(&engine);
    for d in &diags {
        eprintln!("{d}");
    }
    let mut failed = 0;
    for o in &outcomes {
        if o.passed() {
            println!("PASS  {} :: {}", o.rule, o.name);
        } else {
            failed += 1;
            let what = if o.expect {
                "expected to fire, did not"
            } else {
                "fired, expected not to"
            };
            println!(
                "FAIL  {} :: {} ({what}) at {}:{}",
                o.rule, o.name, o.at.source.name, o.at.pos.line
            );
        }
    }
    println!(
        "rule tests: {} passed, {failed} failed",
        outcomes.len() - failed
    );
    if failed > 0 || !diags.is_empty() {
        bail!("{failed} rule test(s) failed, {} malformed", diags.len());
    }
    Ok(())
}

fn fields(markdown: bool) {
    use peregrine_rules::fields::{ArgKind, FieldType, FIELDS};
    if markdown {
        println!("| field | type | argument | description |");
        println!("|---|---|---|---|");
    }
    for f in FIELDS
        .iter()
        .chain(peregrine_rules::fields::k8saudit::K8S_AUDIT_FIELDS)
    {
        let ty = match f.ty {
            FieldType::Str => "string",
            FieldType::Num => "number",
            FieldType::Bool => "bool",
            FieldType::Ip => "ip",
        };
        let arg = match f.arg {
            ArgKind::None => "",
            ArgKind::OptIndex => "[N] optional",
            ArgKind::Key => "[key] required",
            ArgKind::OptKey => "[key] optional",
            ArgKind::ArgName => ".NAME or [N]",
        };
        if markdown {
            println!(
                "| `{}` | {ty} | {arg} | {} |",
                f.name,
                f.desc.replace('|', "\\|")
            );
        } else {
            println!("{:<45} {ty:<7} {arg:<15} {}", f.name, f.desc);
        }
    }
}

fn validate(args: ValidateArgs) -> Result<()> {
    if args.files.is_empty() {
        bail!("no rule files given");
    }
    let engine = load(&args)?;
    if args.warnings {
        for w in engine.warnings() {
            eprintln!("{w}");
        }
    }
    for (file, rules, macros, lists) in engine.file_counts() {
        println!("{file}: {rules} rules, {macros} macros, {lists} lists");
    }
    let s = engine.stats();
    println!(
        "ok: {} rules ({} enabled), {} macros, {} lists; {} warnings",
        s.rules,
        s.enabled,
        s.macros,
        s.lists,
        engine.warnings().len()
    );
    if engine.audit_rule_count() > 0 {
        println!("k8s_audit: {} rules", engine.audit_rule_count());
    }
    let seqs = engine.sequences().list();
    if !seqs.is_empty() {
        let steps: usize = seqs.iter().map(|s| s.steps.len()).sum();
        println!("ok: {} sequence rules ({steps} steps)", seqs.len());
    }
    let kinds: Vec<&str> = engine.required_kinds().iter().map(|k| k.name()).collect();
    println!("kernel: event kinds {}", kinds.join(","));
    use peregrine_rules::analysis::{rules_needing_every_open, Access};
    for (access, what) in [
        (Access::Read, "read-only opens"),
        (Access::Write, "opens for writing"),
    ] {
        match engine.open_path_prefixes(access) {
            Some(p) => println!(
                "kernel: {what} only below {} path prefixes: {}",
                p.len(),
                p.join(" ")
            ),
            None => println!(
                "kernel: every one of the {what}; rules that may match any path: {}",
                rules_needing_every_open(engine.rules(), access).join("; ")
            ),
        }
    }
    Ok(())
}
