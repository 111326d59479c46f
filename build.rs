//! Bakes the git revision into the binary as `KURENTO_EXPORTER_REVISION` (read by
//! `src/app/build.rs`; shown by `--version` and `kurento_exporter_build_info`).
//!
//! Sources, first one wins: a non-empty `KURENTO_EXPORTER_REVISION` in the build environment (an
//! explicit override, e.g. the Dockerfile's build argument, whose context has no `.git`), then
//! `git rev-parse --short HEAD` in the crate's directory, then `unknown` (a crate tarball, or no
//! git on the machine).

use std::path::{Path, PathBuf};
use std::process::Command;

const VAR: &str = "KURENTO_EXPORTER_REVISION";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed={VAR}");
    let revision = match std::env::var(VAR) {
        Ok(r) if !r.trim().is_empty() => r.trim().to_owned(),
        _ => git_revision().unwrap_or_else(|| "unknown".to_owned()),
    };
    println!("cargo:rustc-env={VAR}={revision}");
}

/// The short revision of HEAD, registering the files whose change moves HEAD so that a commit or
/// a checkout reruns this script. `None` outside a git work tree or without git.
fn git_revision() -> Option<String> {
    // Only the crate's own repository: not one it happens to be unpacked inside.
    let toplevel = git(&["rev-parse", "--show-toplevel"])?;
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    if std::fs::canonicalize(toplevel).ok()? != std::fs::canonicalize(manifest_dir).ok()? {
        return None;
    }
    let revision = git(&["rev-parse", "--short", "HEAD"])?;
    // HEAD lives in the work tree's own git directory (a linked worktree has one of its own);
    // branches live in the common directory, loose or in packed-refs.
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        watch(&absolute(&git_dir).join("HEAD"));
    }
    if let Some(common_dir) = git(&["rev-parse", "--git-common-dir"]) {
        let common_dir = absolute(&common_dir);
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            // The branch's loose ref may not exist yet (only packed): watch its folder, which a
            // commit writes the loose ref into.
            let loose = common_dir.join(&branch);
            match loose.parent() {
                Some(folder) if !loose.exists() => watch(folder),
                _ => watch(&loose),
            }
        }
        watch(&common_dir.join("packed-refs"));
    }
    Some(revision)
}

/// Declares a file or folder that reruns this script when it changes; a path that does not
/// exist is skipped, as cargo would otherwise rerun the script on every build.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `git rev-parse` prints paths relative to the current directory (the crate's, where cargo
/// runs build scripts) unless they lie elsewhere.
fn absolute(path: &str) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        return path;
    }
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir).join(path),
        None => path,
    }
}

/// Runs git in the crate's directory; its trimmed stdout when it succeeds with some.
fn git(args: &[&str]) -> Option<String> {
    let mut command = Command::new("git");
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        command.current_dir(dir);
    }
    let out = command.args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}
