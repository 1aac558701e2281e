//! The running blocker: reader thread, decision workers and watchdog.
use super::cache::{CacheKey, DecisionCache};
use super::fanotify::{FanotifyError, FanotifyGroup, PermissionEvent};
use super::guardian::Guardian;
use super::{
    procinfo, AccessKind, AccessRequest, BlockMetrics, BlockerConfig, Decider, FailMode,
    ProcessInfo, Verdict,
};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Errors starting a [`Blocker`].
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The fanotify group could not be created or marked.
    #[error(transparent)]
    Fanotify(#[from] FanotifyError),
    /// The settings are unusable.
    #[error("invalid blocker settings: {0}")]
    Config(String),
    /// A thread or the wake-up eventfd could not be created.
    #[error("cannot start the blocker's {what}: {source}")]
    Start {
        /// What failed.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

/// A request waiting for its answer; whoever takes `fd` first answers.
struct Pending {
    fd: Mutex<Option<OwnedFd>>,
    deadline: Instant,
    fail: FailMode,
}

impl Pending {
    fn answered(&self) -> bool {
        self.fd.lock().map(|f| f.is_none()).unwrap_or(true)
    }
}

struct Job {
    pending: Arc<Pending>,
    req: AccessRequest,
    key: CacheKey,
}

struct Shared {
    config: BlockerConfig,
    self_pid: u32,
    group: RwLock<Option<FanotifyGroup>>,
    decider: RwLock<Arc<dyn Decider>>,
    version: AtomicU64,
    cache: DecisionCache,
    metrics: Arc<BlockMetrics>,
    pending: Mutex<VecDeque<Arc<Pending>>>,
    stop: AtomicBool,
}

impl Shared {
    /// Writes the answer for `fd` (if the group is still open), then closes it.
    fn respond(&self, fd: OwnedFd, allow: bool) {
        if !allow {
            BlockMetrics::inc(&self.metrics.denials);
        }
        let group = self.group.read().unwrap_or_else(|e| e.into_inner());
        if let Some(g) = group.as_ref() {
            if let Err(e) = g.respond(fd.as_raw_fd(), allow) {
                BlockMetrics::inc(&self.metrics.errors);
                tracing::warn!(error = %e, "fanotify response write failed");
            }
        }
        drop(fd);
    }

    /// Answers `p` unless someone already did; true if this call answered.
    fn answer(&self, p: &Pending, allow: bool) -> bool {
        let fd = p.fd.lock().ok().and_then(|mut f| f.take());
        match fd {
            Some(fd) => {
                self.respond(fd, allow);
                true
            }
            None => false,
        }
    }

    fn exempt(&self, pid: u32, path: &std::path::Path) -> bool {
        pid == self.self_pid
            || pid == 1
            || self.config.exempt_pids.contains(&pid)
            || self.config.exempt_paths.iter().any(|p| path.starts_with(p))
    }
}

/// Exec/open blocking with fanotify permission events; see the module docs.
/// Dropping it answers everything pending (allow) and releases the group.
pub struct Blocker {
    shared: Arc<Shared>,
    wake: OwnedFd,
    reader: Option<JoinHandle<()>>,
    watchdog: Option<JoinHandle<()>>,
    guardian: Option<Arc<Guardian>>,
}

impl std::fmt::Debug for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocker")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, BlockError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|source| BlockError::Start {
            what: "threads",
            source,
        })
}

