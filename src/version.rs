//! What `berth --version` prints: our version, the runtime-spec version,
//! and the libseccomp berth is linked with.

/// The runtime-spec version berth implements, written by `berth spec`:
/// every Linux field of 1.3.0 is handled (applied, or, for intelRdt,
/// refused with an error, as features says).
pub const SPEC: &str = "1.3.0";

/// The version of the libseccomp berth runs with.
pub fn libseccomp() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn long() -> String {
    format!(
        "{}
spec: {SPEC}
libseccomp: {}
criu: {}",
        env!("CARGO_PKG_VERSION"),
        libseccomp(),
        crate::criu::describe()
    )
}
