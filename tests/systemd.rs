//! The systemd protocols berth passes through, as runc does: NOTIFY_SOCKET
//! (the container's `systemd-notify --ready` reaches the socket berth was
//! given, with MAINPID) and socket activation (LISTEN_FDS descriptors reach
//! the process, with LISTEN_PID its own pid).

mod common;

use std::io::Read;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::{BERTH, Bundle};
use serde_json::json;

/// A container whose rootfs sees the host's /usr (read-only), so that the
/// host's systemd-notify runs in it.
/// Only the library directories this host has are bound (/usr/lib64 is
/// missing on some distributions).
fn with_systemd_notify(name: &str, script: &str) -> Bundle {
    let mut b = Bundle::new(name, &["sh", "-c", script]);
    b.private_rootfs();
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for (dest, src) in [
        ("/usr", "/usr"),
        ("/lib", "/usr/lib"),
        ("/lib64", "/usr/lib64"),
    ] {
        if !std::path::Path::new(src).exists() {
            continue;
        }
        mounts.push(
            json!({"destination": dest, "type": "bind", "source": src, "options": ["rbind", "ro"]}),
        );
    }
    b
}

/// The container runs the host's systemd-notify: a host without it has
/// nothing to run (the protocol's other half is covered by the socket
/// activation tests here).
fn systemd_notify_or_skip(test: &str) -> bool {
    if common::host::command("systemd-notify") {
        return true;
    }
    common::skip(
        test,
        "needs systemd-notify on the host (package systemd): this host lacks it",
    );
    false
}

/// The host's end, as systemd listens: a datagram socket read as messages
/// arrive (each read closes the descriptor a BARRIER=1 carries, which is
/// how the sender learns it was processed). Messages come out of the
/// receiver with the time they arrived.
fn listener(b: &Bundle) -> (Receiver<(String, Instant)>, String) {
    let path = b.dir.join("host-notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            if tx.send((msg, Instant::now())).is_err() {
                break;
            }
        }
    });
    (rx, path.to_string_lossy().into_owned())
}

/// One relayed notification, and the sd_notify barrier that follows it;
/// returns the first with its arrival time.
fn notification(rx: &Receiver<(String, Instant)>) -> (String, Instant) {
    let wait = Duration::from_secs(10);
    let msg = rx.recv_timeout(wait).expect("a notification");
    let barrier = rx.recv_timeout(wait).expect("a barrier");
    assert_eq!(barrier.0, "BARRIER=1", "after {msg:?}");
    msg
}

#[test]
fn notify_socket_reaches_the_host_and_detached_run_waits_for_ready() {
    if !systemd_notify_or_skip(
        "systemd::notify_socket_reaches_the_host_and_detached_run_waits_for_ready",
    ) {
        return;
    }
    let b = with_systemd_notify(
        "notify-run",
        "echo socket=$NOTIFY_SOCKET; sleep 0.5; systemd-notify --ready --status=serving; sleep 1000",
    );
    let (rx, path) = listener(&b);
    let out = b.berth_env(&[("NOTIFY_SOCKET", &path)], &["run", "-d", &b.id]);
    let returned = Instant::now();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The container wrote it before its READY=1, so before run returned.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("socket=/run/notify/notify.sock"),
        "{stdout}"
    );
    let (msg, arrived) = notification(&rx);
    assert!(
        arrived <= returned,
        "run -d returned before the container said READY=1"
    );
    let pid = b.state()["pid"].as_i64().unwrap();
    let lines: Vec<&str> = msg.lines().collect();
    assert!(lines.contains(&"READY=1"), "{msg}");
    assert!(lines.contains(&"STATUS=serving"), "{msg}");
    assert!(
        lines.contains(&format!("MAINPID={pid}").as_str()),
        "MAINPID is the container's init ({pid}): {msg}"
    );
}

