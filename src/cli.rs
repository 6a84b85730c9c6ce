//! The command line, spelled as runc spells it: engines call berth exactly as
//! they call runc, so flag names, defaults and positional order are a contract.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A daemonless OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// Print the version (with libseccomp's and the spec's)
    // Answered before clap parses (`asks_version`); here for --help.
    #[arg(short = 'v', long = "version", short_alias = 'V')]
    pub version: bool,
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Whether the arguments ask for the version: `-v`, `-V` or `--version`
/// before the command, after any global flags (`berth --root DIR
/// --version`, as scripts probe a runtime). Decided without clap, so that
/// building the parser is paid only by commands.
pub fn asks_version(args: &[std::ffi::OsString]) -> bool {
    let mut args = args.iter().skip(1).map(|a| a.to_str().unwrap_or(""));
    while let Some(arg) = args.next() {
        match arg {
            "-v" | "-V" | "--version" => return true,
            "--root" | "--log" | "--log-format" => {
                args.next();
            }
            "--rootless" => {}
            "true" | "false" | "auto" => {}
            a if a.starts_with('-') => {}
            _ => return false,
        }
    }
    false
}

#[derive(Args, Debug)]
pub struct Global {
    /// Directory holding the containers' state
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write log lines to this file instead of stderr
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Format of log lines
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log debug lines, including the duration of each create phase
    #[arg(long, global = true)]
    pub debug: bool,
    /// Manage cgroups through systemd (cgroupsPath is slice:prefix:name)
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,
    /// Run without root privileges ("true", "false" or "auto")
    #[arg(long, global = true, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// Path to the bundle directory (default: the current directory)
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Unix socket that receives the master of the container's pty
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Write the container's init pid to this file
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Use move + chroot instead of pivot_root (for a rootfs on ramfs)
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass this many extra file descriptors (from 3 on) to the container
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Unix socket that receives a pidfd of the container's init
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// The process, as a runtime-spec process JSON file (instead of CMD)
    #[arg(short, long, value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,
    /// Unix socket that receives the master of the process's pty
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process has started
    #[arg(short, long)]
    pub detach: bool,
    /// Write the process's pid to this file
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Working directory inside the container
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (KEY=VALUE), repeatable
    #[arg(short, long, value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// User to run as: UID[:GID]
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// An additional group id, repeatable
    #[arg(short = 'g', long, value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Add a capability, repeatable
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,
    /// Set no_new_privs for the process
    #[arg(long)]
    pub no_new_privs: bool,
    /// AppArmor profile of the process (process.apparmorProfile)
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,
    /// SELinux label of the process (process.selinuxLabel)
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,
    /// Exec even if the container is paused (the process waits, frozen,
    /// until it resumes)
    #[arg(long)]
    pub ignore_paused: bool,
    /// Pass this many extra file descriptors (from 3 on) to the process
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Unix socket that receives a pidfd of the process
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
    /// Join this sub-cgroup of the container's (SUBPATH, or
    /// CONTROLLER:SUBPATH on cgroup v1), repeatable
    #[arg(long, value_name = "[CONTROLLER:]SUBPATH")]
    pub cgroup: Vec<String>,
    /// Container id
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `update`'s flags, spelled as runc spells them. Memory sizes take k, m,
/// g, t suffixes (binary multiples) or are plain bytes; -1 means unlimited.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// A JSON file of linux.resources ("-" for stdin); the flags then
    /// override its values
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub memory: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub memory_reservation: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub kernel_memory: Option<i64>,
    #[arg(long, value_parser = parse_size, allow_hyphen_values = true)]
    pub kernel_memory_tcp: Option<i64>,
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_share: Option<u64>,
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    #[arg(long)]
    pub cpu_period: Option<u64>,
    #[arg(long)]
    pub cpu_burst: Option<u64>,
    #[arg(long, allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long)]
    pub cpu_rt_period: Option<u64>,
    #[arg(long)]
    pub cpu_idle: Option<i64>,
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    pub id: String,
}

/// A byte count: digits with an optional k/m/g/t/p suffix (binary, with or
/// without a trailing "b"/"ib"), or -1.
pub fn parse_size(s: &str) -> Result<i64, String> {
    let lower = s.trim().to_ascii_lowercase();
    if lower == "-1" {
        return Ok(-1);
    }
    let digits_end = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => {
            return Err(format!(
                "{s:?} is not a size (a number with k, m, g, t or p)"
            ));
        }
    };
    num.parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("{s:?} is not a size (a number with k, m, g, t or p)"))
}

/// A duration as Go writes them: a number with ns, us, ms, s, m or h.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{s:?} is not a duration (e.g. 5s, 500ms, 1m)");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(bad)
}