impl Blocker {
    /// Creates the group, marks the filesystem and starts the threads.
    pub fn start(config: BlockerConfig, decider: Arc<dyn Decider>) -> Result<Self, BlockError> {
        let mut mask = 0u64;
        if config.exec {
            mask |= libc::FAN_OPEN_EXEC_PERM;
        }
        if config.open {
            mask |= libc::FAN_OPEN_PERM;
        }
        if mask == 0 || config.workers == 0 {
            return Err(BlockError::Config(
                "need exec or open, and at least one worker".into(),
            ));
        }
        // SAFETY: plain syscall; the descriptor is owned below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(BlockError::Start {
                what: "eventfd",
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: fresh descriptor we own.
        let wake = unsafe { OwnedFd::from_raw_fd(efd) };
        // Forked before the group exists (and it closes every inherited
        // descriptor), so it never holds a reference to a group.
        let guardian = match config.guardian {
            true => Some(Arc::new(
                Guardian::start(config.timeout(), config.guardian_kill_after()).map_err(
                    |source| BlockError::Start {
                        what: "guardian",
                        source,
                    },
                )?,
            )),
            false => None,
        };
        let group = FanotifyGroup::new()?;
        let workers = config.workers;
        let shared = Arc::new(Shared {
            cache: DecisionCache::new(config.cache_capacity),
            self_pid: std::process::id(),
            group: RwLock::new(None),
            decider: RwLock::new(decider),
            version: AtomicU64::new(1),
            metrics: Arc::new(BlockMetrics::default()),
            pending: Mutex::new(VecDeque::new()),
            stop: AtomicBool::new(false),
            config,
        });
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let (s, rx) = (shared.clone(), rx.clone());
            // Workers are detached: one stuck in the decider must not block drop.
            spawn(&format!("pg-fan-decide{i}"), move || worker(&s, &rx))?;
        }
        let s = shared.clone();
        let g = guardian.clone();
        let watchdog = spawn("pg-fan-watchdog", move || watchdog(&s, g.as_deref()))?;
        let wake_raw = wake.as_raw_fd();
        let group_raw = group.raw_fd();
        group.mark_filesystem(&shared.config.filesystem, mask)?;
        *shared.group.write().unwrap_or_else(|e| e.into_inner()) = Some(group);
        let s = shared.clone();
        let reader = spawn("pg-fan-reader", move || reader(&s, group_raw, wake_raw, tx))?;
        tracing::info!(filesystem = %shared.config.filesystem.display(), mask, "fanotify blocking on");
        Ok(Self {
            shared,
            wake,
            reader: Some(reader),
            watchdog: Some(watchdog),
            guardian,
        })
    }

    /// The live counters.
    pub fn metrics(&self) -> Arc<BlockMetrics> {
        self.shared.metrics.clone()
    }

    /// Replaces the decider (a new rule set): cached decisions are dropped.
    pub fn set_decider(&self, decider: Arc<dyn Decider>) {
        *self
            .shared
            .decider
            .write()
            .unwrap_or_else(|e| e.into_inner()) = decider;
        self.ruleset_changed();
    }

    /// Tells the blocker the decider's rules changed: cached decisions are dropped.
    pub fn ruleset_changed(&self) {
        self.shared.version.fetch_add(1, Ordering::SeqCst);
        self.shared.cache.clear();
    }

    /// The settings in use.
    pub fn config(&self) -> &BlockerConfig {
        &self.shared.config
    }
}

impl Drop for Blocker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        for h in [self.reader.take(), self.watchdog.take()]
            .into_iter()
            .flatten()
        {
            let _ = h.join();
        }
        // The watchdog is gone: stop the guardian before its heartbeat ages.
        self.guardian.take();
        let drained: Vec<_> = self
            .shared
            .pending
            .lock()
            .map(|mut q| q.drain(..).collect())
            .unwrap_or_default();
        for p in drained {
            self.shared.answer(&p, true);
        }
        // Closing the group allows anything the kernel still holds.
        self.shared
            .group
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        tracing::info!("fanotify blocking off, group released");
    }
}

