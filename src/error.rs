//! Typed errors of the runtime core. Every variant carries what failed and on
//! which path, field or value, so the command layer can print one useful line.

use std::path::{Path, PathBuf};

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json (or another input document) is wrong: `field` is the JSON
    /// path, `reason` says what is wrong with the value found there.
    #[error("{field}: {reason}")]
    Config { field: String, reason: String },

    /// A file system operation on a named path failed.
    #[error("{op} {}: {err}", path.display())]
    Path {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },

    /// A system call failed; `op` names it and its subject.
    #[error("{op}: {err}")]
    Sys { op: String, err: Errno },

    /// Opening the private procfs (pathrs) failed.
    #[error("{op} {}: {}", path.display(), chain(err.as_ref()))]
    Resolve {
        op: &'static str,
        path: PathBuf,
        err: Box<pathrs::error::Error>,
    },

    /// An error while applying one element of the config, named by `field`.
    // `inner`, not `source`: thiserror would make a field of that name the
    // error's source, and anyhow's chain would print it a second time.
    #[error("{field}: {inner}")]
    Field { field: String, inner: Box<Error> },

    #[error("container {0} does not exist")]
    NotFound(String),

    #[error("container {0} already exists")]
    Exists(String),

    /// The container is not in a state that allows the operation.
    #[error("{0}")]
    State(String),

    /// A cgroup operation failed; `what` names the resource or command, and
    /// libcgroups' message names the file and the value.
    #[error("{what}: {err}")]
    Cgroup { what: String, err: String },

    /// The container's init process reported a failure while being set up.
    #[error("{0}")]
    Init(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn sys(op: impl Into<String>, source: Errno) -> Self {
        Error::Sys {
            op: op.into(),
            err: source,
        }
    }

    pub fn path(op: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Path {
            op,
            path: path.as_ref().to_path_buf(),
            err: source,
        }
    }

    /// Names the config element whose application failed.
    pub fn within(self, field: impl Into<String>) -> Self {
        Error::Field {
            field: field.into(),
            inner: Box::new(self),
        }
    }

    pub fn resolve(op: &'static str, path: impl AsRef<Path>, source: pathrs::error::Error) -> Self {
        Error::Resolve {
            op,
            path: path.as_ref().to_path_buf(),
            err: Box::new(source),
        }
    }
}

/// An error and its sources on one line: pathrs puts the errno in a source.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Attaches the failing operation to an `Errno` result.
pub trait SysContext<T> {
    fn sys(self, op: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for std::result::Result<T, Errno> {
    fn sys(self, op: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(op(), e))
    }
}

/// Attaches the failing operation and path to an `io::Error` result.
pub trait PathContext<T> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> PathContext<T> for std::io::Result<T> {
    fn at(self, op: &'static str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::path(op, path, e))
    }
}
