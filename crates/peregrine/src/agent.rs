//! `peregrine agent`.
use crate::cli::AgentArgs;
use anyhow::Result;
use peregrine_agent::config::{ServerSettings, Settings};
use peregrine_agent::sinks::SinkConfig;
use peregrine_agent::{AgentConfig, Wiring};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The settings from `--config`, if given (every error with file:line:col).
fn file_settings(args: &AgentArgs) -> Result<Settings> {
    if let Some(path) = &args.falco_config {
        let falco = peregrine_agent::falco_config::load(path)?;
        falco.report();
        return Ok(falco.settings);
    }
    let Some(path) = &args.config else {
        return Ok(Settings::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read configuration {}: {e}", path.display()))?;
    Settings::from_yaml(&path.display().to_string(), &text, path.parent()).map_err(|errs| {
        for e in &errs {
            eprintln!("{e}");
        }
        anyhow::anyhow!("{} error(s) in {}", errs.len(), path.display())
    })
}

/// Apply the command-line flags (the last word); an error names the flag.
fn apply_flags(s: &mut Settings, args: &AgentArgs) -> Result<()> {
    if !args.rules.is_empty() {
        s.rules = args.rules.clone();
    }
    if !args.outputs.is_empty() {
        s.outputs = args
            .outputs
            .iter()
            .map(|o| SinkConfig::parse(o).map_err(|e| anyhow::anyhow!("--output: {e}")))
            .collect::<Result<Vec<_>>>()?;
    }
    if let Some(d) = &args.docker_socket {
        s.docker_socket = d.clone();
    }
    if let Some(d) = &args.containerd_socket {
        s.containerd_socket = d.clone();
    }
    if let Some(r) = args.ring_mib {
        s.ring_mib = r;
    }
    if let Some(w) = args.workers {
        s.workers = w as usize;
    }
    if args.btf.is_some() {
        s.btf = args.btf.clone();
    }
    if let Some(a) = args.metrics_addr {
        s.metrics_addr = Some(a);
    }
    if args.no_metrics {
        s.metrics_addr = None;
    }
    if let Some(w) = args.dedup_window {
        s.dedup.window = w;
    }
    if !args.dedup_fields.is_empty() {
        s.dedup.fields = args.dedup_fields.clone();
    }
    if let Some(r) = args.rate_limit {
        s.dedup.rate_limit = r;
    }
    if args.enforce {
        s.response.mode = peregrine_agent::actions::Mode::Enforce;
    }
    apply_export_flags(s, args);
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
        s.server = Some(ServerSettings {
            url: url.clone(),
            token: Some(token),
            token_file: None,
            ca: args.server_ca.clone(),
            buffer: args.server_buffer.clone(),
        });
    } else if let (Some(server), Some(ca)) = (s.server.as_mut(), &args.server_ca) {
        server.ca = Some(ca.clone());
    }
    args.k8s_audit.apply(&mut s.k8s_audit);
    apply_profile_flags(s, args);
    Ok(())
}

/// `--profiles-dir`, `--profile-learn-secs`, `--profile-mode` (each turns
/// profiles on).
fn apply_profile_flags(s: &mut Settings, args: &AgentArgs) {
    use peregrine_detect::profile::StartMode;
    if args.profiles_dir.is_none()
        && args.profile_learn_secs.is_none()
        && args.profile_mode.is_none()
    {
        return;
    }
    let p = s.profiles.get_or_insert_with(Default::default);
    if let Some(d) = &args.profiles_dir {
        p.dir = Some(d.clone());
    }
    if let Some(n) = args.profile_learn_secs {
        p.stable_after_s = n;
    }
    match args.profile_mode.as_deref() {
        Some("monitor") => p.mode = StartMode::Monitor,
        Some(_) => p.mode = StartMode::Learn,
        None => {}
    }
}

/// `--metrics-otlp`, `--metrics-emf`, `--metrics-interval`.
fn apply_export_flags(s: &mut Settings, args: &AgentArgs) {
    use peregrine_agent::export::{emf::EmfSettings, otlp};
    let e = &mut s.metrics_export;
    if let Some(url) = &args.metrics_otlp {
        e.otlp = Some(otlp::OtlpMetricsSettings {
            endpoint: url.clone(),
            protocol: match args.metrics_otlp_protocol.as_deref() {
                Some("grpc") => otlp::Protocol::Grpc,
                _ => otlp::Protocol::Http,
            },
            headers: Default::default(),
        });
    }
    if let Some(path) = &args.metrics_emf {
        e.emf = Some(EmfSettings {
            path: path.clone(),
            namespace: e
                .emf
                .as_ref()
                .map_or("Peregrine".into(), |x| x.namespace.clone()),
        });
    }
    if let Some(i) = args.metrics_interval {
        e.interval_s = i;
    }
}

/// The effective settings: defaults < file < environment < flags.
pub fn effective_settings(args: &AgentArgs) -> Result<Settings> {
    settings_with_env(args, |k| std::env::var(k).ok())
}

/// [`effective_settings`] with the environment given.
fn settings_with_env(args: &AgentArgs, env: impl Fn(&str) -> Option<String>) -> Result<Settings> {
    let mut s = file_settings(args)?;
    s.apply_env(env).map_err(|e| anyhow::anyhow!(e))?;
    apply_flags(&mut s, args)?;
    s.rules = crate::rules::rule_paths(&s.rules, args.no_default_rules)?;
    Ok(s)
}

/// The agent's configuration: the effective settings, wired with the
/// server link they name and the live anomaly model (`--model`).
pub fn effective_config(args: &AgentArgs) -> Result<AgentConfig> {
    let settings = effective_settings(args)?;
    let server = settings
        .server
        .as_ref()
        .map(|s| s.link())
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut wiring = Wiring {
        server,
        ..Wiring::default()
    };
    crate::model_live::wire(&args.model, &settings.docker_socket, &mut wiring)?;
    Ok(AgentConfig { settings, wiring })
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }

    #[test]
    fn defaults_then_file_then_environment_then_flags() {
        let dir = std::env::temp_dir().join(format!("pg-precedence-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("agent.yaml");
        std::fs::write(
            &file,
            "rules: [/file.yaml]\nring_mib: 32\nmax_processes: 1000\nmax_containers: 50\n",
        )
        .unwrap();
        let args = |extra: &[&str]| {
            let mut argv = vec!["pg", "--config", file.to_str().unwrap()];
            argv.extend_from_slice(extra);
            Cli::parse_from(argv).agent
        };
        let env = |k: &str| match k {
            "PEREGRINE_RING_MIB" => Some("64".to_string()),
            "PEREGRINE_MAX_PROCESSES" => Some("2000".to_string()),
            _ => None,
        };
        let s = settings_with_env(&args(&["--ring-mib", "128"]), env).unwrap();
        assert_eq!(s.ring_mib, 128, "a flag beats the environment");
        assert_eq!(s.max_processes, 2000, "the environment beats the file");
        assert_eq!(s.max_containers, 50, "the file beats the default");
        assert_eq!(s.rules, vec![std::path::PathBuf::from("/file.yaml")]);
        assert_eq!(
            s.watch_rules,
            Settings::default().watch_rules,
            "the default stands"
        );
        let e = settings_with_env(&args(&["--output", "ftp://x"]), |_| None).unwrap_err();
        assert!(e.to_string().starts_with("--output: invalid sink"), "{e}");
        let e = settings_with_env(&args(&[]), |k| {
            (k == "PEREGRINE_RING_MIB").then(|| "3".to_string())
        })
        .unwrap_err();
        assert!(e.to_string().starts_with("PEREGRINE_RING_MIB: "), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }
}
