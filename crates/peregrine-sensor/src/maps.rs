//! Typed access to the kernel maps (config, filters, counters).

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use aya::{Ebpf, Pod};
use peregrine_event::abi::{self, PgConfig, PgCounters};
use peregrine_event::{Category, EventKind};
use std::collections::BTreeSet;

use crate::{KernelFilter, OpenFilter, SensorError};

/// `PG_CFG_OPEN_READ`: read-only opens only under `OPEN_READ_PREFIXES`.
const CFG_OPEN_READ: u32 = 512;
/// `PG_CFG_OPEN_WRITE`: opens for writing only under `OPEN_WRITE_PREFIXES`.
const CFG_OPEN_WRITE: u32 = 1024;
/// Entries of each open prefix trie (`max_entries` in the C source): a
/// longer list lets every open of that mode through.
const OPEN_PREFIXES_MAX: usize = 1024;

#[repr(transparent)]
#[derive(Clone, Copy)]
struct Cfg(PgConfig);
// SAFETY: PgConfig is repr(C) plain integers, valid for any bit pattern.
unsafe impl Pod for Cfg {}

#[repr(transparent)]
#[derive(Clone, Copy)]
struct Cnt(PgCounters);
// SAFETY: PgCounters is repr(C) plain integers, valid for any bit pattern.
unsafe impl Pod for Cnt {}

/// Sums of the per-CPU kernel counters of one category.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CategoryCounters {
    /// Records written to the ring buffer.
    pub emitted: u64,
    /// Records lost because the ring buffer was full.
    pub dropped: u64,
    /// Records rejected by a kernel filter map.
    pub filtered: u64,
}

fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> SensorError {
    move |e| SensorError::Map { name, source: e }
}

fn missing(name: &'static str) -> SensorError {
    SensorError::MissingMap(name)
}

/// Write the config record.
pub(crate) fn write_config(
    ebpf: &mut Ebpf,
    kinds: &BTreeSet<EventKind>,
    filter: &KernelFilter,
    wakeup_bytes: u32,
) -> Result<(), SensorError> {
    let mut flags = 0;
    if filter.pids.is_some() {
        flags |= abi::CFG_SCOPE_PIDS;
    }
    if filter.cgroups.is_some() {
        flags |= abi::CFG_SCOPE_CGROUPS;
    }
    if !filter.comm_allow.is_empty() {
        flags |= abi::CFG_COMM_ALLOW;
    } else if !filter.comm_deny.is_empty() {
        flags |= abi::CFG_COMM_DENY;
    }
    if !filter.path_prefixes.is_empty() {
        flags |= abi::CFG_PATH_PREFIX;
    }
    if filter.all_sockets {
        flags |= abi::CFG_ALL_SOCKETS;
    }
    if filter.exec_env {
        flags |= abi::CFG_EXEC_ENV;
    }
    if !filter.stream_comms.is_empty() {
        flags |= abi::CFG_STREAM_COMM;
    }
    if !filter.stream_cgroups.is_empty() {
        flags |= abi::CFG_STREAM_CGROUP;
    }
    flags |= open_flags(&filter.open);
    let cfg = PgConfig {
        kind_mask: kinds.iter().fold(0u64, |m, k| m | (1u64 << k.id())),
        self_tgid: std::process::id(),
        flags,
        wakeup_bytes,
        _pad: 0,
    };
    let mut arr: Array<&mut MapData, Cfg> =
        Array::try_from(ebpf.map_mut("CONFIG").ok_or_else(|| missing("CONFIG"))?)
            .map_err(map_err("CONFIG"))?;
    arr.set(0, Cfg(cfg), 0).map_err(map_err("CONFIG"))
}

