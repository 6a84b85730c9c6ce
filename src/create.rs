//! The runtime side of `create` (and of `run`): validate the bundle, make
//! the state directory and cgroup, clone the init into its namespaces,
//! answer its requests (id maps, cgroup placement) until it reports ready,
//! then record the state. Any failure removes everything made so far.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::fcntl::Flock;
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use crate::cgroups::Cgroup;
use crate::cgroups::systemd::Scope;
use crate::cli::CreateArgs;
use crate::error::{Error, PathContext, Result};
use crate::fault::point;
use crate::init::{self, InitArgs, StartBy};
use crate::namespaces;
use crate::state::{ContainerDir, Recovery, State};
use crate::sync::{self, Msg};
use crate::{clone, config, pidstat};

/// A created container, still locked by this process.
pub struct Created {
    /// Holds the container's lock until this value is dropped.
    pub dir: ContainerDir,
    pub state: State,
    /// The sync channel, kept when the init waits for `Msg::Start` on it.
    pub channel: Option<sync::Channel>,
    /// Our end of a console socket berth itself made (foreground `run`).
    pub console: Option<UnixStream>,
}

/// Undoes a half-made container when dropped, unless disarmed.
struct Cleanup<'a> {
    dir: Option<&'a ContainerDir>,
    cgroup: Option<Cgroup>,
    child: Option<i32>,
    /// Once the create-phase hooks have begun: the poststop hooks and the
    /// state they get. A hook's failure stops the container and continues
    /// the lifecycle at its destruction, then poststop (runtime.md steps
    /// 3 to 5, 12, 13).
    poststop: Option<(Vec<oci_spec::runtime::Hook>, String)>,
    /// The cgroup's lock (`Cgroup::claim`), released only after `drop`
    /// has destroyed the cgroup, or once create is done.
    _cgroup_lock: Option<Flock<File>>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.child {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(&dir.path);
        }
        if let Some((hooks, state)) = &self.poststop {
            crate::hooks::run_warn("poststop", hooks, state);
        }
    }
}

