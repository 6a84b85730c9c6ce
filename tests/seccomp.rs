//! linux.seccomp, enforced on the container's process.

mod common;

use std::os::unix::net::UnixListener;

use common::Bundle;
use serde_json::{Value, json};

fn with_profile(name: &str, script: &str, profile: Value) -> Bundle {
    let mut b = Bundle::new(name, &["sh", "-c", script]);
    b.config["linux"]["seccomp"] = profile;
    b
}

#[test]
fn errno_argument_and_kill_rules() {
    let b = with_profile(
        "seccomp-rules",
        "mkdir /dev/shm/d 2>&1; touch /dev/shm/f; chmod 755 /dev/shm/f && echo CHMOD755; chmod 777 /dev/shm/f 2>/dev/null || echo CHMOD777-DENIED; exec hostname newname",
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
                {"names": ["fchmodat"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 2, "value": 0o777, "op": "SCMP_CMP_EQ"}]},
                {"names": ["sethostname"], "action": "SCMP_ACT_KILL_PROCESS"},
                {"names": ["no_such_syscall_here"], "action": "SCMP_ACT_ERRNO"}
            ]
        }),
    );
    let (code, out, err) = b.run();
    assert!(
        out.contains("Function not implemented"),
        "errnoRet 38 (ENOSYS): {out}{err}"
    );
    assert!(out.contains("CHMOD755\nCHMOD777-DENIED"), "{out}");
    assert!(!out.contains("hostname:"), "sethostname ran: {out}");
    assert_eq!(code, 128 + 31, "killed by SIGSYS: {out}{err}");
}

#[test]
fn profile_errors_name_the_field() {
    for (profile, want) in [
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}),
            "linux.seccomp.architectures[0]",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_BOGUS"}),
            "linux.seccomp.defaultAction: unknown variant `SCMP_ACT_BOGUS`",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
            "linux.seccomp.flags[0]: unknown variant",
        ),
        (
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}),
            "linux.seccomp.listenerPath: SCMP_ACT_NOTIFY needs a listener",
        ),
    ] {
        let b = with_profile("seccomp-bad", "true", profile);
        let out = b.berth(&["create", &b.id]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "wanted {want:?} in {err}");
        assert!(!b.root.join(&b.id).exists());
    }
}

/// struct seccomp_notif and seccomp_notif_resp (linux/seccomp.h).
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

#[test]
fn notify_hands_the_fd_and_state_to_the_listener() {
    if !common::host::seccomp_action("user_notif") {
        common::skip(
            "seccomp::notify_hands_the_fd_and_state_to_the_listener",
            "needs seccomp user notification (Linux 5.0, user_notif in /proc/sys/kernel/seccomp/actions_avail): this kernel lacks it",
        );
        return;
    }
    let mut b = with_profile(
        "seccomp-notify",
        "mkdir /dev/shm/x 2>&1; echo status=$?",
        json!(null),
    );
    let sock = b.dir.join("listener.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "hello-listener",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let handler = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (msg, fd) = common::recv_fd(&conn);
        let state: Value = serde_json::from_slice(&msg).unwrap();
        // Answer one notification: the mkdir fails with EACCES.
        let mut req = Notif::default();
        const RECV: libc::c_ulong = 0xc050_2100;
        const SEND: libc::c_ulong = 0xc018_2101;
        // SAFETY: the ioctls read/write structs of the kernel's layout.
        unsafe {
            assert_eq!(
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(&fd),
                    RECV,
                    &mut req as *mut Notif
                ),
                0
            );
            let resp = NotifResp {
                id: req.id,
                val: 0,
                error: -libc::EACCES,
                flags: 0,
            };
            assert_eq!(
                libc::ioctl(
                    std::os::fd::AsRawFd::as_raw_fd(&fd),
                    SEND,
                    &resp as *const NotifResp
                ),
                0
            );
        }
        state
    });
    let (code, out, err) = b.run();
    let state = handler.join().unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Permission denied") && out.contains("status=1"),
        "{out}"
    );
    assert_eq!(state["fds"], json!(["seccompFd"]));
    assert_eq!(state["metadata"], "hello-listener");
    assert_eq!(state["state"]["id"], b.id.as_str());
    assert!(state["pid"].as_i64().unwrap() > 0);
}

