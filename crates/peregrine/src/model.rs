//! `peregrine model`: train and evaluate the syscall-sequence anomaly model
//! on ADFA-LD (one-class protocol, see docs/DETECTION.md).
use anyhow::Context;
use clap::{Args, Subcommand};
use peregrine_detect::model::{self, eval, trace::Adfa, Kind, TrainOptions};
use std::path::PathBuf;

/// `peregrine model …`
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Train on ADFA-LD's normal training traces only.
    Train(TrainArgs),
    /// Score ADFA-LD's validation (normal) and attack traces; print ROC AUC
    /// with a bootstrap interval, detection rates and per-family results.
    Eval(EvalArgs),
}

/// `peregrine model train`
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// ADFA-LD directory (holding ADFA-LD/ or the *_Data_Master directories,
    /// and adfa_i386_to_x86_64.tsv).
    #[arg(
        long = "adfa-ld",
        value_name = "DIR",
        required_unless_present = "traces"
    )]
    pub adfa_ld: Option<PathBuf>,
    /// Instead of ADFA-LD: normal traces in x86_64 numbering (what the live
    /// sensor streams), one `*.txt` file per trace of whitespace-separated
    /// syscall numbers.
    #[arg(long, value_name = "DIR", conflicts_with = "adfa_ld")]
    pub traces: Option<PathBuf>,
    /// Where to write the model.
    #[arg(short = 'o', long = "output", value_name = "MODEL")]
    pub output: PathBuf,
    /// Model kind: `ngram` (STIDE-style baseline) or `kn` (Kneser-Ney LM).
    #[arg(long, default_value = "kn")]
    pub kind: Kind,
}

/// `peregrine model eval`
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// ADFA-LD directory.
    #[arg(long = "adfa-ld", value_name = "DIR")]
    pub adfa_ld: PathBuf,
    /// The model file (from `peregrine model train`).
    #[arg(long, value_name = "MODEL")]
    pub model: PathBuf,
    /// Where to write the per-trace scores (`trace,label,score`).
    #[arg(long, value_name = "SCORES.csv")]
    pub scores: PathBuf,
    /// Bootstrap resamples for the AUC confidence interval.
    #[arg(long, default_value_t = 1000)]
    pub bootstrap: usize,
    /// Bootstrap seed.
    #[arg(long, default_value_t = 2013)]
    pub seed: u64,
}

/// Runs a `model` sub-command.
pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Train(a) => train(a),
        ModelCommand::Eval(a) => evaluate(a),
    }
}

fn train(a: TrainArgs) -> anyhow::Result<()> {
    let traces = match (&a.traces, &a.adfa_ld) {
        (Some(dir), _) => model::trace::load_native(dir)?,
        (None, Some(dir)) => Adfa::load_training(dir)?,
        (None, None) => anyhow::bail!("give --adfa-ld DIR or --traces DIR"),
    };
    let opts = TrainOptions {
        kind: a.kind,
        ..TrainOptions::default()
    };
    let (m, report) = model::train(&traces, &opts);
    model::save(&m, &a.output)?;
    println!(
        "trained {} (order {}, window {}) on {} normal traces ({} fit + {} held out) in {:.1} s",
        m.kind_name(),
        m.order(),
        m.window,
        traces.len(),
        report.fit,
        report.held_out,
        report.seconds
    );
    for (order, h) in &report.order_search {
        println!("  order {order}: held-out cross-entropy {h:.4} nats/call");
    }
    println!(
        "alert threshold (highest held-out normal trace score): {:.4}",
        m.threshold
    );
    println!("wrote {}", a.output.display());
    Ok(())
}

fn evaluate(a: EvalArgs) -> anyhow::Result<()> {
    let m = model::load(&a.model)?;
    let data = Adfa::load(&a.adfa_ld)?;
    let e = eval::evaluate(&m, &data.validation, &data.attack, a.bootstrap, a.seed);
    let file = std::fs::File::create(&a.scores)
        .with_context(|| format!("cannot create {}", a.scores.display()))?;
    e.write_csv(std::io::BufWriter::new(file))
        .with_context(|| format!("cannot write {}", a.scores.display()))?;
    println!(
        "model: {} (order {}, window {}, trained on {} traces) from {}",
        m.kind_name(),
        m.order(),
        m.window,
        m.trained_on,
        a.model.display()
    );
    print!("{}", e.render());
    println!("scores: {}", a.scores.display());
    Ok(())
}
