//! linux.resources written into the container's cgroup, at create and by
//! `update`. libcgroups' managers do the writing and the v1/v2 mapping
//! (cpu.shares to cpu.weight, swap on v2 as memory.swap.max = swap - limit,
//! "max" for -1, the v2 device filter as an eBPF program); around them this
//! module does what they leave out: refusing v2-only keys on v1, the
//! kernel-memory limits this kernel no longer has, useHierarchy,
//! checkBeforeUpdate, rdma, and v1's per-device and leaf blkio weights.

use std::fs;

use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::LinuxResources;

use super::{Cgroup, refusal};
use crate::error::{Error, Result};
use crate::logging::warn;

/// What the spec rules out in `resources` and the kernel would either
/// accept silently or refuse with a bare EINVAL: checked before anything is
/// created or written.
pub fn validate(resources: &LinuxResources) -> Result<()> {
    const R: &str = "linux.resources";
    if let Some(cpu) = resources.cpu()
        && let (Some(quota), Some(burst)) = (cpu.quota(), cpu.burst())
        && quota > 0
        && burst > quota as u64
    {
        return Err(Error::config(
            format!("{R}.cpu.burst"),
            format!("{burst} is larger than cpu.quota {quota}"),
        ));
    }
    let weight_devices = resources
        .block_io()
        .as_ref()
        .and_then(|b| b.weight_device().as_deref())
        .unwrap_or_default();
    for (i, d) in weight_devices.iter().enumerate() {
        if d.weight().is_none() && d.leaf_weight().is_none() {
            return Err(Error::config(
                format!("{R}.blockIO.weightDevice[{i}]"),
                format!(
                    "{}:{} sets neither weight nor leafWeight",
                    d.major(),
                    d.minor()
                ),
            ));
        }
    }
    for key in resources.unified().iter().flatten().map(|(k, _)| k) {
        if !is_cgroup_file_name(key) {
            return Err(Error::config(
                format!("{R}.unified.{}", key.escape_debug()),
                "is not a file name of the container's cgroup (CONTROLLER.FILE, no /)",
            ));
        }
    }
    for (device, limit) in resources.rdma().iter().flatten() {
        if limit.hca_handles().is_none() && limit.hca_objects().is_none() {
            return Err(Error::config(
                format!("{R}.rdma.{device}"),
                "sets neither hcaHandles nor hcaObjects",
            ));
        }
    }
    Ok(())
}

/// A v2 interface file as the kernel names them, `controller.file`: one
/// path component, so the write lands in the container's cgroup directory
/// (cgroupfs has no symlinks) and never beside or above it.
fn is_cgroup_file_name(key: &str) -> bool {
    let plain = !key.contains(['/', '\0']) && key != "." && key != "..";
    plain && key.split_once('.').is_some_and(|(c, f)| !c.is_empty() && !f.is_empty())
}

