//! What `berth --version` prints: our version and the runtime-spec version.

macro_rules! spec_version {
    () => {
        "1.2.1"
    };
}

/// The runtime-spec version berth implements, written by `berth spec`.
pub const SPEC: &str = spec_version!();

pub const LONG: &str = concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", spec_version!());
