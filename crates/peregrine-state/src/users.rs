//! User and group names from /etc/passwd and /etc/group.

use std::collections::HashMap;
use std::path::Path;

/// uid → name and gid → name maps.
#[derive(Debug, Clone, Default)]
pub struct UserDb {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

fn parse(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut it = l.split(':');
            let name = it.next()?;
            let _pw = it.next()?;
            let id = it.next()?.parse().ok()?;
            Some((id, name.to_string()))
        })
        .collect()
}

impl UserDb {
    /// Read the host's databases (missing files give empty maps).
    pub fn load_host() -> UserDb {
        UserDb::load(Path::new("/etc"))
    }

    /// Read `passwd` and `group` from a directory.
    pub fn load(etc: &Path) -> UserDb {
        let read = |f: &str| std::fs::read_to_string(etc.join(f)).unwrap_or_default();
        UserDb {
            users: parse(&read("passwd")),
            groups: parse(&read("group")),
        }
    }

    /// A database from known pairs (replay).
    pub fn from_pairs(users: &[(u32, String)]) -> UserDb {
        UserDb {
            users: users.iter().cloned().collect(),
            groups: HashMap::new(),
        }
    }

    /// Every uid → name pair.
    pub fn users(&self) -> Vec<(u32, String)> {
        let mut v: Vec<(u32, String)> = self.users.iter().map(|(k, v)| (*k, v.clone())).collect();
        v.sort();
        v
    }

    /// Name of a uid.
    pub fn user(&self, uid: u32) -> Option<&str> {
        self.users.get(&uid).map(String::as_str)
    }

    /// Name of a gid.
    pub fn group(&self, gid: u32) -> Option<&str> {
        self.groups.get(&gid).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_passwd_lines_and_skips_garbage() {
        let m = parse(
            "root:x:0:0:root:/root:/bin/bash\n# c\nbad line\nnobody:x:65534:65534::/:/bin/false\n",
        );
        assert_eq!(m.get(&0).map(String::as_str), Some("root"));
        assert_eq!(m.get(&65534).map(String::as_str), Some("nobody"));
        assert_eq!(m.len(), 2);
    }
}
