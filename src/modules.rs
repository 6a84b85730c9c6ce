// berth's module tree, declared once for the binary (main.rs) and for the
// fuzz targets' library (lib.rs), which include this file.

mod activation;
mod cgroups;
mod cli;
mod criu;
mod clone;
mod commands;
mod config;
mod console;
mod create;
mod error;
mod exec;
mod exec_record;
mod fault;
mod hooks;
mod hostfile;
mod idmap;
mod init;
mod joined_pidns;
mod jsonpath;
#[cfg(target_env = "musl")]
mod libc_compat;
mod logging;
mod lsm;
mod namespaces;
mod netdev;
mod notify;
mod passed_fds;
mod pidfd_socket;
mod pidstat;
mod process;
mod procfs;
mod rootfs;
mod sealed_exe;
mod seccomp;
mod signal;
mod state;
mod stdout;
mod supervise;
mod sync;
mod version;
