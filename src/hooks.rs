//! Lifecycle hooks (runtime-spec config.md "POSIX-platform Hooks"). Each
//! hook runs with its path, args and env, the container state JSON on its
//! stdin, and its timeout; a hook past its timeout is killed. Where and
//! when each kind runs is the caller's business (create, init, start,
//! delete); whether a failure is fatal is too.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Runs `hooks` in order; the first failure is returned, naming the hook.
pub fn run(kind: &str, hooks: &[Hook], state: &str) -> Result<()> {
    for (i, h) in hooks.iter().enumerate() {
        run_one(h, state)
            .map_err(|e| e.within(format!("hooks.{kind}[{i}] {}", h.path().display())))?;
    }
    Ok(())
}

/// Runs hooks whose failure must not stop the operation: each failure is
/// logged as a warning.
pub fn run_warn(kind: &str, hooks: &[Hook], state: &str) {
    for (i, h) in hooks.iter().enumerate() {
        if let Err(e) = run_one(h, state) {
            crate::logging::warn(&format!("hooks.{kind}[{i}] {}: {e}", h.path().display()));
        }
    }
}

fn run_one(h: &Hook, state: &str) -> Result<()> {
    let mut cmd = Command::new(h.path());
    let args = h.args().as_deref().unwrap_or_default();
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
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
    // A hook may exit without reading its stdin: a broken pipe is fine.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    if let Some(t) = timeout {
        let exited = match crate::signal::pidfd(child.id() as i32)? {
            Some(pidfd) => crate::signal::wait_exit(&pidfd, t)?,
            None => true,
        };
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::State(format!(
                "timed out after {}s and was killed",
                t.as_secs()
            )));
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::path("wait for", h.path(), e))?;
    if !status.success() {
        return Err(Error::State(format!("failed: {status}")));
    }
    Ok(())
}
