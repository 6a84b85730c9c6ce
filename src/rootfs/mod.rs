//! The container's root filesystem, set up by the init process inside its
//! new mount namespace: propagation, the rootfs bind, the config's mounts,
//! devices, masked and read-only paths, then pivot_root.
//!
//! Every path inside the rootfs is resolved by the kernel (openat2
//! RESOLVE_IN_ROOT, `inroot`), and every mount lands on the resulting file
//! descriptor (through /proc/self/fd/N, or move_mount), so a symlink in the
//! image (or raced into it) can never send a mount outside the rootfs
//! (CVE-2021-30465). What a mount needs besides mount(2) itself is done to
//! the mount's own descriptor (`detached`), never by its path again.

mod cgroup_mount;
mod copyup;
pub(crate) mod detached;
mod devices;
pub mod inroot;
mod masked;
mod mounts;
pub mod options;
mod pivot;
mod propagation;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Spec;

use inroot::Root;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result, SysContext};

pub use devices::open_dev_null;
pub use mounts::ensure_file;
pub use pivot::{Entry, enter, finish};

/// What the rootfs steps need to know besides the config.
pub struct Context<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub in_userns: bool,
    /// The container has a mount namespace (new or joined): without one its
    /// mounts are made in the host's, and `/` must not be touched.
    pub mount_ns: bool,
    pub new_cgroupns: bool,
    pub cgroup: &'a Cgroup,
    /// Idmapped bind mounts the runtime prepared (detached trees), by
    /// mount index.
    pub idmap_trees: &'a [(usize, std::os::fd::OwnedFd)],
    /// procfs instances of a joined pid namespace (crate::joined_pidns),
    /// by mount index: mounted instead of a procfs of our own.
    pub proc_trees: &'a [(usize, std::os::fd::OwnedFd)],
}

/// The path the kernel resolves to an open file: how mount(2) and friends
/// reach a target resolved safely inside the rootfs.
pub fn fd_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

pub fn propagation_flags(spec: &Spec) -> Result<Option<MsFlags>> {
    let Some(p) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    else {
        return Ok(None);
    };
    let f = match p {
        "" => return Ok(None),
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        other => {
            return Err(Error::config(
                "linux.rootfsPropagation",
                format!("{other:?} is not a propagation type"),
            ));
        }
    };
    Ok(Some(f))
}

/// The mounts: everything up to the devices. Returns the rootfs root handle
/// for the steps that follow (devices, console, pivot).
pub fn setup(ctx: &Context) -> Result<Root> {
    // Without a mount namespace nothing is mounted, in the host's one: the
    // config was refused if it asked for anything (config::without_mount_ns).
    if ctx.mount_ns {
        let flags = propagation::first_remount(ctx.spec)?;
        mount(None::<&str>, "/", None::<&str>, flags, None::<&str>)
            .sys(|| format!("set {flags:?} on / before the first mount"))?;
        if flags.contains(MsFlags::MS_SHARED) {
            propagation::private_rootfs_parent(ctx.rootfs)?;
        }
    }
    let mut root =
        Root::open(ctx.rootfs).map_err(|e| Error::path("open rootfs", ctx.rootfs, e))?;
    if ctx.mount_ns {
        // pivot_root needs the new root to be a mount point: a recursive
        // copy of the rootfs, attached onto the directory opened above and
        // used through its own descriptor from then on (the path is not
        // looked up again).
        let fail = |what: &str, e| {
            Error::sys(
                format!("bind mount the rootfs {}: {what}", ctx.rootfs.display()),
                e,
            )
        };
        let tree = detached::clone_fd(root.as_fd(), true).map_err(|e| fail("open_tree", e))?;
        detached::attach(tree.as_fd(), root.as_fd()).map_err(|e| fail("move_mount", e))?;
        root = Root::from(tree);
        mounts::mount_all(ctx, &root)?;
    }
    crate::fault::point("mounts")?;
    Ok(root)
}

/// Default and configured devices, /dev links: a step of its own because
/// mknod is checked against the device cgroup, whose rules must be complete
/// by then (see init).
pub fn devices(ctx: &Context, root: &Root) -> Result<()> {
    // Without a mount namespace /dev is the image's own directory on the
    // host: no nodes are made in it.
    if ctx.mount_ns {
        devices::create(ctx, root)?;
    }
    crate::fault::point("devices")?;
    Ok(())
}