#[test]
fn start_waits_for_ready_and_a_foreground_run_names_itself() {
    if !systemd_notify_or_skip("systemd::start_waits_for_ready_and_a_foreground_run_names_itself") {
        return;
    }
    let b = with_systemd_notify(
        "notify-start",
        "sleep 1; systemd-notify --ready; sleep 1000",
    );
    let (rx, path) = listener(&b);
    let env = [("NOTIFY_SOCKET", path.as_str())];
    let out = b.berth_env(&env, &["create", &b.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let out = b.berth_env(&env, &["start", &b.id]);
    let returned = Instant::now();
    assert!(out.status.success());
    assert!(
        returned - started >= Duration::from_millis(900),
        "start waits for READY=1"
    );
    let (msg, arrived) = notification(&rx);
    assert!(msg.contains("READY=1") && arrived <= returned, "{msg}");
    b.ok(&["delete", "-f", &b.id]);

    // In the foreground berth stays the container's parent: it is the
    // process the host should watch.
    let fg = with_systemd_notify("notify-fg", "systemd-notify --ready; exit 0");
    fg.write_config();
    let child = Command::new(BERTH)
        .arg("--root")
        .arg(&fg.root)
        .args(["run", &fg.id])
        .current_dir(&fg.dir)
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let berth_pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let (msg, _) = notification(&rx);
    assert!(
        msg.contains("READY=1") && msg.contains(&format!("MAINPID={berth_pid}")),
        "{msg}"
    );
}

#[test]
fn without_notify_socket_nothing_is_bound() {
    let out = Bundle::sh(
        "notify-none",
        "echo ${NOTIFY_SOCKET:-unset}; [ -e /run/notify ] && echo bound || echo absent",
    );
    assert_eq!(out, "unset\nabsent\n");
}

/// Runs `berth run` as a service manager would after socket activation:
/// descriptor 3 is one end of a socket pair, LISTEN_FDS=1, and LISTEN_PID
/// is berth's pid when `for_us`; descriptor 4 is open too (/dev/null), for
/// --preserve-fds. Returns what the container wrote to fd 3 and its stdout.
fn activated(b: &Bundle, for_us: bool, extra: &[&str]) -> (String, String) {
    b.write_config();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let pid = if for_us { "$$" } else { "1" };
    let mut args = vec!["--root", b.root.to_str().unwrap(), "run"];
    args.extend_from_slice(extra);
    args.push(&b.id);
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec 3<&0 4</dev/null 0</dev/null; LISTEN_PID={pid} LISTEN_FDS=1 LISTEN_FDNAMES=web exec \"$@\""
        ))
        .arg("sh")
        .arg(BERTH)
        .args(&args)
        .current_dir(&b.dir)
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ours.set_nonblocking(true).unwrap();
    let mut got = String::new();
    let _ = (&ours).read_to_string(&mut got);
    (got, String::from_utf8_lossy(&out.stdout).into_owned())
}

const SHOW_FDS: &str = "echo \"fds=$LISTEN_FDS pid=$LISTEN_PID names=$LISTEN_FDNAMES self=$$\" >&3 2>/dev/null; for fd in 3 4 5; do [ -e /proc/$$/fd/$fd ] && echo fd$fd; done; echo fds=${LISTEN_FDS:-unset}";

#[test]
fn listen_fds_reach_the_process_with_its_own_pid() {
    let b = Bundle::new("listen-fds", &["sh", "-c", SHOW_FDS]);
    let (fd3, stdout) = activated(&b, true, &[]);
    assert_eq!(fd3, "fds=1 pid=1 names=web self=1\n");
    assert_eq!(stdout, "fd3\nfds=1\n");

    // Without a pid namespace the process's pid is not 1: LISTEN_PID
    // follows it.
    let mut b = Bundle::new("listen-fds-hostpid", &["sh", "-c", SHOW_FDS]);
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "pid");
    let (fd3, _) = activated(&b, true, &[]);
    let fields: Vec<&str> = fd3.split_whitespace().collect();
    let pid = fields[1].strip_prefix("pid=").unwrap();
    assert_ne!(pid, "1", "{fd3}");
    assert_eq!(fields[3], format!("self={pid}"), "{fd3}");
}

#[test]
fn listen_fds_for_another_process_are_not_taken() {
    let b = Bundle::new("listen-fds-other", &["sh", "-c", SHOW_FDS]);
    let (fd3, stdout) = activated(&b, false, &[]);
    assert_eq!(fd3, "");
    assert_eq!(stdout, "fds=unset\n");
}

#[test]
fn listen_fds_come_before_preserved_ones() {
    let b = Bundle::new("listen-fds-preserve", &["sh", "-c", SHOW_FDS]);
    let (fd3, stdout) = activated(&b, true, &["--preserve-fds", "1"]);
    assert_eq!(fd3, "fds=1 pid=1 names=web self=1\n");
    assert_eq!(stdout, "fd3\nfd4\nfds=1\n");
}
