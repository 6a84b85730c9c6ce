use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

use crate::cli::UpdateArgs;
use crate::state::{ContainerDir, State, Status};

/// Writes new limits into a live container's cgroup: the resources of -r
/// (a file, or "-" for stdin) with the flags on top.
pub fn run(root: &Path, args: &UpdateArgs) -> anyhow::Result<i32> {
    let id = &args.id;
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    let status = state.status(&dir);
    if status == Status::Stopped {
        bail!("cannot update container {id}: it is stopped");
    }
    let mut res = match &args.resources {
        Some(p) => read_resources(p)?,
        None => LinuxResources::default(),
    };
    overlay_flags(&mut res, args);
    crate::cgroups::validate_resources(&res).with_context(|| format!("update container {id}"))?;
    crate::cgroups::apply(&state.cgroup, &res, true)
        .with_context(|| format!("update container {id}"))?;
    Ok(0)
}

fn read_resources(path: &Path) -> anyhow::Result<LinuxResources> {
    let mut text = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut text)
            .context("read resources from stdin")?;
    } else {
        text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    }
    crate::jsonpath::parse(&text)
        .map_err(|(field, e)| anyhow::anyhow!("{} ({field}): {e}", path.display()))
}

fn overlay_flags(res: &mut LinuxResources, a: &UpdateArgs) {
    if a.memory.is_some()
        || a.memory_swap.is_some()
        || a.memory_reservation.is_some()
        || a.kernel_memory.is_some()
        || a.kernel_memory_tcp.is_some()
    {
        let mut m: LinuxMemory = res.memory().unwrap_or_default();
        set(&mut m, a.memory, LinuxMemory::set_limit);
        set(&mut m, a.memory_swap, LinuxMemory::set_swap);
        set(&mut m, a.memory_reservation, LinuxMemory::set_reservation);
        set(&mut m, a.kernel_memory, LinuxMemory::set_kernel);
        set(&mut m, a.kernel_memory_tcp, LinuxMemory::set_kernel_tcp);
        res.set_memory(Some(m));
    }
    let cpu_given = a.cpu_share.is_some()
        || a.cpu_quota.is_some()
        || a.cpu_period.is_some()
        || a.cpu_burst.is_some()
        || a.cpu_rt_runtime.is_some()
        || a.cpu_rt_period.is_some()
        || a.cpu_idle.is_some()
        || a.cpuset_cpus.is_some()
        || a.cpuset_mems.is_some();
    if cpu_given {
        let mut c: LinuxCpu = res.cpu().clone().unwrap_or_default();
        set(&mut c, a.cpu_share, LinuxCpu::set_shares);
        set(&mut c, a.cpu_quota, LinuxCpu::set_quota);
        set(&mut c, a.cpu_period, LinuxCpu::set_period);
        set(&mut c, a.cpu_burst, LinuxCpu::set_burst);
        set(&mut c, a.cpu_rt_runtime, LinuxCpu::set_realtime_runtime);
        set(&mut c, a.cpu_rt_period, LinuxCpu::set_realtime_period);
        set(&mut c, a.cpu_idle, LinuxCpu::set_idle);
        set(&mut c, a.cpuset_cpus.clone(), LinuxCpu::set_cpus);
        set(&mut c, a.cpuset_mems.clone(), LinuxCpu::set_mems);
        res.set_cpu(Some(c));
    }
    if let Some(w) = a.blkio_weight {
        let mut b: LinuxBlockIo = res.block_io().clone().unwrap_or_default();
        b.set_weight(Some(w));
        res.set_block_io(Some(b));
    }
    if let Some(l) = a.pids_limit {
        let mut p = LinuxPids::default();
        p.set_limit(l);
        res.set_pids(Some(p));
    }
}

/// Sets one field from a flag that was given; fields not given keep the
/// value -r brought.
fn set<T, V>(target: &mut T, value: Option<V>, setter: fn(&mut T, Option<V>) -> &mut T) {
    if value.is_some() {
        setter(target, value);
    }
}
