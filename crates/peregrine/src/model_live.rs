//! `peregrine agent --model FILE --model-comm NAME --model-cgroup ID|PATH
//! --model-container NAME`:
//! the anomaly model on the live syscall id stream of selected workloads.
use clap::Args;
use peregrine_agent::stages::anomaly::ModelDetector;
use peregrine_agent::wiring::MetricsHook;
use peregrine_agent::{DetectorFactoryHandle, Wiring};
use peregrine_detect::live::{LiveOptions, LiveStats};
use peregrine_state::docker::DockerClient;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Flags of the live anomaly model.
#[derive(Debug, Clone, Default, Args)]
pub struct ModelArgs {
    /// Anomaly model file (`peregrine model train -o FILE`): score the
    /// syscalls of the workloads selected with --model-comm/--model-cgroup.
    /// A model that cannot be read is reported and the agent runs with
    /// rules only.
    #[arg(long = "model", value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Score the threads of processes with this comm (repeatable).
    #[arg(long = "model-comm", value_name = "NAME", requires = "model")]
    pub comms: Vec<String>,
    /// Score the tasks of this cgroup v2: its id, or its directory (e.g.
    /// /sys/fs/cgroup/unified/docker/ID for a container; repeatable).
    #[arg(long = "model-cgroup", value_name = "ID|PATH", requires = "model")]
    pub cgroups: Vec<String>,
    /// Score the processes of this Docker container (name or id; running
    /// when the agent starts; repeatable).
    #[arg(long = "model-container", value_name = "NAME|ID", requires = "model")]
    pub containers: Vec<String>,
    /// Scorers kept per rule worker (least recently fed evicted beyond).
    #[arg(long = "model-max-threads", value_name = "N", default_value_t = peregrine_detect::live::DEFAULT_MAX_THREADS)]
    pub max_threads: usize,
}

fn cgroup_id(spec: &str) -> anyhow::Result<u64> {
    if let Ok(id) = spec.parse() {
        return Ok(id);
    }
    let md = std::fs::metadata(spec).map_err(|e| {
        anyhow::anyhow!("--model-cgroup {spec}: not an id nor a cgroup directory: {e}")
    })?;
    Ok(md.ino())
}

/// The cgroup v2 id of a running Docker container (by name or id).
fn container_cgroup(docker: &Path, name: &str) -> anyhow::Result<u64> {
    let mut client = DockerClient::new(docker, Duration::from_secs(5))
        .map_err(|e| anyhow::anyhow!("--model-container {name}: {e}"))?;
    let view = client
        .inspect(name)
        .map_err(|e| anyhow::anyhow!("--model-container {name}: {e}"))?;
    let candidates = [
        format!("/sys/fs/cgroup/unified/docker/{}", view.id),
        format!("/sys/fs/cgroup/system.slice/docker-{}.scope", view.id),
        format!("/sys/fs/cgroup/docker/{}", view.id),
    ];
    candidates
        .iter()
        .find_map(|p| std::fs::metadata(p).ok().map(|m| m.ino()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--model-container {name}: no cgroup v2 directory for container {} (is it running?)",
                view.id
            )
        })
}

/// Add the model detector and the stream selection to `wiring`. A model
/// file that cannot be loaded is logged and skipped (rules only).
pub fn wire(args: &ModelArgs, docker: &Path, wiring: &mut Wiring) -> anyhow::Result<()> {
    let Some(path) = &args.model else {
        return Ok(());
    };
    let mut cgroups = args
        .cgroups
        .iter()
        .map(|c| cgroup_id(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for c in &args.containers {
        cgroups.push(container_cgroup(docker, c)?);
    }
    if args.comms.is_empty() && cgroups.is_empty() {
        anyhow::bail!(
            "--model needs a workload: --model-comm NAME, --model-cgroup ID|PATH or --model-container NAME"
        );
    }
    let model = match peregrine_detect::model::load(path) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("{e}: the agent runs with rules only");
            return Ok(());
        }
    };
    tracing::info!(
        model = %path.display(),
        kind = model.kind_name(),
        threshold = model.threshold,
        comms = ?args.comms,
        cgroups = ?cgroups,
        "anomaly model loaded: streaming syscalls of the selected workloads"
    );
    let opts = LiveOptions {
        max_threads: args.max_threads,
        model_name: path.display().to_string(),
        ..LiveOptions::default()
    };
    let stats = Arc::new(LiveStats::default());
    let registered = stats.clone();
    wiring
        .metrics
        .push(MetricsHook(Arc::new(move |r| registered.register(r))));
    wiring
        .detectors
        .push(DetectorFactoryHandle(ModelDetector::factory(
            model, opts, stats,
        )));
    wiring.stream_comms = args.comms.clone();
    wiring.stream_cgroups = cgroups;
    Ok(())
}
