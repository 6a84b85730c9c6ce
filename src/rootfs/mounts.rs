//! The config's `mounts`, in order.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::mount::{MsFlags, mount};
use nix::sys::stat::Mode;
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use oci_spec::runtime::Mount;

use super::inroot::{Node, Root, clean};
use super::options::{self, Options};
use super::{
    Context, apply_flags, bundle_relative, cgroup_mount, detached, fd_path, field, set_attr,
};
use crate::error::{Error, Result};

/// Files under /proc that may be mounted over (lxcfs and similar tools
/// provide container-aware versions of them); anything else there is
/// refused, so a config cannot hide or redirect procfs's protections.
const PROC_ALLOWED: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

pub fn mount_all(ctx: &Context, root: &Root) -> Result<()> {
    for (i, m) in ctx.spec.mounts().iter().flatten().enumerate() {
        mount_one(ctx, root, i, m)?;
    }
    Ok(())
}

fn mount_one(ctx: &Context, root: &Root, i: usize, m: &Mount) -> Result<()> {
    // "." and ".." folded, as the container sees the destination.
    let dest = clean(m.destination());
    let opts = options::parse(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    if dest == Path::new("/proc") && typ != "proc" && !opts.is_bind() {
        return Err(Error::config(
            field(i, "destination"),
            "/proc can only be mounted with type proc",
        ));
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return cgroup_mount::mount(ctx, root, i, &dest, &opts);
    }
    if opts.is_bind() {
        return bind(ctx, root, i, m, &dest, &opts);
    }
    let target = mount_point(root, &dest, typ).map_err(|e| e.within(field(i, "destination")))?;
    check_proc_target(i, &dest, target.as_fd())?;
    if let Some((_, tree)) = ctx.proc_trees.iter().find(|(j, _)| *j == i) {
        // A joined pid namespace's procfs, made beforehand
        // (crate::joined_pidns): flags on the tree before anything can
        // reach it, then attached like any detached mount.
        apply_flags(tree.as_fd(), opts.flags, MsFlags::empty(), false, &dest)?;
        set_attr(tree.as_fd(), opts.attr_set, opts.attr_clr, true, &dest)?;
        detached::attach(tree.as_fd(), target.as_fd()).map_err(|e| {
            Error::sys(
                format!(
                    "{}: attach the joined pid namespace's proc on {}: move_mount",
                    field(i, "destination"),
                    dest.display()
                ),
                e,
            )
        })?;
        return propagate(tree.as_fd(), i, &dest, &opts);
    }
    let source = m
        .source()
        .as_deref()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| typ.into());
    // procfs, sysfs and cgroups take no SELinux context option.
    let labeled = (!matches!(typ, "proc" | "sysfs"))
        .then(|| crate::lsm::mount_data(ctx.spec, &opts.data))
        .flatten();
    let data = labeled
        .as_deref()
        .or((!opts.data.is_empty()).then_some(opts.data.as_str()));
    let fail = |what: &str, e| {
        Error::sys(
            format!(
                "{}: {what} {typ} {} on {}",
                field(i, "destination"),
                source.display(),
                dest.display()
            ),
            e,
        )
    };
    if opts.propagation.is_empty() && opts.attr_set == 0 && opts.attr_clr == 0 && !opts.copy_up {
        // mount(2) sets the flags of a new mount as it makes it: nothing is
        // left to apply afterwards, and this is one system call.
        return mount(
            Some(&source),
            fd_path(target.as_fd()).as_str(),
            Some(typ),
            opts.flags,
            data,
        )
        .map_err(|e| fail("mount", e));
    }
    if opts.copy_up && typ != "tmpfs" {
        return Err(Error::config(
            field(i, "options"),
            format!("tmpcopyup needs type tmpfs, not {typ:?}"),
        ));
    }
    // A read-only tmpcopyup tmpfs is made read-only once it is filled.
    let sb_flags = if opts.copy_up {
        opts.flags - MsFlags::MS_RDONLY
    } else {
        opts.flags
    };
    let mnt = detached::new_fs(typ, &source, sb_flags, data).map_err(|e| fail("create", e))?;
    if opts.copy_up {
        // The directory the tmpfs will hide, copied before it is hidden.
        let from = root
            .open_in(&dest, libc::O_RDONLY | libc::O_DIRECTORY)
            .map_err(|e| Error::path("open for tmpcopyup", &dest, e))?;
        // fsmount's descriptor is O_PATH: the copy sets the top's owner and
        // mode through one opened for reading ("." stays on this mount).
        let to = openat(
            Some(mnt.as_raw_fd()),
            ".",
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::sys(format!("open the tmpfs for {}", dest.display()), e))?;
        // SAFETY: openat returned a new descriptor that nothing else owns.
        let to = unsafe { OwnedFd::from_raw_fd(to) };
        super::copyup::copy(from.as_fd(), to.as_fd()).map_err(|e| Error::Field {
            field: field(i, "options"),
            inner: Box::new(Error::path("tmpcopyup into", &dest, e)),
        })?;
    }
    apply_flags(mnt.as_fd(), opts.flags, MsFlags::empty(), false, &dest)?;
    set_attr(mnt.as_fd(), opts.attr_set, opts.attr_clr, true, &dest)?;
    detached::attach(mnt.as_fd(), target.as_fd()).map_err(|e| fail("attach", e))?;
    propagate(mnt.as_fd(), i, &dest, &opts)
}

