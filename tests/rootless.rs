//! berth run by an unprivileged user: `spec --rootless`, a user namespace
//! mapping that user, the state under $XDG_RUNTIME_DIR, no cgroup (with one
//! warning) when cgroups are not delegated.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

const UID: u32 = 4321;

fn as_user(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid",
            &UID.to_string(),
            "--regid",
            &UID.to_string(),
            "--clear-groups",
            common::BERTH,
        ])
        .args(args)
        .env("XDG_RUNTIME_DIR", dir.join("xdg"))
        .current_dir(dir)
        .output()
        .expect("setpriv (util-linux)")
}

/// Makes a rootless bundle as the user, patches its config, runs it;
/// returns (success, stdout, stderr, state left behind).
fn run_rootless(name: &str, patch: impl FnOnce(&mut Value)) -> (bool, String, String, bool) {
    let rootfs = common::rootfs();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bundles")
        .join(common::unique_id(name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("xdg")).unwrap();
    for d in [dir.as_path(), &dir.join("xdg")] {
        nix::unistd::chown(d, Some(UID.into()), Some(UID.into())).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let out = as_user(&dir, &["spec", "--rootless"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    config["root"] = json!({"path": rootfs, "readonly": true});
    config["process"]["terminal"] = json!(false);
    patch(&mut config);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let out = as_user(&dir, &["run", "rootless-test"]);
    let leftover = dir.join("xdg/berth/rootless-test").exists();
    let _ = std::fs::remove_dir_all(&dir);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        leftover,
    )
}

/// Whether an unprivileged user may make a user namespace here: the
/// kernel has them, and neither Debian's kernel.unprivileged_userns_clone
/// nor Ubuntu's AppArmor restriction forbids it.
fn unprivileged_userns() -> bool {
    let sysctl = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|v| v.trim().to_string())
    };
    common::host::user_namespaces()
        && sysctl("/proc/sys/kernel/unprivileged_userns_clone").is_none_or(|v| v != "0")
        && sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").is_none_or(|v| v != "1")
}

/// Without unprivileged user namespaces the rootless run fails (and
/// leaves nothing); the caller then skips what needs them.
fn refused_without_userns(test: &str, result: (bool, String, String, bool)) {
    let (ok, stdout, stderr, leftover) = result;
    assert!(!ok, "{stdout}{stderr}");
    assert!(!leftover, "state left under $XDG_RUNTIME_DIR/berth");
    common::skip(
        test,
        "needs user namespaces for unprivileged users: this host forbids them",
    );
}

#[test]
fn rootless_run() {
    let result = run_rootless("rootless", |c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; echo > /dev/null && echo DEV"
        ]);
    });
    if !unprivileged_userns() {
        return refused_without_userns("rootless::rootless_run", result);
    }
    let (ok, stdout, stderr, leftover) = result;
    assert!(ok, "{stdout}{stderr}");
    let words: Vec<&str> = stdout.split_whitespace().collect();
    assert_eq!(words, ["0", "0", &UID.to_string(), "1", "DEV"], "{stdout}");
    assert_eq!(
        stderr
            .matches("cgroups are not delegated to this user")
            .count(),
        1,
        "{stderr}"
    );
    assert!(!leftover, "state left under $XDG_RUNTIME_DIR/berth");
}

/// A user account (and group) for the test's uid: newuidmap looks the
/// name up and checks the primary group. Removed when dropped.
struct TestUser;

impl TestUser {
    fn create() -> TestUser {
        // An earlier run that was killed before its Drop left the account.
        drop(TestUser);
        let id = UID.to_string();
        let st = Command::new("groupadd")
            .args(["-g", &id, "berth-rootless-test"])
            .status()
            .expect("groupadd");
        assert!(st.success(), "groupadd berth-rootless-test (gid {UID})");
        let user = TestUser;
        let st = Command::new("useradd")
            .args([
                "-M",
                "-u",
                &id,
                "-g",
                &id,
                "-s",
                "/usr/sbin/nologin",
                "berth-rootless-test",
            ])
            .status()
            .expect("useradd");
        assert!(st.success(), "useradd berth-rootless-test (uid {UID})");
        user
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel")
            .arg("berth-rootless-test")
            .stderr(std::process::Stdio::null())
            .status();
        // userdel takes the user's own group along; this covers a failed
        // useradd.
        let _ = Command::new("groupdel")
            .arg("berth-rootless-test")
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Subordinate ids (/etc/subuid, /etc/subgid) map through the setuid
/// newuidmap/newgidmap helpers. The test adds the user, its ranges, and
/// removes them afterwards.
#[test]
fn rootless_with_subordinate_ids() {
    if !common::host::command("newuidmap") || !common::host::command("newgidmap") {
        common::skip(
            "rootless::rootless_with_subordinate_ids",
            "needs newuidmap and newgidmap (package uidmap): this host lacks them",
        );
        return;
    }
    let _user = TestUser::create();
    let line = format!("{UID}:300000:65536\n");
    for f in ["/etc/subuid", "/etc/subgid"] {
        let mut text = std::fs::read_to_string(f).unwrap_or_default();
        text.push_str(&line);
        std::fs::write(f, text).unwrap();
    }
    let result = run_rootless("rootless-subids", |c| {
        let maps = json!([{"containerID": 0, "hostID": UID, "size": 1}, {"containerID": 1, "hostID": 300000, "size": 65536}]);
        c["linux"]["uidMappings"] = maps.clone();
        c["linux"]["gidMappings"] = maps;
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "cat /proc/self/uid_map /proc/self/gid_map | wc -l"
        ]);
    });
    for f in ["/etc/subuid", "/etc/subgid"] {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        std::fs::write(f, text.replace(&line, "")).unwrap();
    }
    if !unprivileged_userns() {
        return refused_without_userns("rootless::rootless_with_subordinate_ids", result);
    }
    let (ok, stdout, stderr, _) = result;
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "4", "two ranges in each map: {stdout}");
}
