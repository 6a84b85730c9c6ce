//! A mount of type "cgroup": the container sees its own cgroup. On a v2
//! host that is cgroup2 (fresh in a new cgroup namespace, else a bind of the
//! container's directory). On a v1 or hybrid host it is a tmpfs holding one
//! directory per hierarchy, each a fresh cgroup mount (new cgroup namespace)
//! or a bind of the container's cgroup there, plus links for co-mounted
//! controllers (cpu -> cpu,cpuacct), as runc lays it out.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::{MsFlags, mount as mount2};

use super::inroot::Root;
use super::options::Options;
use super::{Context, apply_flags, bind_mount, fd_path, field, symlink};
use crate::error::{Error, Result};

pub fn mount(ctx: &Context, root: &Root, i: usize, dest: &Path, opts: &Options) -> Result<()> {
    let mkdir = |p: &Path| {
        root.mkdir_all(p, 0o755)
            .map_err(|e| Error::path("create mount point", p, e))
    };
    let fail = |what: String, e| Error::sys(format!("{}: {what}", field(i, "destination")), e);
    let target = mkdir(dest)?;
    let flags = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if ctx.cgroup.unified {
        if ctx.new_cgroupns {
            return mount2(
                Some("cgroup2"),
                fd_path(target.as_fd()).as_str(),
                Some("cgroup2"),
                flags,
                None::<&str>,
            )
            .map_err(|e| fail(format!("mount cgroup2 on {}", dest.display()), e));
        }
        let dir = match ctx.cgroup.dirs.first() {
            Some(dir) => dir.clone(),
            // --systemd-cgroup: the init was forked before systemd made its
            // scope, and has been moved there since; its own line says where.
            None => own_v2_dir()?,
        };
        return bind(root, i, &dir, &target, flags, dest);
    }
    // The tmpfs stays writable until the hierarchies are in place.
    let tmpfs_flags = flags - MsFlags::MS_RDONLY;
    mount2(
        Some("tmpfs"),
        fd_path(target.as_fd()).as_str(),
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )
    .map_err(|e| fail(format!("mount tmpfs on {}", dest.display()), e))?;
    for dir in &ctx.cgroup.dirs {
        // dirs are /sys/fs/cgroup/<controllers>/<path>: the hierarchy name
        // is the component after the cgroup root.
        let Some(name) = dir
            .strip_prefix("/sys/fs/cgroup")
            .ok()
            .and_then(|r| r.iter().next())
        else {
            continue;
        };
        let name = name.to_string_lossy();
        let sub = dest.join(&*name);
        let sub_fd = mkdir(&sub)?;
        if ctx.new_cgroupns {
            mount2(
                Some("cgroup"),
                fd_path(sub_fd.as_fd()).as_str(),
                Some("cgroup"),
                flags,
                Some(&*name),
            )
            .map_err(|e| fail(format!("mount cgroup {name} on {}", sub.display()), e))?;
        } else {
            bind(root, i, dir, &sub_fd, flags, &sub)?;
        }
        if name.contains(',') {
            for controller in name.split(',') {
                let link = dest.join(controller);
                symlink(root, &link, Path::new(&*name))?;
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        let top = root
            .resolve(dest)
            .map_err(|e| Error::path("resolve mount", dest, e))?;
        apply_flags(top.as_fd(), MsFlags::MS_RDONLY, MsFlags::empty(), dest)?;
    }
    Ok(())
}

/// The directory of our own cgroup on v2, from /proc/self/cgroup.
fn own_v2_dir() -> Result<std::path::PathBuf> {
    let file = "/proc/self/cgroup";
    let text = std::fs::read_to_string(file).map_err(|e| Error::path("read", file, e))?;
    crate::cgroups::v2_dir_in(&text)
        .ok_or_else(|| Error::State(format!("{file} has no cgroup v2 line")))
}

/// Binds the container's own cgroup directory, then applies the flags to
/// the new mount (a bind takes none of them itself).
fn bind(
    root: &Root,
    i: usize,
    source: &Path,
    target: &OwnedFd,
    flags: MsFlags,
    dest: &Path,
) -> Result<()> {
    bind_mount(i, source, target.as_fd(), false, dest)?;
    if flags.is_empty() {
        return Ok(());
    }
    let top = root
        .resolve(dest)
        .map_err(|e| Error::path("resolve mount", dest, e))?;
    apply_flags(top.as_fd(), flags, MsFlags::empty(), dest)
}
