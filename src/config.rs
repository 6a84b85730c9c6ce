//! config.json: read once, parsed with oci-spec, and validated before
//! anything is created. Every error names the JSON path and the value.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, PathContext, Result};

pub fn load(bundle: &Path) -> Result<Spec> {
    let path = bundle.join("config.json");
    let bytes = std::fs::read(&path).at("read", &path)?;
    parse(&bytes)
}

pub fn parse(bytes: &[u8]) -> Result<Spec> {
    let spec = match crate::jsonpath::parse(bytes) {
        Ok(spec) => spec,
        Err((path, _)) if is_capability(&path) => without_unknown_capabilities(bytes)?,
        Err((path, _)) if path.starts_with("process.scheduler.flags") => {
            with_spec_scheduler_flags(bytes)?
        }
        Err((path, e)) => return Err(field_error(path, e)),
    };
    required(bytes)?;
    refuse_nul(bytes, "")?;
    Ok(spec)
}

/// A string with a NUL byte would reach the kernel cut short at it (a
/// path, a hostname), or be dropped (an env entry): anywhere in the
/// document, it is refused, naming the field. JSON can only spell NUL as
/// \u0000, so only a document with that escape is walked (a few microseconds
/// otherwise). `prefix` names the document's place in config.json ("process"
/// for exec's process).
pub fn refuse_nul(bytes: &[u8], prefix: &str) -> Result<()> {
    let escaped_nul = bytes
        .iter()
        .enumerate()
        .any(|(i, b)| *b == b'\\' && bytes[i + 1..].starts_with(b"u0000"));
    if !escaped_nul {
        return Ok(());
    }
    let doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::config("config.json", e.to_string()))?;
    match nul_in(&doc, prefix.to_string()) {
        Some((field, value)) => Err(Error::config(
            if field.is_empty() { "config.json".into() } else { field },
            format!("{value:?} contains a NUL byte"),
        )),
        None => Ok(()),
    }
}

/// The path of the first string (or key) with a NUL in `v`, and that string.
fn nul_in(v: &serde_json::Value, path: String) -> Option<(String, String)> {
    match v {
        serde_json::Value::String(s) if s.contains('\0') => Some((path, s.clone())),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .find_map(|(i, e)| nul_in(e, format!("{path}[{i}]"))),
        serde_json::Value::Object(o) => o.iter().find_map(|(k, e)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                // Escaped here as the value is: Error's own escaping would
                // spell the NUL \u{0}.
                let field = format!("{}{}", &field[..field.len() - k.len()], k.escape_debug());
                return Some((field, k.clone()));
            }
            nul_in(e, field)
        }),
        _ => None,
    }
}

/// Fields the spec marks REQUIRED that oci-spec fills with a default when
/// they are missing (a device rule without `allow` would read as a deny, an
/// id mapping without `size` as an empty one): their presence is checked
/// in the raw document.
const REQUIRED: &[(&str, &[&str])] = &[
    ("uidMappings", &["containerID", "hostID", "size"]),
    ("gidMappings", &["containerID", "hostID", "size"]),
    ("devices", &["path", "major", "minor"]),
    ("resources.devices", &["allow"]),
    ("resources.blockIO.weightDevice", &["major", "minor"]),
    (
        "resources.blockIO.throttleReadBpsDevice",
        &["major", "minor", "rate"],
    ),
    (
        "resources.blockIO.throttleWriteBpsDevice",
        &["major", "minor", "rate"],
    ),
    (
        "resources.blockIO.throttleReadIOPSDevice",
        &["major", "minor", "rate"],
    ),
    (
        "resources.blockIO.throttleWriteIOPSDevice",
        &["major", "minor", "rate"],
    ),
    ("resources.hugepageLimits", &["pageSize", "limit"]),
    ("resources.network.priorities", &["name", "priority"]),
];

fn field_error(path: String, e: serde_json::Error) -> Error {
    let field = if path == "." {
        "config.json".to_string()
    } else {
        path
    };
    Error::config(field, e.to_string())
}

const CAPABILITY_SETS: [&str; 5] = [
    "bounding",
    "effective",
    "inheritable",
    "permitted",
    "ambient",
];

/// Whether a parse error is about a capability set (oci-spec converts a
/// set's names once it has read the whole list, so the error comes after
/// the list, not at the entry).
fn is_capability(path: &str) -> bool {
    path.strip_prefix("process.capabilities.")
        .map(|rest| rest.split_once('[').map_or(rest, |(set, _)| set))
        .is_some_and(|set| CAPABILITY_SETS.contains(&set))
}

