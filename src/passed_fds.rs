//! Descriptors the caller hands on to the container's process: socket
//! activation's (LISTEN_FDS) and then `--preserve-fds N`, numbered from 3.
//! Each is checked open before berth opens anything of its own: the kernel
//! gives a new descriptor the lowest free number, so a number of that range
//! left free would go to one of berth's (the log file, the state directory,
//! the sync socket), which would then cross into the container with
//! close-on-exec cleared. With every number of the range taken by the
//! caller, none of berth's can ever sit there.

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};

use crate::cli::Command;
use crate::error::{Error, Result};

/// Checks the range the command passes on; the first missing descriptor
/// is the error, named with the flag (or variable) that counts it.
pub fn check(command: &Command) -> Result<()> {
    let (preserve, activation) = match command {
        Command::Create(a) | Command::Run { create: a, .. } => (a.preserve_fds, true),
        Command::Exec(a) => (a.preserve_fds, false),
        _ => return Ok(()),
    };
    let listen = if activation {
        crate::activation::passed()?
    } else {
        0
    };
    let ranges = [
        (format!("LISTEN_FDS {listen}"), listen),
        (format!("--preserve-fds {preserve}"), preserve),
    ];
    let mut fd: i64 = 3;
    for (what, n) in ranges {
        for _ in 0..n {
            let open = i32::try_from(fd)
                .is_ok_and(|fd| fcntl(fd, FcntlArg::F_GETFD) != Err(Errno::EBADF));
            if !open {
                return Err(Error::config(
                    what,
                    format!("descriptor {fd} is not open (pass every descriptor it counts)"),
                ));
            }
            fd += 1;
        }
    }
    Ok(())
}
