use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::state::{ContainerDir, State, Status};

/// How often the OOM counter and the container's liveness are looked at
/// between two sets of statistics.
const TICK: Duration = Duration::from_millis(100);

/// runc's event stream: {"type":"stats",...} every interval (once with
/// --stats), {"type":"oom",...} when the OOM killer fires; ends when the
/// container stops.
pub fn run(root: &Path, id: &str, once: bool, interval: Duration) -> anyhow::Result<i32> {
    let dir = ContainerDir::open(root, id)?;
    let state = State::load(&dir)?;
    if state.status(&dir) == Status::Stopped {
        bail!("cannot get events of container {id}: it is stopped");
    }
    // A reader that goes away (`berth events ID | head`) ends the stream.
    let emit = |v: serde_json::Value| writeln!(std::io::stdout(), "{v}").is_ok();
    let stats = || -> anyhow::Result<bool> {
        let data = crate::cgroups::stats_json(&state.cgroup)
            .with_context(|| format!("events of container {id}"))?;
        Ok(emit(json!({"type": "stats", "id": id, "data": data})))
    };
    if once {
        stats()?;
        return Ok(0);
    }
    drop(dir);
    let mut ooms = crate::cgroups::oom_kills(&state.cgroup);
    let mut next = Instant::now();
    while state.init_alive() {
        let now = crate::cgroups::oom_kills(&state.cgroup);
        if now > ooms {
            if !emit(json!({"type": "oom", "id": id})) {
                break;
            }
            ooms = now;
        }
        if Instant::now() >= next {
            if !stats()? {
                break;
            }
            next += interval;
        }
        std::thread::sleep(TICK.min(interval));
    }
    Ok(0)
}
