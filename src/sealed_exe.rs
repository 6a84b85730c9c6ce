//! Self-protection against CVE-2019-5736: a process of ours that enters a
//! container's namespaces must not expose the host's berth binary through
//! /proc/PID/exe, or the container could open it and overwrite it. Commands
//! that enter a container re-execute once from a protected view of the
//! binary before doing anything; every process they fork inherits that
//! image, so /proc/PID/exe points at a file no one can write.
//!
//! The view is, when we may mount, the binary seen through a private
//! overlayfs made only of lower layers (read-only for good: an overlay
//! without an upper layer cannot be remounted writable), mounted detached
//! (fsmount, never attached anywhere, so nothing else can reach it): no
//! copy, the page cache of the host file is shared. Otherwise (an
//! unprivileged user, no overlayfs) it is a sealed memfd copy (seals: write,
//! grow, shrink, seal), which costs a copy of the binary.

use std::ffi::{CStr, CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::Mutex;

use nix::fcntl::{FcntlArg, SealFlag, fcntl};
use nix::sys::memfd::{MemFdCreateFlag, memfd_create};

use crate::error::{Error, PathContext, Result};
use crate::rootfs::options::attr;

const ALL_SEALS: SealFlag = SealFlag::F_SEAL_SEAL
    .union(SealFlag::F_SEAL_SHRINK)
    .union(SealFlag::F_SEAL_GROW)
    .union(SealFlag::F_SEAL_WRITE);

/// MFD_EXEC (Linux 6.3): ask for an executable memfd even where the
/// vm.memfd_noexec sysctl defaults memfds to non-executable.
const MFD_EXEC: libc::c_uint = 0x10;

/// Set by us for the re-executed process: it then checks that its binary
/// really is a read-only overlay, and removes the variable. Its value lists
/// the descriptors of the view's detached mounts (see `MOUNTS`).
const MARK: &str = "_BERTH_SEALED_EXE";

/// The detached mounts behind the view, kept open across the re-exec. The
/// last close of a detached mount unmounts it, and an unmount waits for an
/// (expedited) RCU grace period: 0.1 to 0.5 ms here, each. The re-executed
/// runtime drops them through a `Gate` while its child works in parallel.
/// Only the runtime ever drops them: a forked child closes its copies among
/// the foreign descriptors (or at exec), never as the last holder.
static MOUNTS: Mutex<Vec<OwnedFd>> = Mutex::new(Vec::new());

/// Lets the runtime drop the view's mounts once its child has closed its
/// copies, so that the unmount happens in the runtime, while the child goes
/// on: a pipe whose write end the child alone keeps after the fork, until
/// it closes every foreign descriptor (its first step). End-of-file on the
/// read end says so (or that the child died).
pub struct Gate {
    read: Option<OwnedFd>,
    write: Option<OwnedFd>,
}

impl Gate {
    /// Before the fork. Without mounts to drop there is nothing to wait for.
    pub fn new() -> Result<Gate> {
        if MOUNTS.lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
            return Ok(Gate {
                read: None,
                write: None,
            });
        }
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Error::sys("pipe for releasing berth's view", e))?;
        Ok(Gate {
            read: Some(read),
            write: Some(write),
        })
    }

    /// In the runtime, right after the fork: only the child writes now.
    pub fn forked(&mut self) {
        self.write = None;
    }

    /// In the runtime, once the child may go on: waits until it has closed
    /// its copies, then unmounts the view while the child works.
    pub fn release(self) {
        let Some(read) = self.read else {
            return;
        };
        let mut b = [0u8; 1];
        while nix::unistd::read(read.as_raw_fd(), &mut b) == Err(nix::errno::Errno::EINTR) {}
        MOUNTS.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Returns when this process already runs from a protected view; otherwise
/// replaces it with one (same argv and environment) and does not return.
pub fn ensure(args: &[std::ffi::OsString]) -> Result<()> {
    let exe = File::open("/proc/self/exe").at("open", "/proc/self/exe")?;
    let mark = std::env::var_os(MARK);
    if mark.is_some() {
        // SAFETY: berth has one thread here (it never starts another before
        // a container's init exists), so nothing reads the environment
        // concurrently.
        unsafe { std::env::remove_var(MARK) };
    }
    if is_sealed_memfd(&exe) {
        return Ok(());
    }
    if let Some(mark) = mark
        && is_read_only_overlay(&exe)
    {
        adopt_mounts(&mark.to_string_lossy());
        return Ok(());
    }
    let (view, mounts) = match overlay_view() {
        Some(v) => v,
        None => (sealed_copy(&exe)?, Vec::new()),
    };
    let mut fds = Vec::new();
    for m in &mounts {
        // Inherited by the re-executed runtime, which drops them later.
        fcntl(
            m.as_raw_fd(),
            FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
        )
        .map_err(|e| Error::sys("keep the view's mounts across exec", e))?;
        fds.push(m.as_raw_fd().to_string());
    }
    let argv: Vec<CString> = args.iter().cloned().map(cstring).collect();
    let mut envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstring(kv)
        })
        .collect();
    envp.push(cstring(format!("{MARK}={}", fds.join(",")).into()));
    crate::fault::point("protected view")?;
    let err = nix::unistd::fexecve(view.as_raw_fd(), &argv, &envp).unwrap_err();
    Err(Error::sys("execute the protected view of berth", err))
}

