use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use crate::state::{ContainerDir, State, Status};

/// A signal given as a name (with or without SIG) or a number.
pub fn parse_signal(s: &str) -> anyhow::Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n)
            .with_context(|| format!("signal {s}: not a valid signal number"));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).with_context(|| format!("signal {s}: not a known signal name"))
}

/// The annotation an image's stop signal travels in (config.md).
const STOP_SIGNAL: &str = "org.opencontainers.image.stopSignal";

pub fn run(root: &Path, id: &str, signal: Option<&str>, all: bool) -> anyhow::Result<i32> {
    let named = signal.map(parse_signal).transpose()?;
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    // Without a signal named: the image's stop signal, else SIGTERM.
    let sig = match named {
        Some(s) => s,
        None => match state.annotations.get(STOP_SIGNAL) {
            Some(s) => parse_signal(s).with_context(|| format!("annotations.{STOP_SIGNAL}"))?,
            None => Signal::SIGTERM,
        },
    };
    if state.status(&dir) == Status::Stopped {
        // runc's words: engines match them to tell "already gone" apart.
        bail!("cannot kill container {id}: container not running");
    }
    if all {
        for pid in state.cgroup.pids() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
        return Ok(0);
    }
    crate::signal::send_to_init(&state, sig)
        .with_context(|| format!("kill container {id} with {sig}"))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signals_like_runc() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(
            parse_signal("NOPE")
                .unwrap_err()
                .to_string()
                .contains("NOPE")
        );
        assert!(parse_signal("99").is_err());
    }
}
