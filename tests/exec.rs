//! `exec`: a new process joins a running container's namespaces and
//! cgroup, with the process attributes the flags give.

mod common;

use std::time::{Duration, Instant};

use common::Bundle;

fn running(name: &str) -> Bundle {
    let b = Bundle::new(name, &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    b
}

fn exec(b: &Bundle, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    let out = b.berth(&all);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn joins_the_containers_namespaces_and_cgroup() {
    let b = running("exec-ns");
    let init = b.state()["pid"].as_i64().unwrap();
    let (code, out, err) = exec(
        &b,
        &[
            &b.id,
            "sh",
            "-c",
            "echo $$; hostname; for n in pid net mnt uts ipc cgroup; do readlink /proc/self/ns/$n; done; cat /proc/self/cgroup | grep memory; ls /proc/1/exe >/dev/null && echo SEES1",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_ne!(lines[0], "1");
    assert_eq!(lines[1], "berth");
    for (i, ns) in ["pid", "net", "mnt", "uts", "ipc", "cgroup"]
        .iter()
        .enumerate()
    {
        let want = std::fs::read_link(format!("/proc/{init}/ns/{ns}")).unwrap();
        assert_eq!(lines[2 + i], want.to_string_lossy(), "{ns}");
    }
    assert!(
        lines[8].ends_with(":memory:/"),
        "in the container's cgroup (namespace root): {out}"
    );
    assert_eq!(lines[9], "SEES1");
}

#[test]
fn exit_status_env_user_cwd_and_caps() {
    let b = running("exec-attrs");
    assert_eq!(exec(&b, &[&b.id, "sh", "-c", "exit 5"]).0, 5);
    let (code, out, err) = exec(
        &b,
        &[
            "-e",
            "FOO=bar",
            "-u",
            "1000:1001",
            "-g",
            "10",
            "--cwd",
            "/tmp",
            "--no-new-privs",
            &b.id,
            "sh",
            "-c",
            "echo $FOO; id -u; id -g; pwd; grep -E 'Groups|NoNewPrivs' /proc/self/status",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..4], ["bar", "1000", "1001", "/tmp"]);
    assert!(lines[4].starts_with("Groups:\t10"), "{out}");
    assert!(lines[5].ends_with('1'), "{out}");
    let (code, out, _) = exec(
        &b,
        &[
            "--cap",
            "CAP_SYS_ADMIN",
            &b.id,
            "grep",
            "CapEff",
            "/proc/self/status",
        ],
    );
    assert_eq!(code, 0);
    assert!(
        out.trim().ends_with("0000000020200420"),
        "CAP_SYS_ADMIN added: {out}"
    );
}

#[test]
fn detached_exec_writes_its_pid_file() {
    let b = running("exec-detach");
    let pidfile = b.dir.join("exec.pid");
    let (code, _, err) = exec(
        &b,
        &[
            "-d",
            "--pid-file",
            pidfile.to_str().unwrap(),
            &b.id,
            "sleep",
            "1000",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("busybox"), "{exe:?}");
    // delete -f takes the exec'd process with the container.
    b.ok(&["delete", "-f", &b.id]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            Instant::now() < deadline,
            "exec'd process survived delete -f"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn exec_with_a_tty() {
    let b = running("exec-tty");
    let cmd = format!(
        "{} --root {} exec -t {} sh -c 'tty; exit 3'",
        common::BERTH,
        b.root.display(),
        b.id
    );
    let out = std::process::Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("/dev/pts/"), "{text}");
}

#[test]
fn exec_errors() {
    let b = running("exec-errors");
    let (code, _, err) = exec(&b, &[&b.id, "no-such-program"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("process.args[0]: \"no-such-program\": executable file not found"),
        "{err}"
    );
    let (code, _, err) = exec(&b, &["-u", "root", &b.id, "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--user root: \"root\" is not a numeric id"),
        "{err}"
    );
    b.ok(&["kill", &b.id, "KILL"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while b.state()["status"] != "stopped" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, _, err) = exec(&b, &[&b.id, "true"]);
    assert_eq!(code, 1);
    assert!(err.contains("it is stopped"), "{err}");
}

/// --apparmor and --process-label set the process's labels: on this
/// machine, without either LSM, they are refused naming the field.
#[test]
fn exec_lsm_flags_set_the_process_labels() {
    let b = running("exec-lsm");
    let apparmor = common::host::apparmor();
    let selinux = common::host::selinux();
    for (flag, value, enabled, want) in [
        (
            "--apparmor",
            "berth-test",
            apparmor,
            "process.apparmorProfile: is set, but AppArmor is not enabled on this host",
        ),
        (
            "--process-label",
            "system_u:system_r:container_t:s0",
            selinux,
            "process.selinuxLabel: is set, but SELinux is not enabled on this host",
        ),
    ] {
        if enabled {
            common::skip(
                &format!("exec::exec_lsm_flags_set_the_process_labels ({flag})"),
                "needs a host without this LSM: it is enabled here, so the label is valid",
            );
            continue;
        }
        let (code, _, err) = exec(&b, &[flag, value, &b.id, "true"]);
        assert_eq!(code, 1);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(want), "{err}");
    }
}

/// A paused (frozen) container refuses exec unless --ignore-paused; then
/// the process runs once the container thaws.
#[test]
fn exec_into_a_paused_container() {
    let b = running("exec-paused");
    b.set_frozen(true);
    let (code, _, err) = exec(&b, &[&b.id, "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("it is paused (--ignore-paused execs anyway)"),
        "{err}"
    );
    b.write_config();
    let waiting = std::process::Command::new(common::BERTH)
        .arg("--root")
        .arg(&b.root)
        .args(["exec", "--ignore-paused", &b.id, "echo", "thawed"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    b.set_frozen(false);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "thawed\n");
}

/// HOME from the container's passwd when the env lacks it; a missing cwd
/// is an error naming it (exec makes no directory); the process leads a
/// session and process group of its own inside the container.
#[test]
fn exec_home_cwd_and_session() {
    let mut b = Bundle::new("exec-home", &["sleep", "1000"]);
    b.config["process"]["env"] = serde_json::json!(["PATH=/bin:/usr/bin"]);
    b.ok(&["run", "-d", &b.id]);
    let (code, out, err) = exec(&b, &["-u", "65534", &b.id, "sh", "-c", "echo $HOME"]);
    assert_eq!((code, out.trim()), (0, "/home"), "{err}");
    let (code, out, err) = exec(&b, &["-e", "HOME=/x", &b.id, "sh", "-c", "echo $HOME"]);
    assert_eq!((code, out.trim()), (0, "/x"), "{err}");
    let (code, _, err) = exec(&b, &["--cwd", "/no/such/dir", &b.id, "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("process.cwd: chdir /no/such/dir: No such file or directory"),
        "{err}"
    );
    let (code, out, _) = exec(&b, &[&b.id, "ls", "/no"]);
    assert_ne!(code, 0, "exec made the cwd: {out}");
    let (code, out, err) = exec(
        &b,
        &[&b.id, "sh", "-c", "echo $$; cut -d' ' -f5,6 /proc/$$/stat"],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1], format!("{0} {0}", lines[0]), "{out}");
}

/// The pid a pidfd names, from its fdinfo.
fn pidfd_pid(fd: &std::os::fd::OwnedFd) -> i64 {
    use std::os::fd::AsRawFd;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("not a pidfd: {info}"))
}

/// `--pidfd-socket PATH`: a pidfd of the init (create, run) or of the
/// exec'd process arrives on the socket by SCM_RIGHTS.
#[test]
fn pidfd_socket_gets_the_process() {
    let b = Bundle::new("pidfd", &["sleep", "1000"]);
    let path = b.dir.join("pidfd.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let sock = path.to_str().unwrap();
    let accept = std::thread::spawn(move || {
        let mut got = Vec::new();
        for _ in 0..2 {
            let (s, _) = listener.accept().unwrap();
            got.push(common::recv_fd(&s).1);
        }
        got
    });
    b.ok(&["create", "--pidfd-socket", sock, &b.id]);
    b.ok(&["start", &b.id]);
    let pidfile = b.dir.join("exec.pid");
    let (code, _, err) = exec(
        &b,
        &[
            "-d",
            "--pid-file",
            pidfile.to_str().unwrap(),
            "--pidfd-socket",
            sock,
            &b.id,
            "sleep",
            "1000",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let fds = accept.join().unwrap();
    assert_eq!(pidfd_pid(&fds[0]), b.state()["pid"].as_i64().unwrap());
    let exec_pid: i64 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    assert_eq!(pidfd_pid(&fds[1]), exec_pid);
    let (code, _, err) = exec(&b, &["--pidfd-socket", "/nonexistent.sock", &b.id, "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("connect to --pidfd-socket /nonexistent.sock"),
        "{err}"
    );
}

/// `exec --cgroup SUBPATH` puts the process in that sub-cgroup of the
/// container's in every hierarchy; `CONTROLLER:SUBPATH` (v1) in that
/// controller's only; `..` and a missing sub-cgroup are refused.
#[test]
fn exec_into_a_sub_cgroup() {
    let b = running("exec-cgroup");
    for d in b.cgroup_dirs() {
        std::fs::create_dir(d.join("sub")).unwrap();
        // A v1 cpuset cgroup takes no task before it has CPUs and nodes.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(f)) {
                std::fs::write(d.join("sub").join(f), v.trim()).unwrap();
            }
        }
    }
    let line = |out: &str, controller: &str| {
        out.lines()
            .find(|l| {
                l.split(':').nth(1).is_some_and(|c| {
                    c.split(',').any(|c| c == controller) || (controller.is_empty() && c.is_empty())
                })
            })
            .unwrap_or_else(|| panic!("no {controller} line in {out}"))
            .rsplit(':')
            .next()
            .unwrap()
            .to_string()
    };
    let (code, out, err) = exec(&b, &["--cgroup", "sub", &b.id, "cat", "/proc/self/cgroup"]);
    assert_eq!(code, 0, "{err}");
    if common::host::unified() {
        assert_eq!(line(&out, ""), "/sub", "{out}");
        let (code, _, err) = exec(&b, &["--cgroup", "memory:sub", &b.id, "true"]);
        assert_eq!(code, 1);
        assert!(err.contains("give SUBPATH alone"), "{err}");
    } else {
        assert_eq!(line(&out, "memory"), "/sub", "{out}");
        assert_eq!(line(&out, "pids"), "/sub", "{out}");
        let (code, out, err) = exec(
            &b,
            &["--cgroup", "memory:sub", &b.id, "cat", "/proc/self/cgroup"],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(line(&out, "memory"), "/sub", "{out}");
        assert_eq!(line(&out, "pids"), "/", "{out}");
    }
    for bad in ["../x", "nosuch"] {
        let (code, _, err) = exec(&b, &["--cgroup", bad, &b.id, "true"]);
        assert_eq!(code, 1, "{bad}");
        assert!(err.contains(&format!("--cgroup {bad}: ")), "{err}");
    }
    b.ok(&["delete", "-f", &b.id]);
}
