//! Joining a pid namespace that already has processes (another
//! container's, a pod's). Anything in that namespace with CAP_SYS_PTRACE
//! reaches every process of it through `/proc/PID/root`, `cwd` and `fd/N`
//! (non-dumpable does not stop that capability). So no process of ours
//! may be in it while its root, cwd or descriptors reach the host:
//!
//! * The setup process stays outside: it mounts and pivots into the
//!   container's root, and only then forks the init into the namespace
//!   (init.rs), whose root and cwd are the container's from its first
//!   instruction.
//! * procfs shows the pid namespace of the process that opens the
//!   filesystem context (fsopen), not the one its mounter's children go
//!   to; the setup process, still outside, cannot make the container's
//!   `/proc` itself. A throwaway child makes it: forked outside, it closes
//!   every descriptor but one socket, makes an empty read-only tmpfs its
//!   root and cwd (a detached mount: `..` leads nowhere), and only then
//!   forks a process into the namespace, which creates each procfs
//!   instance of the config as a detached mount and sends it back.

use std::fs::File;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sched::{CloneFlags, setns};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use nix::sys::wait::waitpid;
use oci_spec::runtime::Spec;

use crate::clone;
use crate::error::{Error, Result};
use crate::rootfs::options::{self, attr};
use crate::sync::{self, Channel};


/// The config's procfs mounts (index, filesystem options), in order.
fn proc_mounts(spec: &Spec) -> Vec<(usize, String)> {
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter(|(_, m)| m.typ().as_deref() == Some("proc"))
        .map(|(i, m)| {
            let opts = options::parse(m.options().as_deref().unwrap_or_default());
            (i, opts.data)
        })
        .collect()
}

/// One detached procfs of the pid namespace `pid_ns` for each procfs
/// mount of the config, by mount index; none (and no process made) when
/// the config mounts no procfs. Called by the setup process before it
/// enters `pid_ns` itself, in the mount namespace the trees are for.
pub fn procfs_trees(spec: &Spec, pid_ns: &File) -> Result<Vec<(usize, OwnedFd)>> {
    let wanted = proc_mounts(spec);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let (ours, theirs) = sync::pair()?;
    let helper = clone::fork(CloneFlags::empty(), None)?;
    if helper == 0 {
        drop(ours);
        let err = match outside(&theirs, pid_ns, &wanted) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let _ = theirs.send(&sync::Msg::Fail(err.to_string()));
        // SAFETY: _exit skips the destructors and atexit handlers of the
        // process we were forked from.
        unsafe { libc::_exit(1) }
    }
    drop(theirs);
    let got = receive(&ours, wanted.len());
    let _ = waitpid(nix::unistd::Pid::from_raw(helper), None);
    got
}

/// Reads one tree per wanted mount, or the helper's error.
fn receive(ours: &Channel, count: usize) -> Result<Vec<(usize, OwnedFd)>> {
    let mut trees = Vec::with_capacity(count);
    while trees.len() < count {
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            ours.as_fd().as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| Error::sys("receive a procfs of the joined pid namespace", e))?;
        let mut fd = None;
        for c in msg.cmsgs().into_iter().flatten() {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for (k, &raw) in fds.iter().enumerate() {
                    // SAFETY: SCM_RIGHTS installed these descriptors in our
                    // table for us; each is owned exactly once.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if k == 0 {
                        fd = Some(owned);
                    }
                }
            }
        }
        let n = msg.bytes;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        match (fd, text.parse::<usize>()) {
            (Some(fd), Ok(i)) => trees.push((i, fd)),
            _ if n == 0 => {
                return Err(Error::Init(
                    "the process making the joined pid namespace's procfs exited".into(),
                ));
            }
            // A Fail message: its text after the tag byte.
            _ => return Err(Error::Init(text.get(1..).unwrap_or_default().to_string())),
        }
    }
    Ok(trees)
}

/// The first helper, outside the pid namespace: nothing of the host left
/// reachable, then the second helper forked into the namespace.
fn outside(
    channel: &Channel,
    pid_ns: &File,
    wanted: &[(usize, String)],
) -> Result<std::convert::Infallible> {
    clone::die_with_parent(true)?;
    setns(pid_ns.as_fd(), CloneFlags::CLONE_NEWPID)
        .map_err(|e| Error::sys("setns into the joined pid namespace", e))?;
    let empty = crate::rootfs::detached::fs_mount(
        c"tmpfs",
        &[
            (c"size".into(), Some(c"4k".into())),
            (c"mode".into(), Some(c"0555".into())),
        ],
        attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC,
    )
    .map_err(|e| Error::sys("make an empty tmpfs for the procfs helper", e))?;
    nix::unistd::fchdir(empty.as_raw_fd())
        .map_err(|e| Error::sys("chdir into the procfs helper's empty root", e))?;
    nix::unistd::chroot(".").map_err(|e| Error::sys("chroot into the empty tmpfs", e))?;
    drop(empty);
    close_all_but(channel.as_fd().as_raw_fd())?;
    let inside = clone::fork(CloneFlags::empty(), None)?;
    if inside == 0 {
        clone::die_with_parent(true)?;
        for (i, data) in wanted {
            let tree = procfs(data).map_err(|e| {
                Error::sys(
                    format!("mounts[{i}]: make procfs (options {data:?}) in the joined pid namespace"),
                    e,
                )
            })?;
            crate::console::send_fd(channel, tree.as_fd(), &i.to_string())?;
        }
        // SAFETY: see procfs_trees.
        unsafe { libc::_exit(0) }
    }
    let status = waitpid(nix::unistd::Pid::from_raw(inside), None);
    // SAFETY: see procfs_trees; the channel is closed by the exit.
    unsafe { libc::_exit(i32::from(!matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0))))) }
}

/// Closes every descriptor from 3 on except `keep` (stdio stays: it is
/// the container's own).
fn close_all_but(keep: RawFd) -> Result<()> {
    let keep = u32::try_from(keep).unwrap_or(0);
    for (from, to) in [(3, keep.saturating_sub(1)), (keep + 1, u32::MAX)] {
        if from > to {
            continue;
        }
        // SAFETY: close_range closes descriptors of this forked helper
        // that no Rust object in it uses again.
        if unsafe { libc::syscall(libc::SYS_close_range, from, to, 0) } < 0 {
            return Err(Error::sys(
                "close the procfs helper's descriptors",
                Errno::last(),
            ));
        }
    }
    Ok(())
}

/// A procfs of the calling process's pid namespace with the mount's
/// filesystem options (hidepid=, subset=), as a detached mount.
fn procfs(data: &str) -> std::result::Result<OwnedFd, Errno> {
    crate::rootfs::detached::new_fs(
        "proc",
        std::path::Path::new(""),
        nix::mount::MsFlags::empty(),
        Some(data),
    )
}
