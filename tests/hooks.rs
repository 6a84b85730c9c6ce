//! Lifecycle hooks: each kind runs where and when the runtime-spec says,
//! with the state on stdin; failures stop the container, except poststop's,
//! which are warnings.

mod common;

use std::path::Path;

use common::Bundle;
use serde_json::{Value, json};

/// A hook that appends its name and stdin (the state) to DIR/log.
fn recorder(dir: &Path, name: &str, shell: &str) -> Value {
    json!({"path": shell, "args": ["sh", "-c", format!("echo {name} $(hostname) >> {0}/log; cat > {0}/{name}.json", dir.display())]})
}

fn state(dir: &Path, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join(format!("{name}.json"))).unwrap()).unwrap()
}

#[test]
fn every_kind_runs_in_order_with_the_state() {
    let mut b = Bundle::new("hooks", &["true"]);
    let dir = b.dir.join("hooklog");
    std::fs::create_dir_all(&dir).unwrap();
    b.config["hostname"] = json!("hooked");
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/hooks", "type": "bind", "source": dir, "options": ["bind"]}));
    b.config["hooks"] = json!({
        "prestart": [recorder(&dir, "prestart", "/bin/sh")],
        "createRuntime": [recorder(&dir, "createRuntime", "/bin/sh")],
        "createContainer": [recorder(&dir, "createContainer", "/bin/sh")],
        "startContainer": [recorder(Path::new("/hooks"), "startContainer", "/bin/sh")],
        "poststart": [recorder(&dir, "poststart", "/bin/sh")],
        "poststop": [recorder(&dir, "poststop", "/bin/sh")],
    });
    b.ok(&["create", &b.id]);
    let pid = b.state()["pid"].as_i64().unwrap();
    b.ok(&["start", &b.id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.state()["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    b.ok(&["delete", &b.id]);
    let log = std::fs::read_to_string(dir.join("log")).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let host = host.trim();
    let want = format!(
        "prestart {host}\ncreateRuntime {host}\ncreateContainer hooked\nstartContainer hooked\npoststart {host}\npoststop {host}\n"
    );
    assert_eq!(log, want, "order and namespaces (hostname) of the hooks");
    for (name, status) in [
        ("prestart", "created"),
        ("createRuntime", "created"),
        ("createContainer", "created"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let s = state(&dir, name);
        assert_eq!(s["id"], b.id.as_str(), "{name}");
        assert_eq!(s["status"], status, "{name}");
        match name {
            "poststop" => {}
            // In the container's namespaces: the pid the container sees.
            "createContainer" | "startContainer" => assert_eq!(s["pid"], 1, "{name}"),
            _ => assert_eq!(s["pid"], pid, "{name}"),
        }
    }
}

#[test]
fn failing_or_slow_create_hooks_fail_the_create() {
    for (hook, want) in [
        (
            json!({"path": "/bin/false"}),
            "hooks.createRuntime[0] /bin/false: failed: exit status: 1",
        ),
        (
            json!({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}),
            "hooks.createRuntime[0] /bin/sleep: timed out after 1s and was killed",
        ),
    ] {
        let mut b = Bundle::new("hookfail", &["true"]);
        b.config["hooks"] = json!({"createRuntime": [hook]});
        let out = b.berth(&["create", &b.id]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "wanted {want:?} in {err}");
        assert!(!b.root.join(&b.id).exists());
    }
}

#[test]
fn a_failing_poststart_hook_stops_the_container_and_poststop_warns() {
    let mut b = Bundle::new("hookwarn", &["sleep", "100"]);
    b.config["hooks"] =
        json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]});
    b.write_config();
    let out = b.berth(&["run", &b.id]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hooks.poststart[0] /bin/false: failed: exit status: 1 (the container was stopped and removed)"),
        "{err}"
    );
    assert!(
        err.contains("warning: hooks.poststop[0] /bin/false: failed"),
        "{err}"
    );
    assert!(!b.root.join(&b.id).exists());
}

/// A hook without `env` inherits the environment of what runs it, as
/// runc's do: berth's own for prestart, createRuntime, poststart and
/// poststop; process.env for createContainer and startContainer (in the
/// container's namespaces). A hook with an `env` gets exactly that.
#[test]
fn hooks_without_env_inherit_it() {
    let mut b = Bundle::new("hookenv", &["true"]);
    let dir = b.dir.join("hookenv");
    std::fs::create_dir_all(&dir).unwrap();
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/hooks", "type": "bind", "source": dir, "options": ["bind"]}));
    b.config["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FROM=process"]);
    let dump = |dir: &Path, name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo \"$PATH $FROM\" > {}/{name}", dir.display())]});
    let given = json!({"path": "/bin/sh", "args": ["sh", "-c", format!("exec /usr/bin/env > {}/given", dir.display())], "env": ["FROM=given"]});
    b.config["hooks"] = json!({
        "prestart": [dump(&dir, "prestart"), given],
        "createRuntime": [dump(&dir, "createRuntime")],
        "createContainer": [dump(&dir, "createContainer")],
        "startContainer": [dump(Path::new("/hooks"), "startContainer")],
        "poststart": [dump(&dir, "poststart")],
        "poststop": [dump(&dir, "poststop")],
    });
    let env = [
        ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        ("FROM", "runtime"),
    ];
    for cmd in ["create", "start", "delete"] {
        if cmd == "delete" {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while b.state()["status"] != "stopped" {
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        let out = b.berth_env(&env, &[cmd, &b.id]);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    for name in ["prestart", "createRuntime", "poststart", "poststop"] {
        assert_eq!(
            read(name),
            "/usr/sbin:/usr/bin:/sbin:/bin runtime\n",
            "{name}"
        );
    }
    for name in ["createContainer", "startContainer"] {
        assert_eq!(read(name), "/bin:/usr/bin process\n", "{name}");
    }
    let given = read("given");
    assert!(
        given
            .lines()
            .all(|l| l == "FROM=given" || l.starts_with("PATH=") || l.starts_with("PWD=")),
        "a hook's own env, and what sh adds: {given}"
    );
}
