//! `features`: what this berth supports, as the runtime-spec features.md
//! document (containerd reads it). Only the seccomp flags the kernel and
//! libseccomp support are probed on this host, as features-linux.md says.

use oci_spec::runtime::LinuxSeccompFilterFlag as Flag;
use serde_json::json;

pub fn run() -> anyhow::Result<i32> {
    let flags = [
        (Flag::SeccompFilterFlagTsync, "SECCOMP_FILTER_FLAG_TSYNC"),
        (Flag::SeccompFilterFlagLog, "SECCOMP_FILTER_FLAG_LOG"),
        (
            Flag::SeccompFilterFlagSpecAllow,
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        ),
        (
            Flag::SeccompFilterFlagWaitKillableRecv,
            "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
        ),
    ];
    let supported: Vec<&str> = flags
        .iter()
        .filter(|(f, _)| crate::seccomp::flag_supported(*f))
        .map(|(_, n)| *n)
        .collect();
    let mut caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    caps.sort();
    let seccomp_version = crate::version::libseccomp();
    let doc = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::version::SPEC,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": crate::rootfs::options::NAMES,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_RISCV64", "SCMP_ARCH_S390", "SCMP_ARCH_S390X", "SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": flags.iter().map(|(_, n)| *n).collect::<Vec<_>>(),
                "supportedFlags": supported,
            },
            // What berth supports, not what this host has enabled
            // (features.md: decided when berth is built).
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": false, "schemata": false, "monitoring": false},
            "memoryPolicy": {
                "modes": ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"],
            },
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
        },
        "annotations": {
            "io.github.seccomp.libseccomp.version": seccomp_version,
            // Probed here only: runc reports its checkpoint support the same way.
            "org.criu.version": crate::criu::describe(),
        },
        // The config annotations berth acts on: the image's stop signal
        // becomes kill's default signal. (runc lists its own: "bpf.",
        // "runc.".)
        "potentiallyUnsafeConfigAnnotations": [crate::commands::kill::STOP_SIGNAL],
    });
    crate::stdout::line(&serde_json::to_string_pretty(&doc)?)?;
    Ok(0)
}