/// Masked and read-only paths: after everything else is mounted, so the
/// config's own mounts cannot undo them.
pub fn protect(spec: &Spec, root: &Root) -> Result<()> {
    masked::apply(spec, root)
}

/// Creates a symlink in the rootfs; one already there is left as it is.
fn symlink(root: &Root, link: &Path, target: &Path) -> Result<()> {
    match root.create(link, inroot::Node::Symlink(target)) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
        Err(e) => Err(Error::path("create symlink", link, e)),
    }
}

/// Resolves `path` in the rootfs, mapping "does not exist" to None.
fn resolve_existing(root: &Root, path: &Path) -> Result<Option<std::os::fd::OwnedFd>> {
    match root.resolve(path) {
        Ok(h) => Ok(Some(h)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(Error::path("resolve in rootfs", path, e)),
    }
}

/// mount_setattr(2) on one mount (or a tree with `recursive`).
fn set_attr(
    target: BorrowedFd<'_>,
    set: u64,
    clr: u64,
    recursive: bool,
    what: &Path,
) -> Result<()> {
    if set == 0 && clr == 0 {
        return Ok(());
    }
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation: 0,
        userns_fd: 0,
    };
    mount_setattr(target, &attr, recursive).map_err(|e| {
        Error::sys(
            format!(
                "mount_setattr on {} (set {set:#x}, clear {clr:#x})",
                what.display()
            ),
            e,
        )
    })
}

/// Attaches a user namespace to a detached mount tree (MOUNT_ATTR_IDMAP).
pub(crate) fn set_attr_userns(
    tree: BorrowedFd<'_>,
    userns: BorrowedFd<'_>,
    recursive: bool,
) -> std::result::Result<(), nix::errno::Errno> {
    const MOUNT_ATTR_IDMAP: u64 = 0x100000;
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    mount_setattr(tree, &attr, recursive)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn mount_setattr(
    target: BorrowedFd<'_>,
    attr: &MountAttr,
    recursive: bool,
) -> std::result::Result<(), nix::errno::Errno> {
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    // SAFETY: mount_setattr reads `size_of::<MountAttr>()` bytes from a live
    // struct laid out as the kernel's struct mount_attr; the fd is open.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(nix::errno::Errno::last())
    } else {
        Ok(())
    }
}

/// Mount attributes equivalent to mount(2) flags, for changing an existing
/// mount (a bind) without a remount that would need every locked flag.
fn flags_to_attr(flags: MsFlags) -> u64 {
    use options::attr;
    let mut a = 0;
    for (f, v) in [
        (MsFlags::MS_RDONLY, attr::RDONLY),
        (MsFlags::MS_NOSUID, attr::NOSUID),
        (MsFlags::MS_NODEV, attr::NODEV),
        (MsFlags::MS_NOEXEC, attr::NOEXEC),
        (MsFlags::MS_NODIRATIME, attr::NODIRATIME),
        (
            MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
            attr::NOSYMFOLLOW,
        ),
    ] {
        if flags.contains(f) {
            a |= v;
        }
    }
    a
}

/// The atime mode asked for by mount(2) flags, if any.
fn atime_attr(flags: MsFlags) -> Option<u64> {
    use options::attr;
    if flags.contains(MsFlags::MS_NOATIME) {
        Some(attr::NOATIME)
    } else if flags.contains(MsFlags::MS_STRICTATIME) {
        Some(attr::STRICTATIME)
    } else if flags.contains(MsFlags::MS_RELATIME) {
        Some(attr::RELATIME)
    } else {
        None
    }
}

/// Applies per-mount flags to an existing (bind) mount: what `set` asks
/// for, minus what `cleared` removes; the atime mode replaces the old one.
/// They reach the top mount only, as the spec has `ro` on a bind mean (and
/// Kubernetes' non-recursive read-only mounts need); `rro` and the other
/// `r*` attributes are the recursive ones.
fn apply_flags(target: BorrowedFd<'_>, set: MsFlags, cleared: MsFlags, what: &Path) -> Result<()> {
    let mut s = flags_to_attr(set);
    let mut c = flags_to_attr(cleared);
    if let Some(a) = atime_attr(set) {
        s |= a;
        c |= options::attr::ATIME_MASK;
    }
    set_attr(target, s, c, false, what)
}

/// A path buffer for the container-side path of mount `i`, for errors.
fn field(i: usize, name: &str) -> String {
    format!("mounts[{i}].{name}")
}

pub(crate) fn bundle_relative(bundle: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        bundle.join(p)
    }
}
