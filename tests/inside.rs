//! What a process sees from inside its container: namespaces, pid 1, the
//! hostname, the rootfs after pivot_root, devices, masked and read-only
//! paths, sysctls, and what the host sees of it.

mod common;

use common::Bundle;
use serde_json::json;

fn ns_inode(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn namespaces_differ_from_the_hosts() {
    let out = Bundle::sh(
        "ns",
        "for n in pid net ipc uts mnt cgroup; do readlink /proc/self/ns/$n; done; echo $$",
    );
    let lines: Vec<&str> = out.lines().collect();
    for (i, ns) in ["pid", "net", "ipc", "uts", "mnt", "cgroup"]
        .iter()
        .enumerate()
    {
        assert_ne!(
            lines[i],
            ns_inode("self", ns),
            "{ns} namespace is the host's"
        );
        assert!(lines[i].starts_with(ns), "{}", lines[i]);
    }
    assert_eq!(lines[6], "1", "the container's process is pid 1");
}

#[test]
fn joins_a_namespace_by_path() {
    // The host's uts namespace, joined by path: the container sees the
    // host's hostname.
    let mut b = Bundle::new("nsjoin", &["hostname"]);
    b.config["hostname"] = json!(null);
    let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
    for n in ns.iter_mut() {
        if n["type"] == "uts" {
            n["path"] = json!(format!("/proc/{}/ns/uts", std::process::id()));
        }
    }
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), nix_hostname());
}

fn nix_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn hostname_and_domainname() {
    let mut b = Bundle::new(
        "names",
        &["sh", "-c", "hostname; cat /proc/sys/kernel/domainname"],
    );
    b.config["hostname"] = json!("box1");
    b.config["domainname"] = json!("example.test");
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "box1\nexample.test\n");
}

#[test]
fn rootfs_is_the_bundles_after_pivot_root() {
    let out = Bundle::sh(
        "pivot",
        "ls /; cat /proc/self/mountinfo | awk '$5 == \"/\" {print $4}'; test -e /work && echo HOSTLEAK; true",
    );
    assert!(out.contains("bin\n") && out.contains("etc\n"), "{out}");
    assert!(!out.contains("HOSTLEAK"), "{out}");
    // Only the rootfs at /: the old root was detached.
    let roots: Vec<&str> = out.lines().filter(|l| l.starts_with('/')).collect();
    assert_eq!(roots.len(), 1, "{out}");
}

#[test]
fn readonly_root_and_writable_tmpfs() {
    let out = Bundle::sh(
        "ro",
        "touch /x 2>&1 || echo RO; touch /dev/shm/x && echo SHM",
    );
    assert!(out.contains("RO") && out.contains("SHM"), "{out}");
}

#[test]
fn default_devices_and_links() {
    let out = Bundle::sh(
        "devs",
        "for d in null zero full random urandom tty; do stat -c '%n %t:%T %a' /dev/$d; done; for l in ptmx fd stdin; do readlink /dev/$l; done; echo x > /dev/null && echo W",
    );
    for line in [
        "/dev/null 1:3 666",
        "/dev/zero 1:5 666",
        "/dev/full 1:7 666",
        "/dev/tty 5:0 666",
        "pts/ptmx",
        "/proc/self/fd\n",
        "W",
    ] {
        assert!(out.contains(line), "{line:?} missing in {out}");
    }
}

#[test]
fn configured_devices() {
    let mut b = Bundle::new(
        "devices",
        &[
            "sh",
            "-c",
            "stat -c '%n %F %t:%T %a %u:%g' /dev/mynull /dev/sub/myfifo",
        ],
    );
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 1001},
        {"path": "/dev/sub/myfifo", "type": "p", "fileMode": 0o600}
    ]);
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("/dev/mynull character special file 1:3 640 1000:1001"),
        "{out}"
    );
    assert!(out.contains("/dev/sub/myfifo fifo 0:0 600 0:0"), "{out}");
}

