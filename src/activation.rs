//! Socket activation (sd_listen_fds(3)), honoured as runc honours it: when
//! berth is started with LISTEN_FDS=N and LISTEN_PID naming berth itself,
//! descriptors 3..3+N go to the container's process (ahead of any
//! --preserve-fds ones), whose environment gets LISTEN_FDS=N (and
//! LISTEN_FDNAMES when given). LISTEN_PID must name the process that
//! receives the descriptors, which only the init knows once it is in its
//! pid namespace: the init sets it to its own pid whenever LISTEN_FDS is in
//! its environment (1 in a new pid namespace).

use std::borrow::Cow;

use oci_spec::runtime::{Process, Spec};

use crate::error::{Error, Result};

const VARS: [&str; 3] = ["LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES="];

/// How many descriptors the service manager passed to us: LISTEN_FDS when
/// LISTEN_PID names this process, else 0.
pub fn passed() -> Result<u32> {
    let Ok(fds) = std::env::var("LISTEN_FDS") else {
        return Ok(0);
    };
    let n: u32 = fds.parse().map_err(|_| {
        Error::config(
            "LISTEN_FDS",
            format!("{fds:?} is not a number of descriptors"),
        )
    })?;
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_some_and(|p| p == std::process::id());
    Ok(if ours { n } else { 0 })
}

/// At create: how many descriptors the service manager passed to us (0
/// when LISTEN_FDS is absent or meant for another process), with the
/// process's environment amended to match.
pub fn apply(spec: &mut Spec) -> Result<u32> {
    let n = passed()?;
    if n == 0 {
        return Ok(0);
    }
    if let Some(p) = spec.process_mut() {
        let env = p.env_mut().get_or_insert_with(Vec::new);
        env.retain(|e| !VARS.iter().any(|v| e.starts_with(v)));
        env.push(format!("LISTEN_FDS={n}"));
        // A placeholder: the init writes its own pid here.
        env.push("LISTEN_PID=1".into());
        if let Ok(names) = std::env::var("LISTEN_FDNAMES") {
            env.push(format!("LISTEN_FDNAMES={names}"));
        }
    }
    Ok(n)
}

/// In the init, just before the process is prepared: LISTEN_PID becomes
/// this process's pid when LISTEN_FDS is set (by us or by the engine).
pub fn own_pid(p: &Process) -> Cow<'_, Process> {
    let env = p.env().as_deref().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("LISTEN_FDS=")) {
        return Cow::Borrowed(p);
    }
    let mut env: Vec<String> = env
        .iter()
        .filter(|e| !e.starts_with("LISTEN_PID="))
        .cloned()
        .collect();
    env.push(format!("LISTEN_PID={}", std::process::id()));
    let mut owned = p.clone();
    owned.set_env(Some(env));
    Cow::Owned(owned)
}