fn bind(
    ctx: &Context,
    root: &Root,
    i: usize,
    m: &Mount,
    dest: &Path,
    opts: &Options,
) -> Result<()> {
    let source = m
        .source()
        .as_deref()
        .map(|s| bundle_relative(ctx.bundle, s))
        .ok_or_else(|| Error::config(field(i, "source"), "a bind mount needs a source"))?;
    let meta = std::fs::metadata(&source)
        .map_err(|e| Error::config(field(i, "source"), format!("{}: {e}", source.display())))?;
    let target = if meta.is_dir() {
        mount_point(root, dest, "")
    } else {
        ensure_file(root, dest)
    }
    .map_err(|e| e.within(field(i, "destination")))?;
    check_proc_target(i, dest, target.as_fd())?;
    let fail = |what: &str, e| {
        Error::sys(
            format!(
                "{}: bind {} on {}: {what}",
                field(i, "destination"),
                source.display(),
                dest.display()
            ),
            e,
        )
    };
    let cloned;
    let tree = match ctx.idmap_trees.iter().find(|(j, _)| *j == i) {
        Some((_, tree)) => tree.as_fd(),
        None => {
            cloned = detached::clone_path(&source, opts.flags.contains(MsFlags::MS_REC))
                .map_err(|e| fail("open_tree", e))?;
            cloned.as_fd()
        }
    };
    // Flags go on the copy before it is attached: it is never reachable
    // without them.
    let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if !extra.is_empty() || !opts.cleared.is_empty() {
        // An rbind's restrictions reach every mount beneath it.
        apply_flags(
            tree,
            extra,
            opts.cleared,
            opts.flags.contains(MsFlags::MS_REC),
            dest,
        )?;
    }
    set_attr(tree, opts.attr_set, opts.attr_clr, true, dest)?;
    detached::attach(tree, target.as_fd()).map_err(|e| fail("move_mount", e))?;
    propagate(tree, i, dest, opts)
}

/// Whether a mount target at `dest` (for a mount of type `typ`) must be
/// reached without any symlink: /proc itself, everything under /sys and
/// /dev, and any proc or sysfs mount. An image that makes one of them a
/// symlink would otherwise choose where the kernel's filesystems or the
/// container's devices and console go (runc refuses them too). Below
/// /proc the kernel's own relative links (/proc/net, /proc/mounts) are
/// followed, but /proc itself must not be a symlink.
fn no_symlinks(dest: &Path, typ: &str) -> bool {
    matches!(typ, "proc" | "sysfs")
        || dest == Path::new("/proc")
        || dest.starts_with("/sys")
        || dest.starts_with("/dev")
}

