//! What a profile learns: item kinds and the compression that keeps each
//! kind's set small (path prefixes, numeric path components, peers).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The kinds of learned items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// An executable run (its path).
    Executable,
    /// A parent → child exec edge (`parent exe -> child exe`).
    ExecEdge,
    /// A directory prefix files were read under.
    FileRead,
    /// A directory prefix files were written under.
    FileWrite,
    /// An outbound peer (`ip:port`, or `a.b.c.0/24:port` compressed).
    Peer,
    /// A listening port (`tcp/8080`).
    ListenPort,
    /// A user id processes ran as (at exec).
    User,
}

impl ItemKind {
    /// Every kind, in alert-importance order.
    pub const ALL: [ItemKind; 7] = [
        ItemKind::Executable,
        ItemKind::ExecEdge,
        ItemKind::Peer,
        ItemKind::ListenPort,
        ItemKind::User,
        ItemKind::FileWrite,
        ItemKind::FileRead,
    ];

    /// Stable name (`profile.item_kind`, files).
    pub fn name(self) -> &'static str {
        match self {
            ItemKind::Executable => "executable",
            ItemKind::ExecEdge => "exec_edge",
            ItemKind::FileRead => "file_read",
            ItemKind::FileWrite => "file_write",
            ItemKind::Peer => "peer",
            ItemKind::ListenPort => "listen_port",
            ItemKind::User => "user",
        }
    }

    /// What a drift of this kind is called in the rule name
    /// (`Behaviour drift: new executable`).
    pub fn title(self) -> &'static str {
        match self {
            ItemKind::Executable => "new executable",
            ItemKind::ExecEdge => "new exec edge",
            ItemKind::FileRead => "new file read prefix",
            ItemKind::FileWrite => "new file write prefix",
            ItemKind::Peer => "new outbound peer",
            ItemKind::ListenPort => "new listening port",
            ItemKind::User => "new user",
        }
    }

    /// Falco priority name of a drift of this kind: WARNING for what runs
    /// or talks (executables, edges, peers, listening ports, users), NOTICE
    /// for file access.
    pub fn priority(self) -> &'static str {
        match self {
            ItemKind::FileRead | ItemKind::FileWrite => "Notice",
            _ => "Warning",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One observed item, already compressed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Item {
    /// Its kind.
    pub kind: ItemKind,
    /// Its value (a path, a prefix, `ip:port`, `tcp/80`, a uid).
    pub value: String,
}

/// Longest item value kept, in bytes (longer values are cut at a
/// character boundary): bounds a profile's memory with its item count.
pub const MAX_VALUE_BYTES: usize = 512;

impl Item {
    /// An item of `kind` with `value` (cut to [`MAX_VALUE_BYTES`]).
    pub fn new(kind: ItemKind, value: impl Into<String>) -> Item {
        let mut value = value.into();
        if value.len() > MAX_VALUE_BYTES {
            let mut end = MAX_VALUE_BYTES;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
        }
        Item { kind, value }
    }
}

/// How items are compressed before they are learned or compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// Directory components kept of a file path (`/usr/lib/x/libc.so` at
    /// depth 2: `/usr/lib/`).
    pub path_depth: usize,
    /// Peers compressed to their /24 (IPv4) or /64 (IPv6) network.
    pub peer_cidr: bool,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            path_depth: 3,
            peer_cidr: false,
        }
    }
}

impl Compression {
    /// The directory prefix of `path` kept for file items: at most
    /// `path_depth` directory components, an all-digit component (a pid
    /// under /proc, a numbered file) as `*`, always ending in `/`.
    /// `None` for a relative or empty path.
    pub fn path_prefix(&self, path: &str) -> Option<String> {
        if !path.starts_with('/') {
            return None;
        }
        let mut parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        parts.pop(); // the file itself
        let mut out = String::from("/");
        for c in parts.iter().take(self.path_depth) {
            if c.bytes().all(|b| b.is_ascii_digit()) {
                out.push('*');
            } else {
                out.push_str(c);
            }
            out.push('/');
        }
        Some(out)
    }

    /// A peer item: `ip:port` (IPv6 in brackets), or its network when
    /// `peer_cidr` is set.
    pub fn peer(&self, ip: IpAddr, port: u16) -> String {
        match (ip, self.peer_cidr) {
            (IpAddr::V4(v4), true) => {
                let o = v4.octets();
                format!("{}.{}.{}.0/24:{port}", o[0], o[1], o[2])
            }
            (IpAddr::V6(v6), true) => {
                let s = v6.segments();
                format!("[{:x}:{:x}:{:x}:{:x}::]/64:{port}", s[0], s[1], s[2], s[3])
            }
            (IpAddr::V4(v4), false) => format!("{v4}:{port}"),
            (IpAddr::V6(v6), false) => format!("[{v6}]:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_prefixes_keep_depth_and_hide_numbers() {
        let c = Compression::default();
        assert_eq!(c.path_prefix("/etc/passwd").unwrap(), "/etc/");
        assert_eq!(
            c.path_prefix("/usr/lib/x86_64-linux-gnu/gconv/x.so")
                .unwrap(),
            "/usr/lib/x86_64-linux-gnu/"
        );
        assert_eq!(c.path_prefix("/proc/1234/status").unwrap(), "/proc/*/");
        assert_eq!(c.path_prefix("/vmlinuz").unwrap(), "/");
        assert_eq!(c.path_prefix("relative/x"), None);
        let shallow = Compression {
            path_depth: 1,
            ..Compression::default()
        };
        assert_eq!(shallow.path_prefix("/usr/lib/libc.so").unwrap(), "/usr/");
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let it = Item::new(ItemKind::Executable, long);
        assert_eq!(it.value.len(), MAX_VALUE_BYTES);
        assert!(it.value.chars().all(|c| c == 'é'));
    }

    #[test]
    fn peers_exact_or_by_network() {
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "2001:db8:1:2::5".parse().unwrap();
        let exact = Compression::default();
        assert_eq!(exact.peer(ip, 443), "10.1.2.3:443");
        assert_eq!(exact.peer(v6, 53), "[2001:db8:1:2::5]:53");
        let net = Compression {
            peer_cidr: true,
            ..exact
        };
        assert_eq!(net.peer(ip, 443), "10.1.2.0/24:443");
        assert_eq!(net.peer(v6, 53), "[2001:db8:1:2::]/64:53");
    }
}
