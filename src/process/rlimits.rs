//! process.rlimits: validated at create, applied by the init (while still
//! privileged: raising a hard limit needs CAP_SYS_RESOURCE).

use std::collections::HashSet;

use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result};

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Duplicates and soft above hard are config errors. (Unknown names are
/// refused when config.json is parsed.)
pub fn validate(rlimits: &[PosixRlimit]) -> Result<()> {
    let mut seen = HashSet::new();
    for (i, r) in rlimits.iter().enumerate() {
        if !seen.insert(resource(r.typ())) {
            return Err(Error::config(
                format!("process.rlimits[{i}].type"),
                format!("{} is set twice", r.typ()),
            ));
        }
        if r.soft() > r.hard() {
            return Err(Error::config(
                format!("process.rlimits[{i}]"),
                format!(
                    "{}: soft limit {} is above hard limit {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
            ));
        }
    }
    Ok(())
}

pub fn apply(rlimits: &[PosixRlimit]) -> Result<()> {
    for (i, r) in rlimits.iter().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads a live rlimit struct.
        if unsafe { libc::setrlimit(resource(r.typ()), &lim) } < 0 {
            return Err(Error::sys(
                format!(
                    "process.rlimits[{i}]: setrlimit {} soft {} hard {}",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
                nix::errno::Errno::last(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(json: &str) -> Vec<PosixRlimit> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn refuses_duplicates_and_inverted_limits() {
        let e = validate(&limits(
            r#"[{"type":"RLIMIT_NOFILE","soft":1,"hard":2},{"type":"RLIMIT_NOFILE","soft":1,"hard":2}]"#,
        ));
        assert_eq!(
            e.unwrap_err().to_string(),
            "process.rlimits[1].type: RLIMIT_NOFILE is set twice"
        );
        let e = validate(&limits(r#"[{"type":"RLIMIT_CORE","soft":3,"hard":2}]"#));
        assert_eq!(
            e.unwrap_err().to_string(),
            "process.rlimits[0]: RLIMIT_CORE: soft limit 3 is above hard limit 2"
        );
        assert!(serde_json::from_str::<Vec<PosixRlimit>>(r#"[{"type":"RLIMIT_BOGUS"}]"#).is_err());
    }
}
