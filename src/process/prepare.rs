//! The last steps before execve, shared by a container's init and by
//! `exec`: the process's attributes in the order privileges allow, its cwd,
//! the program's path, signal state and descriptors.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
use oci_spec::runtime::{LinuxMemoryPolicy, LinuxPersonality, Process};

use super::{capabilities, mempolicy, personality, rlimits, scheduling, user};
use crate::error::{Error, Result, SysContext};
use crate::rootfs::inroot::Root;
use crate::seccomp::{self, Program};

/// What execve needs, resolved before the process is released.
pub struct Exec<'a> {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
    /// A seccomp filter still to load, just before execve.
    seccomp_late: Option<&'a Program>,
    /// The notify fd of a filter loaded early, for the listener.
    pub seccomp_notify: Option<OwnedFd>,
}

impl Exec<'_> {
    /// Replaces this process with the container's program; returns only on
    /// failure.
    pub fn exec(&self) -> Error {
        if let Some(p) = self.seccomp_late
            && let Err(e) = seccomp::load(p)
        {
            return e;
        }
        let err = nix::unistd::execve(&self.path, &self.args, &self.env).unwrap_err();
        Error::sys(format!("exec {}", self.path.to_string_lossy()), err)
    }
}

/// Everything about the process itself, in the order privileges allow:
/// limits and scheduling while privileged, then the bounding set, the user
/// switch, the remaining capabilities, no_new_privs; the executable is
/// found now so a missing one fails the create, as runc does. A missing
/// cwd is made when `create_cwd` (the init; not exec).
pub fn prepare<'a>(
    p: &Process,
    create_cwd: bool,
    personality: Option<&LinuxPersonality>,
    memory_policy: Option<&LinuxMemoryPolicy>,
    filter: Option<&'a Program>,
    preserve_fds: u32,
) -> Result<Exec<'a>> {
    let nnp = p.no_new_privileges().unwrap_or(false);
    if let Some(r) = p.rlimits() {
        rlimits::apply(r)?;
    }
    if let Some(io) = p.io_priority() {
        scheduling::set_io_priority(io)?;
    }
    if let Some(s) = p.scheduler() {
        scheduling::set_scheduler(s)?;
    }
    if let Some(pers) = personality {
        personality::set(pers)?;
    }
    if let Some(mp) = memory_policy {
        mempolicy::set(mp)?;
    }
    let cwd = p.cwd();
    let early_chdir = chdir_cwd(cwd, create_cwd);
    let grantable = capabilities::grantable(p.capabilities().as_ref());
    capabilities::drop_bounding(p.capabilities().as_ref())?;
    // Our /proc/self files stop being ours to write after the user switch
    // (the process is non-dumpable): labels go first.
    crate::lsm::set_exec_labels(p)?;
    // Before any filter: whatever the profile denies, this must not be
    // refused.
    cloexec_from(preserve_fds)?;
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: if the
    // process will not keep it, the filter goes on now, before the user
    // switch; otherwise as late as possible, just before execve.
    let keeps_admin = p
        .capabilities()
        .as_ref()
        .and_then(|c| c.effective().as_ref())
        .is_some_and(|e| e.contains(&oci_spec::runtime::Capability::SysAdmin));
    let mut seccomp_notify = None;
    let mut seccomp_late = None;
    match filter {
        Some(f) if !nnp && !keeps_admin => seccomp_notify = seccomp::load(f)?,
        Some(f) if !f.notifies() => seccomp_late = Some(f),
        _ => {}
    }
    let home = match p.env().iter().flatten().any(|e| e.starts_with("HOME=")) {
        true => None,
        false => Some(user::home(p.user().uid())),
    };
    user::switch(p.user())?;
    match early_chdir {
        Ok(()) => {}
        Err(Error::Sys {
            err: nix::errno::Errno::EACCES,
            ..
        }) => chdir_cwd(cwd, create_cwd)?,
        Err(e) => return Err(e),
    }
    capabilities::apply(p.capabilities().as_ref(), grantable)?;
    if nnp {
        prctl::set_no_new_privileges(true)
            .map_err(|e| Error::sys("set no_new_privs", nix::errno::Errno::from_raw(e)))?;
    }
    // A listener must get its fd before the process is released.
    if let Some(f) = filter.filter(|f| f.notifies())
        && seccomp_notify.is_none()
    {
        seccomp_notify = seccomp::load(f)?;
    }
    reset_signals()?;
    let env: Vec<CString> = p
        .env()
        .iter()
        .flatten()
        .map(String::as_str)
        .chain(home.as_deref().map(|h| format!("HOME={h}")).as_deref())
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
    Ok(Exec {
        path,
        args,
        env,
        seccomp_late,
        seccomp_notify,
    })
}

/// Makes the process cwd if it is missing, as the init does before a
/// read-only root is made read-only.
pub fn make_cwd(cwd: &Path) -> Result<()> {
    let root = Root::open("/".as_ref()).map_err(|e| Error::path("open", "/", e))?;
    match root.resolve(cwd) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => root
            .mkdir_all(cwd, 0o755)
            .map(drop)
            .map_err(|e| Error::path("create process.cwd", cwd, e)),
        _ => Ok(()),
    }
}

/// Changes to the process cwd, creating it if missing when `create` (the
/// init, as runc does; exec does not: a missing cwd is its error).
/// Resolution stays in the container's root and refuses magic links, so
/// `cwd: /proc/self/fd/N` can never reach a descriptor of ours
/// (CVE-2024-21626).
fn chdir_cwd(cwd: &Path, create: bool) -> Result<()> {
    let root = Root::open("/".as_ref()).map_err(|e| Error::path("open", "/", e))?;
    let dir = match root.resolve(cwd) {
        Ok(h) => h,
        Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => root
            .mkdir_all(cwd, 0o755)
            .map_err(|e| Error::path("create process.cwd", cwd, e))?,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            return Err(Error::path("process.cwd: chdir", cwd, e));
        }
        Err(e) => return Err(Error::path("resolve process.cwd", cwd, e)),
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

/// Closes every descriptor from 3 + `preserve` on except `keep` (and the
/// log file), right after a fork that will enter a container: nothing of
/// the runtime's or its caller's stays reachable through /proc/PID/fd.
pub fn close_fds_except(mut keep: Vec<i32>, preserve: u32) -> Result<()> {
    keep.extend(crate::logging::file_fd());
    keep.sort_unstable();
    let mut next = 3 + preserve;
    // passed_fds keeps berth's own out of the preserved range; one found
    // there would reach the process.
    if let Some(k) = keep.iter().find(|&&k| k >= 3 && (k as u32) < next) {
        return Err(Error::State(format!(
            "descriptor {k} of berth's own is among the --preserve-fds ones"
        )));
    }
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
fn cloexec_from(preserve: u32) -> Result<()> {
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
