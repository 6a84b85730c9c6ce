//! CRIU, found and run as runc finds it: `criu` on PATH, or the program
//! named by `BERTH_CRIU` (a wrapper such as hack/criu's). berth drives its
//! command line; the images it writes are CRIU's own files.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cgroups::Cgroup;
use crate::error::{Error, Result};

/// The oldest CRIU berth drives: 4.0. Older releases (Debian 12's 3.17)
/// do not start on the 6.x kernels berth is tested on, and only 4.1.1 has
/// been tested.
pub const MIN_VERSION: (u32, u32) = (4, 0);

/// The environment variable naming the criu program.
pub const ENV: &str = "BERTH_CRIU";

pub struct Criu {
    pub program: PathBuf,
    pub version: String,
}

/// The program to run: `$BERTH_CRIU`, else the first `criu` on PATH.
fn program() -> Result<PathBuf> {
    let missing = || {
        Error::State(format!(
            "criu not found: install CRIU {}.{} or newer on PATH, or name it in ${ENV}",
            MIN_VERSION.0, MIN_VERSION.1
        ))
    };
    if let Some(p) = std::env::var_os(ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        if !p.is_file() {
            return Err(Error::State(format!(
                "{ENV}={}: no such program",
                p.display()
            )));
        }
        return Ok(p);
    }
    let path = std::env::var_os("PATH").ok_or_else(missing)?;
    std::env::split_paths(&path)
        .map(|d| d.join("criu"))
        .find(|p| p.is_file())
        .ok_or_else(missing)
}

/// The version `criu --version` prints on its `Version: X.Y[.Z]` line.
fn parse_version(out: &str) -> Option<(String, (u32, u32))> {
    let v = out.lines().find_map(|l| l.strip_prefix("Version:"))?.trim();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    Some((v.to_string(), (major, minor)))
}

