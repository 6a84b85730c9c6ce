//! linux.memoryPolicy: the NUMA policy the process allocates under, set
//! with set_mempolicy(2) before execve, which keeps it (as fork does).

use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::error::{Error, Result};

/// The arguments of set_mempolicy(2): the mode with its flags, and the
/// node mask (empty for none).
#[derive(Debug, PartialEq, Eq)]
pub struct Policy {
    mode: libc::c_int,
    mask: Vec<libc::c_ulong>,
}

/// Checks the policy and turns it into set_mempolicy's arguments. Called
/// while the config is validated, so a bad one fails before anything is
/// made, and again by the process that sets it.
pub fn parse(p: &LinuxMemoryPolicy) -> Result<Policy> {
    use MemoryPolicyModeType::*;
    let mut mode = match p.mode() {
        MpolDefault => 0,
        MpolPreferred => 1,
        MpolBind => 2,
        MpolInterleave => 3,
        MpolLocal => 4,
        MpolPreferredMany => 5,
        MpolWeightedInterleave => 6,
    };
    for f in p.flags().iter().flatten() {
        mode |= match f {
            MemoryPolicyFlagType::MpolFNumaBalancing => 1 << 13,
            MemoryPolicyFlagType::MpolFRelativeNodes => 1 << 14,
            MemoryPolicyFlagType::MpolFStaticNodes => 1 << 15,
        };
    }
    let nodes = p.nodes().as_deref().unwrap_or("").trim();
    let mask = node_mask(nodes).map_err(|reason| {
        Error::config("linux.memoryPolicy.nodes", format!("{nodes:?}: {reason}"))
    })?;
    let needs_nodes = matches!(
        p.mode(),
        MpolBind | MpolInterleave | MpolWeightedInterleave | MpolPreferredMany
    );
    let takes_nodes = !matches!(p.mode(), MpolDefault | MpolLocal);
    if needs_nodes && mask.is_empty() {
        return Err(Error::config(
            "linux.memoryPolicy.nodes",
            format!("{} needs at least one node", p.mode()),
        ));
    }
    if !takes_nodes && !mask.is_empty() {
        return Err(Error::config(
            "linux.memoryPolicy.nodes",
            format!("{nodes:?}: {} takes no nodes", p.mode()),
        ));
    }
    Ok(Policy { mode, mask })
}

/// "0-3,7" as a bit mask of unsigned longs, as set_mempolicy reads it.
fn node_mask(list: &str) -> std::result::Result<Vec<libc::c_ulong>, String> {
    // The kernel's own limit on node numbers (MAX_NUMNODES, at most 2^10).
    const MAX_NODE: u32 = 1023;
    let bits = libc::c_ulong::BITS;
    let mut mask: Vec<libc::c_ulong> = Vec::new();
    for part in list.split(',').filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_NODE)
                .ok_or_else(|| format!("{s:?} is not a node number (0..{MAX_NODE})"))
        };
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (number(a)?, number(b)?),
            None => (number(part)?, number(part)?),
        };
        if first > last {
            return Err(format!("{part:?} is a range that runs backwards"));
        }
        for n in first..=last {
            let word = (n / bits) as usize;
            if mask.len() <= word {
                mask.resize(word + 1, 0);
            }
            mask[word] |= 1 << (n % bits);
        }
    }
    Ok(mask)
}

pub fn set(p: &LinuxMemoryPolicy) -> Result<()> {
    let policy = parse(p)?;
    let (ptr, maxnode) = if policy.mask.is_empty() {
        (std::ptr::null(), 0)
    } else {
        // The kernel reads maxnode - 1 bits.
        let bits = policy.mask.len() as libc::c_ulong * libc::c_ulong::from(libc::c_ulong::BITS);
        (policy.mask.as_ptr(), bits + 1)
    };
    // SAFETY: set_mempolicy reads at most maxnode - 1 bits from `ptr`, which
    // points at that many bits of a live vector (or is null with 0).
    let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, policy.mode, ptr, maxnode) };
    if r < 0 {
        return Err(Error::sys(
            format!(
                "linux.memoryPolicy: set_mempolicy {} nodes {:?}",
                p.mode(),
                p.nodes().as_deref().unwrap_or("")
            ),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: &str) -> Result<Policy> {
        parse(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn lists_become_masks() {
        assert_eq!(node_mask("").unwrap(), Vec::<libc::c_ulong>::new());
        assert_eq!(node_mask("0-3,7").unwrap(), vec![0b1000_1111]);
        assert_eq!(node_mask("65").unwrap(), vec![0, 0b10]);
        assert!(node_mask("3-1").is_err());
        assert!(node_mask("x").is_err());
        assert!(node_mask("1024").is_err());
    }

    #[test]
    fn modes_flags_and_nodes() {
        let p = policy(r#"{"mode":"MPOL_INTERLEAVE","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}"#)
            .unwrap();
        assert_eq!(
            p,
            Policy {
                mode: 3 | 1 << 15,
                mask: vec![1]
            }
        );
        assert_eq!(
            policy(r#"{"mode":"MPOL_BIND"}"#).unwrap_err().to_string(),
            "linux.memoryPolicy.nodes: MPOL_BIND needs at least one node"
        );
        assert_eq!(
            policy(r#"{"mode":"MPOL_LOCAL","nodes":"0"}"#)
                .unwrap_err()
                .to_string(),
            "linux.memoryPolicy.nodes: \"0\": MPOL_LOCAL takes no nodes"
        );
        assert!(policy(r#"{"mode":"MPOL_PREFERRED"}"#).is_ok());
    }
}
