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
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path == "?" {
            "config.json".to_string()
        } else {
            path
        };
        Error::config(field, e.into_inner().to_string())
    })?;
    Ok(spec)
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
    } else {
        None
    }
}

pub fn validate(spec: &Spec) -> Result<()> {
    let v = spec.version();
    if !v.starts_with("1.") {
        return Err(Error::config(
            "ociVersion",
            format!("{v:?} is not a supported version (1.x)"),
        ));
    }
    // process is optional until start (runtime.md): a container without one
    // can be created, and start then fails.
    let Some(process) = spec.process().as_ref() else {
        return Ok(());
    };
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
    if let Some(adj) = process.oom_score_adj()
        && !(-1000..=1000).contains(&adj)
    {
        return Err(Error::config(
            "process.oomScoreAdj",
            format!("{adj} is outside -1000..1000"),
        ));
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            return Err(Error::config(
                format!("mounts[{i}].destination"),
                format!("{} must be an absolute path", m.destination().display()),
            ));
        }
        let uid = m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty());
        let gid = m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty());
        if uid != gid {
            return Err(Error::config(
                format!("mounts[{i}]"),
                "an idmapped mount needs both uidMappings and gidMappings",
            ));
        }
    }
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
    let uid_maps = linux
        .and_then(|l| l.uid_mappings().as_deref())
        .unwrap_or_default();
    let gid_maps = linux
        .and_then(|l| l.gid_mappings().as_deref())
        .unwrap_or_default();
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
    crate::rootfs::propagation_flags(spec)?;
    crate::lsm::validate(spec)
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
    fn semantic_errors_name_the_field_and_value() {
        assert_eq!(
            err(|v| v["process"]["args"] = serde_json::json!([])),
            "process.args: must name at least the program to run"
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
            err(|v| v["mounts"] = serde_json::json!([{"destination":"tmp","type":"tmpfs"}])),
            "mounts[0].destination: tmp must be an absolute path"
        );
        let uid_only = serde_json::json!([{"destination": "/m", "type": "bind", "source": "/s",
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}]);
        assert_eq!(
            err(|v| v["mounts"] = uid_only),
            "mounts[0]: an idmapped mount needs both uidMappings and gidMappings"
        );
    }
}
