//! What a controller file's refusal means for the config. libcgroups (and
//! berth's own writes) fail with the file and the errno, e.g. `failed to
//! open .../blkio.bfq.weight: No such file or directory`: true, but it names
//! neither the config field nor why the host refuses. Kernels differ in
//! what they offer (a build without BFQ has no blkio weight at all, one
//! without swap accounting no memsw files), so this turns such a failure
//! into `linux.resources.FIELD: VALUE: REASON`. Only failures pay for it.

use std::io;

use oci_spec::runtime::LinuxResources;

use crate::error::Error;

/// The config field (below linux.resources) a controller file carries.
fn field_of(file: &str) -> Option<&'static str> {
    let field = match file {
        "memory.limit_in_bytes" | "memory.max" => "memory.limit",
        "memory.soft_limit_in_bytes" | "memory.low" => "memory.reservation",
        "memory.memsw.limit_in_bytes" | "memory.swap.max" => "memory.swap",
        "memory.swappiness" => "memory.swappiness",
        "memory.oom_control" => "memory.disableOOMKiller",
        "memory.use_hierarchy" => "memory.useHierarchy",
        "cpu.shares" | "cpu.weight" => "cpu.shares",
        "cpu.cfs_quota_us" | "cpu.max" => "cpu.quota",
        "cpu.cfs_period_us" => "cpu.period",
        "cpu.cfs_burst_us" | "cpu.max.burst" => "cpu.burst",
        "cpu.rt_runtime_us" => "cpu.realtimeRuntime",
        "cpu.rt_period_us" => "cpu.realtimePeriod",
        "cpu.idle" => "cpu.idle",
        "cpuset.cpus" => "cpu.cpus",
        "cpuset.mems" => "cpu.mems",
        "blkio.weight" | "blkio.bfq.weight" | "io.weight" | "io.bfq.weight" => "blockIO.weight",
        "blkio.leaf_weight" => "blockIO.leafWeight",
        "blkio.weight_device" | "blkio.bfq.weight_device" | "blkio.leaf_weight_device" => {
            "blockIO.weightDevice"
        }
        "blkio.throttle.read_bps_device" => "blockIO.throttleReadBpsDevice",
        "blkio.throttle.write_bps_device" => "blockIO.throttleWriteBpsDevice",
        "blkio.throttle.read_iops_device" => "blockIO.throttleReadIOPSDevice",
        "blkio.throttle.write_iops_device" => "blockIO.throttleWriteIOPSDevice",
        "io.max" => "blockIO",
        "pids.max" => "pids.limit",
        "net_cls.classid" => "network.classID",
        "net_prio.ifpriomap" => "network.priorities",
        "devices.allow" | "devices.deny" => "devices",
        "rdma.max" => "rdma",
        f if f.starts_with("hugetlb.") => "hugepageLimits",
        _ => return None,
    };
    Some(field)
}

/// Why the host refuses `file`, when the errno alone does not say it.
fn reason(file: &str, errno: Option<i32>, err: &str) -> String {
    match errno {
        Some(libc::ENOENT) if file.contains("leaf_weight") => format!(
            "this kernel has no block I/O leaf weight (a CFQ feature; no CFQ scheduler on {})",
            schedulers()
        ),
        Some(libc::ENOENT) if file.contains("weight") => format!(
            "this kernel has no block I/O weight (no BFQ or CFQ scheduler on {})",
            schedulers()
        ),
        Some(libc::ENOENT) if file.contains("memsw") || file == "memory.swap.max" => format!(
            "this kernel has no swap accounting ({file} is missing; it needs swapaccount=1 or CONFIG_MEMCG_SWAP)"
        ),
        Some(libc::ENOENT) if file.starts_with("cpu.rt_") => format!(
            "this kernel has no real-time group scheduling ({file} is missing: CONFIG_RT_GROUP_SCHED)"
        ),
        Some(libc::ENOENT) if file.starts_with("hugetlb.") => {
            let size = file.split('.').nth(1).unwrap_or(file);
            format!("this kernel has no {size} huge pages ({file} is missing)")
        }
        Some(libc::ENOENT) => format!("this kernel has no {file}"),
        Some(libc::EINVAL) => format!("the kernel refused it in {file} (invalid argument)"),
        Some(libc::EBUSY) => format!("the kernel refused it in {file} (busy: {err})"),
        Some(libc::EPERM | libc::EACCES) => format!("the kernel refused {file}: {err}"),
        _ => format!("{file}: {err}"),
    }
}

/// The block devices and the schedulers each offers, for the weight
/// message: the reader learns which device lacks what.
fn schedulers() -> String {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/block") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("loop") || name.starts_with("ram") {
                continue;
            }
            if let Ok(s) = std::fs::read_to_string(e.path().join("queue/scheduler")) {
                out.push(format!("{name}: {}", s.trim()));
            }
        }
    }
    out.sort();
    if out.is_empty() {
        "any block device".into()
    } else {
        out.join(", ")
    }
}

/// The config's value at `field` (below linux.resources), for a refusal
/// that did not carry the value written (an open that failed).
fn value_at(resources: &LinuxResources, field: &str) -> Option<String> {
    let mut v = serde_json::to_value(resources).ok()?;
    for key in field.split('.') {
        v = v.get_mut(key)?.take();
    }
    Some(v.to_string())
}

