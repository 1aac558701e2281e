//! Property: any generated rules file (lists built from lists, macro
//! diamonds, chains and cycles, alias bombs, a byte out of place) either
//! loads or fails with errors — within bounded memory, never a panic or an
//! abort. Seeded, so a failure names its seed; the fuzz target
//! fuzz/fuzz_targets/rules_expansion.rs draws the same files from the
//! fuzzer's bytes.

#[path = "common/alloc.rs"]
mod alloc;
mod common;
#[path = "common/graph.rs"]
mod graph;

use graph::{Draw, Seeded};
use peregrine_rules::Engine;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Far above what the limits allow (a million list values, a million
/// alias-copied nodes), far below what an unbounded expansion takes.
const MAX_PEAK: usize = 512 << 20;

#[test]
fn generated_files_load_or_fail_within_bounded_memory() {
    let events = [
        common::exec("v1", "/bin/v1", &["v1"]),
        common::exec("w3", "/bin/w3", &["w3"]),
        common::exec("sh", "/bin/sh", &["sh"]),
    ];
    let (mut loaded, mut failed, mut worst) = (0, 0, 0usize);
    for seed in 1..=200u64 {
        let mut d = Seeded(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        d.next();
        let text = graph::rules_file(&mut d);
        let before = alloc::snapshot();
        let result = Engine::from_str("gen.yaml", &text);
        let peak = alloc::snapshot().peak - before.live;
        worst = worst.max(peak);
        assert!(
            peak < MAX_PEAK,
            "seed {seed}: {} MB to load {} bytes:\n{text}",
            peak >> 20,
            text.len()
        );
        match result {
            Ok(engine) => {
                loaded += 1;
                for ev in &events {
                    let _ = engine.evaluate(&common::ctx(ev.clone(), &[]));
                }
            }
            Err(e) => {
                failed += 1;
                assert!(e.diagnostics.iter().any(|d| d.is_error()), "seed {seed}");
            }
        }
    }
    eprintln!(
        "{loaded} loaded, {failed} failed, worst peak {} KB",
        worst >> 10
    );
    // Both outcomes are exercised.
    assert!(
        loaded > 20 && failed > 20,
        "{loaded} loaded, {failed} failed"
    );
}
