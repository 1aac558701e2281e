#![no_main]
//! Any text given to the condition parser gives a tree or an error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = peregrine_rules::parser::parse(s);
        let _ = peregrine_rules::output::Template::compile(s);
    }
});
