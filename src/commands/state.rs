use std::path::Path;

use crate::state::{ContainerDir, State};

pub fn run(root: &Path, id: &str) -> anyhow::Result<i32> {
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    let status = state.status(&dir);
    crate::stdout::line(&serde_json::to_string_pretty(&state.to_json(status))?)?;
    Ok(0)
}