pub fn create(
    root: &Path,
    args: &CreateArgs,
    start_by: StartBy,
    own_console: bool,
    systemd_cgroup: bool,
) -> Result<Created> {
    let bundle = match &args.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().map_err(|e| Error::path("get", "current directory", e))?,
    };
    let bundle = bundle.canonicalize().at("open bundle", &bundle)?;
    let mut spec = config::load(&bundle)?;
    config::validate(&spec)?;
    let exec_record = crate::exec_record::Record::new(&spec);
    let rootfs = config::rootfs(&spec, &bundle)?;
    // state.json, and the state hooks and the seccomp listener get, are
    // JSON: a path that is not UTF-8 could not be recorded.
    for (field, path) in [("bundle", &bundle), ("root.path", &rootfs)] {
        if path.to_str().is_none() {
            return Err(Error::config(
                field,
                format!("{} is not valid UTF-8", path.display()),
            ));
        }
    }
    if spec.process().is_none() && start_by == StartBy::Channel {
        return Err(Error::config("process", "is required to run a container"));
    }
    point("config")?;
    let terminal = spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let console = console_socket(args, terminal, own_console)?;

    let dir = ContainerDir::create(root, &args.id)?;
    let mut cleanup = Cleanup {
        dir: Some(&dir),
        cgroup: None,
        child: None,
        poststop: None,
        _cgroup_lock: None,
    };
    point("state dir")?;
    crate::notify::prepare(&mut spec, &dir.path)?;
    let preserve_fds = args.preserve_fds + crate::activation::apply(&mut spec)?;
    let plan = namespaces::plan(&spec);
    refuse_reachable_root(&spec, args.no_pivot)?;
    let joins = namespaces::open_joins(&plan, &spec)?;
    let idmap_trees = crate::idmap::prepare(&spec, &bundle)?;
    let seccomp_spec = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let seccomp = seccomp_spec
        .map(|s| crate::seccomp::compile_cached(s, root))
        .transpose()?;
    let cgroups_path = spec.linux().as_ref().and_then(|l| l.cgroups_path().clone());
    let scope = systemd_cgroup
        .then(|| Scope::connect(cgroups_path.as_deref(), &args.id))
        .transpose()?;
    let (mut cgroup, lock) = match scope {
        // Its directory is known once systemd has moved the init there; the
        // init already needs the hierarchy's kind (its cgroup mount).
        Some(_) => (
            Cgroup {
                unified: true,
                ..Cgroup::default()
            },
            None,
        ),
        None => place_in_cgroup(
            &cgroups_path.unwrap_or_else(|| PathBuf::from(&args.id)),
            &dir,
        )?,
    };
    cleanup.cgroup = Some(cgroup.clone());
    // Held until this create is done: by then the init is in the cgroup,
    // and another create naming it sees it in use.
    cleanup._cgroup_lock = lock;
    if let Some(owner) = crate::cgroups::delegation_owner(&spec) {
        cgroup.delegate(owner)?;
    }
    if let Some(s) = spec.process().as_ref().and_then(|p| p.scheduler().as_ref()) {
        let configured = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.cpu().as_ref())
            .and_then(|c| c.realtime_runtime());
        crate::process::scheduling::check_realtime_runtime(s, &cgroup, configured)?;
    }
    point("cgroup")?;

    let fifo = match start_by {
        StartBy::Fifo => Some(make_fifo(&dir.fifo())?),
        StartBy::Channel => None,
    };
    let (ours, theirs) = sync::pair()?;
    let cgroup_fd = cgroup.dir_fd();
    let cgroup_join = clone::CgroupJoin::open(&cgroup)?;
    let mut view_gate = crate::sealed_exe::Gate::new()?;
    let resources = spec.linux().as_ref().and_then(|l| l.resources().as_ref());
    // The limits are written while the init mounts, which it does before
    // it makes device nodes (it waits for a second Go then): their cost
    // overlaps with that work. When the init asks for id maps or reports a
    // forked pid, which want a prompt answer, they are written first.
    let init_asks = plan.fork_init || (plan.clone_flags.is_empty() && plan.new_user);
    let overlap = resources.is_some() && !init_asks;
    let pid = clone::fork(plan.clone_flags, cgroup_fd.as_ref().map(|f| f.as_raw_fd()))?;
    if pid == 0 {
        drop(ours);
        init::run(InitArgs {
            spec: &spec,
            bundle: &bundle,
            rootfs: &rootfs,
            id: &args.id,
            plan: &plan,
            joins,
            channel: theirs,
            start_by,
            fifo,
            console: console.as_ref().map(|(theirs, _)| theirs),
            cgroup: &cgroup,
            cgroup_join,
            await_resources: overlap,
            idmap_trees,
            seccomp: seccomp.as_ref(),
            no_pivot: args.no_pivot,
            no_new_keyring: args.no_new_keyring,
            preserve_fds,
        });
    }
    cleanup.child = Some(pid);
    drop(theirs);
    drop(fifo);
    drop(cgroup_join);
    view_gate.forked();
    point("cloned")?;
    let maps = namespaces::id_maps(&spec);
    // On v1 the init joins its cgroups itself (clone::CgroupJoin), on v2
    // clone3 placed it; systemd moves it into the scope.
    if let Some(scope) = &scope {
        cgroup = scope.add(pid)?;
        cleanup.cgroup = Some(cgroup.clone());
        if let Some(owner) = crate::cgroups::delegation_owner(&spec) {
            cgroup.delegate(owner)?;
        }
    }
    if plan.new_user && !plan.clone_flags.is_empty() {
        namespaces::write_id_maps(pid, maps.0, maps.1)?;
    }
    if let Some(res) = resources.filter(|_| !overlap) {
        crate::cgroups::apply(&cgroup, res, false)?;
    }
    ours.send(&Msg::Go)?;
    if let Some(res) = resources.filter(|_| overlap) {
        crate::cgroups::apply(&cgroup, res, false)?;
        // Refused only when the init is gone (it failed while mounting):
        // what it said comes next from the socket.
        let _ = ours.send(&Msg::Go);
    }
    if let Some(scope) = &scope {
        scope.set_unit_extras(resources, Some(&args.id))?;
    }
    point("resources")?;
    // The init sets up on its own now: unmount the binary's view, and
    // record what exec needs, meanwhile.
    view_gate.release();
    exec_record.save(&dir, seccomp.as_ref())?;
    let mut init_pid = pid;
    loop {
        match ours.recv()? {
            Some(Msg::MapIds) => {
                namespaces::write_id_maps(pid, maps.0, maps.1)?;
                ours.send(&Msg::Go)?;
            }
            Some(Msg::Pid(p)) => {
                // The first child forked the init as our child and exits.
                let _ = waitpid(Pid::from_raw(pid), None);
                init_pid = p;
                cleanup.child = Some(p);
                ours.send(&Msg::Go)?;
            }
            Some(Msg::SeccompFd) => {
                let fd = crate::console::recv_fd(&ours)?;
                let state = state_doc(&spec, &args.id, init_pid, &bundle, "creating");
                let s = seccomp_spec
                    .ok_or_else(|| Error::State("a seccomp fd without a seccomp profile".into()))?;
                crate::seccomp::send_to_listener(
                    s.listener_path().as_deref(),
                    s.listener_metadata().as_deref(),
                    state,
                    init_pid,
                    fd,
                )?;
            }
            Some(Msg::Hooks) => {
                point("hooks asked")?;
                // The environment is made (lifecycle step 2): the hooks of steps
                // 3-5 see the status the spec gives for "after step 2".
                let state = state_doc(&spec, &args.id, init_pid, &bundle, "created");
                if let Some(stop) = spec.hooks().as_ref().and_then(|h| h.poststop().clone()) {
                    let mut stopped = state.clone();
                    stopped["status"] = "stopped".into();
                    stopped["pid"] = 0.into();
                    cleanup.poststop = Some((stop, stopped.to_string()));
                }
                let state = state.to_string();
                if let Some(h) = spec.hooks() {
                    crate::hooks::run(
                        "prestart",
                        h.prestart().as_deref().unwrap_or_default(),
                        &state,
                        None,
                    )?;
                    crate::hooks::run(
                        "createRuntime",
                        h.create_runtime().as_deref().unwrap_or_default(),
                        &state,
                        None,
                    )?;
                }
                point("runtime hooks")?;
                ours.send(&Msg::HookState(state))?;
            }
            Some(Msg::Ready) => break,
            Some(Msg::Fail(s)) => {
                crate::fault::init_failed(&s);
                return Err(Error::Init(s));
            }
            Some(m) => {
                return Err(Error::State(format!(
                    "unexpected {m:?} from the init process"
                )));
            }
            None => return Err(died_in_setup(&spec, &cgroup)),
        }
    }
    crate::netdev::move_all(&spec, init_pid)?;
    let start_time = pidstat::read(init_pid)
        .ok_or_else(|| died_in_setup(&spec, &cgroup))?
        .start_time;
    // From here on the init outlives a killed runtime: a parent's death
    // no longer kills it, and it no longer reads the sync socket. Until
    // state.json is written, `delete -f` finds it through the recovery
    // lines: in its cgroup, which delete empties, or (without a cgroup) by
    // the pid written now, an extra write every container would pay.
    if cgroup.dirs.is_empty() {
        Recovery::save(&dir, init_pid, start_time, &cgroup)?;
    }
    point("ready")?;
    let mut state = State::new(
        &args.id,
        (init_pid, start_time),
        &bundle,
        rootfs,
        &spec,
        cgroup.clone(),
    );
    state.host_mounts = !init::has_mount_ns(&spec);
    state.save(&dir)?;
    point("state saved")?;
    if let Some(p) = &args.pid_file {
        write_pid_file(p, init_pid)?;
    }
    if let Some(p) = &args.pidfd_socket {
        crate::pidfd_socket::send(p, init_pid)?;
    }
    cleanup.dir = None;
    cleanup.cgroup = None;
    cleanup.child = None;
    cleanup.poststop = None;
    drop(cleanup);
    Ok(Created {
        dir,
        state,
        channel: (start_by == StartBy::Channel).then_some(ours),
        console: console.and_then(|(_, ours)| ours),
    })
}

