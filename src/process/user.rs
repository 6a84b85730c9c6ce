//! process.user: groups, gid, uid and umask. Capabilities survive the uid
//! change (PR_SET_KEEPCAPS) so that capabilities::apply can then set exactly
//! the configured ones.

use nix::unistd::{Gid, Uid, setgroups, setresgid, setresuid};
use oci_spec::runtime::User;

use crate::error::{Error, Result, SysContext};

pub fn switch(user: &User) -> Result<()> {
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    match setgroups(&gids) {
        Ok(()) => {}
        // In a user namespace whose setgroups is denied, an empty list is
        // what the process already has.
        Err(nix::errno::Errno::EPERM) if gids.is_empty() => {}
        Err(e) => {
            return Err(Error::sys(
                format!(
                    "process.user.additionalGids: setgroups {:?}",
                    user.additional_gids()
                ),
                e,
            ));
        }
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).sys(|| format!("process.user.gid: setresgid {}", user.gid()))?;
    let uid = Uid::from_raw(user.uid());
    if !uid.is_root() {
        prctl::set_keep_capabilities(true)
            .map_err(|e| Error::sys("set keepcaps", nix::errno::Errno::from_raw(e)))?;
    }
    setresuid(uid, uid, uid).sys(|| format!("process.user.uid: setresuid {}", user.uid()))?;
    if !uid.is_root() {
        prctl::set_keep_capabilities(false)
            .map_err(|e| Error::sys("clear keepcaps", nix::errno::Errno::from_raw(e)))?;
    }
    let mask = user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    Ok(())
}
