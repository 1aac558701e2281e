//! `peregrine rules …`.
use crate::cli::{RulesCommand, ValidateArgs};
use anyhow::{bail, Result};
use peregrine_rules::Engine;

/// Run a rules sub-command.
pub fn run(cmd: RulesCommand) -> Result<()> {
    match cmd {
        RulesCommand::Validate(args) => validate(args),
    }
}

fn validate(args: ValidateArgs) -> Result<()> {
    match Engine::from_files(&args.files) {
        Ok(engine) => {
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
            Ok(())
        }
        Err(e) => {
            let errors = e.diagnostics.iter().filter(|d| d.is_error()).count();
            for d in &e.diagnostics {
                if d.is_error() || args.warnings {
                    eprintln!("{d}");
                }
            }
            bail!("{errors} error(s); nothing loaded")
        }
    }
}
