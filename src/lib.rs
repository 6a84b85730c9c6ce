//! The fuzz targets' way in (fuzz/): berth's module tree, as the binary
//! (src/main.rs) declares it, and `fuzzing`, the narrow entry the targets
//! call. It exists only under cargo fuzz (`--cfg fuzzing`): otherwise this
//! library is empty and the binary is built exactly as without it, since a
//! library the binary linked would cost it size through LTO's different
//! inlining.
#![cfg(fuzzing)]
// The fuzzers reach only part of the tree; the binary uses all of it.
#![allow(dead_code)]

mod activation;
mod cgroups;
mod cli;
mod clone;
mod commands;
mod config;
mod console;
mod create;
mod error;
mod exec;
mod fault;
pub mod fuzzing;
mod hooks;
mod idmap;
mod init;
mod jsonpath;
mod logging;
mod lsm;
mod namespaces;
mod netdev;
mod notify;
mod pidstat;
mod process;
mod procfs;
mod rootfs;
mod sealed_exe;
mod seccomp;
mod signal;
mod state;
mod supervise;
mod sync;
mod version;
