//! A bound on container metadata: at most a configured number of
//! containers, each at most [`MAX_CONTAINER_BYTES`] of text. The live agent
//! and replay use the same bound, so hostile metadata (a runtime answer or a
//! capture record with a million labels, or a million containers) costs a
//! bounded amount of memory.
//!
//! [`ContainerCache`] keeps the metadata; this wrapper sees every way an
//! entry gets in (a lookup, an event-stream update, a capture record),
//! remembers the ids in order of first sight and forgets the oldest once the
//! bound is reached. A container forgotten while still running is looked up
//! again at its next event (replay: reported by id only).

use crate::{container_id, ContainerCache, RuntimeUpdate};
use peregrine_event::ContainerView;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// Most text (ids, names, labels, mounts) kept for one container.
pub const MAX_CONTAINER_BYTES: usize = 16 << 10;
/// Longest single value kept (longer ones are cut at a character boundary).
pub const MAX_VALUE_BYTES: usize = 1024;
/// Default bound on the number of containers known at once.
pub const DEFAULT_MAX_CONTAINERS: usize = 4096;

/// Counters describing the bound at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BoundStats {
    /// Containers forgotten because the bound was reached.
    pub evicted: u64,
    /// Containers whose metadata was cut to [`MAX_CONTAINER_BYTES`].
    pub clamped: u64,
}

/// [`ContainerCache`] with a bound on its size.
#[derive(Debug)]
pub struct BoundedContainers {
    cache: ContainerCache,
    capacity: usize,
    order: VecDeque<String>,
    seen: HashSet<String>,
    stats: BoundStats,
}

fn cut(s: &mut String, max: usize) -> bool {
    if s.len() <= max {
        return false;
    }
    let mut at = max;
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    s.truncate(at);
    true
}

/// Cut `view` to the bound: every value to [`MAX_VALUE_BYTES`], then labels
/// and mounts (in order) while the total stays within
/// [`MAX_CONTAINER_BYTES`]. True when something was cut.
pub fn clamp(view: &mut ContainerView) -> bool {
    let mut cutted = false;
    for s in [
        &mut view.id,
        &mut view.name,
        &mut view.image,
        &mut view.image_repository,
        &mut view.image_tag,
        &mut view.image_id,
        &mut view.runtime,
    ] {
        cutted |= cut(s, MAX_VALUE_BYTES);
    }
    let mut total = view.id.len()
        + view.name.len()
        + view.image.len()
        + view.image_repository.len()
        + view.image_tag.len()
        + view.image_id.len()
        + view.runtime.len();
    let labels = std::mem::take(&mut view.labels);
    for (mut k, mut v) in labels {
        cutted |= cut(&mut k, MAX_VALUE_BYTES) | cut(&mut v, MAX_VALUE_BYTES);
        if total + k.len() + v.len() > MAX_CONTAINER_BYTES {
            cutted = true;
            continue;
        }
        total += k.len() + v.len();
        view.labels.insert(k, v);
    }
    let mounts = std::mem::take(&mut view.mounts);
    for (mut src, mut dst, mut mode, rw) in mounts {
        for s in [&mut src, &mut dst, &mut mode] {
            cutted |= cut(s, MAX_VALUE_BYTES);
        }
        let n = src.len() + dst.len() + mode.len();
        if total + n > MAX_CONTAINER_BYTES {
            cutted = true;
            continue;
        }
        total += n;
        view.mounts.push((src, dst, mode, rw));
    }
    cutted
}

fn text_bytes(v: &ContainerView) -> usize {
    v.id.len()
        + v.name.len()
        + v.image.len()
        + v.image_repository.len()
        + v.image_tag.len()
        + v.image_id.len()
        + v.runtime.len()
        + v.labels
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
        + v.mounts
            .iter()
            .map(|(a, b, c, _)| a.len() + b.len() + c.len())
            .sum::<usize>()
}

impl BoundedContainers {
    /// Bound `cache` to `capacity` containers (at least 16).
    pub fn new(cache: ContainerCache, capacity: usize) -> BoundedContainers {
        BoundedContainers {
            cache,
            capacity: capacity.max(16),
            order: VecDeque::new(),
            seen: HashSet::new(),
            stats: BoundStats::default(),
        }
    }

