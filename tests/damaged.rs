//! A damaged state dir: a truncated or invalid state.json (or one naming a
//! hierarchy root as the cgroup), a bundle gone
//! after create, a pid reused by an unrelated process, an init that died
//! while no berth ran. Each gives a clear error or the right status, and
//! `delete -f` recovers, leaving nothing behind (the Bundle's leak check).

mod common;

use std::path::Path;
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
    for damage in ["truncate", "garbage", "hierarchy root"] {
        let b = Bundle::new("damaged", &["sleep", "1000"]);
        b.ok(&["run", "-d", &b.id]);
        let pid = b.state()["pid"].as_i64().unwrap();
        let text = std::fs::read(state_file(&b)).unwrap();
        let bad = match damage {
            "truncate" => text[..text.len() / 2].to_vec(),
            // A cgroup that is a whole hierarchy: destroying it would
            // kill every process on the host (this test's among them).
            "hierarchy root" => {
                let mut s: serde_json::Value = serde_json::from_slice(&text).unwrap();
                let root = if common::host::unified() {
                    "/sys/fs/cgroup"
                } else {
                    "/sys/fs/cgroup/pids"
                };
                s["cgroup"]["dirs"] = serde_json::json!([root]);
                serde_json::to_vec(&s).unwrap()
            }
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

/// Waits until `child` is blocked on the lock of `dir` (/proc/locks shows
/// it as a waiter): no sleep decides it.
fn until_waiting(dir: &Path, child: &mut std::process::Child) {
    while !common::flocks_on(dir).contains(&(child.id(), true)) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "did not wait for the lock"
        );
        std::thread::yield_now();
    }
}

/// Takes a container's lock as a berth command does.
fn lock(dir: &Path) -> nix::fcntl::Flock<std::fs::File> {
    let f = std::fs::File::open(dir).unwrap();
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive).unwrap()
}

#[test]
fn a_killed_holder_leaves_no_lock_and_a_live_one_is_waited_for() {
    let b = Bundle::new("lock", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    let dir = b.root.join(&b.id);
    // delete SIGKILLed while it holds the lock, the init already killed:
    // the kernel drops a flock with its last descriptor, and no other
    // process (init, hook) had a copy.
    let out = b.berth_env(
        &[("BERTH_FAULT", "init killed:kill")],
        &["delete", "-f", &b.id],
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        Some(9),
        "{out:?}"
    );
    assert_eq!(common::flocks_on(&dir), [], "a lock outlived its holder");
    let state: serde_json::Value =
        serde_json::from_slice(&b.berth_raw(&["state", &b.id]).stdout).unwrap();
    assert_eq!(state["status"], "stopped");
    b.ok(&["delete", &b.id]);

    // A live holder (this test): commands wait for it, then go on.
    b.ok(&["run", "-d", &b.id]);
    let held = lock(&dir);
    let mut state = b.spawn("state", &["state", &b.id]);
    until_waiting(&dir, &mut state);
    drop(held);
    assert!(state.wait().unwrap().success());
    let shown: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.dir.join("state.out")).unwrap()).unwrap();
    assert_eq!(shown["status"], "running");

    // Two waiters, a delete and a state: whichever goes second sees the
    // other's result, and a state after the delete is the plain error.
    let held = lock(&dir);
    let mut delete = b.spawn("delete", &["delete", "-f", &b.id]);
    until_waiting(&dir, &mut delete);
    let mut state = b.spawn("state", &["state", &b.id]);
    until_waiting(&dir, &mut state);
    drop(held);
    assert!(delete.wait().unwrap().success());
    let state_ok = state.wait().unwrap().success();
    let err = std::fs::read_to_string(b.dir.join("state.err")).unwrap();
    assert!(
        state_ok || err.trim() == format!("berth: error: container {} does not exist", b.id),
        "{err}"
    );
}