impl Criu {
    /// Finds CRIU and checks its version; each failure is one line saying
    /// what is missing.
    pub fn find() -> Result<Criu> {
        let program = program()?;
        let out = Command::new(&program)
            .arg("--version")
            .output()
            .map_err(|e| Error::path("run", &program, e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (version, number) = parse_version(&text).ok_or_else(|| {
            Error::State(format!(
                "{} --version printed no version: is it CRIU?",
                program.display()
            ))
        })?;
        if number < MIN_VERSION {
            return Err(Error::State(format!(
                "criu {version} ({}) is too old: berth needs {}.{} or newer",
                program.display(),
                MIN_VERSION.0,
                MIN_VERSION.1
            )));
        }
        Ok(Criu { program, version })
    }

    /// Whether the kernel tracks dirty pages for CRIU (`--track-mem`).
    pub fn tracks_memory(&self) -> bool {
        Command::new(&self.program)
            .args(["check", "--feature", "mem_dirty_track"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Runs `criu ACTION ARGS...` logging to `log` (in the work dir), and
    /// returns CRIU's reason (its first error line) when it fails.
    pub fn run(&self, action: &str, args: &[String], work: &Path, log: &str) -> Result<()> {
        let status = Command::new(&self.program)
            .arg(action)
            .args(args)
            .arg("--work-dir")
            .arg(work)
            .args(["-o", log, "-v4"])
            .status()
            .map_err(|e| Error::path("run", &self.program, e))?;
        if status.success() {
            return Ok(());
        }
        let log = work.join(log);
        let reason = first_error(&log).unwrap_or_else(|| format!("exit status {status}"));
        Err(Error::State(format!(
            "criu {action} failed: {reason} (log: {})",
            log.display()
        )))
    }
}

/// The first error line of a CRIU log (the cause; later ones follow from it), skipping the RLIMIT_NOFILE one CRIU
/// logs on every run where it cannot raise its hard limit (harmless).
fn first_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter(|l| l.contains("Error (") && !l.contains("RLIMIT_NOFILE"))
        .find(|l| !l.contains("Dumping FAILED") && !l.contains("Restoring FAILED"))
        .map(|l| match l.find("): ") {
            Some(i) => l[i + 3..].trim().to_string(),
            None => l.trim().to_string(),
        })
}

/// Confines CRIU to the container's own cgroups: on dump, the v1
/// hierarchies berth manages (the container also sits at the root of the
/// others, name=systemd and a hybrid host's cgroup2, and CRIU would take
/// every cgroup of the host there, restoring them all nested below the
/// container's); on restore, the container's path in each of them.
pub fn cgroup_args(cgroup: &Cgroup, dump: bool) -> Vec<String> {
    let path = cgroup.path.to_string_lossy();
    if cgroup.unified {
        return match dump {
            true => Vec::new(),
            false => vec!["--cgroup-root".into(), path.into_owned()],
        };
    }
    let mut args = Vec::new();
    for (hierarchy, _) in hierarchies(cgroup) {
        for controller in hierarchy.split(',') {
            if dump {
                args.extend(["--cgroup-dump-controller".into(), controller.to_string()]);
            } else {
                args.extend(["--cgroup-root".into(), format!("{controller}:{path}")]);
            }
        }
    }
    args
}

/// The hierarchy name of each v1 directory (`cpu,cpuacct`, `memory`, ...)
/// with the directory.
fn hierarchies(cgroup: &Cgroup) -> impl Iterator<Item = (String, &Path)> {
    cgroup.dirs.iter().filter(|_| !cgroup.unified).filter_map(|dir| {
        let name = dir
            .strip_prefix(crate::cgroups::ROOT)
            .ok()?
            .components()
            .next()?;
        Some((name.as_os_str().to_string_lossy().into_owned(), dir.as_path()))
    })
}

/// The config's cgroup mounts on a v1 host: one cgroup mount per hierarchy
/// at DEST/NAME, rooted at the container's cgroup, which CRIU cannot dump
/// (no mount of the hierarchy's root in the container). Each is external,
/// keyed by its destination, as runc has them: restored as a bind of the
/// (new) container's directory in that hierarchy.
pub fn cgroup_mounts(spec: &oci_spec::runtime::Spec, cgroup: &Cgroup, dump: bool) -> Vec<String> {
    let mut args = Vec::new();
    let mounts = spec.mounts().iter().flatten();
    for m in mounts.filter(|m| m.typ().as_deref() == Some("cgroup")) {
        for (name, dir) in hierarchies(cgroup) {
            let dest = m.destination().join(&name);
            let source = if dump { dest.as_path() } else { dir };
            args.push("--external".into());
            args.push(format!("mnt[{}]:{}", dest.display(), source.display()));
        }
    }
    args
}

/// CRIU's key for a network namespace the container joined by path
/// (a pod's): dumped as external, handed back on restore.
const NET_KEY: &str = "extNetNs";

/// The network namespace the config joins by path, opened and checked as
/// create checks it.
pub fn joined_net(spec: &oci_spec::runtime::Spec) -> Result<Option<std::fs::File>> {
    let plan = crate::namespaces::plan(spec);
    Ok(crate::namespaces::open_joins(&plan, spec)?
        .into_iter()
        .find(|(t, _)| *t == oci_spec::runtime::LinuxNamespaceType::Network)
        .map(|(_, f)| f))
}

/// Dump: the joined network namespace is external (its inode as CRIU
/// names it), not the container's to save.
pub fn net_dump_args(net: &std::fs::File) -> Result<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let ino = net
        .metadata()
        .map_err(|e| Error::State(format!("stat the joined network namespace: {e}")))?
        .ino();
    Ok(vec!["--external".into(), format!("net[{ino}]:{NET_KEY}")])
}

/// Restore: CRIU inherits the joined network namespace's descriptor.
pub fn net_restore_args(net: &std::fs::File) -> Result<Vec<String>> {
    use std::os::fd::AsRawFd;
    // The descriptor must survive into criu: close-on-exec cleared.
    nix::fcntl::fcntl(
        net.as_raw_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )
        .map_err(|e| Error::sys("pass the joined network namespace to criu", e))?;
    Ok(vec!["--inherit-fd".into(), format!("fd[{}]:{NET_KEY}", net.as_raw_fd())])
}

/// Only for `features` and `--version`: the detected version, or why none.
pub fn describe() -> String {
    match Criu::find() {
        Ok(c) => format!("{} ({})", c.version, c.program.display()),
        Err(e) => format!("unavailable: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_are_read_from_the_version_line() {
        let v = |s: &str| parse_version(s).map(|(_, n)| n);
        assert_eq!(v("Version: 4.1.1\n"), Some((4, 1)));
        assert_eq!(v("Version: 3.17\nGitID: x\n"), Some((3, 17)));
        assert_eq!(v("Version: 4\n"), Some((4, 0)));
        assert_eq!(v("criu 4.1\n"), None);
        assert_eq!(v("Version: x.1\n"), None);
    }
}
