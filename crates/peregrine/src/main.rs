//! `peregrine`: runtime security for Linux.
mod agent;
mod capture;
mod ci;
mod ci_baseline;
mod cli;
mod filter;
mod k8s_audit;
mod model;
mod model_live;
mod profile;
mod record;
mod rules;
mod run;
mod server;
mod sigma;
mod trace;

use clap::Parser;

fn config_check(file: std::path::PathBuf) -> anyhow::Result<()> {
    use anyhow::Context;
    let args = cli::AgentArgs {
        config: Some(file.clone()),
        falco_config: None,
        rules: vec![],
        no_default_rules: false,
        outputs: vec![],
        docker_socket: None,
        containerd_socket: None,
        ring_mib: None,
        workers: None,
        btf: None,
        ready: false,
        metrics_addr: None,
        no_metrics: false,
        dedup_window: None,
        dedup_fields: vec![],
        rate_limit: None,
        enforce: false,
        metrics_otlp: None,
        metrics_otlp_protocol: None,
        metrics_emf: None,
        metrics_interval: None,
        server: None,
        server_token: None,
        server_ca: None,
        server_buffer: std::path::PathBuf::new(),
        k8s_audit: Default::default(),
        profiles_dir: None,
        profile_learn_secs: None,
        profile_mode: None,
        model: Default::default(),
    };
    let cfg = agent::effective_config(&args)?.settings;
    let engine = rules::load_engine(&cfg.rules, false)
        .with_context(|| format!("the rules named by {} do not load", file.display()))?;
    println!("{}: ok", file.display());
    println!(
        "  rules: {} files, {} enabled rules",
        engine.file_counts().len(),
        engine.stats().enabled
    );
    println!("  outputs: {}", cfg.outputs.len());
    match cfg.metrics_addr {
        Some(a) => println!("  metrics: http://{a}/metrics"),
        None => println!("  metrics: off"),
    }
    println!(
        "  dedup window: {}s, rate limit: {}/s per rule",
        cfg.dedup.window, cfg.dedup.rate_limit
    );
    Ok(())
}

fn main() {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PEREGRINE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log_level)),
        )
        .init();
    // Commands whose output is read by other programs end quietly when the
    // reader goes away (`peregrine rules fields | head`), like other tools;
    // long-running ones keep SIGPIPE ignored and report a closed output.
    if matches!(
        cli.command,
        cli::Command::Rules(_)
            | cli::Command::Capture(_)
            | cli::Command::Config(_)
            | cli::Command::Replay(_)
    ) {
        // SAFETY: restoring the default disposition of one signal at start-up.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        cli::Command::Capture(args) => capture::run(args),
        cli::Command::Rules(cmd) => rules::run(cmd),
        cli::Command::Agent(args) => agent::run(args),
        cli::Command::Record(args) => record::record(args),
        cli::Command::Ci(args) => ci::run(args),
        cli::Command::Trace(args) => trace::run(args),
        cli::Command::Replay(args) => record::replay(args),
        cli::Command::Config(cli::ConfigCommand::Check { file }) => config_check(file),
        cli::Command::Server(args) => server::run(args),
        cli::Command::Run(args) => run::run(args),
        cli::Command::Model(cmd) => model::run(cmd),
        cli::Command::Profile(cmd) => profile::run(cmd),
    };
    if let Err(e) = result {
        eprintln!("peregrine: error: {e:#}");
        std::process::exit(1);
    }
}
