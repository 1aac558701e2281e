//! Peregrine's kernel sensor.
//!
//! Loads the CO-RE eBPF programs of `bpf/peregrine.bpf.c` with aya, attaches
//! the ones the configured event kinds need (probing each: a refused optional
//! program is reported once and skipped), fills the kernel filter maps, and
//! reads decoded [`Event`]s from a batched-wakeup ring buffer.
//!
//! ```no_run
//! use peregrine_sensor::{Sensor, SensorConfig};
//! let mut sensor = Sensor::load(&SensorConfig::default())?;
//! sensor.poll(std::time::Duration::from_millis(100), |event| println!("{event:?}"))?;
//! # Ok::<(), peregrine_sensor::SensorError>(())
//! ```
#![deny(missing_docs)]

mod config;
pub mod host;
mod maps;
pub mod programs;

use aya::maps::{MapData, ProgramArray, RingBuf};
use aya::programs::{Program, ProgramError};
use aya::{Btf, Ebpf, EbpfLoader, Endianness};
use peregrine_event::{decode, Clock, Event};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

pub use config::{KernelFilter, OpenFilter, SensorConfig};
pub use maps::{comm_key, CategoryCounters};
pub use peregrine_event::{Category, EventKind};
pub use programs::{Hook, Produces, ProgramSpec};

/// The compiled eBPF object.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/peregrine.bpf.o"));

/// Why the sensor could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    /// The kernel exposes no BTF.
    #[error(
        "kernel BTF not found at {0}: CO-RE programs need a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y (or pass a BTF file with --btf)"
    )]
    NoBtf(PathBuf),
    /// A BTF file could not be parsed.
    #[error("cannot read BTF from {path}: {source}")]
    BadBtf {
        /// The file.
        path: PathBuf,
        /// Why.
        source: aya::BtfError,
    },
    /// tracefs missing and could not be mounted.
    #[error("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: {0}")]
    Tracefs(std::io::Error),
    /// The object could not be loaded.
    #[error("cannot load the eBPF object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A required program was refused.
    #[error("required eBPF program '{name}' was refused: {reason}")]
    Required {
        /// Program name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A map is missing from the object.
    #[error("eBPF map {0} missing from the object")]
    MissingMap(&'static str),
    /// A map operation failed.
    #[error("eBPF map {name}: {source}")]
    Map {
        /// Map name.
        name: &'static str,
        /// Why.
        source: aya::maps::MapError,
    },
    /// A filter value is not acceptable.
    #[error("invalid kernel filter: {0}")]
    BadFilter(String),
    /// Waiting on the ring buffer failed.
    #[error("polling the ring buffer: {0}")]
    Poll(std::io::Error),
}

/// Which programs were attached and which were refused.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Programs attached.
    pub attached: Vec<String>,
    /// Programs not attached because no wanted kind needs them.
    pub skipped: Vec<String>,
    /// Optional programs the kernel refused, with the reason.
    pub refused: Vec<(String, String)>,
}

/// A loaded, attached sensor.
pub struct Sensor {
    ebpf: Ebpf,
    ring: RingBuf<MapData>,
    clock: Clock,
    report: LoadReport,
    poll_interval: Duration,
    decode_errors: u64,
    received: u64,
    /// What the open prefix tries hold.
    open_filter: OpenFilter,
    /// The i386-ABI handlers, kept open for as long as the sensor runs.
    _compat_table: ProgramArray<MapData>,
}

fn describe(e: &ProgramError) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn attach(prog: &mut Program, spec: &ProgramSpec) -> Result<(), ProgramError> {
    match (prog, &spec.hook) {
        (Program::TracePoint(tp), Hook::TracePoint { category, name }) => {
            tp.load()?;
            tp.attach(category, name)?;
        }
        (Program::RawTracePoint(rp), Hook::RawTracePoint(name)) => {
            rp.load()?;
            rp.attach(name)?;
        }
        _ => return Err(ProgramError::UnexpectedProgramType),
    }
    Ok(())
}

/// Is an optional program needed by this configuration?
fn wanted(spec: &ProgramSpec, cfg: &SensorConfig) -> bool {
    match spec.produces {
        Produces::Kind(kind) => cfg.kinds.contains(&kind),
        Produces::Stream => cfg.filter.streams(),
        // Attached when a handler was loaded (see `load_compat_handler`).
        Produces::CompatSyscalls => cfg.compat_syscalls,
        Produces::CompatHandler(sys) => cfg.compat_syscalls && cfg.kinds.contains(&sys.kind()),
    }
}

