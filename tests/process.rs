//! The process's own attributes, read back from inside the container.

mod common;

use common::Bundle;
use serde_json::json;

fn status_field(out: &str, field: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("{field} missing in {out}"))
        .trim()
        .to_string()
}

#[test]
fn default_capabilities_and_no_new_privs() {
    let out = Bundle::sh("caps", "cat /proc/self/status");
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let want = "0000000020000420";
    for f in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status_field(&out, f), want, "{f}");
    }
    // Neither inheritable nor ambient capabilities by default.
    assert_eq!(
        status_field(&out, "CapInh"),
        "0000000000000000",
        "inheritable stays empty"
    );
    assert_eq!(status_field(&out, "CapAmb"), "0000000000000000");
    assert_eq!(status_field(&out, "NoNewPrivs"), "1");
}

#[test]
fn no_capabilities_when_absent_and_nnp_off() {
    let mut b = Bundle::new("nocaps", &["cat", "/proc/self/status"]);
    b.config["process"]
        .as_object_mut()
        .unwrap()
        .remove("capabilities");
    b.config["process"]["noNewPrivileges"] = json!(false);
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    for f in ["CapPrm", "CapEff", "CapBnd", "CapAmb", "CapInh"] {
        assert_eq!(status_field(&out, f), "0000000000000000", "{f}");
    }
    assert_eq!(status_field(&out, "NoNewPrivs"), "0");
}

#[test]
fn user_groups_and_umask() {
    let mut b = Bundle::new(
        "user",
        &[
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/status | grep Groups; umask; cat /proc/self/status | grep CapEff",
        ],
    );
    b.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 63});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["1000", "1001"]);
    assert_eq!(
        lines[2].split_whitespace().skip(1).collect::<Vec<_>>(),
        ["10", "20"]
    );
    assert_eq!(lines[3], "0077");
    // A non-root user's capabilities do not survive execve unless ambient.
    assert!(lines[4].ends_with("0000000000000000"), "{out}");
}

/// rlimits and oomScoreAdj, read back. Raising a hard limit above the
/// runtime's own takes CAP_SYS_RESOURCE, which machines of this kind lack:
/// probed, then the raised limit reads back, or berth's error names the
/// rlimit and the kernel's EPERM.
#[test]
fn rlimits_and_oom_score_adj() {
    use common::host;
    let hard = host::hard_limit(libc::RLIMIT_NOFILE);
    let cap = host::cap_sys_resource();
    let script = "ulimit -n; ulimit -Hn; ulimit -c; cat /proc/self/oom_score_adj";
    let mut b = Bundle::new("rlimits", &["sh", "-c", script]);
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_NOFILE", "soft": 500, "hard": 600},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
    ]);
    b.config["process"]["oomScoreAdj"] = json!(123);
    let (code, out, err) = b.run();
    if cap || hard >= 600 {
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, "500\n600\n0\n123\n");
    } else {
        assert_eq!(code, 1, "{out}{err}");
        assert!(
            err.contains("process.rlimits[0] RLIMIT_NOFILE soft 500 hard 600: setrlimit: EPERM"),
            "{err}"
        );
    }
    if hard == libc::RLIM_INFINITY {
        common::skip(
            "process::rlimits_and_oom_score_adj (above the hard limit)",
            "needs a finite hard RLIMIT_NOFILE to go above: this host's is unlimited",
        );
        return;
    }
    let above = hard + 1;
    let mut b = Bundle::new("rlimits-above", &["sh", "-c", "ulimit -Hn"]);
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 500, "hard": above}]);
    let (code, out, err) = b.run();
    // Not even CAP_SYS_RESOURCE raises RLIMIT_NOFILE past fs.nr_open.
    let nr_open: u64 = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if cap && above <= nr_open {
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), above.to_string());
    } else {
        assert_eq!(code, 1, "{out}{err}");
        let want =
            format!("process.rlimits[0] RLIMIT_NOFILE soft 500 hard {above}: setrlimit: EPERM");
        assert!(err.contains(&want), "{want}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn scheduler_io_priority_and_personality() {
    let mut b = Bundle::new(
        "sched",
        &[
            "sh",
            "-c",
            "cat /proc/self/stat | cut -d' ' -f41; ionice -p $$; uname -m",
        ],
    );
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "3", "SCHED_BATCH: {out}");
    assert!(lines[1].contains("idle"), "{out}");
    assert!(matches!(lines[2], "i686" | "i386"), "{out}");
}

