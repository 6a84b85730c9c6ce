//! Attacks through the values berth is handed: ids out of range, paths a
//! caller names that a container could have planted, signals berth did not
//! know, hooks that do not cooperate, and setup failures that lost their
//! field (issue 14, items 3, 5, 8, 9 and 15).

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::Bundle;
use serde_json::json;

/// Polls `f` until it holds, for at most `secs`.
fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Waits for a child for at most `secs`; kills it (and says so) past that.
fn wait_child(child: &mut std::process::Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A host directory of the bundle's, bound read-write at /out in the
/// container.
fn out_dir(b: &mut Bundle) -> PathBuf {
    let dir = b.dir.join("out");
    std::fs::create_dir_all(&dir).unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/out", "type": "bind", "source": dir, "options": ["rbind", "rw"]}),
    );
    dir
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---- item 3: ids outside 0..2147483647 ----

/// setresuid(-1) changes nothing: a uid of 4294967295 ran the process as
/// root. Every id outside 0..2147483647 is refused, naming its field, by
/// create and by exec.
#[test]
fn out_of_range_ids_never_run_as_root() {
    let cases: [(&str, serde_json::Value, &str); 5] = [
        (
            "uid",
            json!({"uid": 4294967295u32, "gid": 1000}),
            "process.user.uid: 4294967295",
        ),
        (
            "gid",
            json!({"uid": 1000, "gid": 4294967295u32}),
            "process.user.gid: 4294967295",
        ),
        (
            "uid2",
            json!({"uid": 2147483648u32, "gid": 1000}),
            "process.user.uid: 2147483648",
        ),
        (
            "both",
            json!({"uid": 4294967295u32, "gid": 4294967295u32}),
            "process.user.uid: 4294967295",
        ),
        (
            "groups",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [4294967295u32]}),
            "process.user.additionalGids[0]: 4294967295",
        ),
    ];
    for (name, user, want) in cases {
        let mut b = Bundle::new(&format!("ids-{name}"), &["sh", "-c", "id -u; id -g"]);
        b.config["process"]["user"] = user;
        let (code, out, err) = b.run();
        assert!(
            code != 0 && !out.lines().any(|l| l == "0"),
            "{name}: ran ({code}) as {out:?}"
        );
        assert!(err.contains(want), "{name}: {err}");
    }
    // exec: --user and a --process file.
    let b = Bundle::new("ids-exec", &["sleep", "1000"]);
    b.ok(&["create", &b.id]);
    b.ok(&["start", &b.id]);
    let out = b.berth(&["exec", "--user", "4294967295:4294967295", &b.id, "id", "-u"]);
    assert!(
        !out.status.success() && !String::from_utf8_lossy(&out.stdout).contains('0'),
        "exec --user ran: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr(&out).contains("process.user.uid: 4294967295"),
        "{}",
        stderr(&out)
    );
    let process = b.dir.join("process.json");
    std::fs::write(
        &process,
        json!({"args": ["id", "-u"], "cwd": "/", "user": {"uid": 1000, "gid": 4294967295u32}})
            .to_string(),
    )
    .unwrap();
    let out = b.berth(&["exec", "--process", process.to_str().unwrap(), &b.id]);
    assert!(!out.status.success(), "exec --process ran");
    assert!(
        stderr(&out).contains("process.user.gid: 4294967295"),
        "{}",
        stderr(&out)
    );
}

// ---- item 5: files at caller-named paths ----

const SECRET: &str = "host secret\n";

/// A "host" file the attacker wants overwritten, and its content check.
fn host_file(b: &Bundle) -> PathBuf {
    let f = b.dir.join("host-file");
    std::fs::write(&f, SECRET).unwrap();
    f
}

fn untouched(f: &Path) {
    assert_eq!(
        std::fs::read_to_string(f).unwrap(),
        SECRET,
        "{} was written through a planted symlink",
        f.display()
    );
}

