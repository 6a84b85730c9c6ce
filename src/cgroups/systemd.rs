//! `--systemd-cgroup`: the container's cgroup is a transient scope that
//! systemd creates, through libcgroups' systemd manager (D-Bus to systemd,
//! cgroup v2 only). cgroupsPath is then "slice:prefix:name"; it is checked
//! here first so a malformed path is reported as such, whatever the host.

use std::path::{Path, PathBuf};
use std::time::Duration;

use libcgroups::common::{AnyCgroupManager, CgroupManager, ControllerOpt};
use libcgroups::systemd::manager::Manager;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};

use super::dbus::{self, Value};
use super::{Cgroup, ROOT};
use crate::error::{Error, Result};

/// The scope for `cgroups_path` (default "system.slice:berth:ID"), with
/// systemd reached; `add` then moves the container's process into it.
pub struct Scope {
    manager: AnyCgroupManager,
    path: String,
    system: bool,
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
        // The system instance for the host's root, else the user's own.
        let system = crate::namespaces::host_root();
        let manager = Manager::new(
            ROOT.into(),
            PathBuf::from(&path),
            id.to_string(),
            system,
            Duration::from_secs(5),
        )
        .map_err(|e| fail(&format!("cannot reach systemd over D-Bus: {e}")))?;
        Ok(Scope {
            manager: manager.any(),
            path,
            system,
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

    /// Sets what libcgroups cannot, in one SetUnitProperties call of our
    /// own: at create (`id` given) the Description naming the container and
    /// the device rules, at create and update the cpuset's CPUs and nodes.
    /// The device rules go to the system instance only: a user's manager
    /// cannot load the device filter, and in a user namespace the container
    /// cannot make device nodes anyway.
    pub fn set_unit_extras(&self, resources: Option<&LinuxResources>, id: Option<&str>) -> Result<()> {
        let mut props = Vec::new();
        if let Some(id) = id {
            props.push(("Description", Value::Str(format!("berth container {id}"))));
        }
        if let Some(cpu) = resources.and_then(|r| r.cpu().as_ref()) {
            for (name, field, list) in [
                ("AllowedCPUs", "cpus", cpu.cpus()),
                ("AllowedMemoryNodes", "mems", cpu.mems()),
            ] {
                let Some(list) = list.as_deref().filter(|l| !l.trim().is_empty()) else {
                    continue;
                };
                let mask = dbus::cpu_mask(list).ok_or_else(|| {
                    Error::config(
                        format!("linux.resources.cpu.{field}"),
                        format!("{list:?} is not a list of numbers and ranges below 8192"),
                    )
                })?;
                props.push((name, Value::Bytes(mask)));
            }
        }
        let devices = resources.filter(|r| self.system && (id.is_some() || r.devices().is_some()));
        if let Some(res) = devices {
            let rules = res.devices().as_deref().unwrap_or_default();
            let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
            let (policy, allow) = device_rules(rules, &proc_devices);
            props.push(("DevicePolicy", Value::Str(policy.into())));
            // An empty list first: systemd adds to the list it has.
            props.push(("DeviceAllow", Value::Pairs(Vec::new())));
            props.push(("DeviceAllow", Value::Pairs(allow)));
        }
        if props.is_empty() {
            return Ok(());
        }
        let mut names: Vec<&str> = props.iter().map(|(n, _)| *n).collect();
        names.dedup();
        dbus::set_properties(self.system, &unit_name(&self.path), &props).map_err(|e| Error::Cgroup {
            what: format!("--systemd-cgroup {}: set the scope's {}", self.path, names.join(", ")),
            err: e,
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

/// The unit libcgroups names for "slice:prefix:name": "prefix-name.scope",
/// or the name itself when it is a slice.
fn unit_name(path: &str) -> String {
    let mut fields = path.rsplit(':');
    let name = fields.next().unwrap_or_default();
    let prefix = fields.next().unwrap_or_default();
    if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    }
}

/// The rules libcgroups adds after the config's own (type, major, minor,
/// access; None is any): mknod of any device, then the standard nodes,
/// /dev/pts/* and /dev/net/tun.
const DEFAULT_RULES: &[(LinuxDeviceType, Option<i64>, Option<i64>, &str)] = &[
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(1), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"),
    (LinuxDeviceType::C, Some(10), Some(200), "rwm"),
    (LinuxDeviceType::C, Some(136), None, "rwm"),
];

/// The OCI device rules (then libcgroups' defaults) as DevicePolicy and
/// DeviceAllow: a deny-all rule makes the policy "strict" with an empty
/// list, an allow-all one "auto" with none (no filter); a specific allow
/// adds /dev/char/MAJ:MIN (or /dev/block/), "char-NAME" for a whole major
/// (its name in `proc_devices`), "char-*" for any. systemd has no deny
/// entries: a specific deny only takes its access off an equal entry; the
/// eBPF filter berth loads from the same rules enforces the rest, and
/// systemd's filter, which is never narrower, adds nothing it refuses.
fn device_rules(rules: &[LinuxDeviceCgroup], proc_devices: &str) -> (&'static str, Vec<(String, String)>) {
    let defaults = DEFAULT_RULES.iter().map(|&(t, major, minor, access)| {
        let mut r = LinuxDeviceCgroup::default();
        r.set_allow(true);
        r.set_typ(Some(t));
        r.set_major(major);
        r.set_minor(minor);
        r.set_access(Some(access.into()));
        r
    });
    let mut allow_all = false;
    let mut list: Vec<(String, String)> = Vec::new();
    for rule in rules.iter().cloned().chain(defaults) {
        let any = |n: Option<i64>| n.is_none_or(|n| n < 0);
        let typ = rule.typ().unwrap_or(LinuxDeviceType::A);
        if typ == LinuxDeviceType::A && any(rule.major()) && any(rule.minor()) {
            allow_all = rule.allow();
            list.clear();
            continue;
        }
        let access: String = rule.access().as_deref().unwrap_or("rwm").chars().filter(|c| "rwm".contains(*c)).collect();
        if allow_all && rule.allow() || access.is_empty() {
            continue;
        }
        for path in device_paths(typ, rule.major(), rule.minor(), proc_devices) {
            let at = list.iter().position(|(p, _)| *p == path);
            match (rule.allow(), at) {
                (true, Some(i)) => {
                    let have = &mut list[i].1;
                    for c in access.chars() {
                        if !have.contains(c) {
                            have.push(c);
                        }
                    }
                }
                (true, None) => list.push((path, access.clone())),
                (false, Some(i)) => {
                    list[i].1.retain(|c| !access.contains(c));
                    if list[i].1.is_empty() {
                        list.remove(i);
                    }
                }
                (false, None) => {}
            }
        }
    }
    (if allow_all { "auto" } else { "strict" }, list)
}

/// What systemd calls the devices of one rule (see `device_rules`).
fn device_paths(typ: LinuxDeviceType, major: Option<i64>, minor: Option<i64>, proc_devices: &str) -> Vec<String> {
    let kinds: &[&str] = match typ {
        LinuxDeviceType::C | LinuxDeviceType::U => &["char"],
        LinuxDeviceType::B => &["block"],
        LinuxDeviceType::A => &["char", "block"],
        // A FIFO is no device to the cgroup.
        LinuxDeviceType::P => &[],
    };
    let major = major.filter(|&n| n >= 0);
    let minor = minor.filter(|&n| n >= 0);
    kinds
        .iter()
        .filter_map(|kind| match (major, minor) {
            (Some(major), Some(minor)) => Some(format!("/dev/{kind}/{major}:{minor}")),
            (Some(major), None) => major_name(proc_devices, kind, major).map(|n| format!("{kind}-{n}")),
            (None, _) => Some(format!("{kind}-*")),
        })
        .collect()
}

/// The driver name /proc/devices gives `major` in its "Character devices:"
/// or "Block devices:" section (None: no such driver loaded, so no device
/// of it can be opened either).
fn major_name<'a>(proc_devices: &'a str, kind: &str, major: i64) -> Option<&'a str> {
    let header = if kind == "char" { "Character devices:" } else { "Block devices:" };
    proc_devices
        .lines()
        .skip_while(|l| l.trim() != header)
        .skip(1)
        .take_while(|l| !l.trim().is_empty() && !l.ends_with(':'))
        .find_map(|l| {
            let (n, name) = l.trim().split_once(' ')?;
            (n.parse() == Ok(major)).then_some(name.trim())
        })
}

/// What of `resources` goes to the unit. Left out: cpus and mems, which
/// libcgroups sends as AllowedCPUs/AllowedMemoryNodes of D-Bus type "at"
/// where systemd wants "ay" (systemd 257 refuses the whole call: "Unexpected
/// message contents"); `set_unit_extras` sends them. Added: with a cpu
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

    const PROC_DEVICES: &str = "Character devices:\n  1 mem\n  5 /dev/tty\n136 pts\n\nBlock devices:\n  8 sd\n254 virtblk\n";

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    fn has(list: &[(String, String)], path: &str, access: &str) -> bool {
        list.iter().any(|(p, a)| p == path && a == access)
    }

    #[test]
    fn device_rules_deny_all_then_defaults() {
        let (policy, list) = device_rules(&rules(r#"[{"allow":false,"access":"rwm"}]"#), PROC_DEVICES);
        assert_eq!(policy, "strict");
        for (path, access) in [
            ("char-*", "m"),
            ("block-*", "m"),
            ("/dev/char/1:3", "rwm"),
            ("/dev/char/5:0", "rwm"),
            ("/dev/char/10:200", "rwm"),
            ("char-pts", "rwm"),
        ] {
            assert!(has(&list, path, access), "{path} {access}: {list:?}");
        }
        assert_eq!(list.len(), DEFAULT_RULES.len());
        // No rules at all: the same (libcgroups' filter starts denying).
        assert_eq!(device_rules(&[], PROC_DEVICES), (policy, list));
    }

    #[test]
    fn device_rules_allows_denies_and_allow_all() {
        let (policy, list) = device_rules(
            &rules(
                r#"[{"allow":false},{"allow":true,"type":"b","major":8,"minor":0,"access":"rw"},
                {"allow":true,"type":"b","major":254,"access":"r"},
                {"allow":true,"type":"a","major":1,"minor":3},
                {"allow":false,"type":"c","major":1,"minor":3,"access":"w"},
                {"allow":true,"type":"c","major":99},{"allow":true,"type":"p","major":1,"minor":1},
                {"allow":true,"type":"c","major":7,"minor":7,"access":""}]"#,
            ),
            PROC_DEVICES,
        );
        assert_eq!(policy, "strict");
        assert!(has(&list, "/dev/block/8:0", "rw"), "{list:?}");
        assert!(has(&list, "block-virtblk", "r"), "{list:?}");
        // The deny of "w" came before the defaults gave it back.
        assert!(has(&list, "/dev/char/1:3", "rmw"), "{list:?}");
        assert!(has(&list, "/dev/block/1:3", "rwm"), "{list:?}");
        // Major 99 has no driver, a FIFO no device, "" no access.
        assert!(!list.iter().any(|(p, _)| p.contains("99") || p.contains("7:7") || p.contains("1:1")));
        let (policy, list) = device_rules(&rules(r#"[{"allow":true,"access":"rwm"}]"#), PROC_DEVICES);
        assert_eq!((policy, list.len()), ("auto", 0));
        // -1 is any, as some engines write it.
        let (_, list) = device_rules(&rules(r#"[{"allow":true,"type":"a","major":-1,"minor":-1}]"#), "");
        assert!(list.is_empty());
    }

    #[test]
    fn names_the_unit_as_libcgroups() {
        assert_eq!(unit_name("system.slice:docker:abc"), "docker-abc.scope");
        assert_eq!(unit_name("docker:abc"), "docker-abc.scope");
        assert_eq!(unit_name("system.slice:x:my.slice"), "my.slice");
    }
}
