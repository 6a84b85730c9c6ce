//! linux.seccomp. The profile is compiled to BPF with libseccomp by the
//! runtime, before the clone (so a bad profile fails the create early), and
//! loaded by the process itself with seccomp(2): as late as possible (after
//! no_new_privs, just before execve), or before the capabilities are
//! dropped when no_new_privs is off (loading then needs CAP_SYS_ADMIN), or
//! before the process reports ready when a notify listener must get the fd.

use std::hash::{Hash, Hasher};
use std::io::{Read, Seek, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::str::FromStr;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};

use crate::error::{Error, Result};

const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;
const FLAG_NEW_LISTENER: u32 = 8;
const FLAG_TSYNC_ESRCH: u32 = 16;
const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// A compiled filter, ready for seccomp(2).
pub struct Program {
    bpf: Vec<u8>,
    flags: u32,
}

impl Program {
    /// The filter hands notifications to a listener (SCMP_ACT_NOTIFY).
    pub fn notifies(&self) -> bool {
        self.flags & FLAG_NEW_LISTENER != 0
    }

    /// Appends the filter as bytes: its flags (u32 LE), then the BPF.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&self.bpf);
    }

    /// A filter as `write_to` wrote it; None unless it is whole BPF
    /// instructions the kernel could take.
    pub fn from_bytes(b: &[u8]) -> Option<Program> {
        let (flags, bpf) = b.split_first_chunk::<4>()?;
        let ok = !bpf.is_empty() && bpf.len() % 8 == 0 && bpf.len() / 8 <= BPF_MAXINSNS;
        ok.then(|| Program {
            bpf: bpf.to_vec(),
            flags: u32::from_le_bytes(*flags),
        })
    }
}

/// The libseccomp action for `a`; `errno` (from `errno_field`) is refused
/// for actions that return no errno, as the spec asks.
fn action(a: LinuxSeccompAction, errno: Option<u32>, errno_field: &str) -> Result<ScmpAction> {
    use LinuxSeccompAction::*;
    if let Some(e) = errno
        && !matches!(a, ScmpActErrno | ScmpActTrace)
    {
        let name = serde_json::to_value(a)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        return Err(Error::config(
            errno_field,
            format!(
                "{e} is set, but {name} returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"
            ),
        ));
    }
    // The filter returns 16 bits of data with ERRNO and TRACE; libseccomp
    // would silently cut a larger value to them.
    let data = || {
        let v = errno.unwrap_or(libc::EPERM as u32);
        u16::try_from(v)
            .map_err(|_| Error::config(errno_field, format!("{v} is out of range (0..=65535)")))
    };
    Ok(match a {
        ScmpActKill | ScmpActKillThread => ScmpAction::KillThread,
        ScmpActKillProcess => ScmpAction::KillProcess,
        ScmpActTrap => ScmpAction::Trap,
        ScmpActErrno => ScmpAction::Errno(data()?.into()),
        ScmpActTrace => ScmpAction::Trace(data()?),
        ScmpActLog => ScmpAction::Log,
        ScmpActAllow => ScmpAction::Allow,
        ScmpActNotify => ScmpAction::Notify,
    })
}

fn compare(op: LinuxSeccompOperator, value: u64) -> ScmpCompareOp {
    use LinuxSeccompOperator::*;
    match op {
        ScmpCmpNe => ScmpCompareOp::NotEqual,
        ScmpCmpLt => ScmpCompareOp::Less,
        ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        ScmpCmpEq => ScmpCompareOp::Equal,
        ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        ScmpCmpGt => ScmpCompareOp::Greater,
        ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value),
    }
}

fn lib_err(field: String) -> impl FnOnce(libseccomp::error::SeccompError) -> Error {
    move |e| Error::config(field, e.to_string())
}

/// The directory of compiled filters under the state root; not a valid
/// container id (`~`), so no container can be named after it.
pub const CACHE_DIR: &str = "~seccomp-cache";

