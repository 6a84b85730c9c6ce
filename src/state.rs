//! A container's lifecycle state on disk: the directory ROOT/ID, its lock,
//! and state.json. There is no daemon, so every command reads this, and the
//! status is derived from the init process each time, never stored.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::error::{Error, PathContext, Result};
use crate::pidstat;

const STATE_FILE: &str = "state.json";
const FIFO: &str = "exec.fifo";
/// A few plain lines beside state.json (see `Recovery`).
const RECOVERY_FILE: &str = "recovery";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Checks a container id the way runc does: letters, digits, and `_+-.`,
/// and never a path component that climbs.
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "container id",
            format!("{id:?} is invalid: use letters, digits and _+-."),
        ))
    }
}

/// A locked container directory. The lock (flock on the directory) is held
/// until this value is dropped, serialising commands on one id. A command
/// waits for it; one that gets it after a delete finds no container.
///
/// The state root's own flock covers the moment between `mkdir` and the
/// creator's lock: create holds it exclusively across both, and a command
/// opens a container's directory holding it shared, so no command ever
/// locks a directory its creator has not locked first.
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    /// Held, never read: the lock lasts as long as this value.
    _lock: Flock<File>,
}

impl ContainerDir {
    /// Makes ROOT/ID for a new container; an existing one is an error.
    pub fn create(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)
            .at("create state root", root)?;
        let root_lock = lock_root(root, FlockArg::LockExclusive)?;
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(Error::Exists(id.into())),
            Err(e) => return Err(Error::path("create state dir", &path, e)),
        }
        let file = open_dir(id, &path)?;
        let dir = Self::lock(id, path, file);
        drop(root_lock);
        dir
    }

    /// Opens and locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        let root_lock = match lock_root(root, FlockArg::LockShared) {
            Err(Error::Path { err, .. }) if err.kind() == ErrorKind::NotFound => {
                return Err(Error::NotFound(id.into()));
            }
            r => r?,
        };
        let path = root.join(id);
        let file = open_dir(id, &path)?;
        // Waiting for this container must not hold up creates of others.
        drop(root_lock);
        Self::lock(id, path, file)
    }

    fn lock(id: &str, path: PathBuf, file: File) -> Result<Self> {
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::sys(format!("lock {}", path.display()), e))?;
        // A delete that held the lock before us removed the directory.
        if lock.metadata().at("stat", &path)?.nlink() == 0 {
            return Err(Error::NotFound(id.into()));
        }
        Ok(ContainerDir {
            id: id.into(),
            path,
            _lock: lock,
        })
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join(FIFO)
    }

    pub fn remove(self) -> Result<()> {
        fs::remove_dir_all(&self.path).at("remove state dir", &self.path)
    }
}

fn open_dir(id: &str, path: &Path) -> Result<File> {
    match File::open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::NotFound(id.into())),
        Err(e) => Err(Error::path("open state dir", path, e)),
    }
}

/// The state root's flock (see `ContainerDir`), held until dropped.
fn lock_root(root: &Path, how: FlockArg) -> Result<Flock<File>> {
    let file = File::open(root).at("open state root", root)?;
    Flock::lock(file, how).map_err(|(_, e)| Error::sys(format!("lock {}", root.display()), e))
}

/// What `delete -f` needs when state.json cannot be read (damaged, or
/// never written by a create that was killed): the init (pid and start
/// time, so a reused pid is left alone) and the cgroup directories, with
/// the parents create made for them.
pub struct Recovery {
    pid: i32,
    start_time: u64,
    cgroup: Cgroup,
}

/// Marks a recovery line naming a parent directory create made.
const PARENT: &str = "parent ";

/// Writes `name` in the state dir whole, through `tmp` and a rename. The
/// temporary is opened O_NOFOLLOW: the directory is root's alone, and a
/// link found there all the same is never written through.
fn replace(dir: &ContainerDir, tmp: &str, name: &str, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = dir.path.join(tmp);
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .at("write", &tmp)?;
    let path = dir.path.join(name);
    fs::rename(&tmp, &path).at("rename to", &path)
}

