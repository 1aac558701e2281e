//! The agent's data path, wired from its stages (see [`crate::stages`]):
//! sensor thread → state stage (process table, containers; this thread) →
//! detection (rule workers partitioned by thread-group id) → sink thread
//! (routing, response, delivery).
//!
//! Bounded channels between the stages: when rules or sinks fall behind, the
//! sensor thread blocks, the kernel ring fills and drops are counted there
//! (never silently in user space).

use crate::actions::block::BlockStage;
use crate::alert::IdGen;
use crate::config::Settings;
use crate::context::HostInfo;
use crate::metrics::Metrics;
use crate::report::AgentStatus;
use crate::sinks::{Sink, SinkError};
use crate::stages::audit::AuditStage;
use crate::stages::detect::DetectStage;
use crate::stages::respond::Responder;
use crate::stages::route::Router;
use crate::stages::sensor::{SensorEnd, SensorLinks, SensorStage, SensorStartError};
use crate::stages::sequence::SequenceStage;
use crate::stages::sinks::SinkStage;
use crate::stages::state::StateStage;
pub use crate::wiring::{AgentConfig, DetectorFactoryHandle, SinkFactory, Wiring};
use peregrine_rules::actions::ActionMode;
use peregrine_rules::Engine;
use peregrine_sensor::SensorConfig;
use peregrine_state::{ContainerCache, HostState, ProcessTable, UserDb};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Rules did not load.
    #[error("{0}")]
    Rules(#[from] peregrine_rules::LoadError),
    /// A sink is misconfigured or unreachable at start.
    #[error("{0}")]
    Sink(#[from] SinkError),
    /// The sensor could not start (or its thread died while starting).
    #[error("{0}")]
    Sensor(#[from] SensorStartError),
    /// The sensor failed while running.
    #[error("the sensor failed: {0}")]
    SensorFailed(String),
    /// No rules given.
    #[error("no rule files given (use --rules FILE)")]
    NoRules,
    /// `--enforce` with a `block` rule, and the kernel refused the blocker.
    #[error("cannot enforce the block actions: {0}")]
    Enforce(String),
    /// The Kubernetes audit source could not start.
    #[error("{0}")]
    K8sAudit(#[from] crate::stages::audit::AuditStartError),
    /// A metrics exporter could not start.
    #[error("metrics export: {0}")]
    MetricsExport(String),
    /// The metrics address could not be bound.
    #[error("cannot serve metrics on {0}: {1}")]
    Metrics(std::net::SocketAddr, std::io::Error),
}

/// Totals at exit.
#[derive(Debug, Clone, Default)]
pub struct AgentStats {
    /// Events processed.
    pub events: u64,
    /// Alerts raised.
    pub alerts: u64,
    /// Events dropped in the kernel.
    pub kernel_drops: u64,
    /// Alerts a sink failed to deliver after retries.
    pub sink_failures: u64,
}

/// Run until `stop` is set. `ready` is called once the sensor is attached
/// (with the address metrics are served on, if any).
pub fn run(
    cfg: &AgentConfig,
    stop: Arc<AtomicBool>,
    ready: impl FnOnce(Option<std::net::SocketAddr>),
) -> Result<AgentStats, AgentError> {
    run_with_reload(cfg, stop, Arc::new(AtomicBool::new(false)), ready)
}

fn load_rules(settings: &Settings) -> Result<Engine, AgentError> {
    if settings.rules.is_empty() {
        return Err(AgentError::NoRules);
    }
    let engine = Engine::from_files(&settings.rules)?;
    for w in engine
        .warnings()
        .iter()
        .filter(|w| w.message.contains("will not fire"))
    {
        tracing::info!("{}", w.to_string().lines().next().unwrap_or(""));
    }
    tracing::info!(
        rules = engine.stats().enabled,
        kinds = engine.required_kinds().len(),
        "rules loaded"
    );
    Ok(engine)
}

fn build_sinks(cfg: &AgentConfig) -> Result<Vec<Box<dyn Sink>>, SinkError> {
    let mut sinks = cfg
        .settings
        .sinks()
        .iter()
        .map(|s| s.build())
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(c) = &cfg.wiring.collector {
        sinks.push(Box::new(crate::sinks::CollectorSink(c.clone())));
    }
    if let Some(link) = &cfg.wiring.server {
        sinks.push(link.sink_config().build()?);
    }
    for f in &cfg.wiring.extra_sinks {
        sinks.push((f.0)());
    }
    Ok(sinks)
}

fn sensor_config(cfg: &AgentConfig, engine: &Engine) -> SensorConfig {
    let mut kinds = engine.required_kinds();
    let (comms, cgroups) = (&cfg.wiring.stream_comms, &cfg.wiring.stream_cgroups);
    if !comms.is_empty() || !cgroups.is_empty() {
        kinds.insert(peregrine_event::EventKind::Syscalls);
    }
    SensorConfig {
        kinds: crate::stages::profile::with_kinds(kinds, &cfg.settings),
        ring_bytes: cfg.settings.ring_mib.max(1) << 20,
        btf_path: cfg.settings.btf.clone(),
        compat_syscalls: cfg.settings.compat_syscalls,
        filter: peregrine_sensor::KernelFilter {
            pids: cfg.wiring.scope_pids.clone(),
            cgroups: cfg.wiring.scope_cgroups.as_ref().map(|_| Vec::new()),
            exec_env: engine.needs_env(),
            stream_comms: comms.clone(),
            stream_cgroups: cgroups.clone(),
            open: open_filter(cfg, engine).unwrap_or_default(),
            ..Default::default()
        },
        ..SensorConfig::default()
    }
}

/// The kernel open filter for `engine`'s rules; `None` when the filter is
/// off (`kernel_filter: false`) or another consumer sees every open
/// (behaviour profiles learn all paths; extra detectors are unknown).
fn open_filter(cfg: &AgentConfig, engine: &Engine) -> Option<peregrine_sensor::OpenFilter> {
    let s = &cfg.settings;
    if !s.kernel_filter || s.profiles.is_some() || !cfg.wiring.detectors.is_empty() {
        return None;
    }
    Some(derive_open_filter(engine))
}

/// The open prefixes per access mode the loaded rules may match.
fn derive_open_filter(engine: &Engine) -> peregrine_sensor::OpenFilter {
    use peregrine_rules::analysis::Access;
    let f = peregrine_sensor::OpenFilter {
        read: engine.open_path_prefixes(Access::Read),
        write: engine.open_path_prefixes(Access::Write),
    };
    tracing::info!(
        read = ?f.read.as_ref().map(Vec::len),
        write = ?f.write.as_ref().map(Vec::len),
        "kernel open filter (prefixes per access mode; None: every open)"
    );
    f
}

fn source_needs(engine: &Engine) -> crate::stages::source::SourceNeeds {
    crate::stages::source::SourceNeeds {
        kinds: engine.required_kinds().into_iter().collect(),
        env: engine.needs_env(),
    }
}

fn live_state(settings: &Settings, metrics: &Arc<Metrics>) -> StateStage {
    let mut table = ProcessTable::new(settings.max_processes);
    table.seed_from_proc();
    let mut containers = ContainerCache::new(settings.docker_socket.clone())
        .with_containerd(settings.containerd_socket.clone());
    if let Some(owners) = settings.kubernetes.resolver() {
        containers = containers.with_kubernetes(owners);
    }
    let host = Arc::new(HostInfo {
        users: UserDb::load_host(),
        hostname: crate::report::hostname(),
        ids: IdGen::default(),
        iso_time: settings.time_format_iso_8601,
        // Checked when the settings were read; programmatic ones are logged.
        append: crate::append_output::Appender::compile(&settings.append_output).unwrap_or_else(
            |e| {
                tracing::error!("{e}: nothing appended");
                Default::default()
            },
        ),
    });
    StateStage::live(
        HostState::live(table, containers, settings.max_containers),
        host,
        settings.docker_socket.clone(),
        metrics.clone(),
    )
}

fn spawn_reporter(
    cfg: &AgentConfig,
    status: Option<&Arc<AgentStatus>>,
    stop: &Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let (link, st) = (cfg.wiring.server.as_ref()?, status?);
    match crate::report::HttpReporter::new(link.clone()) {
        Ok(r) => Some(crate::report::spawn_reporter(
            Box::new(r),
            st.clone(),
            link.heartbeat,
            stop.clone(),
        )),
        Err(e) => {
            tracing::error!("server reporting disabled: {e}");
            None
        }
    }
}

/// The running stages, in data-path order.
struct Stages {
    sensor: SensorStage,
    events: std::sync::mpsc::Receiver<Vec<peregrine_event::Event>>,
    state: StateStage,
    detect: DetectStage,
    audit: AuditStage,
    sequences: SequenceStage,
    sinks: SinkStage,
    /// The fanotify blocker, under `--enforce` with a `block` rule.
    block: Option<BlockStage>,
    /// Where a reload leaves the new kernel open filter (when it is on).
    open_filter_feed: Option<Arc<std::sync::Mutex<Option<peregrine_sensor::OpenFilter>>>>,
}

/// Start every stage, from the sinks back to the sensor (which is attached
/// when this returns).
fn start(
    cfg: &AgentConfig,
    engine: Engine,
    metrics: &Arc<Metrics>,
    status: Option<&Arc<AgentStatus>>,
    stop: &Arc<AtomicBool>,
) -> Result<Stages, AgentError> {
    let sinks = build_sinks(cfg)?;
    let audit = crate::stages::audit::Prepared::new(&cfg.settings.k8s_audit)?;
    let state = live_state(&cfg.settings, metrics);
    let open_filter_feed = match (&cfg.wiring.source, open_filter(cfg, &engine)) {
        (None, Some(_)) => Some(Arc::new(std::sync::Mutex::new(None))),
        _ => None,
    };
    let links = SensorLinks {
        stop: stop.clone(),
        metrics: metrics.clone(),
        status: status.cloned(),
        cgroup_feed: cfg.wiring.scope_cgroups.clone(),
        open_filter_feed: open_filter_feed.clone(),
    };
    let (sensor, events) = match &cfg.wiring.source {
        Some(src) => {
            crate::stages::source::spawn(src, source_needs(&engine), stop.clone(), metrics.clone())?
        }
        None => SensorStage::spawn(sensor_config(cfg, &engine), links)?,
    };
    let router = Router::new(cfg.settings.dedup.to_config(), metrics.clone())
        .with_min_priority(cfg.settings.min_priority);
    let response = &cfg.settings.response;
    let mode = ActionMode::from(response.mode);
    let (exec, open) = crate::actions::block::wanted(&engine);
    let blocking = mode == ActionMode::Enforce && (exec || open);
    let mut responder = Responder::new(
        mode,
        crate::actions::build(&cfg.settings),
        Some(metrics.clone()),
    );
    responder.set_blocking(blocking);
    let (sinks, alerts) =
        SinkStage::spawn(sinks, router, responder, metrics.clone(), status.cloned());
    let sequence_alerts = alerts.clone();
    let block_alerts = alerts.clone();
    let audit_alerts = alerts.clone();
    let detect = DetectStage::spawn(
        crate::workers::worker_count(cfg.settings.workers),
        engine,
        cfg.settings.rules.clone(),
        cfg.wiring
            .detectors
            .iter()
            .map(|d| d.0.clone())
            .chain(crate::stages::profile::factory(&cfg.settings, metrics))
            .collect(),
        state.host().clone(),
        alerts,
        metrics.clone(),
    );
    let sequences = SequenceStage::new(
        detect.rules(),
        state.host().clone(),
        sequence_alerts,
        metrics.clone(),
    );
    let block = match blocking {
        true => BlockStage::start(response, detect.rules(), state.host().clone(), block_alerts)
            .map_err(|e| {
                // The sensor and workers started: let them wind down.
                stop.store(true, Ordering::Relaxed);
                AgentError::Enforce(e)
            })?,
        false => None,
    };
    if mode == ActionMode::Monitor && (exec || open) {
        tracing::info!("monitor mode: block actions are reported, not enforced (--enforce acts)");
    }
    let audit = audit.spawn(
        detect.rules(),
        state.host().clone(),
        audit_alerts,
        metrics.clone(),
    );
    Ok(Stages {
        sensor,
        events,
        state,
        detect,
        audit,
        sequences,
        sinks,
        block,
        open_filter_feed,
    })
}

/// Like [`run`]; setting `reload` makes the agent load its rule files again
/// (process table, containers and buffers are kept; a rule set that fails to
/// load is reported and the previous one stays in force).
pub fn run_with_reload(
    cfg: &AgentConfig,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    ready: impl FnOnce(Option<std::net::SocketAddr>),
) -> Result<AgentStats, AgentError> {
    let metrics = Metrics::with_hooks(&cfg.wiring.metrics);
    let engine = load_rules(&cfg.settings)?;
    let status = match (&cfg.wiring.status, &cfg.wiring.server) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(_)) => Some(Arc::new(AgentStatus::new())),
        (None, None) => None,
    };
    if let Some(st) = &status {
        st.set_rules(&engine);
    }
    let mut stages = start(cfg, engine, &metrics, status.as_ref(), &stop)?;
    let served = match cfg.settings.metrics_addr {
        Some(addr) => match crate::metrics::serve(metrics.clone(), addr) {
            Ok(a) => Some(a),
            Err(e) => {
                let _ = shutdown(stages, None, &stop);
                return Err(AgentError::Metrics(addr, e));
            }
        },
        None => None,
    };
    let exporter = match crate::export::ExportStage::start(
        &cfg.settings.metrics_export,
        metrics.clone(),
        crate::report::hostname(),
        stop.clone(),
    ) {
        Ok(e) => e,
        Err(e) => {
            let _ = shutdown(stages, None, &stop);
            return Err(AgentError::MetricsExport(e));
        }
    };
    let reporter = spawn_reporter(cfg, status.as_ref(), &stop);
    // Start-up (BTF, rule compilation, the /proc scan) allocated and freed
    // far more than the steady state keeps: give it back now.
    crate::stages::state::trim();
    ready(served);
    let watch_stop = Arc::new(AtomicBool::new(false));
    let rule_watch = cfg.settings.watch_rules.then(|| {
        crate::reload::watch_files(
            cfg.settings.rules.clone(),
            Duration::from_secs(2),
            reload.clone(),
            watch_stop.clone(),
        )
    });
    drive(&mut stages, &stop, &reload, status.as_deref());
    watch_stop.store(true, Ordering::Relaxed);
    if let Some(w) = rule_watch {
        let _ = w.join();
    }
    let stats = shutdown(stages, reporter, &stop);
    // The stop flag is set: one last export with the final counts.
    if let Some(e) = exporter {
        e.join();
    }
    stats
}

/// The state thread's loop: reloads, then each batch through the state into
/// detection, until the sensor is stopped and drained (or a stage is gone).
fn drive(st: &mut Stages, stop: &AtomicBool, reload: &AtomicBool, status: Option<&AgentStatus>) {
    loop {
        if reload.swap(false, Ordering::SeqCst) {
            st.detect.reload(status);
            if let Some(feed) = &st.open_filter_feed {
                let f = derive_open_filter(&st.detect.rules().current().1);
                *feed.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
            }
        }
        let batch = match st.events.recv_timeout(Duration::from_millis(200)) {
            Ok(b) => b,
            Err(RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Relaxed) && st.sensor.is_finished() {
                    break;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        if let Some(m) = st.state.metrics() {
            m.queue_depth.dec();
        }
        st.state.apply_runtime_updates();
        for ev in batch {
            let snap = st.state.next(ev);
            st.sequences.observe(&snap);
            st.detect.push(snap);
        }
        if !st.detect.flush() {
            tracing::error!("a rule worker stopped");
            break;
        }
        if let Some(s) = status {
            s.events.store(st.state.events(), Ordering::Relaxed);
        }
        st.state.maintain();
        st.sequences.maintain();
        if let (Some(b), Some(m)) = (&st.block, st.state.metrics()) {
            m.set_block(&b.metrics().snapshot());
        }
    }
}

/// Stop in data-path order: detection finishes what is queued, the sink
/// stage ends once detection is gone (delivering open dedup summaries), the
/// sensor is joined (its drop count; a sensor that failed is an error).
fn shutdown(
    st: Stages,
    reporter: Option<std::thread::JoinHandle<()>>,
    stop: &AtomicBool,
) -> Result<AgentStats, AgentError> {
    let mut stats = AgentStats {
        events: st.state.events(),
        ..AgentStats::default()
    };
    // Release the fanotify group first: nothing waits on us past this.
    drop(st.block);
    st.detect.finish();
    st.audit.stop();
    // Its alert sender too: the sink stage ends once every sender is gone.
    drop(st.sequences);
    st.state.shutdown();
    // The main loop may have ended on a dead stage: stop the sensor too.
    stop.store(true, Ordering::Relaxed);
    drop(st.events);
    let sensor = st.sensor.join();
    let totals = st.sinks.join();
    stats.sink_failures = totals.failures;
    stats.alerts = totals.alerts;
    if let Some(r) = reporter {
        let _ = r.join();
    }
    match sensor {
        SensorEnd::Stopped(drops) => {
            stats.kernel_drops = drops;
            Ok(stats)
        }
        SensorEnd::Failed(e) => Err(AgentError::SensorFailed(e.to_string())),
        SensorEnd::Panicked(m) => Err(AgentError::SensorFailed(format!(
            "sensor thread panicked: {m}"
        ))),
    }
}

#[cfg(test)]
mod kernel_filter_tests {
    use super::*;

    #[test]
    fn the_kernel_open_filter_follows_the_rules_and_the_switch() {
        let rules = "- rule: r\n  desc: d\n  condition: evt.type = openat and evt.is_open_write = false and fd.name startswith /etc/\n  output: o\n  priority: NOTICE\n";
        let engine = Engine::from_str("t.yaml", rules).unwrap();
        let mut cfg = AgentConfig::default();
        let open = sensor_config(&cfg, &engine).filter.open;
        assert_eq!(open.read, Some(vec!["/etc/".to_string()]));
        assert_eq!(open.write, Some(vec![]), "no rule takes a write open");
        cfg.settings.kernel_filter = false;
        assert_eq!(
            sensor_config(&cfg, &engine).filter.open,
            peregrine_sensor::OpenFilter::default(),
            "kernel_filter: false lets every open through"
        );
    }
}