/// `compile`, through a cache of compiled filters in the state root (crun
/// keeps one too): libseccomp takes about 13 ms here for podman's default
/// profile, and engines give every container the same few profiles. An
/// entry holds its whole key (format, this binary's size and mtime,
/// libseccomp's API level, the profile as JSON) and is used only when that
/// key matches byte for byte, so the file name (a hash of the key) can
/// collide without harm. The cache is as trusted as the state root beside
/// it (root's, mode 0700); a process running from a memfd copy (unprivileged
/// fallback) has no stable identity and does not cache.
pub fn compile_cached(s: &LinuxSeccomp, root: &Path) -> Result<Program> {
    let Some(key) = cache_key(s) else {
        return compile(s);
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    let dir = root.join(CACHE_DIR);
    let file = dir.join(format!("{:016x}", h.finish()));
    if let Some(p) = std::fs::read(&file).ok().and_then(|b| decode(&b, &key)) {
        return Ok(p);
    }
    let p = compile(s)?;
    evict(&dir);
    if let Err(e) = store(&dir, &file, &key, &p) {
        crate::logging::debug(&format!("seccomp cache {}: {e} (not kept)", file.display()));
    }
    Ok(p)
}

/// Entries kept at most: engines use a handful of profiles, and entries of
/// an older berth binary never match again.
const CACHE_MAX: usize = 32;

/// On a miss (which costs a compile anyway), the oldest entries beyond
/// CACHE_MAX - 1 go, so the one about to be stored fits, and so do the
/// temporary files of berths killed while storing one.
fn evict(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, std::path::PathBuf)> = entries
        .flatten()
        .filter(|e| match tmp_owner(&e.file_name()) {
            Some(pid) => {
                let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None)
                    == Err(nix::errno::Errno::ESRCH);
                if gone {
                    let _ = std::fs::remove_file(e.path());
                }
                false
            }
            None => true,
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if files.len() < CACHE_MAX {
        return;
    }
    files.sort();
    for (_, f) in &files[..=files.len() - CACHE_MAX] {
        let _ = std::fs::remove_file(f);
    }
}

const CACHE_MAGIC: &[u8; 8] = b"berthsc1";

fn cache_key(s: &LinuxSeccomp) -> Option<Vec<u8>> {
    let (size, mtime) = crate::sealed_exe::binary_identity()?;
    let mut key = format!(
        "{} {size} {mtime} api{}\n",
        env!("CARGO_PKG_VERSION"),
        libseccomp::get_api()
    )
    .into_bytes();
    serde_json::to_writer(&mut key, s).ok()?;
    Some(key)
}

/// An entry: magic, key length (u32 LE), key, flags (u32 LE), BPF.
fn decode(b: &[u8], key: &[u8]) -> Option<Program> {
    let rest = b.strip_prefix(CACHE_MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let (stored, rest) = rest.split_at_checked(u32::from_le_bytes(*len) as usize)?;
    if stored != key {
        return None;
    }
    Program::from_bytes(rest)
}

/// The pid in the name of `store`'s temporary file, `.PID.tmp`.
fn tmp_owner(name: &std::ffi::OsStr) -> Option<i32> {
    let pid = name.to_str()?.strip_prefix('.')?.strip_suffix(".tmp")?;
    pid.parse().ok().filter(|&p| p > 0)
}

/// Writes an entry atomically (temporary file, then rename).
fn store(dir: &Path, file: &Path, key: &[u8], p: &Program) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    let len = u32::try_from(key.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut b = Vec::with_capacity(16 + key.len() + p.bpf.len());
    b.extend_from_slice(CACHE_MAGIC);
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(key);
    p.write_to(&mut b);
    f.write_all(&b)?;
    std::fs::rename(&tmp, file)
}

pub fn compile(s: &LinuxSeccomp) -> Result<Program> {
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err(Error::config(
            "linux.seccomp.listenerMetadata",
            "is set without linux.seccomp.listenerPath",
        ));
    }
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    let mut ctx =
        ScmpFilterContext::new(default).map_err(lib_err("linux.seccomp.defaultAction".into()))?;
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.architectures[{i}]");
        let name = serde_json::to_value(arch)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let a = ScmpArch::from_str(&name).map_err(|_| {
            Error::config(
                &field,
                format!("{name} is not an architecture libseccomp knows"),
            )
        })?;
        if !ctx.is_arch_present(a).unwrap_or(false) {
            ctx.add_arch(a).map_err(lib_err(field))?;
        }
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => FLAG_WAIT_KILLABLE_RECV,
        };
    }
    let mut notify = default == ScmpAction::Notify;
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        notify |= sc.action() == LinuxSeccompAction::ScmpActNotify;
        add_rules(&mut ctx, i, sc)?;
    }
    if notify {
        if s.listener_path().is_none() {
            return Err(Error::config(
                "linux.seccomp.listenerPath",
                "SCMP_ACT_NOTIFY needs a listener",
            ));
        }
        flags |= FLAG_NEW_LISTENER;
        // One thread here: TSYNC with a listener is allowed only as ESRCH.
        if flags & FLAG_TSYNC != 0 {
            flags |= FLAG_TSYNC_ESRCH;
        }
    }
    let bpf = export(&ctx)?;
    // The kernel takes at most BPF_MAXINSNS instructions; refused now, the
    // profile fails the create before the clone, naming itself.
    let insns = bpf.len() / 8;
    if insns > BPF_MAXINSNS {
        return Err(Error::config(
            "linux.seccomp",
            format!("compiles to {insns} BPF instructions, more than the kernel's {BPF_MAXINSNS}"),
        ));
    }
    Ok(Program { bpf, flags })
}

