//! `restore`: a new container (the same id or another) whose init is the
//! process tree CRIU restores from a checkpoint's images. berth makes the
//! state dir and the cgroup as create does; CRIU makes the namespaces and
//! mounts from the images, with the bundle's rootfs as the root.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::mount::{MntFlags, MsFlags};

use super::checkpoint::{DESCRIPTORS, bind_mounts, common_args, image_dir, path_arg};
use crate::cgroups::Cgroup;
use crate::cli::RestoreArgs;
use crate::criu::Criu;
use crate::state::{ContainerDir, Recovery, State};

pub fn run(root: &Path, args: &RestoreArgs, systemd: bool) -> anyhow::Result<i32> {
    let id = &args.id;
    let what = || format!("restore container {id}");
    if args.console_socket.is_some() {
        bail!("restore container {id}: --console-socket is not supported yet (restore a terminal container with --shell-job from a terminal)");
    }
    if systemd {
        bail!("restore container {id}: --systemd-cgroup is not supported with restore");
    }
    // Everything that can be refused is checked before anything is made.
    let criu = Criu::find().with_context(what)?;
    let images = &args.criu.image_path;
    if !images.join("inventory.img").is_file() {
        bail!(
            "restore container {id}: --image-path {}: not a CRIU image directory (no inventory.img)",
            images.display()
        );
    }
    let images = image_dir(images, "--image-path").with_context(what)?;
    let work = match &args.criu.work_path {
        Some(w) => image_dir(w, "--work-path").with_context(what)?,
        None => images.clone(),
    };
    let descriptors: Vec<Option<String>> = match std::fs::read(images.join(DESCRIPTORS)) {
        Ok(b) => serde_json::from_slice(&b)
            .with_context(|| format!("restore container {id}: {DESCRIPTORS} in --image-path"))?,
        Err(_) => Vec::new(),
    };
    let bundle = std::path::absolute(args.bundle.as_deref().unwrap_or(Path::new(".")))
        .with_context(what)?;
    let spec = crate::config::load(&bundle).with_context(what)?;
    crate::config::validate(&spec).with_context(what)?;
    let rootfs = crate::config::rootfs(&spec, &bundle).with_context(what)?;
    let dir = ContainerDir::create(root, id).with_context(what)?;
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_else(|| PathBuf::from(id));
    let restored = (|| {
        let cgroup = Cgroup::locate(&cgroups_path)?;
        cgroup.check_unused()?;
        Recovery::save(&dir, 0, 0, &cgroup)?;
        cgroup.create()?;
        Ok::<_, crate::error::Error>(cgroup)
    })()
    .map_err(anyhow::Error::from)
    .and_then(|cgroup| {
        // CRIU runs in its own directory: every path it is given is absolute.
        let state_dir = std::path::absolute(&dir.path).context("the state dir")?;
        let mut cmd = vec![
            "--images-dir".to_string(),
            path_arg(&images),
            "--restore-detached".into(),
            "--pidfile".into(),
            path_arg(&state_dir.join("criu.pid")),
        ];
        cmd.extend(common_args(&args.criu));
        cmd.extend(crate::criu::cgroup_args(&cgroup, false));
        cmd.extend(crate::criu::cgroup_mounts(&spec, &cgroup, false));
        // Held open until criu has run: it inherits the descriptor.
        let net = crate::criu::joined_net(&spec)?;
        if let Some(net) = &net {
            cmd.extend(crate::criu::net_restore_args(net)?);
        }
        for (dest, src) in bind_mounts(&spec) {
            let src = if src.is_absolute() { src } else { bundle.join(src) };
            cmd.push("--external".into());
            cmd.push(format!("mnt[{dest}]:{}", src.display()));
        }
        // The key checkpoint gave every masked file.
        cmd.extend(["--external".into(), "mnt[/dev/null]:/dev/null".into()]);
        for (fd, key) in descriptors.iter().enumerate() {
            if let Some(key) = key {
                cmd.push("--inherit-fd".into());
                cmd.push(format!("fd[{fd}]:{key}"));
            }
        }
        if let Some(p) = &args.lsm_profile {
            cmd.extend(["--lsm-profile".into(), p.clone()]);
        }
        if let Some(c) = &args.lsm_mount_context {
            cmd.extend(["--lsm-mount-context".into(), c.clone()]);
        }
        if let Some(file) = spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get("org.criu.config"))
        {
            cmd.extend(["--config".into(), file.clone()]);
        }
        let pid = with_root(&state_dir, &rootfs, |croot| {
            cmd.extend(["--root".into(), path_arg(croot)]);
            criu.run("restore", &cmd, &work, "restore.log")?;
            let text = std::fs::read_to_string(state_dir.join("criu.pid"))
                .context("read criu's pid file")?;
            text.trim()
                .parse::<i32>()
                .with_context(|| format!("criu's pid file holds {:?}", text.trim()))
        })?;
        let start_time = crate::pidstat::read(pid)
            .context("the restored init exited at once")?
            .start_time;
        Recovery::save(&dir, pid, start_time, &cgroup)?;
        let state = State::new(id, (pid, start_time), &bundle, rootfs.clone(), &spec, cgroup);
        // What `exec` into the restored container takes, as create records it.
        let seccomp = spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
            .map(|s| crate::seccomp::compile_cached(s, root))
            .transpose()?;
        crate::exec_record::Record::new(&spec).save(&dir, seccomp.as_ref())?;
        state.save(&dir)?;
        if let Some(p) = &args.pid_file {
            crate::create::write_pid_file(p, pid)?;
        }
        Ok(())
    });
    if let Err(e) = restored {
        // The container never was: nothing of it stays.
        if let Some(rec) = Recovery::load(&dir) {
            let _ = rec.destroy();
        }
        let _ = dir.remove();
        return Err(e.context(what()));
    }
    Ok(0)
}

/// Runs `f` with the rootfs bound at STATE/criu-root: CRIU wants a root
/// that is a mount point of its own (as runc gives it).
fn with_root<T>(
    state_dir: &Path,
    rootfs: &Path,
    f: impl FnOnce(&Path) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let croot = state_dir.join("criu-root");
    std::fs::create_dir(&croot).with_context(|| format!("create {}", croot.display()))?;
    nix::mount::mount(
        Some(rootfs),
        &croot,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .with_context(|| format!("bind {} on {}", rootfs.display(), croot.display()))?;
    let out = f(&croot);
    // The restored tree has its own mount namespace: our view goes.
    let _ = nix::mount::umount2(&croot, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW);
    let _ = std::fs::remove_dir(&croot);
    out
}
