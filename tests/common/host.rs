//! What this host offers that a test depends on, probed when the test runs.
//! Machines of the project's kind change under it (kernel builds, I/O
//! schedulers, controllers, capabilities): a test asks here first, then
//! asserts what berth does either way. docs/TESTING.md lists who asks what.
//! Each probe is a few reads of /proc or /sys (or one mkdir/rmdir of a
//! probe cgroup), cheap next to the container the test then runs.

use std::path::{Path, PathBuf};

/// cgroup2 mounted at /sys/fs/cgroup: the unified layout, no v1
/// hierarchies. Hybrid hosts (v1 hierarchies plus cgroup2 at
/// /sys/fs/cgroup/unified) and pure v1 hosts are not unified.
pub fn unified() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The v1 hierarchy of `controller` (as /sys/fs/cgroup/NAME, the name
/// systemd and every distribution give it, co-mounted ones through their
/// symlinks), when this host mounts one.
pub fn v1_hierarchy(controller: &str) -> Option<PathBuf> {
    if unified() {
        return None;
    }
    let dir = Path::new("/sys/fs/cgroup").join(controller);
    dir.join("cgroup.procs").exists().then_some(dir)
}

/// Runs `f` on a new cgroup of `controller`'s v1 hierarchy, made for the
/// probe and removed after it (some files exist only below the root).
fn in_probe_cgroup(controller: &str, f: impl FnOnce(&Path) -> bool) -> bool {
    let Some(root) = v1_hierarchy(controller) else {
        return false;
    };
    let probe = root.join(format!(
        "berth-probe-{}-{}",
        std::process::id(),
        super::sequence()
    ));
    if std::fs::create_dir(&probe).is_err() {
        return false;
    }
    let found = f(&probe);
    let _ = std::fs::remove_dir(&probe);
    found
}

/// Whether a cgroup of `controller`'s v1 hierarchy has `file`: some files
/// depend on the kernel build (BFQ's or CFQ's weights, memsw, kmem,
/// cpu.cfs_burst_us, cpu.idle, the realtime budget).
pub fn v1_file(controller: &str, file: &str) -> bool {
    in_probe_cgroup(controller, |dir| dir.join(file).exists())
}

/// Whether writing `value` to `file` of a v1 cgroup holds (reads back):
/// some kernels keep a file whose writes they refuse (the kernel-memory
/// limit on 6.x).
pub fn v1_write_holds(controller: &str, file: &str, value: &str) -> bool {
    in_probe_cgroup(controller, |dir| {
        let path = dir.join(file);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()))
            .is_ok()
            && std::fs::read_to_string(&path).is_ok_and(|t| t.trim() == value)
    })
}

/// The v1 file a blkio weight goes to on this kernel: CFQ's
/// blkio.weight, else BFQ's blkio.bfq.weight; None when the kernel has
/// neither scheduler (6.18.44 builds without BFQ offer `none
/// [mq-deadline] kyber`).
pub fn blkio_weight_file() -> Option<&'static str> {
    ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| v1_file("blkio", f))
}

/// The whole disk under the tests' scratch directory (bundles, rootfs
/// copies): its major, minor and name, e.g. (254, 0, "vda"). None when the
/// directory is on no block device (overlay, tmpfs).
pub fn disk() -> Option<(u32, u32, String)> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(env!("CARGO_TARGET_TMPDIR")).ok()?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let mut sys = std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    if sys.join("partition").exists() {
        sys.pop();
    }
    let text = std::fs::read_to_string(sys.join("dev")).ok()?;
    let (ma, mi) = text.trim().split_once(':')?;
    let name = sys.file_name()?.to_string_lossy().into_owned();
    Some((ma.parse().ok()?, mi.parse().ok()?, name))
}

/// Whether CAP_SYS_RESOURCE (24) is in this process's bounding set: without
/// it no runtime can raise an rlimit's hard limit or lower oom_score_adj.
pub fn cap_sys_resource() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|bnd| bnd & (1 << 24) != 0)
}

