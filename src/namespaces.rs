//! Which namespaces the container gets and how its init enters them.
//!
//! Fast path (most containers): every namespace is new, or joined ones are
//! owned by the host's user namespace and no new user namespace is asked
//! for. Then one clone() with all CLONE_NEW* flags makes the init directly.
//!
//! General path: a user, pid or time namespace is joined by path, or a new
//! user namespace must own namespaces joined after it, or a new time
//! namespace needs its offsets before anyone enters it. Then the clone gets
//! no namespace flags; the child joins (user first), unshares the rest, and
//! forks the real init so that pid and time namespaces apply to it.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::{CloneFlags, setns, unshare};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Spec};

use crate::error::{Error, PathContext, Result, SysContext};

#[derive(Debug)]
pub struct Plan {
    /// Namespaces created by the clone itself (fast path).
    pub clone_flags: CloneFlags,
    /// Namespaces joined by path, in the order they must be entered.
    pub joins: Vec<(LinuxNamespaceType, PathBuf)>,
    /// Namespaces created with unshare after the joins (general path).
    pub unshare_flags: CloneFlags,
    /// The init must be forked once more (general path with pid or time).
    pub fork_init: bool,
    /// A new user namespace whose maps the parent writes.
    pub new_user: bool,
    /// A new cgroup namespace, unshared by the init once in its cgroup.
    pub new_cgroup: bool,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            clone_flags: CloneFlags::empty(),
            joins: Vec::new(),
            unshare_flags: CloneFlags::empty(),
            fork_init: false,
            new_user: false,
            new_cgroup: false,
        }
    }
}

pub fn flag(t: LinuxNamespaceType) -> CloneFlags {
    CloneFlags::from_bits_retain(t as libc::c_int)
}

/// The order joins happen in: user first (it grants the rights for the
/// others), mount last (its paths are resolved before we leave the host's
/// mount namespace).
fn join_rank(t: LinuxNamespaceType) -> u8 {
    match t {
        LinuxNamespaceType::User => 0,
        LinuxNamespaceType::Mount => 9,
        _ => 5,
    }
}

pub fn plan(spec: &Spec) -> Plan {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut new = CloneFlags::empty();
    let mut joins = Vec::new();
    for ns in namespaces {
        match ns.path() {
            Some(p) => joins.push((ns.typ(), p.clone())),
            None => new |= flag(ns.typ()),
        }
    }
    joins.sort_by_key(|(t, _)| join_rank(*t));
    let new_user = new.contains(CloneFlags::CLONE_NEWUSER);
    let joins_special = joins.iter().any(|(t, _)| {
        matches!(
            t,
            LinuxNamespaceType::User | LinuxNamespaceType::Pid | LinuxNamespaceType::Time
        )
    });
    let new_time = new.contains(flag(LinuxNamespaceType::Time));
    let general = joins_special || new_time || (new_user && !joins.is_empty());
    // A cgroup namespace is rooted at the cgroup its creator is in, so it is
    // made only once the init sits in the container's cgroup.
    let new_cgroup = new.contains(CloneFlags::CLONE_NEWCGROUP);
    new -= CloneFlags::CLONE_NEWCGROUP;
    if general {
        let fork_init = new.contains(CloneFlags::CLONE_NEWPID)
            || new_time
            || joins.iter().any(|(t, _)| *t == LinuxNamespaceType::Pid);
        Plan {
            unshare_flags: new,
            joins,
            fork_init,
            new_user,
            new_cgroup,
            ..Plan::default()
        }
    } else {
        Plan {
            clone_flags: new,
            joins,
            new_user,
            new_cgroup,
            ..Plan::default()
        }
    }
}

/// Opens every namespace to join and checks it is a namespace of the type
/// the config names. Done by the parent before the clone so a bad path
/// fails the create early, naming its field.
pub fn open_joins(plan: &Plan, spec: &Spec) -> Result<Vec<(LinuxNamespaceType, File)>> {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default();
    plan.joins
        .iter()
        .map(|(t, p)| {
            let i = namespaces.iter().position(|n| n.typ() == *t).unwrap_or(0);
            let field = format!("linux.namespaces[{i}].path");
            let not_ns = || Error::config(&field, format!("{} is not a namespace file", p.display()));
            let f = open_ns_file(p)
                .map_err(|e| Error::config(&field, format!("open {}: {e}", p.display())))?
                .ok_or_else(not_ns)?;
            match ns_type(&f) {
                Some(got) if got == *t => Ok((*t, f)),
                Some(got) => Err(Error::config(
                    field,
                    format!(
                        "{} is a namespace of type {}, not {}",
                        p.display(),
                        spec_name(got),
                        spec_name(*t)
                    ),
                )),
                None => Err(not_ns()),
            }
        })
        .collect()
}

