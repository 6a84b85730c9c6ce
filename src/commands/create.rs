use std::path::Path;

use anyhow::Context;

use crate::cli::CreateArgs;
use crate::init::StartBy;

pub fn run(root: &Path, args: &CreateArgs, systemd: bool) -> anyhow::Result<i32> {
    crate::create::create(root, args, StartBy::Fifo, false, systemd)
        .with_context(|| format!("create container {}", args.id))?;
    Ok(0)
}
