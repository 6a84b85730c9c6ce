//! Test harness: real containers from real bundles. Each `Bundle` gets its
//! own state root, bundle directory and cgroup path; dropping it deletes
//! the container and checks that nothing of it is left behind.

#![allow(dead_code)] // each test binary uses a different part of the harness

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

pub mod host;

pub const BERTH: &str = env!("CARGO_BIN_EXE_berth");

/// The shared busybox rootfs, built once per test run.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rootfs");
        mkrootfs(&dir);
        dir
    })
}

/// Builds a busybox rootfs in `dir` with hack/mkrootfs.sh.
fn mkrootfs(dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/mkrootfs.sh");
    let st = Command::new(script)
        .arg(dir)
        .status()
        .expect("run hack/mkrootfs.sh");
    assert!(st.success(), "hack/mkrootfs.sh failed");
}

/// A unique container id for this test.
pub fn unique_id(name: &str) -> String {
    format!("berth-test-{name}-{}", std::process::id())
}

pub struct Bundle {
    pub id: String,
    pub dir: PathBuf,
    pub root: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// A bundle running `args` with berth's default config, minus the pty,
    /// with a writable root and its cgroup named after the container.
    pub fn new(name: &str, args: &[&str]) -> Bundle {
        let id = unique_id(name);
        let base = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("bundles")
            .join(&id);
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let out = Command::new(BERTH)
            .args(["spec", "-b"])
            .arg(&base)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "berth spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config: Value =
            serde_json::from_slice(&std::fs::read(base.join("config.json")).unwrap()).unwrap();
        config["root"] = json!({"path": rootfs(), "readonly": true});
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["linux"]["cgroupsPath"] = json!(format!("/berth-tests/{id}"));
        Bundle {
            id,
            root: base.join("state"),
            dir: base,
            config,
        }
    }

