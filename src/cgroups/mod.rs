//! Where a container's cgroups live and how its processes get in and out of
//! them. cgroup v1 (one hierarchy per controller, as on this machine's hybrid
//! layout) and v2 (one unified hierarchy) are both handled here. Limits,
//! freezing and statistics go through libcgroups' managers (resources.rs,
//! freezer.rs, stats.rs) built on the same path.

mod dbus;
mod freezer;
mod refusal;
mod resources;
mod stats;
pub mod systemd;

pub use freezer::{freeze, is_frozen};
pub use resources::{apply, validate as validate_resources};
pub use stats::{oom_kills, stats_json};

use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::sys::statfs::{CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, TMPFS_MAGIC, statfs};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use libcgroups::common::AnyCgroupManager;

use crate::error::{Error, PathContext, Result};

pub const ROOT: &str = "/sys/fs/cgroup";

/// The directories of one container's cgroup: one per v1 hierarchy, or the
/// single v2 directory, all at `path` below their hierarchy's root. Stored
/// in state.json so later commands need no discovery.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Cgroup {
    pub dirs: Vec<PathBuf>,
    pub unified: bool,
    #[serde(default)]
    pub path: PathBuf,
    /// The topmost directory `create` made in each hierarchy (the parents
    /// of a new cgroupsPath), removed again by `destroy` once empty.
    #[serde(default)]
    pub created: Vec<PathBuf>,
    /// With `--systemd-cgroup`, the scope's "slice:prefix:name": systemd
    /// writes a unit's cgroup files again from its properties (at every
    /// reload), so the limits go to the unit too, and delete stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd: Option<String>,
}

impl Cgroup {
    /// The existing sub-cgroups `exec --cgroup` names: SUBPATH for every
    /// hierarchy, or CONTROLLER[,CONTROLLER...]:SUBPATH for the v1
    /// hierarchies of those controllers (the others stay the container's).
    /// A SUBPATH is relative, without `..`; each must exist.
    pub fn sub(&self, specs: &[String]) -> Result<Cgroup> {
        let bad = |s: &str, why: String| Error::State(format!("--cgroup {s}: {why}"));
        let mut dirs = self.dirs.clone();
        let mut chosen = vec![false; dirs.len()];
        for s in specs {
            let (controllers, sub) = match s.split_once(':') {
                Some((c, p)) => (Some(c), p),
                None => (None, s.as_str()),
            };
            let sub = Path::new(sub);
            let plain = sub
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if sub.as_os_str().is_empty() || !plain {
                return Err(bad(s, "the sub-cgroup must be a relative path without . or ..".into()));
            }
            if self.unified && controllers.is_some() {
                return Err(bad(s, "cgroup v2 has one hierarchy: give SUBPATH alone".into()));
            }
            let mut matched = false;
            for (i, d) in self.dirs.iter().enumerate() {
                let applies = match controllers {
                    None => true,
                    Some(list) => {
                        let names = hierarchy_controllers(d);
                        list.split(',').any(|c| names.contains(&c))
                    }
                };
                if !applies {
                    continue;
                }
                if chosen[i] {
                    return Err(bad(s, format!("{} already has a sub-cgroup", d.display())));
                }
                let dir = d.join(sub);
                if !dir.is_dir() {
                    return Err(bad(s, format!("{} is not a cgroup", dir.display())));
                }
                chosen[i] = true;
                dirs[i] = dir;
                matched = true;
            }
            if !matched {
                return Err(bad(s, "no cgroup hierarchy of the container has that controller".into()));
            }
        }
        Ok(Cgroup {
            dirs,
            ..self.clone()
        })
    }

    /// `file` of this cgroup in the v1 hierarchy that has `controller`
    /// (`cpu` in /sys/fs/cgroup/cpu,cpuacct/...), if it has that file.
    pub fn v1_file(&self, controller: &str, file: &str) -> Option<PathBuf> {
        if self.unified {
            return None;
        }
        self.dirs
            .iter()
            .find(|d| hierarchy_controllers(d).contains(&controller))
            .map(|d| d.join(file))
            .filter(|f| f.exists())
    }

    /// The first directory, of `dirs` or `created`, that is not one a
    /// container's cgroup can have (`is_container_dir`).
    pub fn misplaced(&self) -> Option<&Path> {
        self.dirs
            .iter()
            .chain(&self.created)
            .map(PathBuf::as_path)
            .find(|d| !is_container_dir(d, self.unified))
    }
}

