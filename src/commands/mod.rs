//! One module per command; each takes its parsed arguments and the state
//! root, and returns the process exit status.

mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod restore;
mod run;
mod spec;
mod start;
mod state;
mod update;

use std::path::PathBuf;

use crate::cli::{Cli, Command};

/// The state root: --root, else /run/berth for the host's root and
/// $XDG_RUNTIME_DIR/berth for other users (root of a user namespace
/// included: podman's rootless containers).
fn state_root(cli: &Cli) -> PathBuf {
    if let Some(r) = &cli.global.root {
        return r.clone();
    }
    if !crate::namespaces::host_root()
        && let Some(x) = std::env::var_os("XDG_RUNTIME_DIR")
    {
        return PathBuf::from(x).join("berth");
    }
    PathBuf::from("/run/berth")
}

pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    crate::fault::point("start")?;
    let root = state_root(&cli);
    match cli.command {
        Command::Create(args) => create::run(&root, &args, cli.global.systemd_cgroup),
        Command::Start { id } => start::run(&root, &id),
        Command::Run {
            create,
            detach,
            keep,
            no_subreaper,
        } => run::run(
            &root,
            &create,
            run::Foreground {
                detach,
                keep,
                subreaper: !no_subreaper,
            },
            cli.global.systemd_cgroup,
        ),
        Command::Exec(args) => exec::run(&root, &args),
        Command::Checkpoint(args) => checkpoint::run(&root, &args),
        Command::Restore(args) => restore::run(&root, &args, cli.global.systemd_cgroup),
        Command::Features => features::run(),
        Command::Update(args) => update::run(&root, &args),
        Command::Pause { id } => pause::run(&root, &id, true),
        Command::Resume { id } => pause::run(&root, &id, false),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::run(&root, &id, format, &ps_args),
        Command::Events {
            stats,
            interval,
            id,
        } => events::run(&root, &id, stats, interval),
        Command::State { id } => state::run(&root, &id),
        Command::Kill { all, id, signal } => kill::run(&root, &id, signal.as_deref(), all),
        Command::Delete { force, id } => delete::run(&root, &id, force),
        Command::List { format, quiet } => list::run(&root, format, quiet),
        Command::Spec { bundle } => {
            let rootless = cli.global.rootless.as_deref().is_some_and(|v| v != "false");
            spec::run(bundle.as_deref(), rootless)
        }
    }
}
