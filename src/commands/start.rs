use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::{Context, bail};

use crate::state::{ContainerDir, State, Status};

pub fn run(root: &Path, id: &str) -> anyhow::Result<i32> {
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    match state.status(&dir) {
        Status::Created => {}
        s => bail!(
            "cannot start container {id}: it is {}, not created",
            s.as_str()
        ),
    }
    if state.no_process {
        // Nothing will ever run: the init goes, the container is stopped.
        if let Ok(Some(pidfd)) = crate::signal::open_init(&state) {
            let _ = crate::signal::send(&pidfd, nix::sys::signal::Signal::SIGKILL);
            let _ = crate::signal::wait_exit(&pidfd, std::time::Duration::from_secs(10));
        }
        bail!("cannot start container {id}: config.json has no process");
    }
    let poststart = state
        .hooks
        .as_ref()
        .is_some_and(|h| h.poststart().as_ref().is_some_and(|p| !p.is_empty()));
    // What the init executes now (berth's protected view): its change tells
    // poststart hooks that the container's program runs.
    let before = if poststart { exe_id(state.pid) } else { None };
    // Listening before the process runs: nothing it sends is lost.
    let notify = crate::notify::Relay::listen(&dir.path)?;
    let fifo = dir.fifo();
    // Non-blocking: the init holds the fifo open, so this succeeds at once
    // while it lives; ENXIO means it died.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("start container {id}: open {}", fifo.display()))?;
    f.write_all(b"0")
        .with_context(|| format!("start container {id}: write {}", fifo.display()))?;
    crate::fault::point("fifo written")?;
    std::fs::remove_file(&fifo)
        .with_context(|| format!("start container {id}: remove {}", fifo.display()))?;
    if poststart {
        wait_for_exec(state.pid, before);
        state.run_hooks("poststart", Status::Running);
    }
    if let Some(relay) = notify {
        // Other commands on this container may run while we wait.
        drop(dir);
        relay.wait_ready(state.pid);
    }
    Ok(0)
}

/// The device and inode of a process's executable.
fn exe_id(pid: i32) -> Option<(u64, u64)> {
    std::fs::metadata(format!("/proc/{pid}/exe"))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// poststart hooks run after the process has executed (the spec): the init
/// is still berth until its execve, and nothing notifies a non-parent of an
/// exec, so watch /proc/PID/exe change (or the process end). Only paid when
/// there are poststart hooks.
fn wait_for_exec(pid: i32, before: Option<(u64, u64)>) {
    let mut pause = std::time::Duration::from_micros(50);
    loop {
        if before.is_none() || exe_id(pid) != before {
            return;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(10));
    }
}