#[test]
fn ambient_capabilities_reach_a_non_root_process() {
    let mut b = Bundle::new(
        "ambient",
        &["sh", "-c", "grep -E 'CapAmb|CapInh' /proc/self/status"],
    );
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let caps = json!(["CAP_NET_BIND_SERVICE"]);
    b.config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": caps, "ambient": caps});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CapInh:\t0000000000000400"), "{out}");
    assert!(out.contains("CapAmb:\t0000000000000400"), "{out}");
}

/// HOME comes from the container's /etc/passwd for the process's uid when
/// process.env lacks it, else "/" (runc sets it; shells and images rely on
/// it); a HOME in the env is kept as it is.
#[test]
fn home_when_the_env_lacks_it() {
    for (uid, env_home, want) in [
        (0, None, "/root"),
        (65534, None, "/home"),
        (4242, None, "/"),
        (0, Some("HOME=/srv"), "/srv"),
    ] {
        let mut b = Bundle::new("home", &["sh", "-c", "echo $HOME"]);
        b.config["process"]["user"] = json!({"uid": uid, "gid": uid});
        let mut env = vec![json!("PATH=/bin:/usr/bin")];
        env.extend(env_home.map(|h| json!(h)));
        b.config["process"]["env"] = json!(env);
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), want, "uid {uid}, {env_home:?}");
    }
}

/// A missing process.cwd is made before the root is made read-only (it
/// was an EROFS failure).
#[test]
fn missing_cwd_with_a_read_only_root() {
    let mut b = Bundle::new("rocwd", &["sh", "-c", "pwd; touch x || echo READONLY"]);
    let rootfs = b.private_rootfs();
    b.config["root"]["readonly"] = json!(true);
    b.config["process"]["cwd"] = json!("/work/deep/dir");
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["/work/deep/dir", "READONLY"]
    );
    assert!(rootfs.join("work/deep/dir").is_dir());
}

/// The init leads a session and process group of its own, inside the
/// container (not the caller's group, which reads as 0 from inside).
#[test]
fn init_has_its_own_session_and_group() {
    let out = Bundle::sh("session", "cut -d' ' -f5,6 /proc/$$/stat");
    assert_eq!(out.trim(), "1 1");
}

/// process.scheduler.flags in the spec's spelling take effect:
/// SCHED_FLAG_RESET_ON_FORK gives the process's children the default nice
/// back.
#[test]
fn scheduler_flags_in_the_spec_spelling() {
    let mut b = Bundle::new(
        "schedflags",
        &[
            "sh",
            "-c",
            "cut -d' ' -f19 /proc/$$/stat; cut -d' ' -f19 /proc/self/stat; true",
        ],
    );
    b.config["process"]["scheduler"] =
        json!({"policy": "SCHED_OTHER", "nice": -5, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["-5", "0"], "{out}");
}

/// A real-time policy in a v1 cpu cgroup without real-time runtime is
/// refused saying so (the kernel's answer is a bare EPERM), by create and
/// by exec; where the kernel has no real-time group scheduling (no
/// cpu.rt_runtime_us) the policy applies.
#[test]
fn realtime_policy_without_realtime_runtime() {
    let mut b = Bundle::new("rt", &["sh", "-c", "cut -d' ' -f41 /proc/self/stat"]);
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 1});
    let (code, out, err) = b.run();
    if !common::host::v1_file("cpu", "cpu.rt_runtime_us") {
        common::skip(
            "realtime_policy_without_realtime_runtime",
            "no v1 cpu.rt_runtime_us: the policy applies",
        );
        assert_eq!((code, out.trim()), (0, "1"), "{err}");
        return;
    }
    assert_eq!(code, 1, "{out}");
    assert!(
        err.contains("process.scheduler.policy: SCHED_FIFO: the container's cpu cgroup allows no real-time runtime (")
            && err.contains("cpu.rt_runtime_us is 0; linux.resources.cpu.realtimeRuntime sets it)"),
        "{err}"
    );
    let b = Bundle::new("rt-exec", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    let proc_json = b.dir.join("rt-process.json");
    let p = json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "scheduler": {"policy": "SCHED_RR", "priority": 1}});
    std::fs::write(&proc_json, p.to_string()).unwrap();
    let out = b.berth(&["exec", "-p", proc_json.to_str().unwrap(), &b.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("SCHED_RR: the container's cpu cgroup allows no real-time runtime"),
        "{err}"
    );
}
