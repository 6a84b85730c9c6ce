//! Load: many lifecycles side by side, fifty containers handled together,
//! commands racing on one id, and `list` while containers come and go.
//! Every command must succeed or fail with one of the documented errors,
//! and nothing may be left behind (each Bundle's drop checks its id).
//!
//! This process is the subreaper of the containers' inits, as an engine's
//! shim is: an init outlives its `berth create`, and only its parent can
//! read its exit status (and must reap it).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Barrier, Once};

use common::{Bundle, leaks_of};
use nix::sys::wait::{WaitStatus, waitpid};
use serde_json::{Value, json};

fn subreaper() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| nix::sys::prctl::set_child_subreaper(true).unwrap());
}

/// Reaps an init of ours; its exit code, or 128 + the signal that ended it.
fn reap(pid: i32) -> i32 {
    match waitpid(nix::unistd::Pid::from_raw(pid), None).unwrap() {
        WaitStatus::Exited(_, code) => code,
        WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
        s => panic!("init {pid}: {s:?}"),
    }
}

/// A state root shared by the containers of one test, as an engine's is.
fn shared_root(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("roots")
        .join(common::unique_id(name));
    let _ = std::fs::remove_dir_all(&root);
    root
}

/// A bundle whose container lives in `root`.
fn bundle_in(root: &Path, name: &str, args: &[&str]) -> Bundle {
    let mut b = Bundle::new(name, args);
    b.root = root.to_path_buf();
    b
}

/// Runs `f` on every item, `threads` at a time; the results in order.
fn par<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return done;
                        };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

fn pid_of(b: &Bundle) -> i32 {
    b.state()["pid"].as_i64().unwrap() as i32
}

