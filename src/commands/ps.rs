use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::cli::ListFormat;
use crate::state::{ContainerDir, State};

/// The container's processes: their pids as JSON, or ps(1)'s table cut to
/// the rows whose PID column is one of them.
pub fn run(root: &Path, id: &str, format: ListFormat, ps_args: &[String]) -> anyhow::Result<i32> {
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    let pids = state.cgroup.pids();
    if format == ListFormat::Json {
        crate::stdout::line(&serde_json::to_string(&pids)?)?;
        return Ok(0);
    }
    let args: Vec<&str> = if ps_args.is_empty() {
        vec!["-ef"]
    } else {
        ps_args.iter().map(String::as_str).collect()
    };
    let out = Command::new("ps").args(&args).output().context("run ps")?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps {}: its output has no PID column", args.join(" "));
    };
    crate::stdout::line(header)?;
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p: i32| pids.contains(&p)) {
            crate::stdout::line(line)?;
        }
    }
    Ok(0)
}
