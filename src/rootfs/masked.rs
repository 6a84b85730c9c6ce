//! linux.maskedPaths and linux.readonlyPaths. A masked file is covered by
//! the (verified) null device, a masked directory by an empty read-only
//! tmpfs; a read-only path is bound onto itself and made read-only with
//! every mount below it. Paths that do not exist in the rootfs are skipped,
//! as the spec allows.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sys::stat::{SFlag, fstat};
use nix::sys::statfs::{PROC_SUPER_MAGIC, SYSFS_MAGIC, fstatfs};
use oci_spec::runtime::Spec;

use super::inroot::{Root, clean};
use super::options::attr;
use super::{detached, fd_path, open_dev_null, resolve_existing, set_attr};
use crate::error::{Error, Result};

pub fn apply(spec: &Spec, root: &Root) -> Result<()> {
    let Some(linux) = spec.linux().as_ref() else {
        return Ok(());
    };
    let masked = linux.masked_paths().as_deref().unwrap_or_default();
    let readonly_paths = linux.readonly_paths().as_deref().unwrap_or_default();
    let fields = masked
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("linux.maskedPaths[{i}]"), p))
        .chain(
            readonly_paths
                .iter()
                .enumerate()
                .map(|(i, p)| (format!("linux.readonlyPaths[{i}]"), p)),
        );
    let kernel = Kernel::open(spec, root, fields)?;
    if !masked.is_empty() {
        let null = open_dev_null()?;
        for (i, p) in masked.iter().enumerate() {
            mask(root, &kernel, Path::new(p), &null)
                .map_err(|e| e.within(format!("linux.maskedPaths[{i}]")))?;
        }
    }
    for (i, p) in readonly_paths.iter().enumerate() {
        readonly(root, &kernel, Path::new(p))
            .map_err(|e| e.within(format!("linux.readonlyPaths[{i}]")))?;
    }
    Ok(())
}

/// The kernel filesystems the config mounts at /proc and /sys, opened
/// once and checked to be them. Paths below them are resolved from there:
/// a container sharing the rootfs can swap the directory a procfs was
/// mounted on for a plain one (the mount moves with its directory), and
/// masks looked up by path would then go to the plain one and leave the
/// real procfs, at the other name, unmasked.
struct Kernel {
    proc: Option<Root>,
    sys: Option<Root>,
}

impl Kernel {
    fn open<'a>(
        spec: &Spec,
        root: &Root,
        fields: impl Iterator<Item = (String, &'a String)> + Clone,
    ) -> Result<Kernel> {
        let open = |typ: &str, top: &str, magic| -> Result<Option<Root>> {
            let mounted = spec.mounts().iter().flatten().any(|m| {
                m.typ().as_deref() == Some(typ) && clean(m.destination()) == Path::new(top)
            });
            let below = |p: &&String| {
                let p = clean(Path::new(p.as_str()));
                p.starts_with(top) && p != Path::new(top)
            };
            let Some((field, _)) = fields.clone().find(|(_, p)| below(p)) else {
                return Ok(None);
            };
            if !mounted {
                return Ok(None);
            }
            let found = root
                .resolve_nosymlinks(Path::new(top))
                .map_err(|e| Error::path("resolve", top, e));
            let fs = found.and_then(|fs| {
                if fstatfs(&fs).is_ok_and(|s| s.filesystem_type() == magic) {
                    Ok(fs)
                } else {
                    Err(Error::path(
                        "resolve",
                        top,
                        std::io::Error::other(format!("no longer the {typ} mounted there")),
                    ))
                }
            });
            fs.map(|fs| Some(Root::from(fs)))
                .map_err(|e| e.within(field))
        };
        Ok(Kernel {
            proc: open("proc", "/proc", PROC_SUPER_MAGIC)?,
            sys: open("sysfs", "/sys", SYSFS_MAGIC)?,
        })
    }

    /// `path` resolved in the root (below /proc or /sys in the filesystem
    /// found there), or None if it does not exist.
    fn resolve(&self, root: &Root, path: &Path) -> Result<Option<OwnedFd>> {
        let path = clean(path);
        for (top, fs) in [("/proc", &self.proc), ("/sys", &self.sys)] {
            if let (Some(fs), Ok(rest)) = (fs, path.strip_prefix(top))
                && !rest.as_os_str().is_empty()
            {
                return match fs.resolve(rest) {
                    Ok(h) => Ok(Some(h)),
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
                    Err(e) => Err(Error::path("resolve in rootfs", &path, e)),
                };
            }
        }
        resolve_existing(root, &path)
    }
}

fn mask(root: &Root, kernel: &Kernel, path: &Path, null: &OwnedFd) -> Result<()> {
    let Some(target) = kernel.resolve(root, path)? else {
        return Ok(());
    };
    let st = fstat(std::os::fd::AsRawFd::as_raw_fd(&target.as_fd()))
        .map_err(|e| Error::sys(format!("stat {}", path.display()), e))?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let t = fd_path(target.as_fd());
    let r = if is_dir {
        mount(
            Some("tmpfs"),
            t.as_str(),
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        mount(
            Some(fd_path(null.as_fd()).as_str()),
            t.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    };
    r.map_err(|e| Error::sys(format!("mask {}", path.display()), e))
}

fn readonly(root: &Root, kernel: &Kernel, path: &Path) -> Result<()> {
    let Some(target) = kernel.resolve(root, path)? else {
        return Ok(());
    };
    // A copy of what is there, made read-only before it is attached over
    // it: nothing resolves the path again (a swapped directory would take
    // the flag elsewhere and leave this one writable).
    let fail = |what: &str, e| Error::sys(format!("bind {} onto itself: {what}", path.display()), e);
    let tree = detached::clone_fd(target.as_fd(), true).map_err(|e| fail("open_tree", e))?;
    set_attr(tree.as_fd(), attr::RDONLY, 0, true, path)?;
    detached::attach(tree.as_fd(), target.as_fd()).map_err(|e| fail("move_mount", e))
}
