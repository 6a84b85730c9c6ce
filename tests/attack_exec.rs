//! Attacks on `exec`, played for real: a bundle rewritten after create (by
//! the operator's hand or by the container itself), descriptors that
//! `--preserve-fds` names but the caller never passed, and an exec into a
//! frozen container.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{BERTH, Bundle};
use serde_json::json;

/// Waits up to `secs` for `child`; None if it is still running then.
fn wait_for(child: &mut Child, secs: u64) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Thaws the container's cgroup behind berth's back: a test that gave up
/// must not leave frozen processes (a frozen task cannot act on SIGKILL).
fn thaw(b: &Bundle) {
    for d in b.cgroup_dirs() {
        let _ = std::fs::write(d.join("freezer.state"), "THAWED");
    }
    let v2 = Path::new("/sys/fs/cgroup/unified/berth-tests").join(&b.id);
    let _ = std::fs::write(v2.join("cgroup.freeze"), "0");
}

/// Kills and reaps `child` (a berth the test gave up on).
fn reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A file on the host, outside every container's root: a process that
/// reads it has escaped.
fn host_marker(b: &Bundle) -> String {
    let p = b.dir.join("host-marker");
    std::fs::write(&p, "HOST-SECRET\n").unwrap();
    p.to_str().unwrap().to_string()
}

/// The namespace link of `ns` of process `pid`, as the host sees it.
fn ns_of(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Item 1: config.json is rewritten after create, as an operator (or
/// anything that can write the bundle) could: the mount and pid namespaces
/// are gone, so is the seccomp profile, and the process runs as root with
/// every capability. exec must run the process of the config as it was at
/// create, in the init's namespaces.
#[test]
fn exec_ignores_a_config_rewritten_after_create() {
    let mut b = Bundle::new("ax-rewrite", &["sleep", "1000"]);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    });
    b.ok(&["run", "-d", &b.id]);
    let marker = host_marker(&b);
    let init = b.state()["pid"].as_i64().unwrap().to_string();

    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "mount" && n["type"] != "pid");
    b.config["linux"].as_object_mut().unwrap().remove("seccomp");
    b.config["process"]["user"] = json!({"uid": 0, "gid": 0});
    b.write_config();

    let script = format!(
        "cat {marker} 2>/dev/null || echo NO-HOST-FILE; cat /proc/1/comm; id -u; \
         readlink /proc/self/ns/mnt; readlink /proc/self/ns/pid; \
         mkdir /tmp/ax-d 2>/dev/null && echo MKDIR-ALLOWED || echo MKDIR-DENIED"
    );
    let out = b.berth_raw(&["exec", &b.id, "sh", "-c", &script]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "NO-HOST-FILE", "read the host's file: {stdout}");
    assert_eq!(lines[1], "sleep", "pid 1 is not the container's: {stdout}");
    assert_eq!(
        lines[2], "1000",
        "process.user of the rewritten config: {stdout}"
    );
    assert_eq!(lines[3], ns_of(&init, "mnt"), "{stdout}");
    assert_eq!(lines[4], ns_of(&init, "pid_for_children"), "{stdout}");
    assert_eq!(
        lines[5], "MKDIR-DENIED",
        "seccomp of the rewritten config: {stdout}"
    );
}

