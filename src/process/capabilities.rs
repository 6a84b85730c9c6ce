//! process.capabilities. The bounding set is cut while the init is still
//! root; the other sets are written after the uid switch. An absent object
//! means no capabilities at all; inheritable and ambient stay empty unless
//! configured (CVE-2022-29162). Capabilities the running kernel does not
//! know are skipped, as runc does.

use caps::Capability as Cap;
use nix::errno::Errno;
use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

use crate::error::{Error, Result};

fn cap(c: Capability) -> Cap {
    use Capability::*;
    match c {
        AuditControl => Cap::CAP_AUDIT_CONTROL,
        AuditRead => Cap::CAP_AUDIT_READ,
        AuditWrite => Cap::CAP_AUDIT_WRITE,
        BlockSuspend => Cap::CAP_BLOCK_SUSPEND,
        Bpf => Cap::CAP_BPF,
        CheckpointRestore => Cap::CAP_CHECKPOINT_RESTORE,
        Chown => Cap::CAP_CHOWN,
        DacOverride => Cap::CAP_DAC_OVERRIDE,
        DacReadSearch => Cap::CAP_DAC_READ_SEARCH,
        Fowner => Cap::CAP_FOWNER,
        Fsetid => Cap::CAP_FSETID,
        IpcLock => Cap::CAP_IPC_LOCK,
        IpcOwner => Cap::CAP_IPC_OWNER,
        Kill => Cap::CAP_KILL,
        Lease => Cap::CAP_LEASE,
        LinuxImmutable => Cap::CAP_LINUX_IMMUTABLE,
        MacAdmin => Cap::CAP_MAC_ADMIN,
        MacOverride => Cap::CAP_MAC_OVERRIDE,
        Mknod => Cap::CAP_MKNOD,
        NetAdmin => Cap::CAP_NET_ADMIN,
        NetBindService => Cap::CAP_NET_BIND_SERVICE,
        NetBroadcast => Cap::CAP_NET_BROADCAST,
        NetRaw => Cap::CAP_NET_RAW,
        Perfmon => Cap::CAP_PERFMON,
        Setgid => Cap::CAP_SETGID,
        Setfcap => Cap::CAP_SETFCAP,
        Setpcap => Cap::CAP_SETPCAP,
        Setuid => Cap::CAP_SETUID,
        SysAdmin => Cap::CAP_SYS_ADMIN,
        SysBoot => Cap::CAP_SYS_BOOT,
        SysChroot => Cap::CAP_SYS_CHROOT,
        SysModule => Cap::CAP_SYS_MODULE,
        SysNice => Cap::CAP_SYS_NICE,
        SysPacct => Cap::CAP_SYS_PACCT,
        SysPtrace => Cap::CAP_SYS_PTRACE,
        SysRawio => Cap::CAP_SYS_RAWIO,
        SysResource => Cap::CAP_SYS_RESOURCE,
        SysTime => Cap::CAP_SYS_TIME,
        SysTtyConfig => Cap::CAP_SYS_TTY_CONFIG,
        Syslog => Cap::CAP_SYSLOG,
        WakeAlarm => Cap::CAP_WAKE_ALARM,
    }
}

/// One set as the kernel's bit mask.
fn mask(caps: Option<&LinuxCapabilities>, set: SetOf) -> u64 {
    caps.and_then(|c| set(c).as_ref())
        .into_iter()
        .flatten()
        .fold(0, |m, &c| m | cap(c).bitmask())
}

/// The getter of one set in the config.
type SetOf = fn(&LinuxCapabilities) -> &Option<Capabilities>;

const SETS: [(&str, SetOf); 5] = [
    ("bounding", LinuxCapabilities::bounding),
    ("effective", LinuxCapabilities::effective),
    ("permitted", LinuxCapabilities::permitted),
    ("inheritable", LinuxCapabilities::inheritable),
    ("ambient", LinuxCapabilities::ambient),
];

/// What this process can still hand on: its permitted set (one capget; it
/// lies within the bounding set the runtime was started with, and lacks
/// what the kernel does not know). config.md: a capability that cannot be
/// granted is a warning, not a failure; each one asked for is named once
/// per set.
pub fn grantable(caps: Option<&LinuxCapabilities>) -> u64 {
    let have = caps::read(None, caps::CapSet::Permitted)
        .map(|s| s.iter().fold(0u64, |m, c| m | c.bitmask()))
        .unwrap_or(0);
    for (name, set) in SETS {
        let missing = mask(caps, set) & !have;
        let names: Vec<String> = caps::all()
            .into_iter()
            .filter(|c| missing & c.bitmask() != 0)
            .map(|c| c.to_string())
            .collect();
        if !names.is_empty() {
            crate::logging::warn(&format!(
                "process.capabilities.{name}: {} cannot be granted (not held by the runtime): left out",
                names.join(", ")
            ));
        }
    }
    have
}

