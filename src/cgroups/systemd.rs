//! `--systemd-cgroup`: the container's cgroup is a transient scope that
//! systemd creates, through libcgroups' systemd manager (D-Bus to systemd,
//! cgroup v2 only). cgroupsPath is then "slice:prefix:name"; it is checked
//! here first so a malformed path is reported as such, whatever the host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libcgroups::common::{AnyCgroupManager, CgroupManager, ControllerOpt};
use libcgroups::systemd::manager::Manager;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use super::{Cgroup, ROOT};
use crate::error::{Error, Result};

/// The scope for `cgroups_path` (default "system.slice:berth:ID"), with
/// systemd reached; `add` then moves the container's process into it.
pub struct Scope {
    manager: AnyCgroupManager,
    path: String,
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
            // The system instance for the host's root, else the user's own.
            crate::namespaces::host_root(),
            Duration::from_secs(5),
        )
        .map_err(|e| fail(&format!("cannot reach systemd over D-Bus: {e}")))?;
        Ok(Scope {
            manager: manager.any(),
            path,
        })
    }

    /// The scope of a container created with `--systemd-cgroup` (None
    /// without), reached again for `update` and `delete`.
    pub fn of(cg: &Cgroup) -> Result<Option<Scope>> {
        let Some(path) = &cg.systemd else {
            return Ok(None);
        };
        let name = path.rsplit(':').next().unwrap_or(path);
        Scope::connect(Some(Path::new(path)), name).map(Some)
    }

    /// Sets the limits as the unit's properties (systemd writes the files
    /// from them, now and at every reload), as far as libcgroups can
    /// express them (see `unit_view`); the caller writes the files too.
    pub fn set_properties(&self, opt: &ControllerOpt, cpu_max: Option<&str>) -> Result<()> {
        let resources = unit_view(opt.resources, cpu_max);
        let opt = ControllerOpt {
            resources: &resources,
            ..*opt
        };
        self.manager.apply(&opt).map_err(|e| Error::Cgroup {
            what: format!("--systemd-cgroup {}: set the scope's properties", self.path),
            err: e.to_string(),
        })
    }

    /// Stops the scope unit (a no-op when systemd already collected it).
    pub fn stop(&self) -> Result<()> {
        self.manager.remove().map_err(|e| Error::Cgroup {
            what: format!("--systemd-cgroup {}: stop the scope", self.path),
            err: e.to_string(),
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
        let dir = super::v2_dir_in(&text)
            .ok_or_else(|| fail(format!("{file} has no cgroup v2 line")))?;
        let path = Path::new("/").join(dir.strip_prefix(ROOT).unwrap_or(&dir));
        Ok(Cgroup {
            dirs: vec![dir],
            unified: true,
            path,
            created: Vec::new(),
            systemd: Some(self.path.clone()),
        })
    }
}

/// What of `resources` goes to the unit. Left out: cpus and mems, which
/// libcgroups sends as AllowedCPUs/AllowedMemoryNodes of D-Bus type "at"
/// where systemd wants "ay" (systemd 257 refuses the whole call: "Unexpected
/// message contents"); they go to the cgroup files only. Added: with a cpu
/// section but no quota (`update --cpu-share` alone), the quota and period
/// now in force (`cpu_max`, the cgroup's cpu.max), because libcgroups sets
/// CPUQuota to "infinity" whenever the quota is absent.
fn unit_view(resources: &LinuxResources, cpu_max: Option<&str>) -> LinuxResources {
    let mut res = resources.clone();
    if let Some(mut cpu) = res.cpu().clone() {
        cpu.set_cpus(None);
        cpu.set_mems(None);
        if cpu.quota().is_none() {
            let mut now = cpu_max.unwrap_or("").split_whitespace();
            if let (Some(quota), Some(period)) = (now.next(), now.next()) {
                cpu.set_quota(quota.parse().ok());
                if cpu.period().is_none() {
                    cpu.set_period(period.parse().ok());
                }
            }
        }
        res.set_cpu(Some(cpu));
    }
    res
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

    #[test]
    fn unit_view_drops_cpusets_and_keeps_the_quota() {
        let res: LinuxResources = serde_json::from_str(
            r#"{"cpu":{"shares":1024,"cpus":"0-1","mems":"0"},"pids":{"limit":5}}"#,
        )
        .unwrap();
        let view = unit_view(&res, Some("25000 100000\n"));
        let cpu = view.cpu().clone().unwrap();
        assert_eq!((cpu.cpus().clone(), cpu.mems().clone()), (None, None));
        assert_eq!((cpu.quota(), cpu.period()), (Some(25000), Some(100000)));
        assert_eq!(cpu.shares(), Some(1024));
        assert_eq!(view.pids().unwrap().limit(), 5);
        // No quota in force ("max"): still none, which systemd reads as no limit.
        let cpu = unit_view(&res, Some("max 100000")).cpu().clone().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (None, Some(100000)));
        // A quota asked for wins over the one in force.
        let res: LinuxResources =
            serde_json::from_str(r#"{"cpu":{"quota":5000,"period":50000}}"#).unwrap();
        let cpu = unit_view(&res, Some("25000 100000")).cpu().clone().unwrap();
        assert_eq!((cpu.quota(), cpu.period()), (Some(5000), Some(50000)));
        assert!(unit_view(&LinuxResources::default(), None).cpu().is_none());
    }
}
