//! Best-effort process information from `/proc/<pid>`.
use super::ProcessInfo;
use std::fs;

/// Reads what `/proc/<pid>` says; missing pieces stay empty.
pub(crate) fn read(pid: u32) -> ProcessInfo {
    let base = format!("/proc/{pid}");
    let mut info = ProcessInfo {
        comm: fs::read_to_string(format!("{base}/comm"))
            .map(|s| s.trim_end().to_string())
            .unwrap_or_default(),
        exe: fs::read_link(format!("{base}/exe"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default(),
        cmdline: fs::read(format!("{base}/cmdline"))
            .map(|b| {
                b.split(|c| *c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default(),
        ..ProcessInfo::default()
    };
    if let Ok(status) = fs::read_to_string(format!("{base}/status")) {
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("PPid:") {
                info.ppid = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("Uid:") {
                info.uid = v
                    .split_whitespace()
                    .next()
                    .and_then(|u| u.parse().ok())
                    .unwrap_or(0);
            }
        }
    }
    if let Ok(cgroup) = fs::read_to_string(format!("{base}/cgroup")) {
        info.container_id = container_id(&cgroup);
    }
    info
}

/// The first 64-hex-digit path component of a cgroup file (docker/<id>,
/// docker-<id>.scope, cri-containerd-<id>.scope, crio-<id>.scope).
pub(crate) fn container_id(cgroup: &str) -> Option<String> {
    cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|p| p.split('/'))
        .map(|c| {
            let c = c.strip_suffix(".scope").unwrap_or(c);
            c.rsplit(['-', ':']).next().unwrap_or(c)
        })
        .find(|c| c.len() == 64 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #[test]
    fn container_ids_from_cgroup_files() {
        let id = "a".repeat(64);
        assert_eq!(
            super::container_id(&format!("0::/docker/{id}\n")).as_deref(),
            Some(id.as_str())
        );
        assert_eq!(
            super::container_id(&format!("1:name=systemd:/system.slice/docker-{id}.scope\n"))
                .as_deref(),
            Some(id.as_str())
        );
        assert_eq!(super::container_id("0::/user.slice\n"), None);
    }
}
