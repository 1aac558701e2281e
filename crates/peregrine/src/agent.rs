//! `peregrine agent`.
use crate::cli::AgentArgs;
use anyhow::Result;
use peregrine_agent::sinks::SinkConfig;
use peregrine_agent::AgentConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Run the agent until SIGINT/SIGTERM.
pub fn run(args: AgentArgs) -> Result<()> {
    let sinks = args
        .outputs
        .iter()
        .map(|s| SinkConfig::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let cfg = AgentConfig {
        rules: args.rules,
        sinks,
        docker_socket: args.docker_socket,
        ring_mib: args.ring_mib,
        btf: args.btf,
        metrics_addr: if args.no_metrics {
            None
        } else {
            Some(args.metrics_addr)
        },
        dedup: peregrine_agent::dedup::DedupConfig {
            window: Duration::from_secs(args.dedup_window),
            key_fields: args.dedup_fields,
            rate_per_rule: args.rate_limit,
        },
        ..AgentConfig::default()
    };
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
