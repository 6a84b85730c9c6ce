//! linux.resources on this host's cgroup v1 hierarchies: each value written
//! and read back from the host, enforced where the kernel can show it, and
//! update, pause/resume, ps and events. The same checks on cgroup v2 run in
//! a VM (tests/vm/cgroup-v2.sh, driven by hack/test).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Bundle;
use serde_json::{Value, json};

fn dir(b: &Bundle, controller: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join("berth-tests")
        .join(&b.id)
}

fn read(b: &Bundle, controller: &str, file: &str) -> String {
    let p = dir(b, controller).join(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

fn failure(b: &Bundle, args: &[&str]) -> String {
    let out = b.berth(args);
    assert!(!out.status.success(), "berth {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The tests here read limits back from cgroup v1 hierarchies; on a
/// unified host the same checks run in tests/vm/cgroup-v2.sh's VM, which
/// boots pure cgroup v2 whatever the host.
fn v1_or_skip(test: &str) -> bool {
    if common::host::unified() {
        common::skip(
            test,
            "needs cgroup v1 hierarchies: this host is cgroup v2 (tests/vm/cgroup-v2.sh covers it)",
        );
        return false;
    }
    true
}

/// berth's refusal of a value whose controller file this kernel lacks:
/// one line naming the field and the value, and why.
fn assert_lacks(err: &str, field: &str, value: &str) {
    let want = format!("linux.resources.{field}: {value}: this kernel has no");
    assert!(err.contains(&want), "wanted {want:?} in {err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// A setting only some kernel builds have a file for: the field (below
/// linux.resources), its value as the config and berth's error write it,
/// where it lands, and what reads back.
struct Optional {
    field: &'static str,
    value: Value,
    controller: &'static str,
    file: &'static str,
    want: &'static str,
}

/// Sets `field` (dotted, below linux.resources) to `value` in `res`.
fn set(res: &mut Value, field: &str, value: Value) {
    let mut v = res;
    for key in field.split('.') {
        if v.get(key).is_none() {
            v[key] = json!({});
        }
        v = &mut v[key];
    }
    *v = value;
}

/// The Docker literature's experiments and every other v1 value, read back
/// from the host: `-m 200M --memory-swap 300M`, `-c 512`, and the rest.
/// What depends on the kernel build (block I/O weight, swap accounting,
/// cpu burst and idle, real-time group scheduling, the kernel-memory
/// limit) is probed: with the file, the value reads back; without it,
/// berth refuses the value naming the field and the reason, and the rest
/// is checked without it.
#[test]
fn resources_are_written() {
    use common::host;
    if !v1_or_skip("cgroups::resources_are_written") {
        return;
    }
    let mut res = json!({
        "devices": [{"allow": false, "access": "rwm"}],
        "memory": {"limit": 209715200, "reservation": 104857600,
                   "swappiness": 30, "disableOOMKiller": true, "kernel": 50000000,
                   "useHierarchy": true},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
        "pids": {"limit": 77},
    });
    let optional = [
        Optional {
            field: "blockIO.weight",
            value: json!(300),
            controller: "blkio",
            // Neither file: the probe below finds no file of this name.
            file: host::blkio_weight_file().unwrap_or("blkio.weight or blkio.bfq.weight"),
            want: "300",
        },
        Optional {
            field: "memory.swap",
            value: json!(314572800),
            controller: "memory",
            file: "memory.memsw.limit_in_bytes",
            want: "314572800",
        },
        Optional {
            field: "cpu.burst",
            value: json!(10000),
            controller: "cpu",
            file: "cpu.cfs_burst_us",
            want: "10000",
        },
        Optional {
            field: "cpu.idle",
            value: json!(0),
            controller: "cpu",
            file: "cpu.idle",
            want: "0",
        },
        Optional {
            field: "cpu.realtimeRuntime",
            value: json!(0),
            controller: "cpu",
            file: "cpu.rt_runtime_us",
            want: "0",
        },
    ];
    let mut present = Vec::new();
    // What this host lacks, for the test's one skip line (hack/test counts
    // a line per skipped test).
    let mut lacking = Vec::new();
    for o in optional {
        if host::v1_file(o.controller, o.file) {
            set(&mut res, o.field, o.value.clone());
            present.push(o);
            continue;
        }
        // Alone (with the memory limit swap needs), so that the refusal
        // is this field's.
        let mut b = Bundle::new("cg-lacks", &["true"]);
        let mut alone = json!({"memory": {"limit": 209715200}});
        set(&mut alone, o.field, o.value.clone());
        b.config["linux"]["resources"] = alone;
        assert_lacks(&failure(&b, &["run", &b.id]), o.field, &o.value.to_string());
        lacking.push(format!("{} ({}, refused as checked)", o.file, o.field));
    }
    if present.iter().any(|o| o.field == "cpu.realtimeRuntime") {
        set(&mut res, "cpu.realtimePeriod", json!(1000000));
    }
    let disk = host::disk();
    if let Some((major, minor, _)) = &disk {
        let dev = |rate: u64| json!([{"major": major, "minor": minor, "rate": rate}]);
        res["blockIO"]["throttleReadBpsDevice"] = dev(41943040);
        res["blockIO"]["throttleWriteBpsDevice"] = dev(31457280);
        res["blockIO"]["throttleReadIOPSDevice"] = dev(1000);
        res["blockIO"]["throttleWriteIOPSDevice"] = dev(500);
    } else {
        lacking.push("the scratch directory on a block device (throttles unchecked)".into());
    }
    // The kernel-memory limit: written where the kernel still holds it
    // (before 6.x), else accepted with a warning.
    let kmem = host::v1_write_holds("memory", "memory.kmem.limit_in_bytes", "50000000");
    let mut b = Bundle::new("cg-write", &["sleep", "1000"]);
    b.config["linux"]["resources"] = res;
    let out = b.berth(&["run", "-d", &b.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    if kmem {
        assert!(!err.contains("memory.kernel"), "{err}");
        assert_eq!(read(&b, "memory", "memory.kmem.limit_in_bytes"), "50000000");
    } else {
        assert!(
            err.contains("linux.resources.memory.kernel: 50000000 ignored"),
            "{err}"
        );
    }
    for o in &present {
        assert_eq!(read(&b, o.controller, o.file), o.want, "{}", o.field);
    }
    if present.iter().any(|o| o.field == "cpu.realtimeRuntime") {
        assert_eq!(read(&b, "cpu", "cpu.rt_period_us"), "1000000");
    }
    assert_eq!(read(&b, "memory", "memory.limit_in_bytes"), "209715200");
    assert_eq!(
        read(&b, "memory", "memory.soft_limit_in_bytes"),
        "104857600"
    );
    assert_eq!(read(&b, "memory", "memory.swappiness"), "30");
    assert!(read(&b, "memory", "memory.oom_control").contains("oom_kill_disable 1"));
    assert_eq!(read(&b, "cpu", "cpu.shares"), "512");
    assert_eq!(read(&b, "cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(read(&b, "cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(read(&b, "memory", "memory.use_hierarchy"), "1");
    assert_eq!(read(&b, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(read(&b, "cpuset", "cpuset.mems"), "0");
    assert_eq!(read(&b, "pids", "pids.max"), "77");
    if let Some((major, minor, _)) = &disk {
        for (file, rate) in [
            ("blkio.throttle.read_bps_device", 41943040),
            ("blkio.throttle.write_bps_device", 31457280),
            ("blkio.throttle.read_iops_device", 1000),
            ("blkio.throttle.write_iops_device", 500),
        ] {
            assert_eq!(
                read(&b, "blkio", file),
                format!("{major}:{minor} {rate}"),
                "{file}"
            );
        }
    }
    // Deny everything, then the default devices: /dev/null and friends, the
    // pty devices, and mknod of any device.
    let devices = read(&b, "devices", "devices.list");
    assert!(devices.contains("c 1:3 rwm"), "{devices}");
    assert!(devices.contains("c 136:* rwm"), "{devices}");
    assert!(!devices.contains("a *:* rwm"), "{devices}");
    // The container's process is in every one of these cgroups.
    let pid = b.state()["pid"].as_i64().unwrap().to_string();
    for c in [
        "memory", "cpu", "cpuset", "pids", "blkio", "devices", "freezer",
    ] {
        assert!(read(&b, c, "cgroup.procs").lines().any(|l| l == pid), "{c}");
    }
    if !lacking.is_empty() {
        common::skip(
            "cgroups::resources_are_written",
            &format!("needs {}: this host lacks them", lacking.join(", ")),
        );
    }
}

/// Over its memory limit (no swap), a process is killed by the OOM killer,
/// and `events` reports it. Without swap accounting the swap limit cannot
/// be set; swappiness 0 keeps the cgroup's memory out of swap instead.
#[test]
fn memory_limit_is_enforced_and_oom_reported() {
    if !v1_or_skip("cgroups::memory_limit_is_enforced_and_oom_reported") {
        return;
    }
    let mut b = Bundle::new(
        "cg-oom",
        &[
            "sh",
            "-c",
            "sleep 0.5; dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000",
        ],
    );
    b.config["linux"]["resources"] =
        if common::host::v1_file("memory", "memory.memsw.limit_in_bytes") {
            json!({"memory": {"limit": 16777216, "swap": 16777216}})
        } else {
            json!({"memory": {"limit": 16777216, "swappiness": 0}})
        };
    b.ok(&["run", "-d", &b.id]);
    let events_out = b.dir.join("events.out");
    let mut events = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("--root")
        .arg(&b.root)
        .args(["events", "--interval", "200ms", &b.id])
        .stdout(std::fs::File::create(&events_out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("an oom event", || {
        std::fs::read_to_string(&events_out).is_ok_and(|t| t.contains("\"type\":\"oom\""))
    });
    let _ = events.kill();
    let _ = events.wait();
    let text = std::fs::read_to_string(&events_out).unwrap();
    let stats: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(stats["type"], "stats");
    assert_eq!(stats["id"], b.id.as_str());
    assert_eq!(stats["data"]["memory"]["usage"]["limit"], 16777216);
    assert!(read(&b, "memory", "memory.oom_control").contains("oom_kill 1"));
}

/// pids.limit stops forks past it.
#[test]
fn pids_limit_is_enforced() {
    if !v1_or_skip("cgroups::pids_limit_is_enforced") {
        return;
    }
    let mut b = Bundle::new(
        "cg-pids",
        &[
            "sh",
            "-c",
            "(for i in 1 2 3 4 5 6 7 8; do sleep 1 & done) 2>&1; wait; true",
        ],
    );
    b.config["linux"]["resources"] = json!({"pids": {"limit": 4}});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("can't fork"), "{out}{err}");
}

/// The write throttle, measured with dd inside the container as the Docker
/// literature does: 30 MB/s asked, between 18 and 36 MB/s seen, on the
/// disk under the scratch directory (the private rootfs is there).
#[test]
fn write_throttle_is_enforced() {
    if !v1_or_skip("cgroups::write_throttle_is_enforced") {
        return;
    }
    let Some((major, minor, _)) = common::host::disk() else {
        common::skip(
            "cgroups::write_throttle_is_enforced",
            "needs the test scratch directory on a block device: it is on none here",
        );
        return;
    };
    let mut b = Bundle::new(
        "cg-dd",
        &[
            "sh",
            "-c",
            "read a x </proc/uptime; dd if=/dev/zero of=/tmp/f bs=1M count=45 oflag=direct 2>&1; \
             read b x </proc/uptime; rm /tmp/f; echo elapsed $a $b",
        ],
    );
    b.private_rootfs();
    b.config["root"]["readonly"] = json!(false);
    b.config["linux"]["resources"] = json!({
        "blockIO": {"throttleWriteBpsDevice": [{"major": major, "minor": minor, "rate": 31457280}]}
    });
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{out}{err}");
    let rate = dd_rate(&out).unwrap_or_else(|| panic!("no rate in {out:?}"));
    assert!((18.0..=36.0).contains(&rate), "{rate} MB/s: {out}");
}

/// MB/s from the "elapsed START END" line (seconds of /proc/uptime) for the
/// 45 MiB written.
fn dd_rate(out: &str) -> Option<f64> {
    let line = out.lines().find_map(|l| l.strip_prefix("elapsed "))?;
    let mut t = line.split_whitespace().map(|v| v.parse::<f64>().ok());
    let (start, end) = (t.next()??, t.next()??);
    Some(45.0 * 1.048_576 / (end - start))
}

/// A device the config creates but the device cgroup denies cannot be
/// opened: the disk under the scratch directory, or the first loop device
/// where that is on none (the cgroup denies before the driver is asked).
#[test]
fn device_cgroup_is_enforced() {
    if !v1_or_skip("cgroups::device_cgroup_is_enforced") {
        return;
    }
    let (major, minor, _) = common::host::disk().unwrap_or((7, 0, "loop0".into()));
    let mut b = Bundle::new(
        "cg-dev",
        &["sh", "-c", "head -c 1 /dev/disk 2>&1; echo rc=$?"],
    );
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/disk", "type": "b", "major": major, "minor": minor, "fileMode": 0o600}
    ]);
    b.config["linux"]["resources"] = json!({"devices": [{"allow": false, "access": "rwm"}]});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Operation not permitted"), "{out}");
}

/// update writes each flag's file; what this kernel has no file for
/// (swap accounting, a block I/O weight) is refused naming the field, the
/// value and why, as at create.
#[test]
fn update_changes_limits_and_names_refusals() {
    use common::host;
    if !v1_or_skip("cgroups::update_changes_limits_and_names_refusals") {
        return;
    }
    let memsw = host::v1_file("memory", "memory.memsw.limit_in_bytes");
    let mut lacking = Vec::new();
    let mut b = Bundle::new("cg-update", &["sleep", "1000"]);
    b.config["linux"]["resources"] = if memsw {
        json!({"memory": {"limit": 104857600, "swap": 104857600}})
    } else {
        json!({"memory": {"limit": 104857600}})
    };
    b.ok(&["run", "-d", &b.id]);
    if memsw {
        b.ok(&["update", "--memory", "200M", "--memory-swap", "300M", &b.id]);
        assert_eq!(
            read(&b, "memory", "memory.memsw.limit_in_bytes"),
            "314572800"
        );
    } else {
        let err = failure(
            &b,
            &["update", "--memory", "200M", "--memory-swap", "300M", &b.id],
        );
        assert_lacks(&err, "memory.swap", "314572800");
        lacking.push("swap accounting (--memory-swap refused as checked)");
    }
    b.ok(&[
        "update",
        "--memory",
        "200M",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--pids-limit",
        "33",
        "--cpuset-cpus",
        "0",
        &b.id,
    ]);
    assert_eq!(read(&b, "memory", "memory.limit_in_bytes"), "209715200");
    assert_eq!(read(&b, "cpu", "cpu.shares"), "256");
    assert_eq!(read(&b, "cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(read(&b, "pids", "pids.max"), "33");
    // -r with a resources document, and a flag on top of it.
    let res = b.dir.join("res.json");
    std::fs::write(&res, r#"{"pids": {"limit": 44}, "cpu": {"shares": 300}}"#).unwrap();
    b.ok(&[
        "update",
        "-r",
        res.to_str().unwrap(),
        "--cpu-share",
        "400",
        &b.id,
    ]);
    assert_eq!(read(&b, "pids", "pids.max"), "44");
    assert_eq!(read(&b, "cpu", "cpu.shares"), "400");
    match host::blkio_weight_file() {
        Some(file) => {
            b.ok(&["update", "--blkio-weight", "300", &b.id]);
            assert_eq!(read(&b, "blkio", file), "300");
        }
        None => {
            let err = failure(&b, &["update", "--blkio-weight", "300", &b.id]);
            assert_lacks(&err, "blockIO.weight", "300");
            lacking.push("a block I/O weight, BFQ or CFQ (--blkio-weight refused as checked)");
        }
    }
    // The kernel's refusal names the file and the value.
    let err = failure(&b, &["update", "--cpuset-cpus", "99", &b.id]);
    assert!(err.contains("cpuset.cpus") && err.contains("99"), "{err}");
    // checkBeforeUpdate: a limit under the current usage is refused.
    std::fs::write(
        &res,
        r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true}}"#,
    )
    .unwrap();
    let err = failure(&b, &["update", "-r", res.to_str().unwrap(), &b.id]);
    assert!(
        err.contains("linux.resources.memory.limit: 4096 is below"),
        "{err}"
    );
    assert_eq!(read(&b, "memory", "memory.limit_in_bytes"), "209715200");
    std::fs::write(&res, r#"{"memory": {"limit": "lots"}}"#).unwrap();
    let err = failure(&b, &["update", "-r", res.to_str().unwrap(), &b.id]);
    assert!(err.contains("memory.limit"), "{err}");
    let err = failure(&b, &["update", "--memory", "12x", &b.id]);
    assert!(err.contains("\"12x\" is not a size"), "{err}");
    if !lacking.is_empty() {
        common::skip(
            "cgroups::update_changes_limits_and_names_refusals",
            &format!("needs {}: this host lacks them", lacking.join(", ")),
        );
    }
}

#[test]
fn pause_and_resume() {
    if !v1_or_skip("cgroups::pause_and_resume") {
        return;
    }
    let b = Bundle::new("cg-pause", &["sleep", "1000"]);
    b.ok(&["run", "-d", &b.id]);
    b.ok(&["pause", &b.id]);
    assert_eq!(b.state()["status"], "paused");
    assert_eq!(read(&b, "freezer", "freezer.state"), "FROZEN");
    let list: Value = serde_json::from_str(&b.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["status"], "paused");
    assert!(failure(&b, &["exec", &b.id, "true"]).contains("paused"));
    assert!(failure(&b, &["pause", &b.id]).contains("it is paused, not running"));
    assert!(failure(&b, &["delete", &b.id]).contains("it is paused"));
    b.ok(&["resume", &b.id]);
    assert_eq!(b.state()["status"], "running");
    assert_eq!(read(&b, "freezer", "freezer.state"), "THAWED");
    assert!(failure(&b, &["resume", &b.id]).contains("it is running, not paused"));
    // delete -f of a paused container thaws it so its processes can die.
    b.ok(&["pause", &b.id]);
    b.ok(&["delete", "-f", &b.id]);
}

#[test]
fn ps_and_stats() {
    if !v1_or_skip("cgroups::ps_and_stats") {
        return;
    }
    let b = Bundle::new("cg-ps", &["sh", "-c", "sleep 1000 & sleep 1000"]);
    b.ok(&["run", "-d", &b.id]);
    let init = b.state()["pid"].as_i64().unwrap();
    wait_until("two processes", || {
        serde_json::from_str::<Vec<i64>>(&b.ok(&["ps", "--format", "json", &b.id]))
            .unwrap()
            .len()
            == 2
    });
    let pids: Vec<i64> = serde_json::from_str(&b.ok(&["ps", "--format", "json", &b.id])).unwrap();
    assert!(pids.contains(&init), "{pids:?}");
    let table = b.ok(&["ps", &b.id]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("PID"));
    assert_eq!(
        lines.filter(|l| l.contains("sleep 1000")).count(),
        2,
        "{table}"
    );
    let table = b.ok(&["ps", &b.id, "--", "-o", "pid,comm"]);
    assert!(table.contains(&format!("{init} sleep")), "{table}");

    let ev: Value = serde_json::from_str(b.ok(&["events", "--stats", &b.id]).trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    let d = &ev["data"];
    assert_eq!(d["pids"]["current"], 2);
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0);
    assert!(d["memory"]["raw"]["cache"].is_u64());
}

/// berth's error for `res`, which must fail in one line.
fn refusal(res: Value) -> String {
    let mut b = Bundle::new("cg-missing", &["true"]);
    b.config["linux"]["resources"] = res;
    let err = failure(&b, &["run", &b.id]);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}

/// `res` accepted, and `file` of `controller` reading `want`.
fn reads_back(res: Value, controller: &str, file: &str, want: &str) {
    let mut b = Bundle::new("cg-present", &["sleep", "1000"]);
    b.config["linux"]["resources"] = res;
    b.ok(&["run", "-d", &b.id]);
    let got = read(&b, controller, file);
    assert!(got.contains(want), "{file}: wanted {want:?} in {got:?}");
}

/// What this host's hierarchies or kernel cannot take is refused in one
/// line naming the field and why; what it has (hugetlb, net_cls, rdma,
/// CFQ's leaf weight, a weight scheduler on the disk) is probed and then
/// read back, or refused by the kernel for what the test cannot provide
/// (an rdma device).
#[test]
fn unavailable_resources_are_named() {
    use common::host;
    if !v1_or_skip("cgroups::unavailable_resources_are_named") {
        return;
    }
    let err = refusal(json!({"unified": {"memory.high": "100M"}}));
    assert!(
        err.contains("linux.resources.unified.memory.high: cgroup v2 files cannot be set"),
        "{err}"
    );

    let (page, bytes) = host::huge_page_size().unwrap_or(("2MB".into(), 2 << 20));
    let huge = json!({"hugepageLimits": [{"pageSize": page, "limit": 2 * bytes}]});
    if host::v1_hierarchy("hugetlb").is_none() {
        let err = refusal(huge);
        assert!(
            err.contains("linux.resources.hugepageLimits: this host has no hugetlb hierarchy"),
            "{err}"
        );
    } else if host::huge_page_size().is_none() {
        let err = refusal(huge);
        assert!(
            err.contains("linux.resources.hugepageLimits") && err.contains("this kernel has no"),
            "{err}"
        );
    } else {
        let file = format!("hugetlb.{page}.limit_in_bytes");
        reads_back(huge, "hugetlb", &file, &(2 * bytes).to_string());
    }

    let rdma = json!({"rdma": {"mlx5_0": {"hcaHandles": 3}}});
    if host::v1_hierarchy("rdma").is_none() {
        assert!(refusal(rdma).contains("no rdma controller"));
    } else {
        // No such device here: the kernel's refusal, named.
        let err = refusal(rdma);
        assert!(
            err.contains("linux.resources.rdma: mlx5_0 hca_handle=3: "),
            "{err}"
        );
    }

    let class = json!({"network": {"classID": 1048577}});
    if host::v1_hierarchy("net_cls").is_none() {
        let err = refusal(class);
        assert!(
            err.contains("linux.resources.network.classID: this host has no net_cls hierarchy"),
            "{err}"
        );
    } else {
        reads_back(class, "net_cls", "net_cls.classid", "1048577");
    }

    let leaf = json!({"blockIO": {"leafWeight": 300}});
    if host::v1_file("blkio", "blkio.leaf_weight") {
        reads_back(leaf, "blkio", "blkio.leaf_weight", "300");
    } else {
        assert_lacks(&refusal(leaf), "blockIO.leafWeight", "300");
    }

    // A per-device weight takes a weight scheduler (CFQ, or BFQ run by the
    // disk itself).
    let Some((major, minor, name)) = host::disk() else {
        common::skip(
            "cgroups::unavailable_resources_are_named (blockIO.weightDevice)",
            "needs the test scratch directory on a block device: it is on none here",
        );
        return;
    };
    let dev = format!("{major}:{minor}");
    let weighted =
        json!({"blockIO": {"weightDevice": [{"major": major, "minor": minor, "weight": 200}]}});
    match host::blkio_weight_file() {
        None => assert_lacks(
            &refusal(weighted),
            "blockIO.weightDevice",
            &format!("{dev} 200"),
        ),
        Some(file) if ["bfq", "cfq"].contains(&host::scheduler(&name).as_str()) => reads_back(
            weighted,
            "blkio",
            &format!("{file}_device"),
            &format!("{dev} 200"),
        ),
        Some(_) => {
            let err = refusal(weighted);
            let want = format!("linux.resources.blockIO.weightDevice: {dev} 200: ");
            assert!(err.contains(&want), "{want}: {err}");
        }
    }
}

/// A relative cgroupsPath starts at the runtime's own cgroup (systemd's
/// view of it: the unified line of a hybrid host, name=systemd on a pure
/// v1 one, else /); delete removes sub-cgroups the container made.
#[test]
fn relative_path_and_sub_cgroups() {
    if !v1_or_skip("cgroups::relative_path_and_sub_cgroups") {
        return;
    }
    let mut b = Bundle::new("cg-rel", &["sleep", "1000"]);
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let base = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .or_else(|| {
            own.lines()
                .find_map(|l| l.split_once(":name=systemd:"))
                .map(|(_, p)| p)
        })
        .unwrap_or("/")
        .to_string();
    let rel = format!("berth-tests/{}", b.id);
    b.config["linux"]["cgroupsPath"] = json!(rel);
    b.ok(&["run", "-d", &b.id]);
    let pid = b.state()["pid"].as_i64().unwrap();
    let theirs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = Path::new(&base).join(&rel);
    assert!(
        theirs
            .lines()
            .any(|l| l.contains(":memory:") && l.ends_with(want.to_str().unwrap())),
        "{theirs}"
    );
    let sub = Path::new("/sys/fs/cgroup/pids")
        .join(want.strip_prefix("/").unwrap())
        .join("sub");
    std::fs::create_dir(&sub).unwrap();
    b.ok(&["delete", "-f", &b.id]);
    assert!(!sub.exists());
}

#[test]
fn systemd_driver_paths_and_errors() {
    let mut b = Bundle::new("cg-systemd", &["true"]);
    b.config["linux"]["cgroupsPath"] = json!("berth-no-slice");
    let err = failure(&b, &["--systemd-cgroup", "run", &b.id]);
    assert!(
        err.contains("linux.cgroupsPath: \"berth-no-slice\" does not have two or three fields"),
        "{err}"
    );
    b.config["linux"]["cgroupsPath"] = json!("system.slice:berth:x");
    // With cgroup v2 and systemd running, the scope is made; without
    // either (this host: cgroup v1, no systemd), the reason is named.
    if common::host::unified() && Path::new("/run/systemd/system").exists() {
        b.ok(&["--systemd-cgroup", "run", &b.id]);
        return;
    }
    let err = failure(&b, &["--systemd-cgroup", "run", &b.id]);
    assert!(
        err.contains("--systemd-cgroup system.slice:berth:x"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

/// The parents a new cgroupsPath needed go with the container: after
/// delete, and after a create that failed on a refused limit.
#[test]
fn created_parents_are_removed() {
    if !v1_or_skip("cgroups::created_parents_are_removed") {
        return;
    }
    for (run_ok, res) in [(true, json!({})), (false, json!({"cpu": {"cpus": "99"}}))] {
        let mut b = Bundle::new("cg-parents", &["sleep", "1000"]);
        let top = format!("berth-parents-{}", b.id);
        b.config["linux"]["cgroupsPath"] = json!(format!("/{top}/a/b"));
        b.config["linux"]["resources"] = res;
        let out = b.berth(&["run", "-d", &b.id]);
        assert_eq!(out.status.success(), run_ok, "{out:?}");
        if run_ok {
            assert!(
                Path::new("/sys/fs/cgroup/memory")
                    .join(&top)
                    .join("a/b")
                    .exists()
            );
            b.ok(&["delete", "-f", &b.id]);
        }
        for c in ["memory", "cpu", "cpuset", "pids", "devices"] {
            let d = Path::new("/sys/fs/cgroup").join(c).join(&top);
            assert!(!d.exists(), "{} left", d.display());
        }
    }
}
