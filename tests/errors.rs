//! Bad input: each is refused with one line naming what is wrong, exit
//! status 1, and nothing left behind (the harness's drop checks that).

mod common;

use common::Bundle;
use serde_json::{Value, json};

/// Creates with a broken config; returns berth's stderr.
fn refused(name: &str, patch: impl FnOnce(&mut Value)) -> String {
    let mut b = Bundle::new(name, &["true"]);
    patch(&mut b.config);
    let out = b.berth(&["create", &b.id]);
    assert_eq!(out.status.code(), Some(1), "create must fail");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!b.root.join(&b.id).exists(), "state dir left");
    for d in b.cgroup_dirs() {
        assert!(!d.exists(), "cgroup {} left", d.display());
    }
    err
}

type Case = (&'static str, Box<dyn FnOnce(&mut Value)>, &'static str);

#[test]
fn config_errors_name_the_field_and_value() {
    let cases: Vec<Case> = vec![
        (
            "type",
            Box::new(|c| c["process"]["user"]["uid"] = json!("root")),
            "process.user.uid: invalid type: string \"root\"",
        ),
        (
            "ns",
            Box::new(|c| c["linux"]["namespaces"][0]["type"] = json!("pidns")),
            "linux.namespaces[0].type: unknown variant `pidns`",
        ),
        (
            "args",
            Box::new(|c| c["process"]["args"] = json!([])),
            "process.args: must name at least the program to run",
        ),
        (
            "root",
            Box::new(|c| c["root"]["path"] = json!("/no/such/rootfs")),
            "root.path: /no/such/rootfs: No such file or directory",
        ),
        (
            "nspath",
            Box::new(|c| c["linux"]["namespaces"][1]["path"] = json!("/no/such/ns")),
            "linux.namespaces[1].path: open /no/such/ns: No such file or directory",
        ),
        (
            "nstype",
            Box::new(|c| c["linux"]["namespaces"][1]["path"] = json!("/proc/self/ns/ipc")),
            "linux.namespaces[1].path: /proc/self/ns/ipc is a namespace of type ipc, not network",
        ),
        (
            "exe",
            Box::new(|c| c["process"]["args"] = json!(["no-such-program"])),
            "process.args[0]: \"no-such-program\": executable file not found",
        ),
        (
            "bind",
            Box::new(|c| {
                c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "bind", "source": "/no/such/src", "options": ["bind"]}))
            }),
            "mounts[7].source: /no/such/src: No such file or directory",
        ),
        (
            "proc",
            Box::new(|c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"}))
            }),
            "mounts[7].destination: /proc/sys is inside /proc",
        ),
        (
            "sysctl",
            Box::new(|c| c["linux"]["sysctl"] = json!({"vm.swappiness": "1"})),
            "linux.sysctl.vm.swappiness: is not namespaced",
        ),
        (
            "cgpath",
            Box::new(|c| c["linux"]["cgroupsPath"] = json!("/a/../../../etc")),
            "linux.cgroupsPath: /a/../../../etc must not contain \"..\"",
        ),
        (
            "cgroot",
            Box::new(|c| c["linux"]["cgroupsPath"] = json!("/")),
            "linux.cgroupsPath: \"/\" names no cgroup of the container's own",
        ),
        (
            "dev",
            Box::new(|c| {
                c["linux"]["devices"] =
                    json!([{"path": "/dev/x", "type": "a", "major": 1, "minor": 3}])
            }),
            "linux.devices[0]: /dev/x: type \"a\" is only valid in cgroup device rules",
        ),
        (
            "sysctl-hostname",
            Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.hostname": "x"})),
            "linux.sysctl.kernel.hostname: conflicts with hostname, which sets it",
        ),
        (
            "sysctl-domainname",
            Box::new(|c| {
                c["linux"]["sysctl"] = json!({"kernel.domainname": "x"});
                c.as_object_mut().unwrap().remove("hostname");
                let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
                ns.retain(|n| n["type"] != "uts");
            }),
            "linux.sysctl.kernel.domainname: needs a new uts namespace (linux.namespaces)",
        ),
    ];
    for (name, patch, want) in cases {
        let err = refused(name, patch);
        assert!(err.contains(want), "{name}: wanted {want:?} in {err:?}");
    }
}

#[test]
fn broken_json_and_missing_config() {
    let b = Bundle::new("json", &["true"]);
    b.write_config();
    std::fs::write(b.dir.join("config.json"), "{\"ociVersion\": ").unwrap();
    let out = std::process::Command::new(common::BERTH)
        .args(["--root"])
        .arg(&b.root)
        .args(["create", "-b"])
        .arg(&b.dir)
        .arg(&b.id)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(": config.json: EOF while parsing a value"),
        "{err}"
    );
    let out = std::process::Command::new(common::BERTH)
        .args(["create", "-b", "/nonexistent", "x"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("open bundle /nonexistent"));
}

