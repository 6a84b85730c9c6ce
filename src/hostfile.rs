//! Files berth writes, as root on the host, at paths its caller names: the
//! pid file, the `--log` file and `spec`'s config.json. Such a path often
//! lies in a directory a container can write too (a bundle whose rootfs is
//! the bundle itself), where a symlink planted at the right name would make
//! root write its target. So every such file is opened relative to its
//! directory, opened once, and never through a symlink: a new file with
//! O_CREAT|O_EXCL|O_NOFOLLOW (a name that exists, link or not, is refused),
//! a replaced one written under a fresh name and renamed over the old one
//! within that same directory.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::error::{PathContext, Result};

/// `path`'s directory, opened (O_PATH: nothing is read through it), and
/// its last component.
fn split(path: &Path) -> io::Result<(OwnedFd, OsString)> {
    let name = path
        .file_name()
        .filter(|_| !path.as_os_str().as_encoded_bytes().ends_with(b"/"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fd = nix::fcntl::open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, name.to_owned()))
}

/// Creates `name` in `dir`, which must not exist (not even as a symlink).
fn create_in(dir: &OwnedFd, name: &Path, mode: u32) -> io::Result<File> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(mode),
    )?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Writes a new file at `path`; one that exists (a symlink included) is an
/// error.
pub fn create_new(path: &Path, contents: &[u8]) -> Result<()> {
    let (dir, name) = split(path).at("open the directory of", path)?;
    create_in(&dir, name.as_ref(), 0o644)
        .and_then(|mut f| f.write_all(contents))
        .at("create", path)
}

/// Replaces `path` atomically (readers see no file or a whole one): the
/// contents go to a new file beside it, renamed over `path`. A symlink at
/// `path` is replaced, not followed.
pub fn replace(path: &Path, contents: &[u8]) -> Result<()> {
    let (dir, name) = split(path).at("open the directory of", path)?;
    // O_EXCL refuses a name someone planted first; another is tried then.
    let mut tries = 0;
    let (tmp, mut file) = loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut tmp = OsString::from(".");
        tmp.push(&name);
        tmp.push(format!(".{}.{nanos:x}.berth-tmp", std::process::id()));
        match create_in(&dir, tmp.as_ref(), 0o644) {
            Ok(f) => break (tmp, f),
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && tries < 8 => tries += 1,
            Err(e) => return Err(e).at("create a temporary file for", path),
        }
    };
    let done = file.write_all(contents).and_then(|()| {
        renameat(
            Some(dir.as_raw_fd()),
            Path::new(&tmp),
            Some(dir.as_raw_fd()),
            Path::new(&name),
        )
        .map_err(io::Error::from)
    });
    if done.is_err() {
        let _ = unlinkat(
            Some(dir.as_raw_fd()),
            Path::new(&tmp),
            UnlinkatFlags::NoRemoveDir,
        );
    }
    done.at("write", path)
}

/// Opens `path` for appending, creating it if missing, never through a
/// symlink. /dev/stdout and /dev/stderr (links into /proc, and runc's
/// default log) name berth's own stdout and stderr.
pub fn open_append(path: &Path) -> io::Result<File> {
    let std_fd = match path.as_os_str().as_encoded_bytes() {
        b"/dev/stdout" => Some(1),
        b"/dev/stderr" => Some(2),
        _ => None,
    };
    if let Some(fd) = std_fd {
        let dup = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))?;
        // SAFETY: fcntl returned a new descriptor that nothing else owns.
        return Ok(unsafe { File::from_raw_fd(dup) });
    }
    let (dir, name) = split(path)?;
    let fd = openat(
        Some(dir.as_raw_fd()),
        name.as_os_str(),
        OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o644),
    )
    .map_err(|e| match e {
        Errno::ELOOP => io::Error::new(io::ErrorKind::InvalidInput, "is a symlink: refused"),
        e => e.into(),
    })?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("berth-hostfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn replace_writes_in_place_of_a_link_and_leaves_no_temporary() {
        let d = dir("replace");
        std::fs::write(d.join("target"), "keep").unwrap();
        std::os::unix::fs::symlink(d.join("target"), d.join("pid")).unwrap();
        replace(&d.join("pid"), b"42").unwrap();
        assert_eq!(std::fs::read_to_string(d.join("pid")).unwrap(), "42");
        assert_eq!(std::fs::read_to_string(d.join("target")).unwrap(), "keep");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 2);
        assert!(replace(&d.join("sub/"), b"1").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn create_new_and_open_append_refuse_links() {
        let d = dir("create");
        std::os::unix::fs::symlink(d.join("made"), d.join("link")).unwrap();
        let e = create_new(&d.join("link"), b"x").unwrap_err().to_string();
        assert!(e.contains("File exists"), "{e}");
        let e = open_append(&d.join("link")).unwrap_err().to_string();
        assert_eq!(e, "is a symlink: refused");
        assert!(!d.join("made").exists());
        create_new(&d.join("new"), b"x").unwrap();
        assert!(create_new(&d.join("new"), b"y").is_err());
        open_append(&d.join("new"))
            .unwrap()
            .write_all(b"y")
            .unwrap();
        assert_eq!(std::fs::read_to_string(d.join("new")).unwrap(), "xy");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
