//! The propagation of the new mount namespace before the first mount: what
//! `/` becomes, and, when that is shared, the rootfs's parent mount made
//! private.

use std::path::{Path, PathBuf};

use nix::mount::{MsFlags, mount};
use oci_spec::runtime::Spec;

use super::propagation_flags;
use crate::error::{Error, Result};

/// The propagation `/` is given before anything is mounted: slave by
/// default, so that the container's mounts never reach the host. A shared
/// rootfsPropagation is used as given (runc does the same): a bind of a
/// shared host mount then joins the host's peer group, which a
/// bidirectional volume (`rshared`, Kubernetes' Bidirectional) needs; a
/// bind of a slave could only ever be a slave of it.
pub fn first_remount(spec: &Spec) -> Result<MsFlags> {
    Ok(match propagation_flags(spec)? {
        Some(f) if f.contains(MsFlags::MS_PRIVATE) => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        Some(f) if f.contains(MsFlags::MS_SHARED) => f,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    })
}

/// With `/` shared: makes the mount holding the rootfs private, so that
/// the rootfs bind is private too (pivot_root refuses a shared new root or
/// parent) and does not propagate to the host's mount of its parent.
pub fn private_rootfs_parent(rootfs: &Path) -> Result<()> {
    let rootfs = std::fs::canonicalize(rootfs).map_err(|e| Error::path("resolve", rootfs, e))?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::path("read", "/proc/self/mountinfo", e))?;
    let parent = parent_mount(&mountinfo, &rootfs).ok_or_else(|| {
        Error::config(
            "root.path",
            format!("{} is below no mount in /proc/self/mountinfo", rootfs.display()),
        )
    })?;
    mount(
        None::<&str>,
        &parent,
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| {
        Error::sys(
            format!(
                "linux.rootfsPropagation: make {} (the mount holding the rootfs) private",
                parent.display()
            ),
            e,
        )
    })
}

/// The mount point under which `path` lies: the longest one that is a
/// prefix of it, the last (topmost) of equals.
fn parent_mount(mountinfo: &str, path: &Path) -> Option<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
        .filter(|m| path.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:25 / /run rw shared:2 - tmpfs tmpfs rw
31 30 0:40 / /run/c/my\\040pod/rootfs rw - overlay overlay rw
32 22 0:41 / /run/c rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_the_mount_holding_a_path() {
        let p = |s: &str| parent_mount(MOUNTINFO, Path::new(s));
        assert_eq!(p("/run/c/my pod/rootfs"), Some("/run/c/my pod/rootfs".into()));
        assert_eq!(p("/run/c/other/rootfs"), Some("/run/c".into()));
        assert_eq!(p("/runner/x"), Some("/".into()));
        assert_eq!(p("/run"), Some("/run".into()));
    }

    #[test]
    fn unescapes_like_the_kernel_escapes() {
        assert_eq!(unescape("/a\\040b\\011c\\012d\\134e"), PathBuf::from("/a b\tc\nd\\e"));
        assert_eq!(unescape("/plain\\x"), PathBuf::from("/plain\\x"));
    }
}
