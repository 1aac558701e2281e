//! `peregrine record` and `peregrine replay`.
use crate::cli::{RecordArgs, ReplayArgs};
use anyhow::{bail, Context, Result};
use peregrine_capture::{Header, Reader, SnapshotProcess, Writer};
use peregrine_event::{decode, EventKind};
use peregrine_sensor::{Sensor, SensorConfig};
use peregrine_state::{container_id, ContainerCache, ProcessTable, UserDb};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufReader, BufWriter, Write};
use std::time::{Duration, Instant};

/// Record until the duration, the command's exit or Ctrl-C.
pub fn record(args: RecordArgs) -> Result<()> {
    let kinds = if args.rules.is_empty() {
        EventKind::ALL.iter().copied().collect()
    } else {
        crate::rules::load_engine(&args.rules, false)?.required_kinds()
    };
    let mut table = ProcessTable::new(1 << 20);
    table.seed_from_proc();
    let users = UserDb::load_host();
    let mut sensor = Sensor::load(&SensorConfig {
        kinds: kinds.clone(),
        ring_bytes: args.ring_mib.max(1) << 20,
        ..SensorConfig::default()
    })
    .context("starting the sensor")?;
    let header = Header {
        abi_version: peregrine_event::abi::ABI_VERSION,
        hostname: peregrine_agent::report::hostname(),
        kernel: peregrine_agent::report::kernel_release(),
        started_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
        clock_offset_ns: sensor.clock().offset_ns() as i64,
        kinds: kinds.iter().map(|k| k.name().to_string()).collect(),
        processes: table
            .snapshot()
            .into_iter()
            .map(|(view, cgroup)| SnapshotProcess { view, cgroup })
            .collect(),
        users: users.users(),
        comment: if args.command.is_empty() {
            String::new()
        } else {
            args.command.join(" ")
        },
    };
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let mut w = Writer::new(BufWriter::new(file), &header)?;
    crate::capture::install_stop_handlers();
    let mut child = match args.command.split_first() {
        Some((prog, rest)) => Some(
            std::process::Command::new(prog)
                .args(rest)
                .spawn()
                .with_context(|| format!("running {prog}"))?,
        ),
        None => None,
    };
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut containers = ContainerCache::new("/var/run/docker.sock");
    let mut seen: HashSet<String> = HashSet::new();
    let clock = sensor.clock();
    let mut status = None;
    let mut ended_at: Option<Instant> = None;
    let mut err: Option<anyhow::Error> = None;
    loop {
        if crate::capture::stop_requested() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if let (Some(c), None) = (child.as_mut(), ended_at) {
            if let Some(st) = c.try_wait()? {
                status = Some(st);
                ended_at = Some(Instant::now());
            }
        }
        // After the command ends, drain what the kernel still holds.
        if ended_at.is_some_and(|t| t.elapsed() > Duration::from_millis(300)) {
            break;
        }
        let mut pending = Vec::new();
        sensor.poll_raw(Duration::from_millis(50), |raw| pending.push(raw.to_vec()))?;
        for raw in pending {
            if let Ok(ev) = decode(&raw, &clock) {
                if let Some(id) = container_id(&ev.process.cgroup) {
                    if seen.insert(id.to_string()) {
                        if let Some(c) = containers.lookup(&ev.process.cgroup) {
                            if let Err(e) = w.container(c) {
                                err = Some(e.into());
                            }
                        }
                    }
                }
            }
            if let Err(e) = w.record(&raw) {
                err = Some(e.into());
                break;
            }
        }
        if err.is_some() {
            break;
        }
    }
    let frames = w.frames();
    let mut out = w.finish()?;
    out.flush()?;
    if let Some(e) = err {
        return Err(e).context("writing the capture");
    }
    let dropped = sensor.dropped().unwrap_or(0);
    eprintln!(
        "recorded {frames} frames ({} containers) to {}{}",
        seen.len(),
        args.output.display(),
        if dropped > 0 {
            format!("; {dropped} events dropped in the kernel")
        } else {
            String::new()
        }
    );
    if let Some(st) = status {
        if !st.success() {
            eprintln!("peregrine: the recorded command exited with {st}");
        }
    }
    Ok(())
}

/// Replay a capture through rules.
pub fn replay(args: ReplayArgs) -> Result<()> {
    let rules = crate::rules::rule_paths(&args.rules, args.no_default_rules)?;
    if let Some(log) = &args.k8s_audit {
        return crate::k8s_audit::replay(log, &rules, args.json);
    }
    let Some(path) = &args.file else {
        anyhow::bail!("replay needs a capture file or --k8s-audit FILE");
    };
    let engine = crate::rules::load_engine(&rules, false)?;
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader =
        Reader::new(BufReader::new(file)).with_context(|| format!("reading {}", path.display()))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut by_rule: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    // A spinner on a terminal; nothing when stderr is redirected.
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let (stats, error) = peregrine_agent::replay::replay(
        &mut reader,
        &engine,
        |a| {
            *by_rule.entry(a.rule.clone()).or_default() += 1;
            let _ = if args.json {
                serde_json::to_writer(&mut out, &a)
                    .map_err(std::io::Error::other)
                    .and_then(|_| out.write_all(b"\n"))
            } else {
                writeln!(out, "{}", a.output)
            };
        },
        |n| {
            let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
            bar.set_message(format!("{n} records, {rate:.0}/s"));
            bar.tick();
        },
    );
    bar.finish_and_clear();
    out.flush()?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    eprintln!(
        "replayed {} records in {secs:.2}s ({:.0} records/s): {} alerts, {} undecodable",
        stats.records,
        stats.records as f64 / secs,
        stats.alerts,
        stats.decode_errors
    );
    if stats.container_evictions > 0 {
        eprintln!(
            "{} of {} container records were forgotten to stay within the container bound ({} held at most)",
            stats.container_evictions, stats.containers, stats.max_containers_held
        );
    }
    for (rule, n) in &by_rule {
        eprintln!("  {n:>6}  {rule}");
    }
    if let Some(e) = error {
        bail!(
            "{}: {e} (the {} records before it were replayed)",
            path.display(),
            stats.records
        );
    }
    Ok(())
}