/// The CRIU options `checkpoint` and `restore` share, spelled as runc's.
#[derive(Args, Debug)]
pub struct CriuArgs {
    /// Directory of the checkpoint's images
    #[arg(long, value_name = "DIR", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Directory for CRIU's log and work files (default: the image path)
    #[arg(long, value_name = "DIR")]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Skip TCP connections still being set up
    #[arg(long)]
    pub tcp_skip_in_flight: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow a process in the caller's session (a shell job)
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks
    #[arg(long)]
    pub file_locks: bool,
    /// Serve pages to a lazy-pages daemon / use one (restore)
    #[arg(long)]
    pub lazy_pages: bool,
    /// Write to this descriptor once pages can be served or the restore is done
    #[arg(long, value_name = "FD")]
    pub status_fd: Option<u32>,
    /// Cgroup handling: soft, full, strict or ignore
    #[arg(long, value_name = "MODE", default_value = "soft")]
    pub manage_cgroups_mode: CgroupMode,
    /// Create this namespace (e.g. network) empty instead of restoring it
    #[arg(long, value_name = "NS")]
    pub empty_ns: Vec<String>,
    /// Deduplicate against the parent's images
    #[arg(long)]
    pub auto_dedup: bool,
    /// Allow link-remap files (open files that were unlinked)
    #[arg(long)]
    pub link_remap: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupMode {
    Soft,
    Full,
    Strict,
    Ignore,
}

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Images of an earlier pre-dump, relative to the image path
    #[arg(long, value_name = "DIR")]
    pub parent_path: Option<PathBuf>,
    /// Leave the container running after the checkpoint
    #[arg(long)]
    pub leave_running: bool,
    /// Only dump memory (for a later dump with --parent-path)
    #[arg(long)]
    pub pre_dump: bool,
    /// Send the pages to a CRIU page server at ADDRESS:PORT
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,
    /// Container id
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuArgs,
    /// Path to the bundle directory (default: the current directory)
    #[arg(short, long, value_name = "DIR")]
    pub bundle: Option<PathBuf>,
    /// Unix socket that receives the master of the container's pty
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once restored (berth always does)
    #[arg(short, long)]
    pub detach: bool,
    /// Write the restored init's pid to this file
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Accepted for runc's sake: berth is no subreaper of a restored tree
    #[arg(long)]
    pub no_subreaper: bool,
    /// Accepted for runc's sake: CRIU restores the mounts itself
    #[arg(long)]
    pub no_pivot: bool,
    /// LSM profile of the restored processes (CRIU's --lsm-profile)
    #[arg(long, value_name = "PROFILE")]
    pub lsm_profile: Option<String>,
    /// LSM mount context of the restored mounts
    #[arg(long, value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
    /// Container id
    pub id: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a container, leaving its process ready to start
    Create(CreateArgs),
    /// Start a created container's process
    Start { id: String },
    /// Create and start a container
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container has started
        #[arg(short, long)]
        detach: bool,
        /// Keep the container's state after it exits
        #[arg(long)]
        keep: bool,
        /// Do not make berth the subreaper of the container's orphans
        #[arg(long)]
        no_subreaper: bool,
    },
    /// Run a new process in a running container
    Exec(ExecArgs),
    /// Print the state of a container as JSON
    State { id: String },
    /// Send a signal to a container's init process (default SIGTERM)
    Kill {
        /// Send the signal to every process of the container
        #[arg(short, long)]
        all: bool,
        id: String,
        signal: Option<String>,
    },
    /// Delete a container and everything it made
    Delete {
        /// Kill the container first if it is still running
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List containers
    #[command(alias = "ls")]
    List {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print only the container ids
        #[arg(short, long)]
        quiet: bool,
    },
    /// Print what this runtime supports (runtime-spec features.md JSON)
    Features,
    /// Change a container's cgroup limits
    Update(UpdateArgs),
    /// Freeze every process of a running container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// List the processes of a container
    Ps {
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        id: String,
        /// Options for ps(1) (default -ef), after --
        #[arg(last = true)]
        ps_args: Vec<String>,
    },
    /// Print a container's resource statistics and OOM events as JSON lines
    Events {
        /// Print one set of statistics and exit
        #[arg(long)]
        stats: bool,
        /// Time between statistics, e.g. 5s, 500ms, 1m
        #[arg(long, default_value = "5s", value_parser = parse_duration)]
        interval: std::time::Duration,
        id: String,
    },
    /// Checkpoint a running container with CRIU
    Checkpoint(CheckpointArgs),
    /// Restore a container from a CRIU checkpoint
    Restore(RestoreArgs),
    /// Write a default config.json into a bundle
    Spec {
        /// Bundle directory to write config.json into (with --rootless: a
        /// config for a rootless container)
        #[arg(short, long, value_name = "DIR")]
        bundle: Option<PathBuf>,
    },
}

impl Command {
    /// Commands that put a process of ours into a container's namespaces
    /// must run from a sealed copy of the binary (see sealed_exe).
    pub fn enters_container(&self) -> bool {
        matches!(
            self,
            Command::Create(_) | Command::Run { .. } | Command::Exec(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::asks_version;

    #[test]
    fn version_is_found_after_global_flags_only() {
        let ask = |line: &str| {
            let args: Vec<std::ffi::OsString> = std::iter::once("berth")
                .chain(line.split(' '))
                .map(Into::into)
                .collect();
            asks_version(&args)
        };
        assert!(ask("--version"));
        assert!(ask("--root /run/x --log-format json -v"));
        assert!(ask("--rootless auto --debug -V"));
        assert!(ask("--root=/x --version"));
        assert!(!ask("list --version"));
        assert!(!ask("--root -v list"), "-v is --root's value");
        assert!(!ask("run -b . -v"));
    }
}