impl Recovery {
    /// Writes the lines atomically (create rewrites them): first before any
    /// cgroup directory exists (pid 0), then once the init is ready: from
    /// then on it outlives a killed runtime.
    pub fn save(dir: &ContainerDir, pid: i32, start_time: u64, cgroup: &Cgroup) -> Result<()> {
        let version = if cgroup.unified { "v2" } else { "v1" };
        let mut text = format!("{pid} {start_time} {version}\n");
        for d in &cgroup.dirs {
            text += &format!("{}\n", d.display());
        }
        for d in &cgroup.created {
            text += &format!("{PARENT}{}\n", d.display());
        }
        replace(dir, ".recovery.tmp", RECOVERY_FILE, text.as_bytes())
    }

    pub fn load(dir: &ContainerDir) -> Option<Recovery> {
        Self::parse(&fs::read_to_string(dir.path.join(RECOVERY_FILE)).ok()?)
    }

    /// The lines as `save` writes them; anything else is no recovery.
    pub fn parse(text: &str) -> Option<Recovery> {
        let mut lines = text.lines();
        let mut head = lines.next()?.split(' ');
        let pid = head.next()?.parse().ok()?;
        let start_time = head.next()?.parse().ok()?;
        let unified = head.next()? == "v2";
        let (mut dirs, mut created) = (Vec::new(), Vec::new());
        for line in lines {
            let (list, path) = match line.strip_prefix(PARENT) {
                Some(p) => (&mut created, Path::new(p)),
                None => (&mut dirs, Path::new(line)),
            };
            // Nothing outside the cgroup hierarchies is removed, nor a
            // hierarchy's root.
            if crate::cgroups::is_container_dir(path, unified) {
                list.push(path.to_path_buf());
            }
        }
        Some(Recovery {
            pid,
            start_time,
            cgroup: Cgroup {
                dirs,
                unified,
                created,
                ..Cgroup::default()
            },
        })
    }

    /// Kills the init if it is still the same process, then removes the
    /// cgroup (which kills whatever else is in it).
    pub fn destroy(&self) -> Result<()> {
        let same = pidstat::read(self.pid).is_some_and(|s| s.start_time == self.start_time);
        if same && self.pid > 0 {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.cgroup.destroy()
    }
}

/// What state.json holds: the runtime-spec state, plus what later commands
/// need (the init's start time, the cgroup directories).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    /// Who created the container; the name is looked up only for display.
    pub owner_uid: u32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    pub init_start_time: u64,
    pub cgroup: Cgroup,
    /// The container shares the host's mount namespace: its rootfs mounts
    /// live there and are detached on delete.
    #[serde(default)]
    pub host_mounts: bool,
    /// The config's hooks: poststart and poststop run after create, when
    /// the bundle may already be gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// config.json had no process: there is nothing to start.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_process: bool,
}

impl State {
    /// The state of a container whose init `pid` (started at `start_time`)
    /// runs `spec` from `bundle`, as create and restore record it.
    pub fn new(
        id: &str,
        (pid, start_time): (i32, u64),
        bundle: &Path,
        rootfs: PathBuf,
        spec: &oci_spec::runtime::Spec,
        cgroup: Cgroup,
    ) -> State {
        State {
            // The version the state document complies with: berth's own.
            oci_version: crate::version::SPEC.into(),
            id: id.into(),
            pid,
            bundle: bundle.to_path_buf(),
            rootfs,
            created: crate::logging::rfc3339_now(),
            owner_uid: nix::unistd::getuid().as_raw(),
            annotations: spec
                .annotations()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            init_start_time: start_time,
            cgroup,
            host_mounts: false,
            hooks: spec.hooks().clone(),
            no_process: spec.process().is_none(),
        }
    }

    pub fn load(dir: &ContainerDir) -> Result<State> {
        Self::read(&dir.path, &dir.id)
    }

