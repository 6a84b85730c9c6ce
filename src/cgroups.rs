//! Where a container's cgroups live and how its processes get in and out of
//! them. cgroup v1 (one hierarchy per controller, as on this machine's hybrid
//! layout) and v2 (one unified hierarchy) are both handled here; resource
//! limits are written by the cgroup resource code on top of these paths.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, statfs};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::error::{Error, PathContext, Result};

const ROOT: &str = "/sys/fs/cgroup";

/// The directories of one container's cgroup: one per v1 hierarchy, or the
/// single v2 directory. Stored in state.json so later commands need no
/// discovery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    pub dirs: Vec<PathBuf>,
    pub unified: bool,
}

/// One line of /proc/self/cgroup: the hierarchy's controllers and our own
/// path in it.
struct Membership {
    controllers: String,
    path: PathBuf,
}

fn own_memberships() -> Result<Vec<Membership>> {
    let text = fs::read_to_string("/proc/self/cgroup").at("read", "/proc/self/cgroup")?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?.to_string();
            let path = PathBuf::from(parts.next()?);
            Some(Membership { controllers, path })
        })
        .collect())
}

/// Joins a cgroupsPath onto a hierarchy: absolute paths from its root,
/// relative ones from the runtime's own cgroup there. ".." is refused so a
/// config cannot climb out of the hierarchy.
fn join(mount: &Path, own: &Path, cgroups_path: &Path) -> Result<PathBuf> {
    if cgroups_path
        .components()
        .any(|c| matches!(c, Component::ParentDir))
    {
        return Err(Error::config(
            "linux.cgroupsPath",
            format!("{} must not contain \"..\"", cgroups_path.display()),
        ));
    }
    let rel = if cgroups_path.is_absolute() {
        cgroups_path.strip_prefix("/").unwrap_or(cgroups_path)
    } else {
        cgroups_path
    };
    let base = if cgroups_path.is_absolute() {
        mount.to_path_buf()
    } else {
        mount.join(own.strip_prefix("/").unwrap_or(own))
    };
    Ok(base.join(rel))
}

impl Cgroup {
    /// Computes the container's cgroup directories for `cgroups_path`
    /// (the config's linux.cgroupsPath, or the container id when absent).
    pub fn locate(cgroups_path: &Path) -> Result<Cgroup> {
        let root = Path::new(ROOT);
        let fs_type = statfs(root).map_err(|e| Error::sys(format!("statfs {ROOT}"), e))?;
        let own = own_memberships()?;
        if fs_type.filesystem_type() == CGROUP2_SUPER_MAGIC {
            let mine = own
                .iter()
                .find(|m| m.controllers.is_empty())
                .map_or(Path::new("/"), |m| m.path.as_path());
            return Ok(Cgroup {
                dirs: vec![join(root, mine, cgroups_path)?],
                unified: true,
            });
        }
        if fs_type.filesystem_type() != TMPFS_MAGIC {
            return Err(Error::State(format!(
                "{ROOT} is neither cgroup2 nor a tmpfs of v1 hierarchies"
            )));
        }
        let mut dirs = Vec::new();
        for m in own
            .iter()
            .filter(|m| !m.controllers.is_empty() && !m.controllers.starts_with("name="))
        {
            // systemd mounts each hierarchy at ROOT/<controllers>; a hierarchy
            // mounted elsewhere is not one we manage.
            let mount = root.join(&m.controllers);
            match statfs(&mount) {
                Ok(s) if s.filesystem_type() == CGROUP_SUPER_MAGIC => {}
                _ => continue,
            }
            dirs.push(join(&mount, &m.path, cgroups_path)?);
        }
        Ok(Cgroup {
            dirs,
            unified: false,
        })
    }

    /// Creates every directory; cpuset needs cpus and mems before it accepts
    /// a task, so they are copied from the nearest parent that has them.
    pub fn create(&self) -> Result<()> {
        for dir in &self.dirs {
            fs::create_dir_all(dir).at("create cgroup", dir)?;
            if !self.unified && dir.starts_with(Path::new(ROOT).join("cpuset")) {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    inherit_cpuset(dir, file)?;
                }
            }
        }
        Ok(())
    }

    /// An O_PATH-free directory fd for clone3's CLONE_INTO_CGROUP (v2 only).
    pub fn dir_fd(&self) -> Option<OwnedFd> {
        if !self.unified {
            return None;
        }
        fs::File::open(self.dirs.first()?).ok().map(OwnedFd::from)
    }

    /// Every pid in the container's cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let Some(dir) = self.dirs.first() else {
            return Vec::new();
        };
        fs::read_to_string(dir.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Kills what is left in the cgroup and removes every directory. A
    /// cgroup still busy after two seconds is an error naming it.
    pub fn destroy(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        for dir in &self.dirs {
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        for pid in self.pids() {
                            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                        }
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => return Err(Error::path("remove cgroup", dir, e)),
                }
            }
        }
        Ok(())
    }
}

fn inherit_cpuset(dir: &Path, file: &str) -> Result<()> {
    let own = fs::read_to_string(dir.join(file)).at("read", dir.join(file))?;
    if !own.trim().is_empty() {
        return Ok(());
    }
    let mut parent = dir.parent();
    while let Some(p) = parent {
        let value = fs::read_to_string(p.join(file)).at("read", p.join(file))?;
        if !value.trim().is_empty() {
            // Parents between `p` and `dir` are empty too: fill them top-down.
            let mut chain: Vec<&Path> = dir.ancestors().take_while(|a| *a != p).collect();
            chain.reverse();
            for d in chain {
                fs::write(d.join(file), value.trim()).at("write", d.join(file))?;
            }
            return Ok(());
        }
        parent = p.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_absolute_and_relative_paths() {
        let m = Path::new("/sys/fs/cgroup/memory");
        let own = Path::new("/user.slice");
        assert_eq!(join(m, own, Path::new("/a/b")).unwrap(), m.join("a/b"));
        assert_eq!(
            join(m, own, Path::new("c")).unwrap(),
            m.join("user.slice/c")
        );
        let err = join(m, own, Path::new("/a/../../etc"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("linux.cgroupsPath: /a/../../etc"), "{err}");
    }
}
