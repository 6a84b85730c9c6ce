//! berth: a daemonless OCI container runtime with runc's command line.

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
mod hooks;
mod idmap;
mod init;
mod logging;
mod lsm;
mod namespaces;
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

use clap::Parser;

fn main() {
    // Handled before clap so that the version text (which asks libseccomp)
    // is built only when asked for, not on every create.
    if matches!(
        std::env::args_os()
            .nth(1)
            .as_deref()
            .and_then(|a| a.to_str()),
        Some("--version" | "-v" | "-V")
    ) {
        println!("berth version {}", version::long());
        return;
    }
    let cli = cli::Cli::parse();
    if let Err(e) = logging::init(
        cli.global.log.as_deref(),
        cli.global.log_format,
        cli.global.debug,
    ) {
        eprintln!("berth: {e}");
        std::process::exit(1);
    }
    if cli.command.enters_container()
        && let Err(e) = sealed_exe::ensure()
    {
        logging::error(&e.to_string());
        std::process::exit(1);
    }
    logging::phase("start");
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            logging::error(&format!("{e:#}"));
            1
        }
    };
    std::process::exit(code);
}
