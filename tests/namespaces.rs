//! The namespace paths that need more than one clone: a new user namespace
//! with id maps, a joined pid namespace, a new time namespace with offsets.

mod common;

use std::process::{Child, Command, Stdio};

use common::Bundle;
use serde_json::json;

/// Without the namespace kind the kernel refuses the unshare, and berth's
/// error names it; the caller then says what it skipped.
fn refused_without(b: &Bundle, flag: &str, test: &str, why: &str) {
    let (code, out, err) = b.run();
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("unshare") && err.contains(flag), "{err}");
    common::skip(test, why);
}

fn userns(b: &mut Bundle) {
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.config["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.config["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

#[test]
fn new_user_namespace_with_maps() {
    let mut b = Bundle::new(
        "userns",
        &[
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin/busybox; echo x > /dev/null && echo DEV",
        ],
    );
    userns(&mut b);
    if !common::host::user_namespaces() {
        return refused_without(
            &b,
            "CLONE_NEWUSER",
            "namespaces::new_user_namespace_with_maps",
            "needs user namespaces: this kernel has none, or user.max_user_namespaces is 0",
        );
    }
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let words: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(
        &words[..6],
        ["0", "100000", "65536", "0", "100000", "65536"],
        "{out}"
    );
    assert_eq!(words[6], "0", "root inside: {out}");
    assert_eq!(words[7], "65534", "host root is unmapped: {out}");
    assert_eq!(words[8], "DEV", "{out}");
}

#[test]
fn user_namespace_with_a_joined_network_namespace() {
    // A new user namespace plus a joined one takes the general path: join,
    // then unshare the user namespace, then the rest.
    let mut b = Bundle::new(
        "userns-join",
        &[
            "sh",
            "-c",
            "readlink /proc/self/ns/net; cat /proc/self/uid_map",
        ],
    );
    userns(&mut b);
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    for n in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "network" {
            n["path"] = json!(format!("/proc/{}/ns/net", std::process::id()));
        }
    }
    // sysfs cannot be mounted for a network namespace another user
    // namespace owns: bind the host's, as rootless configs do.
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["type"] == "sysfs" {
            *m = json!({"destination": "/sys", "type": "bind", "source": "/sys", "options": ["rbind", "ro"]});
        }
    }
    if !common::host::user_namespaces() {
        return refused_without(
            &b,
            "CLONE_NEWUSER",
            "namespaces::user_namespace_with_a_joined_network_namespace",
            "needs user namespaces: this kernel has none, or user.max_user_namespaces is 0",
        );
    }
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("{}\n", host_net.display())),
        "{out}"
    );
    assert!(out.contains("100000"), "{out}");
}

fn sleeper_in_new_pidns() -> Child {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "sleep", "1000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn joins_a_pid_namespace_by_path() {
    let mut host = sleeper_in_new_pidns();
    // The sleep is unshare's child, pid 1 of the new namespace.
    let mut sleeper = None;
    for _ in 0..100 {
        let children =
            std::fs::read_to_string(format!("/proc/{}/task/{}/children", host.id(), host.id()))
                .unwrap_or_default();
        if let Some(p) = children.split_whitespace().next() {
            sleeper = Some(p.to_string());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let sleeper = sleeper.expect("unshare's child");
    let mut b = Bundle::new(
        "pidjoin",
        &["sh", "-c", "echo $$; readlink /proc/self/ns/pid"],
    );
    for n in b.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if n["type"] == "pid" {
            n["path"] = json!(format!("/proc/{sleeper}/ns/pid"));
        }
    }
    let (code, out, err) = b.run();
    let want_ns = std::fs::read_link(format!("/proc/{sleeper}/ns/pid")).unwrap();
    // Killing the namespace's pid 1 ends everything in it.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sleeper.parse().unwrap()),
        nix::sys::signal::Signal::SIGKILL,
    );
    host.kill().unwrap();
    host.wait().unwrap();
    assert_eq!(code, 0, "out: {out} err: {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(
        lines[0], "1",
        "a joined pid namespace already has its pid 1"
    );
    assert_eq!(lines[1], want_ns.to_string_lossy());
}

#[test]
fn time_namespace_offsets() {
    let mut b = Bundle::new("timens", &["cat", "/proc/uptime"]);
    b.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 365, "nanosecs": 0}});
    if !common::host::time_namespaces() {
        return refused_without(
            &b,
            "CLONE_NEWTIME",
            "namespaces::time_namespace_offsets",
            "needs time namespaces (Linux 5.6, CONFIG_TIME_NS): this kernel has none",
        );
    }
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let uptime: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(uptime > 86400.0 * 365.0, "{out}");
}

/// A new network namespace has its loopback up, as with runc: a server on
/// 127.0.0.1 is reachable from inside.
#[test]
fn new_network_namespace_has_loopback_up() {
    let out = Bundle::sh(
        "lo-up",
        "cat /sys/class/net/lo/flags; nc -l -p 7777 -e echo reached & sleep 0.5; echo | nc 127.0.0.1 7777; wait",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["0x9", "reached"], "{out}");
}

/// With a user namespace of its own, a container may set the user.*
/// sysctls (limits of that user namespace; runc 1.4), and its devices,
/// bind-mounted from the host's there, are nosuid and noexec.
#[test]
fn user_namespace_sysctls_and_device_mounts() {
    let mut b = Bundle::new(
        "userns-sysctl",
        &[
            "sh",
            "-c",
            "cat /proc/sys/user/max_user_namespaces; grep ' /dev/null ' /proc/self/mountinfo",
        ],
    );
    userns(&mut b);
    b.config["linux"]["sysctl"] = json!({"user.max_user_namespaces": "7"});
    if !common::host::user_namespaces() {
        return refused_without(
            &b,
            "CLONE_NEWUSER",
            "namespaces::user_namespace_sysctls_and_device_mounts",
            "needs user namespaces: this kernel has none, or user.max_user_namespaces is 0",
        );
    }
    let host = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap();
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "7", "{out}");
    let opts = lines[1].split(' ').nth(5).unwrap_or_default();
    assert!(
        opts.split(',').any(|o| o == "nosuid") && opts.split(',').any(|o| o == "noexec"),
        "/dev/null's mount options: {}",
        lines[1]
    );
    assert_eq!(
        std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap(),
        host,
        "the host's limit is unchanged"
    );
    // Without a user namespace of its own, the host's limits are refused.
    let mut b = Bundle::new("host-user-sysctl", &["true"]);
    b.config["linux"]["sysctl"] = json!({"user.max_user_namespaces": "7"});
    let out = b.berth(&["run", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "linux.sysctl.user.max_user_namespaces: needs a user namespace of the container's own"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
