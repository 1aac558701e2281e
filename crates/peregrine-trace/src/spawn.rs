//! Starting the traced command: fork, `PTRACE_TRACEME`, a stop for the
//! tracer to set its options, the seccomp filter, exec. Everything the
//! child does between fork and exec is async-signal-safe (no allocation).

use crate::seccomp::Filter;
use crate::TraceError;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

extern "C" {
    static environ: *const *const libc::c_char;
}

/// The traced command, stopped before its exec.
#[derive(Debug)]
pub struct Child {
    /// Its pid.
    pub pid: u32,
    /// True when its seccomp filter is installed (only the syscalls of
    /// interest stop); false: every syscall stops (`PTRACE_SYSCALL`).
    pub seccomp: bool,
    status: OwnedFd,
}

fn find_program(prog: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if prog.contains('/') {
        return Some(PathBuf::from(prog));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| runnable(p))
}

fn cstring(s: &[u8], what: &str) -> Result<CString, TraceError> {
    CString::new(s).map_err(|_| TraceError::Command(format!("{what} contains a NUL byte")))
}

/// The PTRACE_O_* options for traced tasks.
pub fn options(seccomp: bool, exit_kill: bool) -> libc::c_int {
    let mut o = libc::PTRACE_O_TRACESYSGOOD
        | libc::PTRACE_O_TRACEFORK
        | libc::PTRACE_O_TRACEVFORK
        | libc::PTRACE_O_TRACECLONE
        | libc::PTRACE_O_TRACEEXEC;
    if seccomp {
        o |= libc::PTRACE_O_TRACESECCOMP;
    }
    if exit_kill {
        o |= libc::PTRACE_O_EXITKILL;
    }
    o
}

fn wait_stop(pid: i32) -> Result<(), TraceError> {
    let mut status = 0;
    // SAFETY: waitpid writes one int.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::__WNOTHREAD) };
    if r != pid || !libc::WIFSTOPPED(status) {
        return Err(TraceError::Command(format!(
            "the child did not stop for the tracer (wait status {status:#x})"
        )));
    }
    Ok(())
}

/// Fork `argv` traced by the calling thread, with `filter` (if any)
/// installed. Returns once the child is stopped right before its exec.
pub fn spawn(argv: &[String], filter: Option<&Filter>) -> Result<Child, TraceError> {
    let prog = argv
        .first()
        .ok_or_else(|| TraceError::Command("no command given".into()))?;
    let path = find_program(prog)
        .ok_or_else(|| TraceError::Command(format!("cannot run {prog}: not found on PATH")))?;
    let c_path = cstring(path.as_os_str().as_encoded_bytes(), "the program path")?;
    let c_args: Vec<CString> = argv
        .iter()
        .map(|a| cstring(a.as_bytes(), "an argument"))
        .collect::<Result<_, _>>()?;
    let mut c_argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    c_argv.push(std::ptr::null());
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(TraceError::Os("pipe2", std::io::Error::last_os_error()));
    }
    // SAFETY: both fds were just created and are owned here.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the child only calls async-signal-safe functions before exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(TraceError::Os("fork", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: child side; see above.
        unsafe { child(&c_path, &c_argv, filter, wr.as_raw_fd()) }
    }
    drop(wr);
    // First stop: set the options (the filter's TRACE needs TRACESECCOMP).
    wait_stop(pid)?;
    let opts = options(filter.is_some(), true);
    // SAFETY: ptrace requests on our stopped child.
    unsafe {
        if libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as libc::c_long) != 0 {
            let e = std::io::Error::last_os_error();
            libc::kill(pid, libc::SIGKILL);
            return Err(TraceError::Os("PTRACE_SETOPTIONS", e));
        }
        libc::ptrace(libc::PTRACE_CONT, pid, 0, 0);
    }
    // The child says whether the filter went in, then stops again.
    let mut mode = [0u8; 1];
    // SAFETY: reading one byte into a local buffer.
    let n = unsafe { libc::read(rd.as_raw_fd(), mode.as_mut_ptr() as *mut _, 1) };
    wait_stop(pid)?;
    if n == 1 && mode[0] == b'P' && filter.is_some() {
        tracing::warn!("seccomp filter refused: every syscall stops (slower)");
    }
    Ok(Child {
        pid: pid as u32,
        seccomp: n == 1 && mode[0] == b'S',
        status: rd,
    })
}

/// The child's side: never returns.
unsafe fn child(
    path: &CString,
    argv: &[*const libc::c_char],
    filter: Option<&Filter>,
    status: i32,
) -> ! {
    // SAFETY: async-signal-safe calls only; the pointers outlive the calls.
    unsafe {
        libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
        libc::raise(libc::SIGSTOP);
        let mode: u8 = match filter.map(|f| f.install()) {
            Some(Ok(())) => b'S',
            _ => b'P',
        };
        libc::write(status, &mode as *const u8 as *const _, 1);
        libc::raise(libc::SIGSTOP);
        libc::execve(path.as_ptr(), argv.as_ptr(), environ);
        let err = *libc::__errno_location();
        libc::write(status, &err as *const i32 as *const _, 4);
        libc::_exit(127)
    }
}

impl Child {
    /// Why the exec failed, once the child has ended (`None`: it ran).
    pub fn exec_error(&self) -> Option<std::io::Error> {
        let mut err = [0u8; 4];
        // SAFETY: reading four bytes into a local buffer; the write end is
        // closed (exec or exit), so this does not block.
        let n = unsafe { libc::read(self.status.as_raw_fd(), err.as_mut_ptr() as *mut _, 4) };
        (n == 4).then(|| std::io::Error::from_raw_os_error(i32::from_ne_bytes(err)))
    }
}
