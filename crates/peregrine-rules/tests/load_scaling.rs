//! Loading is linear in the size of the file: the work (allocations) and
//! the memory a generated file needs grow with its size, not faster. Wall
//! time is measured by bench/rules_load.sh instead (a shared machine makes
//! time meaningless in a test).

#[path = "common/alloc.rs"]
mod alloc;
#[path = "common/generate.rs"]
mod generate;

use peregrine_rules::Engine;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// (allocations, peak bytes) of loading and compiling `text`.
fn cost(text: &str) -> (u64, usize) {
    let before = alloc::snapshot();
    let engine = Engine::from_str("gen.yaml", text).unwrap_or_else(|e| panic!("{e}"));
    assert!(engine.stats().rules > 100);
    let after = alloc::snapshot();
    drop(engine);
    (after.allocs - before.allocs, after.peak - before.live)
}

#[test]
fn load_cost_grows_linearly_with_file_size() {
    let small = generate::rules_file(512 << 10);
    let large = generate::rules_file(2 << 20);
    let (a1, p1) = cost(&small);
    let (a4, p4) = cost(&large);
    let (ra, rp) = (a4 as f64 / a1 as f64, p4 as f64 / p1 as f64);
    eprintln!("allocations x{ra:.2}, peak memory x{rp:.2} for 4x the size");
    assert!(
        (3.0..6.0).contains(&ra),
        "allocations x{ra:.2} for 4x the size"
    );
    assert!(
        (3.0..6.0).contains(&rp),
        "peak memory x{rp:.2} for 4x the size"
    );
    // Memory stays a small multiple of the text.
    assert!(
        p4 < 64 * large.len(),
        "{p4} bytes for {} of rules",
        large.len()
    );
}
