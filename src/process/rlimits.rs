//! process.rlimits: validated at create, applied by the init while still
//! privileged (raising a hard limit needs CAP_SYS_RESOURCE).

use nix::sys::resource::{Resource, setrlimit};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

use crate::error::{Error, Result, SysContext};

fn resource(t: PosixRlimitType) -> Resource {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => Resource::RLIMIT_CPU,
        RlimitFsize => Resource::RLIMIT_FSIZE,
        RlimitData => Resource::RLIMIT_DATA,
        RlimitStack => Resource::RLIMIT_STACK,
        RlimitCore => Resource::RLIMIT_CORE,
        RlimitRss => Resource::RLIMIT_RSS,
        RlimitNproc => Resource::RLIMIT_NPROC,
        RlimitNofile => Resource::RLIMIT_NOFILE,
        RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        RlimitAs => Resource::RLIMIT_AS,
        RlimitLocks => Resource::RLIMIT_LOCKS,
        RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        RlimitNice => Resource::RLIMIT_NICE,
        RlimitRtprio => Resource::RLIMIT_RTPRIO,
        RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Duplicates and soft above hard are config errors. (Unknown names are
/// refused when config.json is parsed.)
pub fn validate(rlimits: &[PosixRlimit]) -> Result<()> {
    // The 16 types fit one bit each: no set to allocate.
    let mut seen = 0u32;
    for (i, r) in rlimits.iter().enumerate() {
        let bit = 1u32 << (r.typ() as u32);
        if seen & bit != 0 {
            let first = rlimits.iter().position(|o| o.typ() == r.typ()).unwrap_or(i);
            return Err(Error::config(
                format!("process.rlimits[{i}].type"),
                format!("{} is already set by process.rlimits[{first}]", r.typ()),
            ));
        }
        seen |= bit;
        if r.soft() > r.hard() {
            return Err(Error::config(
                format!("process.rlimits[{i}].soft"),
                format!(
                    "{} soft limit {} is above its hard limit {}",
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
        setrlimit(resource(r.typ()), r.soft(), r.hard()).sys(|| {
            format!(
                "process.rlimits[{i}] {} soft {} hard {}: setrlimit",
                r.typ(),
                r.soft(),
                r.hard()
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use nix::fcntl::OFlag;
    use nix::sys::resource::getrlimit;
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::{ForkResult, fork, pipe2};

    use super::*;

    /// Runs `f` in a forked child, so that the process state it changes
    /// (limits, credentials, scheduling) stays out of the test process, and
    /// fails the test with the child's message when `f` fails or panics.
    pub fn in_child(f: impl FnOnce() -> Result<(), String>) {
        // Non-blocking: a sibling test's child may hold the write end too.
        let (rd, wr) = pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).unwrap();
        // SAFETY: the child runs only `f` and leaves with _exit, never
        // returning into the (multi-threaded) test harness.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let msg = match catch_unwind(AssertUnwindSafe(f)) {
                    Ok(Ok(())) => None,
                    Ok(Err(m)) => Some(m),
                    Err(p) => Some(
                        p.downcast_ref::<String>()
                            .cloned()
                            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panicked".into()),
                    ),
                };
                if let Some(m) = &msg {
                    let _ = nix::unistd::write(&wr, m.as_bytes());
                }
                // SAFETY: _exit ends the child without running the parent's
                // atexit handlers or destructors.
                unsafe { libc::_exit(i32::from(msg.is_some())) }
            }
            ForkResult::Parent { child } => {
                drop(wr);
                let status = waitpid(child, None).unwrap();
                let mut buf = [0u8; 4096];
                let n =
                    nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&rd), &mut buf).unwrap_or(0);
                let msg = String::from_utf8_lossy(&buf[..n]);
                assert_eq!(status, WaitStatus::Exited(child, 0), "child: {msg}");
            }
        }
    }

    fn limits(json: &str) -> Vec<PosixRlimit> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn maps_every_type_to_its_resource() {
        for name in [
            "RLIMIT_CPU",
            "RLIMIT_FSIZE",
            "RLIMIT_DATA",
            "RLIMIT_STACK",
            "RLIMIT_CORE",
            "RLIMIT_RSS",
            "RLIMIT_NPROC",
            "RLIMIT_NOFILE",
            "RLIMIT_MEMLOCK",
            "RLIMIT_AS",
            "RLIMIT_LOCKS",
            "RLIMIT_SIGPENDING",
            "RLIMIT_MSGQUEUE",
            "RLIMIT_NICE",
            "RLIMIT_RTPRIO",
            "RLIMIT_RTTIME",
        ] {
            let t: PosixRlimitType = name.parse().unwrap();
            assert_eq!(format!("{:?}", resource(t)), name);
        }
    }

    #[test]
    fn refuses_duplicates_and_inverted_limits() {
        let e = validate(&limits(
            r#"[{"type":"RLIMIT_CORE","soft":0,"hard":0},{"type":"RLIMIT_NOFILE","soft":1,"hard":2},{"type":"RLIMIT_NOFILE","soft":1,"hard":2}]"#,
        ));
        assert_eq!(
            e.unwrap_err().to_string(),
            "process.rlimits[2].type: RLIMIT_NOFILE is already set by process.rlimits[1]"
        );
        let e = validate(&limits(r#"[{"type":"RLIMIT_CORE","soft":3,"hard":2}]"#));
        assert_eq!(
            e.unwrap_err().to_string(),
            "process.rlimits[0].soft: RLIMIT_CORE soft limit 3 is above its hard limit 2"
        );
        assert!(serde_json::from_str::<Vec<PosixRlimit>>(r#"[{"type":"RLIMIT_BOGUS"}]"#).is_err());
        validate(&limits(
            r#"[{"type":"RLIMIT_CORE","soft":1,"hard":1},{"type":"RLIMIT_NOFILE","soft":1,"hard":2}]"#,
        ))
        .unwrap();
    }

    #[test]
    fn applies_and_reads_back() {
        // Below this machine's hard limits: lowering needs no privilege.
        let l = limits(
            r#"[{"type":"RLIMIT_NOFILE","soft":100,"hard":200},{"type":"RLIMIT_CORE","soft":0,"hard":4096}]"#,
        );
        in_child(|| {
            apply(&l).map_err(|e| e.to_string())?;
            assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap(), (100, 200));
            assert_eq!(getrlimit(Resource::RLIMIT_CORE).unwrap(), (0, 4096));
            Ok(())
        });
    }

    #[test]
    fn apply_errors_name_the_limit() {
        let l = limits(r#"[{"type":"RLIMIT_NOFILE","soft":300,"hard":200}]"#);
        in_child(|| {
            let e = apply(&l).unwrap_err().to_string();
            let want = "process.rlimits[0] RLIMIT_NOFILE soft 300 hard 200: setrlimit: EINVAL";
            if e.starts_with(want) { Ok(()) } else { Err(e) }
        });
    }
}