/// A joined pid namespace holds processes that are not the container's:
/// any of them with CAP_SYS_PTRACE walks `/proc/PID/root/..` of the
/// container's processes. Only pivot_root into a mount namespace of the
/// container's own leaves nothing above that root; a chroot (--no-pivot,
/// or no mount namespace) keeps the host's root beneath it.
fn refuse_reachable_root(spec: &Spec, no_pivot: bool) -> Result<()> {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_deref())
        .unwrap_or_default();
    let joined_pid = namespaces.iter().position(|n| {
        n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid && n.path().is_some()
    });
    match joined_pid {
        Some(i) if no_pivot || !init::has_mount_ns(spec) => Err(Error::config(
            format!("linux.namespaces[{i}].path"),
            format!(
                "joining a pid namespace needs pivot_root into a mount namespace ({}): \
                 its other processes would reach the host's root through /proc/PID/root/..",
                if no_pivot {
                    "--no-pivot was given"
                } else {
                    "the config has none"
                }
            ),
        )),
        _ => Ok(()),
    }
}

/// The init died while being set up, without a report. Killed by the OOM
/// killer in its cgroup, it met a memory limit too low for it to start:
/// that names the field.
fn died_in_setup(spec: &Spec, cgroup: &Cgroup) -> Error {
    let limit = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit());
    match limit {
        Some(l) if crate::cgroups::oom_kills(cgroup) > 0 => Error::config(
            "linux.resources.memory.limit",
            format!("{l}: too low for the container to start (its init was killed by the OOM killer while being set up)"),
        ),
        _ => Error::Init("the init process exited during setup".into()),
    }
}

