use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use crate::error::Error;
use crate::signal;
use crate::state::{ContainerDir, State, Status};

pub fn run(root: &Path, id: &str, force: bool) -> anyhow::Result<i32> {
    let dir = match ContainerDir::open(root, id) {
        Ok(dir) => dir,
        // What --force asks for already holds, as runc has it: engines
        // retry a delete whose first attempt went through.
        Err(Error::NotFound(_)) if force => return Ok(0),
        Err(e) => return Err(e.into()),
    };
    let state = match State::load(&dir) {
        Ok(s) => s,
        // A damaged state.json: the recovery lines beside it still name
        // the init and the cgroup, which --force kills and removes.
        Err(e) if force => {
            crate::logging::warn(&format!(
                "removing container {id} with unreadable state: {e}"
            ));
            if let Some(rec) = crate::state::Recovery::load(&dir) {
                rec.destroy()
                    .with_context(|| format!("delete container {id}"))?;
            }
            dir.remove()?;
            return Ok(0);
        }
        Err(e) => return Err(e.into()),
    };
    let status = state.status(&dir);
    if matches!(status, Status::Running | Status::Paused) && !force {
        bail!(
            "cannot delete container {id}: it is {} (stop it first, or use --force)",
            status.as_str()
        );
    }
    teardown(&state, dir).with_context(|| format!("delete container {id}"))?;
    Ok(0)
}

/// runtime.md steps 12 and 13: the container destroyed, its state
/// included, then the poststop hooks. After `delete`, and after a hook
/// failure during start (which stops the container and continues there).
pub fn teardown(state: &State, dir: ContainerDir) -> Result<(), Error> {
    destroy(state)?;
    dir.remove()?;
    state.run_poststop();
    Ok(())
}

/// Kills whatever still runs, waits for the init to exit, and removes the
/// cgroup. Shared by `delete` and by `run` when its container exits.
pub fn destroy(state: &State) -> Result<(), Error> {
    // A frozen task acts on SIGKILL only once thawed.
    if crate::cgroups::is_frozen(&state.cgroup) {
        crate::cgroups::freeze(&state.cgroup, false)?;
    }
    if let Some(pidfd) = signal::open_init(state)? {
        signal::send(&pidfd, Signal::SIGKILL)?;
        if !signal::wait_exit(&pidfd, Duration::from_secs(10))? {
            return Err(Error::State(format!(
                "init process {} did not exit after SIGKILL",
                state.pid
            )));
        }
    }
    // Processes left when the init did not own a pid namespace.
    for pid in state.cgroup.pids() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    crate::fault::point("init killed")?;
    if state.host_mounts {
        // A container of an earlier berth without a mount namespace had its
        // rootfs bound onto itself in the host's, every mount below it:
        // detaching that one mount removes them all. Never through a
        // symlink the container (which shares the host's mounts) put there.
        let flags = nix::mount::MntFlags::MNT_DETACH | nix::mount::MntFlags::UMOUNT_NOFOLLOW;
        match nix::mount::umount2(&state.rootfs, flags) {
            Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
            Err(e) => return Err(Error::sys(format!("unmount {}", state.rootfs.display()), e)),
        }
    }
    state.cgroup.destroy()?;
    crate::fault::point("cgroup removed")
}
