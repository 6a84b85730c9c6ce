//! The regex crate's API, served by regex-lite. Nothing in berth matches
//! regular expressions; oci-spec does, for one pattern (the CPU list of
//! `process.execCPUAffinity`, `^(\d+(-\d+)?)(,\d+(-\d+)?)*$`), and linking
//! the full regex engine for it (with its Unicode tables) made up a fifth of
//! the binary. regex-lite has the same API for what oci-spec uses and ASCII
//! classes (`\d` is 0-9, which is what a CPU list means).

pub use regex_lite::*;