/// config.md: a capability that cannot be mapped to the kernel's is logged
/// as a warning, and the container still runs. Only on this (rare) path is
/// the document parsed twice.
fn without_unknown_capabilities(bytes: &[u8]) -> Result<Spec> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::config("config.json", e.to_string()))?;
    if let Some(caps) = doc
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for set in CAPABILITY_SETS {
            let Some(list) = caps.get_mut(set).and_then(|l| l.as_array_mut()) else {
                continue;
            };
            list.retain(|c| {
                let known = serde_json::from_value::<oci_spec::runtime::Capability>(c.clone()).is_ok();
                if !known {
                    crate::logging::warn(&format!(
                        "process.capabilities.{set}: {c} is not a capability berth can map to the kernel's: ignored"
                    ));
                }
                known
            });
        }
    }
    let bytes =
        serde_json::to_vec(&doc).map_err(|e| Error::config("config.json", e.to_string()))?;
    crate::jsonpath::parse(&bytes).map_err(|(path, e)| field_error(path, e))
}

/// process.scheduler.flags as the spec names them, which oci-spec spells
/// otherwise for two of them (`scheduling::spec_flag_names`). Only on this
/// path, a refused flag name, is the document parsed twice.
fn with_spec_scheduler_flags(bytes: &[u8]) -> Result<Spec> {
    let mut doc: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Error::config("config.json", e.to_string()))?;
    if let Some(p) = doc.get_mut("process") {
        crate::process::scheduling::spec_flag_names(p);
    }
    let bytes =
        serde_json::to_vec(&doc).map_err(|e| Error::config("config.json", e.to_string()))?;
    crate::jsonpath::parse(&bytes).map_err(|(path, e)| field_error(path, e))
}

