//! What `berth --version` prints: our version and the runtime-spec version.

pub const SPEC: &str = "1.2.1";

pub const LONG: &str = concat!(env!("CARGO_PKG_VERSION"), "\nspec: ", "1.2.1");
