//! config.json as `create` reads it, before it creates anything
//! (berth::fuzzing::config). Any input is accepted or refused with a
//! one-line error; a panic is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = berth::fuzzing::config(data) {
        // Control characters would split the line or drive the terminal.
        assert!(
            !e.is_empty() && !e.contains(char::is_control),
            "not a one-line error: {e:?}"
        );
    }
});
