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
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use nix::unistd::{Gid, Uid, setresgid, setresuid};
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::cgroups::Cgroup;
use crate::error::{Error, Result, SysContext};
use crate::logging::phase;
use crate::namespaces::{self, Plan};
use crate::process::{capabilities, personality, rlimits, scheduling, user};
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
    pub idmap_userns: Vec<(usize, OwnedFd)>,
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
    close_foreign_fds(a)?;
    // Exact modes for the nodes and directories we create.
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    prctl::set_death_signal(libc::SIGKILL as isize).map_err(|e| {
        Error::sys(
            "set the parent death signal",
            nix::errno::Errno::from_raw(e),
        )
    })?;
    a.channel.expect(Msg::Go)?;
    enter_namespaces(a)?;
    // Nothing of ours may be readable through /proc/PID by processes that
    // share the container's namespaces (CVE-2016-9962).
    prctl::set_dumpable(false)
        .map_err(|e| Error::sys("make the init non-dumpable", nix::errno::Errno::from_raw(e)))?;
    phase("namespaces");
    let process = a
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::config("process", "is required"))?;
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
            || a.plan
                .joins
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::User),
        new_cgroupns: a.plan.new_cgroup,
        cgroup: a.cgroup,
        idmap_userns: &a.idmap_userns,
    };
    let root = rootfs::setup(&ctx)?;
    let slave = match a.console {
        Some(sock) => {
            let size = process
                .console_size()
                .map(|b| (b.height() as u16, b.width() as u16));
            Some(console::setup_pty(&root, sock, size)?)
        }
        None => None,
    };
    rootfs::protect(a.spec, &root)?;
    let entry = match (ctx.mount_ns, a.no_pivot) {
        (false, _) => rootfs::Entry::Chroot,
        (true, true) => rootfs::Entry::Move,
        (true, false) => rootfs::Entry::Pivot,
    };
    rootfs::enter(&root, entry)?;
    drop(root);
    rootfs::finish(a.spec)?;
    phase("rootfs");
    if let Some(slave) = slave {
        console::attach(slave)?;
    }
    let exec = prepare_process(process, a.spec.linux().as_ref())?;
    close_inherited_fds(a.preserve_fds)?;
    prctl::set_death_signal(0).map_err(|e| {
        Error::sys(
            "clear the parent death signal",
            nix::errno::Errno::from_raw(e),
        )
    })?;
    phase("process");
    a.channel.send(&Msg::Ready)?;
    match a.start_by {
        StartBy::Fifo => wait_fifo(a.fifo.take())?,
        StartBy::Channel => a.channel.expect(Msg::Start)?,
    }
    let err = nix::unistd::execve(&exec.path, &exec.args, &exec.env).unwrap_err();
    Err(Error::sys(
        format!("exec {}", exec.path.to_string_lossy()),
        err,
    ))
}

fn enter_namespaces(a: &mut InitArgs) -> Result<()> {
    let plan = a.plan;
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
    if plan.fork_init {
        let pid = clone::fork_sibling()?;
        if pid != 0 {
            a.channel.send(&Msg::Pid(pid))?;
            // SAFETY: see `run`; the forked init carries on with our work.
            unsafe { libc::_exit(0) }
        }
        prctl::set_death_signal(libc::SIGKILL as isize).map_err(|e| {
            Error::sys(
                "set the parent death signal",
                nix::errno::Errno::from_raw(e),
            )
        })?;
    }
    Ok(())
}

pub fn has_mount_ns(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount))
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
fn procfs_writes(spec: &Spec, process: &Process) -> Result<()> {
    if let Some(adj) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).map_err(|e| {
            Error::path("write", "/proc/self/oom_score_adj", e).within("process.oomScoreAdj")
        })?;
    }
    for (key, value) in spec
        .linux()
        .as_ref()
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value)
            .map_err(|e| Error::path("write", &path, e).within(format!("linux.sysctl.{key}")))?;
    }
    Ok(())
}