fn read_pid(path: &str) -> i32 {
    let pid = std::fs::read_to_string(path).unwrap().parse().unwrap();
    std::fs::remove_file(path).unwrap();
    pid
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn two_hundred_lifecycles_eight_at_a_time() {
    subreaper();
    let root = shared_root("lifecycles");
    let workers: Vec<usize> = (0..8).collect();
    par(&workers, 8, |&w| {
        let mut b = bundle_in(&root, &format!("life{w}"), &["true"]);
        for i in 0..25 {
            let code = w * 25 + i;
            b.config["process"]["args"] = json!(["sh", "-c", format!("exit {code}")]);
            b.ok(&["create", &b.id]);
            let pid = pid_of(&b);
            b.ok(&["start", &b.id]);
            assert_eq!(reap(pid), code as i32, "{} run {i}", b.id);
            assert_eq!(b.state()["status"], "stopped");
            b.ok(&["delete", &b.id]);
        }
    });
    let _ = std::fs::remove_dir_all(&root);
}

/// `list` in table and JSON form shows exactly `ids`, all in `status`.
fn assert_listed(b: &Bundle, ids: &BTreeSet<String>, status: &str) {
    let rows: Vec<Value> = serde_json::from_str(&b.ok(&["list", "--format", "json"])).unwrap();
    let listed: BTreeSet<String> = rows
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(&listed, ids);
    assert_eq!(rows.len(), ids.len(), "an id listed twice");
    for r in &rows {
        assert_eq!(r["status"], status, "{r}");
    }
    let table = b.ok(&["list"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID "), "{table}");
    let mut listed = BTreeSet::new();
    for l in lines {
        let cols: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(cols.len(), 6, "{l}");
        assert_eq!(cols[2], status, "{l}");
        listed.insert(cols[0].to_string());
    }
    assert_eq!(&listed, ids);
}

#[test]
fn fifty_containers_together() {
    subreaper();
    let root = shared_root("fifty");
    let n: Vec<usize> = (0..50).collect();
    let all = par(&n, 8, |i| {
        let b = bundle_in(&root, &format!("fifty{i}"), &["sleep", "1000"]);
        b.ok(&["create", &b.id]);
        b.ok(&["start", &b.id]);
        b
    });
    let ids: BTreeSet<String> = all.iter().map(|b| b.id.clone()).collect();
    let pids: Vec<i32> = all.iter().map(pid_of).collect();
    // Listed while other threads ask for each container's state.
    std::thread::scope(|s| {
        for chunk in all.chunks(10) {
            s.spawn(move || {
                for b in chunk {
                    assert_eq!(b.state()["status"], "running", "{}", b.id);
                }
            });
        }
        for _ in 0..3 {
            assert_listed(&all[0], &ids, "running");
        }
    });
    for (verb, status, frozen) in [
        ("pause", "paused", "FROZEN"),
        ("resume", "running", "THAWED"),
    ] {
        par(&all, 50, |b| b.ok(&[verb, &b.id]));
        for b in &all {
            assert_eq!(b.state()["status"], status, "{}", b.id);
            assert_eq!(b.freezer_state(), frozen, "{}", b.id);
        }
        assert_listed(&all[0], &ids, status);
    }
    par(&all, 50, |b| b.ok(&["kill", &b.id, "KILL"]));
    for pid in pids {
        assert_eq!(reap(pid), 128 + 9);
    }
    assert_listed(&all[0], &ids, "stopped");
    par(&all, 50, |b| b.ok(&["delete", &b.id]));
    assert_listed(&all[0], &BTreeSet::new(), "stopped");
    drop(all);
    let _ = std::fs::remove_dir_all(&root);
}

/// Runs two berth commands on the bundle at once.
fn race(b: &Bundle, x: &[&str], y: &[&str]) -> (Output, Output) {
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        let x = s.spawn(|| {
            start.wait();
            b.berth_raw(x)
        });
        let y = s.spawn(|| {
            start.wait();
            b.berth_raw(y)
        });
        (x.join().unwrap(), y.join().unwrap())
    })
}

/// The outcomes the runtime documents for commands racing on one id.
struct Outcomes {
    /// Another command deleted the container first.
    gone: String,
    /// Another create made the container first.
    exists: String,
}

impl Outcomes {
    fn new(id: &str) -> Outcomes {
        Outcomes {
            gone: format!("berth: error: container {id} does not exist"),
            exists: format!("berth: error: create container {id}: container {id} already exists"),
        }
    }

    /// Succeeded, or failed with exactly one of `errors`.
    fn check(&self, what: &str, o: &Output, errors: &[&String]) -> bool {
        let ok = o.status.success();
        assert!(
            ok || errors.iter().any(|e| stderr(o) == **e),
            "{what}: {:?} {}",
            o.status,
            stderr(o)
        );
        ok
    }
}

/// Removes the container if a race left it, reaps its init, and checks
/// that nothing is left.
fn settle(b: &Bundle, pid: Option<i32>, what: &str) {
    if b.root.join(&b.id).exists() {
        b.ok(&["delete", "-f", &b.id]);
    }
    if let Some(pid) = pid {
        reap(pid);
    }
    let leaks = leaks_of(b);
    assert!(leaks.is_empty(), "{what}: left behind {leaks:?}");
}

#[test]
fn races_on_one_id() {
    subreaper();
    let b = Bundle::new("race", &["sleep", "1000"]);
    b.write_config();
    let id = b.id.as_str();
    let want = Outcomes::new(id);
    let pid_file = b.dir.join("pid").display().to_string();
    for round in 0..30 {
        b.ok(&["create", id]);
        let pid = pid_of(&b);
        let (start, delete) = race(&b, &["start", id], &["delete", "-f", id]);
        want.check("start racing delete", &start, &[&want.gone]);
        want.check("delete racing start", &delete, &[]);
        settle(&b, Some(pid), &format!("start/delete, round {round}"));

        b.ok(&["create", id]);
        b.ok(&["start", id]);
        let pid = pid_of(&b);
        // delete -f of a missing container succeeds, as runc's does.
        let (one, two) = race(&b, &["delete", "-f", id], &["delete", "-f", id]);
        want.check("two deletes", &one, &[]);
        want.check("two deletes", &two, &[]);
        settle(&b, Some(pid), &format!("two deletes, round {round}"));

        b.ok(&["create", id]);
        b.ok(&["start", id]);
        let pid = pid_of(&b);
        let (kill, delete) = race(&b, &["kill", id, "KILL"], &["delete", "-f", id]);
        want.check("kill racing delete", &kill, &[&want.gone]);
        want.check("delete racing kill", &delete, &[]);
        settle(&b, Some(pid), &format!("kill/delete, round {round}"));

        let create = ["create", "--pid-file", &pid_file, id];
        let (one, two) = race(&b, &create, &create);
        let oks = [&one, &two]
            .iter()
            .filter(|o| want.check("two creates", o, &[&want.exists]))
            .count();
        assert_eq!(oks, 1, "two creates, round {round}: exactly one makes it");
        settle(
            &b,
            Some(read_pid(&pid_file)),
            &format!("two creates, round {round}"),
        );

        let (made, state) = race(&b, &create, &["state", id]);
        want.check("create racing state", &made, &[]);
        if want.check("state racing create", &state, &[&want.gone]) {
            let shown: Value = serde_json::from_slice(&state.stdout).unwrap();
            assert_eq!(shown["status"], "created");
        }
        settle(
            &b,
            Some(read_pid(&pid_file)),
            &format!("create/state, round {round}"),
        );

        // The delete may remove the container before this test can see it:
        // its pid comes from the pid file.
        let (made, delete) = race(&b, &create, &["delete", "-f", id]);
        want.check("create racing delete", &made, &[]);
        want.check("delete racing create", &delete, &[]);
        settle(
            &b,
            Some(read_pid(&pid_file)),
            &format!("create/delete, round {round}"),
        );
    }
}

#[test]
fn list_is_consistent_while_containers_come_and_go() {
    subreaper();
    let root = shared_root("list");
    let workers: Vec<Bundle> = (0..4)
        .map(|w| bundle_in(&root, &format!("list{w}"), &["sleep", "1000"]))
        .collect();
    let bundles: Vec<(String, String)> = workers
        .iter()
        .map(|b| (b.id.clone(), b.dir.display().to_string()))
        .collect();
    let lister = bundle_in(&root, "lister", &["true"]);
    // A container at the start of its create: its directory made and
    // locked, no state.json yet. list neither waits for it nor shows it,
    // as runc does not.
    let creating = root.join(&lister.id);
    std::fs::create_dir_all(&creating).unwrap();
    let dir = std::fs::File::open(&creating).unwrap();
    let held = nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusive).unwrap();
    let mut list = lister.spawn("list", &["list", "-q"]);
    while list.try_wait().unwrap().is_none() {
        let waits = common::flocks_on(&creating).contains(&(list.id(), true));
        assert!(!waits, "list waits for a container being created");
        std::thread::yield_now();
    }
    assert_eq!(
        std::fs::read_to_string(lister.dir.join("list.out")).unwrap(),
        ""
    );
    drop(held);
    std::fs::remove_dir(&creating).unwrap();
    let done = AtomicBool::new(false);
    let lists = std::thread::scope(|s| {
        let cycles: Vec<_> = workers
            .iter()
            .map(|b| {
                s.spawn(|| {
                    for _ in 0..10 {
                        b.ok(&["create", &b.id]);
                        let pid = pid_of(b);
                        b.ok(&["start", &b.id]);
                        b.ok(&["delete", "-f", &b.id]);
                        reap(pid);
                    }
                })
            })
            .collect();
        let listing = s.spawn(|| {
            let mut lists = 0;
            while !done.load(Ordering::Relaxed) {
                let out = lister.ok(&["list", "--format", "json"]);
                let rows: Vec<Value> = serde_json::from_str(&out).expect(&out);
                let mut seen = BTreeSet::new();
                for r in &rows {
                    let id = r["id"].as_str().unwrap_or_default();
                    let (_, dir) = bundles.iter().find(|(i, _)| i == id).expect(&out);
                    assert!(seen.insert(id), "{id} listed twice: {out}");
                    assert_eq!(r["bundle"], dir.as_str(), "{out}");
                    let pid = r["pid"].as_i64().unwrap();
                    match r["status"].as_str().unwrap() {
                        "created" | "running" => assert!(pid > 0, "{out}"),
                        "stopped" => assert_eq!(pid, 0, "{out}"),
                        _ => panic!("status: {out}"),
                    }
                    assert!(
                        r["created"].as_str().is_some_and(|c| c.ends_with('Z')),
                        "{out}"
                    );
                }
                lists += 1;
            }
            lists
        });
        for c in cycles {
            c.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        listing.join().unwrap()
    });
    assert!(lists > 0);
    assert_eq!(lister.ok(&["list", "-q"]), "");
    drop((workers, lister));
    let _ = std::fs::remove_dir_all(&root);
}
