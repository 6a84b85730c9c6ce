//! process.user: groups, gid, uid and umask. Capabilities survive the uid
//! change (PR_SET_KEEPCAPS) so that capabilities::apply can then set exactly
//! the configured ones.

use nix::errno::Errno;
use nix::sys::prctl::set_keepcaps;
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, setresgid, setresuid};
use oci_spec::runtime::User;

use crate::error::{Error, Result, SysContext};

pub fn switch(user: &User) -> Result<()> {
    // Checked first, so a bad value changes nothing.
    let mask = user.umask().unwrap_or(0o022);
    if mask > 0o777 {
        return Err(Error::config(
            "process.user.umask",
            format!("{mask:#o} is not a permission mask (at most 0o777)"),
        ));
    }
    let gids = user.additional_gids().as_deref().unwrap_or_default();
    // SAFETY: setgroups reads `gids.len()` gid_t values from a live slice
    // (u32, which gid_t is on Linux).
    if unsafe { libc::setgroups(gids.len(), gids.as_ptr()) } < 0 {
        match Errno::last() {
            // A user namespace whose setgroups is denied: an empty list is
            // all it could have set anyway.
            Errno::EPERM if gids.is_empty() => {}
            e => {
                // A long list would make the error too long to report.
                let value = match gids.len() {
                    0..=16 => format!("{gids:?}"),
                    n => format!("({n} groups)"),
                };
                return Err(Error::sys(
                    format!("process.user.additionalGids {value}: setgroups"),
                    e,
                ));
            }
        }
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).sys(|| format!("process.user.gid {gid}: setresgid"))?;
    let uid = Uid::from_raw(user.uid());
    // Leaving uid 0 would clear the permitted set; staying root keeps it.
    let keep = !uid.is_root();
    if keep {
        set_keepcaps(true).sys(|| "process.user.uid: set keepcaps".into())?;
    }
    setresuid(uid, uid, uid).sys(|| format!("process.user.uid {uid}: setresuid"))?;
    if keep {
        set_keepcaps(false).sys(|| "process.user.uid: clear keepcaps".into())?;
    }
    umask(Mode::from_bits_truncate(mask));
    Ok(())
}

#[cfg(test)]
mod tests {
    use nix::unistd::{getgroups, getresgid, getresuid};

    use super::*;
    use crate::process::rlimits::tests::in_child;

    fn config(json: &str) -> User {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn switches_user_groups_and_umask() {
        let u = config(r#"{"uid":1000,"gid":1000,"additionalGids":[10,20],"umask":23}"#);
        in_child(|| {
            switch(&u).map_err(|e| e.to_string())?;
            let r = getresuid().unwrap();
            assert_eq!(
                (r.real, r.effective, r.saved),
                (1000.into(), 1000.into(), 1000.into())
            );
            let g = getresgid().unwrap();
            assert_eq!(
                (g.real, g.effective, g.saved),
                (1000.into(), 1000.into(), 1000.into())
            );
            assert_eq!(getgroups().unwrap(), [10.into(), 20.into()]);
            assert_eq!(umask(Mode::empty()).bits(), 0o027);
            assert!(!nix::sys::prctl::get_keepcaps().unwrap());
            // Kept across the switch: capabilities::apply narrows it next.
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            assert!(!status.contains("CapPrm:\t0000000000000000"), "{status}");
            Ok(())
        });
    }

    #[test]
    fn default_umask_and_no_groups() {
        let u = config(r#"{"uid":0,"gid":0}"#);
        in_child(|| {
            umask(Mode::from_bits_truncate(0o077));
            switch(&u).map_err(|e| e.to_string())?;
            assert_eq!(umask(Mode::empty()).bits(), 0o022);
            assert!(getgroups().unwrap().is_empty());
            Ok(())
        });
    }

    #[test]
    fn refuses_a_bad_umask() {
        let e = switch(&config(r#"{"uid":0,"gid":0,"umask":4095}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "process.user.umask: 0o7777 is not a permission mask (at most 0o777)"
        );
    }
}
