//! NOTIFY_SOCKET passed through, as runc does. When berth runs with
//! NOTIFY_SOCKET set (systemd's sd_notify socket for a Type=notify unit, or
//! an engine's), `create` binds STATE/notify read-only at /run/notify in the
//! container and points the process's NOTIFY_SOCKET at
//! /run/notify/notify.sock. `start` and `run` listen there before the
//! process is released and relay what it sends to the original socket, with
//! MAINPID naming the process the host should watch (the container's init,
//! or berth itself when `run` stays in the foreground). A detached start
//! returns once the process has said READY=1 or has exited, so
//! `systemd-notify --ready` inside the container ends the unit's start-up.
//!
//! A relay rather than a bind of the host's socket: systemd accepts
//! notifications only from the unit's main process, and the container's
//! process is neither that nor in the unit's cgroup.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use oci_spec::runtime::{MountBuilder, Spec};

use crate::error::{Error, PathContext, Result};

const DIR: &str = "notify";
const SOCKET: &str = "notify.sock";
const IN_CONTAINER: &str = "/run/notify";
/// How long the host gets to acknowledge the relayed notification
/// (sd_notify_barrier's default).
const BARRIER_TIMEOUT: Duration = Duration::from_secs(5);

/// The socket the host listens on, from our environment.
fn host_socket() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// At create: with NOTIFY_SOCKET set, makes STATE/notify, binds it into the
/// container and sets the process's NOTIFY_SOCKET to the socket there.
pub fn prepare(spec: &mut Spec, state_dir: &Path) -> Result<()> {
    if host_socket().is_none() {
        return Ok(());
    }
    let dir = state_dir.join(DIR);
    fs::DirBuilder::new()
        .mode(0o755)
        .create(&dir)
        .at("create notify socket directory", &dir)?;
    let mount = MountBuilder::default()
        .destination(IN_CONTAINER)
        .typ("bind")
        .source(&dir)
        .options(
            ["bind", "nosuid", "noexec", "nodev", "ro"]
                .map(String::from)
                .to_vec(),
        )
        .build()
        .map_err(|e| Error::State(format!("notify socket mount: {e}")))?;
    spec.mounts_mut().get_or_insert_with(Vec::new).push(mount);
    if let Some(p) = spec.process_mut() {
        let env = p.env_mut().get_or_insert_with(Vec::new);
        env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        env.push(format!("NOTIFY_SOCKET={IN_CONTAINER}/{SOCKET}"));
    }
    Ok(())
}

/// The container's end of the relay: a datagram socket in STATE/notify.
pub struct Relay {
    socket: UnixDatagram,
    host: String,
    host_addr: SocketAddr,
}

impl Relay {
    /// Listens for the container when it was created with a notify
    /// directory and NOTIFY_SOCKET names where to relay to; must be called
    /// before the process is released, so that nothing it sends is lost.
    pub fn listen(state_dir: &Path) -> Result<Option<Relay>> {
        let Some(host) = host_socket() else {
            return Ok(None);
        };
        let host_addr = match host.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&host),
        }
        .map_err(|e| Error::path("NOTIFY_SOCKET", &host, e))?;
        let dir = state_dir.join(DIR);
        let handle = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::path("open", &dir, e)),
        };
        // Through the directory's descriptor: the state directory's path
        // may be longer than a socket address can hold (108 bytes).
        let path = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", handle.as_raw_fd()));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::path("remove stale", dir.join(SOCKET), e)),
        }
        let socket = UnixDatagram::bind(&path).at("bind notify socket", dir.join(SOCKET))?;
        // Any user of the container may notify, as under systemd.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o777))
            .at("chmod", dir.join(SOCKET))?;
        socket
            .set_nonblocking(true)
            .at("set non-blocking", dir.join(SOCKET))?;
        Ok(Some(Relay {
            socket,
            host,
            host_addr,
        }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Relays what is queued, with MAINPID=`main_pid` added after READY;
    /// true once the container has said READY=, after the host has
    /// acknowledged it (or not, within the barrier's timeout).
    pub fn relay(&self, main_pid: i32) -> Result<bool> {
        let mut buf = vec![0u8; 65536];
        let mut ready = false;
        loop {
            let n = match self.socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::path("receive from", SOCKET, e)),
            };
            let text = String::from_utf8_lossy(&buf[..n]);
            let main = format!("MAINPID={main_pid}");
            // The container's own MAINPID means nothing on the host, and
            // its BARRIER=1 was answered here: its descriptor closed as the
            // datagram was read without it.
            let mut lines: Vec<&str> = text
                .lines()
                .filter(|l| {
                    !l.is_empty() && !l.starts_with("MAINPID=") && !l.starts_with("BARRIER=")
                })
                .collect();
            let this_ready = lines.iter().any(|l| l.starts_with("READY="));
            if this_ready {
                lines.push(&main);
            }
            if !lines.is_empty() {
                self.send(lines.join("\n").as_bytes(), None)?;
            }
            ready |= this_ready;
        }
        if ready {
            self.barrier()?;
        }
        Ok(ready)
    }

    /// Waits for READY= (relaying everything before it) or for the process
    /// `pid` to exit. The container runs either way: a failure to relay is
    /// a warning.
    pub fn wait_ready(&self, pid: i32) {
        if let Err(e) = self.wait(pid) {
            crate::logging::warn(&format!("NOTIFY_SOCKET {}: {e}", self.host));
        }
    }

    fn wait(&self, pid: i32) -> Result<()> {
        let Some(pidfd) = crate::signal::pidfd(pid)? else {
            return Ok(());
        };
        loop {
            let mut fds = [
                PollFd::new(self.fd(), PollFlags::POLLIN),
                PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("poll the notify socket", e)),
            }
            let readable = |f: &PollFd| f.revents().is_some_and(|r| !r.is_empty());
            let (message, exited) = (readable(&fds[0]), readable(&fds[1]));
            if message && self.relay(pid)? {
                return Ok(());
            }
            if exited {
                return Ok(());
            }
        }
    }

    fn send(&self, msg: &[u8], fd: Option<i32>) -> Result<()> {
        let client = UnixDatagram::unbound().at("create socket for", &self.host)?;
        client
            .connect_addr(&self.host_addr)
            .map_err(|e| Error::path("connect to NOTIFY_SOCKET", &self.host, e))?;
        let iov = [std::io::IoSlice::new(msg)];
        let fds: Vec<i32> = fd.into_iter().collect();
        let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
            Vec::new()
        } else {
            vec![ControlMessage::ScmRights(&fds)]
        };
        sendmsg::<()>(client.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None)
            .map_err(|e| Error::sys(format!("send to NOTIFY_SOCKET {}", self.host), e))?;
        Ok(())
    }

    /// sd_notify_barrier: BARRIER=1 with a pipe's write end, which the host
    /// closes once it has processed everything before it.
    fn barrier(&self) -> Result<()> {
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::sys("pipe for the notify barrier", e))?;
        self.send(b"BARRIER=1", Some(w.as_raw_fd()))?;
        drop(w);
        let mut fds = [PollFd::new(r.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(BARRIER_TIMEOUT.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => crate::logging::warn(&format!(
                "NOTIFY_SOCKET {}: no acknowledgement of the notification within {}s",
                self.host,
                BARRIER_TIMEOUT.as_secs()
            )),
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(Error::sys("poll the notify barrier", e)),
        }
        Ok(())
    }
}
