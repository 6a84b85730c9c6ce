//! Writes to /proc that steer the container (sysctls, oom_score_adj, LSM
//! labels) go through a private procfs instance that pathrs mounts and
//! checks itself (fsopen, detached, verified by fstatfs), never through a
//! /proc path the container's image or mounts could have redirected
//! (CVE-2019-16884, CVE-2023-27561, CVE-2025-52881).

use std::io::Write;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle, ProcfsHandleBuilder};

use crate::error::{Error, Result};

fn write_with(procfs: &ProcfsHandle, base: ProcfsBase, sub: &str, value: &str) -> Result<()> {
    let shown = match base {
        ProcfsBase::ProcSelf => format!("/proc/self/{sub}"),
        _ => format!("/proc/{sub}"),
    };
    let mut f = procfs
        .open(base, sub, OpenFlags::O_WRONLY | OpenFlags::O_CLOEXEC)
        .map_err(|e| Error::resolve("open", &shown, e))?;
    f.write_all(value.as_bytes())
        .map_err(|e| Error::path("write", &shown, e))
}

/// A file of the calling process (/proc/self/...).
pub fn write_self(sub: &str, value: &str) -> Result<()> {
    let procfs =
        ProcfsHandle::new().map_err(|e| Error::resolve("mount a private procfs for", sub, e))?;
    write_with(&procfs, ProcfsBase::ProcSelf, sub, value)
}

/// Sysctls: `(key, value)` pairs written under /proc/sys, in the calling
/// process's namespaces.
pub fn write_sysctls<'a>(sysctls: impl Iterator<Item = (&'a String, &'a String)>) -> Result<()> {
    let mut procfs = None;
    for (key, value) in sysctls {
        if procfs.is_none() {
            // /proc/sys is not in a pid-only (subset=pid) instance.
            let handle = ProcfsHandleBuilder::new()
                .subset_pid(false)
                .build()
                .map_err(|e| Error::resolve("mount a private procfs for", "/proc/sys", e))?;
            procfs = Some(handle);
        }
        if let Some(p) = &procfs {
            let sub = format!("sys/{}", key.replace('.', "/"));
            write_with(p, ProcfsBase::ProcRoot, &sub, value)
                .map_err(|e| e.within(format!("linux.sysctl.{key}")))?;
        }
    }
    Ok(())
}
