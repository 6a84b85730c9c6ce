//! process.ioPriority, process.scheduler and process.execCPUAffinity.

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use crate::error::{Error, Result};

pub fn set_io_priority(p: &LinuxIOPriority) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    const IOPRIO_CLASS_SHIFT: u32 = 13;
    let class: libc::c_int = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let prio = match libc::c_int::try_from(p.priority()) {
        Ok(n @ 0..=7) => n,
        _ => {
            return Err(Error::config(
                "process.ioPriority.priority",
                format!("{} is outside 0..=7", p.priority()),
            ));
        }
    };
    let value = (class << IOPRIO_CLASS_SHIFT) | prio;
    // SAFETY: ioprio_set takes three integers.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } < 0 {
        return Err(Error::sys(
            format!("process.ioPriority {} {prio}: ioprio_set", p.class()),
            Errno::last(),
        ));
    }
    Ok(())
}

/// struct sched_attr of sched_setattr(2), with the utilization clamps
/// (SCHED_ATTR_SIZE_VER1): the kernel refuses the UTIL_CLAMP flags with
/// the shorter struct.
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

const _: () = assert!(std::mem::size_of::<SchedAttr>() == 56);

fn flag(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag::*;
    match f {
        SchedResetOnFork => 0x01,
        SchedFlagReclaim => 0x02,
        SchedFlagDLOverrun => 0x04,
        SchedFlagKeepPolicy => 0x08,
        SchedFlagKeepParams => 0x10,
        SchedFlagUtilClampMin => 0x20,
        SchedFlagUtilClampMax => 0x40,
    }
}

/// The spec's names of process.scheduler.flags that oci-spec spells its
/// own way (it reads `SCHED_RESET_ON_FORK` and `SCHED_FLAG_D_L_OVERRUN`):
/// rewritten to its spelling in a raw process document. The other five
/// names are the same in both.
pub fn spec_flag_names(process: &mut serde_json::Value) {
    let Some(flags) = process
        .pointer_mut("/scheduler/flags")
        .and_then(|f| f.as_array_mut())
    else {
        return;
    };
    for f in flags {
        let ours = match f.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *f = ours.into();
    }
}

/// The scheduler fields the kernel would refuse with a bare EINVAL,
/// named: SCHED_DEADLINE's runtime <= deadline <= period (a period of 0
/// is the deadline), a runtime of at least 1024 ns (the kernel's
/// resolution), times below 2^63 ns.
pub fn validate(s: &Scheduler) -> Result<()> {
    if *s.policy() != LinuxSchedulerPolicy::SchedDeadline {
        return Ok(());
    }
    let field = |f: &str, msg: String| Err(Error::config(format!("process.scheduler.{f}"), msg));
    const MIN_RUNTIME: u64 = 1 << 10;
    const LIMIT: u64 = 1 << 63;
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    for (f, v) in [("runtime", runtime), ("deadline", deadline), ("period", period)] {
        if v >= LIMIT {
            return field(f, format!("{v} is 2^63 ns or more"));
        }
    }
    if runtime < MIN_RUNTIME {
        return field(
            "runtime",
            format!("{runtime}: SCHED_DEADLINE needs a runtime of at least {MIN_RUNTIME} ns"),
        );
    }
    if deadline < runtime {
        return field(
            "deadline",
            format!("{deadline}: SCHED_DEADLINE needs a deadline no shorter than the runtime ({runtime})"),
        );
    }
    if period != 0 && period < deadline {
        return field(
            "period",
            format!("{period}: SCHED_DEADLINE needs a period no shorter than the deadline ({deadline}), or 0"),
        );
    }
    Ok(())
}

