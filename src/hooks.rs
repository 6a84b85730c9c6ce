//! Lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks"). Each
//! hook runs with its path, args and env, the container state JSON on its
//! stdin, and its timeout; a hook past its timeout is killed, with every
//! process of its group. Where and when each kind runs is the caller's
//! business (create, init, start, delete); whether a failure is fatal is
//! too.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Runs `hooks` in order; the first failure is returned, naming the hook.
/// A hook without `env` gets the environment of the process that runs it,
/// as runc's do (GPU and distribution hooks need PATH): the runtime's own,
/// or `inherited` for the hooks run in the container's namespaces
/// (process.env, which is the environment there).
pub fn run(kind: &str, hooks: &[Hook], state: &str, inherited: Option<&[String]>) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state, inherited)
            .map_err(|e| e.within(format!("hooks.{kind}[{i}] {}", h.path().display())))?;
    }
    Ok(())
}

/// Runs hooks whose failure must not stop the operation: each failure is
/// logged as a warning.
pub fn run_warn(kind: &str, hooks: &[Hook], state: &str) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state, None) {
            crate::logging::warn(&format!("hooks.{kind}[{i}] {}: {e}", h.path().display()));
        }
    }
}

fn run_one(h: &Hook, state: &str, inherited: Option<&[String]>) -> Result<()> {
    let mut cmd = Command::new(h.path());
    let args = h.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    if let Some(env) = h.env().as_deref().or(inherited) {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped());
    // A group of its own: a timeout kills what the hook started too.
    cmd.process_group(0);
    // SAFETY: the pre-exec closure only calls async-signal-safe functions
    // (sigprocmask through nix, which wraps pthread_sigmask).
    unsafe {
        // The runtime may block every signal (foreground run); the hook must
        // not inherit that.
        cmd.pre_exec(|| {
            nix::sys::signal::SigSet::empty()
                .thread_set_mask()
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd.spawn().map_err(|e| Error::path("start", h.path(), e))?;
    // The timeout (whole seconds, as the spec's int) covers the whole hook,
    // from its start, feeding it the state included. One too large for a
    // deadline is no limit.
    let timeout = h.timeout().filter(|t| *t > 0);
    let deadline = timeout.and_then(|t| Instant::now().checked_add(Duration::from_secs(t as u64)));
    let stdin = child.stdin.take();
    // Our unreaped child: the pidfd is its, zombie or not.
    let in_time = match crate::signal::pidfd(child.id() as i32)? {
        Some(pidfd) => {
            feed(stdin, state.as_bytes(), &pidfd, deadline)?
                && crate::signal::wait_exit_until(&pidfd, deadline)?
        }
        None => true,
    };
    if !in_time {
        let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
        let _ = child.wait();
        return Err(Error::State(format!(
            "timed out after {}s and was killed (its process group)",
            timeout.unwrap_or_default()
        )));
    }
    let status = child
        .wait()
        .map_err(|e| Error::path("wait for", h.path(), e))?;
    if !status.success() {
        return Err(Error::State(format!("failed: {status}")));
    }
    Ok(())
}

/// Writes the state to the hook's stdin, never blocking past the deadline:
/// a hook need not read it, and may exit (or close its stdin) first, which
/// ends the feeding. False when the deadline came first.
fn feed(
    stdin: Option<ChildStdin>,
    mut data: &[u8],
    pidfd: &OwnedFd,
    deadline: Option<Instant>,
) -> Result<bool> {
    let Some(pipe) = stdin else {
        return Ok(true);
    };
    let pipe = OwnedFd::from(pipe);
    fcntl(pipe.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(|e| Error::sys("set a hook's stdin non-blocking", e))?;
    while !data.is_empty() {
        match nix::unistd::write(&pipe, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut fds = [
                    PollFd::new(pipe.as_fd(), PollFlags::POLLOUT),
                    PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
                ];
                match poll(&mut fds, crate::signal::poll_timeout(deadline)) {
                    Ok(_) if fds[1].revents().is_some_and(|r| !r.is_empty()) => return Ok(true),
                    Ok(0) if deadline.is_some_and(|d| Instant::now() >= d) => return Ok(false),
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(Error::sys("poll a hook's stdin", e)),
                }
            }
            // A broken pipe: the hook closed its stdin unread, as it may.
            Err(_) => return Ok(true),
        }
    }
    Ok(true)
}
