use std::path::Path;

use anyhow::{Context, bail};

use crate::state::{ContainerDir, State, Status};

/// `pause` (frozen = true) and `resume`.
pub fn run(root: &Path, id: &str, frozen: bool) -> anyhow::Result<i32> {
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    let (verb, from) = if frozen {
        ("pause", Status::Running)
    } else {
        ("resume", Status::Paused)
    };
    let status = state.status(&dir);
    if status != from {
        bail!(
            "cannot {verb} container {id}: it is {}, not {}",
            status.as_str(),
            from.as_str()
        );
    }
    if state.cgroup.dirs.is_empty() {
        bail!("cannot {verb} container {id}: it has no cgroup (rootless without delegation)");
    }
    crate::cgroups::freeze(&state.cgroup, frozen)
        .with_context(|| format!("{verb} container {id}"))?;
    Ok(0)
}