/// Drops from the bounding set everything not in `bounding`.
pub fn drop_bounding(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let keep = mask(caps, LinuxCapabilities::bounding);
    // Counting up to the kernel's first unknown number also drops the
    // capabilities of kernels newer than this list, which no config can
    // name and so none asked to keep.
    for n in 0..64u8 {
        if keep & (1 << n) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number by value.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, libc::c_ulong::from(n), 0, 0, 0) } < 0 {
            return match Errno::last() {
                Errno::EINVAL => Ok(()),
                e => Err(Error::sys(
                    format!("process.capabilities.bounding: drop capability {n}"),
                    e,
                )),
            };
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Sets effective, permitted and inheritable exactly (within `grantable`),
/// then raises ambient.
pub fn apply(caps: Option<&LinuxCapabilities>, grantable: u64) -> Result<()> {
    let eff = mask(caps, LinuxCapabilities::effective) & grantable;
    let prm = mask(caps, LinuxCapabilities::permitted) & grantable;
    let inh = mask(caps, LinuxCapabilities::inheritable) & grantable;
    // One capset, so the kernel checks the new sets against the old ones
    // together (no order of three calls to get right). It ignores the bits
    // of capabilities it does not know.
    let hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| CapData {
        effective: (eff >> shift) as u32,
        permitted: (prm >> shift) as u32,
        inheritable: (inh >> shift) as u32,
    };
    let data = [half(0), half(32)];
    // SAFETY: capset reads a live header and two data structs (version 3).
    if unsafe { libc::syscall(libc::SYS_capset, &hdr, data.as_ptr()) } < 0 {
        return Err(Error::sys(
            format!(
                "process.capabilities effective {eff:#x} permitted {prm:#x} inheritable {inh:#x}: capset"
            ),
            Errno::last(),
        ));
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointer.
    if unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    } < 0
    {
        return Err(Error::sys(
            "process.capabilities.ambient: clear",
            Errno::last(),
        ));
    }
    let amb = caps
        .and_then(|c| c.ambient().as_ref())
        .into_iter()
        .flatten();
    // The kernel refuses ambient capabilities outside permitted and
    // inheritable; those are skipped, as runc does, with a warning.
    let (amb, outside): (Vec<Cap>, Vec<Cap>) = amb
        .map(|&c| cap(c))
        .filter(|c| grantable & c.bitmask() != 0)
        .partition(|c| prm & inh & c.bitmask() != 0);
    if !outside.is_empty() {
        let names: Vec<String> = outside.iter().map(|c| c.to_string()).collect();
        crate::logging::warn(&format!(
            "process.capabilities.ambient: {} not in both permitted and inheritable: left out",
            names.join(", ")
        ));
    }
    for c in amb {
        let n = libc::c_ulong::from(c.index());
        // SAFETY: PR_CAP_AMBIENT_RAISE takes a capability number by value.
        if unsafe { libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE, n, 0, 0) } < 0 {
            match Errno::last() {
                // Unknown to this kernel.
                Errno::EINVAL => {}
                e => {
                    return Err(Error::sys(
                        format!("process.capabilities.ambient {c}: raise"),
                        e,
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::rlimits::tests::in_child;

    fn config(json: &str) -> LinuxCapabilities {
        serde_json::from_str(json).unwrap()
    }

    /// A capability set from /proc/self/status, as a mask.
    fn status(field: &str) -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        let v = s
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .unwrap();
        u64::from_str_radix(v.trim(), 16).unwrap()
    }

    #[test]
    fn masks_use_kernel_numbers() {
        let c = config(r#"{"effective":["CAP_CHOWN","CAP_SYS_ADMIN","CAP_CHECKPOINT_RESTORE"]}"#);
        assert_eq!(
            mask(Some(&c), LinuxCapabilities::effective),
            1 | 1 << 21 | 1 << 40
        );
        assert_eq!(mask(Some(&c), LinuxCapabilities::bounding), 0);
        assert_eq!(mask(None, LinuxCapabilities::effective), 0);
    }

    #[test]
    fn drops_from_the_bounding_set() {
        let c = config(r#"{"bounding":["CAP_CHOWN","CAP_KILL"]}"#);
        in_child(|| {
            drop_bounding(Some(&c)).map_err(|e| e.to_string())?;
            assert_eq!(status("CapBnd"), 1 | 1 << 5);
            drop_bounding(None).map_err(|e| e.to_string())?;
            assert_eq!(status("CapBnd"), 0);
            Ok(())
        });
    }

    #[test]
    fn sets_exactly_the_configured_sets() {
        let c = config(r#"{"effective":["CAP_CHOWN"],"permitted":["CAP_CHOWN","CAP_KILL"]}"#);
        in_child(|| {
            // Inheritable was set before; it must not survive.
            caps::raise(None, caps::CapSet::Inheritable, Cap::CAP_KILL).unwrap();
            assert_eq!(status("CapInh"), 1 << 5);
            apply(Some(&c), u64::MAX).map_err(|e| e.to_string())?;
            assert_eq!(status("CapEff"), 0x1);
            assert_eq!(status("CapPrm"), 0x21);
            assert_eq!(status("CapInh"), 0);
            assert_eq!(status("CapAmb"), 0);
            Ok(())
        });
    }

    #[test]
    fn nothing_when_absent() {
        in_child(|| {
            apply(None, u64::MAX).map_err(|e| e.to_string())?;
            for f in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
                assert_eq!(status(f), 0, "{f}");
            }
            Ok(())
        });
    }

    #[test]
    fn ambient_needs_permitted_and_inheritable() {
        let user: oci_spec::runtime::User =
            serde_json::from_str(r#"{"uid":1000,"gid":1000}"#).unwrap();
        let c = config(
            r#"{"effective":["CAP_NET_BIND_SERVICE","CAP_KILL"],
                "permitted":["CAP_NET_BIND_SERVICE","CAP_KILL"],
                "inheritable":["CAP_NET_BIND_SERVICE"],
                "ambient":["CAP_NET_BIND_SERVICE","CAP_KILL","CAP_SYS_ADMIN"]}"#,
        );
        in_child(|| {
            crate::process::user::switch(&user).map_err(|e| e.to_string())?;
            apply(Some(&c), u64::MAX).map_err(|e| e.to_string())?;
            assert_eq!(status("CapAmb"), 1 << 10);
            assert_eq!(status("CapEff"), 1 << 10 | 1 << 5);
            Ok(())
        });
    }
}
