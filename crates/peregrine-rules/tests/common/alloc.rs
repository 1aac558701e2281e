//! A counting global allocator for tests: allocations made, bytes live and
//! the peak of live bytes. Tests using it run one case at a time.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

pub struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grow(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grow(new);
        }
        p
    }
}

fn grow(n: usize) {
    ALLOCS.fetch_add(1, Relaxed);
    let live = LIVE.fetch_add(n, Relaxed) + n;
    PEAK.fetch_max(live, Relaxed);
}

/// Counters now.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub allocs: u64,
    pub live: usize,
    pub peak: usize,
}

/// Counters now; the peak restarts from the live bytes.
pub fn snapshot() -> Snapshot {
    let live = LIVE.load(Relaxed);
    let peak = PEAK.swap(live, Relaxed);
    Snapshot {
        allocs: ALLOCS.load(Relaxed),
        live,
        peak,
    }
}