/// The error for `file` refusing `value` (None: the file could not be
/// opened) with `err`, named by the config field the file carries.
pub fn refused(
    resources: &LinuxResources,
    file: &str,
    value: Option<&str>,
    errno: Option<i32>,
    err: &str,
) -> Error {
    let (field, value) = match field_of(file) {
        Some(field) => (
            format!("linux.resources.{field}"),
            value
                .map(|v| v.trim().to_string())
                .or_else(|| value_at(resources, field)),
        ),
        // Any other file is one of linux.resources.unified's keys.
        None => (
            format!("linux.resources.unified.{file}"),
            value.map(|v| v.trim().to_string()),
        ),
    };
    let why = reason(file, errno, err);
    Error::config(
        field,
        match value {
            Some(v) => format!("{v}: {why}"),
            None => why,
        },
    )
}

/// libcgroups' message for a failed write, made into `refused`: its
/// WrappedIoError is behind transparent variants (no source chain to walk),
/// so the file, the value and the errno are read from its text, whose
/// form (`failed to open|read P: E`, `failed to write D to P: E`) the
/// crate pins. Anything else keeps libcgroups' own words.
pub fn from_libcgroups(dirs: &[std::path::PathBuf], resources: &LinuxResources, msg: &str) -> Error {
    // v1's memory controller names no file when the limit is below what
    // the cgroup already uses (the init is in it by then).
    if let Some(rest) = msg.strip_prefix("unable to set memory limit to ") {
        let (value, usage) = rest.split_once(' ').unwrap_or((rest, ""));
        return Error::config(
            "linux.resources.memory.limit",
            format!("{value}: below what the container already uses {usage}"),
        );
    }
    let parsed = dirs.iter().find_map(|dir| {
        let dir = format!("{}/", dir.display());
        let at = msg.find(&dir)?;
        let rest = &msg[at + dir.len()..];
        let (file, err) = rest.split_once(": ")?;
        let value = msg[..at]
            .rsplit_once("failed to write ")
            .and_then(|(_, v)| v.strip_suffix(" to "));
        Some((file, value, err))
    });
    match parsed {
        Some((file, value, err)) => refused(resources, file, value, errno_of(err), err),
        None => Error::Cgroup {
            what: "linux.resources".into(),
            err: msg.to_string(),
        },
    }
}

/// The errno at the end of an io::Error's text (`... (os error 2)`).
fn errno_of(err: &str) -> Option<i32> {
    err.rsplit_once("(os error ")?
        .1
        .strip_suffix(')')?
        .parse()
        .ok()
}

/// `refused` for berth's own writes, which hold the io::Error itself.
pub fn io_refused(resources: &LinuxResources, file: &str, value: &str, e: &io::Error) -> Error {
    refused(resources, file, Some(value), e.raw_os_error(), &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_missing_weight_file_names_the_field_value_and_schedulers() {
        let dirs = ["/sys/fs/cgroup/blkio/c".into()];
        let msg = "io error: failed to open /sys/fs/cgroup/blkio/c/blkio.bfq.weight: No such file or directory (os error 2)";
        let e = from_libcgroups(&dirs, &res(r#"{"blockIO":{"weight":300}}"#), msg).to_string();
        assert!(
            e.starts_with(
                "linux.resources.blockIO.weight: 300: this kernel has no block I/O weight (no BFQ or CFQ scheduler on "
            ),
            "{e}"
        );
    }

    #[test]
    fn a_refused_write_names_the_value_written() {
        let dirs = ["/sys/fs/cgroup/cpuset/c".into()];
        let msg = "failed to write 99 to /sys/fs/cgroup/cpuset/c/cpuset.cpus: Invalid argument (os error 22)";
        let e = from_libcgroups(&dirs, &res(r#"{"cpu":{"cpus":"99"}}"#), msg).to_string();
        assert_eq!(
            e,
            "linux.resources.cpu.cpus: 99: the kernel refused it in cpuset.cpus (invalid argument)"
        );
    }

    #[test]
    fn a_memory_limit_below_usage_names_the_limit() {
        let msg = "unable to set memory limit to 4096 (current usage: 8192, peak usage: 262144)";
        let e = from_libcgroups(&[], &res("{}"), msg).to_string();
        assert_eq!(
            e,
            "linux.resources.memory.limit: 4096: below what the container already uses (current usage: 8192, peak usage: 262144)"
        );
    }

    #[test]
    fn missing_swap_accounting_and_unknown_files() {
        let dirs = ["/sys/fs/cgroup/memory/c".into()];
        let msg = "failed to open /sys/fs/cgroup/memory/c/memory.memsw.limit_in_bytes: No such file or directory (os error 2)";
        let e = from_libcgroups(&dirs, &res(r#"{"memory":{"swap":1000}}"#), msg).to_string();
        assert!(
            e.starts_with("linux.resources.memory.swap: 1000: this kernel has no swap accounting"),
            "{e}"
        );
        let other = from_libcgroups(&dirs, &res("{}"), "mount point error: x").to_string();
        assert_eq!(other, "linux.resources: mount point error: x");
        let msg = "failed to write bogus to /sys/fs/cgroup/memory/c/memory.high: Invalid argument (os error 22)";
        let e = from_libcgroups(&dirs, &res("{}"), msg).to_string();
        assert_eq!(
            e,
            "linux.resources.unified.memory.high: bogus: the kernel refused it in memory.high (invalid argument)"
        );
    }
}
