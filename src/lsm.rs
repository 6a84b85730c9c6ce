//! Linux security module labels: process.apparmorProfile,
//! process.selinuxLabel and linux.mountLabel. A label asked for on a host
//! whose kernel has that LSM off is an error, as runc makes it. Labels are
//! written through a private procfs (pathrs), never through the container's
//! /proc, which the container could have arranged (CVE-2019-16884,
//! CVE-2025-52881).

use std::path::Path;

use nix::sys::statfs::statfs;
use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};

pub fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
}

pub fn selinux_enabled() -> bool {
    statfs(Path::new("/sys/fs/selinux"))
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::SELINUX_MAGIC)
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

/// Refuses labels for an LSM this host does not run.
pub fn validate(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process() {
        validate_process(p)?;
    }
    if spec
        .linux()
        .as_ref()
        .and_then(|l| nonempty(l.mount_label()))
        .is_some()
        && !selinux_enabled()
    {
        crate::logging::warn("linux.mountLabel is ignored: SELinux is not enabled on this host");
    }
    Ok(())
}

/// Refuses process labels for an LSM this host does not run (the config's
/// process, or one `exec` runs).
pub fn validate_process(p: &Process) -> Result<()> {
    if nonempty(p.apparmor_profile()).is_some() && !apparmor_enabled() {
        return Err(Error::config(
            "process.apparmorProfile",
            "is set, but AppArmor is not enabled on this host",
        ));
    }
    if nonempty(p.selinux_label()).is_some() && !selinux_enabled() {
        return Err(Error::config(
            "process.selinuxLabel",
            "is set, but SELinux is not enabled on this host",
        ));
    }
    Ok(())
}

/// The mount data with the SELinux context option added, for mounts of
/// filesystems that take one (not binds). Without SELinux a mount label
/// labels nothing and enforces nothing: it is ignored with a warning (as
/// youki does), unlike process labels, whose absence would weaken the
/// container.
pub fn mount_data(spec: &Spec, data: &str) -> Option<String> {
    let label = spec
        .linux()
        .as_ref()
        .and_then(|l| nonempty(l.mount_label()))?;
    if !selinux_enabled() {
        return None;
    }
    let ctx = format!("context=\"{label}\"");
    Some(if data.is_empty() {
        ctx
    } else {
        format!("{data},{ctx}")
    })
}

/// Sets the labels the process gets at execve: AppArmor's exec profile and
/// SELinux's exec context.
pub fn set_exec_labels(p: &Process) -> Result<()> {
    if let Some(profile) = nonempty(p.apparmor_profile()) {
        // Kernels with LSM stacking have the per-LSM directory.
        let written = write_attr("attr/apparmor/exec", &format!("exec {profile}"))
            .or_else(|_| write_attr("attr/exec", &format!("exec {profile}")));
        written.map_err(|e| e.within("process.apparmorProfile"))?;
    }
    if let Some(label) = nonempty(p.selinux_label()) {
        write_attr("attr/exec", label).map_err(|e| e.within("process.selinuxLabel"))?;
    }
    Ok(())
}

fn write_attr(attr: &str, value: &str) -> Result<()> {
    crate::procfs::write_self(attr, value)
}
