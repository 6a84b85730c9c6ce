//! The phase points of create, start and delete: each ends a phase of the
//! `--debug` trace, and in a debug build (what `cargo test` runs) it is
//! also where a test injects a fault. `BERTH_FAULT=PHASE:abort` makes the
//! command fail at that phase, as a real error there would;
//! `BERTH_FAULT=PHASE:kill` SIGKILLs the runtime there, as an engine or
//! the OOM killer might. tests/faults.rs runs every traced phase both ways
//! and checks that create's cleanup, or `delete -f` after a killed
//! runtime, leaves nothing behind. A release build has no switch: a point
//! only traces.

use crate::error::Result;

/// Ends the phase `name`: traces it and, in a debug build, injects the
/// fault BERTH_FAULT names for it.
pub fn point(name: &str) -> Result<()> {
    crate::logging::phase(name);
    #[cfg(debug_assertions)]
    switch::at(name)?;
    Ok(())
}

/// Called with the init's failure report: when it asks the runtime to die
/// (a `kill` fault at a phase of the init), the runtime SIGKILLs itself.
#[cfg(debug_assertions)]
pub fn init_failed(report: &str) {
    switch::init_failed(report);
}

#[cfg(not(debug_assertions))]
pub fn init_failed(_: &str) {}

#[cfg(debug_assertions)]
mod switch {
    use std::sync::OnceLock;

    use nix::sys::signal::{Signal, raise};

    use crate::error::{Error, Result};

    const VAR: &str = "BERTH_FAULT";

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Action {
        Abort,
        Kill,
    }

    struct Fault {
        phase: String,
        action: Action,
        /// The runtime's pid. The init, forked from it, inherits this value
        /// and knows by its own pid that it is not the runtime.
        runtime: u32,
    }

    /// The variable, read once per process (the runtime reads it at its
    /// first point, before any fork).
    fn fault() -> Result<Option<&'static Fault>> {
        static FAULT: OnceLock<std::result::Result<Option<Fault>, String>> = OnceLock::new();
        let parsed = FAULT.get_or_init(|| {
            let Some(value) = std::env::var_os(VAR) else {
                return Ok(None);
            };
            let value = value.to_string_lossy();
            let (phase, action) = match value.rsplit_once(':') {
                Some((phase, "abort")) => (phase, Action::Abort),
                Some((phase, "kill")) => (phase, Action::Kill),
                _ => return Err(format!("{value:?} is not PHASE:abort or PHASE:kill")),
            };
            Ok(Some(Fault {
                phase: phase.to_string(),
                action,
                runtime: std::process::id(),
            }))
        });
        match parsed {
            Ok(f) => Ok(f.as_ref()),
            Err(e) => Err(Error::config(VAR, e.clone())),
        }
    }

    pub fn at(phase: &str) -> Result<()> {
        let Some(f) = fault()?.filter(|f| f.phase == phase) else {
            return Ok(());
        };
        match f.action {
            Action::Abort => Err(Error::State(format!("{VAR}: fault injected at {phase}"))),
            Action::Kill if std::process::id() == f.runtime => die(),
            // The init cannot signal the runtime: from inside a new pid
            // namespace its parent has no pid. It reports this instead, and
            // the runtime kills itself on reading it (`init_failed`).
            Action::Kill => Err(Error::State(kill_request(phase))),
        }
    }

    pub fn init_failed(report: &str) {
        if let Ok(Some(f)) = fault()
            && f.action == Action::Kill
            && report == kill_request(&f.phase)
        {
            die();
        }
    }

    fn kill_request(phase: &str) -> String {
        format!("{VAR}: the init asks the runtime to die at {phase}")
    }

    fn die() -> ! {
        // SIGKILL is neither caught nor deferred: nothing of ours runs on.
        let _ = raise(Signal::SIGKILL);
        std::process::abort()
    }
}
