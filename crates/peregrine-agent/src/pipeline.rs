//! The agent's data path: sensor thread → state stage (process table,
//! containers; this thread) → rule workers partitioned by thread-group id →
//! sink thread (dedup, delivery).
//!
//! Bounded channels between the stages: when rules or sinks fall behind, the
//! sensor thread blocks, the kernel ring fills and drops are counted there
//! (never silently in user space).

use crate::alert::{Alert, IdGen};
use crate::context::HostInfo;
use crate::evaluate::{HostState, Raised};
use crate::metrics::{AlertLabel, KindLabel, Metrics, SinkLabel};
use crate::sinks::{Sink, SinkConfig, SinkError};
use crate::workers::{worker_count, RuleSet, Workers};
use peregrine_event::Event;
use peregrine_rules::Engine;
use peregrine_sensor::{Sensor, SensorConfig};
use peregrine_state::{ContainerCache, ProcessTable, UserDb};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the agent runs with.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Rule files, in order.
    pub rules: Vec<PathBuf>,
    /// Alert outputs.
    pub sinks: Vec<SinkConfig>,
    /// Docker Engine API socket.
    pub docker_socket: PathBuf,
    /// containerd API socket (containers Docker does not know).
    pub containerd_socket: PathBuf,
    /// Ring buffer size in MiB.
    pub ring_mib: u32,
    /// BTF file override.
    pub btf: Option<PathBuf>,
    /// Process table capacity.
    pub max_processes: usize,
    /// Where to serve /metrics and /healthz (None: not served).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Dedup and throttling.
    pub dedup: crate::dedup::DedupConfig,
    /// Watch only these processes and their descendants (CI mode).
    pub scope_pids: Option<Vec<u32>>,
    /// Cgroup v2 ids to add to the kernel scope while running (CI mode:
    /// containers the command starts). `Some` enables the cgroup scope.
    pub scope_cgroups: Option<Arc<std::sync::Mutex<Vec<u64>>>>,
    /// Also collect every alert here (CI mode, tests).
    pub collector: Option<Arc<std::sync::Mutex<Vec<Alert>>>>,
    /// Ship alerts, heartbeats and rule sets to a Peregrine server.
    pub server: Option<crate::report::ServerLink>,
    /// Live counters for heartbeats (created when `server` is set).
    pub status: Option<Arc<crate::report::AgentStatus>>,
    /// Sinks built by the embedding program (`peregrine run`: the store).
    pub extra_sinks: Vec<SinkFactory>,
    /// Rule worker threads (0: automatic, see [`crate::workers::worker_count`]).
    pub workers: usize,
    /// Reload rules when their files change (polled every 2 s), as on SIGHUP.
    pub watch_rules: bool,
}

/// Builds a sink the agent does not know how to configure itself.
#[derive(Clone)]
pub struct SinkFactory(pub Arc<dyn Fn() -> Box<dyn Sink> + Send + Sync>);

