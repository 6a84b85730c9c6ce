//! create, start, state, kill, delete, list and run: the lifecycle as
//! engines drive it, checked from the host.

mod common;

use std::time::{Duration, Instant};

use common::Bundle;
use serde_json::json;

fn wait_status(b: &Bundle, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = b.state();
        if s["status"] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "status stayed {} (wanted {want})",
            s["status"]
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn create_start_kill_delete() {
    let b = Bundle::new("lifecycle", &["sleep", "1000"]);
    let pidfile = b.dir.join("init.pid");
    b.ok(&["create", "--pid-file", pidfile.to_str().unwrap(), &b.id]);
    let s = b.state();
    assert_eq!(s["status"], "created");
    assert_eq!(s["id"], b.id.as_str());
    assert_eq!(s["bundle"], b.dir.canonicalize().unwrap().to_str().unwrap());
    let pid = s["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    // The process sits in its cgroup before it runs the container's code.
    let procs = std::fs::read_to_string(b.cgroup_dirs()[0].join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|l| l == pid.to_string()), "{procs}");
    // Not yet exec'd: still berth (its protected view, not the host
    // file), not sleep.
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.to_string_lossy().contains("berth"), "{exe:?}");
    assert_ne!(exe, std::path::Path::new(common::BERTH));

    let list = b.ok(&["list"]);
    assert!(
        list.lines()
            .any(|l| l.starts_with(&b.id) && l.contains("created")),
        "{list}"
    );

    // start returns once the program runs: running, and no longer berth,
    // the moment it returns (it used to return before the execve).
    b.ok(&["start", &b.id]);
    assert_eq!(b.state()["status"], "running");
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("busybox"), "{exe:?}");
    let err = b.berth(&["start", &b.id]);
    assert!(!err.status.success());

    let out = b.berth(&["delete", &b.id]);
    assert!(
        !out.status.success(),
        "delete of a running container must fail"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("running"));

    b.ok(&["kill", &b.id, "KILL"]);
    wait_status(&b, "stopped");
    // runc's words, which engines match to tell "already gone".
    let out = b.berth(&["kill", &b.id, "KILL"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("container not running"));
    assert_eq!(b.state()["pid"], 0);
    b.ok(&["delete", &b.id]);
    assert!(!b.root.join(&b.id).exists());
    for d in b.cgroup_dirs() {
        assert!(!d.exists(), "{} left", d.display());
    }
    let out = b.berth(&["state", &b.id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn run_returns_exit_status() {
    let b = Bundle::new("exit3", &["sh", "-c", "exit 3"]);
    assert_eq!(b.run().0, 3);
    assert!(!b.root.join(&b.id).exists(), "run removes the container");
}

/// A foreground run in the background of the test, and its container's pid.
/// The caller waits for the child.
#[allow(clippy::zombie_processes)]
fn spawn_run(b: &Bundle) -> (std::process::Child, i64) {
    b.write_config();
    let child = std::process::Command::new(common::BERTH)
        .arg("--root")
        .arg(&b.root)
        .args(["run", &b.id])
        .current_dir(&b.dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(b.dir.join(".run.out")).unwrap())
        .stderr(std::fs::File::create(b.dir.join(".run.err")).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = b.berth(&["state", &b.id]);
        if out.status.success() {
            let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if s["status"] == "running" {
                return (child, s["pid"].as_i64().unwrap());
            }
        }
        assert!(
            Instant::now() < deadline,
            "container never ran: {}",
            std::fs::read_to_string(b.dir.join(".run.err")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn foreground_run_reports_death_by_signal() {
    let b = Bundle::new("killed", &["sleep", "1000"]);
    let (mut child, _) = spawn_run(&b);
    b.ok(&["kill", &b.id, "KILL"]);
    assert_eq!(child.wait().unwrap().code(), Some(137));
}

#[test]
fn foreground_run_forwards_signals() {
    let b = Bundle::new(
        "forward",
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; while true; do sleep 0.05; done",
        ],
    );
    let (mut child, _) = spawn_run(&b);
    // Give the shell time to install its trap before the signal arrives.
    std::thread::sleep(Duration::from_millis(200));
    nix_kill(child.id(), libc_sigterm());
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

fn libc_sigterm() -> i32 {
    15
}

fn nix_kill(pid: u32, sig: i32) {
    let st = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn run_detached_and_kill_with_signal_names() {
    let b = Bundle::new("detach", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    wait_status(&b, "running");
    b.ok(&["kill", &b.id, "SIGTERM"]);
    // sleep as pid 1 ignores SIGTERM (no handler): the kernel drops it.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(b.state()["status"], "running");
    b.ok(&["kill", &b.id, "9"]);
    wait_status(&b, "stopped");
    b.ok(&["delete", &b.id]);
}

#[test]
fn delete_force_and_created_containers() {
    let b = Bundle::new("force", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    b.ok(&["delete", "-f", &b.id]);
    let b2 = Bundle::new("created-delete", &["true"]);
    b2.ok(&["create", &b2.id]);
    b2.ok(&["delete", &b2.id]);
    assert!(!b2.root.join(&b2.id).exists());
}

#[test]
fn duplicate_id_is_refused_and_leaves_the_first() {
    let b = Bundle::new("dup", &["sleep", "1000"]);
    b.ok(&["create", &b.id]);
    let out = b.berth(&["create", &b.id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(b.state()["status"], "created");
}

#[test]
fn list_json_and_quiet() {
    let b = Bundle::new("list", &["sleep", "1000"]);
    b.ok(&["create", &b.id]);
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(v[0]["id"], b.id.as_str());
    assert_eq!(v[0]["status"], "created");
    assert_eq!(b.ok(&["list", "-q"]).trim(), b.id);
}

#[test]
fn missing_container_is_a_clear_error() {
    let b = Bundle::new("missing", &["true"]);
    for args in [
        vec!["start", "nope"],
        vec!["kill", "nope"],
        vec!["delete", "nope"],
        vec!["state", "nope"],
    ] {
        let out = b.berth(&args);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("container nope does not exist"),
            "{args:?}: {err}"
        );
    }
    // What delete --force asks for already holds: success, as with runc.
    let out = b.berth(&["delete", "-f", "nope"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn run_keep_leaves_a_stopped_container() {
    let b = Bundle::new("keep", &["true"]);
    b.write_config();
    let out = b.berth(&["run", "--keep", &b.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(b.state()["status"], "stopped");
    b.ok(&["delete", &b.id]);
}

#[test]
fn kill_all_signals_every_process() {
    // Without a pid namespace the init's death does not take the others
    // with it: --all must reach them through the cgroup.
    let mut b = Bundle::new("killall", &["sh", "-c", "sleep 1000 & sleep 1000"]);
    b.config["linux"]["namespaces"] = json!([{"type": "mount"}]);
    b.config["hostname"] = json!(null);
    b.ok(&["run", "-d", &b.id]);
    wait_status(&b, "running");
    let procs = b.cgroup_dirs()[0].join("cgroup.procs");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string(&procs).unwrap().lines().count() < 2 {
        assert!(
            Instant::now() < deadline,
            "the second process never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    b.ok(&["kill", "--all", &b.id, "KILL"]);
    wait_status(&b, "stopped");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&procs).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "processes survived kill --all");
        std::thread::sleep(Duration::from_millis(10));
    }
    b.ok(&["delete", &b.id]);
}

#[test]
fn kill_all_reaches_what_a_stopped_init_left() {
    // CRI's default: no pid namespace of the container's own, so the init's
    // exit leaves its children running in the cgroup; containerd then sends
    // kill --all, which must signal them and succeed, as runc does.
    let mut b = Bundle::new("killleft", &["sh", "-c", "sleep 1000 >/dev/null 2>&1 &"]);
    b.config["linux"]["namespaces"] = json!([{"type": "mount"}]);
    b.config["hostname"] = json!(null);
    b.ok(&["run", "-d", &b.id]);
    wait_status(&b, "stopped");
    let procs = b.cgroup_dirs()[0].join("cgroup.procs");
    assert_eq!(
        std::fs::read_to_string(&procs).unwrap().lines().count(),
        1,
        "the sleep should outlive its init"
    );
    b.ok(&["kill", "--all", &b.id, "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(&procs).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "kill --all left the sleep alive");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = b.berth(&["kill", &b.id, "KILL"]);
    assert!(
        !out.status.success(),
        "kill without --all of a stopped init"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("container not running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    b.ok(&["delete", &b.id]);
}

#[test]
fn unknown_properties_and_annotations_are_ignored() {
    let mut b = Bundle::new("unknown", &["true"]);
    b.config["futureField"] = json!({"x": 1});
    b.config["process"]["futureProcessField"] = json!(true);
    b.config["annotations"] = json!({"org.example.anything": "value"});
    b.ok(&["create", &b.id]);
    assert_eq!(b.state()["annotations"]["org.example.anything"], "value");
}

#[test]
fn features_describe_this_runtime() {
    let out = std::process::Command::new(common::BERTH)
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    let f: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["hooks"].as_array().unwrap().len(), 6);
    assert!(
        f["mountOptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "rro")
    );
    assert_eq!(f["linux"]["namespaces"].as_array().unwrap().len(), 8);
    assert!(
        f["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "CAP_SYS_ADMIN")
    );
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    assert!(
        f["linux"]["seccomp"]["supportedFlags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "SECCOMP_FILTER_FLAG_LOG")
    );
    assert_eq!(f["linux"]["mountExtensions"]["idmap"]["enabled"], true);
    assert!(f["annotations"]["io.github.seccomp.libseccomp.version"].is_string());
    // What runtime-spec 1.3 adds, and the version that says so.
    assert_eq!(f["ociVersionMax"], "1.3.0");
    assert_eq!(
        f["potentiallyUnsafeConfigAnnotations"],
        json!(["org.opencontainers.image.stopSignal"])
    );
    assert_eq!(
        f["linux"]["intelRdt"],
        json!({"enabled": false, "schemata": false, "monitoring": false})
    );
    assert_eq!(f["linux"]["netDevices"]["enabled"], true);
    assert!(f["linux"]["memoryPolicy"]["modes"].is_array());
    let version = std::process::Command::new(common::BERTH)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains("spec: 1.3.0"));
}

/// The features document decodes into the runtime-spec's typed Features
/// (namespace names, seccomp actions and archs are enums there, as in the
/// Go types containerd decodes it with) and loses nothing on the way: every
/// field berth prints is one the spec defines.
#[test]
fn features_decode_as_the_runtime_spec_types() {
    let out = std::process::Command::new(common::BERTH)
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success());
    let typed: oci_spec::runtime::Features =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("features: {e}"));
    let raw: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(strip_nulls(again), raw, "a field the spec does not define");
    let linux = typed.linux().as_ref().unwrap();
    assert!(linux.seccomp().as_ref().unwrap().enabled().unwrap());
    assert!(linux.cgroup().as_ref().unwrap().v1().unwrap());
}

fn strip_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => m
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, strip_nulls(v)))
            .collect(),
        serde_json::Value::Array(a) => a.into_iter().map(strip_nulls).collect(),
        v => v,
    }
}

/// process is optional until start (runtime.md): create sets the container
/// up, start fails naming the reason and leaves it created; run refuses.
#[test]
fn a_container_without_process_is_created_but_not_started() {
    let mut b = Bundle::new("no-process", &["true"]);
    b.config.as_object_mut().unwrap().remove("process");
    b.ok(&["create", &b.id]);
    assert_eq!(b.state()["status"], "created");
    let out = b.berth(&["start", &b.id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("config.json has no process"), "{err}");
    assert_eq!(b.state()["status"], "created");
    b.ok(&["delete", &b.id]);
    let out = b.berth(&["run", &b.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("process: is required to run a container"),
        "{err}"
    );
}

/// Foreground `run` is the subreaper of the container's orphans, as
/// runc's is: a process that leaves a container without a pid namespace
/// of its own (here, orphaned while the init runs) gets berth as its
/// parent; `--no-subreaper` leaves that to the host.
#[test]
fn run_is_a_subreaper_unless_told_not() {
    for subreaper in [true, false] {
        let mut b = Bundle::new(
            "subreaper",
            &[
                "sh",
                "-c",
                "( (sleep 0.3; grep PPid /proc/self/status) & ); sleep 1",
            ],
        );
        let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        b.write_config();
        let bundle = b.dir.to_str().unwrap();
        let mut args = vec!["run", "-b", bundle];
        if !subreaper {
            args.push("--no-subreaper");
        }
        args.push(&b.id);
        let child = b.spawn("run", &args);
        let berth = child.id();
        let out = child.wait_with_output().unwrap();
        let err = std::fs::read_to_string(b.dir.join("run.err")).unwrap_or_default();
        assert!(out.status.success(), "{err}");
        let text = std::fs::read_to_string(b.dir.join("run.out")).unwrap();
        let ppid: u32 = text
            .trim()
            .strip_prefix("PPid:")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        assert_eq!(ppid == berth, subreaper, "PPid {ppid}, berth {berth}");
    }
}