/// Applies `resources` to the cgroup. `update` is true for `berth update`,
/// where checkBeforeUpdate applies.
pub fn apply(cg: &Cgroup, resources: &LinuxResources, update: bool) -> Result<()> {
    if cg.dirs.is_empty() {
        // Rootless without a delegated cgroup: create already warned.
        return Ok(());
    }
    if !cg.unified && only_devices(resources) {
        return v1_devices(cg, resources);
    }
    check_unified(cg, resources)?;
    if cg.unified {
        check_v2_conversions(resources)?;
    } else {
        check_v1_hierarchies(cg, resources)?;
    }
    let mut res = resources.clone();
    let mut kernel = None;
    if let Some(mut memory) = *res.memory() {
        kernel = Some((memory.kernel(), memory.kernel_tcp()));
        memory.set_kernel(None);
        memory.set_kernel_tcp(None);
        if update && memory.check_before_update() == Some(true) {
            check_usage(cg, memory.limit())?;
        }
        if let Some(h) = memory.use_hierarchy().filter(|_| !cg.unified) {
            write(cg, resources, "memory",
                "memory.use_hierarchy",
                if h { "1" } else { "0" },
            )?;
        }
        res.set_memory(Some(memory));
    }
    let disable_oom_killer = res
        .memory()
        .as_ref()
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false);
    let opt = ControllerOpt {
        resources: &res,
        freezer_state: None,
        oom_score_adj: None,
        disable_oom_killer,
    };
    let scope = super::systemd::Scope::of(cg)?;
    if let Some(scope) = &scope {
        let cpu_max = cg.dir_of("cpu").map(|d| d.join("cpu.max"));
        let cpu_max = cpu_max.and_then(|f| fs::read_to_string(f).ok());
        scope.set_properties(&opt, cpu_max.as_deref())?;
        if update {
            scope.set_unit_extras(Some(resources), None)?;
        }
    }
    // A user's own scope (rootless podman's runtime: root only in its user
    // namespace) gets its limits from systemd, written from the properties:
    // libcgroups' file route would also load the device filter (eBPF),
    // which takes privileges that user lacks (the user namespace keeps the
    // container from making device nodes anyway).
    if scope.is_none() || crate::namespaces::host_root() {
        cg.manager()?
            .apply(&opt)
            .map_err(|e| refusal::from_libcgroups(&cg.dirs, resources, &e.to_string()))?;
    }
    // libcgroups writes a pids limit of 0 as "max" (v1) or 1 (v2); the
    // kernel takes 0 as a limit, and the spec asks for it to be one.
    if resources.pids().is_some_and(|p| p.limit() == 0) {
        write(cg, resources, "pids", "pids.max", "0")?;
    }
    if let Some((k, tcp)) = kernel {
        kernel_memory(cg, "kernel", "memory.kmem.limit_in_bytes", k);
        kernel_memory(cg, "kernelTCP", "memory.kmem.tcp.limit_in_bytes", tcp);
    }
    if let Some(rdma) = resources.rdma() {
        for (device, limit) in rdma {
            let mut line = device.clone();
            if let Some(h) = limit.hca_handles() {
                line += &format!(" hca_handle={h}");
            }
            if let Some(o) = limit.hca_objects() {
                line += &format!(" hca_object={o}");
            }
            write(cg, resources, "rdma", "rdma.max", &line)?;
        }
    }
    if !cg.unified {
        v1_blkio_weights(cg, resources)?;
    }
    Ok(())
}

/// What libcgroups' v1 blkio controller leaves out: per-device weights and
/// leaf weights. Each goes to the CFQ file when the kernel has it, else to
/// BFQ's (which has no leaf weights: asking for one is then an error
/// naming the missing file).
fn v1_blkio_weights(cg: &Cgroup, resources: &LinuxResources) -> Result<()> {
    let Some(b) = resources.block_io() else {
        return Ok(());
    };
    let Some(dir) = cg.dir_of("blkio") else {
        return Ok(());
    };
    let pick = |cfq: &'static str, bfq: &'static str| {
        if dir.join(cfq).exists() || !dir.join(bfq).exists() {
            cfq
        } else {
            bfq
        }
    };
    if let Some(w) = b.leaf_weight().filter(|w| *w > 0) {
        write(cg, resources, "blkio", "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            let file = pick("blkio.weight_device", "blkio.bfq.weight_device");
            write(cg, resources, "blkio", file, &format!("{dev} {w}"))?;
        }
        if let Some(w) = d.leaf_weight().filter(|w| *w > 0) {
            write(cg, resources, "blkio",
                "blkio.leaf_weight_device",
                &format!("{dev} {w}"),
            )?;
        }
    }
    Ok(())
}

/// Device rules and nothing else: what `runc spec` (and so most bundles)
/// asks for.
fn only_devices(resources: &LinuxResources) -> bool {
    let mut devices = LinuxResources::default();
    devices.set_devices(resources.devices().clone());
    *resources == devices
}

/// What libcgroups' v1 devices controller writes after the config's rules:
/// its default devices (null, zero, full, tty, urandom, random), then its
/// allow list (mknod of any device, console, pts, ptmx, tun), in its order.
const V1_DEFAULT_DEVICE_RULES: &[&str] = &[
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:9 rwm",
    "c 1:8 rwm",
    "c *:* m",
    "b *:* m",
    "c 5:1 rwm",
    "c 136:* rwm",
    "c 5:2 rwm",
    "c 10:200 rwm",
];

