//! Decision cache per (dev, inode, mtime, kind, rule-set version).
use super::AccessKind;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub dev: u64,
    pub ino: u64,
    pub mtime_ns: i128,
    pub kind: AccessKind,
    pub version: u64,
}

/// A bounded map; when full it is cleared (decisions are cheap to recompute,
/// and a rule-set change makes old entries unreachable anyway).
#[derive(Debug)]
pub(crate) struct DecisionCache {
    capacity: usize,
    map: Mutex<HashMap<CacheKey, bool>>,
}

impl DecisionCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, key: &CacheKey) -> Option<bool> {
        if self.capacity == 0 {
            return None;
        }
        self.map.lock().ok()?.get(key).copied()
    }

    pub fn put(&self, key: CacheKey, allow: bool) {
        if self.capacity == 0 {
            return;
        }
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            map.insert(key, allow);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.map.lock() {
            map.clear();
        }
    }
}
