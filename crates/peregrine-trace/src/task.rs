//! Who a traced task is, read from `/proc`: the fields the sensor's record
//! header carries (ids, namespaces, comm, cgroup), cached per process and
//! read again when an exec or a credential or namespace change makes them
//! stale.

use peregrine_event::abi::{PgHeader, CGROUP_NAME_LEN, COMM_LEN};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A process's identity as the sensor's header describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Thread group id.
    pub tgid: u32,
    /// Parent thread group id.
    pub ppid: u32,
    /// Pid in its own pid namespace.
    pub vpid: u32,
    /// Real, effective uid; real, effective gid.
    pub ids: [u32; 4],
    /// Audit login uid.
    pub loginuid: u32,
    /// Pid, mount and network namespace inodes.
    pub ns: [u32; 3],
    /// Task name.
    pub comm: Vec<u8>,
    /// cgroup v2 leaf name.
    pub cgroup: Vec<u8>,
    /// cgroup v2 id (directory inode).
    pub cgroup_id: u64,
}

/// Where cgroup v2 is mounted here, if anywhere.
fn cgroup2_root() -> Option<&'static Path> {
    static ROOT: OnceLock<Option<PathBuf>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        text.lines().find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            (post.split_whitespace().next() == Some("cgroup2"))
                .then(|| pre.split_whitespace().nth(4).map(PathBuf::from))?
        })
    })
    .as_deref()
}

fn field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

fn nums(v: Option<&str>) -> Vec<u32> {
    v.map(|s| {
        s.split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

fn ns_inode(dir: &Path, name: &str) -> u32 {
    std::fs::metadata(dir.join("ns").join(name))
        .map(|m| m.ino() as u32)
        .unwrap_or(0)
}

/// The thread group a task belongs to (`Tgid:` of its status).
pub fn tgid_of(tid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    nums(field(&status, "Tgid:")).first().copied()
}

/// Read the identity of task `tid` from `/proc`; `None` once it is gone.
pub fn read(tid: u32) -> Option<Identity> {
    let dir = PathBuf::from(format!("/proc/{tid}"));
    let status = std::fs::read_to_string(dir.join("status")).ok()?;
    let uid = nums(field(&status, "Uid:"));
    let gid = nums(field(&status, "Gid:"));
    let get = |v: &[u32], i: usize| v.get(i).copied().unwrap_or(0);
    let tgid = nums(field(&status, "Tgid:"))
        .first()
        .copied()
        .unwrap_or(tid);
    let mut comm = std::fs::read(dir.join("comm")).unwrap_or_default();
    while comm.last() == Some(&b'\n') {
        comm.pop();
    }
    comm.truncate(COMM_LEN - 1);
    let cg_path = std::fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("0::"))
                .map(str::to_string)
        })
        .unwrap_or_default();
    let mut cgroup = cg_path.rsplit('/').next().unwrap_or("").as_bytes().to_vec();
    cgroup.truncate(CGROUP_NAME_LEN - 1);
    let cgroup_id = cgroup2_root()
        .and_then(|root| std::fs::metadata(root.join(cg_path.trim_start_matches('/'))).ok())
        .map(|m| m.ino())
        .unwrap_or(0);
    Some(Identity {
        tgid,
        ppid: nums(field(&status, "PPid:")).first().copied().unwrap_or(0),
        vpid: nums(field(&status, "NSpid:"))
            .last()
            .copied()
            .unwrap_or(tgid),
        ids: [get(&uid, 0), get(&uid, 1), get(&gid, 0), get(&gid, 1)],
        loginuid: std::fs::read_to_string(dir.join("loginuid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(u32::MAX),
        ns: [
            ns_inode(&dir, "pid"),
            ns_inode(&dir, "mnt"),
            ns_inode(&dir, "net"),
        ],
        comm,
        cgroup,
        cgroup_id,
    })
}

/// CLOCK_BOOTTIME now, in nanoseconds (the sensor's record clock).
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into an owned struct.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Identity {
    /// The record header for an event of thread `tid` of this process.
    pub fn header(&self, tid: u32, kind: u16, syscall: u16) -> PgHeader {
        let mut comm = [0u8; COMM_LEN];
        comm[..self.comm.len().min(COMM_LEN - 1)]
            .copy_from_slice(&self.comm[..self.comm.len().min(COMM_LEN - 1)]);
        let mut cgroup = [0u8; CGROUP_NAME_LEN];
        let n = self.cgroup.len().min(CGROUP_NAME_LEN - 1);
        cgroup[..n].copy_from_slice(&self.cgroup[..n]);
        PgHeader {
            ts_ns: boot_ns(),
            cgroup_id: self.cgroup_id,
            size: 0,
            kind,
            syscall,
            pid: self.tgid,
            tid,
            ppid: self.ppid,
            vpid: self.vpid,
            uid: self.ids[0],
            gid: self.ids[2],
            euid: self.ids[1],
            egid: self.ids[3],
            loginuid: self.loginuid,
            pid_ns: self.ns[0],
            mnt_ns: self.ns[1],
            net_ns: self.ns[2],
            comm,
            cgroup,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_identity() {
        let me = std::process::id();
        let id = read(me).unwrap();
        assert_eq!(id.tgid, me);
        assert_eq!(id.ppid, std::os::unix::process::parent_id());
        assert_ne!(id.ns[0], 0);
        assert!(!id.comm.is_empty());
        let h = id.header(me, 1, 46);
        assert_eq!(h.pid, me);
        assert!(h.ts_ns > 0);
        assert_eq!(read(u32::MAX - 1), None);
    }
}