    /// Note that `id` may now be in the cache; forget the oldest beyond the
    /// bound.
    fn track(&mut self, id: &str) {
        if self.seen.contains(id) {
            return;
        }
        self.seen.insert(id.to_string());
        self.order.push_back(id.to_string());
        while self.seen.len() > self.capacity {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if self.seen.remove(&old) {
                self.cache.forget(&old);
                self.stats.evicted += 1;
            }
        }
        // Ids removed by the runtime leave stale places behind: compact.
        if self.order.len() > 2 * self.capacity {
            let seen = &self.seen;
            self.order.retain(|id| seen.contains(id));
        }
    }

    /// Add known metadata (a capture record, an event-stream update).
    pub fn insert(&mut self, mut view: ContainerView) {
        if clamp(&mut view) {
            self.stats.clamped += 1;
        }
        let id = view.id.clone();
        self.cache.insert(view);
        self.track(&id);
    }

    /// Apply an update from the runtime's event stream.
    pub fn apply(&mut self, update: RuntimeUpdate) {
        match update {
            RuntimeUpdate::Upsert(v) => self.insert(*v),
            RuntimeUpdate::Remove(id) => {
                self.seen.remove(&id);
                self.cache.forget(&id);
            }
            other => self.cache.apply(other),
        }
    }

    /// Metadata for the container behind a cgroup leaf (see
    /// [`ContainerCache::lookup_shared`]), within the bound.
    pub fn lookup_shared(&mut self, cgroup_leaf: &str) -> Option<Arc<ContainerView>> {
        let before = self.cache.len();
        let found = self.cache.lookup_shared(cgroup_leaf).cloned();
        if self.cache.len() > before {
            // A new entry (a runtime answer): bound it like the others.
            let id = container_id(cgroup_leaf).map(str::to_string)?;
            self.track(&id);
            if let Some(v) = found
                .as_ref()
                .filter(|v| text_bytes(v) > MAX_CONTAINER_BYTES)
            {
                let mut v = (**v).clone();
                clamp(&mut v);
                self.stats.clamped += 1;
                self.cache.insert(v);
                return self.cache.lookup_shared(cgroup_leaf).cloned();
            }
        }
        found
    }

    /// The cache itself (overlay lookups).
    pub fn cache_mut(&mut self) -> &mut ContainerCache {
        &mut self.cache
    }

    /// Drop failed and stale lookups (see [`ContainerCache::gc`]).
    pub fn gc(&mut self) {
        self.cache.gc();
    }

    /// Containers known now (at most the capacity).
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// True when none are known.
    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// The bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Evictions and clamps so far.
    pub fn stats(&self) -> BoundStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(i: usize, label_bytes: usize) -> ContainerView {
        let mut v = ContainerView {
            id: format!("{i:064x}"),
            name: format!("c{i}"),
            ..ContainerView::default()
        };
        v.labels.insert("big".into(), "x".repeat(label_bytes));
        for l in 0..200 {
            v.labels.insert(format!("l{l}"), "y".repeat(200));
        }
        v
    }

    #[test]
    fn many_and_large_containers_stay_within_the_bound() {
        let mut b = BoundedContainers::new(ContainerCache::offline(), 100);
        for i in 0..1000 {
            b.insert(view(i, 1 << 20));
            assert!(b.len() <= 100, "{} containers after {i}", b.len());
        }
        assert_eq!(b.stats().evicted, 900);
        assert_eq!(b.stats().clamped, 1000);
        // The newest are kept, each within the byte bound.
        let newest = b.lookup_shared(&format!("{:064x}", 999)).unwrap();
        assert_eq!(newest.name, "c999");
        assert!(text_bytes(&newest) <= MAX_CONTAINER_BYTES);
        assert!(newest.labels["big"].len() <= MAX_VALUE_BYTES);
        // The oldest was forgotten: offline, only its id is reported.
        let oldest = b.lookup_shared(&format!("{:064x}", 0)).unwrap();
        assert_eq!(oldest.name, "");
        assert!(b.len() <= 100);
    }

    #[test]
    fn removals_free_their_place() {
        let mut b = BoundedContainers::new(ContainerCache::offline(), 16);
        for i in 0..10_000 {
            b.insert(ContainerView {
                id: format!("{i:064x}"),
                ..ContainerView::default()
            });
            b.apply(RuntimeUpdate::Remove(format!("{i:064x}")));
        }
        assert_eq!(b.len(), 0);
        assert_eq!(b.stats().evicted, 0);
        assert!(b.order.len() <= 32, "{}", b.order.len());
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        let mut s = "é".repeat(MAX_VALUE_BYTES);
        assert!(cut(&mut s, MAX_VALUE_BYTES));
        assert!(s.len() <= MAX_VALUE_BYTES && s.chars().all(|c| c == 'é'));
    }
}
