//! state.json and the recovery lines beside it, as every command on an
//! existing container reads them (berth::fuzzing::state). Any input is
//! accepted or refused with a one-line error; a panic is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = berth::fuzzing::state(data) {
        // Control characters would split the line or drive the terminal.
        assert!(
            !e.is_empty() && !e.contains(char::is_control),
            "not a one-line error: {e:?}"
        );
    }
});
