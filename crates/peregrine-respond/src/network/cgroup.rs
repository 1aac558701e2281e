//! cgroup sock programs from `bpf/respond_net.bpf.c`.
use aya::maps::{Array, HashMap, MapData};
use aya::programs::{CgroupAttachMode, CgroupSockAddr};
use aya::{Ebpf, Pod};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/respond_net.bpf.o"));

const PROGRAMS: [&str; 4] = ["pg_connect4", "pg_sendmsg4", "pg_connect6", "pg_sendmsg6"];

/// Mirror of `struct pg_net_key4` (bpf/include/respond_net.h).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Key4 {
    addr: u32,
    port: u32,
}

/// Mirror of `struct pg_net_key6`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
struct Key6 {
    addr: [u32; 4],
    port: u32,
}

// SAFETY: plain `repr(C)` integers without padding.
unsafe impl Pod for Key4 {}
// SAFETY: as above.
unsafe impl Pod for Key6 {}

/// Errors of network isolation.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The eBPF object could not be loaded (needs CAP_BPF + CAP_NET_ADMIN).
    #[error("loading the isolation programs failed: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program could not be loaded or attached.
    #[error("program {name}: {source}")]
    Program {
        /// Program name.
        name: &'static str,
        /// The error.
        source: aya::programs::ProgramError,
    },
    /// A map could not be found or written.
    #[error("map {name}: {detail}")]
    Map {
        /// Map name.
        name: &'static str,
        /// What went wrong.
        detail: String,
    },
    /// The cgroup directory could not be opened.
    #[error("cannot open cgroup {path}: {source}")]
    Cgroup {
        /// The directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// One allowed destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// Destination address.
    pub addr: IpAddr,
    /// Destination port; `None` allows every port.
    #[serde(default)]
    pub port: Option<u16>,
}

/// Settings of an isolation (serde: `deny_unknown_fields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IsolationConfig {
    /// Destinations still reachable (e.g. the Peregrine server).
    pub allow: Vec<AllowRule>,
    /// Keep 127.0.0.0/8 and ::1 reachable.
    pub allow_loopback: bool,
    /// Where cgroup v2 is mounted.
    pub cgroup_root: PathBuf,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            allow_loopback: true,
            cgroup_root: PathBuf::from("/sys/fs/cgroup/unified"),
        }
    }
}

impl IsolationConfig {
    /// The cgroup v2 directory of a Docker container (cgroupfs driver).
    pub fn docker_cgroup(&self, container_id: &str) -> PathBuf {
        self.cgroup_root.join("docker").join(container_id)
    }

    /// The cgroup v2 directory of a process (`0::<path>` in `/proc/<pid>/cgroup`).
    pub fn cgroup_of_pid(&self, pid: u32) -> Option<PathBuf> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let rel = text.lines().find_map(|l| l.strip_prefix("0::"))?;
        Some(self.cgroup_root.join(rel.trim_start_matches('/')))
    }
}

/// Counters kept by the programs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IsolationStats {
    /// Connects/sends let through.
    pub allowed: u64,
    /// Connects/sends refused.
    pub denied: u64,
}

/// An isolated cgroup. [`Isolation::undo`] (or drop) detaches the programs and
/// restores the network; isolation also ends when the agent exits.
pub struct Isolation {
    ebpf: Ebpf,
    cgroup: PathBuf,
}

impl std::fmt::Debug for Isolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Isolation")
            .field("cgroup", &self.cgroup)
            .finish()
    }
}

fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> NetError {
    move |e| NetError::Map {
        name,
        detail: e.to_string(),
    }
}

impl Isolation {
    /// Loads the programs, fills the allow maps and attaches to `cgroup`.
    pub fn isolate(cgroup: &Path, config: &IsolationConfig) -> Result<Self, NetError> {
        let dir = File::open(cgroup).map_err(|source| NetError::Cgroup {
            path: cgroup.to_path_buf(),
            source,
        })?;
        let mut iso = Self {
            ebpf: Ebpf::load(OBJECT)?,
            cgroup: cgroup.to_path_buf(),
        };
        {
            let mut settings: Array<&mut MapData, u32> =
                Array::try_from(iso.map("settings")?).map_err(map_err("settings"))?;
            settings
                .set(0, u32::from(config.allow_loopback), 0)
                .map_err(map_err("settings"))?;
        }
        for rule in &config.allow {
            iso.allow(*rule)?;
        }
        for name in PROGRAMS {
            let prog: &mut CgroupSockAddr = iso
                .ebpf
                .program_mut(name)
                .ok_or_else(|| NetError::Map {
                    name,
                    detail: "program missing from the object".into(),
                })?
                .try_into()
                .map_err(|source| NetError::Program { name, source })?;
            prog.load()
                .map_err(|source| NetError::Program { name, source })?;
            prog.attach(&dir, CgroupAttachMode::Single)
                .map_err(|source| NetError::Program { name, source })?;
        }
        tracing::info!(cgroup = %cgroup.display(), allow = config.allow.len(), "network isolated");
        Ok(iso)
    }

    fn map(&mut self, name: &'static str) -> Result<&mut aya::maps::Map, NetError> {
        self.ebpf.map_mut(name).ok_or_else(|| NetError::Map {
            name,
            detail: "map missing from the object".into(),
        })
    }

    /// Adds an allowed destination while isolated.
    pub fn allow(&mut self, rule: AllowRule) -> Result<(), NetError> {
        let port = u32::from(rule.port.unwrap_or(0));
        match rule.addr {
            IpAddr::V4(a) => {
                let mut m: HashMap<&mut MapData, Key4, u8> =
                    HashMap::try_from(self.map("allow4")?).map_err(map_err("allow4"))?;
                let key = Key4 {
                    addr: u32::from_ne_bytes(a.octets()),
                    port,
                };
                m.insert(key, 1, 0).map_err(map_err("allow4"))
            }
            IpAddr::V6(a) => {
                let mut m: HashMap<&mut MapData, Key6, u8> =
                    HashMap::try_from(self.map("allow6")?).map_err(map_err("allow6"))?;
                let o = a.octets();
                let mut addr = [0u32; 4];
                for (i, w) in addr.iter_mut().enumerate() {
                    *w = u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]);
                }
                m.insert(Key6 { addr, port }, 1, 0)
                    .map_err(map_err("allow6"))
            }
        }
    }

    /// What the programs have counted so far.
    pub fn stats(&mut self) -> Result<IsolationStats, NetError> {
        let stats: Array<&mut MapData, u64> =
            Array::try_from(self.map("stats")?).map_err(map_err("stats"))?;
        Ok(IsolationStats {
            allowed: stats.get(&0, 0).map_err(map_err("stats"))?,
            denied: stats.get(&1, 0).map_err(map_err("stats"))?,
        })
    }

    /// The isolated cgroup.
    pub fn cgroup(&self) -> &Path {
        &self.cgroup
    }

    /// Detaches the programs: the cgroup's network is back to normal.
    pub fn undo(self) {
        tracing::info!(cgroup = %self.cgroup.display(), "network isolation undone");
        drop(self);
    }
}