/// Item 1, from inside: a container whose root.path is "." is its own
/// bundle, so it can rewrite its own config.json. The operator's next exec
/// ran on the host.
#[test]
fn a_container_rewriting_its_own_bundle_stays_inside() {
    let mut b = Bundle::new("ax-selfbundle", &["sh", "-c", ""]);
    let rootfs = b.private_rootfs();
    let marker = host_marker(&b);
    b.config["root"] = json!({"path": ".", "readonly": false});
    let mut evil = b.config.clone();
    let ns = evil["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] == "uts");
    evil["root"] = json!({"path": "/", "readonly": false});
    std::fs::write(rootfs.join("evil.json"), serde_json::to_vec(&evil).unwrap()).unwrap();
    b.config["process"]["args"] = json!([
        "sh",
        "-c",
        "cat /evil.json > /config.json && touch /rewritten; exec sleep 1000"
    ]);
    std::fs::write(
        rootfs.join("config.json"),
        serde_json::to_vec(&b.config).unwrap(),
    )
    .unwrap();
    let out = b.berth_raw(&["run", "-d", "--bundle", rootfs.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !rootfs.join("rewritten").exists() {
        assert!(
            Instant::now() < deadline,
            "the container did not rewrite its config"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let script = format!("cat {marker} 2>/dev/null || echo NO-HOST-FILE; cat /proc/1/comm");
    let out = b.berth_raw(&["exec", &b.id, "sh", "-c", &script]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout, "NO-HOST-FILE\nsleep\n", "exec left the container");
}

/// Item 1: a bundle moved away (or deleted) after create changes nothing:
/// exec still runs the process as created.
#[test]
fn exec_survives_a_moved_bundle() {
    let mut b = Bundle::new("ax-moved", &["sleep", "1000"]);
    b.config["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FROM=create"]);
    b.ok(&["run", "-d", &b.id]);
    std::fs::rename(b.dir.join("config.json"), b.dir.join("config.json.moved")).unwrap();
    let out = b.berth_raw(&["exec", &b.id, "sh", "-c", "echo $FROM"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "create\n");
}

/// struct seccomp_notif and seccomp_notif_resp (linux/seccomp.h).
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

/// Answers the one notification of a listener connection with EACCES;
/// returns the message berth sent with the fd.
fn answer_one(conn: std::os::unix::net::UnixStream) -> serde_json::Value {
    use std::os::fd::AsRawFd;
    conn.set_nonblocking(false).unwrap();
    let (msg, fd) = common::recv_fd(&conn);
    let mut req = Notif::default();
    const RECV: libc::c_ulong = 0xc050_2100;
    const SEND: libc::c_ulong = 0xc018_2101;
    // SAFETY: the ioctls read and write structs of the kernel's layout.
    unsafe {
        assert_eq!(libc::ioctl(fd.as_raw_fd(), RECV, &mut req as *mut Notif), 0);
        let resp = NotifResp {
            id: req.id,
            val: 0,
            error: -libc::EACCES,
            flags: 0,
        };
        assert_eq!(
            libc::ioctl(fd.as_raw_fd(), SEND, &resp as *const NotifResp),
            0
        );
    }
    serde_json::from_slice(&msg).unwrap()
}

/// Item 1: the seccomp listener of a rewritten config would get the notify
/// fd of every exec'd process (and answer its system calls): the listener
/// named at create gets it.
#[test]
fn exec_hands_the_notify_fd_to_the_listener_of_create() {
    use std::os::unix::net::UnixListener;
    let mut b = Bundle::new("ax-listener", &["sleep", "1000"]);
    let ours_path = b.dir.join("ours.sock");
    let theirs_path = b.dir.join("theirs.sock");
    let ours = UnixListener::bind(&ours_path).unwrap();
    let theirs = UnixListener::bind(&theirs_path).unwrap();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": ours_path,
        "listenerMetadata": "at-create",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.ok(&["run", "-d", &b.id]);
    // The init's own fd, sent at create.
    drop(ours.accept().unwrap());
    ours.set_nonblocking(true).unwrap();
    theirs.set_nonblocking(true).unwrap();
    b.config["linux"]["seccomp"]["listenerPath"] = json!(theirs_path);
    b.config["linux"]["seccomp"]["listenerMetadata"] = json!("rewritten");
    b.write_config();
    let mut exec = b.spawn(
        "exec",
        &[
            "exec",
            &b.id,
            "sh",
            "-c",
            "mkdir /tmp/ax 2>&1; echo status=$?",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut msg, mut stolen) = (None, false);
    while msg.is_none() && !stolen && Instant::now() < deadline {
        if let Ok((conn, _)) = ours.accept() {
            msg = Some(answer_one(conn));
        }
        // Dropping the connection closes the fd unread: the process's
        // mkdir then fails instead of waiting for an answer.
        stolen = theirs.accept().is_ok();
        std::thread::sleep(Duration::from_millis(10));
    }
    let st = wait_for(&mut exec, 10);
    if st.is_none() {
        reap(&mut exec);
    }
    assert!(!stolen, "the rewritten config's listener got the notify fd");
    let msg = msg.expect("the listener of create got no fd");
    assert_eq!(msg["metadata"], "at-create");
    assert!(st.expect("exec hung").success());
    let out = std::fs::read_to_string(b.dir.join("exec.out")).unwrap();
    assert!(
        out.contains("Permission denied") && out.contains("status=1"),
        "{out}"
    );
}

/// Item 1, without a mount namespace: the container's root is the init's
/// chroot in the host's mount namespace, and exec enters that root through
/// the init (its /proc root checked against its pidfd), not through the
/// rootfs path of the bundle.
#[test]
fn exec_without_a_mount_namespace_enters_the_inits_root() {
    let mut b = Bundle::new("ax-nomnt", &["sleep", "1000"]);
    let rootfs = b.private_rootfs();
    std::fs::write(rootfs.join("only-in-container"), "INSIDE\n").unwrap();
    let marker = host_marker(&b);
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}]);
    b.config["hostname"] = json!(null);
    b.ok(&["run", "-d", &b.id]);
    let script = format!("cat /only-in-container; cat {marker} 2>/dev/null || echo NO-HOST-FILE");
    let out = b.berth_raw(&["exec", &b.id, "sh", "-c", &script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "INSIDE\nNO-HOST-FILE\n");
}

/// `berth exec` with the given descriptors open as 3, 4, ...: each of
/// `pass` is dup2'ed to 3 + its index in the child only.
fn exec_with_fds(b: &Bundle, pass: &[i32], args: &[&str]) -> (Option<ExitStatus>, String, String) {
    let out = b.dir.join(format!(".fds.{}.out", pass.len()));
    let err = b.dir.join(format!(".fds.{}.err", pass.len()));
    let mut cmd = Command::new(BERTH);
    cmd.arg("--root")
        .arg(&b.root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap());
    let pass = pass.to_vec();
    // SAFETY: dup2 is async-signal-safe and runs in the forked child.
    unsafe {
        cmd.pre_exec(move || {
            // Out of the way first: a source may itself be 3 (dup2 onto
            // itself would keep its close-on-exec flag).
            let high: Vec<i32> = pass
                .iter()
                .enumerate()
                .map(|(i, &fd)| libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100 + i as i32))
                .collect();
            for (i, &fd) in high.iter().enumerate() {
                if fd < 0 || libc::dup2(fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let st = wait_for(&mut child, 20);
    if st.is_none() {
        reap(&mut child);
    }
    (
        st,
        std::fs::read_to_string(&out).unwrap_or_default(),
        std::fs::read_to_string(&err).unwrap_or_default(),
    )
}

/// What an attacker in the container does with whatever descriptors it
/// got: through each one that is a directory, climb towards the host's
/// marker file and read it.
fn climb(marker_name: &str) -> String {
    format!(
        "for fd in $(seq 3 40); do [ -e /proc/self/fd/$fd ] || continue; \
         echo FD$fd=$(readlink /proc/self/fd/$fd); \
         for up in '' ../ ../../ ../../../ ../../../../; do \
         cat /proc/self/fd/$fd/$up{marker_name} 2>/dev/null; done; done; echo DONE"
    )
}

/// Item 2: `--preserve-fds N` with fewer than N descriptors passed handed
/// berth's own descriptors (the state directory among them, close-on-exec
/// cleared) to the process, which read the host through them.
#[test]
fn preserve_fds_never_hands_over_berths_descriptors() {
    let b = Bundle::new("ax-fds", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    host_marker(&b);
    std::fs::write(b.root.join("host-marker"), "HOST-SECRET\n").unwrap();
    let script = climb("host-marker");
    for n in ["1", "5", "12"] {
        let (st, out, err) = exec_with_fds(
            &b,
            &[],
            &["exec", "--preserve-fds", n, &b.id, "sh", "-c", &script],
        );
        assert!(
            !out.contains("HOST-SECRET"),
            "--preserve-fds {n}: read the host: {out}"
        );
        assert!(
            !out.contains("FD"),
            "--preserve-fds {n}: got descriptors: {out}"
        );
        let st = st.expect("exec hung");
        assert!(
            !st.success(),
            "--preserve-fds {n} without descriptors succeeded: {out}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("--preserve-fds {n}: descriptor 3 is not open")),
            "{err}"
        );
    }
    // One passed of three: the first missing one is named.
    let f = std::fs::File::open("/dev/null").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    let (st, out, err) = exec_with_fds(
        &b,
        &[fd],
        &["exec", "--preserve-fds", "3", &b.id, "sh", "-c", &script],
    );
    assert!(!out.contains("HOST-SECRET") && !out.contains("FD"), "{out}");
    assert!(!st.expect("exec hung").success());
    assert!(
        err.contains("--preserve-fds 3: descriptor 4 is not open"),
        "{err}"
    );
    // Both passed: exactly those two reach the process.
    let (st, out, err) = exec_with_fds(
        &b,
        &[fd, fd],
        &["exec", "--preserve-fds", "2", &b.id, "sh", "-c", &script],
    );
    assert!(st.expect("exec hung").success(), "{err}");
    assert_eq!(out, "FD3=/dev/null\nFD4=/dev/null\nDONE\n");
}

/// Item 2 at create: a large N with nothing passed hung create (its own
/// sync socket inside the range, never closed) or handed its descriptors to
/// the init.
#[test]
fn preserve_fds_at_create_is_checked_and_never_hangs() {
    let b = Bundle::new("ax-fds-create", &["sh", "-c", &climb("host-marker")]);
    host_marker(&b);
    b.write_config();
    for n in ["4", "64"] {
        let (st, out, err) = exec_with_fds(
            &b,
            &[],
            &[
                "run",
                "--bundle",
                b.dir.to_str().unwrap(),
                "--preserve-fds",
                n,
                &b.id,
            ],
        );
        assert!(!out.contains("HOST-SECRET") && !out.contains("FD"), "{out}");
        let st = st.expect("run hung");
        assert!(!st.success(), "--preserve-fds {n}: {out}{err}");
        assert!(
            err.contains(&format!("--preserve-fds {n}: descriptor 3 is not open")),
            "{err}"
        );
        assert!(
            common::leaks_of(&b).is_empty(),
            "{:?}",
            common::leaks_of(&b)
        );
    }
}

/// Pauses the container; false (after checking the refusal names what
/// failed) on a host with no freezer at all, where nothing can be paused.
fn pause(b: &Bundle) -> bool {
    let out = b.berth(&["pause", &b.id]);
    let err = text(&out.stderr);
    if !out.status.success() {
        assert!(
            !Path::new("/sys/fs/cgroup/freezer").exists() && err.lines().count() == 1,
            "pause failed: {err}"
        );
        return false;
    }
    true
}

/// Item 14: an `exec --ignore-paused` into a paused container waits for the
/// container to thaw; it must not hold the container's lock meanwhile, or
/// `resume` (which would let it go on) and `delete -f` wait forever.
#[test]
fn exec_into_a_paused_container_blocks_no_other_command() {
    let b = Bundle::new("ax-paused", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    if !pause(&b) {
        return;
    }
    for attempt in 0..3 {
        let mut exec = b.spawn(
            &format!("exec{attempt}"),
            &["exec", "--ignore-paused", &b.id, "echo", "thawed"],
        );
        std::thread::sleep(Duration::from_millis(300));
        let mut resume = b.spawn(&format!("resume{attempt}"), &["resume", &b.id]);
        let resumed = wait_for(&mut resume, 10);
        if resumed.is_none() {
            thaw(&b);
            reap(&mut resume);
            reap(&mut exec);
            panic!("attempt {attempt}: resume blocked behind exec --ignore-paused");
        }
        assert!(resumed.unwrap().success());
        let done = wait_for(&mut exec, 10);
        if done.is_none() {
            thaw(&b);
            reap(&mut exec);
            panic!("attempt {attempt}: the exec did not finish after resume");
        }
        assert!(done.unwrap().success());
        let out = std::fs::read_to_string(b.dir.join(format!("exec{attempt}.out"))).unwrap();
        assert_eq!(out, "thawed\n");
        b.ok(&["pause", &b.id]);
    }
    // delete -f while an exec waits: it returns, kills the waiting process
    // too, and the exec fails instead of hanging.
    let mut exec = b.spawn(
        "exec-last",
        &["exec", "--ignore-paused", &b.id, "echo", "never"],
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut delete = b.spawn("delete", &["delete", "-f", &b.id]);
    let deleted = wait_for(&mut delete, 15);
    if deleted.is_none() {
        thaw(&b);
        reap(&mut delete);
        reap(&mut exec);
        panic!("delete -f blocked behind exec --ignore-paused");
    }
    assert!(deleted.unwrap().success());
    let done = wait_for(&mut exec, 10);
    if done.is_none() {
        thaw(&b);
        reap(&mut exec);
        panic!("the exec hung after delete -f");
    }
    assert!(!done.unwrap().success());
    assert!(
        common::leaks_of(&b).is_empty(),
        "{:?}",
        common::leaks_of(&b)
    );
}

/// Item 14: the exec berth waiting on a paused container is killed; then
/// `delete -f` must leave no frozen process and no cgroup behind.
#[test]
fn delete_after_a_killed_exec_into_a_paused_container_leaves_nothing() {
    for attempt in 0..3 {
        let b = Bundle::new(&format!("ax-paused-kill{attempt}"), &["sleep", "1000"]);
        b.ok(&["run", "-d", &b.id]);
        if !pause(&b) {
            return;
        }
        let mut exec = b.spawn("exec", &["exec", "--ignore-paused", &b.id, "echo", "x"]);
        std::thread::sleep(Duration::from_millis(200 + 100 * attempt));
        reap(&mut exec);
        let mut delete = b.spawn("delete", &["delete", "-f", &b.id]);
        let deleted = wait_for(&mut delete, 15);
        if deleted.is_none() {
            thaw(&b);
            reap(&mut delete);
            panic!("attempt {attempt}: delete -f hung");
        }
        assert!(deleted.unwrap().success());
        let leaks = common::leaks_of(&b);
        if !leaks.is_empty() {
            thaw(&b);
        }
        assert!(
            leaks.is_empty(),
            "attempt {attempt}: delete -f left {leaks:?}"
        );
    }
}
