//! A foreground process's parent: berth waits for the container's process
//! (the init of `run`, or the process of `exec`), forwards every signal it
//! gets to it, relays the pty it made, and returns its exit status (128+N
//! when killed by signal N).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use anyhow::Context;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::SigSet;
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};

use crate::notify::Relay;

/// Blocks every signal and returns a signalfd that receives them, so none
/// is lost while the container is being set up. The container's process
/// clears the inherited mask before it execs.
pub fn block_signals() -> anyhow::Result<SignalFd> {
    // Every signal the kernel has, as bits: sigfillset leaves out what the
    // C library reserves, and musl's reserves the kernel's 34 (SIGRTMIN to
    // glibc and the engines), which would then kill berth instead of
    // reaching the container. (glibc will not block its own 32 and 33.)
    let bits = !(1u64 << (libc::SIGKILL - 1) | 1u64 << (libc::SIGSTOP - 1));
    // SAFETY: sigset_t is plain bits; all zeroes is the empty set.
    let mut raw: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: on Linux a sigset_t begins with the kernel's 64-bit mask
    // (signal N is bit N-1), and is larger than it.
    unsafe { std::ptr::addr_of_mut!(raw).cast::<u64>().write_unaligned(bits) };
    // SAFETY: `raw` is a fully initialised set.
    let mask = unsafe { SigSet::from_sigset_t_unchecked(raw) };
    mask.thread_block().context("block signals")?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("signalfd")
}

/// Waits for `pid` to exit, forwarding signals, relaying the pty and the
/// container's sd_notify messages (with berth, which the host watches, as
/// MAINPID).
pub fn supervise(
    init: i32,
    sfd: &SignalFd,
    master: Option<OwnedFd>,
    mut notify: Option<Relay>,
) -> anyhow::Result<i32> {
    let stdin = std::io::stdin();
    // The pty got berth's window size before the process started
    // (console::recv_master); SIGWINCH carries later changes.
    let raw = master.as_ref().and_then(|_| {
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut r = saved.clone();
        termios::cfmakeraw(&mut r);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &r).ok()?;
        Some(saved)
    });
    let mut stdin_open = master.is_some();
    let status = loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(n) = &notify {
            fds.push(PollFd::new(n.fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.context("poll")?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if let Some(n) = &notify
            && ready.last() == Some(&true)
        {
            let done = n.relay(std::process::id() as i32).unwrap_or_else(|e| {
                crate::logging::warn(&format!("NOTIFY_SOCKET: {e}"));
                true
            });
            if done {
                notify = None;
            }
        }
        if let Some(m) = &master {
            if ready[1] {
                copy(m.as_fd(), std::io::stdout().as_fd());
            }
            if stdin_open && ready.get(2) == Some(&true) && !copy(stdin.as_fd(), m.as_fd()) {
                stdin_open = false;
            }
        }
        if ready[0]
            && let Some(code) = handle_signal(init, sfd, master.as_ref())?
        {
            if let Some(m) = &master {
                while copy(m.as_fd(), std::io::stdout().as_fd()) {}
            }
            break code;
        }
    };
    if let Some(saved) = raw {
        let _ = termios::tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    }
    Ok(status)
}

/// One signal off the signalfd: a child exit is reaped (the init's gives
/// the exit status), SIGWINCH resizes the pty, anything else is forwarded.
fn handle_signal(
    init: i32,
    sfd: &SignalFd,
    master: Option<&OwnedFd>,
) -> anyhow::Result<Option<i32>> {
    let Some(info) = sfd.read_signal().context("read signalfd")? else {
        return Ok(None);
    };
    // A raw number: real-time signals have no nix Signal, and are
    // forwarded like any other.
    match info.ssi_signo as i32 {
        libc::SIGCHLD => loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == init => return Ok(Some(code)),
                Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == init => {
                    return Ok(Some(128 + s as i32));
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return Ok(None),
                Ok(_) => continue,
            }
        },
        libc::SIGWINCH if master.is_some() => {
            if let (Some(m), Some(ws)) = (master, crate::console::window_size(0)) {
                crate::console::set_window_size(m.as_raw_fd(), &ws);
            }
            Ok(None)
        }
        s => {
            // SAFETY: kill(2) of our own child, not yet reaped (so its pid
            // is not reused), with a signal number the kernel gave us.
            unsafe { libc::kill(init, s) };
            Ok(None)
        }
    }
}

/// Copies what is available from one fd to another; false at end of input
/// (or when the pty's other side is gone).
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> bool {
    let mut buf = [0u8; 16384];
    let n = match nix::unistd::read(from.as_raw_fd(), &mut buf) {
        Ok(0) | Err(_) => return false,
        Ok(n) => n,
    };
    let mut off = 0;
    while off < n {
        match nix::unistd::write(to, &buf[off..n]) {
            Ok(w) => off += w,
            Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}
