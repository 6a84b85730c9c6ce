//! `checkpoint`: the container's process tree dumped by CRIU into an image
//! directory, as runc's checkpoint does. Without --leave-running (or
//! --pre-dump) the container is then destroyed, as runc destroys it.

use std::collections::BTreeSet;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oci_spec::runtime::Spec;

use crate::cli::{CgroupMode, CheckpointArgs, CriuArgs};
use crate::criu::Criu;
use crate::state::{ContainerDir, State, Status};

/// The image file berth writes beside CRIU's: the key of each of the
/// init's stdio descriptors (runc's name and meaning), so restore hands
/// its own stdio in their place.
pub(super) const DESCRIPTORS: &str = "descriptors.json";
/// The annotation naming a CRIU configuration file (runc's).
const CONFIG_ANNOTATION: &str = "org.criu.config";

pub fn run(root: &Path, args: &CheckpointArgs) -> anyhow::Result<i32> {
    let id = &args.id;
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    let status = state.status(&dir);
    if !matches!(status, Status::Running | Status::Paused) {
        bail!(
            "cannot checkpoint container {id}: it is {}, not running",
            status.as_str()
        );
    }
    let what = || format!("checkpoint container {id}");
    let criu = Criu::find().with_context(what)?;
    let spec = crate::config::load(&state.bundle).with_context(what)?;
    let images = image_dir(&args.criu.image_path, "--image-path").with_context(what)?;
    let work = match &args.criu.work_path {
        Some(w) => image_dir(w, "--work-path").with_context(what)?,
        None => images.clone(),
    };
    let mut cmd = vec![
        "--tree".to_string(),
        state.pid.to_string(),
        "--images-dir".into(),
        path_arg(&images),
        "--root".into(),
        path_arg(&state.rootfs),
    ];
    cmd.extend(common_args(&args.criu));
    cmd.extend(crate::criu::cgroup_args(&state.cgroup, true));
    cmd.extend(crate::criu::cgroup_mounts(&spec, &state.cgroup, true));
    if let Some(net) = crate::criu::joined_net(&spec).with_context(what)? {
        cmd.extend(crate::criu::net_dump_args(&net).with_context(what)?);
    }
    for dest in bind_destinations(&spec) {
        cmd.push("--external".into());
        cmd.push(format!("mnt[{dest}]:{dest}"));
    }
    for path in masked_files(&spec, state.pid) {
        cmd.push("--external".into());
        cmd.push(format!("mnt[{path}]:/dev/null"));
    }
    let keys = stdio_keys(state.pid);
    for key in keys.iter().flatten().collect::<BTreeSet<_>>() {
        if key.starts_with("file[") {
            cmd.push("--external".into());
            cmd.push(key.clone());
        }
    }
    let descriptors = serde_json::to_vec(&keys).context("encode the descriptors")?;
    crate::hostfile::replace(&images.join(DESCRIPTORS), &descriptors).with_context(what)?;
    if let Some(parent) = &args.parent_path {
        cmd.push("--prev-images-dir".into());
        cmd.push(path_arg(parent));
    }
    // A pre-dump needs the kernel's dirty-page tracking (soft-dirty bits);
    // a dump after one uses it where it exists, else copies every page.
    let tracks = (args.pre_dump || args.parent_path.is_some()) && criu.tracks_memory();
    if args.pre_dump && !tracks {
        bail!(
            "cannot pre-dump container {id}: this kernel has no dirty-page tracking \
             (`criu check --feature mem_dirty_track` fails); use a plain checkpoint"
        );
    }
    if tracks {
        cmd.push("--track-mem".into());
    }
    if args.leave_running {
        cmd.push("--leave-running".into());
    }
    if let Some(server) = &args.page_server {
        let (addr, port) = server
            .rsplit_once(':')
            .with_context(|| format!("--page-server {server:?}: not ADDRESS:PORT"))?;
        cmd.extend(["--page-server".into(), "--address".into(), addr.into()]);
        cmd.extend(["--port".into(), port.into()]);
    }
    if let Some(file) = state.annotations.get(CONFIG_ANNOTATION) {
        cmd.extend(["--config".into(), file.clone()]);
    }
    let action = if args.pre_dump { "pre-dump" } else { "dump" };
    criu.run(action, &cmd, &work, &format!("{action}.log"))
        .with_context(what)?;
    if !(args.leave_running || args.pre_dump) {
        super::delete::teardown(&state, dir)
            .with_context(|| format!("checkpoint container {id}: remove it"))?;
    }
    Ok(0)
}

