//! The quarantine operations: open the directory, quarantine, restore.
use super::*;
use std::sync::atomic::{AtomicU64, Ordering};

static SEQ: AtomicU64 = AtomicU64::new(0);

fn st_ns(sec: i64, nsec: i64) -> i64 {
    sec.saturating_mul(1_000_000_000).saturating_add(nsec)
}

fn timespec(ns: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: ns.div_euclid(1_000_000_000),
        tv_nsec: ns.rem_euclid(1_000_000_000),
    }
}

impl Quarantine {
    /// Creates (mode 0700) or opens the quarantine directory; refuses one
    /// that is a symlink, not owned by the effective user, or accessible to
    /// group or others.
    pub fn open(config: QuarantineConfig) -> Result<Self, QuarantineError> {
        let dir = config.dir.clone();
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(io_err("create", parent))?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("create", &dir)(e)),
        }
        let (parent, name) = open_parent(&dir)?;
        let unsafe_dir = |reason: String| QuarantineError::UnsafeDir {
            path: dir.clone(),
            reason,
        };
        let dir_fd = openat(
            parent.as_raw_fd(),
            &name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(|e| unsafe_dir(format!("cannot open without following symlinks: {e}")))?;
        let st = fstat(dir_fd.as_raw_fd()).map_err(io_err("stat", &dir))?;
        // SAFETY: no arguments.
        let euid = unsafe { libc::geteuid() };
        if st.st_uid != euid {
            return Err(unsafe_dir(format!(
                "owned by uid {}, not {euid}",
                st.st_uid
            )));
        }
        if st.st_mode & 0o077 != 0 {
            return Err(unsafe_dir(format!(
                "mode {:o} is open to group/others",
                st.st_mode & 0o7777
            )));
        }
        Ok(Self {
            dir,
            dir_fd,
            config,
        })
    }

    /// The directory path.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves `path` into quarantine and returns its record.
    pub fn quarantine(
        &self,
        path: &Path,
        alert_id: Option<&str>,
    ) -> Result<QuarantineRecord, QuarantineError> {
        let (parent, name) = open_parent(path)?;
        let refuse = |reason: String| QuarantineError::Refused {
            path: path.to_path_buf(),
            reason,
        };
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK;
        let src =
            openat(parent.as_raw_fd(), &name, flags, 0).map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => refuse("is a symlink".into()),
                _ => io_err("open", path)(e),
            })?;
        let st = fstat(src.as_raw_fd()).map_err(io_err("stat", path))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(refuse("not a regular file".into()));
        }
        if st.st_size as u64 > self.config.max_bytes {
            return Err(refuse(format!(
                "larger than {} bytes",
                self.config.max_bytes
            )));
        }
        let id = format!(
            "{:x}-{}-{}",
            now_ns(),
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let bin = std::ffi::OsString::from(format!("{id}.bin"));
        let mut src = File::from(src);
        let qdev = fstat(self.dir_fd.as_raw_fd())
            .map_err(io_err("stat", &self.dir))?
            .st_dev;
        let sha256 = if qdev == st.st_dev {
            self.move_in(&parent, &name, &bin, &st, &mut src, path)?
        } else {
            self.copy_in(&parent, &name, &bin, &st, &mut src, path)?
        };
        let record = QuarantineRecord {
            id: id.clone(),
            original_path: path.to_path_buf(),
            uid: st.st_uid,
            gid: st.st_gid,
            mode: st.st_mode & 0o7777,
            size: st.st_size as u64,
            atime_ns: st_ns(st.st_atime, st.st_atime_nsec),
            mtime_ns: st_ns(st.st_mtime, st.st_mtime_nsec),
            ctime_ns: st_ns(st.st_ctime, st.st_ctime_nsec),
            sha256,
            alert_id: alert_id.map(str::to_string),
            quarantined_at_ns: now_ns(),
        };
        self.write_sidecar(&record)?;
        tracing::info!(path = %path.display(), id = %record.id, sha256 = %record.sha256, "file quarantined");
        Ok(record)
    }

    /// Same filesystem: rename into the directory (checking the name still
    /// refers to the opened file), then hash and make it 0400.
    fn move_in(
        &self,
        parent: &OwnedFd,
        name: &std::ffi::OsStr,
        bin: &std::ffi::OsStr,
        st: &libc::stat,
        src: &mut File,
        path: &Path,
    ) -> Result<String, QuarantineError> {
        self.same_inode(parent, name, st, path)?;
        let (from, to) = (
            cstr(name).map_err(io_err("rename", path))?,
            cstr(bin).map_err(io_err("rename", path))?,
        );
        // SAFETY: valid descriptors and NUL-terminated names.
        check(unsafe {
            libc::renameat(
                parent.as_raw_fd(),
                from.as_ptr(),
                self.dir_fd.as_raw_fd(),
                to.as_ptr(),
            )
        })
        .map_err(io_err("rename", path))?;
        // SAFETY: valid descriptor.
        check(unsafe { libc::fchmod(src.as_raw_fd(), 0o400) }).map_err(io_err("chmod", path))?;
        let sha = copy_hashing(src, None).map_err(io_err("read", path))?;
        // SAFETY: valid descriptors.
        check(unsafe { libc::fsync(self.dir_fd.as_raw_fd()) })
            .map_err(io_err("fsync", &self.dir))?;
        check(unsafe { libc::fsync(parent.as_raw_fd()) }).ok();
        Ok(sha)
    }

    /// Across filesystems: copy + fsync, then unlink the original if its name
    /// still refers to the file that was copied.
    fn copy_in(
        &self,
        parent: &OwnedFd,
        name: &std::ffi::OsStr,
        bin: &std::ffi::OsStr,
        st: &libc::stat,
        src: &mut File,
        path: &Path,
    ) -> Result<String, QuarantineError> {
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let dst = openat(self.dir_fd.as_raw_fd(), bin, flags, 0o400)
            .map_err(io_err("create in", &self.dir))?;
        let mut dst = File::from(dst);
        let sha = copy_hashing(src, Some(&mut dst)).map_err(io_err("copy", path))?;
        dst.sync_all().map_err(io_err("fsync", &self.dir))?;
        // SAFETY: valid descriptor.
        check(unsafe { libc::fsync(self.dir_fd.as_raw_fd()) })
            .map_err(io_err("fsync", &self.dir))?;
        self.same_inode(parent, name, st, path)?;
        let c = cstr(name).map_err(io_err("unlink", path))?;
        // SAFETY: valid descriptor and NUL-terminated name.
        check(unsafe { libc::unlinkat(parent.as_raw_fd(), c.as_ptr(), 0) })
            .map_err(io_err("unlink", path))?;
        check(unsafe { libc::fsync(parent.as_raw_fd()) }).ok();
        Ok(sha)
    }

    fn same_inode(
        &self,
        parent: &OwnedFd,
        name: &std::ffi::OsStr,
        st: &libc::stat,
        path: &Path,
    ) -> Result<(), QuarantineError> {
        let now = fstatat(parent.as_raw_fd(), name).map_err(io_err("stat", path))?;
        if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
            return Err(QuarantineError::Refused {
                path: path.to_path_buf(),
                reason: "replaced while being quarantined".into(),
            });
        }
        Ok(())
    }

    fn write_sidecar(&self, record: &QuarantineRecord) -> Result<(), QuarantineError> {
        let json =
            serde_json::to_vec_pretty(record).map_err(|source| QuarantineError::Sidecar {
                id: record.id.clone(),
                source,
            })?;
        let name = std::ffi::OsString::from(format!("{}.json", record.id));
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let fd = openat(self.dir_fd.as_raw_fd(), &name, flags, 0o400)
            .map_err(io_err("create sidecar in", &self.dir))?;
        let mut f = File::from(fd);
        f.write_all(&json)
            .and_then(|_| f.sync_all())
            .map_err(io_err("write sidecar in", &self.dir))?;
        // SAFETY: valid descriptor.
        check(unsafe { libc::fsync(self.dir_fd.as_raw_fd()) }).map_err(io_err("fsync", &self.dir))
    }

    /// Reads the record of entry `id`.
    pub fn record(&self, id: &str) -> Result<QuarantineRecord, QuarantineError> {
        if id.is_empty() || id.contains('/') || id.starts_with('.') {
            return Err(QuarantineError::Refused {
                path: PathBuf::from(id),
                reason: "not a quarantine id".into(),
            });
        }
        let name = std::ffi::OsString::from(format!("{id}.json"));
        let fd = openat(
            self.dir_fd.as_raw_fd(),
            &name,
            libc::O_RDONLY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(io_err("open sidecar in", &self.dir))?;
        serde_json::from_reader(File::from(fd)).map_err(|source| QuarantineError::Sidecar {
            id: id.to_string(),
            source,
        })
    }

    /// Puts entry `id` back at its original path (which must not exist),
    /// with its owner, mode and times, after checking its hash; then removes
    /// the entry.
    pub fn restore(&self, id: &str) -> Result<QuarantineRecord, QuarantineError> {
        let rec = self.record(id)?;
        let path = rec.original_path.clone();
        let bin = std::ffi::OsString::from(format!("{id}.bin"));
        let src = openat(
            self.dir_fd.as_raw_fd(),
            &bin,
            libc::O_RDONLY | libc::O_NOFOLLOW,
            0,
        )
        .map_err(io_err("open entry in", &self.dir))?;
        let (parent, name) = open_parent(&path)?;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW;
        let dst =
            openat(parent.as_raw_fd(), &name, flags, 0o600).map_err(io_err("create", &path))?;
        let mut dst = File::from(dst);
        let sha =
            copy_hashing(&mut File::from(src), Some(&mut dst)).map_err(io_err("copy", &path))?;
        let unlink_dst = || {
            if let Ok(c) = cstr(&name) {
                // SAFETY: valid descriptor and name.
                unsafe { libc::unlinkat(parent.as_raw_fd(), c.as_ptr(), 0) };
            }
        };
        if sha != rec.sha256 {
            unlink_dst();
            return Err(QuarantineError::Tampered { id: id.to_string() });
        }
        let fd = dst.as_raw_fd();
        let times = [timespec(rec.atime_ns), timespec(rec.mtime_ns)];
        // SAFETY: valid descriptor and pointers.
        let rc = unsafe { libc::fchown(fd, rec.uid, rec.gid) }
            | unsafe { libc::fchmod(fd, rec.mode) }
            | unsafe { libc::futimens(fd, times.as_ptr()) };
        if let Err(e) = check(rc).and_then(|_| dst.sync_all()) {
            unlink_dst();
            return Err(io_err("restore metadata of", &path)(e));
        }
        for suffix in ["bin", "json"] {
            if let Ok(c) = CString::new(format!("{id}.{suffix}")) {
                // SAFETY: valid descriptor and name.
                unsafe { libc::unlinkat(self.dir_fd.as_raw_fd(), c.as_ptr(), 0) };
            }
        }
        tracing::info!(path = %path.display(), id, "file restored from quarantine");
        Ok(rec)
    }
}
