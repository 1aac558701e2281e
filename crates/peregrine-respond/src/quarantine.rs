//! `quarantine`: move a file into a 0700 directory with its SHA-256 and
//! metadata, and put it back.
//!
//! Paths are walked one component at a time with `openat(O_NOFOLLOW)`: a
//! symlink anywhere in the path, a `..` component, a relative path or a
//! non-regular file is refused. On the quarantine directory's filesystem the
//! file is renamed in; across filesystems it is copied, fsynced and then
//! unlinked (only if the name still refers to the file that was copied).
//! Each entry is `<id>.bin` (mode 0400) plus a `<id>.json` sidecar
//! ([`QuarantineRecord`]).
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Component, Path, PathBuf};

/// Errors of quarantine and restore.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// The path is not acceptable (relative, `..`, symlink, not a regular file...).
    #[error("refusing {path}: {reason}")]
    Refused {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The quarantine directory is unsafe (not owned by us, group/world accessible, a symlink).
    #[error("unsafe quarantine directory {path}: {reason}")]
    UnsafeDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An I/O operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// Its path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A quarantined file's content no longer matches its recorded hash.
    #[error("quarantine entry {id} does not match its recorded SHA-256")]
    Tampered {
        /// The entry.
        id: String,
    },
    /// The sidecar could not be read or written.
    #[error("sidecar of {id}: {source}")]
    Sidecar {
        /// The entry.
        id: String,
        /// The error.
        source: serde_json::Error,
    },
}

/// Settings of the quarantine (serde: `deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineConfig {
    /// The quarantine directory (created with mode 0700).
    pub dir: PathBuf,
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/lib/peregrine/quarantine"),
            max_bytes: 1 << 30,
        }
    }
}

/// The sidecar of one quarantined file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuarantineRecord {
    /// Entry id (file names `<id>.bin` and `<id>.json`).
    pub id: String,
    /// Where the file was.
    pub original_path: PathBuf,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Permission bits (`st_mode & 07777`).
    pub mode: u32,
    /// Size in bytes.
    pub size: u64,
    /// Access time, ns since the epoch.
    pub atime_ns: i64,
    /// Modification time, ns since the epoch.
    pub mtime_ns: i64,
    /// Status change time, ns since the epoch.
    pub ctime_ns: i64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// The alert that asked for it, if any.
    pub alert_id: Option<String>,
    /// When it was quarantined, ns since the epoch.
    pub quarantined_at_ns: i64,
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> QuarantineError {
    let path = path.to_path_buf();
    move |source| QuarantineError::Io { what, path, source }
}

fn cstr(s: &std::ffi::OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn openat(dir: i32, name: &std::ffi::OsStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let c = cstr(name)?;
    // SAFETY: NUL-terminated name; the descriptor is owned below.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC, mode) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstat(fd: i32) -> io::Result<libc::stat> {
    // SAFETY: zeroed POD out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn fstatat(dir: i32, name: &std::ffi::OsStr) -> io::Result<libc::stat> {
    let c = cstr(name)?;
    // SAFETY: zeroed POD out-parameter.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers.
    if unsafe { libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

fn check(rc: i32) -> io::Result<()> {
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Opens the parent directory of an absolute `path` without following any
/// symlink; returns it with the final component.
fn open_parent(path: &Path) -> Result<(OwnedFd, std::ffi::OsString), QuarantineError> {
    let refuse = |reason: &str| QuarantineError::Refused {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if !path.is_absolute() {
        return Err(refuse("not an absolute path"));
    }
    let mut names = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => names.push(n.to_os_string()),
            _ => return Err(refuse("'.' or '..' component")),
        }
    }
    let Some(last) = names.pop() else {
        return Err(refuse("no file name"));
    };
    let dir_flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    let mut dir =
        openat(libc::AT_FDCWD, "/".as_ref(), dir_flags, 0).map_err(io_err("open", path))?;
    for n in &names {
        dir = openat(dir.as_raw_fd(), n, dir_flags, 0).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) | Some(libc::ELOOP) => refuse(&format!(
                "{} is a symlink or not a directory",
                n.to_string_lossy()
            )),
            _ => QuarantineError::Io {
                what: "open directory of",
                path: path.to_path_buf(),
                source: e,
            },
        })?;
    }
    Ok((dir, last))
}

/// Copies `src` to `dst` while hashing; returns the hex SHA-256.
fn copy_hashing(src: &mut File, dst: Option<&mut File>) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 128 * 1024];
    let mut dst = dst;
    loop {
        let n = src.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if let Some(d) = dst.as_mut() {
            d.write_all(&buf[..n])?;
        }
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// An open quarantine directory.
#[derive(Debug)]
pub struct Quarantine {
    dir: PathBuf,
    dir_fd: OwnedFd,
    config: QuarantineConfig,
}

mod store;