/// config.md's REQUIRED fields that oci-spec fills in with a default when
/// they are absent (a missing uid would run the process as root). One more
/// pass over the bytes, reading nothing but these.
fn required(bytes: &[u8]) -> Result<()> {
    use serde::Deserialize;
    use serde::de::IgnoredAny;
    type Field = Option<IgnoredAny>;
    #[derive(Deserialize)]
    struct Doc {
        root: Option<Root>,
        process: Option<Process>,
        linux: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    struct Root {
        path: Field,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Process {
        user: Option<User>,
        rlimits: Option<Vec<Rlimit>>,
        console_size: Option<ConsoleSize>,
        io_priority: Option<IoPriority>,
    }
    #[derive(Deserialize)]
    struct User {
        uid: Field,
        gid: Field,
    }
    #[derive(Deserialize)]
    struct Rlimit {
        soft: Field,
        hard: Field,
    }
    #[derive(Deserialize)]
    struct ConsoleSize {
        height: Field,
        width: Field,
    }
    #[derive(Deserialize)]
    struct IoPriority {
        class: Field,
        priority: Field,
    }
    // The typed parse has accepted the document: this one cannot fail.
    let Ok(doc) = serde_json::from_slice::<Doc>(bytes) else {
        return Ok(());
    };
    let missing = |present: bool, field: String| {
        if present {
            Ok(())
        } else {
            Err(Error::config(field, "is required"))
        }
    };
    if let Some(r) = &doc.root {
        missing(r.path.is_some(), "root.path".into())?;
    }
    if let Some(linux) = &doc.linux {
        required_in_lists(linux)?;
    }
    let Some(p) = &doc.process else {
        return Ok(());
    };
    if let Some(u) = &p.user {
        missing(u.uid.is_some(), "process.user.uid".into())?;
        missing(u.gid.is_some(), "process.user.gid".into())?;
    }
    for (i, r) in p.rlimits.iter().flatten().enumerate() {
        missing(r.soft.is_some(), format!("process.rlimits[{i}].soft"))?;
        missing(r.hard.is_some(), format!("process.rlimits[{i}].hard"))?;
    }
    if let Some(c) = &p.console_size {
        missing(c.height.is_some(), "process.consoleSize.height".into())?;
        missing(c.width.is_some(), "process.consoleSize.width".into())?;
    }
    if let Some(io) = &p.io_priority {
        missing(io.class.is_some(), "process.ioPriority.class".into())?;
        missing(io.priority.is_some(), "process.ioPriority.priority".into())?;
    }
    Ok(())
}

/// The REQUIRED members of the entries of linux's lists.
fn required_in_lists(linux: &serde_json::Value) -> Result<()> {
    for (list, keys) in REQUIRED {
        let pointer = format!("/{}", list.replace('.', "/"));
        let Some(items) = linux.pointer(&pointer).and_then(|v| v.as_array()) else {
            continue;
        };
        for (i, item) in items.iter().enumerate() {
            // A fifo has no device numbers.
            let fifo = *list == "devices" && item.get("type").and_then(|t| t.as_str()) == Some("p");
            for key in keys
                .iter()
                .filter(|k| !(fifo && matches!(**k, "major" | "minor")))
            {
                if item.get(key).is_none() {
                    return Err(Error::config(
                        format!("linux.{list}[{i}].{key}"),
                        "is required",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// SemVer 2.0.0: MAJOR.MINOR.PATCH, numbers without leading zeros, then an
/// optional -pre-release and +build, dot-separated identifiers of
/// [0-9A-Za-z-] (numeric pre-release ones without leading zeros).
fn is_semver(v: &str) -> bool {
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let number = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let core_ok = {
        let parts: Vec<&str> = core.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| number(p))
    };
    let pre_ok = pre.is_none_or(|p| {
        p.split('.')
            .all(|id| ident(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || number(id)))
    });
    let build_ok = build.is_none_or(|b| b.split('.').all(ident));
    core_ok && pre_ok && build_ok
}

/// The rootfs directory named by root.path, relative to the bundle.
pub fn rootfs(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::config("root", "is required"))?;
    let p = root.path();
    let full = if p.is_absolute() {
        p.clone()
    } else {
        bundle.join(p)
    };
    let canon = full
        .canonicalize()
        .map_err(|e| Error::config("root.path", format!("{}: {e}", full.display())))?;
    if !canon.is_dir() {
        return Err(Error::config(
            "root.path",
            format!("{} is not a directory", canon.display()),
        ));
    }
    Ok(canon)
}

/// Sysctls that a kernel namespace makes per-container, with the namespace
/// they need.
fn sysctl_namespace(key: &str) -> Option<LinuxNamespaceType> {
    const IPC: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    if IPC.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        Some(LinuxNamespaceType::Uts)
    } else if key.starts_with("user.") {
        // The ucount limits (user.max_*) are per user namespace.
        Some(LinuxNamespaceType::User)
    } else {
        None
    }
}

pub fn validate(spec: &Spec) -> Result<()> {
    let v = spec.version();
    if !is_semver(v) {
        return Err(Error::config(
            "ociVersion",
            format!("{v:?} is not a SemVer 2.0.0 version"),
        ));
    }
    if !v.starts_with("1.") {
        return Err(Error::config(
            "ociVersion",
            format!("{v:?} is not a supported version (1.x)"),
        ));
    }
    if spec
        .annotations()
        .as_ref()
        .is_some_and(|a| a.contains_key(""))
    {
        return Err(Error::config("annotations", "a key is the empty string"));
    }
    if let Some(h) = spec.hooks() {
        validate_hooks(h)?;
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        // Deprecated, but still defined: relative to "/" (which is how the
        // mount code reads every destination).
        if !m.destination().is_absolute() {
            crate::logging::warn(&format!(
                "mounts[{i}].destination: {} is relative (deprecated): taken as /{0}",
                m.destination().display()
            ));
        }
    }
    // process is optional until start (runtime.md): a container without one
    // can be created, and start then fails.
    let Some(process) = spec.process().as_ref() else {
        return Ok(());
    };
    validate_process(process)?;
    validate_namespaces(spec)
}

/// The checks of a process alone: config.json's, and exec's (--process, or
/// the container's process with exec's flags).
pub fn validate_process(process: &oci_spec::runtime::Process) -> Result<()> {
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config(
            "process.args",
            "must name at least the program to run",
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(Error::config(
            "process.cwd",
            format!("{} must be an absolute path", process.cwd().display()),
        ));
    }
    if let Some(r) = process.rlimits() {
        crate::process::rlimits::validate(r)?;
    }
    crate::console::size(process)?;
    if let Some(s) = process.scheduler() {
        crate::process::scheduling::validate(s)?;
    }
    if let Some(adj) = process.oom_score_adj()
        && !(-1000..=1000).contains(&adj)
    {
        return Err(Error::config(
            "process.oomScoreAdj",
            format!("{adj} is outside -1000..1000"),
        ));
    }
    validate_user(process.user())
}

/// The kernel's largest id: what is above reads as -1 to setresuid and
/// setresgid, which then leave the id unchanged (root).
const MAX_ID: u32 = i32::MAX as u32;

/// NGROUPS_MAX of the kernel: setgroups refuses longer lists.
const MAX_GROUPS: usize = 65536;

fn validate_user(user: &oci_spec::runtime::User) -> Result<()> {
    for (field, id) in [("uid", user.uid()), ("gid", user.gid())] {
        if id > MAX_ID {
            return Err(Error::config(
                format!("process.user.{field}"),
                format!("{id} is outside 0..{MAX_ID}"),
            ));
        }
    }
    let gids = user.additional_gids().as_deref().unwrap_or_default();
    if gids.len() > MAX_GROUPS {
        return Err(Error::config(
            "process.user.additionalGids",
            format!(
                "{} groups: more than the kernel's {MAX_GROUPS} (NGROUPS_MAX)",
                gids.len()
            ),
        ));
    }
    if let Some(i) = gids.iter().position(|g| *g > MAX_ID) {
        return Err(Error::config(
            format!("process.user.additionalGids[{i}]"),
            format!("{} is outside 0..{MAX_ID}", gids[i]),
        ));
    }
    Ok(())
}

/// Namespaces, and what needs one.
fn validate_namespaces(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let namespaces = linux
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default();
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.iter().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(Error::config(
                format!("linux.namespaces[{i}].type"),
                format!("{} is listed twice", ns.typ()),
            ));
        }
        if let Some(p) = ns.path()
            && !p.is_absolute()
        {
            return Err(Error::config(
                format!("linux.namespaces[{i}].path"),
                format!("{} must be an absolute path", p.display()),
            ));
        }
    }
    let new = |t| {
        namespaces
            .iter()
            .any(|n| n.typ() == t && n.path().is_none())
    };
    let has = |t| namespaces.iter().any(|n| n.typ() == t);
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let idmap = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap");
        let bind = m
            .options()
            .iter()
            .flatten()
            .any(|o| o == "bind" || o == "rbind");
        if (idmap || m.uid_mappings().is_some() || m.gid_mappings().is_some()) && !bind {
            return Err(Error::config(
                format!("mounts[{i}].options"),
                "berth idmaps bind mounts only (add bind or rbind)",
            ));
        }
        // config.md: without mappings of its own, an idmapped mount takes
        // the container's user namespace; with none, it is an error.
        if idmap
            && m.uid_mappings().is_none()
            && m.gid_mappings().is_none()
            && !has(LinuxNamespaceType::User)
        {
            return Err(Error::config(
                format!("mounts[{i}].options"),
                "idmap needs uidMappings and gidMappings, or a user namespace (linux.namespaces)",
            ));
        }
    }
    if !has(LinuxNamespaceType::Mount) {
        without_mount_ns(spec)?;
    }
    // Naming the host's own uts namespace would rename the host.
    for (field, value) in [
        ("hostname", spec.hostname()),
        ("domainname", spec.domainname()),
    ] {
        if value.as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
            return Err(Error::config(
                field,
                "needs a uts namespace (linux.namespaces)",
            ));
        }
    }
    let (uid_maps, gid_maps) = crate::namespaces::id_maps(spec);
    if new(LinuxNamespaceType::User) {
        if uid_maps.is_empty() {
            return Err(Error::config(
                "linux.uidMappings",
                "a new user namespace needs uid mappings",
            ));
        }
        if gid_maps.is_empty() {
            return Err(Error::config(
                "linux.gidMappings",
                "a new user namespace needs gid mappings",
            ));
        }
    } else if !uid_maps.is_empty() || !gid_maps.is_empty() {
        return Err(Error::config(
            "linux.uidMappings",
            "id mappings need a new user namespace (linux.namespaces)",
        ));
    }
    if linux
        .and_then(|l| l.time_offsets().as_ref())
        .is_some_and(|o| !o.is_empty())
        && !new(LinuxNamespaceType::Time)
    {
        return Err(Error::config(
            "linux.timeOffsets",
            "time offsets need a new time namespace",
        ));
    }
    for key in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flat_map(|s| s.keys())
    {
        // As runc: the names are set by hostname and domainname, and only
        // in a UTS namespace of the container's own making.
        let field = match key.as_str() {
            "kernel.hostname" => Some(("hostname", spec.hostname())),
            "kernel.domainname" => Some(("domainname", spec.domainname())),
            _ => None,
        };
        if let Some((name, value)) = field {
            if value.as_ref().is_some_and(|v| !v.is_empty()) {
                return Err(Error::config(
                    format!("linux.sysctl.{key}"),
                    format!("conflicts with {name}, which sets it"),
                ));
            }
            if !new(LinuxNamespaceType::Uts) {
                return Err(Error::config(
                    format!("linux.sysctl.{key}"),
                    "needs a new uts namespace (linux.namespaces)",
                ));
            }
        }
        match sysctl_namespace(key) {
            Some(t) if new(t) || joins_another(namespaces, t) => {}
            Some(t) => {
                return Err(Error::config(
                    format!("linux.sysctl.{key}"),
                    format!(
                        "needs a {t} namespace of the container's own (new, or joined by a path that is not the host's)"
                    ),
                ));
            }
            None => {
                return Err(Error::config(
                    format!("linux.sysctl.{key}"),
                    "is not namespaced: it would change the host",
                ));
            }
        }
    }
    if let Some(l) = linux {
        validate_linux(l)?;
    }
    crate::netdev::validate(
        spec,
        new(LinuxNamespaceType::Network) || joins_another(namespaces, LinuxNamespaceType::Network),
    )?;
    crate::rootfs::propagation_flags(spec)?;
    crate::lsm::validate(spec)
}

/// Without a mount namespace the container shares the host's mounts and
/// its root is only a chroot, which a process with CAP_SYS_CHROOT leaves.
/// Anything that would be mounted (or made in the image) for it would then
/// be made in the host's namespace and protect nothing, so it is refused,
/// as runc refuses masked and read-only paths without one.
fn without_mount_ns(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let nonempty = |v: Option<&Vec<String>>| v.is_some_and(|v| !v.is_empty());
    let needs = [
        ("mounts", spec.mounts().as_ref().is_some_and(|m| !m.is_empty())),
        (
            "linux.maskedPaths",
            nonempty(linux.and_then(|l| l.masked_paths().as_ref())),
        ),
        (
            "linux.readonlyPaths",
            nonempty(linux.and_then(|l| l.readonly_paths().as_ref())),
        ),
        (
            "linux.devices",
            linux
                .and_then(|l| l.devices().as_ref())
                .is_some_and(|d| !d.is_empty()),
        ),
        (
            "linux.rootfsPropagation",
            linux
                .and_then(|l| l.rootfs_propagation().as_deref())
                .is_some_and(|p| !p.is_empty()),
        ),
        (
            "root.readonly",
            spec.root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
        ),
        (
            "process.terminal",
            spec.process()
                .as_ref()
                .and_then(|p| p.terminal())
                .unwrap_or(false),
        ),
    ];
    match needs.iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(Error::config(
            *field,
            "needs a mount namespace (linux.namespaces): without one the root is only a chroot in the host's mounts",
        )),
        None => Ok(()),
    }
}

fn validate_linux(linux: &oci_spec::runtime::Linux) -> Result<()> {
    for (name, paths) in [
        ("maskedPaths", linux.masked_paths()),
        ("readonlyPaths", linux.readonly_paths()),
    ] {
        for (i, p) in paths.iter().flatten().enumerate() {
            if !p.starts_with('/') {
                return Err(Error::config(
                    format!("linux.{name}[{i}]"),
                    format!("{p} must be an absolute path"),
                ));
            }
        }
    }
    if linux.intel_rdt().is_some() {
        // berth has no Intel RDT support; without a resctrl mount the spec
        // asks for an error anyway.
        let reason = if resctrl_mounted() {
            "is not supported by berth"
        } else {
            "is set, but no resctrl filesystem is mounted on this host"
        };
        return Err(Error::config("linux.intelRdt", reason));
    }
    let devices = linux.devices().as_deref().unwrap_or_default();
    for (i, d) in devices.iter().enumerate() {
        // mknod(2) takes the number as the kernel's 32-bit dev_t: 12 bits
        // of major, 20 of minor. Bits beyond would be cut off, silently
        // naming another device (1:1 is /dev/mem).
        for (name, v, max) in [("major", d.major(), 0xfff), ("minor", d.minor(), 0xf_ffff)] {
            if !(0..=max).contains(&v) {
                return Err(Error::config(
                    format!("linux.devices[{i}].{name}"),
                    format!("{v} is outside 0..{max}"),
                ));
            }
        }
        let same = |o: &&oci_spec::runtime::LinuxDevice| {
            o.typ() != oci_spec::runtime::LinuxDeviceType::P
                && (o.typ(), o.major(), o.minor()) == (d.typ(), d.major(), d.minor())
        };
        if let Some(j) = devices[..i].iter().position(|o| same(&o)) {
            crate::logging::warn(&format!(
                "linux.devices[{i}]: {} {}:{} is also linux.devices[{j}] (the spec advises one entry per device)",
                d.typ().as_str(),
                d.major(),
                d.minor()
            ));
        }
    }
    if let Some(r) = linux.resources() {
        crate::cgroups::validate_resources(r)?;
    }
    if let Some(mp) = linux.memory_policy() {
        crate::process::mempolicy::parse(mp)?;
    }
    Ok(())
}

fn resctrl_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .is_ok_and(|m| m.lines().any(|l| l.contains(" - resctrl ")))
}

