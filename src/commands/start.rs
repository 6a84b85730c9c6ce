use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};

use crate::state::{ContainerDir, State, Status};

pub fn run(root: &Path, id: &str) -> anyhow::Result<i32> {
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    match state.status(&dir) {
        Status::Created => {}
        s => bail!(
            "cannot start container {id}: it is {}, not created",
            s.as_str()
        ),
    }
    let fifo = dir.fifo();
    // Non-blocking: the init holds the fifo open, so this succeeds at once
    // while it lives; ENXIO means it died.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("start container {id}: open {}", fifo.display()))?;
    f.write_all(b"0")
        .with_context(|| format!("start container {id}: write {}", fifo.display()))?;
    std::fs::remove_file(&fifo)
        .with_context(|| format!("start container {id}: remove {}", fifo.display()))?;
    state.run_hooks("poststart", Status::Running);
    Ok(0)
}
