#![no_main]
//! Any rules file loads or yields diagnostics, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = peregrine_rules::Engine::from_str("fuzz.yaml", s);
    }
});
