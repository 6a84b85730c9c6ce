//! `--pidfd-socket PATH` (create, run, exec), as runc has it: a pidfd of
//! the container's init (or the exec'd process) sent to the unix socket at
//! PATH with SCM_RIGHTS, so a caller can wait for and signal exactly that
//! process, never a reused pid.

use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::error::{Error, Result};

/// Sends `pid`'s pidfd to the socket at `path`. The process is our child,
/// not yet reaped: its pid cannot have been reused.
pub fn send(path: &Path, pid: i32) -> Result<()> {
    let sock = UnixStream::connect(path).map_err(|e| Error::path("connect to --pidfd-socket", path, e))?;
    let pidfd = crate::signal::pidfd(pid)?
        .ok_or_else(|| Error::State(format!("--pidfd-socket: process {pid} exited already")))?;
    crate::console::send_fd(&sock, pidfd.as_fd(), "pidfd")
        .map_err(|e| e.within(format!("--pidfd-socket {}", path.display())))
}
