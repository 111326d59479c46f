//! What this binary is: version and the git revision it was built from.

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git revision baked in at build time, or `"unknown"`: the crate's build script (`build.rs`)
/// sets `KURENTO_EXPORTER_REVISION` from that variable in the build environment when given, else
/// from `git rev-parse --short HEAD`.
pub fn revision() -> &'static str {
    option_env!("KURENTO_EXPORTER_REVISION")
        .filter(|r| !r.is_empty())
        .unwrap_or("unknown")
}

/// What `--version` prints after the program name, e.g. `0.1.0 (revision 1a2b3c4)`.
pub fn version_string() -> String {
    format!("{VERSION} (revision {})", revision())
}
