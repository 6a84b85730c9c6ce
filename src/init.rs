//! The container's init process, from clone to execve. It runs forked from
//! the runtime (from the sealed copy of berth, so its /proc/PID/exe is not
//! the host binary) and reports to it over the sync channel; any error is
//! sent there and ends the process.
//!
//! Order matters: namespaces first; then, still seeing the host's /, the
//! procfs writes, the rootfs and the pty; pivot_root; then the process's own
//! attributes, privileged ones before the uid switch; ready; wait for start;
//! execve.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sched::CloneFlags;
use nix::unistd::{Gid, Uid, setresgid, setresuid};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::cgroups::Cgroup;
use crate::error::{Error, Result, SysContext};
use crate::fault::point;
use crate::namespaces::{self, Plan};
use crate::process::prepare;
use crate::sync::{Channel, Msg};
use crate::{clone, console, rootfs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartBy {
    /// `berth start` writes to the exec fifo.
    Fifo,
    /// The runtime sends `Msg::Start` (`run`).
    Channel,
}

pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub id: &'a str,
    pub plan: &'a Plan,
    pub joins: Vec<(LinuxNamespaceType, File)>,
    pub channel: Channel,
    pub start_by: StartBy,
    pub fifo: Option<OwnedFd>,
    pub console: Option<&'a UnixStream>,
    pub cgroup: &'a Cgroup,
    /// Our v1 cgroup files, joined first thing (see `clone::CgroupJoin`).
    pub cgroup_join: clone::CgroupJoin,
    /// The runtime writes linux.resources while we mount, and says `Go` once
    /// done: the device rules (all denied, then each allowed) must not be
    /// half written when we make device nodes or open the pty.
    pub await_resources: bool,
    pub idmap_trees: Vec<(usize, OwnedFd)>,
    pub seccomp: Option<&'a crate::seccomp::Program>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
}

pub fn run(mut a: InitArgs) -> ! {
    let err = match setup(&mut a) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    let _ = a.channel.send(&Msg::Fail(err.to_string()));
    // SAFETY: _exit ends the process without running the parent's atexit
    // handlers or destructors, which belong to the runtime, not to us.
    unsafe { libc::_exit(1) }
}

fn setup(a: &mut InitArgs) -> Result<Infallible> {
    a.cgroup_join.join()?;
    close_foreign_fds(a)?;
    // Exact modes for the nodes and directories we create.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    clone::die_with_parent(true)?;
    a.channel.expect(Msg::Go)?;
    let proc_trees = enter_namespaces(a)?;
    if (a.plan.clone_flags | a.plan.unshare_flags).contains(CloneFlags::CLONE_NEWNET) {
        crate::netdev::loopback_up()?;
    }
    // Nothing of ours may be readable through /proc/PID by processes that
    // share the container's namespaces (CVE-2016-9962).
    prctl::set_dumpable(false)
        .map_err(|e| Error::sys("make the init non-dumpable", nix::errno::Errno::from_raw(e)))?;
    point("namespaces")?;
    let process = a.spec.process().as_ref();
    set_names(a.spec)?;
    if !a.no_new_keyring {
        join_session_keyring(a.id)?;
    }
    procfs_writes(a.spec, process)?;
    let ctx = rootfs::Context {
        spec: a.spec,
        bundle: a.bundle,
        rootfs: a.rootfs,
        mount_ns: has_mount_ns(a.spec),
        in_userns: a.plan.new_user
            || !namespaces::in_initial_userns()
            || a.plan
                .joins
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::User),
        new_cgroupns: a.plan.new_cgroup,
        cgroup: a.cgroup,
        idmap_trees: &a.idmap_trees,
        proc_trees: &proc_trees,
    };
    let root = rootfs::setup(&ctx)?;
    if a.await_resources {
        a.channel.expect(Msg::Go)?;
    }
    rootfs::devices(&ctx, &root)?;
    let slave = match a.console {
        Some(sock) => {
            let size = match process {
                Some(p) => console::size(p)?,
                None => None,
            };
            Some(console::setup_pty(&root, sock, size, true)?)
        }
        None => None,
    };
    rootfs::protect(a.spec, &root)?;
    point("masked")?;
    let hook_state = container_hooks(a)?;
    let entry = match (ctx.mount_ns, a.no_pivot) {
        (false, _) => rootfs::Entry::Chroot,
        (true, true) => rootfs::Entry::Move,
        (true, false) => rootfs::Entry::Pivot,
    };
    rootfs::enter(&root, entry)?;
    drop(root);
    if let Some(p) = process
        && a.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true)
    {
        // Made while / can still be written to; prepare finds it.
        prepare::make_cwd(p.cwd())?;
    }
    rootfs::finish(a.spec)?;
    drop(proc_trees);
    if joins_pid(a.plan) {
        // Only now, with the container's root and cwd, does a process of
        // ours appear in the joined pid namespace (see joined_pidns).
        a.idmap_trees.clear();
        fork_init(a)?;
    }
    point("rootfs")?;
    match slave {
        Some(slave) => console::attach(slave)?,
        // A session and group of its own, as with a terminal (and as runc
        // does): the caller's group is outside the container (getpgrp() 0
        // in a new pid namespace), its terminal's signals are not ours, and
        // CRIU refuses to dump a tree whose session leader is outside its
        // pid namespace.
        None => drop(nix::unistd::setsid().sys(|| "setsid".into())?),
    }
    let Some(process) = process else {
        // No process to run (it is optional until start): the container is
        // set up and waits; `start` refuses it and kills this init.
        clone::die_with_parent(false)?;
        a.channel.send(&Msg::Ready)?;
        loop {
            nix::unistd::pause();
        }
    };
    let process = crate::activation::own_pid(process);
    let linux = a.spec.linux().as_ref();
    let mut exec = prepare::prepare(
        &process,
        true,
        linux.and_then(|l| l.personality().as_ref()),
        linux.and_then(|l| l.memory_policy().as_ref()),
        a.seccomp,
        a.preserve_fds,
    )?;
    if let Some(fd) = exec.seccomp_notify.take() {
        a.channel.send(&Msg::SeccompFd)?;
        console::send_fd(&a.channel, fd.as_fd(), "seccomp notify fd")?;
    }
    clone::die_with_parent(false)?;
    point("process")?;
    a.channel.send(&Msg::Ready)?;
    let fifo = match a.start_by {
        StartBy::Fifo => Some(wait_fifo(a.fifo.take())?),
        StartBy::Channel => {
            a.channel.expect(Msg::Start)?;
            None
        }
    };
    let err = match start_container_hooks(a.spec, hook_state) {
        Ok(()) => exec.exec(),
        Err(e) => e,
    };
    // `start` reads what is left in the fifo once we are gone: nothing
    // when execve closed it (close-on-exec), else why not.
    if let Some(f) = &fifo {
        let _ = nix::unistd::write(f, err.to_string().as_bytes());
    }
    Err(err)
}

