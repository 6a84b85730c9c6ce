//! process.terminal: the console socket protocol engines rely on (the pty
//! master arrives by SCM_RIGHTS), and `run` relaying its own pty.

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use common::Bundle;
use serde_json::json;

fn recv_master(listener: &UnixListener) -> OwnedFd {
    let (conn, _) = listener.accept().unwrap();
    common::recv_fd(&conn).1
}

#[test]
fn console_socket_receives_the_pty_master() {
    let mut b = Bundle::new(
        "console",
        &["sh", "-c", "tty; stat -c %t:%T /dev/console; echo done"],
    );
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 40, "width": 100});
    let sock = b.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let id = b.id.clone();
    let create = std::thread::scope(|s| {
        let h = s.spawn(|| b.berth(&["create", "--console-socket", sock.to_str().unwrap(), &id]));
        let master = recv_master(&listener);
        (h.join().unwrap(), master)
    });
    let (out, master) = create;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.ok(&["start", &b.id]);
    let mut f = std::fs::File::from(master);
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 1024];
    while !text.contains("done") && Instant::now() < deadline {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(
        text.contains("88:0"),
        "/dev/console is the pty slave (major 136 = 0x88): {text}"
    );
}

#[test]
fn foreground_run_relays_its_own_pty() {
    let mut b = Bundle::new("runpty", &["sh", "-c", "tty; stty size; exit 7"]);
    b.config["process"]["terminal"] = json!(true);
    b.write_config();
    // script(1) gives berth a terminal, as a person at a shell would have.
    let cmd = format!(
        "stty rows 33 cols 91; {} --root {} run {}",
        common::BERTH,
        b.root.display(),
        b.id
    );
    let out = std::process::Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .current_dir(&b.dir)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(
        text.contains("33 91"),
        "window size copied to the container's pty: {text}"
    );
}