/// Without no_new_privs the filter goes on before the user switch; what
/// berth itself does after that must not depend on what the profile allows.
#[test]
fn early_filter_does_not_break_setup() {
    let mut b = with_profile(
        "seccomp-early",
        "echo ran",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["close_range", "capset", "setresuid", "setgroups"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    b.config["process"]["noNewPrivileges"] = json!(false);
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let (code, out, err) = b.run();
    assert_eq!(
        code, 1,
        "the profile refuses the user switch, as it would for runc: {out}{err}"
    );
    assert!(
        err.contains("setresuid") || err.contains("setgroups"),
        "{err}"
    );
    let mut b = with_profile(
        "seccomp-early2",
        "echo ran",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    b.config["process"]["noNewPrivileges"] = json!(false);
    let (code, out, err) = b.run();
    assert_eq!((code, out.as_str()), (0, "ran\n"), "{err}");
}

/// Converts a docker/podman seccomp profile (archMap, includes/excludes)
/// into the linux.seccomp section those engines generate, for amd64 and the
/// given capabilities.
fn engine_profile(profile: &Value, caps: &[&str]) -> Value {
    let has = |c: &Value| c.as_str().is_some_and(|c| caps.contains(&c));
    let arch_ok = |a: &Value| {
        a.as_array()
            .is_none_or(|l| l.is_empty() || l.iter().any(|x| x == "amd64"))
    };
    let arch_excluded = |a: &Value| a.as_array().is_some_and(|l| l.iter().any(|x| x == "amd64"));
    let mut syscalls = Vec::new();
    for s in profile["syscalls"].as_array().unwrap() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        let caps_ok = inc["caps"].as_array().is_none_or(|l| l.iter().all(has));
        let caps_excluded = exc["caps"].as_array().is_some_and(|l| l.iter().any(has));
        if caps_ok && arch_ok(&inc["arches"]) && !caps_excluded && !arch_excluded(&exc["arches"]) {
            let mut rule = json!({"names": s["names"], "action": s["action"]});
            if let Some(args) = s["args"].as_array().filter(|a| !a.is_empty()) {
                rule["args"] = json!(args);
            }
            if !s["errnoRet"].is_null() {
                rule["errnoRet"] = s["errnoRet"].clone();
            }
            syscalls.push(rule);
        }
    }
    let x86 = profile["archMap"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["architecture"] == "SCMP_ARCH_X86_64")
        .unwrap();
    let mut arches = vec![x86["architecture"].clone()];
    arches.extend(x86["subArchitectures"].as_array().unwrap().iter().cloned());
    json!({
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile["defaultErrnoRet"],
        "architectures": arches,
        "syscalls": syscalls,
    })
}

/// Runs a busybox workload under an engine's default profile (converted as
/// the engine does) and checks the filter is in place; without a profile,
/// the same workload runs unfiltered.
fn engine_default_profile(engine: &str, file: &str, caps: &[&str]) {
    let path = format!("{}/hack/.cache/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path} (hack/deps.sh fetches it): {e}"));
    let profile: Value = serde_json::from_str(&text).unwrap();
    let script = "mkdir /dev/shm/a && echo x > /dev/shm/a/f && cat /dev/shm/a/f && ls / >/dev/null && echo WORKS; grep '^Seccomp:' /proc/self/status";
    for filtered in [true, false] {
        let name = format!("{engine}-profile-{filtered}");
        let mut b = Bundle::new(&name, &["sh", "-c", script]);
        let c = json!(caps);
        b.config["process"]["capabilities"] =
            json!({"bounding": c, "effective": c, "permitted": c});
        if filtered {
            b.config["linux"]["seccomp"] = engine_profile(&profile, caps);
        }
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "{engine}: {out}{err}");
        assert!(out.starts_with("x\nWORKS\n"), "{engine}: {out}{err}");
        let mode = if filtered {
            "Seccomp:\t2"
        } else {
            "Seccomp:\t0"
        };
        assert!(out.contains(mode), "{engine} filtered={filtered}: {out}");
    }
}

#[test]
fn podmans_default_profile() {
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ];
    engine_default_profile("podman", "containers-seccomp.json", &caps);
}

#[test]
fn dockers_default_profile() {
    let caps = [
        "CAP_AUDIT_WRITE",
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_MKNOD",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETFCAP",
        "CAP_SETGID",
        "CAP_SETPCAP",
        "CAP_SETUID",
        "CAP_SYS_CHROOT",
    ];
    engine_default_profile("docker", "docker-seccomp.json", &caps);
}
