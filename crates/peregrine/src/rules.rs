//! `peregrine rules …`.
use crate::cli::{RulesCommand, ValidateArgs};
use anyhow::{bail, Result};
use peregrine_rules::Engine;

/// Run a rules sub-command.
pub fn run(cmd: RulesCommand) -> Result<()> {
    match cmd {
        RulesCommand::Validate(args) => validate(args),
        RulesCommand::Test(args) => test(args),
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
    for f in FIELDS {
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
