//! linux.personality: the execution domain (LINUX or LINUX32).

use nix::sys::personality::Persona;
use oci_spec::runtime::{LinuxPersonality, LinuxPersonalityDomain};

use crate::error::{Error, Result, SysContext};

const PER_LINUX: libc::c_int = 0x0000;
const PER_LINUX32: libc::c_int = 0x0008;

pub fn set(p: &LinuxPersonality) -> Result<()> {
    // The runtime-spec supports no flag values yet: refusing them beats
    // guessing what one would mean.
    if let Some(f) = p.flags().as_deref().and_then(<[String]>::first) {
        return Err(Error::config(
            "linux.personality.flags[0]",
            format!("{f:?} is not supported (the runtime-spec defines no flags)"),
        ));
    }
    let domain = match p.domain() {
        LinuxPersonalityDomain::PerLinux => PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => PER_LINUX32,
    };
    nix::sys::personality::set(Persona::from_bits_retain(domain))
        .sys(|| format!("linux.personality.domain {}: personality", p.domain()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::rlimits::tests::in_child;

    fn config(json: &str) -> LinuxPersonality {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn refuses_flags() {
        let e = set(&config(
            r#"{"domain":"LINUX","flags":["ADDR_NO_RANDOMIZE"]}"#,
        ));
        assert_eq!(
            e.unwrap_err().to_string(),
            "linux.personality.flags[0]: \"ADDR_NO_RANDOMIZE\" is not supported (the runtime-spec defines no flags)"
        );
    }

    #[test]
    fn sets_the_domain() {
        // nix's get() drops the domain bits it has no name for.
        // SAFETY: 0xffffffff only queries the persona.
        let get = || unsafe { libc::personality(0xffff_ffff) } & 0xff;
        let linux32 = config(r#"{"domain":"LINUX32","flags":[]}"#);
        let linux = config(r#"{"domain":"LINUX"}"#);
        in_child(|| {
            set(&linux32).map_err(|e| e.to_string())?;
            assert_eq!(get(), PER_LINUX32);
            set(&linux).map_err(|e| e.to_string())?;
            assert_eq!(get(), PER_LINUX);
            Ok(())
        });
    }
}
