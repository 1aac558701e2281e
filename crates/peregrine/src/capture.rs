//! `peregrine capture`: stream decoded kernel events.
use crate::cli::CaptureArgs;
use anyhow::{Context, Result};
use peregrine_event::{Event, EventData};
use peregrine_sensor::{Sensor, SensorConfig};
use peregrine_state::ProcessTable;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_hup(_: libc::c_int) {
    RELOAD.store(true, Ordering::SeqCst);
}

/// Take a pending SIGHUP.
pub fn reload_requested() -> bool {
    RELOAD.swap(false, Ordering::SeqCst)
}

/// Reload rules on SIGHUP.
pub fn install_reload_handler() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGHUP, on_hup as *const () as libc::sighandler_t);
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// True once SIGINT or SIGTERM arrived.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Stop cleanly on SIGINT/SIGTERM.
pub fn install_stop_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
}

/// Run the capture command.
pub fn run(args: CaptureArgs) -> Result<()> {
    let (kinds, filter) = crate::filter::parse(&args.filters)?;
    let cfg = SensorConfig {
        kinds,
        filter,
        ring_bytes: args.ring_mib.max(1) << 20,
        btf_path: args.btf.clone(),
        compat_syscalls: !args.no_compat_syscalls,
        ..SensorConfig::default()
    };
    let mut table = ProcessTable::new(65536);
    table.seed_from_proc();
    let mut sensor = Sensor::load(&cfg).context("starting the sensor")?;
    for (name, reason) in &sensor.report().refused {
        eprintln!("peregrine: warning: program {name} refused by the kernel, continuing without it: {reason}");
    }
    install_stop_handlers();
    if args.ready {
        eprintln!("ready");
    }
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut count: u64 = 0;
    let mut write_err: Option<std::io::Error> = None;
    let mut last_gc = Instant::now();
    let started = Instant::now();
    while !STOP.load(Ordering::Relaxed) && write_err.is_none() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        sensor.poll(Duration::from_millis(50), |mut ev| {
            count += 1;
            table.observe(&mut ev);
            if args.stats || write_err.is_some() {
                return;
            }
            let r = if args.json {
                serde_json::to_writer(&mut out, &ev)
                    .map_err(std::io::Error::other)
                    .and_then(|_| out.write_all(b"\n"))
            } else {
                writeln!(out, "{}", format_text(&ev))
            };
            if let Err(e) = r {
                write_err = Some(e);
            }
        })?;
        if !args.stats {
            if let Err(e) = out.flush() {
                write_err = Some(e);
            }
        }
        if last_gc.elapsed() > Duration::from_secs(1) {
            table.gc();
            last_gc = Instant::now();
        }
    }
    let _ = out.flush();
    if let Some(e) = write_err {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e).context("writing events");
        }
    }
    // Events still in the ring when we stop are read and counted too.
    sensor.poll(Duration::ZERO, |_| count += 1)?;
    print_stats(&sensor, count, started.elapsed(), args.stats)?;
    Ok(())
}

fn print_stats(sensor: &Sensor, count: u64, elapsed: Duration, verbose: bool) -> Result<()> {
    let counters = sensor.counters()?;
    let dropped: u64 = counters.iter().map(|(_, c)| c.dropped).sum();
    if verbose {
        let secs = elapsed.as_secs_f64().max(1e-9);
        eprintln!(
            "events: {count} in {:.2}s ({:.0}/s), decode errors: {}",
            secs,
            count as f64 / secs,
            sensor.decode_errors()
        );
        for (cat, c) in &counters {
            eprintln!(
                "  {:<10} emitted {:>10}  dropped {:>8}  filtered {:>10}",
                cat.name(),
                c.emitted,
                c.dropped,
                c.filtered
            );
        }
    }
    if dropped > 0 {
        let detail: Vec<String> = counters
            .iter()
            .filter(|(_, c)| c.dropped > 0)
            .map(|(cat, c)| format!("{}={}", cat.name(), c.dropped))
            .collect();
        eprintln!(
            "peregrine: warning: {dropped} events dropped in the kernel (ring buffer full): {}",
            detail.join(" ")
        );
    } else if verbose {
        eprintln!("dropped: 0");
    }
    Ok(())
}

/// One human-readable line.
pub fn format_text(ev: &Event) -> String {
    let p = &ev.process;
    let secs = ev.ts_ns / 1_000_000_000;
    let ms = (ev.ts_ns / 1_000_000) % 1000;
    let head = format!(
        "{:02}:{:02}:{:02}.{:03} {:<12} pid={} ppid={} uid={} comm={}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        ms,
        ev.syscall.map(|s| s.name()).unwrap_or(ev.kind.name()),
        p.pid,
        p.ppid,
        p.uid,
        p.comm
    );
    let cg = if p.cgroup_id > 1 && !p.cgroup.is_empty() {
        format!(" cgroup={}", p.cgroup)
    } else {
        String::new()
    };
    let body = match &ev.data {
        EventData::Exec(x) => format!("exe={} args={:?} cwd={}", x.exe, x.args, x.cwd),
        EventData::Fork { parent_pid, .. } => format!("parent={parent_pid}"),
        EventData::Exit { code, signal } => format!("code={code} signal={signal}"),
        EventData::File(f) => match &f.path2 {
            Some(p2) => format!("path={} path2={} ret={}", f.path, p2, f.ret),
            None => format!("path={} flags={:#o} ret={}", f.path, f.flags, f.ret),
        },
        EventData::Net(n) => format!(
            "fd={} local={} remote={} ret={}",
            n.fd,
            n.local
                .as_ref()
                .map(|e| serde_json::to_string(e).unwrap_or_default())
                .unwrap_or_else(|| "-".into()),
            n.remote
                .as_ref()
                .map(|e| serde_json::to_string(e).unwrap_or_default())
                .unwrap_or_else(|| "-".into()),
            n.ret
        ),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    format!("{head}{cg} {body}")
}