/// A bundle whose path is not UTF-8 is refused before anything is made
/// (state.json could not record it: the create used to panic after the
/// clone, leaving the state dir and the init behind).
#[test]
fn bundle_path_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let b = Bundle::new("utf8", &["true"]);
    b.write_config();
    let name = std::ffi::OsStr::from_bytes(b"bundle-\xff");
    let dir = b.dir.parent().unwrap().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(b.dir.join("config.json"), dir.join("config.json")).unwrap();
    let out = std::process::Command::new(common::BERTH)
        .arg("--root")
        .arg(&b.root)
        .args(["create", "-b"])
        .arg(&dir)
        .arg(&b.id)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bundle-\u{fffd} is not valid UTF-8"), "{err}");
    assert!(!b.root.join(&b.id).exists());
}

#[test]
fn invalid_ids_and_arguments() {
    let b = Bundle::new("ids", &["true"]);
    let out = b.berth(&["create", "../escape"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("container id: \"../escape\" is invalid")
    );
    let out = b.berth(&["kill", "x", "NOSIG"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("signal NOSIG: not a known signal name"));
    let out = b.berth(&["frobnicate"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "usage errors exit 2 as clap reports them"
    );
}

#[test]
fn json_log_lines_carry_the_error() {
    let mut b = Bundle::new("jsonlog", &["true"]);
    b.config["process"]["args"] = json!([]);
    let log = b.dir.join("log.json");
    let out = b.berth(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "create",
        &b.id,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&log).unwrap();
    // conmon's caller (podman) reads the whole file as one JSON document.
    assert_eq!(text.lines().count(), 1, "{text}");
    let line: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(line["level"], "error");
    assert!(
        line["msg"]
            .as_str()
            .unwrap()
            .contains("process.args: must name"),
        "{line}"
    );
    assert!(line["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn terminal_without_console_socket_is_refused() {
    let mut b = Bundle::new("noconsole", &["true"]);
    b.config["process"]["terminal"] = json!(true);
    let out = b.berth(&["create", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("process.terminal: is true, so --console-socket is required")
    );
    assert!(!b.root.join(&b.id).exists());
}

/// No LSM is enabled on this machine: process labels are refused with the
/// reason, and a mount label is ignored with a warning.
/// Where AppArmor or SELinux is enabled, these configs are valid, and this
/// test says so and checks nothing it cannot.
#[test]
fn lsm_labels_without_the_lsm_are_refused() {
    let apparmor = common::host::apparmor();
    let selinux = common::host::selinux();
    let cases: Vec<Case> = vec![
        (
            "apparmor",
            Box::new(|c| c["process"]["apparmorProfile"] = json!("berth-test")),
            "process.apparmorProfile: is set, but AppArmor is not enabled on this host",
        ),
        (
            "selinux",
            Box::new(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0")),
            "process.selinuxLabel: is set, but SELinux is not enabled on this host",
        ),
    ];
    for (name, patch, want) in cases {
        if (name == "apparmor" && apparmor) || (name != "apparmor" && selinux) {
            common::skip(
                &format!("errors::lsm_labels_without_the_lsm_are_refused ({name})"),
                "needs a host without this LSM: it is enabled here, so the label is valid",
            );
            continue;
        }
        let err = refused(name, patch);
        assert!(err.contains(want), "{name}: wanted {want:?} in {err:?}");
    }
}

#[test]
fn mount_label_without_selinux_is_ignored_with_a_warning() {
    if common::host::selinux() {
        common::skip(
            "errors::mount_label_without_selinux_is_ignored_with_a_warning",
            "needs a host without SELinux: it is enabled here, so the label applies",
        );
        return;
    }
    let mut b = Bundle::new("mountlabel", &["true"]);
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
    let out = b.berth(&["run", &b.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("linux.mountLabel is ignored"));
}

/// A script reading stderr tells a failure by its level, as with runc's
/// `level=error`: every failing command's line starts `berth: error: `,
/// the config refusals of create included.
#[test]
fn failures_read_as_errors() {
    let b = Bundle::new("errprefix", &["true"]);
    let missing = format!("{}-missing", b.id);
    for args in [
        vec!["state", missing.as_str()],
        vec!["start", missing.as_str()],
        vec!["kill", missing.as_str()],
        vec!["delete", missing.as_str()],
        vec!["exec", missing.as_str(), "true"],
        vec!["pause", missing.as_str()],
        vec!["ps", missing.as_str()],
    ] {
        let out = b.berth(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            err.trim_end(),
            format!("berth: error: container {missing} does not exist"),
            "{args:?}"
        );
    }
    let err = refused("errprefix-cfg", |c| c["process"]["args"] = json!([]));
    assert!(err.starts_with("berth: error: "), "{err}");
}