impl std::fmt::Debug for SinkFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SinkFactory")
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            rules: Vec::new(),
            sinks: vec![SinkConfig::Stdout {
                json: false,
                min_priority: peregrine_rules::Priority::Debug,
            }],
            docker_socket: PathBuf::from("/var/run/docker.sock"),
            containerd_socket: PathBuf::from(peregrine_state::containerd::DEFAULT_SOCKET),
            ring_mib: 16,
            btf: None,
            max_processes: 65536,
            metrics_addr: None,
            dedup: crate::dedup::DedupConfig::default(),
            scope_pids: None,
            scope_cgroups: None,
            collector: None,
            server: None,
            status: None,
            extra_sinks: Vec::new(),
            workers: 0,
            watch_rules: true,
        }
    }
}

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Rules did not load.
    #[error("{0}")]
    Rules(#[from] peregrine_rules::LoadError),
    /// A sink is misconfigured or unreachable at start.
    #[error("{0}")]
    Sink(#[from] SinkError),
    /// The sensor could not start.
    #[error("starting the sensor: {0}")]
    Sensor(#[from] peregrine_sensor::SensorError),
    /// No rules given.
    #[error("no rule files given (use --rules FILE)")]
    NoRules,
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

fn deliver(sinks: &mut [Box<dyn Sink>], alert: &Alert, failures: &mut u64, metrics: &Metrics) {
    for s in sinks.iter_mut() {
        if alert.priority > s.min_priority() {
            continue;
        }
        metrics
            .sink_sent
            .get_or_create(&SinkLabel {
                sink: s.name().to_string(),
            })
            .inc();
        let mut delay = Duration::from_millis(50);
        let mut ok = false;
        for attempt in 0..4 {
            match s.send(alert) {
                Ok(()) => {
                    ok = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(sink = s.name(), attempt, "delivery failed: {e}");
                    std::thread::sleep(delay);
                    delay *= 2;
                }
            }
        }
        if !ok {
            *failures += 1;
            metrics
                .sink_failures
                .get_or_create(&SinkLabel {
                    sink: s.name().to_string(),
                })
                .inc();
        }
    }
}

/// The sink stage: counts alerts, applies dedup/throttling, delivers.
struct SinkStage {
    sinks: Vec<Box<dyn Sink>>,
    metrics: Arc<Metrics>,
    dedup: crate::dedup::Dedup,
    thresholds: peregrine_rules::threshold::ThresholdGate,
    status: Option<Arc<crate::report::AgentStatus>>,
    failures: u64,
    alerts: u64,
}

impl SinkStage {
    fn admit(&mut self, raised: Raised) {
        let Some(a) = crate::evaluate::pass_threshold(raised, &mut self.thresholds) else {
            return;
        };
        self.alerts += 1;
        let label = AlertLabel {
            rule: a.rule.clone(),
            priority: a.priority.to_string(),
        };
        self.metrics.alerts.get_or_create(&label).inc();
        match self.dedup.admit(a, Instant::now()) {
            Some(a) => deliver(&mut self.sinks, &a, &mut self.failures, &self.metrics),
            None => {
                self.metrics.alerts_suppressed.get_or_create(&label).inc();
            }
        }
    }

    /// Deliver dedup summaries that are due; true when there were some.
    fn expire(&mut self, force: bool) -> bool {
        let due = self.dedup.expire(Instant::now(), force);
        let any = !due.is_empty();
        for summary in due {
            deliver(&mut self.sinks, &summary, &mut self.failures, &self.metrics);
        }
        any
    }

    fn flush(&mut self) {
        for s in self.sinks.iter_mut() {
            if let Err(e) = s.flush() {
                tracing::warn!(sink = s.name(), "flush failed: {e}");
            }
        }
    }
}

/// Run the sink stage until every sender is gone; (delivery failures,
/// alerts received).
fn sink_loop(mut st: SinkStage, rx: Receiver<Raised>) -> (u64, u64) {
    let mut last_fail: Vec<u64> = vec![0; st.sinks.len()];
    let mut last_expire = Instant::now();
    loop {
        if last_expire.elapsed() > Duration::from_secs(10) {
            last_expire = Instant::now();
            // Threshold groups with no match for a day (the longest window).
            let now_ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            st.thresholds
                .expire(now_ns.saturating_sub(86_400 * 1_000_000_000));
        }
        let mut wrote = false;
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(a) => {
                st.admit(a);
                // Drain what is queued, then flush once.
                while let Ok(a) = rx.try_recv() {
                    st.admit(a);
                }
                wrote = true;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        wrote |= st.expire(false);
        if wrote {
            st.flush();
        }
        if let Some(status) = &st.status {
            status.alerts.store(st.alerts, Ordering::Relaxed);
        }
        for (i, s) in st.sinks.iter().enumerate() {
            let l = SinkLabel {
                sink: s.name().to_string(),
            };
            st.metrics
                .sink_buffered_bytes
                .get_or_create(&l)
                .set(s.buffered_bytes() as i64);
            let f = s.failures();
            if f > last_fail[i] {
                st.metrics
                    .sink_failures
                    .get_or_create(&l)
                    .inc_by(f - last_fail[i]);
                last_fail[i] = f;
            }
        }
    }
    st.expire(true);
    st.flush();
    if let Some(status) = &st.status {
        status.alerts.store(st.alerts, Ordering::Relaxed);
    }
    (st.failures, st.alerts)
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

/// Like [`run`]; setting `reload` makes the agent load its rule files again
/// (process table, containers and buffers are kept; a rule set that fails to
/// load is reported and the previous one stays in force).
pub fn run_with_reload(
    cfg: &AgentConfig,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
    ready: impl FnOnce(Option<std::net::SocketAddr>),
) -> Result<AgentStats, AgentError> {
    let metrics = Metrics::new();
    if cfg.rules.is_empty() {
        return Err(AgentError::NoRules);
    }
    let engine = Engine::from_files(&cfg.rules)?;
    for w in engine
        .warnings()
        .iter()
        .filter(|w| w.message.contains("will not fire"))
    {
        tracing::info!("{}", w.to_string().lines().next().unwrap_or(""));
    }
    let mut sinks = cfg
        .sinks
        .iter()
        .map(|s| s.build())
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(c) = &cfg.collector {
        sinks.push(Box::new(crate::sinks::CollectorSink(c.clone())));
    }
    if let Some(link) = &cfg.server {
        sinks.push(link.sink_config().build()?);
    }
    for f in &cfg.extra_sinks {
        sinks.push((f.0)());
    }
    let status = match (&cfg.status, &cfg.server) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(_)) => Some(Arc::new(crate::report::AgentStatus::new())),
        (None, None) => None,
    };
    if let Some(st) = &status {
        st.set_rules(&engine);
    }
    let kinds = engine.required_kinds();
    let attached = kinds.clone();
    tracing::info!(
        rules = engine.stats().enabled,
        kinds = kinds.len(),
        "rules loaded"
    );
    let sensor_cfg = SensorConfig {
        kinds,
        ring_bytes: cfg.ring_mib.max(1) << 20,
        btf_path: cfg.btf.clone(),
        filter: peregrine_sensor::KernelFilter {
            pids: cfg.scope_pids.clone(),
            cgroups: cfg.scope_cgroups.as_ref().map(|_| Vec::new()),
            exec_env: engine.needs_env(),
            ..Default::default()
        },
        ..SensorConfig::default()
    };

    let mut table = ProcessTable::new(cfg.max_processes);
    table.seed_from_proc();
    let host = Arc::new(HostInfo {
        users: UserDb::load_host(),
        hostname: crate::report::hostname(),
        ids: IdGen::default(),
    });
    let mut host_state = HostState {
        table,
        containers: ContainerCache::new(cfg.docker_socket.clone())
            .with_containerd(cfg.containerd_socket.clone()),
        host: host.clone(),
        live: true,
    };
    // One counter per event kind, created once (no label allocation per event).
    let mut kind_counters = vec![None; peregrine_event::abi::KIND_MAX as usize + 1];
    for k in peregrine_event::EventKind::ALL {
        kind_counters[k.id() as usize] = Some(
            metrics
                .events
                .get_or_create(&KindLabel {
                    kind: k.name().to_string(),
                })
                .clone(),
        );
    }

    let (ev_tx, ev_rx) = sync_channel::<Vec<Event>>(256);
    let (al_tx, al_rx) = sync_channel::<Raised>(4096);
    let (ready_tx, ready_rx) = sync_channel::<Result<(), peregrine_sensor::SensorError>>(1);
    let stop_reader = stop.clone();
    let reader_metrics = metrics.clone();
    let cgroup_feed = cfg.scope_cgroups.clone();
    let reader_status = status.clone();
    let reader = std::thread::Builder::new()
        .name("pg-sensor".into())
        .spawn(move || -> u64 {
            let mut sensor = match Sensor::load(&sensor_cfg) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return 0;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let mut last_counters = Instant::now()
                .checked_sub(Duration::from_secs(2))
                .unwrap_or_else(Instant::now);
            while !stop_reader.load(Ordering::Relaxed) {
                if let Some(feed) = &cgroup_feed {
                    let ids: Vec<u64> =
                        std::mem::take(&mut *feed.lock().unwrap_or_else(|p| p.into_inner()));
                    for id in ids {
                        if let Err(e) = sensor.scope_cgroup(id) {
                            tracing::warn!("cannot scope cgroup {id}: {e}");
                        }
                    }
                }
                if last_counters.elapsed() > Duration::from_secs(1) {
                    last_counters = Instant::now();
                    if let Ok(c) = sensor.counters() {
                        if let Some(st) = &reader_status {
                            let mut d = st.drops.lock().unwrap_or_else(|p| p.into_inner());
                            for (cat, v) in &c {
                                d.insert(cat.name().to_string(), v.dropped);
                            }
                        }
                        for (cat, v) in c {
                            reader_metrics.set_kernel(
                                cat.id() as usize,
                                cat.name(),
                                v.dropped,
                                v.filtered,
                            );
                        }
                    }
                }
                let mut batch = Vec::with_capacity(256);
                if let Err(e) = sensor.poll(Duration::from_millis(50), |e| batch.push(e)) {
                    tracing::error!("sensor: {e}");
                    break;
                }
                if !batch.is_empty() {
                    // Counted before sending so the consumer never sees it negative.
                    reader_metrics.queue_depth.inc();
                    if ev_tx.send(batch).is_err() {
                        break;
                    }
                }
            }
            let mut rest = Vec::new();
            let _ = sensor.poll(Duration::ZERO, |e| rest.push(e));
            if !rest.is_empty() {
                reader_metrics.queue_depth.inc();
                let _ = ev_tx.send(rest);
            }
            sensor.dropped().unwrap_or(0)
        })
        .expect("spawn sensor thread");
    match ready_rx.recv() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = reader.join();
            return Err(e.into());
        }
        Err(_) => {
            let _ = reader.join();
            return Err(AgentError::NoRules);
        }
    }
    let stage = SinkStage {
        sinks,
        metrics: metrics.clone(),
        dedup: crate::dedup::Dedup::new(cfg.dedup.clone()),
        thresholds: peregrine_rules::threshold::ThresholdGate::default(),
        status: status.clone(),
        failures: 0,
        alerts: 0,
    };
    let sink_thread = std::thread::Builder::new()
        .name("pg-sinks".into())
        .spawn(move || sink_loop(stage, al_rx))
        .expect("spawn sink thread");
    let rules = Arc::new(RuleSet::new(engine));
    let mut workers = Workers::spawn(
        worker_count(cfg.workers),
        rules.clone(),
        host,
        al_tx,
        metrics.clone(),
    );
    tracing::info!(workers = workers.len(), "rule workers started");
    let served = match cfg.metrics_addr {
        Some(addr) => match crate::metrics::serve(metrics.clone(), addr) {
            Ok(a) => Some(a),
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                let _ = reader.join();
                return Err(AgentError::Metrics(addr, e));
            }
        },
        None => None,
    };
    let reporter = match (&cfg.server, &status) {
        (Some(link), Some(st)) => match crate::report::HttpReporter::new(link.clone()) {
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
        },
        _ => None,
    };
    // Start-up (BTF, rule compilation, the /proc scan) allocated and freed
    // far more than the steady state keeps: give it back now rather than at
    // the first periodic trim.
    // SAFETY: malloc_trim has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    ready(served);

    // Container starts, renames and removals from the runtime, applied on
    // this thread between batches.
    let (rt_tx, rt_rx) = std::sync::mpsc::channel();
    let rt_stop = Arc::new(AtomicBool::new(false));
    let runtime_watch =
        peregrine_state::watch_docker(cfg.docker_socket.clone(), rt_tx, rt_stop.clone());
    let rule_watch = cfg.watch_rules.then(|| {
        crate::reload::watch_files(
            cfg.rules.clone(),
            Duration::from_secs(2),
            reload.clone(),
            rt_stop.clone(),
        )
    });
    let mut stats = AgentStats::default();
    let mut last_gc = Instant::now();
    let mut last_trim = Instant::now();
    loop {
        if reload.swap(false, Ordering::SeqCst) {
            reload_rules(cfg, &rules, &attached, status.as_deref(), &metrics);
        }
        let batch = match ev_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(b) => b,
            Err(RecvTimeoutError::Timeout) => {
                if stop.load(Ordering::Relaxed) && reader.is_finished() {
                    break;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        metrics.queue_depth.dec();
        while let Ok(update) = rt_rx.try_recv() {
            host_state.containers.apply(update);
        }
        for ev in batch {
            stats.events += 1;
            if let Some(Some(c)) = kind_counters.get(ev.kind.id() as usize) {
                c.inc();
            }
            workers.push(host_state.snapshot(ev, stats.events));
        }
        if !workers.flush() {
            tracing::error!("a rule worker stopped");
            break;
        }
        if let Some(st) = &status {
            st.events.store(stats.events, Ordering::Relaxed);
        }
        if last_gc.elapsed() > Duration::from_secs(1) {
            let table = &mut host_state.table;
            table.gc();
            last_gc = Instant::now();
            metrics.processes.set(table.len() as i64);
            let ev = table.stats().evicted;
            metrics
                .process_evictions
                .inc_by(ev.saturating_sub(metrics.process_evictions.get()));
            host_state.containers.gc();
            metrics.containers.set(host_state.containers.len() as i64);
        }
        if last_trim.elapsed() > Duration::from_secs(5) {
            last_trim = Instant::now();
            // Hand memory freed by bursts (queues, expired processes) back
            // to the system so RSS follows the live state.
            // SAFETY: malloc_trim has no preconditions.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
    // Workers finish what is queued; the sink stage ends once they are gone.
    workers.finish();
    rt_stop.store(true, Ordering::Relaxed);
    drop(rt_rx);
    let _ = runtime_watch.join();
    if let Some(w) = rule_watch {
        let _ = w.join();
    }
    stats.kernel_drops = reader.join().unwrap_or(0);
    let (failures, alerts) = sink_thread.join().unwrap_or((0, 0));
    stats.sink_failures += failures;
    stats.alerts = alerts;
    if let Some(r) = reporter {
        let _ = r.join();
    }
    Ok(stats)
}

/// Load the rule files again and put them in force; a set that fails to
/// load is reported and the one in force stays.
fn reload_rules(
    cfg: &AgentConfig,
    rules: &RuleSet,
    attached: &std::collections::BTreeSet<peregrine_event::EventKind>,
    status: Option<&crate::report::AgentStatus>,
    metrics: &Metrics,
) {
    let result = match Engine::from_files(&cfg.rules) {
        Ok(new) => {
            let missing: Vec<&str> = new
                .required_kinds()
                .difference(attached)
                .map(|k| k.name())
                .collect();
            if !missing.is_empty() {
                tracing::warn!(
                    "reloaded rules need event kinds not captured since start ({}): restart the agent to capture them",
                    missing.join(", ")
                );
            }
            tracing::info!(rules = new.stats().enabled, "rules reloaded");
            if let Some(st) = status {
                st.set_rules(&new);
            }
            rules.replace(new);
            "ok"
        }
        Err(e) => {
            let first = e
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| d.to_string())
                .unwrap_or_default();
            tracing::error!(
                "rule reload failed, keeping the rules in force: {}",
                first.lines().next().unwrap_or("")
            );
            "error"
        }
    };
    metrics
        .rule_reloads
        .get_or_create(&crate::metrics::ResultLabel {
            result: result.into(),
        })
        .inc();
}
