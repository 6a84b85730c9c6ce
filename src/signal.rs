//! Signalling and waiting for a container's init through a pidfd, opened
//! and then checked against the recorded start time: once the pidfd is
//! open it cannot come to mean another process, so a reused pid is never
//! signalled.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use crate::error::{Error, Result};
use crate::pidstat;
use crate::state::State;

/// A pidfd for `pid`; None when no such process exists.
pub fn pidfd(pid: i32) -> Result<Option<OwnedFd>> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return match Errno::last() {
            Errno::ESRCH => Ok(None),
            e => Err(Error::sys(format!("pidfd_open {pid}"), e)),
        };
    }
    // SAFETY: the syscall returned a new descriptor that we now own.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
}

/// The init's pidfd, or None when it is gone or the pid is someone else's.
pub fn open_init(state: &State) -> Result<Option<OwnedFd>> {
    if state.pid <= 0 {
        return Ok(None);
    }
    let Some(fd) = pidfd(state.pid)? else {
        return Ok(None);
    };
    let same = pidstat::read(state.pid).is_some_and(|s| s.start_time == state.init_start_time);
    Ok(same.then_some(fd))
}

pub fn send(pidfd: &OwnedFd, sig: Signal) -> Result<()> {
    send_number(pidfd, sig as i32)
}

/// Sends signal number `sig` (any the kernel has, real-time ones too).
pub fn send_number(pidfd: &OwnedFd, sig: i32) -> Result<()> {
    // SAFETY: pidfd_send_signal with a null siginfo sends `sig` as kill(2)
    // would; the fd is open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    };
    if r < 0 && Errno::last() != Errno::ESRCH {
        return Err(Error::sys(format!("send {}", name(sig)), Errno::last()));
    }
    Ok(())
}

pub fn send_to_init(state: &State, sig: i32) -> Result<()> {
    match open_init(state)? {
        Some(fd) => send_number(&fd, sig),
        None => Err(Error::State(format!(
            "container {} is not running",
            state.id
        ))),
    }
}

/// The kernel's highest signal number (_NSIG - 1).
const MAX: i32 = 64;

/// The lowest real-time signal as the C libraries and the engines count
/// it: the kernel's 32 and 33 are the libraries' own (threads), so
/// SIGRTMIN is 34, and RTMIN+3 (systemd's stop signal) is 37.
const RTMIN: i32 = 34;

/// A signal given as a number (any the kernel has, 1..64) or a name, with
/// or without SIG, in any case: the classic names and RTMIN, RTMIN+N,
/// RTMAX, RTMAX-N. None for anything else.
pub fn parse(s: &str) -> Option<i32> {
    if let Ok(n) = s.parse::<i32>() {
        return (1..=MAX).contains(&n).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let offset = |rest: &str, sign: char| -> Option<i32> {
        match rest {
            "" => Some(0),
            _ => rest
                .strip_prefix(sign)
                .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))?
                .parse()
                .ok(),
        }
    };
    let n = if let Some(rest) = name.strip_prefix("RTMIN") {
        RTMIN + offset(rest, '+')?
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        MAX - offset(rest, '-')?
    } else {
        // Linux's aliases, which nix does not name.
        let name = match name {
            "IOT" => "ABRT",
            "POLL" => "IO",
            "CLD" => "CHLD",
            "UNUSED" => "SYS",
            n => n,
        };
        return format!("SIG{name}").parse::<Signal>().ok().map(|s| s as i32);
    };
    (RTMIN..=MAX).contains(&n).then_some(n)
}

/// A signal number's name, for messages: SIGTERM, SIGRTMIN+3.
pub fn name(sig: i32) -> String {
    match Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) if sig >= RTMIN => format!("SIGRTMIN+{}", sig - RTMIN),
        Err(_) => format!("signal {sig}"),
    }
}

/// Waits until the process exits (a pidfd polls readable then); false on
/// timeout.
pub fn wait_exit(pidfd: &OwnedFd, timeout: Duration) -> Result<bool> {
    wait_exit_until(pidfd, Instant::now().checked_add(timeout))
}

/// `wait_exit` to a deadline; None waits for as long as it takes.
pub fn wait_exit_until(pidfd: &OwnedFd, deadline: Option<Instant>) -> Result<bool> {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(&mut fds, poll_timeout(deadline)) {
            // poll's own limit (24 days) came before the deadline.
            Ok(0) if deadline.is_some_and(|d| Instant::now() < d) => continue,
            Ok(n) => return Ok(n > 0),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("poll a pidfd", e)),
        }
    }
}

/// poll's timeout for what is left until `deadline`, rounded up to whole
/// milliseconds (rounded down, poll would return just before it), and at
/// most poll's largest.
pub fn poll_timeout(deadline: Option<Instant>) -> PollTimeout {
    let Some(d) = deadline else {
        return PollTimeout::NONE;
    };
    let left = d.saturating_duration_since(Instant::now());
    let ms = left.as_nanos().div_ceil(1_000_000);
    i32::try_from(ms).map_or(PollTimeout::MAX, |ms| {
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
    })
}