/// Every hook's path is absolute, and a timeout is above zero.
fn validate_hooks(h: &oci_spec::runtime::Hooks) -> Result<()> {
    let kinds = [
        ("prestart", h.prestart()),
        ("createRuntime", h.create_runtime()),
        ("createContainer", h.create_container()),
        ("startContainer", h.start_container()),
        ("poststart", h.poststart()),
        ("poststop", h.poststop()),
    ];
    for (kind, hooks) in kinds {
        for (i, hook) in hooks.iter().flatten().enumerate() {
            if !hook.path().is_absolute() {
                return Err(Error::config(
                    format!("hooks.{kind}[{i}].path"),
                    format!("{} must be an absolute path", hook.path().display()),
                ));
            }
            if let Some(t) = hook.timeout()
                && t <= 0
            {
                return Err(Error::config(
                    format!("hooks.{kind}[{i}].timeout"),
                    format!("{t} must be greater than zero"),
                ));
            }
        }
    }
    Ok(())
}

/// Whether the config joins a namespace of type `t` by a path that is not
/// the runtime's own (the host's): engines (podman) make the container's
/// network namespace first and join it, and its sysctls are the
/// container's.
fn joins_another(namespaces: &[oci_spec::runtime::LinuxNamespace], t: LinuxNamespaceType) -> bool {
    use std::os::unix::fs::MetadataExt;
    let name = match t {
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::Uts => "uts",
        _ => return false,
    };
    let Some(path) = namespaces
        .iter()
        .find(|n| n.typ() == t)
        .and_then(|n| n.path().as_ref())
    else {
        return false;
    };
    let id = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    // A path that cannot be read fails later, when it is opened to join.
    match (
        id(path),
        id(Path::new("/proc/self/ns").join(name).as_path()),
    ) {
        (Ok(theirs), Ok(ours)) => theirs != ours,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},"process":{"user":{"uid":0,"gid":0},"args":["true"],"cwd":"/"},"linux":{"namespaces":[{"type":"mount"},{"type":"pid"},{"type":"uts"}]}}"#;

    fn check(patch: impl FnOnce(&mut serde_json::Value)) -> Result<()> {
        let mut v: serde_json::Value = serde_json::from_str(BASE).unwrap();
        patch(&mut v);
        validate(&parse(v.to_string().as_bytes())?)
    }

    fn err(patch: impl FnOnce(&mut serde_json::Value)) -> String {
        check(patch).unwrap_err().to_string()
    }

    /// config.md's names of the scheduler flags, each read as the flag it
    /// names (oci-spec spells two of them otherwise, which still parse);
    /// SCHED_DEADLINE's times are checked, naming the field.
    #[test]
    fn scheduler_flags_and_deadline() {
        use oci_spec::runtime::LinuxSchedulerFlag::*;
        for (name, flag) in [
            ("SCHED_FLAG_RESET_ON_FORK", SchedResetOnFork),
            ("SCHED_RESET_ON_FORK", SchedResetOnFork),
            ("SCHED_FLAG_RECLAIM", SchedFlagReclaim),
            ("SCHED_FLAG_DL_OVERRUN", SchedFlagDLOverrun),
            ("SCHED_FLAG_KEEP_POLICY", SchedFlagKeepPolicy),
            ("SCHED_FLAG_KEEP_PARAMS", SchedFlagKeepParams),
            ("SCHED_FLAG_UTIL_CLAMP_MIN", SchedFlagUtilClampMin),
            ("SCHED_FLAG_UTIL_CLAMP_MAX", SchedFlagUtilClampMax),
        ] {
            let mut v: serde_json::Value = serde_json::from_str(BASE).unwrap();
            v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "flags": [name]});
            let spec = parse(v.to_string().as_bytes()).unwrap();
            let s = spec.process().as_ref().unwrap().scheduler().clone().unwrap();
            assert_eq!(s.flags().as_deref(), Some(&[flag][..]), "{name}");
        }
        assert!(
            err(|v| v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_NOSUCH"]}))
                .starts_with("process.scheduler.flags")
        );
        let dl = |runtime: u64, deadline: u64, period: u64| {
            err(|v| {
                v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_DEADLINE",
                    "runtime": runtime, "deadline": deadline, "period": period})
            })
        };
        assert_eq!(
            dl(0, 10, 10),
            "process.scheduler.runtime: 0: SCHED_DEADLINE needs a runtime of at least 1024 ns"
        );
        assert_eq!(
            dl(2000, 1500, 0),
            "process.scheduler.deadline: 1500: SCHED_DEADLINE needs a deadline no shorter than the runtime (2000)"
        );
        assert_eq!(
            dl(2000, 3000, 2500),
            "process.scheduler.period: 2500: SCHED_DEADLINE needs a period no shorter than the deadline (3000), or 0"
        );
        assert_eq!(
            dl(2000, 1 << 63, 0),
            "process.scheduler.deadline: 9223372036854775808 is 2^63 ns or more"
        );
        check(|v| {
            v["process"]["scheduler"] = serde_json::json!({"policy": "SCHED_DEADLINE",
                "runtime": 10000000, "deadline": 30000000, "period": 30000000})
        })
        .unwrap();
    }

    #[test]
    fn base_is_valid() {
        check(|_| {}).unwrap();
    }

    #[test]
    fn parse_errors_name_the_field() {
        let e = err(|v| v["process"]["user"]["uid"] = "x".into());
        assert!(e.starts_with("process.user.uid: invalid type"), "{e}");
        let e = err(|v| v["linux"]["namespaces"][1]["type"] = "pids".into());
        assert!(
            e.starts_with("linux.namespaces[1].type: unknown variant `pids`"),
            "{e}"
        );
        let e = parse(b"{").unwrap_err().to_string();
        assert!(e.starts_with("config.json: EOF"), "{e}");
    }

    #[test]
    fn required_fields_that_oci_spec_defaults_are_refused_when_missing() {
        assert_eq!(
            err(|v| v["linux"]["resources"] = serde_json::json!({"devices": [{"access": "rwm"}]})),
            "linux.resources.devices[0].allow: is required"
        );
        assert_eq!(
            err(|v| v["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 1000}])),
            "linux.uidMappings[0].size: is required"
        );
        assert_eq!(
            err(
                |v| v["linux"]["devices"] = serde_json::json!([{"path": "/dev/p", "type": "p"}, {"path": "/dev/x", "type": "c", "major": 1}])
            ),
            "linux.devices[1].minor: is required"
        );
        assert_eq!(
            err(
                |v| v["linux"]["resources"] = serde_json::json!({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}})
            ),
            "linux.resources.blockIO.throttleReadBpsDevice[0].rate: is required"
        );
    }

    #[test]
    fn nul_bytes_are_refused_naming_the_field() {
        assert_eq!(
            err(|v| v["process"]["env"] = serde_json::json!(["A=1", "B=x\0y"])),
            "process.env[1]: \"B=x\\0y\" contains a NUL byte"
        );
        assert_eq!(
            err(|v| v["linux"]["cgroupsPath"] = "/a\0b".into()),
            "linux.cgroupsPath: \"/a\\0b\" contains a NUL byte"
        );
        assert_eq!(
            err(|v| v["annotations"] = serde_json::json!({"k\0": "v"})),
            "annotations.k\\0: \"k\\0\" contains a NUL byte"
        );
        // An escaped backslash before u0000 is no NUL.
        check(|v| v["hostname"] = "a\\u0000".into()).unwrap();
    }

    #[test]
    fn ids_that_read_as_minus_one_are_refused() {
        assert_eq!(
            err(|v| v["process"]["user"]["uid"] = 4294967295u32.into()),
            "process.user.uid: 4294967295 is outside 0..2147483647"
        );
        assert_eq!(
            err(|v| v["process"]["user"]["gid"] = 2147483648u32.into()),
            "process.user.gid: 2147483648 is outside 0..2147483647"
        );
        assert_eq!(
            err(|v| v["process"]["user"]["additionalGids"] = serde_json::json!([1, 4294967295u32])),
            "process.user.additionalGids[1]: 4294967295 is outside 0..2147483647"
        );
        assert_eq!(
            err(|v| v["process"]["user"]["additionalGids"] =
                serde_json::json!(vec![1; 65537])),
            "process.user.additionalGids: 65537 groups: more than the kernel's 65536 (NGROUPS_MAX)"
        );
        check(|v| {
            v["process"]["user"] =
                serde_json::json!({"uid": 2147483647, "gid": 2147483647, "additionalGids": vec![1; 65536]})
        })
        .unwrap();
    }

    #[test]
    fn semantic_errors_name_the_field_and_value() {
        assert_eq!(
            err(|v| v["process"]["args"] = serde_json::json!([])),
            "process.args: must name at least the program to run"
        );
        assert_eq!(
            err(|v| v["process"]["consoleSize"] = serde_json::json!({"height": 65536, "width": 80})),
            "process.consoleSize.height: 65536 is more than a terminal's 65535"
        );
        assert_eq!(
            err(|v| v["linux"]["devices"] =
                serde_json::json!([{"path": "/dev/x", "type": "c", "major": 4097, "minor": 1}])),
            "linux.devices[0].major: 4097 is outside 0..4095"
        );
        assert_eq!(
            err(|v| v["linux"]["devices"] =
                serde_json::json!([{"path": "/dev/x", "type": "b", "major": 1, "minor": -1}])),
            "linux.devices[0].minor: -1 is outside 0..1048575"
        );
        assert_eq!(
            err(|v| v["ociVersion"] = "2.0.0".into()),
            "ociVersion: \"2.0.0\" is not a supported version (1.x)"
        );
        assert_eq!(
            err(|v| v["process"]["cwd"] = "rel".into()),
            "process.cwd: rel must be an absolute path"
        );
        assert_eq!(
            err(|v| v["linux"]["namespaces"][2]["type"] = "pid".into()),
            "linux.namespaces[2].type: pid is listed twice"
        );
        assert_eq!(
            err(|v| {
                v["domainname"] = "x".into();
                v["linux"]["namespaces"] = serde_json::json!([{"type":"mount"}]);
            }),
            "domainname: needs a uts namespace (linux.namespaces)"
        );
        assert_eq!(
            err(|v| v["linux"]["sysctl"] = serde_json::json!({"kernel.panic": "1"})),
            "linux.sysctl.kernel.panic: is not namespaced: it would change the host"
        );
        assert_eq!(
            err(|v| v["linux"]["namespaces"] =
                serde_json::json!([{"type":"mount"},{"type":"user"}])),
            "linux.uidMappings: a new user namespace needs uid mappings"
        );
        assert_eq!(
            err(|v| v["linux"]["rootfsPropagation"] = "weird".into()),
            "linux.rootfsPropagation: \"weird\" is not a propagation type"
        );
        assert_eq!(
            err(|v| v["ociVersion"] = "1.0".into()),
            "ociVersion: \"1.0\" is not a SemVer 2.0.0 version"
        );
        assert_eq!(
            err(|v| v["annotations"] = serde_json::json!({"": "x"})),
            "annotations: a key is the empty string"
        );
        assert_eq!(
            err(|v| v["hooks"] = serde_json::json!({"poststop": [{"path": "/x"}, {"path": "x"}]})),
            "hooks.poststop[1].path: x must be an absolute path"
        );
        assert_eq!(
            err(|v| v["hooks"] = serde_json::json!({"prestart": [{"path": "/x", "timeout": 0}]})),
            "hooks.prestart[0].timeout: 0 must be greater than zero"
        );
        assert_eq!(
            err(|v| v["linux"]["maskedPaths"] = serde_json::json!(["/proc/kcore", "proc/keys"])),
            "linux.maskedPaths[1]: proc/keys must be an absolute path"
        );
        assert_eq!(
            err(|v| v["linux"]["readonlyPaths"] = serde_json::json!(["proc/sys"])),
            "linux.readonlyPaths[0]: proc/sys must be an absolute path"
        );
        assert_eq!(
            err(|v| v["linux"]["resources"] =
                serde_json::json!({"cpu": {"quota": 1000, "burst": 5000}})),
            "linux.resources.cpu.burst: 5000 is larger than cpu.quota 1000"
        );
        assert_eq!(
            err(|v| v["linux"]["resources"] =
                serde_json::json!({"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}})),
            "linux.resources.blockIO.weightDevice[0]: 8:0 sets neither weight nor leafWeight"
        );
        assert_eq!(
            err(|v| v["linux"]["resources"] = serde_json::json!({"rdma": {"mlx5_1": {}}})),
            "linux.resources.rdma.mlx5_1: sets neither hcaHandles nor hcaObjects"
        );
    }

    #[test]
    fn idmap_without_mappings_needs_a_user_namespace() {
        let mount = serde_json::json!([{"destination": "/m", "source": "/x", "options": ["rbind", "idmap"]}]);
        assert_eq!(
            err(|v| v["mounts"] = mount.clone()),
            "mounts[0].options: idmap needs uidMappings and gidMappings, or a user namespace (linux.namespaces)"
        );
        check(|v| {
            v["mounts"] = mount.clone();
            v["linux"]["namespaces"] = serde_json::json!([{"type": "mount"}, {"type": "user"}]);
            v["linux"]["uidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 10}]);
            v["linux"]["gidMappings"] =
                serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 10}]);
        })
        .unwrap();
    }

    #[test]
    fn relative_mount_destinations_are_accepted() {
        check(|v| v["mounts"] = serde_json::json!([{"destination":"tmp","type":"tmpfs"}])).unwrap();
    }

    #[test]
    fn semver() {
        for ok in [
            "1.0.0",
            "1.2.1",
            "1.0.2-dev",
            "1.3.0-rc.1+build.5",
            "10.20.30",
            "1.0.0-0a",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "1.0",
            "1",
            "1.x.y",
            "01.0.0",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-a..b",
            "",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn required_fields_that_oci_spec_would_default() {
        assert_eq!(
            err(|v| v["process"]["user"] = serde_json::json!({"gid": 0})),
            "process.user.uid: is required"
        );
        assert_eq!(
            err(|v| v["process"]["rlimits"] =
                serde_json::json!([{"type": "RLIMIT_NOFILE", "soft": 10}])),
            "process.rlimits[0].hard: is required"
        );
        assert_eq!(
            err(|v| v["process"]["consoleSize"] = serde_json::json!({"height": 10})),
            "process.consoleSize.width: is required"
        );
        assert_eq!(
            err(|v| v["root"] = serde_json::json!({"readonly": true})),
            "root.path: is required"
        );
        assert_eq!(
            err(|v| v["process"]["ioPriority"] = serde_json::json!({"priority": 1})),
            "process.ioPriority.class: is required"
        );
    }

    #[test]
    fn unknown_capabilities_are_dropped() {
        let mut v: serde_json::Value = serde_json::from_str(BASE).unwrap();
        v["process"]["capabilities"] =
            serde_json::json!({"bounding": ["CAP_CHOWN", "CAP_FOO"], "ambient": ["CAP_BAR"]});
        let spec = parse(v.to_string().as_bytes()).unwrap();
        let caps = spec
            .process()
            .as_ref()
            .unwrap()
            .capabilities()
            .as_ref()
            .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert!(caps.ambient().as_ref().unwrap().is_empty());
        // Anything else wrong in the document is still an error.
        v["process"]["cwd"] = 5.into();
        assert!(parse(v.to_string().as_bytes()).is_err());
    }
}