/// Device rules on v1, written as libcgroups writes them but without its
/// manager: building one discovers every controller's mount point by
/// reading mountinfo and /proc/self/cgroup through a verified procfs, twelve
/// times each, 1.5 to 2 ms of every create. The directory is already known.
fn v1_devices(cg: &Cgroup, resources: &LinuxResources) -> Result<()> {
    let dir = cg.dir_of("devices").ok_or_else(|| Error::Cgroup {
        what: "linux.resources.devices".into(),
        err: "no devices controller on this host".into(),
    })?;
    let config = resources
        .devices()
        .iter()
        .flatten()
        .map(|d| (d.allow(), d.to_string()));
    let defaults = V1_DEFAULT_DEVICE_RULES
        .iter()
        .map(|r| (true, r.to_string()));
    for (allow, rule) in config.chain(defaults) {
        let file = dir.join(if allow {
            "devices.allow"
        } else {
            "devices.deny"
        });
        // One rule per write: the kernel parses each write as one rule.
        fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, rule.as_bytes()))
            .map_err(|e| Error::Cgroup {
                what: "linux.resources.devices".into(),
                err: format!("failed to write {rule} to {}: {e}", file.display()),
            })?;
    }
    Ok(())
}

/// Limits whose v1 hierarchy this host does not mount are refused naming
/// the field (libcgroups names a controller, not always the one missing).
fn check_v1_hierarchies(cg: &Cgroup, resources: &LinuxResources) -> Result<()> {
    let network = resources.network().as_ref();
    for (field, controller, wanted) in [
        (
            "network.classID",
            "net_cls",
            network.is_some_and(|n| n.class_id().is_some()),
        ),
        (
            "network.priorities",
            "net_prio",
            network.is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty())),
        ),
        (
            "hugepageLimits",
            "hugetlb",
            resources
                .hugepage_limits()
                .as_ref()
                .is_some_and(|h| !h.is_empty()),
        ),
    ] {
        if wanted && cg.dir_of(controller).is_none() {
            return Err(Error::Cgroup {
                what: format!("linux.resources.{field}"),
                err: format!("this host has no {controller} hierarchy (cgroup v1)"),
            });
        }
    }
    Ok(())
}

/// v1 settings cgroup v2 has no counterpart for: the spec asks for an
/// error when a v1 setting cannot be converted (libcgroups' v2 manager
/// would skip them). Values that ask for v2's own behaviour pass.
fn check_v2_conversions(resources: &LinuxResources) -> Result<()> {
    let memory = resources.memory().as_ref();
    let network = resources.network().as_ref();
    for (field, set) in [
        (
            "network.classID",
            network.is_some_and(|n| n.class_id().is_some()),
        ),
        (
            "network.priorities",
            network.is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty())),
        ),
        (
            "memory.swappiness",
            memory.is_some_and(|m| m.swappiness().is_some()),
        ),
        (
            "memory.disableOOMKiller",
            memory.is_some_and(|m| m.disable_oom_killer() == Some(true)),
        ),
        (
            "memory.useHierarchy",
            memory.is_some_and(|m| m.use_hierarchy() == Some(false)),
        ),
    ] {
        if set {
            return Err(Error::config(
                format!("linux.resources.{field}"),
                "has no cgroup v2 equivalent on this host",
            ));
        }
    }
    Ok(())
}

/// `unified` holds v2 file names; on v1 there is nowhere to write them.
fn check_unified(cg: &Cgroup, resources: &LinuxResources) -> Result<()> {
    let Some(unified) = resources.unified().as_ref().filter(|u| !u.is_empty()) else {
        return Ok(());
    };
    if cg.unified {
        return Ok(());
    }
    let mut keys: Vec<&String> = unified.keys().collect();
    keys.sort();
    Err(Error::config(
        format!("linux.resources.unified.{}", keys[0]),
        "cgroup v2 files cannot be set on this host's cgroup v1 hierarchies",
    ))
}

/// checkBeforeUpdate: a new memory limit below what the container already
/// uses is refused rather than left to the OOM killer.
fn check_usage(cg: &Cgroup, limit: Option<i64>) -> Result<()> {
    let Some(limit) = limit.filter(|l| *l > 0) else {
        return Ok(());
    };
    let file = if cg.unified {
        "memory.current"
    } else {
        "memory.usage_in_bytes"
    };
    let Some(dir) = cg.dir_of("memory") else {
        return Ok(());
    };
    let usage: i64 = fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    if usage > limit {
        return Err(Error::config(
            "linux.resources.memory.limit",
            format!("{limit} is below the container's current usage {usage} (checkBeforeUpdate)"),
        ));
    }
    Ok(())
}

