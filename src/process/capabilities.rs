//! process.capabilities. The bounding set is cut while the init is still
//! root; the other sets are written after the uid switch. Inheritable and
//! ambient stay empty unless configured (CVE-2022-29162). Capabilities the
//! running kernel does not know are skipped, as runc does.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use crate::error::{Error, Result};

fn convert(set: Option<&Capabilities>) -> CapsHashSet {
    set.into_iter()
        .flatten()
        .filter_map(|c| Capability::from_str(&format!("CAP_{c}")).ok())
        .collect()
}

fn err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::sys(
        format!("process.capabilities.{what}: {e}"),
        nix::errno::Errno::last(),
    )
}

/// Drops from the bounding set everything not in `bounding` (all of it
/// when `process.capabilities` is absent).
pub fn drop_bounding(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let keep = convert(caps.and_then(|c| c.bounding().as_ref()));
    for cap in caps::all().difference(&keep) {
        // SAFETY: PR_CAPBSET_DROP takes a capability number by value.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap.index() as libc::c_ulong, 0, 0, 0) } < 0
        {
            let e = nix::errno::Errno::last();
            // EINVAL: the kernel predates this capability.
            if e != nix::errno::Errno::EINVAL {
                return Err(Error::sys(
                    format!("process.capabilities.bounding: drop {cap}"),
                    e,
                ));
            }
        }
    }
    Ok(())
}

/// Sets effective, permitted and inheritable exactly, then raises ambient.
pub fn apply(caps: Option<&LinuxCapabilities>) -> Result<()> {
    let get = |f: fn(&LinuxCapabilities) -> &Option<Capabilities>| {
        convert(caps.and_then(|c| f(c).as_ref()))
    };
    let effective = get(LinuxCapabilities::effective);
    let permitted = get(LinuxCapabilities::permitted);
    let inheritable = get(LinuxCapabilities::inheritable);
    // Effective first (still a subset of the old permitted set), then
    // permitted (which must keep the new effective), then inheritable.
    caps::set(None, CapSet::Effective, &effective).map_err(|e| err("effective", e))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(|e| err("permitted", e))?;
    caps::set(None, CapSet::Inheritable, &inheritable).map_err(|e| err("inheritable", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| err("ambient", e))?;
    for cap in get(LinuxCapabilities::ambient) {
        // The kernel only allows ambient capabilities that are permitted and
        // inheritable; others are skipped, as runc does.
        if permitted.contains(&cap) && inheritable.contains(&cap) {
            caps::raise(None, CapSet::Ambient, cap).map_err(|e| err("ambient", e))?;
        }
    }
    Ok(())
}
