//! Packaging: the git revision build.rs bakes in, the completions and man pages the binary
//! generates, the Debian package (cargo-deb), the systemd units' hardening (systemd-analyze) and
//! the Helm chart (lint and render by Helm's own Go code). scripts/test.sh installs the tools;
//! README "Deploying" describes what is checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kurento_exporter"))
}

/// Runs `command`, failing the test with its output unless it succeeds; returns stdout.
fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert_success(command, &out);
    String::from_utf8(out.stdout).unwrap()
}

fn assert_success(command: &Command, out: &Output) {
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `true` when `tool` runs (its `--version` succeeds).
fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs git in the repository; its trimmed stdout, or `None` when git fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(repo())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn version_shows_the_git_revision_of_head() {
    let version = run(bin().arg("--version"));
    let in_own_repo = git(&["rev-parse", "--show-toplevel"])
        .is_some_and(|top| Path::new(&top).canonicalize().ok() == repo().canonicalize().ok());
    let want = match std::env::var("KURENTO_EXPORTER_REVISION") {
        Ok(r) if !r.trim().is_empty() => r.trim().to_owned(),
        _ if in_own_repo => git(&["rev-parse", "--short", "HEAD"]).unwrap(),
        _ => "unknown".to_owned(),
    };
    assert_eq!(
        version,
        format!(
            "kurento_exporter {} (revision {want})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    if in_own_repo {
        assert_ne!(want, "unknown", "a build from git knows its revision");
    }
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "complete -F _kurento_exporter"),
        ("zsh", "#compdef kurento_exporter"),
        ("fish", "complete -c kurento_exporter"),
    ] {
        let script = run(bin().args(["completions", shell]));
        assert!(script.contains(marker), "{shell}:\n{script}");
        for word in ["check-config", "simulate", "demo", "bench", "config.file"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    let bash = run(bin().args(["completions", "bash"]));
    if have("bash") {
        // The script parses, and once sourced completes the subcommands.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kurento_exporter.bash");
        std::fs::write(&file, &bash).unwrap();
        let words = run(Command::new("bash").arg("-c").arg(format!(
            "source {}; COMP_WORDS=(kurento_exporter ch); COMP_CWORD=1; \
             _kurento_exporter kurento_exporter ch kurento_exporter; echo \"${{COMPREPLY[@]}}\"",
            file.display()
        )));
        assert_eq!(words.trim(), "check-config");
    }
    let out = bin().args(["completions", "tcsh"]).output().unwrap();
    assert!(!out.status.success(), "an unknown shell is refused");
}

#[test]
fn man_pages_render() {
    let page = run(bin().arg("man"));
    assert!(page.contains(".TH kurento_exporter 1"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    run(bin().arg("man").arg("--dir").arg(dir.path()));
    let first = std::fs::read_to_string(dir.path().join("kurento_exporter.1")).unwrap();
    assert_eq!(first, page);
    assert!(dir.path().join("kurento_exporter-check-config.1").exists());

    if !have("man") {
        eprintln!("SKIP man -l: man (man-db) is not installed");
        return;
    }
    // man formats every page with groff's warnings on and none printed; the text (overstrike
    // bold removed) shows the sections and flags.
    let mut text = String::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let out = Command::new("man")
            .arg("--warnings")
            .arg("-l")
            .arg(&path)
            .env("MANWIDTH", "100")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "man -l {}: {stderr}", path.display());
        assert!(
            stderr.trim().is_empty(),
            "man -l {} warned: {stderr}",
            path.display()
        );
        if path.ends_with("kurento_exporter.1") {
            let formatted = String::from_utf8_lossy(&out.stdout);
            let mut chars = formatted.chars().peekable();
            while let Some(c) = chars.next() {
                if chars.peek() == Some(&'\u{8}') {
                    chars.next();
                } else {
                    text.push(c);
                }
            }
        }
    }
    for word in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "SUBCOMMANDS",
        "--config.file",
    ] {
        assert!(text.contains(word), "man -l output lacks {word}:\n{text}");
    }
}
