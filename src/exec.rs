//! `exec`: a new process in a running container. The runtime (from its
//! sealed copy) forks a child in the container's cgroup; the child joins
//! every namespace of the container's init at once through the init's pidfd
//! (setns with all CLONE_NEW* flags), forks once more so the pid namespace
//! applies, and the grandchild (still the runtime's child, CLONE_PARENT)
//! prepares the process exactly as the init does and execs it. Which
//! namespaces, the process defaults and the seccomp filter come from what
//! create recorded (`exec_record`), never from the bundle.

use std::convert::Infallible;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::error::{Error, Result, SysContext};
use crate::exec_record::Record;
use crate::process::prepare;
use crate::state::{ContainerDir, State};
use crate::sync::{self, Channel, Msg};
use crate::{clone, console};

pub struct Request<'a> {
    pub state: &'a State,
    pub record: &'a Record,
    pub process: &'a Process,
    pub init_pidfd: &'a OwnedFd,
    pub console: Option<&'a UnixStream>,
    pub preserve_fds: u32,
    /// `--cgroup`: sub-cgroups of the container's to join instead.
    pub sub_cgroup: Option<crate::cgroups::Cgroup>,
}

/// Starts the process; returns its pid, the channel on which it waits for
/// `Msg::Start` (sent once the caller has written its pid file), and the
/// gate for unmounting berth's view once the process runs: before that the
/// runtime must answer the child at once (`Pid`, then `Ready`). The
/// container's lock is released just before the fork.
pub fn spawn(
    r: &Request,
    lock: ContainerDir,
) -> Result<(i32, Channel, crate::sealed_exe::Gate)> {
    let flags = r.record.namespaces();
    let (ours, theirs) = sync::pair()?;
    let cgroup = r.sub_cgroup.as_ref().unwrap_or(&r.state.cgroup);
    let cgroup_fd = cgroup.dir_fd();
    let mut cgroup_join = clone::CgroupJoin::open(cgroup)?;
    let root = if flags.contains(CloneFlags::CLONE_NEWNS) {
        None
    } else {
        Some(init_root(r)?)
    };
    let mut view_gate = crate::sealed_exe::Gate::new()?;
    // execCPUAffinity.initial holds until the process moves into the
    // container's cgroup, which then leaves its CPUs to the kernel (unless
    // `final` names them): the runtime runs there while it forks, and the
    // child inherits it.
    let initial = r
        .process
        .exec_cpu_affinity()
        .as_ref()
        .and_then(|a| a.initial().as_deref());
    let restore = match initial {
        Some(cpus) => {
            let ours = nix::sched::sched_getaffinity(Pid::from_raw(0))
                .sys(|| "sched_getaffinity".into())?;
            crate::process::scheduling::set_cpu_affinity("process.execCPUAffinity.initial", cpus)?;
            Some(ours)
        }
        None => None,
    };
    // Everything the child needs is open. A forked child would hold the
    // lock too, and a child frozen in a paused container's cgroup (exec
    // --ignore-paused) would hold it until the container thaws: `resume`
    // and `delete -f` would wait for it forever. Without the lock a
    // concurrent delete kills the child with the container, and the join
    // fails on a removed cgroup or a dead init.
    drop(lock);
    let runtime = std::process::id();
    let mut forked = clone::fork(
        CloneFlags::empty(),
        cgroup_fd.as_ref().map(|f| f.as_raw_fd()),
    );
    // EBUSY: the container's cgroup has controllers enabled for its
    // children (a systemd inside manages its delegated tree), so it holds
    // no process; the init's own cgroup below it does. An explicit
    // `--cgroup` is kept as asked.
    if matches!(forked, Err(Error::Sys { err: nix::errno::Errno::EBUSY, .. })) && r.sub_cgroup.is_none() {
        if let Some(leaf) = r.state.cgroup.leaf_of(r.state.pid) {
            forked = clone::fork(CloneFlags::empty(), Some(leaf.as_raw_fd()));
        }
    }
    let pid = forked?;
    if pid == 0 {
        drop(ours);
        let joined = cgroup_join.join();
        let err = match joined.and_then(|()| child(r, runtime, flags, root.as_ref(), &theirs)) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        let _ = theirs.send(&Msg::Fail(err.to_string()));
        // SAFETY: _exit skips the runtime's destructors and atexit handlers.
        unsafe { libc::_exit(1) }
    }
    drop(theirs);
    drop(cgroup_join);
    drop(root);
    if let Some(ours) = restore {
        let _ = nix::sched::sched_setaffinity(Pid::from_raw(0), &ours);
    }
    view_gate.forked();
    crate::logging::phase("cloned");
    let fail = |e: Error| {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        e
    };
    ours.send(&Msg::Go).map_err(fail)?;
    let mut exec_pid = pid;
    loop {
        match ours.recv()? {
            Some(Msg::Pid(p)) => {
                let _ = waitpid(Pid::from_raw(pid), None);
                exec_pid = p;
                ours.send(&Msg::Go)?;
            }
            Some(Msg::SeccompFd) => {
                let fd = console::recv_fd(&ours)?;
                crate::seccomp::send_to_listener(
                    r.record.listener_path.as_deref(),
                    r.record.listener_metadata.as_deref(),
                    r.state.to_json(crate::state::Status::Running),
                    exec_pid,
                    fd,
                )?;
            }
            Some(Msg::Ready) => return Ok((exec_pid, ours, view_gate)),
            Some(Msg::Fail(s)) => {
                let _ = waitpid(Pid::from_raw(pid), None);
                return Err(Error::Init(s));
            }
            Some(m) => {
                return Err(fail(Error::State(format!(
                    "unexpected {m:?} from the exec process"
                ))));
            }
            None => {
                let _ = waitpid(Pid::from_raw(pid), None);
                return Err(Error::Init("the exec process exited during setup".into()));
            }
        }
    }
}

