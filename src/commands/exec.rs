use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, bail};
use oci_spec::runtime::Process;
use serde_json::{Value, json};

use crate::cli::ExecArgs;
use crate::create::write_pid_file;
use crate::exec::{Request, spawn};
use crate::state::{ContainerDir, State, Status};

pub fn run(root: &Path, args: &ExecArgs) -> anyhow::Result<i32> {
    let id = &args.id;
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    match state.status(&dir) {
        Status::Stopped => bail!("cannot exec in container {id}: it is stopped"),
        // The new process would join the frozen cgroup and freeze with it.
        Status::Paused if !args.ignore_paused => {
            bail!("cannot exec in container {id}: it is paused (--ignore-paused execs anyway)")
        }
        _ => {}
    }
    // What create recorded, never the bundle (see exec_record).
    let record = crate::exec_record::Record::load(&dir)?;
    let process = build_process(record.process.as_ref(), args)?;
    crate::lsm::validate_process(&process)?;
    if let Some(s) = process.scheduler() {
        crate::process::scheduling::check_realtime_runtime(s, &state.cgroup, None)?;
    }
    crate::logging::phase("config");
    let pidfd = crate::signal::open_init(&state)?
        .with_context(|| format!("container {id} is not running"))?;
    let sub_cgroup = match args.cgroup.as_slice() {
        [] => None,
        specs => Some(state.cgroup.sub(specs)?),
    };
    let terminal = process.terminal().unwrap_or(false);
    let (console, own_console) = match (&args.console_socket, terminal) {
        (Some(p), true) => (Some(crate::console::connect(p)?), None),
        (Some(_), false) => bail!("--console-socket needs a terminal (-t)"),
        (None, true) if !args.detach => {
            let (a, b) = UnixStream::pair().context("console socket pair")?;
            (Some(a), Some(b))
        }
        (None, true) => bail!("a detached exec with a terminal needs --console-socket"),
        (None, false) => (None, None),
    };
    let sfd = if args.detach {
        None
    } else {
        Some(crate::supervise::block_signals()?)
    };
    let request = Request {
        state: &state,
        record: &record,
        process: &process,
        init_pidfd: &pidfd,
        console: console.as_ref(),
        preserve_fds: args.preserve_fds,
        sub_cgroup,
    };
    // spawn releases the container's lock before the process exists.
    let (pid, channel, view_gate) =
        spawn(&request, dir).with_context(|| format!("exec in container {id}"))?;
    crate::logging::phase("ready");
    if let Some(p) = &args.pid_file {
        write_pid_file(p, pid)?;
    }
    if let Some(p) = &args.pidfd_socket {
        crate::pidfd_socket::send(p, pid)?;
    }
    let master = match &own_console {
        Some(sock) => Some(crate::console::recv_master(sock)?),
        None => None,
    };
    channel
        .start()
        .with_context(|| format!("exec in container {id}"))?;
    // The process runs: unmount berth's view while nothing waits on us.
    view_gate.release();
    match sfd {
        Some(sfd) => crate::supervise::supervise(pid, &sfd, master, None),
        None => Ok(0),
    }
}

/// The process to run: the --process file, or the container's own process
/// with the command and the flags applied.
fn build_process(base: Option<&Process>, args: &ExecArgs) -> anyhow::Result<Process> {
    let mut p: Value = match &args.process {
        Some(file) => {
            let bytes = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("parse {}", file.display()))?
        }
        None => {
            if args.command.is_empty() {
                bail!("exec needs a command to run (or --process FILE)");
            }
            let mut base =
                serde_json::to_value(base.context("the container's config has no process")?)?;
            base["args"] = json!(args.command);
            // A new process does not inherit the init's pty or its size.
            base["terminal"] = json!(false);
            if let Some(o) = base.as_object_mut() {
                o.remove("consoleSize");
            }
            base
        }
    };
    if args.tty {
        p["terminal"] = json!(true);
    }
    if let Some(cwd) = &args.cwd {
        p["cwd"] = json!(cwd);
    }
    if !args.env.is_empty() {
        let mut env: Vec<String> = serde_json::from_value(p["env"].take()).unwrap_or_default();
        for kv in &args.env {
            let key = kv.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        p["env"] = json!(env);
    }
    if let Some(u) = &args.user {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let parse = |s: &str| {
            s.parse::<u32>()
                .with_context(|| format!("--user {u}: {s:?} is not a numeric id"))
        };
        p["user"]["uid"] = json!(parse(uid)?);
        p["user"]["gid"] = json!(parse(gid)?);
    }
    if !args.additional_gids.is_empty() {
        p["user"]["additionalGids"] = json!(args.additional_gids);
    }
    for cap in &args.cap {
        for set in ["bounding", "effective", "permitted", "ambient"] {
            let list = &mut p["capabilities"][set];
            if !list.is_array() {
                *list = json!([]);
            }
            if let Some(a) = list.as_array_mut() {
                a.push(json!(cap));
            }
        }
    }
    if args.no_new_privs {
        p["noNewPrivileges"] = json!(true);
    }
    if let Some(profile) = &args.apparmor {
        p["apparmorProfile"] = json!(profile);
    }
    if let Some(label) = &args.process_label {
        p["selinuxLabel"] = json!(label);
    }
    // From bytes, as config.json is read: one instance of the (large)
    // deserializer serves both.
    crate::process::scheduling::spec_flag_names(&mut p);
    let text = p.to_string();
    crate::config::refuse_nul(text.as_bytes(), "process")?;
    let process: Process =
        crate::jsonpath::parse(text.as_bytes()).map_err(|(path, e)| match path.as_str() {
            "." => anyhow::anyhow!("process: {e}"),
            _ => anyhow::anyhow!("process.{path}: {e}"),
        })?;
    crate::config::validate_process(&process)?;
    Ok(process)
}
