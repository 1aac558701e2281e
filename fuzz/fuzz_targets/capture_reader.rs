#![no_main]
//! Any bytes given to the capture reader read or fail cleanly.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = peregrine_capture::Reader::new(data) {
        for _ in 0..10_000 {
            match r.next_item() {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
    }
});