/// The init's root directory, for a container without a mount namespace
/// (its root is a chroot in the host's): opened through /proc/PID, then
/// the init's pidfd is checked to still name a live process, so the pid
/// was the init's when the directory was opened. Never the rootfs path of
/// the bundle, which may have moved or changed since create.
fn init_root(r: &Request) -> Result<OwnedFd> {
    let path = format!("/proc/{}/root", r.state.pid);
    let dir = File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(&path)
        .map_err(|e| Error::path("open the init's root", &path, e))?;
    if crate::signal::wait_exit(r.init_pidfd, Duration::ZERO)? {
        return Err(Error::State(format!(
            "container {} is not running",
            r.state.id
        )));
    }
    Ok(dir.into())
}

fn child(
    r: &Request,
    runtime: u32,
    flags: CloneFlags,
    root: Option<&OwnedFd>,
    channel: &Channel,
) -> Result<Infallible> {
    let mut keep = vec![channel.as_fd().as_raw_fd(), r.init_pidfd.as_raw_fd()];
    keep.extend(r.console.map(|c| c.as_raw_fd()));
    keep.extend(root.map(|f| f.as_raw_fd()));
    prepare::close_fds_except(keep, r.preserve_fds)?;
    clone::die_with_parent(true)?;
    // A child frozen until now (a paused container's cgroup) may have
    // outlived its runtime, whose death signal then never comes.
    if nix::unistd::getppid().as_raw() as u32 != runtime {
        return Err(Error::State("the exec runtime exited".into()));
    }
    channel.expect(Msg::Go)?;
    setns(r.init_pidfd.as_fd(), flags)
        .sys(|| format!("join the container's namespaces ({flags:?})"))?;
    if flags.contains(CloneFlags::CLONE_NEWPID) {
        let pid = clone::fork_sibling()?;
        if pid != 0 {
            channel.send(&Msg::Pid(pid))?;
            // SAFETY: see `spawn`; the forked process carries on.
            unsafe { libc::_exit(0) }
        }
        clone::die_with_parent(true)?;
        // Wait until the runtime knows our pid: our first message must not
        // overtake the one announcing us.
        channel.expect(Msg::Go)?;
    }
    prctl::set_dumpable(false).map_err(|e| {
        Error::sys(
            "make the process non-dumpable",
            nix::errno::Errno::from_raw(e),
        )
    })?;
    crate::logging::phase("namespaces");
    if let Some(root) = root {
        // No mount namespace to join: the container's root is the init's
        // chroot.
        nix::unistd::fchdir(root.as_raw_fd()).sys(|| "chdir to the init's root".into())?;
        nix::unistd::chroot(".").sys(|| "chroot to the init's root".into())?;
    }
    if let Some(sock) = r.console {
        let root = crate::rootfs::inroot::Root::open("/".as_ref())
            .map_err(|e| Error::path("open", "/", e))?;
        let size = console::size(r.process)?;
        let slave = console::setup_pty(&root, sock, size, false)?;
        console::attach(slave)?;
    } else {
        // As the init: a session and process group of the process's own,
        // inside the container (the runtime's group is outside it).
        nix::unistd::setsid().sys(|| "setsid".into())?;
    }
    if let Some(aff) = r.process.exec_cpu_affinity()
        && let Some(cpus) = aff.cpu_affinity_final().as_deref()
    {
        crate::process::scheduling::set_cpu_affinity("process.execCPUAffinity.final", cpus)?;
    }
    let mut exec = prepare::prepare(
        r.process,
        false,
        r.record.personality.as_ref(),
        r.record.memory_policy.as_ref(),
        r.record.seccomp.as_ref(),
        r.preserve_fds,
    )?;
    if let Some(fd) = exec.seccomp_notify.take() {
        channel.send(&Msg::SeccompFd)?;
        console::send_fd(channel, fd.as_fd(), "seccomp notify fd")?;
    }
    clone::die_with_parent(false)?;
    crate::logging::phase("process");
    channel.send(&Msg::Ready)?;
    channel.expect(Msg::Start)?;
    Err(exec.exec())
}
