//! Paths inside the container's root, resolved by the kernel: openat2 with
//! RESOLVE_IN_ROOT (symlinks and ".." stay inside the root, races included)
//! and RESOLVE_NO_MAGICLINKS (no /proc/PID/fd jumps). Whatever is made
//! (directories, nodes, links, files) is made with the *at system calls on
//! a descriptor of its resolved parent, so a symlink in the image, or one
//! swapped in meanwhile, can never send a mount or a node outside the
//! rootfs (CVE-2021-30465).
//!
//! This is the same kernel guarantee pathrs builds on, used directly: no
//! descriptor is ever reopened through procfs, so the per-operation
//! procfs verification pathrs needs for that (about forty system calls per
//! created directory) has nothing to protect here.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// An open directory that paths are resolved in, as if it were `/`.
pub struct Root(OwnedFd);

impl AsFd for Root {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// A directory already open (the root of a mount berth made) as the root.
impl From<OwnedFd> for Root {
    fn from(fd: OwnedFd) -> Root {
        Root(fd)
    }
}

/// What `create` makes.
pub enum Node<'a> {
    /// A character or block device (`kind` is S_IFCHR or S_IFBLK) or a fifo
    /// (S_IFIFO, `dev` ignored), with permission bits.
    Special {
        kind: u32,
        mode: u32,
        dev: u64,
    },
    Symlink(&'a Path),
    /// An empty regular file.
    File(u32),
}

impl Root {
    /// Opens a host directory as the root to resolve in.
    pub fn open(path: &Path) -> io::Result<Root> {
        let fd = nix::fcntl::open(
            path,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        // SAFETY: open returned a new descriptor that nothing else owns.
        Ok(Root(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// An O_PATH handle on `path`, following symlinks inside the root.
    pub fn resolve(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open_in(path, libc::O_PATH)
    }

    /// Opens `path` with open(2) `flags` (O_CLOEXEC is added).
    pub fn open_in(&self, path: &Path, flags: i32) -> io::Result<OwnedFd> {
        openat2(
            self.as_fd(),
            path,
            flags | libc::O_CLOEXEC,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        )
    }

    /// An O_PATH handle on `path` itself, a symlink not followed.
    pub fn resolve_nofollow(&self, path: &Path) -> io::Result<OwnedFd> {
        let (parent, name) = self.parent(path)?;
        let fd = nix::fcntl::openat(
            Some(parent.as_raw_fd()),
            name.as_path(),
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )?;
        // SAFETY: openat returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// The directory `path`, made with `mode` (and its missing parents) if
    /// needed. "." and ".." are folded first, as the path reads; a dangling
    /// symlink on the way has its target made, inside the root.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        self.mkdir_clean(&clean(path), mode, &mut 0, 0)
    }

    /// `mkdir_all` where no component may be a symlink (ELOOP).
    pub fn mkdir_all_nofollow(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        self.mkdir_clean(&clean(path), mode, &mut 0, RESOLVE_NO_SYMLINKS)
    }

    /// An O_PATH handle on `path`, no component of which may be a symlink
    /// (ELOOP).
    pub fn resolve_nosymlinks(&self, path: &Path) -> io::Result<OwnedFd> {
        openat2(
            self.as_fd(),
            path,
            libc::O_PATH | libc::O_CLOEXEC,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
        )
    }

    fn mkdir_clean(
        &self,
        path: &Path,
        mode: u32,
        links: &mut u32,
        resolve: u64,
    ) -> io::Result<OwnedFd> {
        match openat2(
            self.as_fd(),
            path,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | resolve,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            r => return r,
        }
        let (Some(parent_path), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        };
        let parent = self.mkdir_clean(parent_path, mode, links, resolve)?;
        match nix::sys::stat::mkdirat(
            Some(parent.as_raw_fd()),
            name,
            nix::sys::stat::Mode::from_bits_truncate(mode),
        ) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) if resolve & RESOLVE_NO_SYMLINKS != 0 => {}
            // procfs links are magic (/proc/self/fd/N): never followed.
            Err(nix::errno::Errno::EEXIST) if !on_procfs(parent.as_fd()) => {
                if let Ok(target) = nix::fcntl::readlinkat(Some(parent.as_raw_fd()), name) {
                    // The kernel's own limit on links in one lookup.
                    *links += 1;
                    if *links > 40 {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    return self.mkdir_clean(
                        &clean(&parent_path.join(target)),
                        mode,
                        links,
                        resolve,
                    );
                }
            }
            Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        // What we just made, never a symlink put there in between.
        openat2(
            parent.as_fd(),
            Path::new(name),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
        )
    }

    /// Makes `node` at `path` (whose parent must exist); EEXIST when
    /// something is already there.
    pub fn create(&self, path: &Path, node: Node) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        let dir = Some(parent.as_raw_fd());
        match node {
            Node::Special { kind, mode, dev } => nix::sys::stat::mknodat(
                dir,
                name.as_path(),
                nix::sys::stat::SFlag::from_bits_truncate(kind),
                nix::sys::stat::Mode::from_bits_truncate(mode),
                dev,
            )?,
            Node::Symlink(target) => nix::unistd::symlinkat(target, dir, name.as_path())?,
            Node::File(mode) => {
                let fd = nix::fcntl::openat(
                    dir,
                    name.as_path(),
                    nix::fcntl::OFlag::O_CREAT
                        | nix::fcntl::OFlag::O_EXCL
                        | nix::fcntl::OFlag::O_NOFOLLOW
                        | nix::fcntl::OFlag::O_CLOEXEC
                        | nix::fcntl::OFlag::O_RDONLY,
                    nix::sys::stat::Mode::from_bits_truncate(mode),
                )?;
                // SAFETY: openat returned a new descriptor; it is closed here.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        Ok(())
    }

    /// Removes the non-directory `path` (a symlink itself, not its target).
    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        let (parent, name) = self.parent(path)?;
        nix::unistd::unlinkat(
            Some(parent.as_raw_fd()),
            name.as_path(),
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        )?;
        Ok(())
    }

    /// The resolved parent directory of `path` and its last component,
    /// which must be a plain name.
    fn parent(&self, path: &Path) -> io::Result<(OwnedFd, PathBuf)> {
        let path = clean(path);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        let dir = self.open_in(parent, libc::O_PATH | libc::O_DIRECTORY)?;
        Ok((dir, PathBuf::from(name)))
    }
}

fn on_procfs(fd: BorrowedFd<'_>) -> bool {
    nix::sys::statfs::fstatfs(fd)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
}

/// `path` as an absolute path with "." and ".." folded (".." at the top
/// stays at the top, as in the kernel).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn openat2(dir: BorrowedFd<'_>, path: &Path, flags: i32, resolve: u64) -> io::Result<OwnedFd> {
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: flags as u64,
        mode: 0,
        resolve,
    };
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // RESOLVE_IN_ROOT answers EAGAIN when a rename or mount raced with a
    // ".." step; the lookup is simply retried, a bounded number of times.
    for _ in 0..64 {
        // SAFETY: openat2 reads a NUL-terminated path and an open_how of the
        // size given, both alive for the call, and returns a new fd.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if r >= 0 {
            // SAFETY: a new descriptor that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as i32) });
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EAGAIN) {
            return Err(e);
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleans_paths() {
        assert_eq!(clean(Path::new("/a/../b/./c")), Path::new("/b/c"));
        assert_eq!(clean(Path::new("/../../proc")), Path::new("/proc"));
        assert_eq!(clean(Path::new("dev//shm/")), Path::new("/dev/shm"));
    }

    #[test]
    fn stays_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("berth-inroot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("r")).unwrap();
        std::fs::create_dir_all(dir.join("outside")).unwrap();
        // An absolute link and a climbing one, both aimed at the host.
        std::os::unix::fs::symlink(dir.join("outside"), dir.join("r/abs")).unwrap();
        std::os::unix::fs::symlink("../../outside", dir.join("r/rel")).unwrap();
        let root = Root::open(&dir.join("r")).unwrap();
        root.mkdir_all(Path::new("/abs/x"), 0o755).unwrap();
        root.mkdir_all(Path::new("/rel/y"), 0o755).unwrap();
        root.create(Path::new("/abs/f"), Node::File(0o644)).unwrap();
        assert_eq!(std::fs::read_dir(dir.join("outside")).unwrap().count(), 0);
        assert!(
            dir.join("r")
                .join(dir.join("outside").strip_prefix("/").unwrap())
                .join("x")
                .is_dir()
        );
        assert!(dir.join("r/outside/y").is_dir());
        let e = root
            .create(Path::new("/abs/f"), Node::File(0o644))
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        // Magic links are refused.
        let host = Root::open(Path::new("/")).unwrap();
        let e = host.resolve(Path::new("/proc/self/root/etc")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
