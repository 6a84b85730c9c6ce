//! `berth-docs DIR`: writes DIR/man8/berth.8 and one page per command
//! (berth-create.8, ...), as runc ships its pages, and DIR/completions/
//! for bash (berth), zsh (_berth) and fish (berth.fish). Everything comes
//! from the command-line definition, so the pages cannot drift from it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

/// Errors carry the path they are about.
type Result<T> = std::result::Result<T, String>;

// The runtime's own definition, compiled here too; what only the runtime
// calls (the version pre-scan) is unused in this binary.
#[allow(dead_code)]
#[path = "../../../src/cli.rs"]
mod cli;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: berth-docs DIR");
        std::process::exit(2);
    };
    if let Err(e) = write_all(&dir) {
        eprintln!("berth-docs: {e}");
        std::process::exit(1);
    }
}

fn write_all(dir: &Path) -> Result<()> {
    let cmd = cli::Cli::command().version(env!("CARGO_PKG_VERSION"));
    let man = dir.join("man8");
    mkdir(&man)?;
    page(&cmd, "berth", &man)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("berth-{}", sub.get_name());
        // NAME says berth-run, SYNOPSIS how it is typed: berth run.
        let sub = sub
            .clone()
            .name(name.clone())
            .bin_name(format!("berth {}", sub.get_name()));
        page(&sub, &name, &man)?;
    }
    let comp = dir.join("completions");
    mkdir(&comp)?;
    for (shell, file) in [
        (clap_complete::Shell::Bash, "berth"),
        (clap_complete::Shell::Zsh, "_berth"),
        (clap_complete::Shell::Fish, "berth.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cli::Cli::command(), "berth", &mut buf);
        write(&comp.join(file), &buf)?;
    }
    Ok(())
}

/// One man page, section 8 (system administration, as runc's).
fn page(cmd: &clap::Command, name: &str, dir: &Path) -> Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section("8")
        .manual("berth manual")
        .render(&mut buf)
        .map_err(|e| format!("render {name}.8: {e}"))?;
    write(&dir.join(format!("{name}.8")), &buf)
}

fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("write {}: {e}", path.display()))
}
