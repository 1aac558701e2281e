//! The kernel interface: a fanotify group with permission events.
//!
//! `fanotify_init(FAN_CLASS_CONTENT)` creates a group whose permission events
//! block the operation until user space writes a `struct fanotify_response`
//! (`FAN_ALLOW` or `FAN_DENY`, the latter failing the syscall with EPERM).
//! When the group's descriptor is closed the kernel allows every request
//! still waiting, so releasing the group can never leave a process stuck.
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Errors of the fanotify interface.
#[derive(Debug, thiserror::Error)]
pub enum FanotifyError {
    /// `fanotify_init` failed (needs CAP_SYS_ADMIN; ENOSYS/EINVAL without
    /// CONFIG_FANOTIFY_ACCESS_PERMISSIONS).
    #[error("fanotify_init({flags:#x}) failed: {source}")]
    Init {
        /// Flags passed.
        flags: u32,
        /// The kernel's error.
        source: io::Error,
    },
    /// `fanotify_mark` failed on a path.
    #[error("fanotify_mark on {path} failed: {source}")]
    Mark {
        /// The marked path.
        path: String,
        /// The kernel's error.
        source: io::Error,
    },
    /// Reading events from the group failed.
    #[error("reading fanotify events failed: {0}")]
    Read(io::Error),
}

/// One permission event, owning the descriptor the kernel opened for it.
#[derive(Debug)]
pub struct PermissionEvent {
    /// The file being executed or opened (opened by the kernel for us).
    pub fd: OwnedFd,
    /// `FAN_*` mask bits of the event.
    pub mask: u64,
    /// Thread-group id of the process attempting the operation.
    pub pid: i32,
}

impl PermissionEvent {
    /// True for `FAN_OPEN_EXEC_PERM`.
    pub fn is_exec(&self) -> bool {
        self.mask & libc::FAN_OPEN_EXEC_PERM != 0
    }

    /// True when the event needs an answer.
    pub fn is_permission(&self) -> bool {
        self.mask & (libc::FAN_OPEN_EXEC_PERM | libc::FAN_OPEN_PERM | libc::FAN_ACCESS_PERM) != 0
    }
}

/// A fanotify group of class `FAN_CLASS_CONTENT` (non-blocking reads).
#[derive(Debug)]
pub struct FanotifyGroup {
    fd: OwnedFd,
}

const BASE_FLAGS: u32 = libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC | libc::FAN_NONBLOCK;
const EVENT_FLAGS: u32 = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as u32;

