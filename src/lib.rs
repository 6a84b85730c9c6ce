//! The fuzz targets' way in (fuzz/): berth's module tree, the binary's
//! (src/modules.rs), and `fuzzing`, the narrow entry the targets
//! call. It exists only under cargo fuzz (`--cfg fuzzing`): otherwise this
//! library is empty and the binary is built exactly as without it, since a
//! library the binary linked would cost it size through LTO's different
//! inlining.
#![cfg(fuzzing)]
// The fuzzers reach only part of the tree; the binary uses all of it.
#![allow(dead_code)]

pub mod fuzzing;
include!("modules.rs");
