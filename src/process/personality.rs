//! linux.personality: the execution domain (LINUX or LINUX32).

use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use crate::error::{Error, Result};

pub fn set(p: &LinuxPersonality) -> Result<()> {
    // The spec defines no flags yet: refusing them beats ignoring them.
    if let Some(f) = p.flags().as_ref().and_then(|f| f.first()) {
        return Err(Error::config(
            "linux.personality.flags",
            format!("{f:?} is not a supported flag"),
        ));
    }
    let persona: libc::c_ulong = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality takes a flag word by value.
    if unsafe { libc::personality(persona) } < 0 {
        return Err(Error::sys(
            format!("linux.personality: set {:?}", p.domain()),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}