/// The pid file's temporary name was fixed (.NAME.berth-tmp) and opened
/// following symlinks: a symlink planted there made root overwrite its
/// target. Planted at the old name, at the pid file's own name, and
/// planted again by a racer at every dot-file that appears beside it,
/// during creates and execs: the target is never written.
#[test]
fn pid_file_never_follows_a_planted_symlink() {
    let b = Bundle::new("pidfile-symlink", &["sleep", "1000"]);
    let target = host_file(&b);
    let pids = b.dir.join("pids");
    std::fs::create_dir(&pids).unwrap();
    symlink(&target, pids.join(".init.pid.berth-tmp")).unwrap();
    symlink(&target, pids.join(".exec.pid.berth-tmp")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (stop, pids, target) = (stop.clone(), pids.clone(), target.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(Ordering::Relaxed) {
                for e in std::fs::read_dir(&pids).into_iter().flatten().flatten() {
                    let name = e.file_name();
                    if !name.to_string_lossy().starts_with('.')
                        || e.file_type().is_ok_and(|t| t.is_symlink())
                    {
                        continue;
                    }
                    let link = pids.join(format!("link-{swaps}"));
                    if symlink(&target, &link).is_ok() && std::fs::rename(&link, e.path()).is_ok() {
                        swaps += 1;
                    }
                    let _ = std::fs::remove_file(&link);
                }
            }
            swaps
        })
    };
    let mut bad = Vec::new();
    for i in 0..8 {
        let pid_file = pids.join("init.pid");
        let out = b.berth(&["create", "--pid-file", pid_file.to_str().unwrap(), &b.id]);
        if std::fs::read_to_string(&target).unwrap() != SECRET {
            bad.push(format!("create {i}"));
            std::fs::write(&target, SECRET).unwrap();
        }
        if out.status.success() {
            let exec_pid = pids.join("exec.pid");
            b.berth(&[
                "exec",
                "-d",
                "--pid-file",
                exec_pid.to_str().unwrap(),
                &b.id,
                "true",
            ]);
            if std::fs::read_to_string(&target).unwrap() != SECRET {
                bad.push(format!("exec {i}"));
                std::fs::write(&target, SECRET).unwrap();
            }
        }
        b.ok(&["delete", "-f", &b.id]);
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    assert!(
        bad.is_empty(),
        "root wrote the target in {bad:?} ({swaps} swaps)"
    );
    // Without a racer the pid file is written, in place of a planted link.
    for e in std::fs::read_dir(&pids).unwrap().flatten() {
        std::fs::remove_file(e.path()).unwrap();
    }
    let pid_file = pids.join("init.pid");
    symlink(&target, &pid_file).unwrap();
    symlink(&target, pids.join(".init.pid.berth-tmp")).unwrap();
    b.ok(&["create", "--pid-file", pid_file.to_str().unwrap(), &b.id]);
    untouched(&target);
    assert!(!pid_file.is_symlink(), "the pid file is still the link");
    let pid = b.state()["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pid_file).unwrap(), pid.to_string());
}

/// `--log` was opened following symlinks and appended to: a planted
/// log.json made root append to its target. The link is refused.
#[test]
fn log_file_never_follows_a_planted_symlink() {
    let b = Bundle::new("log-symlink", &["true"]);
    let target = host_file(&b);
    let log = b.dir.join("log.json");
    symlink(&target, &log).unwrap();
    let out = b.berth(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ]);
    assert!(!out.status.success());
    untouched(&target);
    assert!(stderr(&out).contains("--log"), "{}", stderr(&out));
    // A dangling link would create its target.
    std::fs::remove_file(&log).unwrap();
    let made = b.dir.join("made-by-root");
    symlink(&made, &log).unwrap();
    b.berth(&["--log", log.to_str().unwrap(), "state", "no-such-container"]);
    assert!(!made.exists(), "the log's dangling link was followed");
    // The log still works, and is still appended to.
    std::fs::remove_file(&log).unwrap();
    for _ in 0..2 {
        b.berth(&["--log", log.to_str().unwrap(), "state", "no-such-container"]);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("no-such-container").count(), 2, "{text}");
}

/// `spec` checked that config.json did not exist, then wrote it following
/// symlinks: a dangling link made root create its target.
#[test]
fn spec_never_follows_a_planted_symlink() {
    let b = Bundle::new("spec-symlink", &["true"]);
    let target = host_file(&b);
    let made = b.dir.join("made-by-root");
    for (name, to) in [("dangling", &made), ("existing", &target)] {
        let dir = b.dir.join(name);
        std::fs::create_dir(&dir).unwrap();
        symlink(to, dir.join("config.json")).unwrap();
        let out = b.berth(&["spec", "-b", dir.to_str().unwrap()]);
        assert!(!out.status.success(), "{name}: spec wrote through the link");
    }
    assert!(!made.exists(), "spec created the link's target");
    untouched(&target);
}

// ---- item 8: real-time signals ----

/// A container whose init traps `signals` (writing each number it gets to
/// /out/got) and then says it is ready.
fn trapping(name: &str, signals: &[i32]) -> (Bundle, PathBuf) {
    let mut script = String::new();
    for s in signals {
        script += &format!("trap 'echo {s} >> /out/got' {s}; ");
    }
    script += "trap 'exit 7' 37; touch /out/ready; while :; do sleep 0.05; done";
    let mut b = Bundle::new(name, &["sh", "-c", &script]);
    let out = out_dir(&mut b);
    (b, out)
}