struct Exec {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

/// Everything about the process itself, in the order privileges allow:
/// limits and scheduling while privileged, then the bounding set, the user
/// switch, the remaining capabilities, no_new_privs; the executable is
/// found now so a missing one fails the create, as runc does.
fn prepare_process(p: &Process, linux: Option<&oci_spec::runtime::Linux>) -> Result<Exec> {
    if let Some(r) = p.rlimits() {
        rlimits::apply(r)?;
    }
    if let Some(io) = p.io_priority() {
        scheduling::set_io_priority(io)?;
    }
    if let Some(s) = p.scheduler() {
        scheduling::set_scheduler(s)?;
    }
    if let Some(pers) = linux.and_then(|l| l.personality().as_ref()) {
        personality::set(pers)?;
    }
    let cwd = p.cwd();
    let early_chdir = chdir_cwd(cwd);
    capabilities::drop_bounding(p.capabilities().as_ref())?;
    user::switch(p.user())?;
    match early_chdir {
        Ok(()) => {}
        Err(Error::Sys {
            err: nix::errno::Errno::EACCES,
            ..
        }) => chdir_cwd(cwd)?,
        Err(e) => return Err(e),
    }
    capabilities::apply(p.capabilities().as_ref())?;
    if p.no_new_privileges().unwrap_or(false) {
        prctl::set_no_new_privileges(true)
            .map_err(|e| Error::sys("set no_new_privs", nix::errno::Errno::from_raw(e)))?;
    }
    reset_signals()?;
    let env: Vec<CString> = p
        .env()
        .iter()
        .flatten()
        .filter_map(|e| CString::new(e.as_bytes()).ok())
        .collect();
    let args: Vec<CString> = p
        .args()
        .iter()
        .flatten()
        .map(|a| {
            CString::new(a.as_bytes())
                .map_err(|_| Error::config("process.args", format!("{a:?} contains a NUL byte")))
        })
        .collect::<Result<_>>()?;
    let path = find_executable(&args[0], p.env().as_deref().unwrap_or_default())?;
    Ok(Exec { path, args, env })
}

/// Changes to the process cwd, creating it if missing. Resolution stays in
/// the container's root and refuses magic links, so `cwd: /proc/self/fd/N`
/// can never reach a descriptor of ours (CVE-2024-21626).
fn chdir_cwd(cwd: &Path) -> Result<()> {
    let root = pathrs::Root::open("/").map_err(|e| Error::resolve("open", "/", e))?;
    let dir = match root.resolve(cwd) {
        Ok(h) => h,
        Err(e) if crate::error::pathrs_errno(&e) == Some(libc::ENOENT) => root
            .mkdir_all(cwd, &std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| Error::resolve("create process.cwd", cwd, e))?,
        Err(e) => return Err(Error::resolve("resolve process.cwd", cwd, e)),
    };
    nix::unistd::fchdir(std::os::fd::AsFd::as_fd(&dir).as_raw_fd())
        .map_err(|e| Error::sys(format!("process.cwd: chdir {}", cwd.display()), e))
}

/// The program to run: args[0] itself if it has a slash, else the first
/// match in the process's PATH (or the default one), as execvp would.
fn find_executable(arg0: &CString, env: &[String]) -> Result<CString> {
    let name = arg0.as_bytes();
    if name.contains(&b'/') {
        check_exec(Path::new(std::ffi::OsStr::from_bytes(name)))?;
        return Ok(arg0.clone());
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(std::ffi::OsStr::from_bytes(name));
        if check_exec(&candidate).is_ok() {
            return CString::new(candidate.as_os_str().as_bytes())
                .map_err(|_| Error::config("process.args[0]", "contains a NUL byte"));
        }
    }
    Err(Error::config(
        "process.args[0]",
        format!(
            "{:?}: executable file not found in $PATH ({path})",
            String::from_utf8_lossy(name)
        ),
    ))
}

fn check_exec(p: &Path) -> Result<()> {
    nix::unistd::access(p, nix::unistd::AccessFlags::X_OK)
        .map_err(|e| Error::sys(format!("process.args[0]: {}", p.display()), e))?;
    if p.is_dir() {
        return Err(Error::config(
            "process.args[0]",
            format!("{} is a directory", p.display()),
        ));
    }
    Ok(())
}

/// The runtime ignores SIGPIPE (Rust's default) and may block signals;
/// exec keeps ignored dispositions and the mask, so both are reset.
fn reset_signals() -> Result<()> {
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for sig in Signal::iterator().filter(|s| !matches!(s, Signal::SIGKILL | Signal::SIGSTOP)) {
        // SAFETY: installing SIG_DFL runs no code of ours in a handler.
        let _ = unsafe { sigaction(sig, &dfl) };
    }
    SigSet::empty()
        .thread_set_mask()
        .sys(|| "clear the signal mask".into())
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
    keep.extend(a.idmap_userns.iter().map(|(_, f)| f.as_raw_fd()));
    keep.extend(crate::logging::file_fd());
    keep.sort_unstable();
    let mut next = 3 + a.preserve_fds;
    let close = |from: u32, to: u32| {
        // SAFETY: close_range closes descriptors this process owns and no
        // longer uses; no Rust object refers to them.
        if unsafe { libc::syscall(libc::SYS_close_range, from, to, 0) } < 0 {
            return Err(Error::sys(
                "close inherited descriptors",
                nix::errno::Errno::last(),
            ));
        }
        Ok(())
    };
    for k in keep.into_iter().filter_map(|k| u32::try_from(k).ok()) {
        if k > next {
            close(next, k - 1)?;
        }
        next = next.max(k + 1);
    }
    close(next, u32::MAX)
}

/// Marks every descriptor from 3 + preserve_fds on close-on-exec, so that
/// nothing of the runtime's reaches the container (CVE-2016-9962).
fn close_inherited_fds(preserve: u32) -> Result<()> {
    let first = 3 + preserve;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors; nothing is closed under anyone's feet.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(Error::sys(
            "mark inherited descriptors close-on-exec",
            nix::errno::Errno::last(),
        ));
    }
    // The preserved ones must survive exec even if the caller set CLOEXEC.
    for fd in 3..first {
        let _ = nix::fcntl::fcntl(
            fd as i32,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        );
    }
    Ok(())
}

/// Blocks until `berth start` writes to the exec fifo.
fn wait_fifo(fifo: Option<OwnedFd>) -> Result<()> {
    let fifo = fifo.ok_or_else(|| Error::State("no exec fifo".into()))?;
    let mut b = [0u8; 1];
    loop {
        match nix::unistd::read(fifo.as_raw_fd(), &mut b) {
            Ok(1) => return Ok(()),
            Ok(_) => return Err(Error::State("the exec fifo closed before start".into())),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("read the exec fifo", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_executables_in_path() {
        let env = vec!["PATH=/nonexistent:/bin:/usr/bin".to_string()];
        let p = find_executable(&CString::new("sh").unwrap(), &env).unwrap();
        assert!(p.to_bytes().ends_with(b"/sh"));
        let e = find_executable(&CString::new("no-such-prog").unwrap(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("process.args[0]: \"no-such-prog\": executable file not found"),
            "{e}"
        );
        let e = find_executable(&CString::new("/etc").unwrap(), &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/etc"), "{e}");
    }
}
