//! Statistics for `events`: libcgroups reads the controllers' files, this
//! module shapes them as runc's event data (the JSON engines parse), and
//! counts OOM kills for the "oom" event.

use std::fs;

use libcgroups::common::CgroupManager;
use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use serde_json::{Value, json};

use super::Cgroup;
use crate::error::{Error, Result};

pub fn stats_json(cg: &Cgroup) -> Result<Value> {
    match cg.manager()?.stats() {
        Ok(stats) => Ok(shape(&stats)),
        // libcgroups 0.7 refuses an io.stat line that names a device with
        // no counters, which v2 kernels write for a device that has limits
        // but no I/O yet: then the v2 files are read here, without blkio.
        // A damaged state.json may list no directory: then this is an
        // error like any other.
        Err(e) if e.to_string().contains("io.stat") && cg.unified && !cg.dirs.is_empty() => {
            Ok(shape(&v2_without_io(&cg.dirs[0])))
        }
        Err(e) => Err(Error::Cgroup {
            what: format!("statistics of cgroup {}", cg.path.display()),
            err: e.to_string(),
        }),
    }
}

fn v2_without_io(dir: &std::path::Path) -> Stats {
    // libcgroups' reader: "max" is u64::MAX, as in its own statistics.
    let num = |f: &str| libcgroups::stats::parse_single_value(&dir.join(f)).unwrap_or(0);
    let keyed = |f: &str| -> std::collections::HashMap<String, u64> {
        fs::read_to_string(dir.join(f))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(' ')?;
                Some((k.to_string(), v.trim().parse().ok()?))
            })
            .collect()
    };
    let mut s = Stats::default();
    let cpu = keyed("cpu.stat");
    let usec = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    s.cpu.usage.usage_total = usec("usage_usec");
    s.cpu.usage.usage_user = usec("user_usec");
    s.cpu.usage.usage_kernel = usec("system_usec");
    s.memory.memory.usage = num("memory.current");
    s.memory.memory.limit = num("memory.max");
    s.memory.memswap.usage = num("memory.swap.current");
    s.memory.memswap.limit = num("memory.swap.max");
    s.memory.stats = keyed("memory.stat");
    s.pids.current = num("pids.current");
    s.pids.limit = num("pids.max");
    s
}

fn shape(s: &Stats) -> Value {
    let u = &s.cpu.usage;
    let t = &s.cpu.throttling;
    let m = &s.memory;
    let b = &s.blkio;
    let entry = |d: &MemoryData| json!({"limit": d.limit, "usage": d.usage, "max": d.max_usage, "failcnt": d.fail_count});
    let devices = |v: &[BlkioDeviceStat]| -> Value {
        v.iter()
            .map(|d| {
                json!({"major": d.major, "minor": d.minor,
                       "op": d.op_type.clone().unwrap_or_default(), "value": d.value})
            })
            .collect()
    };
    let hugetlb: serde_json::Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(size, h)| {
            (
                size.clone(),
                json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.fail_count}),
            )
        })
        .collect();
    json!({
        "cpu": {
            "usage": {
                "total": u.usage_total,
                "percpu": u.per_core_usage_total,
                "percpu_kernel": u.per_core_usage_kernel,
                "percpu_user": u.per_core_usage_user,
                "kernel": u.usage_kernel,
                "user": u.usage_user,
            },
            "throttling": {
                "periods": t.periods,
                "throttledPeriods": t.throttled_periods,
                "throttledTime": t.throttled_time,
            },
        },
        "memory": {
            "cache": m.cache,
            "usage": entry(&m.memory),
            "swap": entry(&m.memswap),
            "kernel": entry(&m.kernel),
            "kernelTCP": entry(&m.kernel_tcp),
            "raw": m.stats,
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit},
        "blkio": {
            "ioServiceBytesRecursive": devices(&b.service_bytes),
            "ioServicedRecursive": devices(&b.serviced),
            "ioQueuedRecursive": devices(&b.queued),
            "ioServiceTimeRecursive": devices(&b.service_time),
            "ioWaitTimeRecursive": devices(&b.wait_time),
            "ioMergedRecursive": devices(&b.merged),
            "ioTimeRecursive": devices(&b.time),
            "sectorsRecursive": devices(&b.sectors),
        },
        "hugetlb": hugetlb,
        "intel_rdt": {},
        "network_interfaces": null,
    })
}

/// How many processes the OOM killer has killed in the cgroup so far (the
/// oom_kill counter of memory.oom_control on v1, memory.events on v2).
pub fn oom_kills(cg: &Cgroup) -> u64 {
    let file = if cg.unified {
        "memory.events"
    } else {
        "memory.oom_control"
    };
    cg.dir_of("memory")
        .and_then(|d| fs::read_to_string(d.join(file)).ok())
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("oom_kill ").map(str::to_string))
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