/// `kill ID 34..64` and the RTMIN/RTMAX names were refused, though systemd
/// stops with SIGRTMIN+3 and engines pass numbers.
#[test]
fn kill_sends_realtime_signals() {
    let (b, out) = trapping("kill-rt", &[34, 35, 36, 38, 62, 63, 64]);
    b.ok(&["create", &b.id]);
    b.ok(&["start", &b.id]);
    assert!(wait_until(10, || out.join("ready").exists()), "never ready");
    let got = || std::fs::read_to_string(out.join("got")).unwrap_or_default();
    for (given, n) in [
        ("34", 34),
        ("RTMIN+1", 35),
        ("SIGRTMIN+2", 36),
        ("sigrtmin+4", 38),
        ("RTMAX-2", 62),
        ("SIGRTMAX-1", 63),
        ("SIGRTMAX", 64),
    ] {
        let before = got().lines().count();
        let o = b.berth(&["kill", &b.id, given]);
        assert!(o.status.success(), "kill {given}: {}", stderr(&o));
        assert!(
            wait_until(10, || got().lines().count() > before),
            "kill {given}: nothing arrived"
        );
        assert_eq!(
            got().lines().last(),
            Some(n.to_string().as_str()),
            "{given}"
        );
    }
    for bad in ["65", "0", "RTMIN+31", "RTMAX-31", "RTMIN+x", "RTMIN-1"] {
        let o = b.berth(&["kill", &b.id, bad]);
        assert!(!o.status.success(), "kill {bad} was accepted");
        assert!(stderr(&o).contains(bad), "{}", stderr(&o));
    }
    b.ok(&["kill", &b.id, "KILL"]);
}

/// Signals a foreground berth (run, or exec) must forward: before, an RT
/// signal made berth fail ("signal number"), leaving the container's
/// process running unsupervised. 34 (SIGRTMIN) and 64 (SIGRTMAX) first,
/// which the process records in `got`, then 37, on which it exits 7.
fn forwards_rt(child: &mut std::process::Child, out: &Path) {
    assert!(wait_until(10, || out.join("ready").exists()), "never ready");
    let got = || std::fs::read_to_string(out.join("got")).unwrap_or_default();
    for (n, want) in [(34, "34\n"), (64, "34\n64\n")] {
        // SAFETY: a plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, n) }, 0);
        let arrived = wait_until(10, || got() == want);
        if !arrived {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert!(arrived, "signal {n} not forwarded: got {:?}", got());
    }
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(child.id() as i32, 37) }, 0);
    let st = wait_child(child, 10).expect("berth did not return");
    assert_eq!(
        st.code(),
        Some(7),
        "berth returned {st:?}, not the trap's 7"
    );
}

#[test]
fn run_forwards_realtime_signals() {
    let (b, out) = trapping("run-rt", &[34, 64]);
    b.write_config();
    let mut child = b.spawn("run", &["run", "-b", b.dir.to_str().unwrap(), &b.id]);
    forwards_rt(&mut child, &out);
}

#[test]
fn exec_forwards_realtime_signals() {
    let mut b = Bundle::new("exec-rt", &["sleep", "1000"]);
    let out = out_dir(&mut b);
    b.ok(&["create", &b.id]);
    b.ok(&["start", &b.id]);
    let mut child = b.spawn(
        "exec",
        &[
            "exec",
            &b.id,
            "sh",
            "-c",
            "trap 'echo 34 >> /out/got' 34; trap 'echo 64 >> /out/got' 64; \
             trap 'exit 7' 37; touch /out/ready; while :; do sleep 0.05; done",
        ],
    );
    forwards_rt(&mut child, &out);
}

// ---- item 9: hooks ----

fn add_hook(b: &mut Bundle, script: &str, timeout: i64) {
    b.config["hooks"] = json!({"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": timeout}
    ]});
}

/// Whether the process whose pid a hook wrote to `pid_file` still runs
/// (a zombie does not: it waits for a reaper); it is killed either way.
fn leftover_running(pid_file: &Path) -> bool {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return false;
    };
    let running = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    });
    // SAFETY: kill(2) of a process the test's hook started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    running
}

/// The timeout was cut to u16 milliseconds: a hook that needs 66 s of its
/// 100 was killed at 65.5 s.
#[test]
fn hook_timeouts_above_65s_hold() {
    let mut b = Bundle::new("hook-long", &["true"]);
    add_hook(&mut b, "sleep 66", 100);
    let start = Instant::now();
    let (code, _, err) = b.run();
    assert_eq!(code, 0, "after {:?}: {err}", start.elapsed());
}

