//! /dev inside the container: the default devices every container gets,
//! the config's linux.devices, and the standard symlinks. Outside a user
//! namespace devices are made with mknod; inside one mknod is not allowed,
//! so the host's device node is bind-mounted onto an empty file instead.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::inroot::{self, Root};
use super::mounts::{ensure_file, mount_point};
use super::{Context, symlink};
use crate::error::{Error, Result};

struct Node {
    path: PathBuf,
    kind: LinuxDeviceType,
    major: i64,
    minor: i64,
    mode: u32,
    uid: u32,
    gid: u32,
}

const DEFAULTS: &[(&str, i64, i64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

const LINKS: &[(&str, &str)] = &[
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
    ("/dev/ptmx", "pts/ptmx"),
];

pub fn create(ctx: &Context, root: &Root) -> Result<()> {
    let configured: &[LinuxDevice] = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or_default();
    for &(p, major, minor) in DEFAULTS {
        if configured.iter().any(|d| d.path() == Path::new(p)) {
            continue;
        }
        let node = Node {
            path: p.into(),
            kind: LinuxDeviceType::C,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        };
        make(ctx, root, &node)?;
    }
    for (i, d) in configured.iter().enumerate() {
        let node = Node {
            path: d.path().clone(),
            kind: d.typ(),
            major: d.major(),
            minor: d.minor(),
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        };
        check_existing(root, &node)
            .map_err(|reason| Error::config(format!("linux.devices[{i}].path"), reason))?;
        make(ctx, root, &node).map_err(|e| e.within(format!("linux.devices[{i}]")))?;
    }
    for (link, target) in LINKS {
        symlink(root, Path::new(link), Path::new(target))?;
    }
    Ok(())
}

/// A configured device may take the place of a node of the same type and
/// numbers (it is made again with the configured mode and owner); anything
/// else already at its path is an error, never removed to make room.
fn check_existing(root: &Root, n: &Node) -> std::result::Result<(), String> {
    let h = match root.resolve_nofollow(&n.path) {
        Ok(h) => h,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(format!("{}: {e}", n.path.display())),
    };
    let st = fstat(h.as_raw_fd()).map_err(|e| format!("stat {}: {e}", n.path.display()))?;
    let fmt = st.st_mode & libc::S_IFMT;
    let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
    let want = match n.kind {
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        _ => libc::S_IFCHR,
    };
    let numbers = (i64::from(major), i64::from(minor)) == (n.major, n.minor);
    if fmt == want && (fmt == libc::S_IFIFO || numbers) {
        return Ok(());
    }
    let found = match fmt {
        libc::S_IFREG => "a regular file".to_string(),
        libc::S_IFDIR => "a directory".to_string(),
        libc::S_IFLNK => "a symlink".to_string(),
        libc::S_IFIFO => "a fifo".to_string(),
        libc::S_IFSOCK => "a socket".to_string(),
        libc::S_IFBLK => format!("the device b {major}:{minor}"),
        _ => format!("the device c {major}:{minor}"),
    };
    let wanted = if n.kind == LinuxDeviceType::P {
        "a fifo".to_string()
    } else {
        format!("the device {} {}:{}", n.kind.as_str(), n.major, n.minor)
    };
    Err(format!(
        "{} already exists and is {found}, not {wanted}",
        n.path.display()
    ))
}

fn make(ctx: &Context, root: &Root, n: &Node) -> Result<()> {
    if let Some(parent) = n.path.parent() {
        // No symlink on the way under /dev (an image's /dev, or /dev/net,
        // made a symlink), as for every mount point there.
        mount_point(root, parent, "")?;
    }
    let dev = libc::makedev(n.major as u32, n.minor as u32);
    let kind = match n.kind {
        LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
        LinuxDeviceType::B => libc::S_IFBLK,
        LinuxDeviceType::P => libc::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::State(format!(
                "{}: type \"a\" is only valid in cgroup device rules",
                n.path.display()
            )));
        }
    };
    if ctx.in_userns {
        // The host's node at the same path, never a symlink, and only if it
        // is the device the config names: the path alone could name any
        // host file.
        let host = open(
            &n.path,
            OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
            Mode::empty(),
        )
        .map_err(|e| Error::sys(format!("open host device {}", n.path.display()), e))?;
        // SAFETY: open returned a new descriptor that nothing else owns.
        let host = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(host) };
        let st = fstat(host.as_raw_fd())
            .map_err(|e| Error::sys(format!("stat host device {}", n.path.display()), e))?;
        if st.st_mode & libc::S_IFMT != kind || (kind != libc::S_IFIFO && st.st_rdev != dev) {
            return Err(Error::State(format!(
                "{}: the host's node is not the device {} {}:{}",
                n.path.display(),
                n.kind.as_str(),
                n.major,
                n.minor
            )));
        }
        let target = ensure_file(root, &n.path)?;
        let bind = |e| {
            Error::sys(
                format!("bind host device {} into the container", n.path.display()),
                e,
            )
        };
        // nosuid and noexec, as runc gives them: a device is neither a
        // program nor a set-id file. Set on the detached copy, before
        // anything in the container can reach it.
        let tree = super::detached::clone_fd(host.as_fd(), false).map_err(bind)?;
        super::set_attr(
            tree.as_fd(),
            super::options::attr::NOSUID | super::options::attr::NOEXEC,
            0,
            false,
            &n.path,
        )?;
        return super::detached::attach(tree.as_fd(), target.as_fd()).map_err(bind);
    }
    let node = || inroot::Node::Special {
        kind,
        mode: n.mode,
        dev,
    };
    match root.create(&n.path, node()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            // The image ships a node there (a configured device's has been
            // checked to be the same device): replace it so the container
            // gets exactly the configured mode and owner.
            root.remove_file(&n.path)
                .map_err(|e| Error::path("replace existing device", &n.path, e))?;
            root.create(&n.path, node())
                .map_err(|e| Error::path("create device", &n.path, e))?;
        }
        Err(e) => return Err(Error::path("create device", &n.path, e)),
    }
    if n.uid != 0 || n.gid != 0 {
        let h = root
            .resolve_nofollow(&n.path)
            .map_err(|e| Error::path("resolve device", &n.path, e))?;
        nix::unistd::fchownat(
            Some(h.as_fd().as_raw_fd()),
            "",
            Some(Uid::from_raw(n.uid)),
            Some(Gid::from_raw(n.gid)),
            nix::fcntl::AtFlags::AT_EMPTY_PATH,
        )
        .map_err(|e| Error::sys(format!("chown device {}", n.path.display()), e))?;
    }
    Ok(())
}

/// Opens the host's /dev/null and checks it is the null device: masked
/// paths are covered with it, and a fake one (a symlink or a file planted
/// where /dev/null should be) must never be bound over them
/// (CVE-2025-31133). Called before pivot_root, while / is still the host's.
pub fn open_dev_null() -> Result<OwnedFd> {
    let fd = open(
        "/dev/null",
        OFlag::O_PATH | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| Error::sys("open /dev/null", e))?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let st = fstat(fd.as_raw_fd()).map_err(|e| Error::sys("stat /dev/null", e))?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || st.st_rdev != libc::makedev(1, 3) {
        return Err(Error::State(
            "/dev/null is not the null device (1:3); refusing to mask paths with it".into(),
        ));
    }
    Ok(fd)
}
