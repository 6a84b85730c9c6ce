//! User namespaces for idmapped mounts (a mount's uidMappings and
//! gidMappings). The maps are host ids, so the runtime makes each namespace
//! before the clone: a child enters a new user namespace, the runtime
//! writes the maps and keeps a descriptor of the namespace, and the child
//! exits. The init attaches the namespace to the bind mount.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::error::{Error, PathContext, Result};
use crate::{clone, namespaces};

/// The user namespace fd of each mount that carries its own id maps, by
/// index in `mounts`.
pub fn prepare(spec: &Spec) -> Result<Vec<(usize, OwnedFd)>> {
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let uid = m.uid_mappings().as_deref().unwrap_or_default();
        let gid = m.gid_mappings().as_deref().unwrap_or_default();
        // config::validate refused a mount with only one of them.
        if uid.is_empty() || gid.is_empty() {
            continue;
        }
        let fd = userns(uid, gid).map_err(|e| e.within(format!("mounts[{i}]")))?;
        out.push((i, fd));
    }
    Ok(out)
}

fn userns(
    uid: &[oci_spec::runtime::LinuxIdMapping],
    gid: &[oci_spec::runtime::LinuxIdMapping],
) -> Result<OwnedFd> {
    let (hold, release) = nix::unistd::pipe().map_err(|e| Error::sys("pipe", e))?;
    let pid = clone::fork(CloneFlags::CLONE_NEWUSER, None)?;
    if pid == 0 {
        drop(release);
        // Stay until the runtime has the namespace: read returns when the
        // write end closes.
        let _ = nix::unistd::read(hold.as_raw_fd(), &mut [0u8; 1]);
        // SAFETY: _exit ends this short-lived child without running the
        // runtime's destructors.
        unsafe { libc::_exit(0) }
    }
    drop(hold);
    let result = namespaces::write_id_maps(pid, uid, gid).and_then(|()| {
        let path = format!("/proc/{pid}/ns/user");
        std::fs::File::open(&path)
            .at("open", &path)
            .map(OwnedFd::from)
    });
    drop(release);
    let _ = waitpid(Pid::from_raw(pid), None);
    result
}
