//! Entering the rootfs: pivot_root (or move + chroot with --no-pivot), then
//! the rootfs propagation and read-only root the config asks for.

use std::os::fd::{AsFd, AsRawFd};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};
use oci_spec::runtime::Spec;

use super::inroot::Root;
use super::propagation_flags;
use crate::error::{Error, Result, SysContext};

/// How the init makes the rootfs its `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// pivot_root: the default in a mount namespace of the container's own.
    Pivot,
    /// MS_MOVE onto / and chroot (--no-pivot, for a rootfs on ramfs).
    Move,
    /// chroot alone: without a mount namespace of its own, moving or
    /// pivoting would change the host's root.
    Chroot,
}

/// Makes the rootfs the container's `/`.
pub fn enter(root: &Root, how: Entry) -> Result<()> {
    fchdir(root.as_fd().as_raw_fd()).sys(|| "chdir into the rootfs".into())?;
    if how == Entry::Chroot {
        chroot(".").sys(|| "chroot into the rootfs".into())?;
    } else if how == Entry::Move {
        mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
            .sys(|| "move the rootfs onto /".into())?;
        chroot(".").sys(|| "chroot into the rootfs".into())?;
    } else {
        // Taken before the pivot: afterwards "." and "/" resolve to the new
        // root's own mount (a lookup of "." does not cross onto a mount on
        // top), where a recursive MS_SLAVE would turn the container's
        // shared mounts into private ones.
        let old_root = std::fs::File::open("/").map_err(|e| Error::path("open", "/", e))?;
        // pivot_root(".", ".") stacks the old root on top of the new one; it
        // is then detached without needing a directory to put it in.
        pivot_root(".", ".").sys(|| "pivot_root into the rootfs".into())?;
        fchdir(old_root.as_raw_fd()).sys(|| "chdir into the old root".into())?;
        drop(old_root);
        // The old root must not propagate our unmount to the host.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .sys(|| "make the old root a slave".into())?;
        umount2(".", MntFlags::MNT_DETACH).sys(|| "detach the old root".into())?;
    }
    chdir("/").sys(|| "chdir /".into())
}

/// After pivot_root: the configured propagation of `/`, and `root.readonly`.
pub fn finish(spec: &Spec) -> Result<()> {
    if let Some(flags) = propagation_flags(spec)? {
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .map_err(|e| Error::sys(format!("linux.rootfsPropagation: set {flags:?} on /"), e))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let root = std::fs::File::open("/").map_err(|e| Error::path("open", "/", e))?;
        super::set_attr(
            root.as_fd(),
            super::options::attr::RDONLY,
            0,
            false,
            "/".as_ref(),
        )?;
    }
    Ok(())
}
