#![no_main]
//! Rules files shaped to stress expansion (lists built from lists, macro
//! diamonds, chains and cycles, YAML alias bombs), drawn from the fuzzer's
//! bytes: each loads or fails with errors, never panics, aborts or runs out
//! of memory (run with `-rss_limit_mb=1024`). The property test
//! crates/peregrine-rules/tests/expansion_property.rs draws the same files
//! from a seeded generator in CI.
use libfuzzer_sys::fuzz_target;

#[path = "../../crates/peregrine-rules/tests/common/graph.rs"]
mod graph;

/// The fuzzer's bytes as numbers (zeros once they run out).
struct Bytes<'a>(&'a [u8]);

impl graph::Draw for Bytes<'_> {
    fn next(&mut self) -> u64 {
        let n = self.0.len().min(8);
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        u64::from_le_bytes(b)
    }
}

fuzz_target!(|data: &[u8]| {
    let text = graph::rules_file(&mut Bytes(data));
    if let Err(e) = peregrine_rules::Engine::from_str("fuzz.yaml", &text) {
        assert!(e.diagnostics.iter().any(|d| d.is_error()));
    }
});
