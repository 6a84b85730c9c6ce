//! What `exec` takes from a container's config, recorded by `create` in the
//! state directory (root's, out of the container's reach) as the config was
//! then: the process defaults (its LSM labels included), which namespaces
//! the container has, the process attributes of `linux`, the seccomp
//! listener, and the seccomp filter already compiled. exec never reads the
//! bundle: a container whose root.path is "." can rewrite its own
//! config.json, and a bundle may be changed or moved after create.
//!
//! The file is the JSON of `Record`, then, when there is a filter, a NUL
//! byte (which JSON text never holds) and the filter's bytes.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxMemoryPolicy, LinuxPersonality, Process, Spec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, PathContext, Result};
use crate::seccomp::Program;
use crate::state::ContainerDir;

const FILE: &str = "exec";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// The CLONE_NEW* flags of the namespaces the init has (its own or
    /// joined): exec joins exactly those of the init, through its pidfd.
    namespaces: i32,
    pub process: Option<Process>,
    pub personality: Option<LinuxPersonality>,
    pub memory_policy: Option<LinuxMemoryPolicy>,
    pub listener_path: Option<PathBuf>,
    pub listener_metadata: Option<String>,
    #[serde(skip)]
    pub seccomp: Option<Program>,
}

impl Record {
    /// From the config as read and validated, before create amends its
    /// process for the container's init (NOTIFY_SOCKET, LISTEN_FDS).
    pub fn new(spec: &Spec) -> Record {
        let linux = spec.linux().as_ref();
        let seccomp = linux.and_then(|l| l.seccomp().as_ref());
        Record {
            namespaces: linux
                .and_then(|l| l.namespaces().as_ref())
                .into_iter()
                .flatten()
                .fold(CloneFlags::empty(), |f, ns| {
                    f | crate::namespaces::flag(ns.typ())
                })
                .bits(),
            process: spec.process().clone(),
            personality: linux.and_then(|l| l.personality().clone()),
            memory_policy: linux.and_then(|l| l.memory_policy().clone()),
            listener_path: seccomp.and_then(|s| s.listener_path().clone()),
            listener_metadata: seccomp.and_then(|s| s.listener_metadata().clone()),
            seccomp: None,
        }
    }

    pub fn namespaces(&self) -> CloneFlags {
        CloneFlags::from_bits_truncate(self.namespaces)
    }

    /// Writes the record into the new container's directory, with the
    /// compiled filter. The file is new: O_EXCL, and O_NOFOLLOW so that
    /// nothing planted there is followed.
    pub fn save(&self, dir: &ContainerDir, seccomp: Option<&Program>) -> Result<()> {
        let path = dir.path.join(FILE);
        let mut bytes = serde_json::to_vec(self).expect("the exec record serialises");
        if let Some(p) = seccomp {
            bytes.push(0);
            p.write_to(&mut bytes);
        }
        File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| f.write_all(&bytes))
            .at("write", &path)
    }

    pub fn load(dir: &ContainerDir) -> Result<Record> {
        let path = dir.path.join(FILE);
        let mut bytes = Vec::new();
        match File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| f.read_to_end(&mut bytes))
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::State(format!(
                    "cannot exec in container {}: {} is missing (a berth before the exec \
                     record created it; recreate the container)",
                    dir.id,
                    path.display()
                )));
            }
            Err(e) => return Err(Error::path("read", &path, e)),
        }
        let damaged = |field: String, e: String| {
            Error::config(
                format!("{} {field}", path.display()),
                format!(
                    "{e} (the state is damaged: `berth delete -f {}` removes it)",
                    dir.id
                ),
            )
        };
        let (json, filter) = match bytes.iter().position(|&b| b == 0) {
            Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
            None => (&bytes[..], None),
        };
        let mut record: Record =
            crate::jsonpath::parse(json).map_err(|(field, e)| damaged(field, e.to_string()))?;
        if let Some(b) = filter {
            record.seccomp = Some(Program::from_bytes(b).ok_or_else(|| {
                damaged(
                    "seccomp".into(),
                    "the filter is not whole BPF instructions".into(),
                )
            })?);
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_damage() {
        let root = std::env::temp_dir().join(format!("berth-record-test-{}", std::process::id()));
        let dir = ContainerDir::create(&root, "r1").unwrap();
        let spec = crate::config::parse(
            br#"{"ociVersion": "1.2.0", "root": {"path": "r"},
                "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 7, "gid": 7}},
                "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}],
                    "seccomp": {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/l", "listenerMetadata": "m",
                        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}}}"#,
        )
        .unwrap();
        let profile = spec.linux().as_ref().unwrap().seccomp().as_ref().unwrap();
        let filter = crate::seccomp::compile(profile).unwrap();
        Record::new(&spec).save(&dir, Some(&filter)).unwrap();
        // Never written over an existing file.
        assert!(Record::new(&spec).save(&dir, None).is_err());
        let r = Record::load(&dir).unwrap();
        assert_eq!(
            r.namespaces(),
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
        assert_eq!(r.process.unwrap().user().uid(), 7);
        assert_eq!(r.listener_metadata.as_deref(), Some("m"));
        assert_eq!(r.listener_path.as_deref(), Some(std::path::Path::new("/l")));
        assert!(r.seccomp.is_some());

        let file = dir.path.join(FILE);
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&file, bytes).unwrap();
        let e = Record::load(&dir).err().unwrap().to_string();
        assert!(
            e.contains("exec seccomp: ") && e.contains("berth delete -f r1"),
            "{e}"
        );
        std::fs::remove_file(&file).unwrap();
        let e = Record::load(&dir).err().unwrap().to_string();
        assert!(e.contains("is missing"), "{e}");
        dir.remove().unwrap();
        std::fs::remove_dir(&root).unwrap();
    }
}
