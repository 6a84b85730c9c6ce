//! The container's terminal. With `process.terminal`, the init allocates a
//! pty from the container's own devpts, sends the master over the console
//! socket (SCM_RIGHTS, as runc: engines depend on this protocol) and makes
//! the slave its controlling terminal and stdio.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::mount::{MsFlags, mount};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use nix::sys::stat::{SFlag, fstat};

use crate::error::{Error, Result, SysContext};
use crate::rootfs::fd_path;
use crate::rootfs::inroot::Root;

nix::ioctl_write_ptr_bad!(set_ptlck, libc::TIOCSPTLCK, libc::c_int);
nix::ioctl_write_ptr_bad!(set_winsz, libc::TIOCSWINSZ, libc::winsize);
nix::ioctl_read_bad!(get_winsz, libc::TIOCGWINSZ, libc::winsize);

/// `process.consoleSize` as a window size: rows and columns, each at most
/// 65535 (the kernel's `winsize` has 16 bits for them).
pub fn size(process: &oci_spec::runtime::Process) -> Result<Option<(u16, u16)>> {
    let Some(b) = process.console_size() else {
        return Ok(None);
    };
    let field = |name: &str, v: u64| {
        u16::try_from(v).map_err(|_| {
            Error::config(
                format!("process.consoleSize.{name}"),
                format!("{v} is more than a terminal's 65535"),
            )
        })
    };
    Ok(Some((
        field("height", b.height())?,
        field("width", b.width())?,
    )))
}

pub fn connect(path: &Path) -> Result<UnixStream> {
    UnixStream::connect(path).map_err(|e| Error::path("connect to console socket", path, e))
}

/// Allocates the pty from the container's devpts, hands the master to the
/// console socket, and returns the slave for `attach`. The init (before
/// pivot_root) also binds the slave onto /dev/console; `exec` does not.
pub fn setup_pty(
    root: &Root,
    socket: &UnixStream,
    size: Option<(u16, u16)>,
    bind_console: bool,
) -> Result<OwnedFd> {
    let ptmx_path = Path::new("/dev/pts/ptmx");
    let master = root
        .open_in(ptmx_path, libc::O_RDWR | libc::O_NOCTTY)
        .map_err(|e| Error::path("open", ptmx_path, e))?;
    let st = fstat(master.as_raw_fd()).sys(|| "stat /dev/pts/ptmx".into())?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
    if !is_chr || libc::major(st.st_rdev) != 5 || libc::minor(st.st_rdev) != 2 {
        return Err(Error::State(
            "/dev/pts/ptmx in the container is not a pty multiplexer (5:2): mount devpts at /dev/pts".into(),
        ));
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from a live local.
    unsafe { set_ptlck(master.as_raw_fd(), &unlock) }.sys(|| "unlock the pty".into())?;
    // TIOCGPTPEER opens the slave through the master, with no path lookup
    // the container could redirect (CVE-2025-52565 class).
    // SAFETY: the ioctl takes open flags by value and returns a new fd.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(Error::sys(
            "open the pty slave (TIOCGPTPEER)",
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: the ioctl returned a new descriptor that nothing else owns.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from a live local.
        unsafe { set_winsz(slave.as_raw_fd(), &ws) }.sys(|| "set the console size".into())?;
    }
    send_fd(socket, master.as_fd(), "/dev/ptmx")?;
    drop(master);
    if bind_console {
        let console = crate::rootfs::ensure_file(root, Path::new("/dev/console"))
            .map_err(|e| e.within("process.terminal"))?;
        mount(
            Some(fd_path(slave.as_fd()).as_str()),
            fd_path(console.as_fd()).as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .sys(|| "bind the pty onto /dev/console".into())?;
    }
    Ok(slave)
}

/// Makes the slave the controlling terminal and stdin, stdout and stderr.
pub fn attach(slave: OwnedFd) -> Result<()> {
    nix::unistd::setsid().sys(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY takes an int argument by value.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::sys(
            "make the pty the controlling terminal",
            nix::errno::Errno::last(),
        ));
    }
    for fd in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), fd).sys(|| format!("dup the pty onto fd {fd}"))?;
    }
    Ok(())
}

pub fn send_fd(socket: &impl AsRawFd, fd: BorrowedFd<'_>, name: &str) -> Result<()> {
    let fds = [fd.as_raw_fd()];
    let iov = [IoSlice::new(name.as_bytes())];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .sys(|| "send a descriptor over a unix socket".into())?;
    Ok(())
}

pub fn recv_fd(socket: &impl AsRawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .sys(|| "receive a descriptor".into())?;
    for c in msg.cmsgs().sys(|| "read the console message".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c
            && let Some(&fd) = fds.first()
        {
            // SAFETY: SCM_RIGHTS installed this fd in our table for us.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
    }
    Err(Error::State(
        "a unix socket message carried no file descriptor".into(),
    ))
}

/// The master of the pty a foreground `run` or `exec` made for its
/// process, sized as berth's own terminal before the process starts: a
/// process that asks for its size at once (`stty size`) must not see 0x0.
pub fn recv_master(socket: &impl AsRawFd) -> Result<OwnedFd> {
    let master = recv_fd(socket)?;
    if let Some(ws) = window_size(0) {
        set_window_size(master.as_raw_fd(), &ws);
    }
    Ok(master)
}

/// The terminal size of `fd`, if it is a terminal.
pub fn window_size(fd: RawFd) -> Option<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into a live local.
    unsafe { get_winsz(fd, &mut ws) }.ok().map(|_| ws)
}

pub fn set_window_size(fd: RawFd, ws: &libc::winsize) {
    // SAFETY: TIOCSWINSZ reads a winsize from a live reference.
    let _ = unsafe { set_winsz(fd, ws) };
}