/// A masked /proc file reads empty: the first of the default masked
/// files this kernel has (which exist depends on its configuration).
#[test]
fn masked_and_readonly_paths() {
    let Some(proc_file) = common::host::masked_proc_file() else {
        common::skip(
            "inside::masked_and_readonly_paths",
            "needs one of the default masked /proc files: this kernel has none",
        );
        return;
    };
    let script = format!(
        "cat {proc_file} | wc -c; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/ns_last_pid 2>&1 || echo ROSYS; cat /etc/hostname-mask | wc -c"
    );
    let mut b = Bundle::new("masked", &["sh", "-c", &script]);
    let mask = b.dir.join("rootfs-file");
    std::fs::write(&mask, "secret").unwrap();
    b.config["mounts"].as_array_mut().unwrap().push(json!({"destination": "/etc/hostname-mask", "type": "bind", "source": mask, "options": ["bind"]}));
    b.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/etc/hostname-mask"));
    b.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/does/not/exist"));
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "0\n0\nROSYS\n0\n", "{err}");
}

#[test]
fn mounts_with_options() {
    let mut b = Bundle::new(
        "mounts",
        &[
            "sh",
            "-c",
            "grep -E ' /(data|ro|tmpx|rro|rro/cgroup) ' /proc/self/mountinfo; cat /data/f; touch /ro/g 2>/dev/null || echo RO",
        ],
    );
    let src = b.dir.join("data");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "hello\n").unwrap();
    b.config["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": "/data", "type": "bind", "source": src, "options": ["rbind", "nosuid", "nodev"]}),
        json!({"destination": "/ro", "type": "bind", "source": src, "options": ["bind", "ro", "noexec"]}),
        json!({"destination": "/tmpx", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "size=1m", "mode=700"]}),
        // /sys/fs/cgroup is a mount below /sys/fs in every cgroup layout.
        json!({"destination": "/rro", "type": "bind", "source": "/sys/fs", "options": ["rbind", "rro", "rnosuid"]}),
    ]);
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    let line = |d: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {d} ")))
            .unwrap_or_else(|| panic!("{d} not mounted: {out}"))
            .to_string()
    };
    assert!(line("/data").contains("nosuid,nodev"), "{out}");
    assert!(
        line("/ro").contains("ro,") && line("/ro").contains("noexec"),
        "{out}"
    );
    assert!(
        line("/tmpx").contains("noexec") && line("/tmpx").contains("mode=700"),
        "{out}"
    );
    assert!(out.contains("hello\nRO"), "{out}");
    // Recursive attributes reach the submounts of a recursive bind.
    assert!(line("/rro/cgroup").contains(" ro,nosuid"), "{out}");
}

#[test]
fn sysctl_is_set_in_the_containers_namespaces() {
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let mut b = Bundle::new(
        "sysctl",
        &[
            "cat",
            "/proc/sys/net/ipv4/ip_forward",
            "/proc/sys/kernel/shmmni",
        ],
    );
    let flip = if host.trim() == "1" { "0" } else { "1" };
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": flip, "kernel.shmmni": "1234"});
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{flip}\n1234\n"));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host,
        "host sysctl changed"
    );
}

/// Engines (podman) make the network namespace first and join it by path:
/// its sysctls are the container's. The host's own namespace is refused.
#[test]
fn sysctl_in_a_joined_network_namespace() {
    let mut holder = std::process::Command::new("unshare")
        .args(["--net", "sleep", "1000"])
        .spawn()
        .unwrap();
    let netns = format!("/proc/{}/ns/net", holder.id());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read_link(&netns).ok() == std::fs::read_link("/proc/self/ns/net").ok() {
        assert!(std::time::Instant::now() < deadline, "unshare --net");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let host = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let flip = if host.trim() == "1" { "0" } else { "1" };
    let join = |b: &mut Bundle, path: &str| {
        let ns = b.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "network", "path": path}));
        b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": flip});
    };
    let mut b = Bundle::new("sysctl-joined", &["cat", "/proc/sys/net/ipv4/ip_forward"]);
    join(&mut b, &netns);
    let (code, out, err) = b.run();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("{flip}\n"));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        host
    );
    let mut b = Bundle::new("sysctl-hostns", &["true"]);
    join(&mut b, "/proc/self/ns/net");
    let (code, _, err) = b.run();
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "linux.sysctl.net.ipv4.ip_forward: needs a net namespace of the container's own"
        ),
        "{err}"
    );
}