/// Kernel-memory limits are gone from cgroup v2, and from v1 since Linux
/// 5.16 (the file remains, a write is accepted and changes nothing):
/// accepted, and ignored with a warning, as the engines expect. Whether the
/// limit holds is told by reading it back.
fn kernel_memory(cg: &Cgroup, field: &str, file: &str, value: Option<i64>) {
    let Some(v) = value else { return };
    let held = !cg.unified
        && cg.dir_of("memory").is_some_and(|d| {
            let path = d.join(file);
            fs::write(&path, v.to_string()).is_ok()
                && fs::read_to_string(&path).is_ok_and(|t| t.trim() == v.to_string())
        });
    if !held {
        warn(&format!(
            "linux.resources.memory.{field}: {v} ignored, this kernel has no kernel-memory limit ({file})"
        ));
    }
}

fn write(
    cg: &Cgroup,
    resources: &LinuxResources,
    controller: &str,
    file: &str,
    value: &str,
) -> Result<()> {
    let dir = cg.dir_of(controller).ok_or_else(|| Error::Cgroup {
        what: format!("linux.resources ({file})"),
        err: format!("no {controller} controller on this host"),
    })?;
    // Never O_CREAT: cgroupfs refuses creating a file with EACCES, which
    // would hide that the kernel has no such file.
    fs::OpenOptions::new()
        .write(true)
        .open(dir.join(file))
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()))
        .map_err(|e| refusal::io_refused(resources, file, value, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_keys_are_file_names_of_the_cgroup() {
        let res = |key: &str| {
            serde_json::from_value::<LinuxResources>(serde_json::json!({"unified": {key: "1"}}))
                .unwrap()
        };
        for key in ["memory.high", "cgroup.freeze", "pids.max", "memory.oom.group"] {
            assert!(validate(&res(key)).is_ok(), "{key}");
        }
        for key in ["../pids.max", "/pids.max", "a/b.max", "..", ".", "", "max", ".x", "x.", "a\0.b"] {
            let err = validate(&res(key)).unwrap_err().to_string();
            assert!(
                err.starts_with("linux.resources.unified.") && err.contains("not a file name"),
                "{key:?}: {err}"
            );
        }
        assert_eq!(
            validate(&res("../pids.max")).unwrap_err().to_string(),
            "linux.resources.unified.../pids.max: is not a file name of the container's cgroup (CONTROLLER.FILE, no /)"
        );
    }

    #[test]
    fn v1_limits_without_their_hierarchy_name_the_field() {
        let cg = Cgroup {
            dirs: vec![
                "/sys/fs/cgroup/memory/c".into(),
                "/sys/fs/cgroup/net_cls,net_prio/c".into(),
            ],
            ..Cgroup::default()
        };
        let res = |json: &str| serde_json::from_str::<LinuxResources>(json).unwrap();
        assert!(check_v1_hierarchies(&cg, &res(r#"{"network":{"classID":1}}"#)).is_ok());
        let err = check_v1_hierarchies(
            &cg,
            &res(r#"{"hugepageLimits":[{"pageSize":"2MB","limit":0}]}"#),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "linux.resources.hugepageLimits: this host has no hugetlb hierarchy (cgroup v1)"
        );
    }

    #[test]
    fn v1_settings_without_a_v2_counterpart_are_refused() {
        let res = |json: &str| serde_json::from_str::<LinuxResources>(json).unwrap();
        let err = |json: &str| check_v2_conversions(&res(json)).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"network":{"classID":1}}"#),
            "linux.resources.network.classID: has no cgroup v2 equivalent on this host"
        );
        assert!(
            err(r#"{"memory":{"swappiness":10}}"#).starts_with("linux.resources.memory.swappiness")
        );
        assert!(
            check_v2_conversions(&res(
                r#"{"memory":{"limit":1000,"disableOOMKiller":false,"useHierarchy":true}}"#
            ))
            .is_ok()
        );
    }
}
