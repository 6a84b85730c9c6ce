//! Creating the container's first process: clone3 with the namespace flags
//! and, on cgroup v2, CLONE_INTO_CGROUP so the child is born in its cgroup.
//! Without a new stack clone3 behaves like fork: the child continues on a
//! copy of the caller's stack, which is safe because berth is single
//! threaded until then.

use std::fs::File;
use std::io::Write;
use std::os::fd::RawFd;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::cgroups::Cgroup;
use crate::error::{Error, PathContext, Result};

const CLONE_INTO_CGROUP: u64 = 0x200000000;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Forks with `flags`; returns the child's pid in the parent and 0 in the
/// child. `cgroup` places the child in that (v2) cgroup directory.
pub fn fork(flags: CloneFlags, cgroup: Option<RawFd>) -> Result<i32> {
    let mut args = CloneArgs {
        flags: flags.bits() as u32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: clone3 reads a live, correctly sized clone_args; with no stack
    // given, the child resumes here on a copy of our address space, exactly
    // like fork(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r >= 0 {
        return Ok(r as i32);
    }
    let err = Errno::last();
    if err != Errno::ENOSYS {
        return Err(Error::sys(format!("clone3 with {flags:?}"), err));
    }
    legacy(flags.bits() as libc::c_long | libc::SIGCHLD as libc::c_long)
        .map_err(|e| Error::sys(format!("clone with {flags:?}"), e))
}

/// Forks a sibling: the child's parent is our parent (CLONE_PARENT), so the
/// runtime that waits for the init can reap it.
pub fn fork_sibling() -> Result<i32> {
    legacy((libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_long)
        .map_err(|e| Error::sys("fork the init process", e))
}

fn legacy(flags: libc::c_long) -> std::result::Result<i32, Errno> {
    // SAFETY: clone with a null stack is fork(2) with flags; see `fork`.
    let r = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as i32)
    }
}

/// Sets (or clears) SIGKILL on the parent's death: a half-made container
/// process must not outlive the runtime that is setting it up, but the
/// finished one must outlive `create`.
pub fn die_with_parent(on: bool) -> Result<()> {
    let sig = if on { libc::SIGKILL as isize } else { 0 };
    prctl::set_death_signal(sig)
        .map_err(|e| Error::sys("set the parent death signal", Errno::from_raw(e)))
}

/// Placement in the v1 hierarchies, made by the new process itself. Moving
/// another process (its pid into `cgroup.procs`) write-locks the kernel's
/// global threadgroup lock, which waits for an RCU grace period: 4 to 15 ms
/// on this machine, the largest single cost of a create. A single-threaded
/// process moving itself (`0` into `tasks`) skips that lock (Linux 5.17).
/// The runtime opens the files before the fork (the kernel checks the
/// opener's credentials), and the child writes to them before doing
/// anything else, so it is in its cgroups before it enters a namespace.
/// Empty on cgroup v2, where clone3 places the child (CLONE_INTO_CGROUP).
pub struct CgroupJoin(Vec<(PathBuf, File)>);

impl CgroupJoin {
    pub fn open(cgroup: &Cgroup) -> Result<CgroupJoin> {
        if cgroup.unified {
            return Ok(CgroupJoin(Vec::new()));
        }
        let files = cgroup
            .dirs
            .iter()
            .map(|d| {
                let tasks = d.join("tasks");
                let f = File::options()
                    .write(true)
                    .open(&tasks)
                    .at("open", &tasks)?;
                Ok((tasks, f))
            })
            .collect::<Result<_>>()?;
        Ok(CgroupJoin(files))
    }

    /// In the child, which has one thread (it was just forked): moves
    /// itself into every hierarchy and closes the files.
    pub fn join(&mut self) -> Result<()> {
        for (path, mut f) in self.0.drain(..) {
            f.write_all(b"0").at("join the cgroup through", &path)?;
        }
        Ok(())
    }
}
