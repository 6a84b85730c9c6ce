//! What `berth --version` prints: our version, the runtime-spec version,
//! and the libseccomp berth is linked with.

/// The runtime-spec version berth implements, written by `berth spec`.
pub const SPEC: &str = "1.2.1";

/// The version of the libseccomp berth runs with.
pub fn libseccomp() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "unknown".into())
}

pub fn long() -> &'static str {
    let seccomp = libseccomp();
    // clap keeps the text for the whole (short) life of the process.
    Box::leak(
        format!(
            "{}\nspec: {SPEC}\nlibseccomp: {seccomp}",
            env!("CARGO_PKG_VERSION")
        )
        .into_boxed_str(),
    )
}