/// linux/bpf_common.h.
const BPF_MAXINSNS: usize = 4096;

fn add_rules(ctx: &mut ScmpFilterContext, i: usize, sc: &LinuxSyscall) -> Result<()> {
    let field = format!("linux.seccomp.syscalls[{i}]");
    if sc.names().is_empty() {
        return Err(Error::config(
            format!("{field}.names"),
            "must name at least one syscall",
        ));
    }
    let act = action(sc.action(), sc.errno_ret(), &format!("{field}.errnoRet"))?;
    let args = sc.args().as_deref().unwrap_or_default();
    let mut indexes = Vec::with_capacity(args.len());
    let mut conds = Vec::with_capacity(args.len());
    for (j, a) in args.iter().enumerate() {
        // A syscall has six arguments; a larger index cut to 32 bits could
        // name one of them.
        let index = u32::try_from(a.index())
            .ok()
            .filter(|&n| n < 6)
            .ok_or_else(|| {
                Error::config(
                    format!("{field}.args[{j}].index"),
                    format!("{} is not a syscall argument (0..=5)", a.index()),
                )
            })?;
        conds.push(match a.op() {
            LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpArgCompare::new(
                index,
                compare(a.op(), a.value()),
                a.value_two().unwrap_or(0),
            ),
            op => ScmpArgCompare::new(index, compare(op, a.value()), a.value()),
        });
        indexes.push(index);
    }
    // libseccomp cannot AND two conditions on one argument: such rules
    // become one rule per condition, as runc does.
    indexes.sort_unstable();
    let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
    for name in sc.names() {
        let Ok(nr) = ScmpSyscall::from_name(name) else {
            crate::logging::debug(&format!(
                "{field}: syscall {name} is unknown to libseccomp here; skipped"
            ));
            continue;
        };
        let r = if conds.is_empty() {
            ctx.add_rule(act, nr)
        } else if repeated {
            conds
                .iter()
                .try_for_each(|c| {
                    ctx.add_rule_conditional(act, nr, std::slice::from_ref(c))
                        .map(drop)
                })
                .map(|()| &mut *ctx)
        } else {
            ctx.add_rule_conditional(act, nr, &conds)
        };
        // A rule whose action is the default one is refused by libseccomp
        // (EACCES) and changes nothing: skip it.
        if let Err(e) = r
            && e.errno() != Some(libseccomp::error::SeccompErrno::EACCES)
        {
            return Err(Error::config(
                format!("{field}.names"),
                format!("{name}: {e}"),
            ));
        }
    }
    Ok(())
}

