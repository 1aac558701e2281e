//! Was an executable written into a container after it started?
//!
//! A container's root file system is an overlayfs: the image's files are
//! in the lower layers, every file added or changed since the container
//! started is in the upper layer (a plain directory on the host). An
//! executable found there is not part of the image — Falco's
//! `proc.is_exe_upper_layer`, behind "Drop and execute new binary in
//! container".
//!
//! The upper directory is read from the container's mount table
//! (`/proc/PID/mountinfo`, the root mount's `upperdir=`), which works the
//! same for Docker, containerd and CRI-O. Paths inside it are looked up
//! without following symlinks: the upper layer is written by the container,
//! and the agent must never be steered to a host path by it.

use std::path::{Path, PathBuf};

/// The upper directory of the overlayfs mounted at `/` in `mountinfo`.
pub fn root_upper_dir(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(root_upper_of_line)
}

fn root_upper_of_line(line: &str) -> Option<PathBuf> {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS…] - FSTYPE SOURCE SUPER
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let mut r = right.split(' ');
    let (fstype, _source, super_opts) = (r.next()?, r.next()?, r.next()?);
    if mount_point != "/" || fstype != "overlay" {
        return None;
    }
    let upper = super_opts
        .split(',')
        .find_map(|o| o.strip_prefix("upperdir="))?;
    let upper = unescape(upper);
    upper.starts_with('/').then(|| PathBuf::from(upper))
}

/// The upper directory of the root of process `pid`'s mount namespace:
/// `Err` when its mount table cannot be read (the process is gone),
/// `Ok(None)` when its root is not an overlayfs.
pub fn upper_dir_of(pid: u32) -> std::io::Result<Option<PathBuf>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    Ok(root_upper_dir(&text))
}

/// The metadata of `path` (absolute, as seen inside the container) in the
/// upper layer `upper` when it is a regular file there (`Some(None)`: not
/// in the upper layer; `None`: cannot be told — odd path, a symlink where
/// the kernel saw a directory, unreadable layer). No symlink is followed,
/// no `..` accepted.
pub fn upper_file(upper: &Path, path: &str) -> Option<Option<std::fs::Metadata>> {
    let rel = path.strip_prefix('/')?;
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
    if parts.is_empty() || parts.iter().any(|c| *c == "." || *c == "..") {
        return None;
    }
    let mut cur = upper.to_path_buf();
    for (i, part) in parts.iter().enumerate() {
        cur.push(part);
        let meta = match std::fs::symlink_metadata(&cur) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(None),
            Err(_) => return None,
        };
        if meta.file_type().is_symlink() {
            return None;
        }
        if i + 1 == parts.len() {
            // A whiteout (character device 0:0) marks a deleted file.
            return Some(meta.is_file().then_some(meta));
        }
        if !meta.is_dir() {
            return Some(None);
        }
    }
    Some(None)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "\
2417 1958 0:152 / / rw,relatime master:702 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A:/var/lib/docker/overlay2/l/B,upperdir=/var/lib/docker/overlay2/abc/diff,workdir=/var/lib/docker/overlay2/abc/work
2418 2417 0:155 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
";

    #[test]
    fn upper_dir_of_the_root_mount() {
        assert_eq!(
            root_upper_dir(DOCKER),
            Some(PathBuf::from("/var/lib/docker/overlay2/abc/diff"))
        );
        let host = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";
        assert_eq!(root_upper_dir(host), None);
        let escaped = "1 0 0:1 / / rw - overlay overlay rw,upperdir=/var/lib/with\\040space/diff,workdir=/w\n";
        assert_eq!(
            root_upper_dir(escaped),
            Some(PathBuf::from("/var/lib/with space/diff"))
        );
        assert_eq!(root_upper_dir("garbage\n\n- - -"), None);
        assert_eq!(root_upper_dir(""), None);
    }

    fn in_upper_layer(upper: &Path, path: &str) -> Option<bool> {
        upper_file(upper, path).map(|m| m.is_some())
    }

    #[test]
    fn files_in_the_upper_layer_and_symlinks_are_not_followed() {
        let dir = std::env::temp_dir().join(format!("pg-ovl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("tmp/dropped"), b"\x7fELF").unwrap();
        // A container could plant a symlink to steer the lookup to the host.
        std::os::unix::fs::symlink("/usr/share", dir.join("evil")).unwrap();
        assert_eq!(in_upper_layer(&dir, "/tmp/dropped"), Some(true));
        assert_eq!(in_upper_layer(&dir, "/usr/bin/true"), Some(false));
        assert_eq!(in_upper_layer(&dir, "/tmp"), Some(false), "a directory");
        assert_eq!(in_upper_layer(&dir, "/evil/doc"), None);
        assert_eq!(in_upper_layer(&dir, "/tmp/../etc/passwd"), None);
        assert_eq!(in_upper_layer(&dir, "relative"), None);
        assert_eq!(in_upper_layer(&dir, "/"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
