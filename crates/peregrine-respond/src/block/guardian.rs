//! A forked guardian process for the case the agent's own watchdog cannot
//! run: the agent stopped (SIGSTOP, ptrace) or its watchdog wedged.
//!
//! The watchdog thread writes a heartbeat into a shared anonymous page. The
//! guardian (forked, never execs, only async-signal-safe calls) sends SIGCONT
//! to the agent when the heartbeat is older than the timeout, and SIGKILL —
//! which makes the kernel release the fanotify group and allow everything —
//! when it is older than `kill_after`. It exits with the agent or the blocker.
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

#[repr(C)]
struct Page {
    heartbeat_ns: AtomicU64,
    alive: AtomicU32,
}

/// Handle of the guardian; dropping it stops the guardian.
pub(crate) struct Guardian {
    page: *mut Page,
    child: libc::pid_t,
}

// SAFETY: the page is only accessed through atomics.
unsafe impl Send for Guardian {}
// SAFETY: as above.
unsafe impl Sync for Guardian {}

fn now_ns() -> u64 {
    // SAFETY: zeroed POD out-parameter; clock_gettime is async-signal-safe.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Guardian {
    /// Maps the page and forks the guardian.
    pub fn start(timeout: Duration, kill_after: Duration) -> io::Result<Self> {
        let size = std::mem::size_of::<Page>();
        // SAFETY: anonymous shared mapping, checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let page = p.cast::<Page>();
        // SAFETY: fresh zeroed mapping large enough for `Page`.
        unsafe {
            (*page).heartbeat_ns.store(now_ns(), Ordering::SeqCst);
            (*page).alive.store(1, Ordering::SeqCst);
        }
        // SAFETY: getpid has no preconditions.
        let agent = unsafe { libc::getpid() };
        // SAFETY: the child only runs `guard`, which makes async-signal-safe calls.
        let child = unsafe { libc::fork() };
        if child < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: unmapping our own mapping.
            unsafe { libc::munmap(p, size) };
            return Err(e);
        }
        if child == 0 {
            // SAFETY: in the child; never returns.
            unsafe { guard(page, agent, timeout, kill_after) }
        }
        Ok(Self { page, child })
    }

    /// Records that the agent's watchdog is alive.
    pub fn beat(&self) {
        // SAFETY: the page lives until drop.
        unsafe { (*self.page).heartbeat_ns.store(now_ns(), Ordering::Relaxed) };
    }
}

/// The guardian loop (child side of the fork).
unsafe fn guard(page: *mut Page, agent: libc::pid_t, timeout: Duration, kill_after: Duration) -> ! {
    // Hold no descriptor of the agent: a fanotify group shared with the
    // guardian would not be released when the agent closes it.
    libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    let tick = libc::timespec {
        tv_sec: 0,
        tv_nsec: (timeout.as_nanos() as i64 / 4).clamp(1_000_000, 100_000_000),
    };
    let (timeout, kill_after) = (timeout.as_nanos() as u64, kill_after.as_nanos() as u64);
    loop {
        libc::nanosleep(&tick, std::ptr::null_mut());
        if (*page).alive.load(Ordering::SeqCst) == 0 || libc::getppid() != agent {
            libc::_exit(0);
        }
        let age = now_ns().saturating_sub((*page).heartbeat_ns.load(Ordering::Relaxed));
        if age > kill_after {
            libc::kill(agent, libc::SIGKILL);
            libc::_exit(0);
        }
        if age > timeout {
            libc::kill(agent, libc::SIGCONT);
        }
    }
}

impl Drop for Guardian {
    fn drop(&mut self) {
        // SAFETY: our mapping and our child.
        unsafe {
            (*self.page).alive.store(0, Ordering::SeqCst);
            libc::kill(self.child, libc::SIGKILL);
            libc::waitpid(self.child, std::ptr::null_mut(), 0);
            libc::munmap(self.page.cast(), std::mem::size_of::<Page>());
        }
    }
}