/// Fill the filter maps (the config record is written separately).
pub(crate) fn write_filters(ebpf: &mut Ebpf, filter: &KernelFilter) -> Result<(), SensorError> {
    {
        let mut m: HashMap<&mut MapData, u32, u8> = HashMap::try_from(
            ebpf.map_mut("PID_SCOPE")
                .ok_or_else(|| missing("PID_SCOPE"))?,
        )
        .map_err(map_err("PID_SCOPE"))?;
        for pid in filter.pids.iter().flatten() {
            m.insert(pid, 1, 0).map_err(map_err("PID_SCOPE"))?;
        }
    }
    {
        let mut m: HashMap<&mut MapData, u64, u8> = HashMap::try_from(
            ebpf.map_mut("CGROUP_SCOPE")
                .ok_or_else(|| missing("CGROUP_SCOPE"))?,
        )
        .map_err(map_err("CGROUP_SCOPE"))?;
        for cg in filter.cgroups.iter().flatten() {
            m.insert(cg, 1, 0).map_err(map_err("CGROUP_SCOPE"))?;
        }
    }
    {
        let mut m: HashMap<&mut MapData, [u8; abi::COMM_LEN], u8> = HashMap::try_from(
            ebpf.map_mut("COMM_FILTER")
                .ok_or_else(|| missing("COMM_FILTER"))?,
        )
        .map_err(map_err("COMM_FILTER"))?;
        let list = if filter.comm_allow.is_empty() {
            &filter.comm_deny
        } else {
            &filter.comm_allow
        };
        for comm in list {
            m.insert(comm_key(comm), 1, 0)
                .map_err(map_err("COMM_FILTER"))?;
        }
    }
    {
        let mut m: LpmTrie<&mut MapData, [u8; abi::PREFIX_MAX], u8> = LpmTrie::try_from(
            ebpf.map_mut("PATH_PREFIXES")
                .ok_or_else(|| missing("PATH_PREFIXES"))?,
        )
        .map_err(map_err("PATH_PREFIXES"))?;
        for p in &filter.path_prefixes {
            let bytes = p.as_bytes();
            if bytes.is_empty() || bytes.len() > abi::PREFIX_MAX {
                return Err(SensorError::BadFilter(format!(
                    "path prefix '{p}' must be 1 to {} bytes long",
                    abi::PREFIX_MAX
                )));
            }
            let mut data = [0u8; abi::PREFIX_MAX];
            data[..bytes.len()].copy_from_slice(bytes);
            let key = Key::new((bytes.len() * 8) as u32, data);
            m.insert(&key, 1, 0).map_err(map_err("PATH_PREFIXES"))?;
        }
    }
    Ok(())
}

/// The config flags of an open filter (a mode whose prefixes do not fit
/// the trie is not filtered).
fn open_flags(open: &OpenFilter) -> u32 {
    let fits = |s: &Option<Vec<String>>| s.as_ref().is_some_and(|v| v.len() <= OPEN_PREFIXES_MAX);
    let mut flags = 0;
    if fits(&open.read) {
        flags |= CFG_OPEN_READ;
    }
    if fits(&open.write) {
        flags |= CFG_OPEN_WRITE;
    }
    flags
}

fn config_array(ebpf: &mut Ebpf) -> Result<Array<&mut MapData, Cfg>, SensorError> {
    Array::try_from(ebpf.map_mut("CONFIG").ok_or_else(|| missing("CONFIG"))?)
        .map_err(map_err("CONFIG"))
}

/// Set the open filter bits of the config record to those of `open`
/// (`None`: both off, every open passes).
pub(crate) fn set_open_flags(
    ebpf: &mut Ebpf,
    open: Option<&OpenFilter>,
) -> Result<(), SensorError> {
    let mut arr = config_array(ebpf)?;
    let mut cfg = arr.get(&0, 0).map_err(map_err("CONFIG"))?;
    cfg.0.flags &= !(CFG_OPEN_READ | CFG_OPEN_WRITE);
    cfg.0.flags |= open.map_or(0, open_flags);
    arr.set(0, cfg, 0).map_err(map_err("CONFIG"))
}

/// The trie key of a prefix, cut to the key size (a shorter prefix lets
/// more through); `None` for the empty prefix, which matches nothing in
/// user space either.
fn prefix_key(p: &str) -> Option<Key<[u8; abi::PREFIX_MAX]>> {
    let bytes = &p.as_bytes()[..p.len().min(abi::PREFIX_MAX)];
    if bytes.is_empty() {
        return None;
    }
    let mut data = [0u8; abi::PREFIX_MAX];
    data[..bytes.len()].copy_from_slice(bytes);
    Some(Key::new((bytes.len() * 8) as u32, data))
}

/// Replace the contents of one open prefix trie: remove the keys of `old`
/// (what was written before), then insert those of `new`.
fn fill_prefixes(
    ebpf: &mut Ebpf,
    name: &'static str,
    old: &[String],
    new: &[String],
) -> Result<(), SensorError> {
    let mut m: LpmTrie<&mut MapData, [u8; abi::PREFIX_MAX], u8> =
        LpmTrie::try_from(ebpf.map_mut(name).ok_or_else(|| missing(name))?)
            .map_err(map_err(name))?;
    for k in old
        .iter()
        .take(OPEN_PREFIXES_MAX)
        .filter_map(|p| prefix_key(p))
    {
        // A prefix listed twice was removed the first time.
        let _ = m.remove(&k);
    }
    for k in new
        .iter()
        .take(OPEN_PREFIXES_MAX)
        .filter_map(|p| prefix_key(p))
    {
        m.insert(&k, 1, 0).map_err(map_err(name))?;
    }
    Ok(())
}

