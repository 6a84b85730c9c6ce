use std::path::Path;

use crate::cli::ListFormat;
use crate::state::State;

pub fn run(root: &Path, format: ListFormat, quiet: bool) -> anyhow::Result<i32> {
    let mut ids: Vec<String> = match std::fs::read_dir(root) {
        Ok(rd) => rd
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(anyhow::anyhow!("list {}: {e}", root.display())),
    };
    ids.sort();
    let mut rows = Vec::new();
    for id in ids {
        // A container deleted meanwhile, one not yet created, a damaged one
        // or a stray entry is skipped: a listing must not fail because of
        // one container.
        if let Some((state, status)) = State::peek(root, &id) {
            rows.push(state.to_json(status));
        }
    }
    if quiet {
        for r in &rows {
            crate::stdout::line(r["id"].as_str().unwrap_or_default())?;
        }
        return Ok(0);
    }
    match format {
        ListFormat::Json => crate::stdout::line(&serde_json::to_string(&rows)?)?,
        ListFormat::Table => print_table(&rows)?,
    }
    Ok(0)
}

fn print_table(rows: &[serde_json::Value]) -> std::io::Result<()> {
    let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"];
    let keys = ["id", "pid", "status", "bundle", "created", "owner"];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            keys.iter()
                .map(|k| {
                    r[*k]
                        .as_str()
                        .map_or_else(|| r[*k].to_string(), str::to_string)
                })
                .collect()
        })
        .collect();
    let width = |c: usize| {
        cells
            .iter()
            .map(|r| r[c].len())
            .chain([head[c].len()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..head.len()).map(width).collect();
    let line = |cols: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cols.iter().enumerate() {
            if i + 1 == cols.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}   ", w = widths[i]));
            }
        }
        crate::stdout::line(&s)
    };
    line(head.to_vec())?;
    for r in &cells {
        line(r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}