/// A real-time policy (SCHED_FIFO, SCHED_RR) in a v1 cpu cgroup that has
/// no real-time runtime (cpu.rt_runtime_us 0, what a new cgroup gets unless
/// linux.resources.cpu.realtimeRuntime sets it) is refused by the kernel
/// with a bare EPERM: said here, naming the file. Reads the file only for
/// those policies; a kernel without real-time group scheduling has no file
/// and no such limit.
pub fn check_realtime_runtime(
    s: &Scheduler,
    cgroup: &crate::cgroups::Cgroup,
    configured: Option<i64>,
) -> Result<()> {
    use LinuxSchedulerPolicy::*;
    if !matches!(s.policy(), SchedFifo | SchedRr) || configured.is_some_and(|r| r != 0) {
        return Ok(());
    }
    let Some(file) = cgroup.v1_file("cpu", "cpu.rt_runtime_us") else {
        return Ok(());
    };
    match std::fs::read_to_string(&file) {
        Ok(v) if v.trim() == "0" => Err(Error::config(
            "process.scheduler.policy",
            format!(
                "{}: the container's cpu cgroup allows no real-time runtime ({} is 0; linux.resources.cpu.realtimeRuntime sets it)",
                s.policy(),
                file.display()
            ),
        )),
        _ => Ok(()),
    }
}

pub fn set_scheduler(s: &Scheduler) -> Result<()> {
    use LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => libc::SCHED_OTHER,
        SchedFifo => libc::SCHED_FIFO,
        SchedRr => libc::SCHED_RR,
        SchedBatch => libc::SCHED_BATCH,
        SchedIdle => libc::SCHED_IDLE,
        SchedDeadline => libc::SCHED_DEADLINE,
        SchedIso => {
            return Err(Error::config(
                "process.scheduler.policy",
                "SCHED_ISO is not supported by Linux",
            ));
        }
    };
    let priority = s.priority().unwrap_or(0);
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy as u32,
        flags: s.flags().iter().flatten().fold(0, |m, &f| m | flag(f)),
        nice: s.nice().unwrap_or(0),
        priority: u32::try_from(priority).map_err(|_| {
            Error::config(
                "process.scheduler.priority",
                format!("{priority} is negative"),
            )
        })?,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: sched_setattr reads `size` bytes of a live sched_attr.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) } < 0 {
        return Err(Error::sys(
            format!("process.scheduler.policy {}: sched_setattr", s.policy()),
            Errno::last(),
        ));
    }
    Ok(())
}

/// A CPU number: digits only (`str::parse` would take "+1").
fn cpu(s: &str) -> Option<usize> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&n| n < libc::CPU_SETSIZE as usize)
}

/// Parses a CPU list such as "0-3,7" into a cpu set; `field` names it in
/// errors.
pub fn parse_cpu_list(field: &str, list: &str) -> Result<libc::cpu_set_t> {
    let bad = || Error::config(field, format!("{list:?} is not a CPU list (like 0-3,7)"));
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let mut any = false;
    for part in list.split(',').filter(|p| !p.trim().is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (cpu(a).ok_or_else(bad)?, cpu(b).ok_or_else(bad)?),
            None => (cpu(part).ok_or_else(bad)?, cpu(part).ok_or_else(bad)?),
        };
        if lo > hi {
            return Err(bad());
        }
        for n in lo..=hi {
            // SAFETY: n is below CPU_SETSIZE (checked by `cpu`).
            unsafe { libc::CPU_SET(n, &mut set) };
        }
        any = true;
    }
    if !any {
        return Err(Error::config(field, format!("{list:?} names no CPU")));
    }
    Ok(set)
}