fn init(flags: u32) -> Result<OwnedFd, FanotifyError> {
    // SAFETY: plain syscall; the returned descriptor is owned below.
    let fd = unsafe { libc::fanotify_init(flags, EVENT_FLAGS) };
    if fd < 0 {
        return Err(FanotifyError::Init {
            flags,
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl FanotifyGroup {
    /// Creates a group; asks for an unlimited queue (permission events are
    /// never dropped, but a bounded queue would make the kernel wait) and
    /// falls back to the default queue if the kernel refuses it.
    pub fn new() -> Result<Self, FanotifyError> {
        let fd = match init(BASE_FLAGS | libc::FAN_UNLIMITED_QUEUE) {
            Ok(fd) => fd,
            Err(_) => init(BASE_FLAGS)?,
        };
        Ok(Self { fd })
    }

    /// Marks the whole filesystem holding `path` for `mask`.
    pub fn mark_filesystem(&self, path: &Path, mask: u64) -> Result<(), FanotifyError> {
        let err = |source| FanotifyError::Mark {
            path: path.display().to_string(),
            source,
        };
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| err(io::Error::from(io::ErrorKind::InvalidInput)))?;
        let flags = libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM;
        // SAFETY: valid descriptor and NUL-terminated path.
        let rc = unsafe {
            libc::fanotify_mark(self.fd.as_raw_fd(), flags, mask, libc::AT_FDCWD, c.as_ptr())
        };
        if rc < 0 {
            return Err(err(io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The group's descriptor (for `poll`).
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Reads every queued event into `out`; returns when the queue is empty.
    pub fn read_events(
        &self,
        buf: &mut [u64],
        out: &mut Vec<PermissionEvent>,
    ) -> Result<(), FanotifyError> {
        loop {
            let bytes = std::mem::size_of_val(buf);
            // SAFETY: reading into our own buffer of `bytes` bytes.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), bytes) };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.raw_os_error() {
                    Some(libc::EAGAIN) => Ok(()),
                    Some(libc::EINTR) => continue,
                    _ => Err(FanotifyError::Read(e)),
                };
            }
            if n == 0 {
                return Ok(());
            }
            parse(buf, n as usize, out);
        }
    }

    /// Answers the event whose descriptor is `event_fd`.
    pub fn respond(&self, event_fd: RawFd, allow: bool) -> io::Result<()> {
        respond(self.fd.as_raw_fd(), event_fd, allow)
    }
}

fn parse(buf: &[u64], len: usize, out: &mut Vec<PermissionEvent>) {
    let base = buf.as_ptr().cast::<u8>();
    let meta_len = std::mem::size_of::<libc::fanotify_event_metadata>();
    let mut off = 0usize;
    while off + meta_len <= len {
        // SAFETY: `off + meta_len <= len <= buffer size`; unaligned read of a POD struct.
        let meta: libc::fanotify_event_metadata =
            unsafe { std::ptr::read_unaligned(base.add(off).cast()) };
        let event_len = meta.event_len as usize;
        if event_len < meta_len || off + event_len > len {
            break;
        }
        off += event_len;
        if meta.vers != libc::FANOTIFY_METADATA_VERSION || meta.fd < 0 {
            continue;
        }
        out.push(PermissionEvent {
            // SAFETY: the kernel opened this descriptor for us.
            fd: unsafe { OwnedFd::from_raw_fd(meta.fd) },
            mask: meta.mask,
            pid: meta.pid,
        });
    }
}

/// Writes a `struct fanotify_response` for `event_fd` to the group `group_fd`.
pub(crate) fn respond(group_fd: RawFd, event_fd: RawFd, allow: bool) -> io::Result<()> {
    let resp = libc::fanotify_response {
        fd: event_fd,
        response: if allow {
            libc::FAN_ALLOW
        } else {
            libc::FAN_DENY
        },
    };
    let size = std::mem::size_of::<libc::fanotify_response>();
    // SAFETY: writing a POD struct of `size` bytes.
    let n = unsafe {
        libc::write(
            group_fd,
            (&resp as *const libc::fanotify_response).cast(),
            size,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Which `fanotify_init`/`fanotify_mark` features this kernel accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FanotifySupport {
    /// `FAN_CLASS_CONTENT` (permission events) works.
    pub class_content: bool,
    /// `FAN_UNLIMITED_QUEUE` is accepted.
    pub unlimited_queue: bool,
    /// `FAN_REPORT_FID` is accepted (for a future non-permission audit group).
    pub report_fid: bool,
    /// `FAN_MARK_FILESYSTEM` with `FAN_OPEN_EXEC_PERM | FAN_OPEN_PERM` on `/` works.
    pub filesystem_exec_open_perm: bool,
    /// The error of the first refused step, if any.
    pub error: Option<String>,
}

/// Tries each feature on a throw-away group (no mark stays in place).
pub fn probe_support() -> FanotifySupport {
    let mut s = FanotifySupport::default();
    match init(BASE_FLAGS) {
        Ok(fd) => {
            s.class_content = true;
            let g = FanotifyGroup { fd };
            match g.mark_filesystem(
                Path::new("/"),
                libc::FAN_OPEN_EXEC_PERM | libc::FAN_OPEN_PERM,
            ) {
                Ok(()) => s.filesystem_exec_open_perm = true,
                Err(e) => s.error = Some(e.to_string()),
            }
            // Dropping the group removes the mark; nothing was read, so any
            // event queued meanwhile is allowed by the kernel on release.
        }
        Err(e) => s.error = Some(e.to_string()),
    }
    s.unlimited_queue = init(BASE_FLAGS | libc::FAN_UNLIMITED_QUEUE).is_ok();
    s.report_fid = init(libc::FAN_CLASS_NOTIF | libc::FAN_CLOEXEC | libc::FAN_REPORT_FID).is_ok();
    s
}
