//! process.ioPriority and process.scheduler.

use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler,
};

use crate::error::{Error, Result};

pub fn set_io_priority(p: &LinuxIOPriority) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let class: i64 = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    if !(0..=7).contains(&p.priority()) {
        return Err(Error::config(
            "process.ioPriority.priority",
            format!("{} is outside 0..7", p.priority()),
        ));
    }
    let value = (class << 13) | p.priority();
    // SAFETY: ioprio_set takes three integers.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } < 0 {
        return Err(Error::sys(
            format!(
                "process.ioPriority: ioprio_set {:?} {}",
                p.class(),
                p.priority()
            ),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// struct sched_attr of sched_setattr(2).
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

pub fn set_scheduler(s: &Scheduler) -> Result<()> {
    use LinuxSchedulerPolicy::*;
    let policy = match s.policy() {
        SchedOther => libc::SCHED_OTHER,
        SchedFifo => libc::SCHED_FIFO,
        SchedRr => libc::SCHED_RR,
        SchedBatch => libc::SCHED_BATCH,
        SchedIdle => libc::SCHED_IDLE,
        SchedDeadline => 6,
        SchedIso => {
            return Err(Error::config(
                "process.scheduler.policy",
                "SCHED_ISO is not supported by Linux",
            ));
        }
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy as u32,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    };
    // SAFETY: sched_setattr reads `size` bytes of a live sched_attr.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } < 0 {
        return Err(Error::sys(
            format!("process.scheduler: sched_setattr {:?}", s.policy()),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// Parses a CPU list such as "0-3,7" into a cpu set; `field` names it in
/// errors.
pub fn parse_cpu_list(field: &str, list: &str) -> Result<libc::cpu_set_t> {
    let bad = || Error::config(field, format!("{list:?} is not a CPU list (like 0-3,7)"));
    // SAFETY: cpu_set_t is plain bits; all zeroes is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                a.trim().parse::<usize>().map_err(|_| bad())?,
                b.trim().parse::<usize>().map_err(|_| bad())?,
            ),
            None => {
                let n = part.parse::<usize>().map_err(|_| bad())?;
                (n, n)
            }
        };
        if lo > hi || hi >= libc::CPU_SETSIZE as usize {
            return Err(bad());
        }
        for cpu in lo..=hi {
            // SAFETY: cpu is below CPU_SETSIZE, checked above.
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    Ok(set)
}

pub fn set_cpu_affinity(field: &str, list: &str) -> Result<()> {
    let set = parse_cpu_list(field, list)?;
    // SAFETY: sched_setaffinity reads a live cpu_set_t of the given size.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } < 0 {
        return Err(Error::sys(
            format!("{field}: sched_setaffinity {list}"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_lists() {
        let s = parse_cpu_list("f", "0-1, 3").unwrap();
        // SAFETY: reading bits of a live set.
        let has = |c| unsafe { libc::CPU_ISSET(c, &s) };
        assert!(has(0) && has(1) && !has(2) && has(3));
        for bad in ["3-1", "a", "1-", "99999"] {
            let e = parse_cpu_list("process.execCPUAffinity.final", bad)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("process.execCPUAffinity.final:"), "{e}");
        }
    }
}
