//! Regression tests for the runtime CVE classes, written as the attacks.

mod common;

use std::os::unix::fs::OpenOptionsExt;

use common::Bundle;
use serde_json::json;

/// CVE-2019-5736: a process of ours inside the container must not expose
/// the host binary. Its /proc/PID/exe is a read-only view (a detached
/// overlay without an upper layer) or a sealed memfd: a container process
/// that holds it can neither write it nor reopen it for writing, while the
/// init runs or after it is gone, and the host file stays as it was.
#[test]
fn init_exe_cannot_be_written() {
    let b = Bundle::new("cve-2019-5736", &["sleep", "1000"]);
    b.ok(&["create", &b.id]);
    let pid = b.state()["pid"].as_i64().unwrap();
    let exe = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&exe).unwrap();
    assert_ne!(target, std::path::Path::new(common::BERTH));
    // The host binary itself is not what the init maps.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    assert!(
        !maps.contains(common::BERTH),
        "the host binary is mapped in the init"
    );
    let before = std::fs::read(common::BERTH).unwrap();
    // The attack: hold the binary open while the init runs, and write to it
    // then and once nothing executes it any more.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(&exe)
        .unwrap();
    let reopen = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&held));
    assert_write_refused(&exe);
    assert_write_refused(&reopen);
    b.ok(&["delete", "-f", &b.id]);
    assert_write_refused(&reopen);
    assert!(
        std::fs::read(common::BERTH).unwrap() == before,
        "the host binary changed"
    );
}

/// Opening `path` for writing fails (a read-only view: EROFS), or the
/// write itself does (a sealed memfd: EPERM).
fn assert_write_refused(path: &str) {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Err(e) => assert!(
            matches!(e.raw_os_error(), Some(libc::EROFS | libc::ETXTBSY)),
            "open {path} for writing: {e}"
        ),
        Ok(mut f) => {
            let err = std::io::Write::write_all(&mut f, b"#!/bin/sh\n").unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EPERM), "write {path}: {err}");
        }
    }
}

/// CVE-2024-21626: a cwd through /proc/self/fd must not reach a descriptor
/// of the runtime's.
#[test]
fn cwd_through_proc_self_fd_is_refused() {
    for fd in 3..8 {
        let mut b = Bundle::new(&format!("cve-2024-21626-{fd}"), &["pwd"]);
        b.config["process"]["cwd"] = json!(format!("/proc/self/fd/{fd}"));
        let out = b.berth(&["run", &b.id]);
        assert!(
            !out.status.success(),
            "cwd /proc/self/fd/{fd} was accepted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("process.cwd"), "{err}");
    }
}

/// CVE-2016-9962: the init, while waiting in the container, holds no
/// descriptor of the runtime's beyond stdio, the exec fifo and its sync
/// socket: no state directory, lock or cgroup directory.
#[test]
fn created_init_leaks_no_fds() {
    let b = Bundle::new("cve-2016-9962", &["sleep", "1000"]);
    b.ok(&["create", &b.id]);
    let pid = b.state()["pid"].as_i64().unwrap();
    let fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let target = std::fs::read_link(e.path()).unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            )
        })
        .collect();
    for (n, fd) in &fds {
        let stdio = ["0", "1", "2"].contains(&n.as_str());
        let ours = fd.ends_with("/exec.fifo") || fd.starts_with("socket:");
        // pathrs keeps a private procfs limited to pid directories
        // (subset=pid, no /proc/sys): nothing the container's /proc hides.
        let path = format!("/proc/{pid}/fd/{n}");
        let pid_only_procfs = fd == "/"
            && nix::sys::statfs::statfs(path.as_str())
                .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::PROC_SUPER_MAGIC)
            && !std::path::Path::new(&path).join("sys").exists();
        assert!(
            stdio || ours || pid_only_procfs,
            "unexpected descriptor {n} in the init: {fd} (all: {fds:?})"
        );
    }
}

/// CVE-2021-30465: a mount destination that is a symlink in the image
/// (pointing at a host path) lands inside the rootfs.
#[test]
fn symlinked_mount_destination_stays_in_the_rootfs() {
    let mut b = Bundle::new(
        "cve-2021-30465",
        &["sh", "-c", "touch /escape/inside && ls /hostdir"],
    );
    let rootfs = b.private_rootfs();
    let host_dir = b.dir.join("host-target");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::create_dir_all(rootfs.join("hostdir")).unwrap();
    // The same path inside the rootfs, where the symlink must resolve.
    std::fs::create_dir_all(rootfs.join(host_dir.strip_prefix("/").unwrap())).unwrap();
    // An absolute symlink to the host directory's path.
    std::os::unix::fs::symlink(&host_dir, rootfs.join("escape")).unwrap();
    b.config["root"]["path"] = json!(rootfs);
    b.config["root"]["readonly"] = json!(false);
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/escape", "type": "tmpfs", "source": "tmpfs"}));
    let (code, _, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert!(
        !host_dir.join("inside").exists(),
        "the mount landed on the host directory"
    );
    assert_eq!(std::fs::read_dir(&host_dir).unwrap().count(), 0);
}

/// CVE-2019-16884 class: nothing may be mounted over procfs files except
/// the known-safe ones, even through a symlink in the image.
#[test]
fn mounts_over_proc_are_refused() {
    let mut b = Bundle::new("proc-over", &["true"]);
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/proc/self/attr", "type": "tmpfs", "source": "tmpfs"}));
    let out = b.berth(&["run", &b.id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is inside /proc"));
}

/// CVE-2025-31133: the image's /dev/null is a symlink to a file the
/// attacker wants writable; masking must not bind that over masked paths.
#[test]
fn planted_dev_null_is_not_used_for_masking() {
    // A masked file this kernel has (which exist depends on its build).
    let Some(masked) = common::host::masked_proc_file() else {
        common::skip(
            "security::planted_dev_null_is_not_used_for_masking",
            "needs one of the default masked /proc files: this kernel has none",
        );
        return;
    };
    let script = format!("wc -c < {masked}; echo x > {masked} 2>/dev/null; cat {masked} | wc -c");
    let mut b = Bundle::new("cve-2025-31133", &["sh", "-c", &script]);
    let rootfs = b.private_rootfs();
    std::fs::create_dir_all(rootfs.join("dev")).unwrap();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", rootfs.join("dev/null")).unwrap();
    b.config["root"] = json!({"path": rootfs, "readonly": false});
    // No tmpfs on /dev: the image's /dev is what the container gets.
    b.config["mounts"].as_array_mut().unwrap().retain(|m| {
        m["destination"] != "/dev"
            && m["destination"] != "/dev/pts"
            && m["destination"] != "/dev/shm"
            && m["destination"] != "/dev/mqueue"
    });
    let before = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0\n0\n", "masked with the real null device");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(),
        before
    );
}