/// Opens a namespace file named by the config without opening anything
/// else: the path is opened O_PATH (no open(2) side effect: a fifo that
/// would block, a terminal that would become ours, a device that acts on
/// open), checked to be on nsfs, and only then reopened for setns through
/// the descriptor. None when it is not a namespace file.
fn open_ns_file(path: &std::path::Path) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let o_path = File::options()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)?;
    let nsfs = nix::sys::statfs::fstatfs(&o_path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC);
    if !nsfs {
        return Ok(None);
    }
    let reopen = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&o_path));
    File::open(reopen).map(Some)
}

nix::ioctl_none!(ns_get_nstype, 0xb7, 0x3);

/// The type of the namespace `f` refers to (NS_GET_NSTYPE); None for a
/// file that is not a namespace.
fn ns_type(f: &File) -> Option<LinuxNamespaceType> {
    use std::os::fd::AsRawFd;
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the open fd;
    // any other file fails with ENOTTY.
    let bits = unsafe { ns_get_nstype(f.as_raw_fd()) }.ok()?;
    [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Time,
    ]
    .into_iter()
    .find(|t| *t as i32 == bits)
}

/// The type as config.json spells it ("network", not the kernel's "net").
fn spec_name(t: LinuxNamespaceType) -> String {
    serde_json::to_value(t)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| t.to_string())
}

/// Enters the opened namespaces, in plan order.
pub fn join(files: &[(LinuxNamespaceType, File)]) -> Result<()> {
    for (t, f) in files {
        setns(f.as_fd(), flag(*t)).sys(|| format!("setns into the {t} namespace"))?;
        if *t == LinuxNamespaceType::User {
            // Joined user namespace: become its root so later setns calls and
            // mounts are allowed.
            nix::unistd::setresgid(0.into(), 0.into(), 0.into())
                .sys(|| "setresgid 0 in the joined user namespace".into())?;
            nix::unistd::setresuid(0.into(), 0.into(), 0.into())
                .sys(|| "setresuid 0 in the joined user namespace".into())?;
        }
    }
    Ok(())
}

pub fn unshare_new(flags: CloneFlags) -> Result<()> {
    if flags.is_empty() {
        return Ok(());
    }
    unshare(flags).sys(|| format!("unshare {flags:?}"))
}

/// Renders uid_map/gid_map content: "inside outside count" lines.
pub fn map_text(maps: &[LinuxIdMapping]) -> String {
    let mut s = String::with_capacity(maps.len() * 24);
    for m in maps {
        s.push_str(&format!(
            "{} {} {}\n",
            m.container_id(),
            m.host_id(),
            m.size()
        ));
    }
    s
}

/// The config's uid and gid mappings (linux.uidMappings, gidMappings),
/// empty where absent.
pub fn id_maps(spec: &Spec) -> (&[LinuxIdMapping], &[LinuxIdMapping]) {
    let l = spec.linux().as_ref();
    (
        l.and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default(),
        l.and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default(),
    )
}

/// Writes the uid and gid maps of process `pid` (run by the parent).
pub fn write_id_maps(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    let euid = nix::unistd::geteuid();
    let egid = nix::unistd::getegid();
    for (name, maps, own, helper) in [
        ("uid_map", uid, euid.as_raw(), "newuidmap"),
        ("gid_map", gid, egid.as_raw(), "newgidmap"),
    ] {
        let path = format!("/proc/{pid}/{name}");
        if euid.is_root() {
            std::fs::write(&path, map_text(maps)).at("write", &path)?;
            continue;
        }
        // Unprivileged: the kernel lets a user map only itself, once; more
        // (subordinate ids from /etc/subuid, /etc/subgid) needs the setuid
        // helpers from uidmap.
        let only_self = matches!(maps, [m] if m.host_id() == own && m.size() == 1);
        if only_self {
            if name == "gid_map" {
                let sg = format!("/proc/{pid}/setgroups");
                std::fs::write(&sg, "deny").at("write", &sg)?;
            }
            std::fs::write(&path, map_text(maps)).at("write", &path)?;
        } else {
            run_map_helper(helper, pid, maps)?;
        }
    }
    Ok(())
}