/// libseccomp 2.5 exports BPF only to a descriptor: a memfd, read back.
fn export(ctx: &ScmpFilterContext) -> Result<Vec<u8>> {
    let fd = nix::sys::memfd::memfd_create(
        c"berth-seccomp",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .map_err(|e| Error::sys("memfd_create for the seccomp filter", e))?;
    let mut f = std::fs::File::from(fd);
    ctx.export_bpf(&f)
        .map_err(|e| Error::Init(format!("export the seccomp filter: {e}")))?;
    let mut bpf = Vec::new();
    f.rewind()
        .and_then(|_| f.read_to_end(&mut bpf))
        .map_err(|e| Error::path("read", "the seccomp filter", e))?;
    Ok(bpf)
}

/// Installs the filter on this thread; returns the notify fd when the
/// filter has a listener.
pub fn load(p: &Program) -> Result<Option<OwnedFd>> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const u8,
    }
    let prog = SockFprog {
        // compile and decode keep it at most BPF_MAXINSNS: never cut.
        len: (p.bpf.len() / 8) as u16,
        filter: p.bpf.as_ptr(),
    };
    const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
    // SAFETY: seccomp reads `len` sock_filter instructions (8 bytes each)
    // from a buffer that outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            p.flags,
            &prog as *const SockFprog,
        )
    };
    if r < 0 {
        return Err(Error::sys(
            format!("linux.seccomp: load the filter (flags {:#x})", p.flags),
            nix::errno::Errno::last(),
        ));
    }
    if p.notifies() {
        // SAFETY: with NEW_LISTENER, seccomp returns a new fd we own.
        return Ok(Some(unsafe { OwnedFd::from_raw_fd(r as i32) }));
    }
    Ok(None)
}

/// Hands the notify fd to the profile's listener, with the container's
/// state, in the message runc sends: {"ociVersion", "fds": ["seccompFd"],
/// "pid", "metadata", "state"} plus the fd as SCM_RIGHTS.
pub fn send_to_listener(
    path: Option<&Path>,
    metadata: Option<&str>,
    state: serde_json::Value,
    pid: i32,
    fd: OwnedFd,
) -> Result<()> {
    let path = path.ok_or_else(|| {
        Error::config(
            "linux.seccomp.listenerPath",
            "is required for SCMP_ACT_NOTIFY",
        )
    })?;
    let sock = std::os::unix::net::UnixStream::connect(path)
        .map_err(|e| Error::path("connect to the seccomp listener", path, e))?;
    let msg = serde_json::json!({
        "ociVersion": crate::version::SPEC,
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": metadata.unwrap_or_default(),
        "state": state,
    });
    crate::console::send_fd(&sock, std::os::fd::AsFd::as_fd(&fd), &msg.to_string())
}