pub fn set_cpu_affinity(field: &str, list: &str) -> Result<()> {
    let set = parse_cpu_list(field, list)?;
    // SAFETY: sched_setaffinity reads a live cpu_set_t of the given size.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } < 0 {
        return Err(Error::sys(
            format!("{field} {list}: sched_setaffinity"),
            Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::rlimits::tests::in_child;

    fn has(s: &libc::cpu_set_t, n: usize) -> bool {
        // SAFETY: reads a bit of a live set; n is below CPU_SETSIZE.
        unsafe { libc::CPU_ISSET(n, s) }
    }

    #[test]
    fn parses_cpu_lists() {
        let s = parse_cpu_list("f", "0-1").unwrap();
        assert!(has(&s, 0) && has(&s, 1) && !has(&s, 2));
        let s = parse_cpu_list("f", " 0 - 1 , 3,").unwrap();
        assert!(has(&s, 0) && has(&s, 1) && !has(&s, 2) && has(&s, 3));
        for bad in ["3-1", "a", "1-", "-1", "+1", "1-2-3", "99999"] {
            let e = parse_cpu_list("process.execCPUAffinity.final", bad)
                .unwrap_err()
                .to_string();
            let want = format!("process.execCPUAffinity.final: {bad:?} is not a CPU list");
            assert!(e.starts_with(&want), "{e}");
        }
        let e = parse_cpu_list("f", " , ").unwrap_err().to_string();
        assert_eq!(e, r#"f: " , " names no CPU"#);
    }

    #[test]
    fn sets_cpu_affinity() {
        in_child(|| {
            set_cpu_affinity("f", "0").map_err(|e| e.to_string())?;
            // SAFETY: zeroed is the empty set; sched_getaffinity fills it.
            let mut s: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: writes at most size_of(s) bytes into a live set.
            assert_eq!(
                unsafe { libc::sched_getaffinity(0, size_of_val(&s), &mut s) },
                0
            );
            // SAFETY: reads a live set.
            assert_eq!(unsafe { libc::CPU_COUNT(&s) }, 1);
            assert!(has(&s, 0));
            Ok(())
        });
    }

    #[test]
    fn io_priority() {
        let p = |json: &str| serde_json::from_str::<LinuxIOPriority>(json).unwrap();
        let e = set_io_priority(&p(r#"{"class":"IOPRIO_CLASS_BE","priority":8}"#));
        assert_eq!(
            e.unwrap_err().to_string(),
            "process.ioPriority.priority: 8 is outside 0..=7"
        );
        for (json, want) in [
            (r#"{"class":"IOPRIO_CLASS_BE","priority":4}"#, 2 << 13 | 4),
            (r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#, 3 << 13),
        ] {
            let p = p(json);
            in_child(|| {
                set_io_priority(&p).map_err(|e| e.to_string())?;
                // SAFETY: ioprio_get takes two integers.
                let got = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
                assert_eq!(got, want);
                Ok(())
            });
        }
    }

    #[test]
    fn scheduler() {
        let s = |json: &str| serde_json::from_str::<Scheduler>(json).unwrap();
        let batch = s(r#"{"policy":"SCHED_BATCH","nice":5,"flags":["SCHED_RESET_ON_FORK"]}"#);
        in_child(|| {
            set_scheduler(&batch).map_err(|e| e.to_string())?;
            // SAFETY: sched_getscheduler takes a pid.
            let policy = unsafe { libc::sched_getscheduler(0) };
            assert_eq!(policy, libc::SCHED_BATCH | libc::SCHED_RESET_ON_FORK);
            // SAFETY: getpriority takes two integers.
            assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, 5);
            Ok(())
        });
        let fifo = s(r#"{"policy":"SCHED_FIFO","priority":0}"#);
        in_child(|| {
            let e = set_scheduler(&fifo).unwrap_err().to_string();
            let want = "process.scheduler.policy SCHED_FIFO: sched_setattr: EINVAL";
            if e.starts_with(want) { Ok(()) } else { Err(e) }
        });
        let e = set_scheduler(&s(r#"{"policy":"SCHED_ISO"}"#)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "process.scheduler.policy: SCHED_ISO is not supported by Linux"
        );
        let e = set_scheduler(&s(r#"{"policy":"SCHED_RR","priority":-1}"#)).unwrap_err();
        assert_eq!(e.to_string(), "process.scheduler.priority: -1 is negative");
    }
}