fn run_map_helper(helper: &str, pid: i32, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd.output().map_err(|e| Error::path("run", helper, e))?;
    if !out.status.success() {
        return Err(Error::State(format!(
            "{helper} {pid}: {} (is the range in /etc/sub{}id?)",
            String::from_utf8_lossy(&out.stderr).trim(),
            if helper == "newuidmap" { "u" } else { "g" }
        )));
    }
    Ok(())
}

/// Writes the offsets of a time namespace just unshared, before any process
/// enters it.
pub fn write_time_offsets(spec: &Spec) -> Result<()> {
    let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    else {
        return Ok(());
    };
    let mut text = String::new();
    for (clock, off) in offsets {
        text.push_str(&format!(
            "{clock} {} {}\n",
            off.secs().unwrap_or(0),
            off.nanosecs().unwrap_or(0)
        ));
    }
    let path = "/proc/self/timens_offsets";
    std::fs::write(path, text).at("write", path)
}

/// Whether we are root of the host: uid 0 in the initial user namespace,
/// whose uid_map maps every id to itself. Root of another (podman runs a
/// rootless container's runtime in one) is an unprivileged user there: its
/// state lives under $XDG_RUNTIME_DIR and it asks its user's systemd.
pub fn host_root() -> bool {
    nix::unistd::geteuid().is_root() && in_initial_userns()
}

/// Whether we run in the initial user namespace (where device nodes can be
/// made). Unreadable (no /proc): taken as yes, as before this check.
pub fn in_initial_userns() -> bool {
    match std::fs::read_to_string("/proc/self/uid_map") {
        Ok(m) => identity_map(&m),
        Err(_) => true,
    }
}

fn identity_map(uid_map: &str) -> bool {
    uid_map.split_whitespace().eq(["0", "0", "4294967295"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(&format!(
            r#"{{"ociVersion":"1.2.0","root":{{"path":"rootfs"}},"linux":{{"namespaces":{json}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn identity_map_is_the_initial_namespace() {
        assert!(identity_map("         0          0 4294967295\n"));
        assert!(!identity_map("         0       1000          1\n         1     100000      65536\n"));
        assert!(!identity_map(""));
    }

    #[test]
    fn all_new_is_one_clone() {
        let p = plan(&spec(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"user"},{"type":"network"}]"#,
        ));
        assert!(
            p.clone_flags
                .contains(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWUSER)
        );
        assert!(p.unshare_flags.is_empty() && !p.fork_init && p.new_user);
    }

    #[test]
    fn joined_net_stays_on_fast_path() {
        let p = plan(&spec(
            r#"[{"type":"pid"},{"type":"mount"},{"type":"network","path":"/proc/1/ns/net"}]"#,
        ));
        assert!(p.clone_flags.contains(CloneFlags::CLONE_NEWPID));
        assert_eq!(p.joins.len(), 1);
        assert!(!p.fork_init);
    }

    #[test]
    fn joined_pid_or_user_with_joins_takes_general_path() {
        let p = plan(&spec(
            r#"[{"type":"mount","path":"/x/mnt"},{"type":"pid","path":"/x/pid"},{"type":"user","path":"/x/user"}]"#,
        ));
        assert!(p.clone_flags.is_empty() && p.fork_init);
        let order: Vec<_> = p.joins.iter().map(|(t, _)| *t).collect();
        assert_eq!(
            order,
            [
                LinuxNamespaceType::User,
                LinuxNamespaceType::Pid,
                LinuxNamespaceType::Mount
            ]
        );
        let p = plan(&spec(
            r#"[{"type":"user"},{"type":"network","path":"/x/net"}]"#,
        ));
        assert!(p.clone_flags.is_empty() && p.unshare_flags.contains(CloneFlags::CLONE_NEWUSER));
        assert!(!p.fork_init);
    }

    #[test]
    fn renders_maps() {
        let m: Vec<LinuxIdMapping> = serde_json::from_str(r#"[{"containerID":0,"hostID":1000,"size":1},{"containerID":1,"hostID":100000,"size":65536}]"#).unwrap();
        assert_eq!(map_text(&m), "0 1000 1\n1 100000 65536\n");
    }
}