/// runtime.md step 7: the startContainer hooks, in the container's
/// namespaces, once `start` has been called.
fn start_container_hooks(spec: &Spec, state: Option<String>) -> Result<()> {
    let (Some(h), Some(state)) = (spec.hooks(), state) else {
        return Ok(());
    };
    let hooks = h.start_container().as_deref().unwrap_or_default();
    let mut state: serde_json::Value = serde_json::from_str(&state).unwrap_or_default();
    state["status"] = "created".into();
    let env = spec.process().as_ref().and_then(|p| p.env().as_deref());
    crate::hooks::run("startContainer", hooks, &state.to_string(), env)
}

/// Whether the container joins an existing pid namespace by path.
fn joins_pid(plan: &Plan) -> bool {
    plan.joins.iter().any(|(t, _)| *t == LinuxNamespaceType::Pid)
}

/// Joins and unshares the namespaces, and forks the init when a new pid or
/// time namespace applies only to children. A joined pid namespace is
/// entered last and the fork waits until the rootfs is pivoted (see
/// joined_pidns); the procfs trees of that namespace are returned.
fn enter_namespaces(a: &mut InitArgs) -> Result<Vec<(usize, OwnedFd)>> {
    let plan = a.plan;
    // setns into a pid namespace owned by another user namespace needs
    // rights a new user namespace no longer has: then it is joined in
    // order, before the unshare.
    let pid_ns = match a.joins.iter().position(|(t, _)| *t == LinuxNamespaceType::Pid) {
        Some(i) if !plan.new_user => Some(a.joins.remove(i).1),
        _ => None,
    };
    namespaces::join(&a.joins)?;
    a.joins.clear();
    if plan.clone_flags.is_empty() && !plan.unshare_flags.is_empty() {
        if plan.new_user {
            namespaces::unshare_new(CloneFlags::CLONE_NEWUSER)?;
            a.channel.send(&Msg::MapIds)?;
            a.channel.expect(Msg::Go)?;
        }
        namespaces::unshare_new(plan.unshare_flags - CloneFlags::CLONE_NEWUSER)?;
        if plan
            .unshare_flags
            .contains(namespaces::flag(LinuxNamespaceType::Time))
        {
            namespaces::write_time_offsets(a.spec)?;
        }
    }
    if plan.new_user {
        setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
            .sys(|| "setresgid 0 in the new user namespace".into())?;
        setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
            .sys(|| "setresuid 0 in the new user namespace".into())?;
    }
    if plan.new_cgroup {
        namespaces::unshare_new(CloneFlags::CLONE_NEWCGROUP)?;
    }
    let mut trees = Vec::new();
    if let Some(ns) = pid_ns {
        trees = crate::joined_pidns::procfs_trees(a.spec, &ns)?;
        namespaces::join(&[(LinuxNamespaceType::Pid, ns)])?;
    }
    if plan.fork_init && !joins_pid(plan) {
        fork_init(a)?;
    }
    Ok(trees)
}

