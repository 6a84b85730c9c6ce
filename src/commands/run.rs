//! `run`: create and start in one step. In the foreground, berth stays as
//! the container's parent (see supervise) and removes the container when it
//! exits, unless --keep.

use std::path::Path;

use anyhow::Context;

use crate::cli::CreateArgs;
use crate::init::StartBy;
use crate::state::ContainerDir;

/// How `run` behaves once the container runs.
pub struct Foreground {
    /// Return once it has started.
    pub detach: bool,
    /// Keep its state after it exits.
    pub keep: bool,
    /// In the foreground, be the subreaper of its orphans (runc's default;
    /// `--no-subreaper` turns it off): a process that leaves a container
    /// without a pid namespace of its own is then reaped by us, not by the
    /// host's init.
    pub subreaper: bool,
}

pub fn run(
    root: &Path,
    args: &CreateArgs,
    how: Foreground,
    systemd: bool,
) -> anyhow::Result<i32> {
    let Foreground {
        detach,
        keep,
        subreaper,
    } = how;
    let ctx = || format!("run container {}", args.id);
    if detach {
        let c = crate::create::create(root, args, StartBy::Channel, false, systemd)
            .with_context(ctx)?;
        let notify = crate::notify::Relay::listen(&root.join(&args.id))?;
        let c = start(c).with_context(ctx)?;
        let pid = c.state.pid;
        drop(c);
        if let Some(relay) = notify {
            relay.wait_ready(pid);
        }
        return Ok(0);
    }
    if subreaper {
        // supervise reaps every child it gets, these included.
        nix::sys::prctl::set_child_subreaper(true).context("become a child subreaper")?;
    }
    let sfd = crate::supervise::block_signals()?;
    let created =
        crate::create::create(root, args, StartBy::Channel, true, systemd).with_context(ctx)?;
    let master = match &created.console {
        Some(sock) => Some(crate::console::recv_master(sock)?),
        None => None,
    };
    let notify = crate::notify::Relay::listen(&root.join(&args.id))?;
    let created = start(created).with_context(ctx)?;
    let state = created.state.clone();
    // Release the lock: kill, state and delete must work while we wait.
    drop(created);
    let status = crate::supervise::supervise(state.pid, &sfd, master, notify)?;
    if !keep {
        let dir = ContainerDir::open(root, &args.id)?;
        super::delete::teardown(&state, dir).with_context(ctx)?;
    }
    Ok(status)
}

/// Starts the created container and runs the poststart hooks. A failure
/// there (of a startContainer hook, the execve, or a poststart hook) stops
/// the container and destroys it (runtime.md steps 7 to 9, then 12).
fn start(c: crate::create::Created) -> anyhow::Result<crate::create::Created> {
    let started = c
        .channel
        .as_ref()
        .context("no sync channel to start the container")?
        .start();
    let Err(e) = started
        .map_err(anyhow::Error::from)
        .and_then(|()| Ok(c.state.run_poststart()?))
    else {
        return Ok(c);
    };
    let crate::create::Created { dir, state, .. } = c;
    super::delete::teardown(&state, dir).with_context(|| format!("{e:#}; remove the container"))?;
    Err(anyhow::anyhow!(
        "{e:#} (the container was stopped and removed)"
    ))
}