/// Takes over the mount descriptors listed in the mark: close-on-exec again
/// (so no hook or container process inherits them), dropped through a
/// `Gate`.
/// Only descriptors that are what we passed (an overlay or a tmpfs) are
/// taken, so a forged mark cannot make us close anything else.
fn adopt_mounts(list: &str) {
    let mut mounts = MOUNTS.lock().unwrap_or_else(|e| e.into_inner());
    for fd in list.split(',').filter_map(|s| s.parse::<i32>().ok()) {
        if fd < 3 {
            continue;
        }
        // SAFETY: fstatfs and fcntl only inspect the descriptor number;
        // an unused one fails with EBADF.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let ours = nix::sys::statfs::fstatfs(borrowed).is_ok_and(|s| {
            let t = s.filesystem_type();
            t == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC || t == nix::sys::statfs::TMPFS_MAGIC
        });
        if ours && fcntl(fd, FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC)).is_ok() {
            // SAFETY: the descriptor is open, was handed to us across exec
            // for exactly this, and nothing else in this process owns it.
            mounts.push(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
}

/// Size and modification time (ns) of the binary this process runs, the
/// same for every run of one build; None when it runs from a memfd copy,
/// which is new each time.
pub fn binary_identity() -> Option<(u64, i128)> {
    let exe = File::open("/proc/self/exe").ok()?;
    if is_sealed_memfd(&exe) {
        return None;
    }
    let m = exe.metadata().ok()?;
    use std::os::unix::fs::MetadataExt;
    Some((
        m.size(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    ))
}

fn cstring(s: OsString) -> CString {
    // Arguments and environment strings from the kernel hold no NUL.
    CString::new(s.into_vec()).unwrap_or_default()
}

fn is_sealed_memfd(exe: &File) -> bool {
    fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS)
        .is_ok_and(|s| SealFlag::from_bits_truncate(s).contains(ALL_SEALS))
}

/// Our overlay: overlayfs, and read-only (it has no upper layer).
fn is_read_only_overlay(exe: &File) -> bool {
    nix::sys::statfs::fstatfs(exe).is_ok_and(|s| {
        s.filesystem_type() == nix::sys::statfs::OVERLAYFS_SUPER_MAGIC
            && s.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY)
    })
}

/// The binary through a detached, lower-layers-only overlay: its own
/// directory on top of an empty detached tmpfs (overlayfs wants two lower
/// layers when it has no upper one, and refuses the same one twice), opened
/// O_PATH for fexecve, and the two mounts. None when it cannot be made; the
/// caller then copies.
fn overlay_view() -> Option<(OwnedFd, Vec<OwnedFd>)> {
    let path = std::fs::read_link("/proc/self/exe").ok()?;
    let (dir, name) = (path.parent()?, path.file_name()?);
    let dir = dir.as_os_str().as_bytes();
    // ':' separates layers, '\' escapes and ',' separates options in the
    // legacy syntax: such a directory is left to the copy, not escaped.
    if !path.is_absolute() || dir.iter().any(|b| matches!(b, b':' | b'\\' | b',')) {
        return None;
    }
    let view = |fs: &CStr, options| {
        crate::rootfs::detached::fs_mount(fs, options, attr::RDONLY | attr::NOSUID | attr::NODEV).ok()
    };
    let empty = view(c"tmpfs", &[])?;
    let mut layers = dir.to_vec();
    layers.extend_from_slice(format!(":/proc/self/fd/{}", empty.as_raw_fd()).as_bytes());
    let layers = CString::new(layers).ok()?;
    let mnt = view(c"overlay", &[(c"lowerdir".into(), Some(layers))])?;
    let file = nix::fcntl::openat(
        Some(mnt.as_raw_fd()),
        Path::new(name),
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Some((unsafe { OwnedFd::from_raw_fd(file) }, vec![mnt, empty]))
}

fn sealed_copy(exe: &File) -> Result<OwnedFd> {
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    let memfd = match memfd_create(
        c"berth",
        flags | MemFdCreateFlag::from_bits_retain(MFD_EXEC),
    ) {
        Err(nix::errno::Errno::EINVAL) => memfd_create(c"berth", flags),
        r => r,
    }
    .map_err(|e| Error::sys("memfd_create for the sealed copy of berth", e))?;
    let len = exe.metadata().at("stat", "/proc/self/exe")?.len() as usize;
    let mut copied = 0;
    while copied < len {
        // sendfile copies in the kernel, page cache to tmpfs: no user buffer.
        // SAFETY: both fds are open for the duration of the call; a null
        // offset uses and advances the source's file position.
        let n = unsafe {
            libc::sendfile(
                memfd.as_raw_fd(),
                exe.as_raw_fd(),
                std::ptr::null_mut(),
                len - copied,
            )
        };
        if n <= 0 {
            let e = if n == 0 {
                nix::errno::Errno::EIO
            } else {
                nix::errno::Errno::last()
            };
            return Err(Error::sys("copy berth into a memfd", e));
        }
        copied += n as usize;
    }
    fcntl(memfd.as_raw_fd(), FcntlArg::F_ADD_SEALS(ALL_SEALS))
        .map_err(|e| Error::sys("seal the memfd copy of berth", e))?;
    Ok(memfd)
}