/// The controllers of the v1 hierarchy `dir` is in, from its mount point's
/// name (/sys/fs/cgroup/cpu,cpuacct/... has cpu and cpuacct).
fn hierarchy_controllers(dir: &Path) -> Vec<&str> {
    dir.strip_prefix(ROOT)
        .ok()
        .and_then(|rest| rest.components().next())
        .and_then(|c| c.as_os_str().to_str())
        .map(|h| h.split(',').collect())
        .unwrap_or_default()
}

/// Whether `dir` can be a container's cgroup directory: below a
/// hierarchy's root (v1: /sys/fs/cgroup/HIERARCHY/..., v2:
/// /sys/fs/cgroup/...), without `.` or `..`. state.json and the recovery
/// lines are read back from disk, and `destroy` kills what the directories
/// hold and removes them: a damaged state naming a hierarchy's root would
/// have every process on the host killed.
pub fn is_container_dir(dir: &Path, unified: bool) -> bool {
    let Ok(rest) = dir.strip_prefix(ROOT) else {
        return false;
    };
    let plain = rest.components().all(|c| matches!(c, Component::Normal(_)));
    plain && rest.components().count() >= if unified { 1 } else { 2 }
}

/// The v2 directory a /proc/PID/cgroup text names (its "0::" line).
pub fn v2_dir_in(text: &str) -> Option<PathBuf> {
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(Path::new(ROOT).join(path.trim_start_matches('/')))
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
/// config cannot climb out of the hierarchy, and a path naming no cgroup
/// below its start ("/", ".", "") because that cgroup is shared: the
/// hierarchy's root, or the runtime's own, whose every process `delete`
/// and `kill --all` would kill.
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
    if !cgroups_path
        .components()
        .any(|c| matches!(c, Component::Normal(_)))
    {
        return Err(Error::config(
            "linux.cgroupsPath",
            format!(
                "{:?} names no cgroup of the container's own",
                cgroups_path.display()
            ),
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
    /// (the config's linux.cgroupsPath, or the container id when absent),
    /// and the topmost of their parents that `create` will make.
    /// A relative path starts at the runtime's own cgroup: on v2 its one
    /// cgroup; on v1 the cgroup systemd tracks it in (the unified or
    /// name=systemd line), so the container lands at the same path in every
    /// hierarchy, which is what libcgroups' v1 manager addresses.
    pub fn locate(cgroups_path: &Path) -> Result<Cgroup> {
        let root = Path::new(ROOT);
        let fs_type = statfs(root).map_err(|e| Error::sys(format!("statfs {ROOT}"), e))?;
        let own = own_memberships()?;
        let base = own
            .iter()
            .find(|m| m.controllers.is_empty())
            .or_else(|| own.iter().find(|m| m.controllers == "name=systemd"))
            .map_or(Path::new("/"), |m| m.path.as_path());
        let path = join(Path::new("/"), base, cgroups_path)?;
        let rel = path.strip_prefix("/").unwrap_or(&path);
        if fs_type.filesystem_type() == CGROUP2_SUPER_MAGIC {
            return Ok(Cgroup::with_dirs(vec![root.join(rel)], true, path));
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
            dirs.push(mount.join(rel));
        }
        Ok(Cgroup::with_dirs(dirs, false, path))
    }

    fn with_dirs(dirs: Vec<PathBuf>, unified: bool, path: PathBuf) -> Cgroup {
        let created = dirs
            .iter()
            .filter_map(|d| d.ancestors().take_while(|a| !a.exists()).last())
            .map(Path::to_path_buf)
            .collect();
        Cgroup {
            dirs,
            unified,
            path,
            created,
            systemd: None,
        }
    }

    /// libcgroups' manager for this cgroup, for limits, freezing and
    /// statistics.
    pub(crate) fn manager(&self) -> Result<AnyCgroupManager> {
        let fail = |e: &dyn std::fmt::Display| Error::Cgroup {
            what: format!("cgroup {}", self.path.display()),
            err: e.to_string(),
        };
        if self.unified {
            libcgroups::v2::manager::Manager::new(ROOT.into(), self.path.clone())
                .map(|m| m.any())
                .map_err(|e| fail(&e))
        } else {
            libcgroups::v1::Manager::new(&self.path)
                .map(|m| m.any())
                .map_err(|e| fail(&e))
        }
    }

    /// The directory of one v1 controller (or the v2 directory).
    pub(crate) fn dir_of(&self, controller: &str) -> Option<&Path> {
        if self.unified {
            return self.dirs.first().map(PathBuf::as_path);
        }
        self.dirs.iter().map(PathBuf::as_path).find(|d| {
            d.strip_prefix(ROOT)
                .ok()
                .and_then(|r| r.components().next())
                .and_then(|c| c.as_os_str().to_str())
                .is_some_and(|h| h.split(',').any(|c| c == controller))
        })
    }

    /// Refuses a cgroup that is not fit for a new container, as the spec
    /// asks of a runtime that checks: one that already holds processes
    /// (another container's, which this one's limits, kill and delete would
    /// reach too) or is frozen (the init could never run). Nothing has been
    /// made yet, so the caller must not destroy it.
    pub fn check_unused(&self) -> Result<()> {
        self.check_empty(&self.dirs)?;
        if is_frozen(self) {
            return Err(Error::config(
                "linux.cgroupsPath",
                format!("{}: the cgroup is frozen", self.path.display()),
            ));
        }
        Ok(())
    }

    /// `check_unused` again once `claim` holds the lock, against the
    /// creates that passed it at the same time: each had its init in every
    /// hierarchy before it let the lock go, so the locked directory is
    /// the one to look in.
    pub fn check_unclaimed(&self) -> Result<()> {
        self.check_empty(&self.dirs[..self.dirs.len().min(1)])
    }

    fn check_empty(&self, dirs: &[PathBuf]) -> Result<()> {
        for dir in dirs.iter().filter(|d| d.exists()) {
            let mut pids = Vec::new();
            procs_under(dir, &mut pids);
            if !pids.is_empty() {
                return Err(Error::config(
                    "linux.cgroupsPath",
                    format!(
                        "{}: the cgroup {} already has {} process(es)",
                        self.path.display(),
                        dir.display(),
                        pids.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Makes the directories and locks the cgroup against every other
    /// create naming it; the caller checks it is unused (`check_unclaimed`)
    /// under the lock and holds it until its init is in the cgroup, so two
    /// creates can never both pass the check (the lock is per cgroup, not
    /// per state root: `--root` does not separate cgroups). The lock is a
    /// flock on the first directory; one removed while we waited (its
    /// holder's create failed) is made and locked again.
    pub fn claim(&self) -> Result<Option<Flock<fs::File>>> {
        let Some(dir) = self.dirs.first() else {
            return Ok(None);
        };
        for _ in 0..100 {
            self.create()?;
            let f = fs::File::open(dir).at("open cgroup", dir)?;
            let lock = Flock::lock(f, FlockArg::LockExclusive)
                .map_err(|(_, e)| Error::sys(format!("lock cgroup {}", dir.display()), e))?;
            let held = lock.metadata().at("stat cgroup", dir)?.ino();
            if fs::metadata(dir).is_ok_and(|m| m.ino() == held) {
                return Ok(Some(lock));
            }
        }
        Err(Error::config(
            "linux.cgroupsPath",
            format!(
                "{}: the cgroup {} was removed 100 times while waiting for its lock",
                self.path.display(),
                dir.display()
            ),
        ))
    }

    /// Hands a v2 cgroup to `owner` (host uid, gid) as the spec's cgroup
    /// ownership rules say: the directory and the files the kernel lists
    /// as delegatable (/sys/kernel/cgroup/delegate, or the spec's three
    /// when that file is missing), those that exist; nothing else.
    pub fn delegate(&self, owner: (u32, u32)) -> Result<()> {
        let Some(dir) = self.dirs.first().filter(|_| self.unified) else {
            return Ok(());
        };
        let listed = fs::read_to_string("/sys/kernel/cgroup/delegate").unwrap_or_else(|_| {
            "cgroup.procs\ncgroup.subtree_control\ncgroup.threads\n".to_string()
        });
        let (uid, gid) = (Some(owner.0.into()), Some(owner.1.into()));
        nix::unistd::chown(dir, uid, gid)
            .map_err(|e| Error::sys(format!("chown cgroup {}", dir.display()), e))?;
        for name in listed.lines().map(str::trim).filter(|n| !n.is_empty()) {
            let file = dir.join(name);
            match nix::unistd::chown(&file, uid, gid) {
                Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
                Err(e) => return Err(Error::sys(format!("chown {}", file.display()), e)),
            }
        }
        Ok(())
    }

    /// Creates every directory; cpuset needs cpus and mems before it accepts
    /// a task, so they are copied from the nearest parent that has them.
    pub fn create(&self) -> Result<()> {
        if self.unified {
            enable_controllers(&self.dirs[0]);
        }
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

    /// On v2, the cgroup `pid` is in now when that lies below the
    /// container's own: where exec goes when the container's directory
    /// refuses a process (EBUSY). A systemd inside, given the delegated
    /// scope, moves itself into init.scope and enables controllers for its
    /// sub-cgroups, and a cgroup that does so can hold no process itself.
    pub fn leaf_of(&self, pid: i32) -> Option<OwnedFd> {
        let own = self.dirs.first().filter(|_| self.unified)?;
        let procs = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let leaf = leaf_under(own, &procs)?;
        fs::File::open(leaf).ok().map(OwnedFd::from)
    }

    /// Every pid in the container's cgroup, sub-cgroups included.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        if let Some(dir) = self
            .dir_of("pids")
            .or(self.dirs.first().map(PathBuf::as_path))
        {
            procs_under(dir, &mut pids);
        }
        pids
    }

    /// Kills what is left in the cgroup (thawing it first: a frozen task
    /// cannot act on SIGKILL) and removes every directory, sub-cgroups
    /// first. A cgroup still busy after two seconds is an error naming it.
    pub fn destroy(&self) -> Result<()> {
        if self.dirs.is_empty() {
            return Ok(());
        }
        if is_frozen(self) {
            let _ = freeze(self, false);
        }
        let kill_file = self.dirs[0].join("cgroup.kill");
        if !(self.unified && fs::write(&kill_file, "1").is_ok()) {
            self.kill_all();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        for dir in &self.dirs {
            self.remove_tree(dir, deadline)?;
        }
        // An emptied scope is normally collected by systemd on its own; one
        // it still holds (a process it had not yet seen leave) is stopped.
        if let Some(scope) = systemd::Scope::of(self)? {
            scope.stop()?;
        }
        // Parents berth made go too, unless another cgroup lives there now.
        for top in &self.created {
            for d in self.dirs.iter().filter(|d| d.starts_with(top)) {
                for parent in d.ancestors().skip(1) {
                    if !parent.starts_with(top) || fs::remove_dir(parent).is_err() {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn kill_all(&self) {
        for pid in self.pids() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    fn remove_tree(&self, dir: &Path, deadline: Instant) -> Result<()> {
        if let Ok(entries) = fs::read_dir(dir) {
            for e in entries.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    self.remove_tree(&e.path(), deadline)?;
                }
            }
        }
        loop {
            match fs::remove_dir(dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    self.kill_all();
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(Error::path("remove cgroup", dir, e)),
            }
        }
    }
}

/// Whom a cgroup v2 container's cgroup is handed to, by the spec's rules:
/// only with a new cgroup namespace and /sys/fs/cgroup mounted from
/// `cgroup` read-write, to the host ids of the process's user. None when
/// nothing is to change (those ids are root's, or are not mapped).
pub fn delegation_owner(spec: &oci_spec::runtime::Spec) -> Option<(u32, u32)> {
    use oci_spec::runtime::LinuxNamespaceType;
    let linux = spec.linux().as_ref()?;
    let new_cgroupns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none());
    let rw_mount = spec.mounts().iter().flatten().any(|m| {
        m.source().as_deref() == Some(Path::new("cgroup"))
            && m.destination() == Path::new("/sys/fs/cgroup")
            && !m.options().iter().flatten().any(|o| o == "ro")
    });
    if !new_cgroupns || !rw_mount {
        return None;
    }
    let user = spec.process().as_ref()?.user();
    let new_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let host = |id: u32, maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        if !new_userns {
            return Some(id);
        }
        maps.iter().flatten().find_map(|m| {
            let off = id.checked_sub(m.container_id())?;
            (off < m.size()).then(|| m.host_id() + off)
        })
    };
    let owner = (
        host(user.uid(), linux.uid_mappings())?,
        host(user.gid(), linux.gid_mappings())?,
    );
    (owner != (0, 0)).then_some(owner)
}

fn procs_under(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(t) = fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                procs_under(&e.path(), out);
            }
        }
    }
}

/// On v2 a controller's files exist in a cgroup only when its parent
/// delegates it: every controller the root offers is enabled down the path.
/// A level that refuses (processes of its own, a controller not delegated)
/// is left as it is; a limit that needs the controller then fails naming
/// its file.
fn enable_controllers(dir: &Path) {
    let root = Path::new(ROOT);
    let Ok(available) = fs::read_to_string(root.join("cgroup.controllers")) else {
        return;
    };
    let wanted: String = available
        .split_whitespace()
        .map(|c| format!("+{c} "))
        .collect();
    let Ok(rel) = dir.strip_prefix(root) else {
        return;
    };
    let mut level = root.to_path_buf();
    for c in rel.parent().into_iter().flat_map(Path::components) {
        delegate(&level, &wanted);
        level.push(c);
        let _ = fs::create_dir(&level);
    }
    delegate(&level, &wanted);
}

/// One write for all controllers; if the kernel refuses the set, each one
/// alone, so one controller that cannot be enabled does not cost the rest.
/// A populated level (the runtime's own cgroup, for a relative path) is
/// left alone: it accepts the threaded controllers (cpu, cpuset, pids)
/// alone, which would make it a thread root whose children cannot take a
/// process.
fn delegate(level: &Path, wanted: &str) {
    let populated = level != Path::new(ROOT)
        && fs::read_to_string(level.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty());
    if populated {
        return;
    }
    let file = level.join("cgroup.subtree_control");
    if fs::write(&file, wanted.trim_end()).is_err() {
        for c in wanted.split_whitespace() {
            let _ = fs::write(&file, c);
        }
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

/// The v2 directory a /proc/PID/cgroup text names, if strictly below
/// `own` (a path from another cgroup namespace, or outside the container,
/// is not one to join).
fn leaf_under(own: &Path, proc_cgroup: &str) -> Option<PathBuf> {
    let rel = proc_cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new(ROOT).join(rel.trim_start_matches('/'));
    (dir != own && dir.starts_with(own) && !rel.contains("/..")).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_joins_the_inits_leaf_only_below_the_container() {
        let own = Path::new("/sys/fs/cgroup/machine.slice/libpod-c.scope");
        let under = |text: &str| leaf_under(own, text);
        assert_eq!(
            under("0::/machine.slice/libpod-c.scope/init.scope\n"),
            Some(own.join("init.scope"))
        );
        assert_eq!(under("0::/machine.slice/libpod-c.scope\n"), None);
        assert_eq!(under("0::/\n"), None);
        assert_eq!(under("0::/machine.slice/libpod-c.scope/../x\n"), None);
        assert_eq!(under("12:pids:/x\n1:name=systemd:/y\n"), None);
    }

    #[test]
    fn v2_dir_from_the_unified_line() {
        let text = "1:name=systemd:/x\n0::/berthtest.slice/berth-c1.scope\n";
        assert_eq!(
            v2_dir_in(text),
            Some(PathBuf::from("/sys/fs/cgroup/berthtest.slice/berth-c1.scope"))
        );
        assert_eq!(v2_dir_in("0::/\n"), Some(PathBuf::from("/sys/fs/cgroup/")));
        assert_eq!(v2_dir_in("3:memory:/a\n"), None);
    }

    #[test]
    fn delegation_follows_the_spec_rules() {
        let spec = |extra: &str| -> oci_spec::runtime::Spec {
            let mut v: serde_json::Value = serde_json::from_str(
                r#"{"ociVersion":"1.2.0","root":{"path":"rootfs"},
                "process":{"user":{"uid":0,"gid":0},"args":["true"],"cwd":"/"},
                "mounts":[{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid"]}],
                "linux":{"namespaces":[{"type":"cgroup"},{"type":"user"}],
                "uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
                "gidMappings":[{"containerID":0,"hostID":200000,"size":65536}]}}"#,
            )
            .unwrap();
            let patch: serde_json::Value = serde_json::from_str(extra).unwrap();
            for (k, val) in patch.as_object().unwrap() {
                let (top, key) = k.split_once('.').unwrap();
                v[top][key] = val.clone();
            }
            serde_json::from_value(v).unwrap()
        };
        assert_eq!(delegation_owner(&spec("{}")), Some((100000, 200000)));
        assert_eq!(
            delegation_owner(&spec(r#"{"process.user":{"uid":5,"gid":6}}"#)),
            Some((100005, 200006))
        );
        // A read-only mount, no new cgroup namespace, root's ids: nothing.
        let ro = r#"{"mounts":[{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["ro"]}]}"#;
        let mut v: serde_json::Value = serde_json::to_value(spec("{}")).unwrap();
        v["mounts"] = serde_json::from_str::<serde_json::Value>(ro).unwrap()["mounts"].clone();
        assert_eq!(delegation_owner(&serde_json::from_value(v).unwrap()), None);
        assert_eq!(
            delegation_owner(&spec(r#"{"linux.namespaces":[{"type":"user"}]}"#)),
            None
        );
        assert_eq!(
            delegation_owner(&spec(r#"{"linux.namespaces":[{"type":"cgroup"}]}"#)),
            None
        );
    }

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
        for shared in ["/", "", ".", "//./"] {
            let err = join(m, own, Path::new(shared)).unwrap_err().to_string();
            let want =
                format!("linux.cgroupsPath: {shared:?} names no cgroup of the container's own");
            assert_eq!(err, want);
        }
    }
}
