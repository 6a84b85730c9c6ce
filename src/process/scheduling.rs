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
