//! Mounts made detached, given their attributes while nothing can reach
//! them, then attached onto a target resolved in the rootfs, by
//! descriptor. The descriptor still names the mount once it is attached,
//! so what is left to do to it (propagation, read-only after a copy) never
//! looks its path up again: a directory swapped for a symlink meanwhile
//! (RENAME_EXCHANGE from a container sharing the rootfs) cannot send the
//! attributes to another mount.
//!
//! open_tree, move_mount and fsopen date from Linux 5.2; berth already
//! needs mount_setattr (5.12) for every read-only path, so there is no
//! fallback to mount(2) for older kernels.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// A detached copy of the mount at `fd` (and of the mounts below it when
/// `recursive`), as a bind mount would make it.
pub fn clone_fd(fd: BorrowedFd<'_>, recursive: bool) -> Result<OwnedFd, Errno> {
    open_tree(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH as u32, recursive)
}

/// `clone_fd` for a host path (a bind mount's source), symlinks followed
/// as mount(2) follows them.
pub fn clone_path(path: &Path, recursive: bool) -> Result<OwnedFd, Errno> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    open_tree(libc::AT_FDCWD, &c, 0, recursive)
}

fn open_tree(
    dir: libc::c_int,
    path: &std::ffi::CStr,
    flags: u32,
    recursive: bool,
) -> Result<OwnedFd, Errno> {
    let flags = flags
        | libc::OPEN_TREE_CLONE
        | libc::OPEN_TREE_CLOEXEC
        | if recursive {
            libc::AT_RECURSIVE as u32
        } else {
            0
        };
    // SAFETY: open_tree reads a NUL-terminated path that outlives the call
    // and returns a new descriptor.
    owned(unsafe { libc::syscall(libc::SYS_open_tree, dir, path.as_ptr(), flags) })
}

/// A new filesystem, mounted nowhere: `typ` from `source`, with mount(2)
/// `flags` (those of the superblock; the caller sets the mount's own with
/// mount_setattr) and `data` as mount(2) takes it.
pub fn new_fs(typ: &str, source: &Path, flags: MsFlags, data: Option<&str>) -> Result<OwnedFd, Errno> {
    let c = |s: &[u8]| CString::new(s).map_err(|_| Errno::EINVAL);
    let mut options = Vec::new();
    let source = source.as_os_str().as_bytes();
    if !source.is_empty() {
        options.push((c(b"source")?, Some(c(source)?)));
    }
    for (flag, name) in [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_LAZYTIME, "lazytime"),
        (MsFlags::MS_MANDLOCK, "mand"),
    ] {
        if flags.contains(flag) {
            options.push((c(name.as_bytes())?, None));
        }
    }
    for opt in split_data(data.unwrap_or_default()) {
        options.push(match opt.split_once('=') {
            Some((k, v)) => (c(k.as_bytes())?, Some(c(v.as_bytes())?)),
            None => (c(opt.as_bytes())?, None),
        });
    }
    fs_mount(&c(typ.as_bytes())?, &options, 0)
}

/// A new filesystem of type `typ` configured with `options` (a string
/// value, or a flag without one), as a detached mount with the mount
/// attributes `attrs` (MOUNT_ATTR_*): fsopen, fsconfig, fsmount, reachable
/// only through the returned descriptor.
pub fn fs_mount(typ: &CStr, options: &[(CString, Option<CString>)], attrs: u64) -> Result<OwnedFd, Errno> {
    // SAFETY: fsopen reads a NUL-terminated name and returns a new fd.
    let ctx = owned(unsafe { libc::syscall(libc::SYS_fsopen, typ.as_ptr(), FSOPEN_CLOEXEC) })?;
    for (key, value) in options {
        let cmd = if value.is_some() {
            FSCONFIG_SET_STRING
        } else {
            FSCONFIG_SET_FLAG
        };
        fsconfig(&ctx, cmd, key, value.as_deref())?;
    }
    // SAFETY: the create command takes no pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<u8>(),
            std::ptr::null::<u8>(),
            0,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: fsmount turns the created context into a detached mount and
    // returns a new fd for its root.
    owned(unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
}

fn fsconfig(
    ctx: &OwnedFd,
    cmd: libc::c_uint,
    key: &CStr,
    value: Option<&CStr>,
) -> Result<(), Errno> {
    let value = value.map_or(std::ptr::null(), |v| v.as_ptr());
    // SAFETY: fsconfig reads a NUL-terminated key and value (or none) that
    // outlive the call, on a filesystem context fd we own.
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, ctx.as_raw_fd(), cmd, key.as_ptr(), value, 0) };
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// mount(2)'s data string as the kernel splits it: at commas, except
/// inside double quotes (an SELinux context) and before a digit (a tmpfs
/// `mpol` node list such as `bind:0,2`), empty parts dropped.
fn split_data(data: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    let bytes = data.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted && !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push(&data[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&data[start..]);
    out.retain(|s| !s.is_empty());
    out
}

/// Attaches the detached mount `tree` onto `target` (move_mount). `tree`
/// names the attached mount afterwards.
pub fn attach(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: move_mount takes two (fd, path) pairs; both fds are open and
    // the paths are empty NUL-terminated strings.
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
    if r < 0 { Err(Errno::last()) } else { Ok(()) }
}

/// A syscall's new descriptor.
fn owned(r: libc::c_long) -> Result<OwnedFd, Errno> {
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a non-negative return of open_tree, fsopen or fsmount is a
    // new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

#[cfg(test)]
mod tests {
    use super::split_data;

    #[test]
    fn splits_data_as_the_kernel() {
        assert_eq!(split_data("mode=755,size=65536k"), ["mode=755", "size=65536k"]);
        assert_eq!(split_data(""), Vec::<&str>::new());
        assert_eq!(split_data("mpol=bind:0,2,nr_inodes=9"), ["mpol=bind:0,2", "nr_inodes=9"]);
        assert_eq!(
            split_data("context=\"system_u:object_r:x:s0:c1,c2\",mode=755"),
            ["context=\"system_u:object_r:x:s0:c1,c2\"", "mode=755"]
        );
        assert_eq!(split_data("a,,b,"), ["a", "b"]);
    }
}