#[test]
fn cwd_env_and_args() {
    let mut b = Bundle::new(
        "cwd",
        &[
            "sh",
            "-c",
            "pwd; echo $FOO; echo \"$0\" \"$1\"",
            "zero",
            "one",
        ],
    );
    b.config["process"]["cwd"] = json!("/dev/shm/new/dir");
    b.config["process"]["env"] = json!(["PATH=/bin", "FOO=bar baz"]);
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "/dev/shm/new/dir\nbar baz\nzero one\n");
}

/// The container's cgroup namespace makes its own cgroup the root: on v1
/// the memory hierarchy's line, on a unified host the one line.
#[test]
fn cgroup_mount_shows_the_containers_cgroup() {
    let (line, procs) = if common::host::unified() {
        ("0::/\n", "/sys/fs/cgroup/cgroup.procs")
    } else {
        ("memory:/\n", "/sys/fs/cgroup/memory/cgroup.procs")
    };
    let out = Bundle::sh("cgmount", &format!("cat /proc/self/cgroup; ls {procs}"));
    assert!(out.contains(line), "new cgroup namespace: {out}");
    assert!(out.contains(procs), "{out}");
}

#[test]
fn no_mount_namespace_chroots_and_mounts_nothing() {
    let mut b = Bundle::new(
        "nomntns",
        &["sh", "-c", "ls /bin/busybox && ls /proc | wc -l"],
    );
    let rootfs = b.private_rootfs();
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}]);
    b.config["hostname"] = json!(null);
    // Mounts, masks and a read-only root need a mount namespace.
    b.config["mounts"] = json!([]);
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    b.config["root"]["readonly"] = json!(false);
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out.replace(' ', ""),
        "/bin/busybox\n0\n",
        "no /proc mounted: {out}"
    );
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(rootfs.to_str().unwrap()),
        "rootfs mounts left on the host"
    );
}

#[test]
fn no_pivot_moves_the_rootfs() {
    let b = Bundle::new(
        "nopivot",
        &["sh", "-c", "ls /; grep -c ' / ' /proc/self/mountinfo"],
    );
    b.write_config();
    let out = b.berth(&["run", "--no-pivot", &b.id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bin\n"), "{text}");
}

#[test]
fn rootfs_propagation_shared() {
    let mut b = Bundle::new(
        "propagation",
        &["sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"],
    );
    b.config["linux"]["rootfsPropagation"] = json!("shared");
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("shared:"), "{out}");
}

/// A host directory made a shared mount of its own for a test; unmounted
/// (with whatever was mounted below it) and removed on drop.
struct SharedDir(std::path::PathBuf);

impl SharedDir {
    fn new(path: std::path::PathBuf) -> SharedDir {
        std::fs::create_dir_all(&path).unwrap();
        let d = SharedDir(path);
        for args in [&["--bind"][..], &["--make-shared"]] {
            let mut cmd = std::process::Command::new("mount");
            cmd.args(args).arg(&d.0);
            if args[0] == "--bind" {
                cmd.arg(&d.0);
            }
            assert!(cmd.status().unwrap().success(), "mount {args:?}");
        }
        d
    }
}

impl Drop for SharedDir {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-R")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The source of the mount at `path` in this (the host's) mount namespace.
fn mount_source(path: &std::path::Path) -> String {
    let out = std::process::Command::new("findmnt")
        .args(["-n", "-o", "SOURCE", "--mountpoint"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn rshared_volume_stays_in_the_hosts_peer_group() {
    // Kubernetes' mountPropagation: Bidirectional, as containerd writes it:
    // rootfsPropagation rshared and an rshared bind of a shared host mount.
    // Mounts made in the container must reach the host, and the host's the
    // container.
    let mut b = Bundle::new("rshared", &["sleep", "1000"]);
    b.private_rootfs();
    std::fs::create_dir_all(b.dir.join("rootfs/vol")).unwrap();
    let vol = SharedDir::new(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("rshared-vol-{}", std::process::id())),
    );
    std::fs::create_dir_all(vol.0.join("from-container")).unwrap();
    std::fs::create_dir_all(vol.0.join("from-host")).unwrap();
    b.config["linux"]["rootfsPropagation"] = json!("rshared");
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/vol", "type": "bind", "source": vol.0, "options": ["rbind", "rshared"]
    }));
    let caps = json!(["CAP_SYS_ADMIN"]);
    for set in ["bounding", "effective", "permitted"] {
        b.config["process"]["capabilities"][set] = caps.clone();
    }
    b.ok(&["run", "-d", &b.id]);
    b.ok(&[
        "exec",
        &b.id,
        "mount",
        "-t",
        "tmpfs",
        "from-container",
        "/vol/from-container",
    ]);
    let seen = mount_source(&vol.0.join("from-container"));
    b.ok(&["exec", &b.id, "umount", "/vol/from-container"]);
    assert_eq!(seen, "from-container", "the container's mount on the host");
    assert!(
        std::process::Command::new("mount")
            .args(["-t", "tmpfs", "from-host"])
            .arg(vol.0.join("from-host"))
            .status()
            .unwrap()
            .success()
    );
    let inside = b.ok(&["exec", &b.id, "cat", "/proc/self/mountinfo"]);
    assert!(
        inside.lines().any(|l| l.contains(" /vol/from-host ")),
        "the host's mount in the container: {inside}"
    );
    // The rootfs itself must not have reached the host's side of the volume.
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(&b.id),
        "container mounts on the host: {host}"
    );
    b.ok(&["kill", &b.id, "KILL"]);
}

