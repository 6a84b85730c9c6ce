//! `run`: create and start in one step. In the foreground, berth stays as
//! the container's parent: it forwards signals, relays the pty when it made
//! one, and exits with the container's status, removing it unless --keep.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use anyhow::Context;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{self, SetArg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::cli::CreateArgs;
use crate::init::StartBy;
use crate::state::ContainerDir;
use crate::sync::Msg;

pub fn run(root: &Path, args: &CreateArgs, detach: bool, keep: bool) -> anyhow::Result<i32> {
    let ctx = || format!("run container {}", args.id);
    if detach {
        let c = crate::create::create(root, args, StartBy::Channel, false).with_context(ctx)?;
        start(&c)?;
        return Ok(0);
    }
    // Signals queue on a signalfd from now on, to be forwarded; the init
    // clears the inherited mask before it execs.
    let mut mask = SigSet::all();
    mask.remove(Signal::SIGKILL);
    mask.remove(Signal::SIGSTOP);
    mask.thread_block().context("block signals")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    let created = crate::create::create(root, args, StartBy::Channel, true).with_context(ctx)?;
    let master = match &created.console {
        Some(sock) => Some(crate::console::recv_fd(sock)?),
        None => None,
    };
    start(&created)?;
    let state = created.state.clone();
    // Release the lock: kill, state and delete must work while we wait.
    drop(created);
    let status = supervise(state.pid, &sfd, master)?;
    if !keep {
        let dir = ContainerDir::open(root, &args.id)?;
        super::delete::destroy(&state).with_context(ctx)?;
        dir.remove()?;
    }
    Ok(status)
}

fn start(c: &crate::create::Created) -> anyhow::Result<()> {
    c.channel
        .as_ref()
        .context("no sync channel to start the container")?
        .send(&Msg::Start)?;
    Ok(())
}

/// Waits for the init to exit, forwarding signals and relaying the pty.
fn supervise(init: i32, sfd: &SignalFd, master: Option<OwnedFd>) -> anyhow::Result<i32> {
    let stdin = std::io::stdin();
    let raw = master.as_ref().and_then(|m| {
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut r = saved.clone();
        termios::cfmakeraw(&mut r);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &r).ok()?;
        if let Some(ws) = crate::console::window_size(0) {
            crate::console::set_window_size(m.as_raw_fd(), &ws);
        }
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
        match poll(&mut fds, PollTimeout::NONE) {
            Err(Errno::EINTR) => continue,
            r => r.context("poll")?,
        };
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
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
    let sig = Signal::try_from(info.ssi_signo as i32).context("signal number")?;
    match sig {
        Signal::SIGCHLD => loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == init => return Ok(Some(code)),
                Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == init => {
                    return Ok(Some(128 + s as i32));
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return Ok(None),
                Ok(_) => continue,
            }
        },
        Signal::SIGWINCH if master.is_some() => {
            if let (Some(m), Some(ws)) = (master, crate::console::window_size(0)) {
                crate::console::set_window_size(m.as_raw_fd(), &ws);
            }
            Ok(None)
        }
        s => {
            let _ = kill(Pid::from_raw(init), s);
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
