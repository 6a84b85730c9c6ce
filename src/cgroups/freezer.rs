//! Pause and resume: the v1 freezer hierarchy or v2's cgroup.freeze,
//! through libcgroups, which waits until every task is frozen.

use std::fs;

use libcgroups::common::{CgroupManager, FreezerState};

use super::Cgroup;
use crate::error::{Error, Result};

pub fn freeze(cg: &Cgroup, frozen: bool) -> Result<()> {
    let state = if frozen {
        FreezerState::Frozen
    } else {
        FreezerState::Thawed
    };
    cg.manager()?.freeze(state).map_err(|e| Error::Cgroup {
        what: if frozen { "pause" } else { "resume" }.into(),
        err: e.to_string(),
    })
}

/// Whether the cgroup is frozen (or freezing): one small file read, cheap
/// enough for every `state` and `list`.
pub fn is_frozen(cg: &Cgroup) -> bool {
    if cg.unified {
        return cg
            .dirs
            .first()
            .and_then(|d| fs::read_to_string(d.join("cgroup.freeze")).ok())
            .is_some_and(|t| t.trim() == "1");
    }
    cg.dir_of("freezer")
        .and_then(|d| fs::read_to_string(d.join("freezer.state")).ok())
        .is_some_and(|t| t.trim() != "THAWED")
}
