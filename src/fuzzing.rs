//! What the fuzz targets (fuzz/) call: config.json and state.json from
//! bytes, through every check berth makes of them before it creates or
//! changes anything. The file reads stay outside, as do the steps with
//! effects (state dir, namespaces, cgroup, clone). An `Err` is the error
//! text a command would print.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Once;

use crate::cgroups::{self, Cgroup};
use crate::error::Result;
use crate::state::{Recovery, State};
use crate::{config, namespaces, rootfs, seccomp};

/// config.json as `create` takes it: parsed and validated, then what the
/// create path derives from it before the clone (namespace plan, seccomp
/// filter, cgroup, with either driver's checks of cgroupsPath) and what
/// the init derives from it before mounting (mount destinations and
/// options).
pub fn config(bytes: &[u8]) -> Result<(), String> {
    quiet();
    check_config(bytes).map_err(|e| e.to_string())
}

fn check_config(bytes: &[u8]) -> Result<()> {
    let spec = config::parse(bytes)?;
    config::validate(&spec)?;
    // black_box: results nobody reads must still be computed.
    black_box(namespaces::plan(&spec));
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        black_box(seccomp::compile(s)?);
    }
    for m in spec.mounts().iter().flatten() {
        black_box(rootfs::inroot::clean(m.destination()));
        black_box(rootfs::options::parse(
            m.options().as_deref().unwrap_or_default(),
        ));
    }
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    if let Some(p) = &cgroups_path {
        cgroups::systemd::parse(&p.to_string_lossy())?;
    }
    black_box(Cgroup::locate(
        &cgroups_path.unwrap_or_else(|| PathBuf::from("fuzz")),
    )?);
    Ok(())
}

/// state.json as every command on an existing container reads it, and the
/// recovery lines `delete -f` falls back on when state.json is damaged.
pub fn state(bytes: &[u8]) -> Result<(), String> {
    quiet();
    black_box(Recovery::parse(&String::from_utf8_lossy(bytes)));
    State::parse(bytes, Path::new("/run/berth/fuzz/state.json"), "fuzz")
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Warnings (an ignored mountLabel, say) go to /dev/null rather than once
/// per input to the fuzzer's terminal.
fn quiet() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = crate::logging::init(
            Some(Path::new("/dev/null")),
            crate::cli::LogFormat::Text,
            false,
        );
    });
}
