//! `peregrine`: runtime security for Linux.
mod agent;
mod capture;
mod cli;
mod filter;
mod rules;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PEREGRINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level)),
        )
        .init();
    let result = match cli.command {
        cli::Command::Capture(args) => capture::run(args),
        cli::Command::Rules(cmd) => rules::run(cmd),
        cli::Command::Agent(args) => agent::run(args),
    };
    if let Err(e) = result {
        eprintln!("peregrine: error: {e:#}");
        std::process::exit(1);
    }
}
