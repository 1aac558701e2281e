//! Capability probing: which mechanism backs each action on this kernel.
//!
//! Run once at agent start and log the result. Every probe is harmless: the
//! BPF-LSM program passes every decision through and is detached at once,
//! the cgroup program is only loaded, and the fanotify group is released
//! before the probe returns.
use crate::block::fanotify::{self, FanotifySupport};
use aya::programs::{CgroupSockAddr, Lsm};
use aya::{Btf, Ebpf};
use serde::Serialize;
use std::fmt;

static LSM_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/respond_probe.bpf.o"));
static NET_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/respond_net.bpf.o"));

/// A kernel facility that can back an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    /// BPF-LSM programs (`bprm_check_security`, `file_open`, `socket_connect`).
    BpfLsm,
    /// fanotify permission events (`FAN_OPEN_EXEC_PERM`, `FAN_OPEN_PERM`).
    Fanotify,
    /// cgroup sock_addr programs (`connect4/6`, `sendmsg4/6`).
    CgroupSock,
    /// Signals through pidfds (`pidfd_open`, `pidfd_send_signal`).
    Pidfd,
    /// Plain filesystem operations (`openat(O_NOFOLLOW)`, rename/copy).
    Filesystem,
}

/// Whether one facility works, and why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// It loaded/attached.
    pub available: bool,
    /// The error when it did not.
    pub detail: Option<String>,
}

impl Status {
    fn from<E: fmt::Display>(r: Result<(), E>) -> Self {
        match r {
            Ok(()) => Self {
                available: true,
                detail: None,
            },
            Err(e) => Self {
                available: false,
                detail: Some(e.to_string()),
            },
        }
    }
}

/// The mechanism chosen for one action (`None`: the action is unavailable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionBacking {
    /// Action name as in the rule language (`block_exec`, `block_open`, `isolate`, `kill`, `quarantine`).
    pub action: &'static str,
    /// What backs it here.
    pub mechanism: Option<Mechanism>,
}

/// The result of [`probe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// BPF-LSM: a `lsm/bprm_check_security` program loaded and attached.
    pub bpf_lsm: Status,
    /// fanotify permission events on the root filesystem.
    pub fanotify: Status,
    /// Which fanotify flags the kernel accepts.
    pub fanotify_support: FanotifySupport,
    /// cgroup sock_addr programs load.
    pub cgroup_sock: Status,
    /// pidfd signalling works.
    pub pidfd: Status,
    /// The mechanism per action.
    pub actions: Vec<ActionBacking>,
}

fn probe_lsm() -> Result<(), String> {
    let btf = Btf::from_sys_fs().map_err(|e| format!("no kernel BTF: {e}"))?;
    let mut ebpf = Ebpf::load(LSM_OBJECT).map_err(|e| e.to_string())?;
    let prog: &mut Lsm = ebpf
        .program_mut("pg_probe_bprm")
        .ok_or("probe program missing")?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| e.to_string())?;
    prog.load("bprm_check_security", &btf)
        .map_err(|e| format!("load refused: {e}"))?;
    prog.attach().map_err(|e| format!("attach refused: {e}"))?;
    Ok(())
}

fn probe_cgroup_sock() -> Result<(), String> {
    let mut ebpf = Ebpf::load(NET_OBJECT).map_err(|e| e.to_string())?;
    let prog: &mut CgroupSockAddr = ebpf
        .program_mut("pg_connect4")
        .ok_or("connect4 program missing")?
        .try_into()
        .map_err(|e: aya::programs::ProgramError| e.to_string())?;
    prog.load().map_err(|e| format!("load refused: {e}"))
}

fn probe_pidfd() -> Result<(), std::io::Error> {
    // SAFETY: plain syscall on our own pid; closed right away.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id() as libc::pid_t, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just opened.
    unsafe { libc::close(fd as i32) };
    Ok(())
}

/// Probes every facility and picks a mechanism per action.
pub fn probe() -> Capabilities {
    let bpf_lsm = Status::from(probe_lsm());
    let fanotify_support = fanotify::probe_support();
    let fanotify = match (
        &fanotify_support.filesystem_exec_open_perm,
        &fanotify_support.error,
    ) {
        (true, _) => Status::from(Ok::<(), String>(())),
        (false, e) => Status::from(Err(e.clone().unwrap_or_else(|| "refused".into()))),
    };
    let cgroup_sock = Status::from(probe_cgroup_sock());
    let pidfd = Status::from(probe_pidfd());
    let block = if bpf_lsm.available {
        Some(Mechanism::BpfLsm)
    } else if fanotify.available {
        Some(Mechanism::Fanotify)
    } else {
        None
    };
    let actions = vec![
        ActionBacking {
            action: "block_exec",
            mechanism: block,
        },
        ActionBacking {
            action: "block_open",
            mechanism: block,
        },
        ActionBacking {
            action: "isolate",
            mechanism: cgroup_sock.available.then_some(Mechanism::CgroupSock),
        },
        ActionBacking {
            action: "kill",
            mechanism: pidfd.available.then_some(Mechanism::Pidfd),
        },
        ActionBacking {
            action: "quarantine",
            mechanism: Some(Mechanism::Filesystem),
        },
    ];
    Capabilities {
        bpf_lsm,
        fanotify,
        fanotify_support,
        cgroup_sock,
        pidfd,
        actions,
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |st: &Status| match &st.detail {
            None => "available".to_string(),
            Some(d) => format!("unavailable ({d})"),
        };
        write!(
            f,
            "bpf-lsm: {}; fanotify: {}; cgroup-sock: {}; pidfd: {};",
            s(&self.bpf_lsm),
            s(&self.fanotify),
            s(&self.cgroup_sock),
            s(&self.pidfd)
        )?;
        for a in &self.actions {
            match a.mechanism {
                Some(m) => write!(f, " {}={m:?}", a.action)?,
                None => write!(f, " {}=unavailable", a.action)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Runs the real probe (root): on a kernel refusing trampolines (this
    /// machine) blocking falls back to fanotify; where BPF-LSM works it wins.
    #[test]
    fn probe_picks_a_mechanism_per_action() {
        let caps = super::probe();
        eprintln!("{caps}");
        assert!(caps.fanotify.available, "{caps}");
        assert!(caps.fanotify_support.class_content);
        assert!(caps.cgroup_sock.available, "{caps}");
        assert!(caps.pidfd.available, "{caps}");
        let block = caps.actions[0].mechanism;
        if caps.bpf_lsm.available {
            assert_eq!(block, Some(super::Mechanism::BpfLsm));
        } else {
            assert!(caps.bpf_lsm.detail.is_some());
            assert_eq!(block, Some(super::Mechanism::Fanotify));
        }
        assert_eq!(
            caps.actions[2].mechanism,
            Some(super::Mechanism::CgroupSock)
        );
    }
}