/// A hook that never reads its stdin, with a state larger than a pipe
/// holds: berth blocked writing it, past the timeout, for as long as the
/// hook lived.
#[test]
fn hook_that_does_not_read_is_stopped_at_its_timeout() {
    let mut b = Bundle::new("hook-noread", &["true"]);
    let pid_file = b.dir.join("hook.pid");
    add_hook(
        &mut b,
        &format!("echo $$ > {}; exec sleep 1000", pid_file.display()),
        1,
    );
    b.config["annotations"] = json!({"big": "x".repeat(1 << 20)});
    b.write_config();
    let mut child = b.spawn("run", &["run", "-b", b.dir.to_str().unwrap(), &b.id]);
    let status = wait_child(&mut child, 15);
    let alive = leftover_running(&pid_file);
    let st = status.expect("berth still blocked 15 s into a 1 s hook timeout");
    assert!(!st.success());
    assert!(!alive, "the hook outlived its timeout");
    let err = std::fs::read_to_string(b.dir.join("run.err")).unwrap();
    assert!(
        err.contains("hooks.createRuntime[0]") && err.contains("timed out"),
        "{err}"
    );
}

/// Only the hook itself was killed at its timeout: what it started lived
/// on. The hook's process group goes.
#[test]
fn timed_out_hook_leaves_no_children() {
    let mut b = Bundle::new("hook-children", &["true"]);
    let pid_file = b.dir.join("child.pid");
    add_hook(
        &mut b,
        &format!("sleep 1000 & echo $! > {}; wait", pid_file.display()),
        1,
    );
    let (code, _, err) = b.run();
    assert_ne!(code, 0);
    assert!(err.contains("timed out"), "{err}");
    // Killed by the time berth returns (a zombie at worst, to be reaped).
    assert!(
        !leftover_running(&pid_file),
        "the hook's child outlived its timeout"
    );
}

// ---- item 15: setup failures name their field ----

/// Each of these failed as "the init process exited during setup" or was
/// silently dropped: each is refused, in one line naming the field.
#[test]
fn setup_failures_name_their_field() {
    type Patch = fn(&mut serde_json::Value);
    let cases: [(&str, Patch, &str); 8] = [
        (
            "gids",
            |c| c["process"]["user"]["additionalGids"] = json!((0..70000).collect::<Vec<u32>>()),
            "process.user.additionalGids: 70000",
        ),
        (
            "env",
            |c| c["process"]["env"] = json!(["PATH=/bin", "FOO=a\0b"]),
            "process.env[1]",
        ),
        (
            "args",
            |c| c["process"]["args"] = json!(["sh", "-c", "true\0x"]),
            "process.args[2]",
        ),
        (
            "cgroups",
            |c| c["linux"]["cgroupsPath"] = json!("/berth-tests/a\0b"),
            "linux.cgroupsPath",
        ),
        ("hostname", |c| c["hostname"] = json!("a\0b"), "hostname"),
        (
            "cwd",
            |c| c["process"]["cwd"] = json!("/tm\0p"),
            "process.cwd",
        ),
        (
            "mount",
            |c| {
                c["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/mn\0t", "type": "tmpfs", "source": "tmpfs"}))
            },
            "mounts[",
        ),
        (
            "sysctl",
            |c| c["linux"]["sysctl"] = json!({"kernel.domainname": "a\0b"}),
            "linux.sysctl.kernel.domainname",
        ),
    ];
    for (name, patch, want) in cases {
        let mut b = Bundle::new(&format!("field-{name}"), &["true"]);
        patch(&mut b.config);
        let (code, out, err) = b.run();
        assert_ne!(code, 0, "{name}: ran: {out}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(err.contains("NUL") || name == "gids", "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
    }
}

/// A memory limit too low for the init to start: it was OOM-killed while
/// being set up, reported as "the init process exited during setup", or
/// refused by v1 as "linux.resources: unable to set memory limit...". On a
/// host without a memory controller berth says that instead, naming the
/// field too.
#[test]
fn memory_limit_too_low_names_its_field() {
    let mut b = Bundle::new("field-memory", &["true"]);
    b.config["linux"]["resources"] = json!({"memory": {"limit": 4096}});
    let (code, _, err) = b.run();
    assert_ne!(code, 0);
    let v1 = Path::new("/sys/fs/cgroup/memory").is_dir();
    let v2 = std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers")
        .or_else(|_| std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|n| n == "memory"));
    if v1 || v2 {
        // Refused by the kernel (v1, the init already in the cgroup using
        // more), or taken and then fatal to the init (the OOM killer).
        assert!(
            err.contains("linux.resources.memory.limit: 4096: "),
            "{err}"
        );
    } else {
        assert!(
            err.contains("linux.resources") && err.contains("memory"),
            "{err}"
        );
    }
    assert!(!err.contains("exited during setup"), "{err}");
}
