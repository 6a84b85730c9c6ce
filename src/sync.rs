//! The channel between the runtime (parent) and the container's init while
//! the container is being created: a SOCK_SEQPACKET socketpair, so each
//! message arrives whole and a dead peer reads as end-of-file.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, recv, send, socketpair};

use crate::error::{Error, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// parent -> init: ids are mapped and the cgroup joined; carry on.
    Go,
    /// init -> parent: a new user namespace awaits its uid/gid maps.
    MapIds,
    /// init -> parent: the init process is this pid (sent when the init is
    /// a grandchild, forked to enter a pid or time namespace).
    Pid(i32),
    /// init -> parent: set up, waiting to be started.
    Ready,
    /// parent -> init: start now (`run`, which needs no exec fifo).
    Start,
    /// init -> parent: the seccomp notify fd follows (SCM_RIGHTS) for the
    /// listener.
    SeccompFd,
    /// init -> parent: namespaces and mounts are ready; run the prestart
    /// and createRuntime hooks.
    Hooks,
    /// parent -> init: the hooks ran; this is the state JSON for the hooks
    /// the init runs itself.
    HookState(String),
    /// init -> parent: setting up failed.
    Fail(String),
}

/// The most of a failure report sent: well within what `recv` reads.
const MAX_FAIL: usize = 4096;

pub struct Channel(OwnedFd);

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("socketpair", e))?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    pub fn send(&self, msg: &Msg) -> Result<()> {
        let mut buf = Vec::with_capacity(8);
        match msg {
            Msg::Go => buf.push(b'G'),
            Msg::MapIds => buf.push(b'M'),
            Msg::Pid(p) => {
                buf.push(b'P');
                buf.extend_from_slice(&p.to_le_bytes());
            }
            Msg::Ready => buf.push(b'R'),
            Msg::Start => buf.push(b'S'),
            Msg::SeccompFd => buf.push(b'N'),
            Msg::Hooks => buf.push(b'H'),
            Msg::HookState(s) => {
                buf.push(b'J');
                buf.extend_from_slice(s.as_bytes());
            }
            Msg::Fail(s) => {
                buf.push(b'F');
                // Whole, or not at all: a message larger than the socket
                // takes (or than `recv` reads) would be lost, and the
                // failure reported as a silent exit.
                let mut end = s.len().min(MAX_FAIL);
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                buf.extend_from_slice(&s.as_bytes()[..end]);
            }
        }
        send(self.0.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL)
            .map(drop)
            .map_err(|e| Error::sys("send on the sync socket", e))
    }

    /// The next message; None when the peer closed its end (it exited).
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = [0u8; 8192];
        let n = loop {
            match recv(self.0.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                // ECONNRESET: the peer exited with a message of ours still
                // unread (a Go sent as it failed). The error is reported
                // once; what the peer sent before (its Fail) still waits.
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNRESET) => continue,
                r => break r.map_err(|e| Error::sys("receive on the sync socket", e))?,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let body = &buf[1..n];
        let msg = match buf[0] {
            b'G' => Msg::Go,
            b'M' => Msg::MapIds,
            b'P' if body.len() == 4 => {
                Msg::Pid(i32::from_le_bytes([body[0], body[1], body[2], body[3]]))
            }
            b'R' => Msg::Ready,
            b'S' => Msg::Start,
            b'N' => Msg::SeccompFd,
            b'H' => Msg::Hooks,
            b'J' => Msg::HookState(String::from_utf8_lossy(body).into_owned()),
            b'F' => Msg::Fail(String::from_utf8_lossy(body).into_owned()),
            t => return Err(Error::State(format!("unexpected sync message {t:#x}"))),
        };
        Ok(Some(msg))
    }

    /// Tells the process to exec, and waits until it has: its end of the
    /// channel is close-on-exec, so end-of-file means execve succeeded,
    /// and a failure report means it did not.
    pub fn start(&self) -> Result<()> {
        self.send(&Msg::Start)?;
        match self.recv()? {
            None => Ok(()),
            Some(Msg::Fail(s)) => Err(Error::Init(s)),
            Some(m) => Err(Error::State(format!("unexpected {m:?} after start"))),
        }
    }

    /// Waits for one specific message; anything else is a protocol error,
    /// and a failure report becomes the error.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m == want => Ok(()),
            Some(Msg::Fail(s)) => Err(Error::Init(s)),
            Some(m) => Err(Error::State(format!(
                "expected {want:?} on the sync socket, got {m:?}"
            ))),
            None => Err(Error::Init(
                "the other end of the sync socket exited".into(),
            )),
        }
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_message() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::MapIds,
            Msg::Pid(-7),
            Msg::Ready,
            Msg::Start,
            Msg::Fail("boom: x".into()),
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