/// Load an i386-ABI syscall handler and put it into `COMPAT_PROGS` at its
/// syscall's id, where the dispatcher tail-calls it.
fn load_compat_handler(
    prog: &mut Program,
    sys: peregrine_event::Syscall,
    table: &mut ProgramArray<MapData>,
) -> Result<(), String> {
    let Program::RawTracePoint(rp) = prog else {
        return Err("not a raw tracepoint program".into());
    };
    rp.load().map_err(|e| describe(&e))?;
    let fd = rp.fd().map_err(|e| describe(&e))?;
    table
        .set(u32::from(sys as u16), fd, 0)
        .map_err(|e| e.to_string())
}

impl Sensor {
    /// Load, filter and attach. Refused optional programs are logged once.
    pub fn load(cfg: &SensorConfig) -> Result<Sensor, SensorError> {
        let btf_path = cfg
            .btf_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(host::KERNEL_BTF));
        if !btf_path.exists() {
            return Err(SensorError::NoBtf(btf_path));
        }
        let btf = Btf::parse_file(&btf_path, Endianness::default()).map_err(|source| {
            SensorError::BadBtf {
                path: btf_path.clone(),
                source,
            }
        })?;
        host::ensure_tracefs()?;
        // RLIMIT_MEMLOCK is irrelevant on kernels >= 5.11 (memcg accounting);
        // raise it where allowed, never fail on it.
        let rlim = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: setrlimit reads one valid rlimit struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) } != 0 {
            tracing::debug!("RLIMIT_MEMLOCK not raised (not needed on kernels >= 5.11)");
        }
        let ring_bytes = cfg.ring_bytes.next_power_of_two().max(4096);
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .map_max_entries("EVENTS", ring_bytes)
            // Per-thread syscall id buffers (~760 B each, preallocated):
            // one entry unless a workload is selected for the stream.
            .map_max_entries("STREAM_BUFS", if cfg.filter.streams() { 8192 } else { 1 })
            .load(OBJECT)?;

        maps::write_filters(&mut ebpf, &cfg.filter)?;
        maps::write_open_filter(&mut ebpf, &OpenFilter::default(), &cfg.filter.open)?;
        maps::write_stream(&mut ebpf, &cfg.filter)?;
        maps::write_config(&mut ebpf, &cfg.kinds, &cfg.filter, cfg.wakeup_bytes)?;

        let mut report = LoadReport::default();
        // The prog array must stay open: the kernel empties a program array
        // when its last user-space reference goes.
        let mut compat_table = ProgramArray::try_from(
            ebpf.take_map("COMPAT_PROGS")
                .ok_or(SensorError::MissingMap("COMPAT_PROGS"))?,
        )
        .map_err(|source| SensorError::Map {
            name: "COMPAT_PROGS",
            source,
        })?;
        let mut names: Vec<String> = ebpf.programs().map(|(n, _)| n.to_string()).collect();
        // Compat handlers first: the dispatcher is attached only if one loaded.
        names.sort_by_key(|n| !n.starts_with("compat_"));
        let mut compat_handlers = 0;
        for name in names {
            let Some(spec) = programs::spec_for(&name) else {
                report.skipped.push(name);
                continue;
            };
            let no_handler = spec.produces == Produces::CompatSyscalls && compat_handlers == 0;
            if no_handler || (!spec.required && !wanted(&spec, cfg)) {
                report.skipped.push(name);
                continue;
            }
            let prog = ebpf
                .program_mut(&name)
                .ok_or_else(|| SensorError::Required {
                    name: name.clone(),
                    reason: "missing from the object".into(),
                })?;
            if let Produces::CompatHandler(sys) = spec.produces {
                match load_compat_handler(prog, sys, &mut compat_table) {
                    Ok(()) => {
                        compat_handlers += 1;
                        report.attached.push(name);
                    }
                    Err(reason) => {
                        tracing::warn!(program = %name, "i386-ABI handler refused: {reason}");
                        report.refused.push((name, reason));
                    }
                }
                continue;
            }
            match attach(prog, &spec) {
                Ok(()) => report.attached.push(name),
                Err(e) if spec.required => {
                    return Err(SensorError::Required {
                        name,
                        reason: describe(&e),
                    })
                }
                Err(e) => {
                    let reason = describe(&e);
                    tracing::warn!(
                        program = %name,
                        "optional eBPF program refused, continuing without it: {reason}"
                    );
                    report.refused.push((name, reason));
                }
            }
        }
        let ring = RingBuf::try_from(
            ebpf.take_map("EVENTS")
                .ok_or(SensorError::MissingMap("EVENTS"))?,
        )
        .map_err(|source| SensorError::Map {
            name: "EVENTS",
            source,
        })?;
        tracing::info!(
            attached = report.attached.len(),
            refused = report.refused.len(),
            ring_bytes,
            "sensor attached"
        );
        Ok(Sensor {
            ebpf,
            ring,
            clock: Clock::now(),
            report,
            poll_interval: cfg.poll_interval,
            decode_errors: 0,
            received: 0,
            open_filter: cfg.filter.open.clone(),
            _compat_table: compat_table,
        })
    }

    /// What was attached, skipped and refused.
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Wait up to `timeout` for records, then hand every waiting raw record
    /// to `f`. Returns the number of records read.
    pub fn poll_raw(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(&[u8]),
    ) -> Result<usize, SensorError> {
        let wait = timeout.min(self.poll_interval);
        let mut pfd = libc::pollfd {
            fd: self.ring.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as i32) };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::Interrupted {
                return Err(SensorError::Poll(err));
            }
        }
        let mut n = 0;
        while let Some(item) = self.ring.next() {
            f(&item);
            n += 1;
        }
        self.received += n as u64;
        Ok(n)
    }

    /// Like [`Sensor::poll_raw`], decoding each record. Records that fail to
    /// decode are counted ([`Sensor::decode_errors`]) and skipped.
    pub fn poll(
        &mut self,
        timeout: Duration,
        mut f: impl FnMut(Event),
    ) -> Result<usize, SensorError> {
        let clock = self.clock;
        let mut errors = 0;
        let n = self.poll_raw(timeout, |raw| match decode(raw, &clock) {
            Ok(ev) => f(ev),
            Err(e) => {
                errors += 1;
                tracing::debug!("undecodable record: {e}");
            }
        })?;
        self.decode_errors += errors;
        Ok(n)
    }

    /// Kernel counters per category (emitted, dropped, filtered).
    pub fn counters(&self) -> Result<Vec<(Category, CategoryCounters)>, SensorError> {
        maps::read_counters(&self.ebpf)
    }

    /// Total records lost in the kernel because the ring was full.
    pub fn dropped(&self) -> Result<u64, SensorError> {
        Ok(self.counters()?.iter().map(|(_, c)| c.dropped).sum())
    }

    /// Records that could not be decoded.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Records read from the ring buffer.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Clock used to convert kernel timestamps.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Add a cgroup v2 id to the cgroup scope (effective when the sensor was
    /// configured with a cgroup scope, possibly empty: `Some(vec![])`).
    pub fn scope_cgroup(&mut self, id: u64) -> Result<(), SensorError> {
        maps::scope_cgroup(&mut self.ebpf, id)
    }

    /// Add a cgroup v2 id to the syscall id stream selection (effective when
    /// the sensor was loaded with a stream selection: the stream programs
    /// are attached only then).
    pub fn stream_cgroup(&mut self, id: u64) -> Result<(), SensorError> {
        maps::stream_cgroup(&mut self.ebpf, id)
    }

    /// Replace the rule-derived open filter (after a rule reload). The
    /// kernel lets every open through while the maps are rewritten.
    pub fn set_open_filter(&mut self, filter: &OpenFilter) -> Result<(), SensorError> {
        maps::set_open_flags(&mut self.ebpf, None)?;
        maps::write_open_filter(&mut self.ebpf, &self.open_filter, filter)?;
        self.open_filter = filter.clone();
        Ok(())
    }

    /// Add a process and its future descendants to the pid scope (effective
    /// when the sensor was configured with a pid scope).
    pub fn scope_pid(&mut self, pid: u32) -> Result<(), SensorError> {
        maps::scope_pid(&mut self.ebpf, pid)
    }
}