/// Whether this kernel accepts a filter flag: seccomp(2) with the flag and
/// no program fails with EFAULT when it knows the flag, EINVAL when not.
pub fn flag_supported(flag: LinuxSeccompFilterFlag) -> bool {
    let bits = match flag {
        LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FLAG_TSYNC,
        LinuxSeccompFilterFlag::SeccompFilterFlagLog => FLAG_LOG,
        LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FLAG_SPEC_ALLOW,
        LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
            FLAG_WAIT_KILLABLE_RECV | FLAG_NEW_LISTENER
        }
    };
    // SAFETY: with a null program the kernel validates the flags and then
    // fails to read the program; nothing is installed.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, 1, bits, std::ptr::null::<u8>()) };
    r < 0 && nix::errno::Errno::last() == nix::errno::Errno::EFAULT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(errno: u32) -> LinuxSeccomp {
        serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]
        }))
        .unwrap()
    }

    #[test]
    fn cached_filters_are_the_compiled_ones() {
        let root = std::env::temp_dir().join(format!("berth-sc-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let fresh = compile(&profile(1)).unwrap();
        let first = compile_cached(&profile(1), &root).unwrap();
        let entries: Vec<_> = std::fs::read_dir(root.join(CACHE_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        let cached = compile_cached(&profile(1), &root).unwrap();
        assert_eq!(
            (first.bpf.as_slice(), first.flags),
            (fresh.bpf.as_slice(), fresh.flags)
        );
        assert_eq!(cached.bpf, fresh.bpf);
        // Another profile gets its own filter, not the cached one.
        let other = compile_cached(&profile(2), &root).unwrap();
        assert_ne!(other.bpf, fresh.bpf);
        // A damaged entry is compiled again and replaced.
        std::fs::write(&entries[0], b"berthsc1garbage").unwrap();
        assert_eq!(compile_cached(&profile(1), &root).unwrap().bpf, fresh.bpf);
        assert!(
            decode(
                &std::fs::read(&entries[0]).unwrap(),
                &cache_key(&profile(1)).unwrap()
            )
            .is_some()
        );
        // An entry is used only for its own key.
        let entry = std::fs::read(&entries[0]).unwrap();
        assert!(decode(&entry, &cache_key(&profile(2)).unwrap()).is_none());
        // A miss removes the temporary file of a berth killed while
        // storing (no such pid), and leaves a live one's alone.
        let cache = root.join(CACHE_DIR);
        let dead = cache.join(format!(".{}.tmp", i32::MAX));
        // (Not this process's own name, which the store below uses.)
        let live = cache.join(".1.tmp");
        std::fs::write(&dead, b"half").unwrap();
        std::fs::write(&live, b"half").unwrap();
        compile_cached(&profile(3), &root).unwrap();
        assert!(!dead.exists() && live.exists());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn refuses_what_the_spec_rules_out() {
        let err = |json: serde_json::Value| {
            compile(&serde_json::from_value(json).unwrap())
                .err()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5})),
            "linux.seccomp.defaultErrnoRet: 5 is set, but SCMP_ACT_ALLOW returns no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"
        );
        assert!(
            err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 3}]}))
            .starts_with("linux.seccomp.syscalls[0].errnoRet: 3 is set, but SCMP_ACT_KILL")
        );
        assert_eq!(
            err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]})),
            "linux.seccomp.syscalls[0].names: must name at least one syscall"
        );
        assert_eq!(
            err(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "m"})),
            "linux.seccomp.listenerMetadata: is set without linux.seccomp.listenerPath"
        );
        let trace = serde_json::json!({"defaultAction": "SCMP_ACT_TRACE", "defaultErrnoRet": 1});
        assert!(compile(&serde_json::from_value(trace).unwrap()).is_ok());
    }

    #[test]
    fn out_of_range_values_are_refused_not_cut() {
        let e = compile(&profile(65536)).err().unwrap().to_string();
        assert_eq!(
            e,
            "linux.seccomp.syscalls[0].errnoRet: 65536 is out of range (0..=65535)"
        );
        let mut p = serde_json::to_value(profile(1)).unwrap();
        p["syscalls"][0]["args"] =
            serde_json::json!([{"index": 4294967296u64, "value": 1, "op": "SCMP_CMP_EQ"}]);
        let e = compile(&serde_json::from_value(p).unwrap()).err().unwrap();
        assert_eq!(
            e.to_string(),
            "linux.seccomp.syscalls[0].args[0].index: 4294967296 is not a syscall argument (0..=5)"
        );
    }

    #[test]
    fn filters_longer_than_the_kernel_takes_are_refused() {
        let mut p = serde_json::to_value(profile(1)).unwrap();
        // Two instructions for each 64-bit value.
        p["syscalls"] = (0..2500u64)
            .map(|n| {
                let n = n << 32 | n;
                serde_json::json!({"names": ["read"], "action": "SCMP_ACT_ERRNO",
                    "args": [{"index": 0, "value": n, "op": "SCMP_CMP_EQ"}]})
            })
            .collect();
        let e = compile(&serde_json::from_value(p).unwrap()).err().unwrap();
        let e = e.to_string();
        assert!(e.starts_with("linux.seccomp: compiles to "), "{e}");
        assert!(
            e.ends_with(" BPF instructions, more than the kernel's 4096"),
            "{e}"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let dir = std::env::temp_dir().join(format!("berth-sc-evict-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..CACHE_MAX + 5 {
            std::fs::write(dir.join(format!("{i:04}")), b"x").unwrap();
        }
        evict(&dir);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), CACHE_MAX - 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
