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

/// HOME for a process whose env lacks it, as runc sets it: the home field
/// of `uid`'s entry in the container's /etc/passwd, else "/". Read before
/// the user switch (a 0600 passwd stays readable), from the root we are in,
/// resolved inside it; anything but a regular file is not read (a FIFO put
/// there would block us).
pub fn home(uid: u32) -> String {
    use std::io::Read;
    let read = || -> std::io::Result<Vec<u8>> {
        let root = crate::rootfs::inroot::Root::open("/".as_ref())?;
        let fd = root.open_in("/etc/passwd".as_ref(), libc::O_RDONLY | libc::O_NONBLOCK)?;
        let file = std::fs::File::from(fd);
        if !file.metadata()?.is_file() {
            return Ok(Vec::new());
        }
        let mut text = Vec::new();
        // Enough for any real passwd; a huge one is not read whole.
        file.take(1 << 20).read_to_end(&mut text)?;
        Ok(text)
    };
    let text = read().unwrap_or_default();
    passwd_home(&String::from_utf8_lossy(&text), uid).unwrap_or_else(|| "/".into())
}

/// The home field of `uid`'s line in a passwd file, if it has one.
fn passwd_home(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid) && !f[5].is_empty())
            .then(|| f[5].to_string())
    })
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

    #[test]
    fn home_from_passwd() {
        let pw = "root:x:0:0:root:/root:/bin/sh\nbad line\nnohome:x:7:7::\nu:x:1000:1000:U:/home/u:/bin/sh\n";
        assert_eq!(passwd_home(pw, 0).as_deref(), Some("/root"));
        assert_eq!(passwd_home(pw, 1000).as_deref(), Some("/home/u"));
        assert_eq!(passwd_home(pw, 7), None);
        assert_eq!(passwd_home(pw, 42), None);
    }
}
