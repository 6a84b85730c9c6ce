//! `tmpcopyup`, runc's mount option that podman and CRI-O use: a tmpfs
//! mounted over an image directory (podman `--read-only` puts one on /run,
//! /tmp, /var/tmp) starts with a copy of what the image had there.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::dir::{Dir, Type};
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{Mode, SFlag, fchmodat, fstatat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchownat, symlinkat};

/// Copies the tree under `from` (the directory the tmpfs now hides, opened
/// before the mount) into `to` (the tmpfs), with modes and owners.
pub fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let st = nix::sys::stat::fstat(from.as_raw_fd())?;
    own(to, None, st.st_uid, st.st_gid, st.st_mode)?;
    copy_dir(from, to)
}

fn copy_dir(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let dup = nix::unistd::dup(from.as_raw_fd())?;
    let mut dir = Dir::from_fd(dup)?;
    for entry in dir.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if matches!(name.to_bytes(), b"." | b"..") {
            continue;
        }
        let st = fstatat(Some(from.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        match entry.file_type() {
            Some(Type::Directory) => {
                mkdirat(Some(to.as_raw_fd()), name, Mode::S_IRWXU)?;
                let src = open_dir(from, name)?;
                let dst = open_dir(to, name)?;
                copy_dir(src.as_fd(), dst.as_fd())?;
                own(dst.as_fd(), None, st.st_uid, st.st_gid, st.st_mode)?;
            }
            Some(Type::File) => {
                let src = openat(
                    Some(from.as_raw_fd()),
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?;
                let dst = openat(
                    Some(to.as_raw_fd()),
                    name,
                    OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_CLOEXEC,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                )?;
                // SAFETY: both descriptors were just opened and are owned
                // here alone.
                let (mut src, mut dst) =
                    unsafe { (File::from_raw_fd(src), File::from_raw_fd(dst)) };
                io::copy(&mut src, &mut dst)?;
                own(dst.as_fd(), None, st.st_uid, st.st_gid, st.st_mode)?;
            }
            Some(Type::Symlink) => {
                let target = readlinkat(Some(from.as_raw_fd()), name)?;
                symlinkat(target.as_os_str(), Some(to.as_raw_fd()), name)?;
                fchownat(
                    Some(to.as_raw_fd()),
                    name,
                    Some(Uid::from_raw(st.st_uid)),
                    Some(Gid::from_raw(st.st_gid)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )?;
            }
            // Device nodes, fifos and sockets: the node itself.
            _ => {
                mknodat(Some(to.as_raw_fd()), name, kind, perm, st.st_rdev)?;
                own(to, Some(name), st.st_uid, st.st_gid, st.st_mode)?;
            }
        }
    }
    Ok(())
}

fn open_dir(at: BorrowedFd<'_>, name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    let fd = openat(
        Some(at.as_raw_fd()),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Owner first, then the mode: chown clears set-id bits.
fn own(
    at: BorrowedFd<'_>,
    name: Option<&std::ffi::CStr>,
    uid: u32,
    gid: u32,
    mode: u32,
) -> io::Result<()> {
    let mode = Mode::from_bits_truncate(mode & 0o7777);
    let (uid, gid) = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
    match name {
        Some(n) => {
            fchownat(Some(at.as_raw_fd()), n, uid, gid, AtFlags::empty())?;
            fchmodat(
                Some(at.as_raw_fd()),
                n,
                mode,
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )?;
        }
        None => {
            nix::unistd::fchown(at.as_raw_fd(), uid, gid)?;
            nix::sys::stat::fchmod(at.as_raw_fd(), mode)?;
        }
    }
    Ok(())
}