    /// Writes config.json atomically: a berth started earlier may be
    /// reading it while the test runs another command, or another thread
    /// writes it too.
    pub fn write_config(&self) {
        let tmp = self.dir.join(format!(".config.json.{}.tmp", sequence()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
        std::fs::rename(&tmp, self.dir.join("config.json")).unwrap();
    }

    /// Runs berth with this bundle's state root, after writing its config.
    pub fn berth(&self, args: &[&str]) -> Output {
        self.berth_env(&[], args)
    }

    /// `berth` with extra environment variables.
    pub fn berth_env(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        self.write_config();
        self.command(env, args)
    }

    /// berth with this bundle's state root, leaving config.json as it is
    /// (a test that damaged or moved it).
    pub fn berth_raw(&self, args: &[&str]) -> Output {
        self.command(&[], args)
    }

    /// Output goes through files, not pipes: a created container keeps
    /// berth's stdio as its own, so a pipe would not close until the
    /// container exits. The files are per call: threads may share a bundle.
    fn command(&self, env: &[(&str, &str)], args: &[&str]) -> Output {
        let n = sequence();
        let out_path = self.dir.join(format!(".berth.{n}.out"));
        let err_path = self.dir.join(format!(".berth.{n}.err"));
        let status = Command::new(BERTH)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .status()
            .expect("run berth");
        let out = Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(out_path);
        let _ = std::fs::remove_file(err_path);
        out
    }

    /// berth in the background, with this bundle's state root; its output
    /// goes to NAME.out and NAME.err in the bundle.
    pub fn spawn(&self, name: &str, args: &[&str]) -> std::process::Child {
        let file = |ext: &str| std::fs::File::create(self.dir.join(format!("{name}.{ext}")));
        Command::new(BERTH)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .stdout(file("out").unwrap())
            .stderr(file("err").unwrap())
            .spawn()
            .expect("run berth")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({:?}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the container in the foreground; returns (exit code, stdout, stderr).
    pub fn run(&self) -> (i32, String, String) {
        let out = self.berth(&["run", &self.id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a shell script in the container and returns its stdout, asserting success.
    pub fn sh(name: &str, script: &str) -> String {
        let b = Bundle::new(name, &["sh", "-c", script]);
        let (code, out, err) = b.run();
        assert_eq!(code, 0, "script {script:?} failed: {out}{err}");
        out
    }

    /// Gives this bundle a rootfs of its own (for tests that change it, or
    /// whose mounts are visible to others) and returns its path.
    pub fn private_rootfs(&mut self) -> PathBuf {
        let dir = self.dir.join("rootfs");
        mkrootfs(&dir);
        self.config["root"]["path"] = json!(dir);
        dir
    }

    pub fn state(&self) -> Value {
        serde_json::from_str(&self.ok(&["state", &self.id])).expect("state JSON")
    }

    /// The container's cgroup directories: one per v1 hierarchy, or the
    /// one of a unified (cgroup v2) host.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let rel = format!("berth-tests/{}", self.id);
        if host::unified() {
            return vec![Path::new("/sys/fs/cgroup").join(rel)];
        }
        [
            "memory", "pids", "cpu", "devices", "freezer", "blkio", "cpuset", "cpuacct",
        ]
        .iter()
        .map(|c| Path::new("/sys/fs/cgroup").join(c).join(&rel))
        .collect()
    }
}

impl Bundle {
    /// The cgroup whose freezer pause uses: v1's freezer hierarchy, or the
    /// one cgroup of a unified host.
    fn freezer_dir(&self) -> PathBuf {
        self.cgroup_dirs()
            .into_iter()
            .find(|d| host::unified() || d.starts_with("/sys/fs/cgroup/freezer"))
            .expect("a freezer cgroup")
    }

    /// The container cgroup's freezer state, FROZEN or THAWED: v1's
    /// freezer.state (FREEZING counts as not yet frozen), or a unified
    /// host's `frozen` line of cgroup.events.
    pub fn freezer_state(&self) -> String {
        let dir = self.freezer_dir();
        if host::unified() {
            let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap();
            let frozen = events.lines().any(|l| l == "frozen 1");
            return if frozen { "FROZEN" } else { "THAWED" }.into();
        }
        let state = std::fs::read_to_string(dir.join("freezer.state")).unwrap();
        if state.trim() == "FROZEN" {
            "FROZEN".into()
        } else {
            "THAWED".into()
        }
    }

    /// Freezes or thaws the container's cgroup behind berth's back (v1
    /// freezer.state or v2 cgroup.freeze) and waits until the kernel has.
    pub fn set_frozen(&self, frozen: bool) {
        let dir = self.freezer_dir();
        let (file, value) = match (host::unified(), frozen) {
            (true, f) => ("cgroup.freeze", if f { "1" } else { "0" }),
            (false, true) => ("freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED"),
        };
        std::fs::write(dir.join(file), value).unwrap();
        let want = if frozen { "FROZEN" } else { "THAWED" };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.freezer_state() != want {
            assert!(
                std::time::Instant::now() < deadline,
                "freezer did not reach {want}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = Command::new(BERTH)
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "-f", &self.id])
            .output();
        let leaks = leaks_of(self);
        let _ = std::fs::remove_dir_all(&self.dir);
        if !std::thread::panicking() {
            assert!(
                leaks.is_empty(),
                "container {} left behind: {leaks:?}",
                self.id
            );
        }
    }
}

/// A number unique in this test process, for file names.
fn sequence() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// What a deleted container must not leave: its state dir (and the exec
/// fifo in it), cgroups, mounts and processes.
pub fn leaks_of(b: &Bundle) -> Vec<String> {
    let mut leaks = Vec::new();
    if b.root.join(&b.id).exists() {
        leaks.push(format!("state dir {}", b.root.join(&b.id).display()));
    }
    for d in b.cgroup_dirs() {
        if d.exists() {
            leaks.push(format!("cgroup {}", d.display()));
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mountinfo.contains(&b.id) {
        leaks.push("a mount".into());
    }
    leaks.extend(processes_of(b).into_iter().map(|p| format!("process {p}")));
    leaks
}

/// Live processes of the container: in its cgroup, or with its id as an
/// argument (a runtime, or an init that has not executed the container's
/// program yet). Zombies are dead already; their parent reaps them.
fn processes_of(b: &Bundle) -> Vec<String> {
    let cgroup = format!("/berth-tests/{}", b.id);
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        let dir = entry.path();
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        if stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
        {
            continue;
        }
        let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
        let by_arg = cmdline.split(|&c| c == 0).any(|a| a == b.id.as_bytes());
        let by_cgroup = std::fs::read_to_string(dir.join("cgroup"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.ends_with(&cgroup) || l.contains(&format!("{cgroup}/")));
        if by_arg || by_cgroup {
            let args = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push(format!("{pid} ({})", args.trim()));
        }
    }
    found
}

/// The flocks on `path` in /proc/locks: each holder's or waiter's pid, and
/// whether it waits.
pub fn flocks_on(path: &Path) -> Vec<(u32, bool)> {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return Vec::new();
    };
    // /proc/locks names the file as MAJOR:MINOR:INODE, the device in hex.
    let key = format!(
        "{:02x}:{:02x}:{} ",
        libc::major(m.dev()),
        libc::minor(m.dev()),
        m.ino()
    );
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&key))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().filter(|w| *w != "->").collect();
            (f[4].parse().unwrap(), l.contains("->"))
        })
        .collect()
}

/// Receives one message with a descriptor (SCM_RIGHTS) on a unix socket;
/// returns the message bytes and the descriptor.
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> (Vec<u8>, std::os::fd::OwnedFd) {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::{AsRawFd, FromRawFd, RawFd};
    let mut buf = vec![0u8; 8192];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::empty(),
    )
    .unwrap();
    let n = msg.bytes;
    let mut fd = None;
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the fd was just received for us.
            fd = Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    buf.truncate(n);
    (buf, fd.expect("a descriptor on the socket"))
}

/// A test whose subject this host lacks says so: one line on stderr and,
/// under hack/test (which sets BERTH_SKIP_LOG), one line in the skip log
/// that the suite's summary counts. The caller returns after asserting
/// what holds without the feature (berth's error naming the field), so a
/// skip never means "nothing was checked".
pub fn skip(test: &str, why: &str) {
    eprintln!("skipped {test}: {why}");
    if let Some(log) = std::env::var_os("BERTH_SKIP_LOG") {
        use std::io::Write;
        let line = format!("{test}: {why}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}
