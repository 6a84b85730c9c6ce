//! Typed errors of the runtime core. Every variant carries what failed and on
//! which path, field or value, so the command layer can print one useful line.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// config.json (or another input document) is wrong: `field` is the JSON
    /// path, `reason` says what is wrong with the value found there.
    #[error("{}: {}", Escaped(field), Escaped(reason))]
    Config { field: String, reason: String },

    /// A file system operation on a named path failed.
    #[error("{op} {}: {}", Escaped(&path.to_string_lossy()), Escaped(&err.to_string()))]
    Path {
        op: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },

    /// A system call failed; `op` names it and its subject.
    #[error("{}: {err}", Escaped(op))]
    Sys { op: String, err: Errno },

    /// Opening the private procfs (pathrs) failed.
    #[error("{op} {}: {}", Escaped(&path.to_string_lossy()), Escaped(&chain(err.as_ref())))]
    Resolve {
        op: &'static str,
        path: PathBuf,
        err: Box<pathrs::error::Error>,
    },

    /// An error while applying one element of the config, named by `field`.
    // `inner`, not `source`: thiserror would make a field of that name the
    // error's source, and anyhow's chain would print it a second time.
    #[error("{}: {inner}", Escaped(field))]
    Field { field: String, inner: Box<Error> },

    #[error("container {} does not exist", Escaped(.0))]
    NotFound(String),

    #[error("container {} already exists", Escaped(.0))]
    Exists(String),

    /// The container is not in a state that allows the operation.
    #[error("{}", Escaped(.0))]
    State(String),

    /// A cgroup operation failed; `what` names the resource or command, and
    /// libcgroups' message names the file and the value.
    #[error("{}: {}", Escaped(what), Escaped(err))]
    Cgroup { what: String, err: String },

    /// The container's init process reported a failure while being set up.
    #[error("{}", Escaped(.0))]
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

/// Text from outside (a config value or JSON key, a path, a message of
/// the init or of libcgroups) as it goes into an error: control characters
/// escaped, so that every error is one line and cannot drive the terminal
/// it is printed on. Escaping twice changes nothing.
struct Escaped<'a>(&'a str);

impl std::fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_line_whatever_the_input() {
        let e = Error::config("annotations.a\nb", "x\u{1b}[2Jy\r");
        assert_eq!(e.to_string(), r"annotations.a\nb: x\u{1b}[2Jy\r");
        let e = Error::path("open", "/a\nb", std::io::Error::other("c\td"));
        assert_eq!(e.to_string(), r"open /a\nb: c\td");
        let nested = Error::Init(Error::config("f", "v\n").within("mounts[0]").to_string());
        assert_eq!(nested.to_string(), r"mounts[0]: f: v\n");
    }
}
