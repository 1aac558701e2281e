#![no_main]
//! Any bytes given to the kernel record decoder decode or fail cleanly.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peregrine_event::decode(data, &peregrine_event::Clock::with_offset(0));
});