/// ELOOP from a resolution that follows no symlink, said as what it means.
fn symlink_refused(e: std::io::Error) -> std::io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        std::io::Error::other(
            "a symlink in the rootfs, where /proc, /sys and /dev (and proc and sysfs mounts) are never reached through one",
        )
    } else {
        e
    }
}

/// /proc in the rootfs, if `dest` is below it, must be a directory (or
/// the procfs mounted there), never a symlink.
fn check_proc_top(root: &Root, dest: &Path) -> std::io::Result<()> {
    if !dest.starts_with("/proc") {
        return Ok(());
    }
    match root.resolve_nosymlinks(Path::new("/proc")) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r.map(drop).map_err(symlink_refused),
    }
}

/// The directory a mount of type `typ` goes on, made if needed.
pub(super) fn mount_point(root: &Root, dest: &Path, typ: &str) -> Result<OwnedFd> {
    let r = if no_symlinks(dest, typ) {
        root.mkdir_all_nofollow(dest, 0o755)
    } else {
        check_proc_top(root, dest).and_then(|()| root.mkdir_all(dest, 0o755))
    };
    r.map_err(|e| Error::path("create mount point", dest, symlink_refused(e)))
}

/// Creates an empty file to bind a file onto (and its parent directories).
/// Under /dev and /sys (berth's own targets: devices, /dev/console) no
/// symlink is followed and the file must not be on procfs.
pub fn ensure_file(root: &Root, dest: &Path) -> Result<OwnedFd> {
    let strict = no_symlinks(dest, "");
    let fail = |e| Error::path("create mount point", dest, symlink_refused(e));
    if let Some(parent) = dest.parent() {
        if strict {
            root.mkdir_all_nofollow(parent, 0o755)
        } else {
            check_proc_top(root, dest).and_then(|()| root.mkdir_all(parent, 0o755))
        }
        .map_err(fail)?;
    }
    match root.create(dest, Node::File(0o644)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(fail(e)),
    }
    if !strict {
        return root
            .resolve(dest)
            .map_err(|e| Error::path("resolve mount point", dest, e));
    }
    let fd = root.resolve_nosymlinks(dest).map_err(fail)?;
    if fstatfs(&fd).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC) {
        return Err(Error::path(
            "create mount point",
            dest,
            std::io::Error::other("on procfs, where berth binds nothing of its own"),
        ));
    }
    Ok(fd)
}

/// A destination that resolves onto procfs (directly, or through a symlink
/// in the image) may only be one of the allowed files.
fn check_proc_target(i: usize, dest: &Path, target: std::os::fd::BorrowedFd<'_>) -> Result<()> {
    let on_proc = fstatfs(target).is_ok_and(|s| s.filesystem_type() == PROC_SUPER_MAGIC);
    if on_proc && !PROC_ALLOWED.iter().any(|p| Path::new(p) == dest) {
        return Err(Error::config(
            field(i, "destination"),
            format!(
                "{} is inside /proc; only {} may be mounted there",
                dest.display(),
                PROC_ALLOWED.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The propagation changes of `opts`, in order, on the attached mount
/// `mnt` (its own descriptor, never its path).
fn propagate(mnt: BorrowedFd<'_>, i: usize, dest: &Path, opts: &Options) -> Result<()> {
    for p in &opts.propagation {
        mount(
            None::<&str>,
            fd_path(mnt).as_str(),
            None::<&str>,
            *p,
            None::<&str>,
        )
        .map_err(|e| {
            Error::sys(
                format!(
                    "{}: set propagation {p:?} on {}",
                    field(i, "options"),
                    dest.display()
                ),
                e,
            )
        })?;
    }
    Ok(())
}