/// Forks the real init (CLONE_PARENT: the runtime's child), which the
/// pending pid and time namespaces apply to; this process reports its pid
/// and exits.
fn fork_init(a: &InitArgs) -> Result<()> {
    let pid = clone::fork_sibling()?;
    if pid != 0 {
        a.channel.send(&Msg::Pid(pid))?;
        // SAFETY: see `run`; the forked init carries on with our work.
        unsafe { libc::_exit(0) }
    }
    clone::die_with_parent(true)?;
    // Wait until the runtime knows our pid: our first message must not
    // overtake the one announcing us.
    a.channel.expect(Msg::Go)
}

pub fn has_mount_ns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount))
}

/// With any of the hooks that run during create: asks the runtime to run
/// prestart and createRuntime (in its namespaces), then runs createContainer
/// here, in the container's namespaces before pivot_root (so a host path
/// resolves, as the spec requires). Returns the state JSON for
/// startContainer.
fn container_hooks(a: &InitArgs) -> Result<Option<String>> {
    let Some(h) = a.spec.hooks() else {
        return Ok(None);
    };
    let any = [
        h.prestart(),
        h.create_runtime(),
        h.create_container(),
        h.start_container(),
    ]
    .iter()
    .any(|v| v.as_ref().is_some_and(|v| !v.is_empty()));
    if !any {
        return Ok(None);
    }
    a.channel.send(&Msg::Hooks)?;
    let state = match a.channel.recv()? {
        Some(Msg::HookState(s)) => s,
        Some(m) => return Err(Error::State(format!("expected the hook state, got {m:?}"))),
        None => return Err(Error::Init("the runtime exited while running hooks".into())),
    };
    // runtime.md: hooks in the container's namespaces get the pid as the
    // container sees it.
    let mut doc: serde_json::Value = serde_json::from_str(&state).unwrap_or_default();
    doc["pid"] = std::process::id().into();
    let state = doc.to_string();
    crate::hooks::run(
        "createContainer",
        h.create_container().as_deref().unwrap_or_default(),
        &state,
        a.spec.process().as_ref().and_then(|p| p.env().as_deref()),
    )?;
    point("container hooks")?;
    Ok(Some(state))
}

fn set_names(spec: &Spec) -> Result<()> {
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        nix::unistd::sethostname(h).sys(|| format!("hostname: sethostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: setdomainname reads `len` bytes from a live buffer.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } < 0 {
            return Err(Error::sys(
                format!("domainname: setdomainname {d:?}"),
                nix::errno::Errno::last(),
            ));
        }
    }
    Ok(())
}

/// A new session keyring, so containers do not share the host's keys.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = CString::new(format!("_ses.{id}")).unwrap_or_default();
    // SAFETY: keyctl reads a NUL-terminated name that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    // Kernels without keyrings (ENOSYS) or that refuse it to this user
    // namespace (EACCES, EDQUOT) leave the container the inherited keyring.
    let e = nix::errno::Errno::last();
    if r < 0
        && !matches!(
            e,
            nix::errno::Errno::ENOSYS | nix::errno::Errno::EACCES | nix::errno::Errno::EDQUOT
        )
    {
        return Err(Error::sys("join a new session keyring", e));
    }
    Ok(())
}

/// Writes that go through /proc while / is still the host's: the host's
/// procfs, which the container cannot have tampered with (CVE-2019-16884,
/// CVE-2025-52881). Per-namespace files resolve to our namespaces.
fn procfs_writes(spec: &Spec, process: Option<&Process>) -> Result<()> {
    if let Some(adj) = process.and_then(|p| p.oom_score_adj()) {
        crate::procfs::write_self("oom_score_adj", &adj.to_string())
            .map_err(|e| e.within("process.oomScoreAdj"))?;
    }
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        crate::procfs::write_sysctls(sysctl.iter())?;
    }
    Ok(())
}

/// Closes every descriptor the init does not need, right after the clone:
/// the runtime's own (state dir lock, cgroup directory) and whatever its
/// caller leaked to it. Only stdio, the preserved ones and the init's own
/// stay, so nothing of the host's is reachable through /proc/1/fd while the
/// container waits to start (CVE-2016-9962).
fn close_foreign_fds(a: &InitArgs) -> Result<()> {
    let mut keep: Vec<i32> = vec![a.channel.as_fd().as_raw_fd()];
    keep.extend(a.fifo.as_ref().map(|f| f.as_raw_fd()));
    keep.extend(a.console.map(|c| c.as_raw_fd()));
    keep.extend(a.joins.iter().map(|(_, f)| f.as_raw_fd()));
    keep.extend(a.idmap_trees.iter().map(|(_, f)| f.as_raw_fd()));
    prepare::close_fds_except(keep, a.preserve_fds)
}

/// Blocks until `berth start` writes to the exec fifo. The fifo stays open
/// until execve, which tells `start` (see commands/start.rs) when that
/// happened.
fn wait_fifo(fifo: Option<OwnedFd>) -> Result<OwnedFd> {
    let fifo = fifo.ok_or_else(|| Error::State("no exec fifo".into()))?;
    let mut b = [0u8; 1];
    loop {
        match nix::unistd::read(fifo.as_raw_fd(), &mut b) {
            Ok(1) => return Ok(fifo),
            Ok(_) => return Err(Error::State("the exec fifo closed before start".into())),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("read the exec fifo", e)),
        }
    }
}
