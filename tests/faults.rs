//! Faults in the middle of create, start and delete, through the test
//! switch of src/fault.rs (debug builds only): at every phase of the
//! command's `--debug` trace, the command fails there (abort) or its
//! runtime is SIGKILLed there (kill). After an abort the command's own
//! cleanup, after a kill `delete -f`, must leave no process, cgroup,
//! mount, state dir or fifo, and the same id must work again.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{Bundle, leaks_of};
use serde_json::{Value, json};

const ACTIONS: [&str; 2] = ["abort", "kill"];

/// A sleeping container; with `hooks`, one hook of each kind create runs,
/// so that the hook phases are traced too.
fn bundle(name: &str, hooks: bool) -> Bundle {
    let mut b = Bundle::new(name, &["sleep", "1000"]);
    if hooks {
        let hook = json!([{"path": "/bin/true"}]);
        b.config["hooks"] =
            json!({"prestart": hook, "createRuntime": hook, "createContainer": hook});
    }
    b
}

/// The phases `args` goes through, in order, read from its `--debug`
/// trace (the runtime's lines and the init's).
fn phases(b: &Bundle, args: &[&str]) -> Vec<String> {
    let log = b.dir.join("trace.log");
    let _ = std::fs::remove_file(&log);
    let mut full = vec!["--debug", "--log-format", "json", "--log"];
    full.push(log.to_str().unwrap());
    full.extend(args);
    let out = b.berth(&full);
    assert!(out.status.success(), "{args:?}: {out:?}");
    let mut names: Vec<String> = Vec::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let Some(rest) = v["msg"].as_str().and_then(|m| m.strip_prefix("phase ")) else {
            continue;
        };
        let (name, _) = rest.rsplit_once(" at ").expect("phase NAME at TIME");
        // A fault at a name traced twice would fire at the first of them.
        assert!(!names.iter().any(|n| n == name), "{name} traced twice");
        names.push(name.to_string());
    }
    names
}

fn fault(b: &Bundle, phase: &str, action: &str, args: &[&str]) -> Output {
    b.berth_env(&[("BERTH_FAULT", &format!("{phase}:{action}"))], args)
}

/// The command failed at the phase: one line naming it (abort), or the
/// runtime died of SIGKILL (kill).
fn assert_faulted(out: &Output, phase: &str, action: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    if action == "abort" {
        assert_eq!(out.status.code(), Some(1), "{phase}:{action}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{phase}:{action}: {err}");
        assert!(
            err.contains(&format!("fault injected at {phase}")),
            "{phase}:{action}: {err}"
        );
    } else {
        assert_eq!(out.status.signal(), Some(9), "{phase}:{action}: {out:?}");
    }
}

/// Nothing of the container is left. An init whose runtime was killed
/// before it was told to go on exits by itself when it reads end-of-file
/// on the sync socket, a moment later: that moment is waited for.
fn assert_clean(b: &Bundle, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let leaks = leaks_of(b);
        if leaks.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: left behind {leaks:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `delete -f` after a faulted command succeeds, also when the fault came
/// before the state dir existed.
fn delete_force(b: &Bundle, what: &str) {
    let out = b.berth(&["delete", "-f", &b.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what}: delete -f: {err}");
}

/// The id works again: create, start and delete.
fn lifecycle(b: &Bundle, what: &str) {
    for args in [&["create"][..], &["start"], &["delete", "-f"]] {
        let args = [args, &[b.id.as_str()]].concat();
        let out = b.berth(&args);
        assert!(out.status.success(), "{what}, then {args:?}: {out:?}");
    }
    assert_clean(b, what);
}

#[test]
fn create_faults_leave_nothing_behind() {
    let b = bundle("create", true);
    let phases = phases(&b, &["create", &b.id]);
    b.ok(&["delete", "-f", &b.id]);
    // The runtime's side, the init's, and the hooks between them.
    for p in [
        "config",
        "cgroup",
        "cloned",
        "namespaces",
        "mounts",
        "masked",
        "runtime hooks",
        "container hooks",
        "rootfs",
        "ready",
        "state saved",
    ] {
        assert!(phases.iter().any(|n| n == p), "{p} not in {phases:?}");
    }
    for phase in &phases {
        for action in ACTIONS {
            let what = format!("create with {phase}:{action}");
            let out = fault(&b, phase, action, &["create", &b.id]);
            assert_faulted(&out, phase, action);
            if action == "kill" {
                delete_force(&b, &what);
            }
            assert_clean(&b, &what);
            lifecycle(&b, &what);
        }
    }
}

#[test]
fn start_faults_leave_nothing_behind() {
    let b = bundle("start", false);
    b.ok(&["create", &b.id]);
    let phases = phases(&b, &["start", &b.id]);
    b.ok(&["delete", "-f", &b.id]);
    assert!(phases.iter().any(|n| n == "fifo written"), "{phases:?}");
    for phase in &phases {
        for action in ACTIONS {
            let what = format!("start with {phase}:{action}");
            b.ok(&["create", &b.id]);
            assert_faulted(&fault(&b, phase, action, &["start", &b.id]), phase, action);
            b.ok(&["delete", "-f", &b.id]);
            assert_clean(&b, &what);
        }
    }
    lifecycle(&b, "start faults");
}

#[test]
fn delete_faults_leave_nothing_behind() {
    let b = bundle("delete", false);
    b.ok(&["create", &b.id]);
    b.ok(&["start", &b.id]);
    let phases = phases(&b, &["delete", "-f", &b.id]);
    for p in ["init killed", "cgroup removed"] {
        assert!(phases.iter().any(|n| n == p), "{p} not in {phases:?}");
    }
    for phase in &phases {
        for action in ACTIONS {
            let what = format!("delete with {phase}:{action}");
            b.ok(&["create", &b.id]);
            b.ok(&["start", &b.id]);
            let out = fault(&b, phase, action, &["delete", "-f", &b.id]);
            assert_faulted(&out, phase, action);
            b.ok(&["delete", "-f", &b.id]);
            assert_clean(&b, &what);
        }
    }
    lifecycle(&b, "delete faults");
}

#[test]
fn a_bad_switch_is_named() {
    let b = bundle("bad-switch", false);
    let out = b.berth_env(&[("BERTH_FAULT", "config")], &["create", &b.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("BERTH_FAULT: \"config\" is not PHASE:abort or PHASE:kill"),
        "{err}"
    );
}