    fn read(dir: &Path, id: &str) -> Result<State> {
        let path = dir.join(STATE_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            // Under the container's lock only a create that died leaves
            // none (`peek`, which takes no lock, drops this error).
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::State(format!(
                    "container {id} was never completely created: {} is missing \
                     (`berth delete -f {id}` removes what its create made)",
                    path.display()
                )));
            }
            Err(e) => return Err(Error::path("read", &path, e)),
        };
        Self::parse(&bytes, &path, id)
    }

    /// state.json's contents, read from `path` for container `id` (both
    /// only named in errors).
    pub fn parse(bytes: &[u8], path: &Path, id: &str) -> Result<State> {
        let damaged = |field: String, e: String| {
            let at = if field == "." {
                path.display().to_string()
            } else {
                format!("{} {field}", path.display())
            };
            Error::config(
                at,
                format!("{e} (the state is damaged: `berth delete -f {id}` removes it)"),
            )
        };
        let state: State =
            crate::jsonpath::parse(bytes).map_err(|(field, e)| damaged(field, e.to_string()))?;
        if let Some(dir) = state.cgroup.misplaced() {
            return Err(damaged(
                "cgroup".into(),
                format!(
                    "{} is not a container's cgroup (not below a hierarchy's root)",
                    dir.display()
                ),
            ));
        }
        Ok(state)
    }

    /// A container's state and status read without its lock, for `list`,
    /// which must not wait for a create or delete in progress (runc's does
    /// not either). state.json is replaced whole, so this reads all of it
    /// or nothing; a container without one yet (being created, or its
    /// create died) is not listed, as runc does not list it.
    pub fn peek(root: &Path, id: &str) -> Option<(State, Status)> {
        validate_id(id).ok()?;
        let dir = root.join(id);
        let state = Self::read(&dir, id).ok()?;
        let status = state.status_in(&dir);
        Some((state, status))
    }

    /// Writes state.json atomically: readers see the old or the new file.
    /// (The recovery lines, written before, let `delete -f` clean up a
    /// container whose state.json is later damaged.)
    pub fn save(&self, dir: &ContainerDir) -> Result<()> {
        let bytes = serde_json::to_vec(self).expect("state serialises");
        replace(dir, ".state.json.tmp", STATE_FILE, &bytes)
    }

    /// The status, from the init process: gone or exited (or a different
    /// process under the same pid) is stopped; alive with the exec fifo still
    /// in place is created; a frozen cgroup is paused; otherwise running.
    pub fn status(&self, dir: &ContainerDir) -> Status {
        self.status_in(&dir.path)
    }

    fn status_in(&self, dir: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if dir.join(FIFO).exists() {
            Status::Created
        } else if crate::cgroups::is_frozen(&self.cgroup) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    pub fn init_alive(&self) -> bool {
        self.pid > 0
            && pidstat::read(self.pid)
                .is_some_and(|s| s.start_time == self.init_start_time && !s.exited())
    }

    /// Runs the poststart hooks: the first failure is the error (runtime.md
    /// step 9: the container is then stopped and destroyed).
    pub fn run_poststart(&self) -> Result<()> {
        match self.hooks.as_ref().and_then(|h| h.poststart().as_deref()) {
            Some(hooks) if !hooks.is_empty() => crate::hooks::run(
                "poststart",
                hooks,
                &self.to_json(Status::Running).to_string(),
                None,
            ),
            _ => Ok(()),
        }
    }

    /// Runs the poststop hooks; their failures are warnings.
    pub fn run_poststop(&self) {
        if let Some(hooks) = self
            .hooks
            .as_ref()
            .and_then(|h| h.poststop().as_deref())
            .filter(|h| !h.is_empty())
        {
            crate::hooks::run_warn(
                "poststop",
                hooks,
                &self.to_json(Status::Stopped).to_string(),
            );
        }
    }

    /// The runtime-spec state document, as `berth state` prints it (runc's
    /// extra fields included: engines parse them).
    pub fn to_json(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": owner_name(self.owner_uid),
            "annotations": self.annotations,
        })
    }
}

/// The user's name from /etc/passwd, else the number. Read directly, as
/// runc does: glibc's NSS lookup would link its resolver, dlopen and iconv
/// into the static binary (about a third of a megabyte) for one name shown
/// by `state` and `list`.
fn owner_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|t| passwd_name(&t, uid))
        .unwrap_or_else(|| uid.to_string())
}

fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)?.parse() == Ok(uid)).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_owners_from_passwd() {
        let passwd =
            "root:x:0:0:root:/root:/bin/sh\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(passwd, 7), None);
    }

    fn sample(id: &str) -> State {
        State {
            oci_version: "1.2.0".into(),
            id: id.into(),
            pid: i32::MAX,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-11-23T00:00:00.000000000Z".into(),
            owner_uid: 0,
            annotations: BTreeMap::from([("k".to_string(), "v".to_string())]),
            init_start_time: 1,
            cgroup: Cgroup::default(),
            host_mounts: false,
            hooks: None,
            no_process: false,
        }
    }

    #[test]
    fn saves_loads_and_derives_status() {
        let root = std::env::temp_dir().join(format!("berth-state-test-{}", std::process::id()));
        let dir = ContainerDir::create(&root, "c1").unwrap();
        assert!(matches!(
            ContainerDir::create(&root, "c1"),
            Err(Error::Exists(_))
        ));
        sample("c1").save(&dir).unwrap();
        let loaded = State::load(&dir).unwrap();
        assert_eq!(loaded.annotations["k"], "v");
        // No such process: stopped, and `state` reports pid 0.
        assert_eq!(loaded.status(&dir), Status::Stopped);
        assert_eq!(loaded.to_json(Status::Stopped)["pid"], 0);
        std::fs::write(dir.path.join(STATE_FILE), "{\"id\": 5}").unwrap();
        let e = State::load(&dir).unwrap_err().to_string();
        assert!(
            e.contains("state.json") && e.contains("berth delete -f c1"),
            "{e}"
        );
        dir.remove().unwrap();
        assert!(matches!(
            ContainerDir::open(&root, "c1"),
            Err(Error::NotFound(_))
        ));
        std::fs::remove_dir(&root).unwrap();
    }

    #[test]
    fn refuses_a_cgroup_that_is_no_containers() {
        let path = Path::new("/run/berth/c1/state.json");
        for (dirs, unified) in [
            (vec!["/sys/fs/cgroup/pids"], false),
            (vec!["/sys/fs/cgroup"], true),
            (
                vec!["/sys/fs/cgroup/pids/c1", "/sys/fs/cgroup/memory/c1/../.."],
                false,
            ),
            (vec!["/tmp/pids/c1"], false),
        ] {
            let mut s = sample("c1");
            s.cgroup.dirs = dirs.iter().map(PathBuf::from).collect();
            s.cgroup.unified = unified;
            let e = State::parse(&serde_json::to_vec(&s).unwrap(), path, "c1")
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("state.json cgroup: ")
                    && e.contains("not a container's cgroup")
                    && e.contains("berth delete -f c1"),
                "{e}"
            );
        }
        let mut s = sample("c1");
        s.cgroup.dirs = vec!["/sys/fs/cgroup/pids/c1".into()];
        s.cgroup.created = vec!["/sys/fs/cgroup/pids/a".into()];
        State::parse(&serde_json::to_vec(&s).unwrap(), path, "c1").unwrap();
    }

    #[test]
    fn recovery_lines_round_trip() {
        let root = std::env::temp_dir().join(format!("berth-recovery-test-{}", std::process::id()));
        let dir = ContainerDir::create(&root, "r1").unwrap();
        let e = State::load(&dir).unwrap_err().to_string();
        assert!(
            e.contains("never completely created") && e.contains("berth delete -f r1"),
            "{e}"
        );
        let cgroup = Cgroup {
            dirs: vec!["/sys/fs/cgroup/pids/a/b".into()],
            created: vec!["/sys/fs/cgroup/pids/a".into()],
            ..Cgroup::default()
        };
        Recovery::save(&dir, 42, 7, &cgroup).unwrap();
        let r = Recovery::load(&dir).unwrap();
        assert_eq!((r.pid, r.start_time), (42, 7));
        assert_eq!(
            (r.cgroup.dirs, r.cgroup.created),
            (cgroup.dirs, cgroup.created)
        );
        // Nothing outside the cgroup hierarchies is ever removed.
        fs::write(
            dir.path.join(RECOVERY_FILE),
            "1 2 v1\n/etc\nparent /\n/sys/fs/cgroup/pids\n/sys/fs/cgroup/pids/a/../..\n",
        )
        .unwrap();
        let r = Recovery::load(&dir).unwrap();
        assert!(r.cgroup.dirs.is_empty() && r.cgroup.created.is_empty());
        dir.remove().unwrap();
        fs::remove_dir(&root).unwrap();
    }

    #[test]
    fn ids() {
        for ok in ["a", "abc-1.2_3+x", "X"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "é"] {
            let e = validate_id(bad).unwrap_err().to_string();
            assert!(e.starts_with("container id:"), "{e}");
        }
    }
}
