//! Self-protection against CVE-2019-5736: a process of ours that enters a
//! container's namespaces must not expose the host's berth binary through
//! /proc/PID/exe, or the container could open it and overwrite it. Commands
//! that enter a container re-execute once from a sealed memfd copy before
//! doing anything; every process they fork inherits that sealed image, so
//! /proc/PID/exe points at a file no one can write.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MemFdCreateFlag, memfd_create};

use crate::error::{Error, PathContext, Result};

const ALL_SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// MFD_EXEC (Linux 6.3): ask for an executable memfd even where the
/// vm.memfd_noexec sysctl defaults memfds to non-executable.
const MFD_EXEC: libc::c_uint = 0x10;

/// Returns when this process already runs from a sealed copy; otherwise
/// replaces it with one (same argv and environment) and does not return.
pub fn ensure() -> Result<()> {
    let exe = File::open("/proc/self/exe").at("open", "/proc/self/exe")?;
    if let Ok(seals) = fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS)
        && SealFlag::from_bits_truncate(seals).contains(ALL_SEALS)
    {
        return Ok(());
    }
    let memfd = sealed_copy(&exe)?;
    let argv: Vec<CString> = std::env::args_os().map(cstring).collect();
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstring(kv)
        })
        .collect();
    let err = nix::unistd::fexecve(memfd.as_raw_fd(), &argv, &envp).unwrap_err();
    Err(Error::sys("execute the sealed copy of berth", err))
}

fn cstring(s: OsString) -> CString {
    // Arguments and environment strings from the kernel hold no NUL.
    CString::new(s.into_vec()).unwrap_or_default()
}

fn sealed_copy(exe: &File) -> Result<OwnedFd> {
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    let memfd = match memfd_create(
        c"berth",
        flags | MemFdCreateFlag::from_bits_retain(MFD_EXEC),
    ) {
        Err(nix::errno::Errno::EINVAL) => memfd_create(c"berth", flags),
        r => r,
    }
    .map_err(|e| Error::sys("memfd_create for the sealed copy of berth", e))?;
    let len = exe.metadata().at("stat", "/proc/self/exe")?.len() as usize;
    let mut copied = 0;
    while copied < len {
        // sendfile copies in the kernel, page cache to tmpfs: no user buffer.
        // SAFETY: both fds are open for the duration of the call; a null
        // offset uses and advances the source's file position.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                len - copied,
            )
        };
        if n <= 0 {
            let e = if n == 0 {
                nix::errno::Errno::EIO
            } else {
                nix::errno::Errno::last()
            };
            return Err(Error::sys("copy berth into a memfd", e));
        }
        copied += n as usize;
    }
    fcntl(memfd.as_raw_fd(), FcntlArg::F_ADD_SEALS(ALL_SEALS))
        .map_err(|e| Error::sys("seal the memfd copy of berth", e))?;
    Ok(memfd)
}
