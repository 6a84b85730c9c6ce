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

#[test]
fn rootless_run() {
    let rootfs = common::rootfs();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("bundles")
        .join(common::unique_id("rootless"));
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
    config["process"]["args"] = json!([
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; echo > /dev/null && echo DEV"
    ]);
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let out = as_user(&dir, &["run", "rootless-test"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let leftover = dir.join("xdg/berth/rootless-test").exists();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{stdout}{stderr}");
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
