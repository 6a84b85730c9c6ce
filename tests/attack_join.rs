//! Attacks on what containers share: a pid namespace joined by another
//! container, a cgroup path two containers name, the host's /sys bound
//! into a rootless container, and cgroup v2 file names in `unified`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Bundle;
use serde_json::json;

/// Issue 14, item 7. A container with CAP_SYS_PTRACE owns a pid namespace;
/// another container joins it. The first watches for every new pid and
/// writes through its `/proc/PID/root`, `cwd` and `fd/N`: while the
/// joining init still had the host's root (before pivot_root), that wrote
/// files on the host. No try may succeed: no process of berth's may be in
/// that namespace while its root or cwd reaches the host.
#[test]
fn joined_pid_namespace_never_shows_the_host_root() {
    const CREATES: usize = 20;
    const NO_PIVOT: usize = 5;
    let mut attacker = Bundle::new("join-attacker", &["sh", "-c", ""]);
    let host_dir = attacker.dir.join("host-target");
    std::fs::create_dir(&host_dir).unwrap();
    let host = host_dir.display().to_string();
    // Builtins only: a forked helper would be a pid of its own to skip.
    let script = format!(
        r#"
        : > /tmp/ready
        while [ ! -e /tmp/stop ]; do
          for d in /proc/[0-9]*; do
            p=${{d#/proc/}}
            [ "$p" = 1 ] && continue
            if echo "$p" 2>/dev/null > "$d/root{host}/root-$p"; then echo "HIT root $p"; fi
            if echo "$p" 2>/dev/null > "$d/cwd/cwd-$p"; then echo "HIT cwd $p"; fi
            if echo "$p" 2>/dev/null > "$d/root/../..{host}/up-$p"; then echo "HIT up $p"; fi
            for f in "$d"/fd/*; do
              if echo "$p" 2>/dev/null > "$f/fd-$p"; then echo "HIT fd $p $f"; fi
            done
          done
        done
        echo DONE
        "#
    );
    attacker.config["process"]["args"] = json!(["sh", "-c", script]);
    attacker.config["root"]["readonly"] = json!(false);
    attacker.private_rootfs();
    let caps = json!([
        "CAP_AUDIT_WRITE",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_PTRACE"
    ]);
    for set in ["bounding", "effective", "permitted"] {
        attacker.config["process"]["capabilities"][set] = caps.clone();
    }
    let attacker_root = PathBuf::from(attacker.config["root"]["path"].as_str().unwrap());
    attacker.write_config();
    let bundle = attacker.dir.display().to_string();
    let mut run = attacker.spawn("attacker", &["run", "-b", &bundle, &attacker.id]);
    wait_for(
        &attacker_root.join("tmp/ready"),
        &attacker.dir.join("attacker.err"),
    );
    let pid = attacker.state()["pid"].as_i64().unwrap();

    // Its /proc is the joined namespace's: pid 1 there is the attacker.
    let mut joiner = Bundle::new(
        "join-victim",
        &["grep", "-q", "tmp/ready", "/proc/1/cmdline"],
    );
    let mut private = joiner.private_rootfs();
    private = private.canonicalize().unwrap();
    let namespaces = joiner.config["linux"]["namespaces"].as_array_mut().unwrap();
    for ns in namespaces.iter_mut() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{pid}/ns/pid"));
        }
    }
    let mut failed = Vec::new();
    for _ in 0..CREATES {
        let (code, out, err) = joiner.run();
        if code != 0 {
            failed.push(format!("{out}{err}").trim().to_string());
        }
    }
    // A chroot keeps the host's root beneath the container's: `..` from
    // /proc/PID/root climbs to it, at any time. Refused.
    let refusal = "linux.namespaces[0].path: joining a pid namespace needs pivot_root";
    let mut chrooted = Vec::new();
    for _ in 0..NO_PIVOT {
        let out = joiner.berth(&["run", "--no-pivot", &joiner.id]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if out.status.success() || !err.contains(refusal) {
            chrooted.push(format!("{:?}: {err}", out.status));
        }
    }
    std::fs::write(attacker_root.join("tmp/stop"), "").unwrap();
    let status = run.wait().unwrap();
    let said = std::fs::read_to_string(attacker.dir.join("attacker.out")).unwrap();
    let hits: Vec<&str> = said.lines().filter(|l| l.starts_with("HIT")).collect();
    let mut written: Vec<PathBuf> = Vec::new();
    for dir in [host_dir.as_path(), &joiner.dir, &private] {
        written.extend(
            std::fs::read_dir(dir)
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy().into_owned();
                    ["root-", "cwd-", "fd-", "up-"]
                        .iter()
                        .any(|p| name.starts_with(p))
                }),
        );
    }
    for f in &written {
        let _ = std::fs::remove_file(f);
    }
    assert!(status.success(), "the attacker failed: {said}");
    assert!(said.contains("DONE"), "the attacker did not finish: {said}");
    assert!(
        failed.is_empty(),
        "creates failed: {failed:?}; hits {hits:?}"
    );
    assert!(
        chrooted.is_empty(),
        "--no-pivot with a joined pid namespace was not refused: {chrooted:?}; hits {hits:?}"
    );
    assert!(
        hits.is_empty() && written.is_empty(),
        "{} of {} inits reachable through /proc/PID/root, cwd or fd: {hits:?}, files {written:?}",
        hits.iter()
            .filter_map(|h| h.split(' ').nth(2))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        CREATES + NO_PIVOT
    );
}

fn wait_for(path: &Path, log: &Path) {
    for _ in 0..500 {
        if path.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!(
        "{} never appeared: {}",
        path.display(),
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// Issue 14, item 10. Two creates naming the same cgroupsPath at once:
/// both used to pass the "no process in it" check before either had a
/// process there, so both ran in one cgroup (and deleting one killed the
/// other). Exactly one may succeed in each round; the other is refused,
/// naming linux.cgroupsPath.
#[test]
fn concurrent_creates_cannot_share_a_cgroup() {
    const ROUNDS: usize = 15;
    let shared = format!("/berth-tests/{}", common::unique_id("shared-cgroup"));
    let bundles: Vec<Bundle> = ["share-a", "share-b"]
        .iter()
        .map(|n| {
            let mut b = Bundle::new(n, &["sleep", "1000"]);
            b.config["linux"]["cgroupsPath"] = json!(shared);
            b.write_config();
            b
        })
        .collect();
    let mut both = 0;
    let mut errors = Vec::new();
    for _ in 0..ROUNDS {
        let outs: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = bundles
                .iter()
                .map(|b| s.spawn(|| b.berth_raw(&["create", &b.id])))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = outs.iter().filter(|o| o.status.success()).count();
        assert!(ok >= 1, "neither create succeeded: {outs:?}");
        if ok == 2 {
            both += 1;
        }
        for o in outs.iter().filter(|o| !o.status.success()) {
            errors.push(String::from_utf8_lossy(&o.stderr).into_owned());
        }
        for b in &bundles {
            let _ = b.berth_raw(&["delete", "-f", &b.id]);
        }
    }
    for d in cgroup_dirs(&shared) {
        let _ = std::fs::remove_dir(d);
    }
    assert_eq!(
        both, 0,
        "{both} of {ROUNDS} rounds ran two containers in one cgroup"
    );
    for e in &errors {
        assert!(
            e.contains("linux.cgroupsPath") && e.contains("already has"),
            "{e}"
        );
    }
}

fn cgroup_dirs(path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join(rel))
        .filter(|d| d.is_dir())
        .collect()
}

/// Issue 14, item 11 (CVE-2023-25809's class). `spec --rootless` binds
/// the host's /sys with `rbind` and `ro`: read-only must cover every
/// mount beneath it, or the host's cgroup hierarchies (and any other
/// filesystem mounted under /sys) are writable inside. The container
/// writes the pids limit of a host cgroup that is not its own, and lists
/// what under /sys is still mounted read-write. The write needs a v1 pids
/// hierarchy (probed); the listing is checked on any host.
#[test]
fn rootless_sys_is_read_only_all_the_way_down() {
    let mut b = Bundle::new("rootless-sys", &["true"]);
    std::fs::create_dir(b.dir.join("rootless")).unwrap();
    let out = Command::new(common::BERTH)
        .args(["spec", "--rootless", "-b"])
        .arg(b.dir.join("rootless"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let rootless: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.dir.join("rootless/config.json")).unwrap())
            .unwrap();
    let pids = Path::new("/sys/fs/cgroup/pids");
    let v1_pids = nix::sys::statfs::statfs(pids)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP_SUPER_MAGIC);
    let victim = pids.join(common::unique_id("rootless-victim"));
    if v1_pids {
        std::fs::create_dir(&victim).unwrap();
    }
    let script = format!(
        r#"
        echo 7 2>/dev/null > "{}/pids.max" && echo WROTE
        while read -r _ _ _ _ point opts _; do
          case "$point" in /sys|/sys/*)
            case ",$opts," in *,ro,*) ;; *) echo "RW $point" ;; esac ;;
          esac
        done < /proc/self/mountinfo
        echo DONE
        "#,
        victim.display()
    );
    let cgroups_path = b.config["linux"]["cgroupsPath"].clone();
    let root = b.config["root"].clone();
    b.config["mounts"] = rootless["mounts"].clone();
    b.config["linux"] = rootless["linux"].clone();
    b.config["linux"]["cgroupsPath"] = cgroups_path;
    b.config["root"] = root;
    b.config["process"]["args"] = json!(["sh", "-c", script]);
    let (code, stdout, stderr) = b.run();
    let limit = std::fs::read_to_string(victim.join("pids.max")).unwrap_or_default();
    if v1_pids {
        std::fs::remove_dir(&victim).unwrap();
    }
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("DONE"), "{stdout}{stderr}");
    let writable: Vec<&str> = stdout.lines().filter(|l| l.starts_with("RW")).collect();
    assert!(
        !stdout.contains("WROTE") && writable.is_empty(),
        "a host cgroup's pids.max written from inside ({:?}); read-write under /sys: {writable:?}",
        limit.trim()
    );
    if v1_pids {
        assert_eq!(limit.trim(), "max", "the host cgroup's limit changed");
    }
}

/// Issue 14, item 13. `linux.resources.unified` keys are file names in the
/// container's cgroup; `../pids.max` would be written outside it, as root.
/// Refused while the config is validated (on any host, before a cgroup is
/// touched) and by `update`, naming the key. The write itself is played
/// on a cgroup v2 host by tests/vm/cgroup-v2.sh.
#[test]
fn unified_keys_outside_the_cgroup_are_refused() {
    for key in ["../pids.max", "/sys/fs/cgroup/pids.max", "..", "a/b.max"] {
        let mut b = Bundle::new("unified-escape", &["true"]);
        b.config["linux"]["resources"] = json!({"unified": {key: "1"}});
        let out = b.berth(&["create", &b.id]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}: create succeeded");
        assert!(
            err.contains("linux.resources.unified") && err.contains("not a file name"),
            "{key}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let b = Bundle::new("unified-update", &["sleep", "1000"]);
    b.ok(&["create", &b.id]);
    let res = b.dir.join("res.json");
    std::fs::write(&res, r#"{"unified":{"../pids.max":"5"}}"#).unwrap();
    let out = b.berth(&["update", "-r", res.to_str().unwrap(), &b.id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "update succeeded");
    assert!(
        err.contains("linux.resources.unified") && err.contains("not a file name"),
        "{err}"
    );
}

/// The other side of item 11: `ro` on an rbind is the top mount's, as the
/// spec has it and Kubernetes' non-recursive read-only volumes need (the
/// CRI validation suite checks a submount stays writable); `rro` reaches
/// every mount beneath. A host directory with a tmpfs below it is bound
/// both ways.
#[test]
fn ro_rbind_is_the_top_mount_and_rro_the_whole_tree() {
    let b0 = Bundle::new("rbind-host", &["true"]);
    let host = b0.dir.join("vol");
    let sub = host.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(st.success(), "mount a tmpfs below the volume");
    // Detached even when an assertion fails.
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _guard = Unmount(sub.clone());
    let probe = "touch /vol/top 2>/dev/null && echo TOP-RW || echo TOP-RO; \
                 touch /vol/sub/x 2>/dev/null && echo SUB-RW || echo SUB-RO";
    for (opt, want) in [("ro", "TOP-RO\nSUB-RW\n"), ("rro", "TOP-RO\nSUB-RO\n")] {
        let mut b = Bundle::new(&format!("rbind-{opt}"), &["sh", "-c", probe]);
        let mut mounts = b.config["mounts"].as_array().unwrap().clone();
        mounts.push(
            json!({"destination": "/vol", "type": "none", "source": host,
                           "options": ["rbind", opt]}),
        );
        b.config["mounts"] = json!(mounts);
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, want, "options [rbind, {opt}]");
    }
}
