use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

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
        // An error leaves the container as it was (runtime.md, Errors):
        // still created, for delete to remove.
        bail!("cannot start container {id}: config.json has no process");
    }
    // Listening before the process runs: nothing it sends is lost.
    let notify = crate::notify::Relay::listen(&dir.path)?;
    let fifo = dir.fifo();
    // A reader of our own, opened before our writer: it sees end-of-file
    // (POLLHUP) once no writer is left, that is when the init's copy closed
    // at execve or at its exit, and then reads whatever the init wrote there
    // on failure. So `start` returns once the container's program runs (the
    // state says "running" only then, as runtime.md has it) or says why it
    // did not; the wait is the init's last steps before execve.
    let watch = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("start container {id}: open {}", fifo.display()))?;
    // Non-blocking: the init holds the fifo open, so this succeeds at once
    // while it lives; ENXIO means it died.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("start container {id}: open {}", fifo.display()))?;
    f.write_all(b"0")
        .with_context(|| format!("start container {id}: write {}", fifo.display()))?;
    drop(f);
    crate::fault::point("fifo written")?;
    std::fs::remove_file(&fifo)
        .with_context(|| format!("start container {id}: remove {}", fifo.display()))?;
    let failure = exec_outcome(watch).with_context(|| format!("start container {id}"))?;
    // runtime.md steps 7 and 9: a failing startContainer or poststart hook
    // stops the container and continues at its destruction (step 12).
    let failure = failure.or_else(|| state.run_poststart().err().map(|e| e.to_string()));
    if let Some(why) = failure {
        super::delete::teardown(&state, dir)
            .with_context(|| format!("start container {id}: {why}; remove it"))?;
        bail!("cannot start container {id}: {why} (it was stopped and removed)");
    }
    if let Some(relay) = notify {
        // Other commands on this container may run while we wait.
        drop(dir);
        relay.wait_ready(state.pid);
    }
    Ok(0)
}

/// Waits until the init has executed the container's program or exited,
/// and returns why it did not execute it: what it wrote to the fifo, or
/// that it never read the start byte.
fn exec_outcome(mut watch: std::fs::File) -> anyhow::Result<Option<String>> {
    loop {
        // No events asked for: only POLLHUP (or an error) ends the wait.
        let mut fds = [PollFd::new(watch.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => break,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e).context("wait for the container's program"),
        }
    }
    let mut left = Vec::new();
    match watch.read_to_end(&mut left) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e).context("read the exec fifo"),
    }
    Ok(match left.as_slice() {
        [] => None,
        b"0" => Some("its init exited before it was started".into()),
        why => Some(String::from_utf8_lossy(why).into_owned()),
    })
}
