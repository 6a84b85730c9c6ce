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
/// until this value is dropped, serialising commands on one id.
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
        let path = root.join(id);
        match fs::DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(Error::Exists(id.into())),
            Err(e) => return Err(Error::path("create state dir", &path, e)),
        }
        Self::lock(id, path)
    }

    /// Opens and locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Self> {
        validate_id(id)?;
        Self::lock(id, root.join(id))
    }

    fn lock(id: &str, path: PathBuf) -> Result<Self> {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Err(Error::NotFound(id.into())),
            Err(e) => return Err(Error::path("open state dir", &path, e)),
        };
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

/// What `delete -f` needs when state.json cannot be read: the init (pid and
/// start time, so a reused pid is left alone) and the cgroup directories.
pub struct Recovery {
    pid: i32,
    start_time: u64,
    cgroup: Cgroup,
}

impl Recovery {
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
        let dirs = lines
            .map(PathBuf::from)
            .filter(|d| d.starts_with("/sys/fs/cgroup"))
            .collect();
        Some(Recovery {
            pid,
            start_time,
            cgroup: Cgroup {
                dirs,
                unified,
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
    pub fn load(dir: &ContainerDir) -> Result<State> {
        let path = dir.path.join(STATE_FILE);
        let bytes = fs::read(&path).at("read", &path)?;
        Self::parse(&bytes, &path, &dir.id)
    }

    /// state.json's contents, read from `path` for container `id` (both
    /// only named in errors).
    pub fn parse(bytes: &[u8], path: &Path, id: &str) -> Result<State> {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(&mut de).map_err(|e| {
            Error::config(
                format!("{} {}", path.display(), e.path()),
                format!(
                    "{} (the state is damaged: `berth delete -f {id}` removes it)",
                    e.inner()
                ),
            )
        })
    }

    /// Writes state.json atomically: readers see the old or the new file.
    /// The recovery lines go first, so a container whose state.json is
    /// later damaged can still be cleaned up.
    pub fn save(&self, dir: &ContainerDir) -> Result<()> {
        let mut rec = format!(
            "{} {} {}\n",
            self.pid,
            self.init_start_time,
            if self.cgroup.unified { "v2" } else { "v1" }
        );
        for d in &self.cgroup.dirs {
            rec += &format!("{}\n", d.display());
        }
        let rec_path = dir.path.join(RECOVERY_FILE);
        fs::write(&rec_path, rec).at("write", &rec_path)?;
        let tmp = dir.path.join(".state.json.tmp");
        let bytes = serde_json::to_vec(self).expect("state serialises");
        fs::write(&tmp, bytes).at("write", &tmp)?;
        let path = dir.path.join(STATE_FILE);
        fs::rename(&tmp, &path).at("rename to", &path)
    }

    /// The status, from the init process: gone or exited (or a different
    /// process under the same pid) is stopped; alive with the exec fifo still
    /// in place is created; a frozen cgroup is paused; otherwise running.
    pub fn status(&self, dir: &ContainerDir) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if dir.fifo().exists() {
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

    /// Runs poststart or poststop hooks; their failures are warnings.
    pub fn run_hooks(&self, kind: &str, status: Status) {
        let hooks = self.hooks.as_ref().and_then(|h| match kind {
            "poststart" => h.poststart().as_deref(),
            _ => h.poststop().as_deref(),
        });
        if let Some(hooks) = hooks.filter(|h| !h.is_empty()) {
            crate::hooks::run_warn(kind, hooks, &self.to_json(status).to_string());
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