#[test]
fn preserved_fds_only() {
    let b = Bundle::new(
        "fds",
        &["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"],
    );
    b.write_config();
    let extra = std::fs::File::open("/dev/null").unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&extra);
    // Move the file to fd 3 for --preserve-fds 1, in the child only.
    let out_path = b.dir.join(".fds.out");
    let mut cmd = std::process::Command::new(common::BERTH);
    cmd.arg("--root")
        .arg(&b.root)
        .args(["run", "--preserve-fds", "1", &b.id])
        .current_dir(&b.dir);
    cmd.stdout(std::fs::File::create(&out_path).unwrap());
    // SAFETY: dup2 is async-signal-safe and runs in the forked child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // Already 3, dup2 would keep its close-on-exec flag: berth
            // would get no descriptor 3 (and refuse --preserve-fds 1).
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    assert!(cmd.status().unwrap().success());
    // 0-2, the preserved 3, and the one ls opens for the directory.
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap().trim(),
        "0 1 2 3 4"
    );
}

/// An idmapped bind mount of a scratch directory: where the kernel and
/// the filesystem support it, the mapped owner shows; elsewhere berth's
/// error names the mount and mount_setattr.
#[test]
fn idmapped_bind_mount() {
    let mut b = Bundle::new("idmap", &["stat", "-c", "%u:%g", "/mapped/f"]);
    let src = b.dir.join("idmap-src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    // Owned by root on disk; the mount's maps show root as 1234:1235.
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mapped", "type": "bind", "source": src, "options": ["rbind", "idmap"],
        "uidMappings": [{"containerID": 0, "hostID": 1234, "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": 1235, "size": 1}]
    }));
    let (code, out, err) = b.run();
    if !common::host::idmapped_mounts() {
        assert_ne!(code, 0, "{out}");
        assert!(
            err.contains("idmapped mount of") && err.contains("mount_setattr"),
            "{err}"
        );
        common::skip(
            "inside::idmapped_bind_mount",
            "needs idmapped mounts (Linux 5.12 and a filesystem that has them) under the scratch directory",
        );
        return;
    }
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "1234:1235");
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_what_it_hides() {
    // /bin itself: the process then runs from the copy (the binary's
    // content and mode, and the applets' symlinks); /etc with its files.
    let mut b = Bundle::new(
        "copyup",
        &[
            "sh",
            "-c",
            "head -1 /etc/passwd; echo new > /etc/new && cat /etc/new; \
             readlink /bin/ls; stat -c '%a %u' /etc /bin/busybox; \
             grep -E ' /(bin|etc) ' /proc/self/mounts | cut -d' ' -f2,3",
        ],
    );
    b.config["root"]["readonly"] = json!(true);
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    for d in ["/bin", "/etc"] {
        mounts.push(json!({"destination": d, "type": "tmpfs", "source": "tmpfs",
            "options": ["tmpcopyup", "nosuid"]}));
    }
    b.write_config();
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "root:x:0:0:root:/root:/bin/sh\nnew\nbusybox\n755 0\n755 0\n/bin tmpfs\n/etc tmpfs\n",
        "{err}"
    );
}
