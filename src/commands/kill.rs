use std::path::Path;

use anyhow::{Context, bail};

use crate::state::{ContainerDir, State, Status};

/// A signal given as a name (with or without SIG) or a number: every
/// signal the kernel has, real-time ones included.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    crate::signal::parse(s).with_context(|| match s.parse::<i64>() {
        Ok(_) => format!("signal {s}: not a valid signal number (1..64)"),
        Err(_) => format!("signal {s}: not a known signal name (TERM, SIGRTMIN+3, ...)"),
    })
}

/// The annotation an image's stop signal travels in (config.md).
pub const STOP_SIGNAL: &str = "org.opencontainers.image.stopSignal";

pub fn run(root: &Path, id: &str, signal: Option<&str>, all: bool) -> anyhow::Result<i32> {
    let named = signal.map(parse_signal).transpose()?;
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    // Without a signal named: the image's stop signal, else SIGTERM.
    let sig = match named {
        Some(s) => s,
        None => match state.annotations.get(STOP_SIGNAL) {
            Some(s) => parse_signal(s).with_context(|| format!("annotations.{STOP_SIGNAL}"))?,
            None => libc::SIGTERM,
        },
    };
    // Before the status: an init that exited without a pid namespace of its
    // own (a pod's container sharing the sandbox's) leaves its children in
    // the cgroup, and --all is how engines reach them (as with runc, an
    // empty or removed cgroup is no error).
    if all {
        for pid in state.cgroup.pids() {
            // SAFETY: kill(2) takes a pid and a signal number; a process
            // gone meanwhile is no error here.
            unsafe { libc::kill(pid, sig) };
        }
        return Ok(0);
    }
    if state.status(&dir) == Status::Stopped {
        // runc's words: engines match them to tell "already gone" apart.
        bail!("cannot kill container {id}: container not running");
    }
    crate::signal::send_to_init(&state, sig)
        .with_context(|| format!("kill container {id} with {}", crate::signal::name(sig)))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signals_like_runc() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert!(
            parse_signal("NOPE")
                .unwrap_err()
                .to_string()
                .contains("NOPE")
        );
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn parses_every_signal_the_kernel_has() {
        for n in 1..=64 {
            assert_eq!(parse_signal(&n.to_string()).unwrap(), n);
        }
        for (s, n) in [
            ("RTMIN", 34),
            ("SIGRTMIN+3", 37),
            ("rtmin+3", 37),
            ("RTMIN+30", 64),
            ("SIGRTMAX", 64),
            ("RTMAX-30", 34),
            ("SIGRTMAX-1", 63),
            ("IOT", libc::SIGABRT),
            ("SIGCLD", libc::SIGCHLD),
            ("POLL", libc::SIGIO),
            ("PWR", libc::SIGPWR),
            ("STKFLT", libc::SIGSTKFLT),
        ] {
            assert_eq!(parse_signal(s).unwrap(), n, "{s}");
        }
        for s in [
            "0", "65", "-1", "RTMIN+31", "RTMAX-31", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN++1",
            "RTMIN+x", "RTMINX", "SIG", "",
        ] {
            assert!(parse_signal(s).is_err(), "{s}");
        }
        assert_eq!(crate::signal::name(37), "SIGRTMIN+3");
        assert_eq!(crate::signal::name(15), "SIGTERM");
    }
}
