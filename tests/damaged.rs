//! A damaged state dir: a truncated or invalid state.json, a bundle gone
//! after create, a pid reused by an unrelated process, an init that died
//! while no berth ran. Each gives a clear error or the right status, and
//! `delete -f` recovers, leaving nothing behind (the Bundle's leak check).

mod common;

use std::process::Output;

use common::Bundle;

fn err_of(o: &Output) -> String {
    assert!(!o.status.success(), "succeeded: {o:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn state_file(b: &Bundle) -> std::path::PathBuf {
    b.root.join(&b.id).join("state.json")
}

#[test]
fn damaged_state_json_is_named_and_delete_force_recovers() {
    for damage in ["truncate", "garbage"] {
        let b = Bundle::new("damaged", &["sleep", "1000"]);
        b.ok(&["run", "-d", &b.id]);
        let pid = b.state()["pid"].as_i64().unwrap();
        let text = std::fs::read(state_file(&b)).unwrap();
        let bad = match damage {
            "truncate" => text[..text.len() / 2].to_vec(),
            _ => b"{\"id\": 7, garbage".to_vec(),
        };
        std::fs::write(state_file(&b), bad).unwrap();
        for cmd in [&["state", &b.id][..], &["delete", &b.id][..]] {
            let err = err_of(&b.berth_raw(cmd));
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.contains("state.json"), "{err}");
            assert!(err.contains("delete -f"), "{err}");
        }
        let out = b.berth_raw(&["delete", "-f", &b.id]);
        assert!(out.status.success(), "{out:?}");
        // The init and its cgroup went with it (the drop's leak check
        // covers the cgroup, state dir and mounts).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let alive =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
        assert!(!alive, "{damage}: init {pid} still runs");
        // The id can be used again.
        b.ok(&["run", "-d", &b.id]);
    }
}

#[test]
fn a_removed_bundle_does_not_stop_state_or_delete() {
    let mut b = Bundle::new("no-bundle", &["sleep", "1000"]);
    let bundle = b.dir.join("separate-bundle");
    std::fs::create_dir_all(&bundle).unwrap();
    b.config["root"]["path"] = serde_json::json!(common::rootfs());
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec(&b.config).unwrap(),
    )
    .unwrap();
    let out = b.berth_raw(&["run", "-d", "-b", bundle.to_str().unwrap(), &b.id]);
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_dir_all(&bundle).unwrap();
    let state: serde_json::Value =
        serde_json::from_slice(&b.berth_raw(&["state", &b.id]).stdout).unwrap();
    assert_eq!(state["status"], "running");
    let out = b.berth_raw(&["delete", "-f", &b.id]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_reused_pid_is_not_the_container() {
    let b = Bundle::new("pid-reuse", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    let saved = std::fs::read(state_file(&b)).unwrap();
    // Another live process under the recorded pid: this test's own.
    let mut state: serde_json::Value = serde_json::from_slice(&saved).unwrap();
    state["pid"] = serde_json::json!(std::process::id());
    std::fs::write(state_file(&b), serde_json::to_vec(&state).unwrap()).unwrap();
    let shown: serde_json::Value =
        serde_json::from_slice(&b.berth_raw(&["state", &b.id]).stdout).unwrap();
    assert_eq!(shown["status"], "stopped");
    let err = err_of(&b.berth_raw(&["kill", &b.id, "KILL"]));
    assert!(err.contains("not running"), "{err}");
    std::fs::write(state_file(&b), saved).unwrap();
    assert_eq!(b.state()["status"], "running");
}

#[test]
fn an_init_that_died_unwatched_is_stopped() {
    let b = Bundle::new("died", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    let pid = b.state()["pid"].as_i64().unwrap() as i32;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.state()["status"] != "stopped" {
        assert!(std::time::Instant::now() < deadline, "never stopped");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    b.ok(&["delete", &b.id]);
}
