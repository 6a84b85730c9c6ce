//! `--systemd-cgroup`: the container's cgroup is a transient scope that
//! systemd creates, through libcgroups' systemd manager (D-Bus to systemd,
//! cgroup v2 only). cgroupsPath is then "slice:prefix:name"; it is checked
//! here first so a malformed path is reported as such, whatever the host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libcgroups::common::{AnyCgroupManager, CgroupManager};
use libcgroups::systemd::manager::Manager;
use nix::unistd::Pid;

use super::{Cgroup, ROOT};
use crate::error::{Error, Result};

/// The scope for `cgroups_path` (default "system.slice:berth:ID"), with
/// systemd reached; `add` then moves the container's process into it.
pub struct Scope {
    manager: AnyCgroupManager,
}

/// Checks "slice:prefix:name" the way systemd will read it: two or three
/// fields, a slice that is a ".slice" unit, a non-empty name.
pub fn parse(cgroups_path: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::config(
            "linux.cgroupsPath",
            format!("{cgroups_path:?} {why} (--systemd-cgroup wants slice:prefix:name)"),
        )
    };
    let parts: Vec<&str> = cgroups_path.split(':').collect();
    let (slice, name) = match parts.as_slice() {
        [_, name] => ("", *name),
        [slice, _, name] => (*slice, *name),
        _ => return Err(bad("does not have two or three fields")),
    };
    if !slice.is_empty() && !slice.ends_with(".slice") {
        return Err(bad("has a first field that is not a .slice unit"));
    }
    if name.is_empty() {
        return Err(bad("has an empty name"));
    }
    if name.contains('/') || slice.contains('/') {
        return Err(bad("contains \"/\""));
    }
    Ok(())
}

impl Scope {
    pub fn connect(cgroups_path: Option<&Path>, id: &str) -> Result<Scope> {
        let path = cgroups_path
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("system.slice:berth:{id}"));
        parse(&path)?;
        let fail = |e: &dyn std::fmt::Display| Error::Cgroup {
            what: format!("--systemd-cgroup {path}"),
            err: e.to_string(),
        };
        let v2 = nix::sys::statfs::statfs(ROOT)
            .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC);
        if !v2 {
            return Err(fail(
                &"the systemd driver needs cgroup v2 at /sys/fs/cgroup",
            ));
        }
        let manager = Manager::new(
            ROOT.into(),
            PathBuf::from(&path),
            id.to_string(),
            nix::unistd::geteuid().is_root(),
            Duration::from_secs(5),
        )
        .map_err(|e| fail(&format!("cannot reach systemd over D-Bus: {e}")))?;
        Ok(Scope {
            manager: manager.any(),
        })
    }

    /// Starts the scope with `pid` in it; systemd picks the directory, read
    /// back from the process's own cgroup line.
    pub fn add(&self, pid: i32) -> Result<Cgroup> {
        let fail = |e: String| Error::Cgroup {
            what: "--systemd-cgroup: start the container's scope".into(),
            err: e,
        };
        self.manager
            .add_task(Pid::from_raw(pid))
            .map_err(|e| fail(e.to_string()))?;
        let file = format!("/proc/{pid}/cgroup");
        let text = std::fs::read_to_string(&file).map_err(|e| fail(format!("{file}: {e}")))?;
        let path = text
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .ok_or_else(|| fail(format!("{file} has no cgroup v2 line")))?;
        Ok(Cgroup {
            dirs: vec![Path::new(ROOT).join(path.trim_start_matches('/'))],
            unified: true,
            path: PathBuf::from(path),
            created: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_slice_prefix_name() {
        assert!(parse("system.slice:docker:abc").is_ok());
        assert!(parse("docker:abc").is_ok());
        for (bad, why) in [
            ("abc", "two or three fields"),
            ("a:b:c:d", "two or three fields"),
            ("system:docker:abc", ".slice unit"),
            ("system.slice:docker:", "empty name"),
            ("system.slice:docker:a/b", "\"/\""),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("linux.cgroupsPath: "), "{err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