/// The options both commands pass on as they are.
pub(super) fn common_args(a: &CriuArgs) -> Vec<String> {
    let mode = match a.manage_cgroups_mode {
        CgroupMode::Soft => "soft",
        CgroupMode::Full => "full",
        CgroupMode::Strict => "strict",
        CgroupMode::Ignore => "ignore",
    };
    let mut v = vec![format!("--manage-cgroups={mode}")];
    for (on, flag) in [
        (a.tcp_established, "--tcp-established"),
        (a.tcp_skip_in_flight, "--skip-in-flight"),
        (a.ext_unix_sk, "--ext-unix-sk"),
        (a.shell_job, "--shell-job"),
        (a.file_locks, "--file-locks"),
        (a.lazy_pages, "--lazy-pages"),
        (a.auto_dedup, "--auto-dedup"),
        (a.link_remap, "--link-remap"),
    ] {
        if on {
            v.push(flag.into());
        }
    }
    if let Some(fd) = a.status_fd {
        v.extend(["--status-fd".into(), fd.to_string()]);
    }
    // Dump skips the namespace's contents; restore makes it empty.
    for ns in &a.empty_ns {
        v.extend(["--empty-ns".into(), ns.clone()]);
    }
    v
}

/// An image or work directory: made (0700) when missing; anything but a
/// directory there, a symlink included, is an error naming the flag.
pub(super) fn image_dir(path: &Path, flag: &str) -> anyhow::Result<PathBuf> {
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => bail!("{flag} {}: {e}", path.display()),
    }
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("{flag} {}", path.display()))?;
    if !meta.is_dir() {
        bail!("{flag} {}: not a directory", path.display());
    }
    std::path::absolute(path).with_context(|| format!("{flag} {}", path.display()))
}

pub(super) fn path_arg(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The destinations of the config's bind mounts: CRIU cannot dump a mount
/// whose source is outside the container, so each is external, keyed by
/// its destination (as runc keys them).
pub(super) fn bind_destinations(spec: &Spec) -> Vec<String> {
    bind_mounts(spec).into_iter().map(|(d, _)| d).collect()
}

/// Each bind mount's destination and source.
pub(super) fn bind_mounts(spec: &Spec) -> Vec<(String, PathBuf)> {
    spec.mounts()
        .iter()
        .flatten()
        .filter(|m| {
            m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind")
        })
        .filter_map(|m| {
            let src = m.source().clone()?;
            Some((m.destination().to_string_lossy().into_owned(), src))
        })
        .collect()
}

/// Masked paths that are files: berth binds /dev/null on them, a mount
/// from outside the container that CRIU must be told about.
fn masked_files(spec: &Spec, pid: i32) -> Vec<String> {
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    spec.linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| {
            // Only a stat, through the container's root: a symlink the
            // container planted can at worst make the dump fail.
            std::fs::metadata(root.join(p.trim_start_matches('/'))).is_ok_and(|m| !m.is_dir())
        })
        .collect()
}

/// CRIU's key for each of the init's stdio descriptors: a pipe or socket
/// by its name, a file by mount id and inode (`file[MNT:INO]`, hex), which
/// dump must be told is external.
fn stdio_keys(pid: i32) -> Vec<Option<String>> {
    (0..3)
        .map(|fd| {
            let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
            let link = link.to_string_lossy().into_owned();
            if !link.starts_with('/') {
                return Some(link);
            }
            let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
            let mnt: u64 = info
                .lines()
                .find_map(|l| l.strip_prefix("mnt_id:"))?
                .trim()
                .parse()
                .ok()?;
            let ino = std::os::unix::fs::MetadataExt::ino(
                &std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok()?,
            );
            Some(format!("file[{mnt:x}:{ino:x}]"))
        })
        .collect()
}
