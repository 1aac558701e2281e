//! `peregrine agent`.
use crate::cli::AgentArgs;
use anyhow::Result;
use peregrine_agent::sinks::SinkConfig;
use peregrine_agent::AgentConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Build the effective configuration: defaults < file < environment < flags.
pub fn effective_config(args: &AgentArgs) -> Result<AgentConfig> {
    let mut cfg = AgentConfig {
        metrics_addr: Some("127.0.0.1:9376".parse().expect("valid address")),
        ..AgentConfig::default()
    };
    if let Some(path) = &args.config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read configuration {}: {e}", path.display()))?;
        if let Err(errs) = peregrine_agent::config::apply_file(
            &mut cfg,
            &path.display().to_string(),
            &text,
            path.parent(),
        ) {
            for e in &errs {
                eprintln!("{e}");
            }
            anyhow::bail!("{} error(s) in {}", errs.len(), path.display());
        }
    }
    peregrine_agent::config::apply_env(&mut cfg, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!(e))?;
    if !args.rules.is_empty() {
        cfg.rules = args.rules.clone();
    }
    if !args.outputs.is_empty() {
        cfg.sinks = args
            .outputs
            .iter()
            .map(|s| SinkConfig::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
    }
    if let Some(d) = &args.docker_socket {
        cfg.docker_socket = d.clone();
    }
    if let Some(d) = &args.containerd_socket {
        cfg.containerd_socket = d.clone();
    }
    if let Some(r) = args.ring_mib {
        cfg.ring_mib = r;
    }
    if let Some(w) = args.workers {
        cfg.workers = w as usize;
    }
    if args.btf.is_some() {
        cfg.btf = args.btf.clone();
    }
    if let Some(a) = args.metrics_addr {
        cfg.metrics_addr = Some(a);
    }
    if args.no_metrics {
        cfg.metrics_addr = None;
    }
    if let Some(w) = args.dedup_window {
        cfg.dedup.window = Duration::from_secs(w);
    }
    if !args.dedup_fields.is_empty() {
        cfg.dedup.key_fields = args.dedup_fields.clone();
    }
    if let Some(r) = args.rate_limit {
        cfg.dedup.rate_per_rule = r;
    }
    if let Some(url) = &args.server {
        let token = args.server_token.clone().ok_or_else(|| {
            anyhow::anyhow!("--server needs --server-token (or PEREGRINE_SERVER_TOKEN)")
        })?;
        let plain_remote = peregrine_agent::report::check_server_url(url)
            .map_err(|e| anyhow::anyhow!("--server {e}"))?;
        if plain_remote {
            tracing::warn!(
                "--server {url} is plain HTTP: the token and alerts cross the network unencrypted"
            );
        }
        cfg.server = Some(peregrine_agent::report::ServerLink {
            url: url.clone(),
            token,
            ca_file: args.server_ca.clone(),
            buffer_dir: args.server_buffer.clone(),
            heartbeat: Duration::from_secs(10),
        });
    } else if let (Some(link), Some(ca)) = (cfg.server.as_mut(), &args.server_ca) {
        link.ca_file = Some(ca.clone());
    }
    if cfg.rules.is_empty() {
        anyhow::bail!("no rule files: give --rules FILE, rules: in --config, or PEREGRINE_RULES");
    }
    Ok(cfg)
}

/// Stop and reload flags driven by SIGINT/SIGTERM and SIGHUP.
pub fn signal_flags() -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    crate::capture::install_stop_handlers();
    crate::capture::install_reload_handler();
    let stop = Arc::new(AtomicBool::new(false));
    let reload = Arc::new(AtomicBool::new(false));
    let (watch, watch_reload) = (stop.clone(), reload.clone());
    std::thread::spawn(move || loop {
        if crate::capture::stop_requested() {
            watch.store(true, Ordering::SeqCst);
            break;
        }
        if crate::capture::reload_requested() {
            watch_reload.store(true, Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_millis(50));
    });
    (stop, reload)
}

/// Run the agent until SIGINT/SIGTERM.
pub fn run(args: AgentArgs) -> Result<()> {
    let cfg = effective_config(&args)?;
    let (stop, reload) = signal_flags();
    let ready = args.ready;
    let stats = peregrine_agent::run_with_reload(&cfg, stop, reload, |metrics| {
        if let Some(addr) = metrics {
            tracing::info!("metrics on http://{addr}/metrics");
        }
        if ready {
            match metrics {
                Some(addr) => eprintln!("ready metrics={addr}"),
                None => eprintln!("ready"),
            }
        }
    })?;
    tracing::info!(
        events = stats.events,
        alerts = stats.alerts,
        kernel_drops = stats.kernel_drops,
        "agent stopped"
    );
    if stats.kernel_drops > 0 {
        eprintln!(
            "peregrine: warning: {} events dropped in the kernel",
            stats.kernel_drops
        );
    }
    Ok(())
}