/// The container's cgroup, made and locked (`Cgroup::claim`), with its
/// lock. A user the cgroups are not delegated to (rootless) runs without
/// one, after a single warning; for root a cgroup that cannot be made is
/// an error.
fn place_in_cgroup(path: &Path, dir: &ContainerDir) -> Result<(Cgroup, Option<Flock<File>>)> {
    let cgroup = Cgroup::locate(path)?;
    // Already in use: refused before the recovery lines name it, so a
    // `delete -f` of this failed create can never reach it.
    cgroup.check_unused()?;
    // Before any directory exists: `delete -f` after a killed create then
    // finds every one of them.
    Recovery::save(dir, 0, 0, &cgroup)?;
    let lock = match cgroup.claim() {
        Ok(lock) => lock,
        Err(Error::Path { err, .. })
            if !nix::unistd::geteuid().is_root()
                && err.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            let _ = cgroup.destroy();
            crate::logging::warn(&format!(
                "cgroups are not delegated to this user ({err}): the container runs without one"
            ));
            return Ok((Cgroup::default(), None));
        }
        Err(e) => {
            let _ = cgroup.destroy();
            return Err(e);
        }
    };
    // Checked again under the lock: a create that passed the first check
    // at the same time has its init in the cgroup by now. A cgroup in use
    // is another's: left as it is.
    cgroup.check_unclaimed()?;
    Ok((cgroup, lock))
}

/// The state document before state.json exists (for the seccomp listener
/// and the create-phase hooks).
fn state_doc(spec: &Spec, id: &str, pid: i32, bundle: &Path, status: &str) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": crate::version::SPEC,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": spec.annotations().clone().unwrap_or_default(),
    })
}

/// The socket the init sends the pty master to: the engine's, or (for a
/// foreground `run` without one) a pair whose other end berth keeps.
fn console_socket(
    args: &CreateArgs,
    terminal: bool,
    own: bool,
) -> Result<Option<(UnixStream, Option<UnixStream>)>> {
    match (&args.console_socket, terminal) {
        (Some(p), true) => Ok(Some((crate::console::connect(p)?, None))),
        (Some(_), false) => Err(Error::config(
            "process.terminal",
            "is false, so --console-socket cannot be used (no pty is allocated)",
        )),
        (None, true) if own => {
            let (a, b) =
                UnixStream::pair().map_err(|e| Error::path("create", "console socket pair", e))?;
            Ok(Some((a, Some(b))))
        }
        (None, true) => Err(Error::config(
            "process.terminal",
            "is true, so --console-socket is required",
        )),
        (None, false) => Ok(None),
    }
}

/// The exec fifo `start` writes to. The init holds it open read-write, so
/// `start`'s non-blocking open succeeds exactly while the init is alive.
fn make_fifo(path: &Path) -> Result<OwnedFd> {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600))
        .map_err(|e| Error::sys(format!("mkfifo {}", path.display()), e))?;
    let f = File::options()
        .read(true)
        .write(true)
        .open(path)
        .at("open", path)?;
    Ok(f.into())
}

/// Writes the pid file atomically (engines poll for it), never through a
/// symlink planted beside it.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    crate::hostfile::replace(path, pid.to_string().as_bytes())
        .map_err(|e| e.within("--pid-file"))
}
