//! The config's `mounts`, in order.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sys::statfs::{PROC_SUPER_MAGIC, fstatfs};
use oci_spec::runtime::Mount;

use super::inroot::{Node, Root, clean};
use super::options::{self, Options};
use super::{
    Context, apply_flags, bind_mount, bundle_relative, cgroup_mount, fd_path, field, set_attr,
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
        bind(ctx, root, i, m, &dest, &opts)
    } else if let Some((_, tree)) = ctx.proc_trees.iter().find(|(j, _)| *j == i) {
        let target = root
            .mkdir_all(&dest, 0o755)
            .map_err(|e| Error::path("create mount point", &dest, e))?;
        check_proc_target(i, &dest, target.as_fd())?;
        // The flags go on the tree before anything can reach it.
        apply_flags(tree.as_fd(), opts.flags, MsFlags::empty(), false, &dest)?;
        attach(i, Path::new("proc"), tree.as_fd(), target.as_fd())?;
        finish(root, i, &dest, &opts)
    } else {
        let target = root
            .mkdir_all(&dest, 0o755)
            .map_err(|e| Error::path("create mount point", &dest, e))?;
        check_proc_target(i, &dest, target.as_fd())?;
        // The directory the tmpfs will hide, still reachable through this
        // descriptor once it is mounted over.
        let hidden = match (opts.copy_up, typ) {
            (false, _) => None,
            (true, "tmpfs") => Some(
                root.open_in(&dest, libc::O_RDONLY | libc::O_DIRECTORY)
                    .map_err(|e| Error::path("open for tmpcopyup", &dest, e))?,
            ),
            (true, _) => {
                return Err(Error::config(
                    field(i, "options"),
                    format!("tmpcopyup needs type tmpfs, not {typ:?}"),
                ));
            }
        };
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
        mount(
            Some(&source),
            fd_path(target.as_fd()).as_str(),
            Some(typ),
            opts.flags,
            data,
        )
        .map_err(|e| {
            Error::sys(
                format!(
                    "{}: mount {typ} {} on {}",
                    field(i, "destination"),
                    source.display(),
                    dest.display()
                ),
                e,
            )
        })?;
        if let Some(from) = hidden {
            let to = root
                .open_in(&dest, libc::O_RDONLY | libc::O_DIRECTORY)
                .map_err(|e| Error::path("open the tmpfs at", &dest, e))?;
            super::copyup::copy(from.as_fd(), to.as_fd()).map_err(|e| Error::Field {
                field: field(i, "options"),
                inner: Box::new(Error::path("tmpcopyup into", &dest, e)),
            })?;
        }
        finish(root, i, &dest, &opts)
    }
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
        root.mkdir_all(dest, 0o755)
            .map_err(|e| Error::path("create mount point", dest, e))?
    } else {
        ensure_file(root, dest)?
    };
    check_proc_target(i, dest, target.as_fd())?;
    if let Some((_, tree)) = ctx.idmap_trees.iter().find(|(j, _)| *j == i) {
        attach(i, source.as_path(), tree.as_fd(), target.as_fd())?;
        return finish(root, i, dest, opts);
    }
    bind_mount(
        i,
        &source,
        target.as_fd(),
        opts.flags.contains(MsFlags::MS_REC),
        dest,
    )?;
    finish(root, i, dest, opts)
}

/// Puts a detached tree made beforehand (an idmapped bind, see
/// crate::idmap; a joined pid namespace's procfs, see crate::joined_pidns)
/// onto its mount point.
fn attach(i: usize, source: &Path, tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: move_mount takes two (fd, path) pairs; both fds are open and
    // the paths are NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(Error::sys(
            format!(
                "{}: attach the prepared mount of {}: move_mount",
                field(i, "destination"),
                source.display()
            ),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// Creates an empty file to bind a file onto (and its parent directories).
pub fn ensure_file(root: &Root, dest: &Path) -> Result<OwnedFd> {
    if let Some(parent) = dest.parent() {
        root.mkdir_all(parent, 0o755)
            .map_err(|e| Error::path("create mount point", parent, e))?;
    }
    match root.create(dest, Node::File(0o644)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(Error::path("create mount point", dest, e)),
    }
    root.resolve(dest)
        .map_err(|e| Error::path("resolve mount point", dest, e))
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

/// After the mount itself: flags a bind needs applied separately, then
/// propagation and recursive attributes, on the new mount (resolved again:
/// the fd taken before the mount still points beneath it).
fn finish(root: &Root, i: usize, dest: &Path, opts: &Options) -> Result<()> {
    let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    let needs_bind_flags = opts.is_bind() && (!extra.is_empty() || !opts.cleared.is_empty());
    if !needs_bind_flags && opts.propagation.is_empty() && opts.attr_set == 0 && opts.attr_clr == 0
    {
        return Ok(());
    }
    let top = root
        .resolve(dest)
        .map_err(|e| Error::path("resolve mount", dest, e))?;
    if needs_bind_flags {
        apply_flags(
            top.as_fd(),
            extra,
            opts.cleared,
            opts.flags.contains(MsFlags::MS_REC),
            dest,
        )?;
    }
    for p in &opts.propagation {
        mount(
            None::<&str>,
            fd_path(top.as_fd()).as_str(),
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
    set_attr(top.as_fd(), opts.attr_set, opts.attr_clr, true, dest)
}