/// Replace the open prefix tries' contents `old` by `open`, then switch
/// the filter on (the flags are written last, so a reload never filters
/// with half-written maps).
pub(crate) fn write_open_filter(
    ebpf: &mut Ebpf,
    old: &OpenFilter,
    open: &OpenFilter,
) -> Result<(), SensorError> {
    let list = |s: &Option<Vec<String>>| s.clone().unwrap_or_default();
    fill_prefixes(
        ebpf,
        "OPEN_READ_PREFIXES",
        &list(&old.read),
        &list(&open.read),
    )?;
    fill_prefixes(
        ebpf,
        "OPEN_WRITE_PREFIXES",
        &list(&old.write),
        &list(&open.write),
    )?;
    set_open_flags(ebpf, Some(open))
}

/// Fill the syscall id stream selection maps.
pub(crate) fn write_stream(ebpf: &mut Ebpf, filter: &KernelFilter) -> Result<(), SensorError> {
    {
        let mut m: HashMap<&mut MapData, [u8; abi::COMM_LEN], u8> = HashMap::try_from(
            ebpf.map_mut("STREAM_COMMS")
                .ok_or_else(|| missing("STREAM_COMMS"))?,
        )
        .map_err(map_err("STREAM_COMMS"))?;
        for comm in &filter.stream_comms {
            m.insert(comm_key(comm), 1, 0)
                .map_err(map_err("STREAM_COMMS"))?;
        }
    }
    for cg in &filter.stream_cgroups {
        stream_cgroup(ebpf, *cg)?;
    }
    Ok(())
}

/// Add a cgroup v2 id to the syscall id stream selection.
pub(crate) fn stream_cgroup(ebpf: &mut Ebpf, id: u64) -> Result<(), SensorError> {
    let mut m: HashMap<&mut MapData, u64, u8> = HashMap::try_from(
        ebpf.map_mut("STREAM_CGROUPS")
            .ok_or_else(|| missing("STREAM_CGROUPS"))?,
    )
    .map_err(map_err("STREAM_CGROUPS"))?;
    m.insert(id, 1, 0).map_err(map_err("STREAM_CGROUPS"))
}

/// The comm filter key for a name (truncated like the kernel's comm).
pub fn comm_key(comm: &str) -> [u8; abi::COMM_LEN] {
    let mut k = [0u8; abi::COMM_LEN];
    let b = comm.as_bytes();
    let n = b.len().min(abi::COMM_LEN - 1);
    k[..n].copy_from_slice(&b[..n]);
    k
}

/// Read and sum the per-CPU counters.
pub(crate) fn read_counters(ebpf: &Ebpf) -> Result<Vec<(Category, CategoryCounters)>, SensorError> {
    let arr: PerCpuArray<&MapData, Cnt> =
        PerCpuArray::try_from(ebpf.map("COUNTERS").ok_or_else(|| missing("COUNTERS"))?)
            .map_err(map_err("COUNTERS"))?;
    let mut out = Vec::new();
    for cat in Category::ALL {
        let vals = arr.get(&cat.id(), 0).map_err(map_err("COUNTERS"))?;
        let mut c = CategoryCounters::default();
        for v in vals.iter() {
            c.emitted += v.0.emitted;
            c.dropped += v.0.dropped;
            c.filtered += v.0.filtered;
        }
        out.push((*cat, c));
    }
    Ok(out)
}

/// Add a process (and, from now on, its descendants) to the pid scope.
pub(crate) fn scope_pid(ebpf: &mut Ebpf, pid: u32) -> Result<(), SensorError> {
    let mut m: HashMap<&mut MapData, u32, u8> = HashMap::try_from(
        ebpf.map_mut("PID_SCOPE")
            .ok_or_else(|| missing("PID_SCOPE"))?,
    )
    .map_err(map_err("PID_SCOPE"))?;
    m.insert(pid, 1, 0).map_err(map_err("PID_SCOPE"))
}

/// Add a cgroup v2 id to the cgroup scope.
pub(crate) fn scope_cgroup(ebpf: &mut Ebpf, id: u64) -> Result<(), SensorError> {
    let mut m: HashMap<&mut MapData, u64, u8> = HashMap::try_from(
        ebpf.map_mut("CGROUP_SCOPE")
            .ok_or_else(|| missing("CGROUP_SCOPE"))?,
    )
    .map_err(map_err("CGROUP_SCOPE"))?;
    m.insert(id, 1, 0).map_err(map_err("CGROUP_SCOPE"))
}
