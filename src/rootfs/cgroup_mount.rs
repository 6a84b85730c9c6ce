//! A mount of type "cgroup": the container sees its own cgroup. On a v2
//! host that is cgroup2 (fresh in a new cgroup namespace, else a bind of the
//! container's directory). On a v1 or hybrid host it is a tmpfs holding one
//! directory per hierarchy, each a fresh cgroup mount (new cgroup namespace)
//! or a bind of the container's cgroup there, plus links for co-mounted
//! controllers (cpu -> cpu,cpuacct), as runc lays it out.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::mount::{MsFlags, mount as mount2};

use super::inroot::Root;
use super::options::Options;
use super::mounts::mount_point;
use super::{Context, apply_flags, detached, fd_path, field, symlink};
use crate::error::{Error, Result};

pub fn mount(ctx: &Context, root: &Root, i: usize, dest: &Path, opts: &Options) -> Result<()> {
    let fail = |what: String, e| Error::sys(format!("{}: {what}", field(i, "destination")), e);
    let target =
        mount_point(root, dest, "cgroup").map_err(|e| e.within(field(i, "destination")))?;
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
        return bind(i, &dir, target.as_fd(), flags, dest);
    }
    // The tmpfs is attached first (nothing can be mounted inside a detached
    // tree), filled through its own descriptor, and made read-only last
    // through it too: no path of the rootfs is looked up again.
    let tmpfs = detached::new_fs("tmpfs", Path::new("tmpfs"), MsFlags::empty(), Some("mode=755"))
        .map_err(|e| fail(format!("create a tmpfs for {}", dest.display()), e))?;
    apply_flags(tmpfs.as_fd(), flags - MsFlags::MS_RDONLY, MsFlags::empty(), dest)?;
    detached::attach(tmpfs.as_fd(), target.as_fd())
        .map_err(|e| fail(format!("mount tmpfs on {}", dest.display()), e))?;
    let inside = Root::from(
        tmpfs
            .try_clone()
            .map_err(|e| Error::path("dup the tmpfs of", dest, e))?,
    );
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
        let sub_fd = inside
            .mkdir_all(Path::new(&*name), 0o755)
            .map_err(|e| Error::path("create mount point", &sub, e))?;
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
            bind(i, dir, sub_fd.as_fd(), flags, &sub)?;
        }
        if name.contains(',') {
            for controller in name.split(',') {
                symlink(&inside, Path::new(controller), Path::new(&*name))?;
            }
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        apply_flags(tmpfs.as_fd(), MsFlags::MS_RDONLY, MsFlags::empty(), dest)?;
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

/// Binds the container's own cgroup directory: a detached copy given the
/// flags (a bind takes none of them itself), then attached.
fn bind(i: usize, source: &Path, target: BorrowedFd<'_>, flags: MsFlags, dest: &Path) -> Result<()> {
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
    let tree = detached::clone_path(source, false).map_err(|e| fail("open_tree", e))?;
    if !flags.is_empty() {
        apply_flags(tree.as_fd(), flags, MsFlags::empty(), dest)?;
    }
    detached::attach(tree.as_fd(), target).map_err(|e| fail("move_mount", e))
}
