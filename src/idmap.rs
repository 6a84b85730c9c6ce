//! Idmapped bind mounts (the `idmap`/`ridmap` options, or a mount's own
//! uidMappings and gidMappings). The runtime makes each one before the
//! clone, as a detached mount tree: setting an idmapping takes
//! CAP_SYS_ADMIN over the filesystem's user namespace (the host's), which
//! an init in a user namespace of its own lacks. The init attaches the
//! tree where the mount goes.
//!
//! The mapping is the mount's own when it has one, else the container's:
//! the user namespace it joins, or one made with its linux.uidMappings and
//! gidMappings. A mount's maps are host ids, so the runtime makes such a
//! namespace itself: a child enters a new user namespace, the runtime
//! writes the maps and keeps a descriptor of it, and the child exits.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, PathContext, Result};
use crate::rootfs::options;
use crate::{clone, namespaces};

/// The idmapped tree of each bind mount that asks for one, by index in
/// `mounts`.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Vec<(usize, OwnedFd)>> {
    let mut out = Vec::new();
    // Made once, for every mount that takes the container's mapping.
    let mut container: Option<OwnedFd> = None;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let uid = m.uid_mappings().as_deref().unwrap_or_default();
        let gid = m.gid_mappings().as_deref().unwrap_or_default();
        let opts = options::parse(m.options().as_deref().unwrap_or_default());
        if uid.is_empty() && gid.is_empty() && opts.idmap.is_none() {
            continue;
        }
        let field = |name: &str| format!("mounts[{i}]{name}");
        if uid.is_empty() != gid.is_empty() {
            return Err(Error::config(
                field(""),
                "an idmapped mount needs both uidMappings and gidMappings",
            ));
        }
        let own;
        let userns = if uid.is_empty() {
            let c = match container.take() {
                Some(c) => c,
                None => container_userns(spec).map_err(|e| e.within(field(".options")))?,
            };
            let c: &OwnedFd = container.insert(c);
            c.as_fd()
        } else {
            own = userns(uid, gid).map_err(|e| e.within(field("")))?;
            own.as_fd()
        };
        let source = m
            .source()
            .as_deref()
            .map(|s| crate::rootfs::bundle_relative(bundle, s))
            .ok_or_else(|| Error::config(field(".source"), "a bind mount needs a source"))?;
        let recursive = opts.idmap == Some(true) || opts.flags.contains(MsFlags::MS_REC);
        let tree = tree(&source, userns, recursive).map_err(|(what, e)| {
            Error::sys(
                format!(
                    "{}: idmapped mount of {}: {what}",
                    field(".options"),
                    source.display()
                ),
                e,
            )
        })?;
        out.push((i, tree));
    }
    Ok(out)
}

/// A detached copy of `source` (with the mounts below it when
/// `recursive`) whose files appear through `userns`'s mapping.
fn tree(
    source: &Path,
    userns: std::os::fd::BorrowedFd<'_>,
    recursive: bool,
) -> std::result::Result<OwnedFd, (&'static str, nix::errno::Errno)> {
    let src = std::ffi::CString::new(source.as_os_str().as_encoded_bytes())
        .map_err(|_| ("a path with a NUL byte", nix::errno::Errno::EINVAL))?;
    let flags = libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | if recursive {
            libc::AT_RECURSIVE as u32
        } else {
            0
        };
    // SAFETY: open_tree reads a NUL-terminated path and returns a new fd.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, src.as_ptr(), flags) };
    if fd < 0 {
        return Err(("open_tree", nix::errno::Errno::last()));
    }
    // SAFETY: open_tree returned a new descriptor that we now own.
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    crate::rootfs::set_attr_userns(tree.as_fd(), userns, recursive)
        .map_err(|e| ("mount_setattr", e))?;
    Ok(tree)
}

/// The container's user namespace, or one with its mapping: config.md lets
/// an idmapped mount without maps of its own take the container's.
fn container_userns(spec: &Spec) -> Result<OwnedFd> {
    let linux = spec.linux().as_ref();
    let user = linux
        .and_then(|l| l.namespaces().as_ref())
        .and_then(|ns| ns.iter().find(|n| n.typ() == LinuxNamespaceType::User));
    if let Some(path) = user.and_then(|u| u.path().as_ref()) {
        return std::fs::File::open(path)
            .at("open", path)
            .map(OwnedFd::from);
    }
    let (uid, gid) = namespaces::id_maps(spec);
    if user.is_none() || uid.is_empty() || gid.is_empty() {
        return Err(Error::State(
            "idmap needs uidMappings and gidMappings, or a user namespace (linux.namespaces)"
                .into(),
        ));
    }
    userns(uid, gid)
}

fn userns(
    uid: &[oci_spec::runtime::LinuxIdMapping],
    gid: &[oci_spec::runtime::LinuxIdMapping],
) -> Result<OwnedFd> {
    let (hold, release) = nix::unistd::pipe().map_err(|e| Error::sys("pipe", e))?;
    let pid = clone::fork(CloneFlags::CLONE_NEWUSER, None)?;
    if pid == 0 {
        drop(release);
        // Stay until the runtime has the namespace: read returns when the
        // write end closes.
        let _ = nix::unistd::read(hold.as_raw_fd(), &mut [0u8; 1]);
        // SAFETY: _exit ends this short-lived child without running the
        // runtime's destructors.
        unsafe { libc::_exit(0) }
    }
    drop(hold);
    let result = namespaces::write_id_maps(pid, uid, gid).and_then(|()| {
        let path = format!("/proc/{pid}/ns/user");
        std::fs::File::open(&path)
            .at("open", &path)
            .map(OwnedFd::from)
    });
    drop(release);
    let _ = waitpid(Pid::from_raw(pid), None);
    result
}