/// This process's hard limit for `resource` (libc::RLIMIT_*): what a
/// container's rlimit may reach without CAP_SYS_RESOURCE.
pub fn hard_limit(resource: libc::__rlimit_resource_t) -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return 0;
    }
    r.rlim_max
}

pub fn apparmor() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.trim() == "Y")
}

pub fn selinux() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// User namespaces this process may make (built in, and not switched off
/// with user.max_user_namespaces = 0).
pub fn user_namespaces() -> bool {
    Path::new("/proc/self/ns/user").exists()
        && std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .is_ok_and(|v| v.trim().parse::<u64>().is_ok_and(|n| n > 0))
}

/// Time namespaces (Linux 5.6 and CONFIG_TIME_NS).
pub fn time_namespaces() -> bool {
    Path::new("/proc/self/ns/time").exists()
}

/// A /proc file of berth's default maskedPaths that this kernel has (which
/// of them exist depends on its configuration: /proc/kcore is missing
/// here), for tests that read a masked file.
pub fn masked_proc_file() -> Option<&'static str> {
    [
        "/proc/timer_list",
        "/proc/keys",
        "/proc/sched_debug",
        "/proc/kcore",
        "/proc/latency_stats",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
}

/// Whether `program` is on PATH (a host tool a test runs, such as
/// systemd-notify or newuidmap).
pub fn command(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            std::fs::metadata(d.join(program)).is_ok_and(|m| {
                use std::os::unix::fs::PermissionsExt;
                m.is_file() && m.permissions().mode() & 0o111 != 0
            })
        })
    })
}

/// The smallest hugetlb page size this kernel has, in the spec's form
/// ("2MB", "1GB"), and in bytes, from /sys/kernel/mm/hugepages.
pub fn huge_page_size() -> Option<(String, u64)> {
    let kb = std::fs::read_dir("/sys/kernel/mm/hugepages")
        .ok()?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse::<u64>()
                .ok()
        })
        .min()?;
    let name = if kb >= 1 << 20 {
        format!("{}GB", kb >> 20)
    } else if kb >= 1 << 10 {
        format!("{}MB", kb >> 10)
    } else {
        format!("{kb}KB")
    };
    Some((name, kb << 10))
}

/// The I/O scheduler a block device runs (the bracketed one of its
/// queue/scheduler), e.g. "mq-deadline"; empty when it has none to say.
pub fn scheduler(disk: &str) -> String {
    std::fs::read_to_string(format!("/sys/block/{disk}/queue/scheduler"))
        .ok()
        .and_then(|t| {
            let (_, rest) = t.split_once('[')?;
            Some(rest.split_once(']')?.0.to_string())
        })
        .unwrap_or_default()
}

/// Whether the running kernel is at least `major.minor`.
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let have = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    have >= (major, minor)
}

/// Whether a bind mount of the scratch directory can be idmapped: the
/// kernel has mount_setattr's MOUNT_ATTR_IDMAP (5.12) and the filesystem
/// under the directory supports it (ext4, xfs, btrfs, f2fs from 5.12,
/// overlayfs from 5.19, tmpfs from 6.3).
pub fn idmapped_mounts() -> bool {
    let Ok(fs) = nix::sys::statfs::statfs(env!("CARGO_TARGET_TMPDIR")) else {
        return false;
    };
    let since = match fs.filesystem_type().0 as u64 {
        0xEF53 | 0x5846_5342 | 0x9123_683E | 0xF2F5_2010 => (5, 12),
        0x794C_7630 => (5, 19),
        0x0102_1994 => (6, 3),
        _ => return false,
    };
    kernel_at_least(since.0, since.1)
}

/// Whether the kernel's seccomp has `action` (as
/// /proc/sys/kernel/seccomp/actions_avail names it: user_notif, log, ...).
pub fn seccomp_action(action: &str) -> bool {
    std::fs::read_to_string("/proc/sys/kernel/seccomp/actions_avail")
        .is_ok_and(|t| t.split_whitespace().any(|a| a == action))
}