fn reader(s: &Shared, group_fd: i32, wake_fd: i32, tx: Sender<Job>) {
    let mut buf = vec![0u64; 8192];
    let mut events = Vec::with_capacity(64);
    let mut fds = [
        libc::pollfd {
            fd: group_fd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake_fd,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    while !s.stop.load(Ordering::SeqCst) {
        // SAFETY: two valid pollfd entries.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if rc < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            tracing::error!(error = %io::Error::last_os_error(), "fanotify poll failed");
            return;
        }
        if s.stop.load(Ordering::SeqCst) {
            return;
        }
        let read = {
            let group = s.group.read().unwrap_or_else(|e| e.into_inner());
            match group.as_ref() {
                Some(g) => g.read_events(&mut buf, &mut events),
                None => return,
            }
        };
        if let Err(e) = read {
            tracing::error!(error = %e, "fanotify read failed");
            BlockMetrics::inc(&s.metrics.errors);
        }
        for ev in events.drain(..) {
            handle_event(s, ev, &tx);
        }
    }
}

/// Answers at once what needs no decider; queues the rest.
fn handle_event(s: &Shared, ev: PermissionEvent, tx: &Sender<Job>) {
    if !ev.is_permission() {
        return;
    }
    BlockMetrics::inc(&s.metrics.requests);
    let pid = ev.pid.max(0) as u32;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", ev.fd.as_raw_fd()))
        .unwrap_or_else(|_| PathBuf::new());
    if s.exempt(pid, &path) {
        BlockMetrics::inc(&s.metrics.exempt);
        return s.respond(ev.fd, true);
    }
    let Some((dev, ino, mtime_ns)) = fstat(&ev.fd) else {
        BlockMetrics::inc(&s.metrics.errors);
        return s.respond(ev.fd, true);
    };
    let kind = if ev.is_exec() {
        AccessKind::Exec
    } else {
        AccessKind::Open
    };
    let key = CacheKey {
        dev,
        ino,
        mtime_ns,
        kind,
        version: s.version.load(Ordering::SeqCst),
    };
    if let Some(allow) = s.cache.get(&key) {
        BlockMetrics::inc(&s.metrics.cache_hits);
        return s.respond(ev.fd, allow);
    }
    let req = AccessRequest {
        kind,
        path,
        pid,
        dev: key.dev,
        ino: key.ino,
        mtime_ns,
        process: ProcessInfo::default(),
    };
    let decider = s.decider.read().unwrap_or_else(|e| e.into_inner()).clone();
    let fail = decider.fail_mode(&req).unwrap_or(s.config.fail_mode);
    let pending = Arc::new(Pending {
        fd: Mutex::new(Some(ev.fd)),
        deadline: Instant::now() + s.config.timeout(),
        fail,
    });
    if let Ok(mut q) = s.pending.lock() {
        q.push_back(pending.clone());
    }
    if tx
        .send(Job {
            pending: pending.clone(),
            req,
            key,
        })
        .is_err()
    {
        s.answer(&pending, fail == FailMode::Open);
    }
}

/// (dev, inode, mtime in ns) of an open descriptor.
fn fstat(fd: &OwnedFd) -> Option<(u64, u64, i128)> {
    // SAFETY: zeroed POD out-parameter; valid descriptor.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    let mtime_ns = st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128;
    Some((st.st_dev, st.st_ino, mtime_ns))
}

fn worker(s: &Shared, rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(rx) => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        if job.pending.answered() {
            continue;
        }
        let mut req = job.req;
        req.process = procinfo::read(req.pid);
        let decider = s.decider.read().unwrap_or_else(|e| e.into_inner()).clone();
        // A panicking decider must not take a worker away: answer with the
        // request's fail mode instead.
        let verdict =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| decider.decide(&req))) {
                Ok(v) => v,
                Err(_) => {
                    BlockMetrics::inc(&s.metrics.errors);
                    tracing::error!(path = %req.path.display(), "decider panicked");
                    Verdict {
                        allow: job.pending.fail == FailMode::Open,
                        cacheable: false,
                    }
                }
            };
        if verdict.cacheable && job.key.version == s.version.load(Ordering::SeqCst) {
            s.cache.put(job.key, verdict.allow);
        }
        if s.answer(&job.pending, verdict.allow) {
            BlockMetrics::inc(&s.metrics.decisions);
            if !verdict.allow {
                tracing::info!(path = %req.path.display(), pid = req.pid, kind = ?req.kind, "access denied");
            }
        }
    }
}

fn watchdog(s: &Shared, guardian: Option<&Guardian>) {
    let tick = (s.config.timeout() / 10).clamp(Duration::from_millis(1), Duration::from_millis(10));
    while !s.stop.load(Ordering::SeqCst) {
        std::thread::sleep(tick);
        if let Some(g) = guardian {
            g.beat();
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        if let Ok(mut q) = s.pending.lock() {
            while let Some(front) = q.front() {
                if front.answered() {
                    q.pop_front();
                } else if front.deadline <= now {
                    expired.extend(q.pop_front());
                } else {
                    break;
                }
            }
        }
        for p in expired {
            if s.answer(&p, p.fail == FailMode::Open) {
                BlockMetrics::inc(&s.metrics.timeouts);
                tracing::warn!(fail = ?p.fail, "fanotify decision timed out");
            }
        }
    }
}
