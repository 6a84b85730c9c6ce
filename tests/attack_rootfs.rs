//! Attacks on the container's root filesystem setup (issue 14, items 4, 6
//! and 12), each played for real: a container without a mount namespace
//! leaving its chroot, a directory swapped under a read-only bind while it
//! is made, and an image whose /dev/console, /proc, /sys or /dev are
//! symlinks.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use common::Bundle;
use serde_json::json;

/// A static program that leaves a chroot the classic way (chroot into a
/// subdirectory without entering it, climb with "..", chroot there), then
/// prints the file named by its argument. Built with the host's C compiler
/// (gcc and libc6-dev are in hack/deps.sh).
fn chroot_escaper(dir: &Path) -> PathBuf {
    let src = dir.join("escape.c");
    std::fs::write(
        &src,
        r#"#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char buf[256];
    mkdir("/tmp/escape", 0700);
    if (chroot("/tmp/escape") != 0) { perror("chroot"); return 2; }
    for (int i = 0; i < 64; i++) chdir("..");
    if (chroot(".") != 0) { perror("chroot ."); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 3; }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    printf("ESCAPED:%s\n", buf);
    return 0;
}
"#,
    )
    .unwrap();
    let bin = dir.join("escape");
    let out = Command::new("cc")
        .args(["-static", "-O", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("run cc (gcc and libc6-dev, see hack/deps.sh)");
    assert!(
        out.status.success(),
        "cc -static: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// Item 4: without a mount namespace the container's root is only a
/// chroot, which a process keeping CAP_SYS_CHROOT (in the default set)
/// leaves. Masks, read-only paths and mounts would then protect nothing
/// (and be made in the host's mount namespace), so each is refused; the
/// escape itself must never get to run with them.
#[test]
fn no_mount_namespace_refuses_what_needs_one() {
    let marker = format!("host-secret-{}", std::process::id());
    let cases: &[(&str, &str)] = &[
        ("mounts", "mounts"),
        ("maskedPaths", "linux.maskedPaths"),
        ("readonlyPaths", "linux.readonlyPaths"),
        ("readonly", "root.readonly"),
        ("propagation", "linux.rootfsPropagation"),
    ];
    let mut escapes = Vec::new();
    for (case, field) in cases {
        let mut b = Bundle::new(&format!("nomnt-{case}"), &["/escape", "PLACEHOLDER"]);
        let rootfs = b.private_rootfs();
        let secret = b.dir.join("secret");
        std::fs::write(&secret, &marker).unwrap();
        std::fs::copy(chroot_escaper(&b.dir), rootfs.join("escape")).unwrap();
        b.config["process"]["args"] = json!(["/escape", secret]);
        b.config["linux"]["namespaces"] = json!([{"type": "pid"}]);
        b.config["hostname"] = json!(null);
        // docker's default set keeps CAP_SYS_CHROOT.
        let caps = json!(["CAP_SYS_CHROOT"]);
        b.config["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
        // Only the one thing under test needs the mount namespace.
        b.config["mounts"] = json!([]);
        b.config["linux"]["maskedPaths"] = json!([]);
        b.config["linux"]["readonlyPaths"] = json!([]);
        b.config["root"]["readonly"] = json!(false);
        match *case {
            "mounts" => {
                b.config["mounts"] =
                    json!([{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"}])
            }
            "maskedPaths" => b.config["linux"]["maskedPaths"] = json!(["/bin/busybox"]),
            "readonlyPaths" => b.config["linux"]["readonlyPaths"] = json!(["/bin"]),
            "readonly" => b.config["root"]["readonly"] = json!(true),
            _ => b.config["linux"]["rootfsPropagation"] = json!("private"),
        }
        let (code, out, err) = b.run();
        if out.contains(&marker) {
            escapes.push(format!("{case}: the container read {}", secret.display()));
        }
        assert!(escapes.is_empty(), "escapes: {escapes:?}");
        assert_ne!(code, 0, "{case}: ran without a mount namespace: {out}{err}");
        assert!(
            err.contains(field) && err.contains("mount namespace"),
            "{case}: the error names {field}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

/// Item 4, what remains allowed: no mounts, masks or read-only paths, and
/// the process runs chrooted, with no mount made on the host.
#[test]
fn no_mount_namespace_without_mounts_still_runs() {
    let mut b = Bundle::new("nomnt-ok", &["sh", "-c", "ls /bin/busybox; ls /dev"]);
    let rootfs = b.private_rootfs();
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}]);
    b.config["hostname"] = json!(null);
    b.config["mounts"] = json!([]);
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    b.config["root"]["readonly"] = json!(false);
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!before.contains(rootfs.to_str().unwrap()));
    b.ok(&["create", &b.id]);
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mountinfo.contains(rootfs.to_str().unwrap()),
        "a mount made in the host's namespace for a container without one"
    );
    b.ok(&["delete", "-f", &b.id]);
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out, "/bin/busybox\n",
        "chrooted, and no devices made: {out}"
    );
    assert!(
        std::fs::read_dir(rootfs.join("dev"))
            .unwrap()
            .next()
            .is_none(),
        "device nodes made in the image on the host"
    );
}

/// Runs the calling thread (and what it starts) on `cpu` alone, when the
/// machine has more than one.
fn pin_to_cpu(cpu: usize) {
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: sched_setaffinity reads a live cpu_set_t of the size given.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

fn unpin() {
    // SAFETY: as in pin_to_cpu.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for cpu in 0..std::thread::available_parallelism().map_or(1, |n| n.get()) {
        // SAFETY: as in pin_to_cpu.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: as in pin_to_cpu.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
}

fn rename_exchange(a: &CString, b: &CString) {
    // SAFETY: renameat2 reads two NUL-terminated paths that live for the call.
    unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        );
    }
}

/// Item 6: a container that shares a directory of the new container's
/// rootfs swaps two symlinks in it (RENAME_EXCHANGE) while a read-only
/// bind is made through one of them: the bind lands on /mnt/plain, and
/// flags applied by resolving the destination again land on /dev/shm (a
/// mount root too), leaving the bind writable. 60 creates, none may leave
/// it writable.
#[test]
fn readonly_bind_survives_a_swapped_destination() {
    let mut b = Bundle::new("swapro", &["true"]);
    let rootfs = b.private_rootfs();
    let source = b.dir.join("volume-swapro-src");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::create_dir_all(rootfs.join("mnt/x")).unwrap();
    std::fs::create_dir_all(rootfs.join("mnt/plain")).unwrap();
    std::os::unix::fs::symlink("/mnt/plain", rootfs.join("mnt/x/ro")).unwrap();
    std::os::unix::fs::symlink("/dev/shm", rootfs.join("mnt/x/alt")).unwrap();
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/mnt/x/ro", "type": "bind", "source": source, "options": ["bind", "ro", "nosuid", "nodev", "noexec"]}));
    b.write_config();
    let x = CString::new(rootfs.join("mnt/x/ro").as_os_str().as_bytes()).unwrap();
    let y = CString::new(rootfs.join("mnt/x/alt").as_os_str().as_bytes()).unwrap();
    let stop = AtomicBool::new(false);
    let mut writable = 0;
    let mut made = 0;
    std::thread::scope(|s| {
        s.spawn(|| {
            pin_to_cpu(1);
            while !stop.load(Ordering::Relaxed) {
                rename_exchange(&x, &y);
            }
        });
        // berth (and so the init) runs on one CPU, the swapper on the
        // other: on a busy two-core machine they would otherwise take
        // turns, and the directory would rarely change inside the window.
        pin_to_cpu(0);
        for _ in 0..60 {
            let out = b.berth_raw(&["create", &b.id]);
            if out.status.success() {
                made += 1;
                let pid = b.state()["pid"].as_i64().unwrap();
                let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
                let ours = info.lines().filter(|l| {
                    l.split(' ')
                        .nth(3)
                        .is_some_and(|r| r.ends_with("/volume-swapro-src"))
                });
                let mut found = 0;
                for l in ours {
                    found += 1;
                    let opts = l.split(' ').nth(5).unwrap_or("");
                    if !opts.split(',').any(|o| o == "ro") {
                        writable += 1;
                    }
                }
                assert_eq!(found, 1, "the bind in the init's mounts:\n{info}");
            }
            b.berth_raw(&["delete", "-f", &b.id]);
        }
        stop.store(true, Ordering::Relaxed);
        unpin();
    });
    assert!(made > 0, "no create succeeded under the swapping");
    assert_eq!(
        writable, 0,
        "the read-only bind was writable in {writable} of {made} creates"
    );
}

/// Item 12: an image whose /dev/console is a symlink into /proc. The pty
/// must never be bound over a procfs file: the create fails, naming it.
#[test]
fn image_dev_console_symlink_into_proc_is_refused() {
    let mut b = Bundle::new("consolelink", &["true"]);
    let rootfs = b.private_rootfs();
    std::os::unix::fs::symlink("/proc/sys/kernel/core_pattern", rootfs.join("dev/console"))
        .unwrap();
    // The image's own /dev, not a tmpfs hiding it.
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    b.config["process"]["terminal"] = json!(true);
    let sock = b.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = b.berth(&["create", "--console-socket", sock.to_str().unwrap(), &b.id]);
    let over_proc = if out.status.success() {
        let pid = b.state()["pid"].as_i64().unwrap();
        std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
            .unwrap()
            .lines()
            .filter(|l| l.split(' ').nth(4).is_some_and(|p| p.starts_with("/proc/")))
            .filter(|l| l.contains(" - devpts "))
            .count()
    } else {
        0
    };
    assert_eq!(over_proc, 0, "the pty was bound over a procfs file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "created with a symlinked /dev/console"
    );
    assert!(err.contains("/dev/console"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// Item 12: /proc, /sys or /dev that are symlinks in the image are
/// refused, as runc refuses them, never followed to mount elsewhere.
#[test]
fn symlinked_proc_sys_dev_are_refused() {
    for dir in ["proc", "sys", "dev"] {
        let mut b = Bundle::new(&format!("link-{dir}"), &["true"]);
        let rootfs = b.private_rootfs();
        std::fs::remove_dir(rootfs.join(dir)).unwrap();
        std::fs::create_dir_all(rootfs.join("tmp/elsewhere")).unwrap();
        std::os::unix::fs::symlink("/tmp/elsewhere", rootfs.join(dir)).unwrap();
        let out = b.berth(&["create", &b.id]);
        let followed = if out.status.success() {
            let pid = b.state()["pid"].as_i64().unwrap();
            std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
                .unwrap()
                .lines()
                .filter(|l| {
                    l.split(' ')
                        .nth(4)
                        .is_some_and(|p| p.starts_with("/tmp/elsewhere"))
                })
                .count()
        } else {
            0
        };
        assert_eq!(followed, 0, "/{dir}: a mount followed the symlink");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "/{dir} a symlink: created");
        assert!(
            err.contains(&format!("/{dir}")) && err.contains("symlink"),
            "/{dir}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

/// Item 6, what the fix must keep: a tmpfs that needs something after its
/// mount (propagation, recursive attributes, tmpcopyup) is made detached
/// with its data, given its flags, filled, and attached; a read-only
/// tmpcopyup is filled before it becomes read-only.
#[test]
fn detached_tmpfs_keeps_data_flags_and_propagation() {
    let mut b = Bundle::new(
        "detached",
        &[
            "sh",
            "-c",
            "grep -E ' /(t|etc) ' /proc/self/mountinfo; stat -c %a /t; ls /etc/passwd; touch /etc/x || echo rofs",
        ],
    );
    let mounts = b.config["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs",
        "options": ["nosuid", "nodev", "ro", "rprivate", "rnoexec", "mode=700", "size=1m"]}),
    );
    mounts.push(
        json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs",
        "options": ["tmpcopyup", "ro", "nosuid"]}),
    );
    let (code, out, err) = b.run();
    assert_eq!(code, 0, "{out}{err}");
    let line = |dest: &str| {
        out.lines()
            .find(|l| l.split(' ').nth(4) == Some(dest))
            .unwrap_or_else(|| panic!("{dest} not mounted: {out}"))
            .to_string()
    };
    let t = line("/t");
    let opts: Vec<&str> = t.split(' ').nth(5).unwrap().split(',').collect();
    for o in ["ro", "nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&o), "/t lacks {o}: {t}");
    }
    assert!(
        !t.contains("shared:") && !t.contains("master:"),
        "/t is private: {t}"
    );
    let etc = line("/etc");
    assert!(etc.split(' ').nth(5).unwrap().starts_with("ro,"), "{etc}");
    assert!(
        out.contains("\n700\n/etc/passwd\n"),
        "mode=700 and the copy: {out}"
    );
    assert!(out.contains("rofs"), "/etc read-only after the copy: {out}");
}

/// Detaches the test's own mount when dropped, even after a failure.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Item 4, found on the way: `delete` of a container without a mount
/// namespace detached the mount at its rootfs path, following symlinks. Its
/// process shares the host's mounts and, out of its chroot, can put a
/// symlink there (the test does it for it): delete then detached whatever
/// host mount the link named.
#[test]
fn delete_never_unmounts_through_a_planted_symlink() {
    let mut b = Bundle::new("nomnt-umount", &["sleep", "100"]);
    let rootfs = b.private_rootfs();
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}]);
    b.config["hostname"] = json!(null);
    b.config["mounts"] = json!([]);
    b.config["linux"]["maskedPaths"] = json!([]);
    b.config["linux"]["readonlyPaths"] = json!([]);
    b.config["root"]["readonly"] = json!(false);
    let victim = b.dir.join("host-mount");
    std::fs::create_dir_all(&victim).unwrap();
    let mounted = |p: &Path| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == p.to_str())
    };
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "berth-victim"])
        .arg(&victim)
        .status()
        .unwrap();
    assert!(st.success(), "mount a tmpfs for the test");
    let _unmount = Unmount(victim.clone());
    b.ok(&["run", "-d", &b.id]);
    // (berth as found had the rootfs mounted here on the host: EBUSY.)
    std::fs::rename(&rootfs, b.dir.join("rootfs.moved")).expect("move the rootfs away");
    std::os::unix::fs::symlink(&victim, &rootfs).unwrap();
    let out = b.berth_raw(&["delete", "-f", &b.id]);
    assert!(
        mounted(&victim),
        "delete detached the host mount a symlink named"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Item 6's class, for masks: a container sharing the rootfs swaps the
/// `proc` directory, once procfs is mounted on it, for a plain directory
/// (RENAME_EXCHANGE; the mount moves with its directory). Masks resolved
/// by path then go to the plain directory and the real procfs, mounted at
/// the other name, stays unmasked. 40 creates, none may leave it so.
#[test]
fn masks_follow_the_procfs_berth_mounted() {
    // A file of the default maskedPaths that this kernel has (it may lack
    // /proc/kcore).
    let masked = ["timer_list", "keys", "sched_debug", "kcore"]
        .into_iter()
        .find(|f| Path::new("/proc").join(f).exists())
        .expect("a masked /proc file on this host");
    let mut b = Bundle::new("swapproc", &["true"]);
    let rootfs = b.private_rootfs();
    std::fs::create_dir_all(rootfs.join("fakeproc")).unwrap();
    b.write_config();
    let x = CString::new(rootfs.join("proc").as_os_str().as_bytes()).unwrap();
    let y = CString::new(rootfs.join("fakeproc").as_os_str().as_bytes()).unwrap();
    let stop = AtomicBool::new(false);
    let (mut unmasked, mut made) = (Vec::new(), 0);
    std::thread::scope(|s| {
        s.spawn(|| {
            pin_to_cpu(1);
            while !stop.load(Ordering::Relaxed) {
                rename_exchange(&x, &y);
            }
        });
        pin_to_cpu(0);
        for _ in 0..40 {
            let out = b.berth_raw(&["create", &b.id]);
            if out.status.success() {
                made += 1;
                let pid = b.state()["pid"].as_i64().unwrap();
                let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
                // By mount ids: the swapper still renames while this reads.
                let fields: Vec<Vec<&str>> = info.lines().map(|l| l.split(' ').collect()).collect();
                let suffix = format!("/{masked}");
                // Whole procfs mounts (root "/"), not the read-only binds
                // of its directories.
                for f in fields.iter().filter(|f| f.len() > 9 && f[3] == "/") {
                    if f.iter().skip_while(|w| **w != "-").nth(1) != Some(&"proc") {
                        continue;
                    }
                    let covered = fields
                        .iter()
                        .any(|g| g[1] == f[0] && g[4].ends_with(&suffix));
                    if !covered {
                        unmasked.push(format!("procfs at {} without {masked} masked", f[4]));
                    }
                }
            }
            b.berth_raw(&["delete", "-f", &b.id]);
        }
        stop.store(true, Ordering::Relaxed);
        unpin();
    });
    assert!(made > 0, "no create succeeded under the swapping");
    assert_eq!(unmasked, Vec::<String>::new(), "in {made} creates");
}
