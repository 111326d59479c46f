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

/// A tool the suite installs (scripts/test.sh); a developer without it gets the check skipped
/// with a message, never silently.
fn tool_or_skip(tool: &str, check: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP {check}: {tool} is not installed (./scripts/test.sh installs it)");
    }
    ok
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
    if tool_or_skip("bash", "sourcing the bash completion") {
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

    if !tool_or_skip("man", "man -l") {
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

// ---- Debian package ----

#[test]
fn debian_package_contents_and_metadata() {
    let have_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_cargo_deb {
        eprintln!("SKIP the .deb: cargo-deb is not installed (./scripts/test.sh installs it)");
        return;
    }
    if !tool_or_skip("dpkg-deb", "the .deb") {
        return;
    }
    // The test build stands in for the release binary: it goes where `cargo deb` looks for it, in
    // a scratch target directory, so no release build is needed and target/release is untouched.
    let scratch = tempfile::tempdir().unwrap();
    let release = scratch.path().join("release");
    std::fs::create_dir_all(&release).unwrap();
    let binary = release.join("kurento_exporter");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_kurento_exporter"), &binary).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_kurento_exporter"), &binary).unwrap();
    }
    let out_dir = scratch.path().join("debian");
    std::fs::create_dir_all(&out_dir).unwrap();
    run(Command::new(repo().join("scripts/deb.sh"))
        .args(["--no-build", "--fast", "--strip", "--output"])
        .arg(&out_dir)
        .env("CARGO_TARGET_DIR", scratch.path())
        .current_dir(repo()));
    let version = env!("CARGO_PKG_VERSION");
    let debs: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    let deb = debs[0].clone();
    let name = deb.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with(&format!("kurento-exporter_{version}-1_")) && name.ends_with(".deb"),
        "{name}"
    );

    // Control fields.
    let field = |name: &str| {
        run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name))
            .trim()
            .to_owned()
    };
    assert_eq!(field("Package"), "kurento-exporter");
    assert_eq!(field("Version"), format!("{version}-1"));
    assert_eq!(field("Section"), "net");
    let depends = field("Depends");
    assert!(depends.contains("libc6 (>="), "Depends: {depends}");
    assert!(
        depends.contains("systemd | systemd-sysusers"),
        "Depends: {depends}"
    );
    assert!(field("Maintainer").contains('@'));
    assert!(field("Description").starts_with("Prometheus exporter for Kurento Media Server"));

    // Contents: path -> (mode, owner).
    let listing = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    let files: std::collections::BTreeMap<String, (String, String)> = listing
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let path = cols[5].trim_start_matches('.').to_owned();
            (path, (cols[0].to_owned(), cols[1].to_owned()))
        })
        .collect();
    let expect = [
        ("/usr/bin/kurento_exporter", "-rwxr-xr-x"),
        ("/etc/kurento_exporter/kurento_exporter.toml", "-rw-r--r--"),
        (
            "/usr/lib/systemd/system/kurento_exporter.service",
            "-rw-r--r--",
        ),
        ("/usr/lib/sysusers.d/kurento-exporter.conf", "-rw-r--r--"),
        ("/usr/share/man/man1/kurento_exporter.1.gz", "-rw-r--r--"),
        (
            "/usr/share/man/man1/kurento_exporter-check-config.1.gz",
            "-rw-r--r--",
        ),
        (
            "/usr/share/bash-completion/completions/kurento_exporter",
            "-rw-r--r--",
        ),
        (
            "/usr/share/zsh/vendor-completions/_kurento_exporter",
            "-rw-r--r--",
        ),
        (
            "/usr/share/fish/vendor_completions.d/kurento_exporter.fish",
            "-rw-r--r--",
        ),
        ("/usr/share/doc/kurento-exporter/copyright", "-rw-r--r--"),
        (
            "/usr/share/kurento-exporter/prometheus/kurento-alerts.rules.yml",
            "-rw-r--r--",
        ),
        (
            "/usr/share/kurento-exporter/dashboards/kurento-fleet.json",
            "-rw-r--r--",
        ),
    ];
    for (path, mode) in expect {
        let Some((got_mode, owner)) = files.get(path) else {
            panic!("{path} missing from the package:\n{listing}");
        };
        assert_eq!(got_mode, mode, "{path}");
        assert_eq!(owner, "0/0", "{path} is owned by root");
    }
    for path in files.keys() {
        assert!(
            !path.starts_with("/usr/local") && !path.starts_with("/home"),
            "{path}: not a package path"
        );
    }

    // Maintainer scripts: the conffile, the user created before the unit is started.
    let control = scratch.path().join("control");
    run(Command::new("dpkg-deb").arg("-e").arg(&deb).arg(&control));
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/kurento_exporter/kurento_exporter.toml\n"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    let sysusers = postinst
        .find("systemd-sysusers ${DPKG_ROOT:+--root=\"$DPKG_ROOT\"} kurento-exporter.conf")
        .unwrap_or_else(|| panic!("postinst does not create the user:\n{postinst}"));
    let enable = postinst
        .find("deb-systemd-helper enable kurento_exporter.service")
        .unwrap_or_else(|| panic!("postinst does not enable the unit:\n{postinst}"));
    let start = postinst
        .find("deb-systemd-invoke $_dh_action kurento_exporter.service")
        .unwrap_or_else(|| panic!("postinst does not start the unit:\n{postinst}"));
    assert!(sysusers < enable && enable < start, "{postinst}");
    for script in ["postinst", "prerm", "postrm"] {
        run(Command::new("sh").arg("-n").arg(control.join(script)));
    }

    // The files themselves: the unit and config are the repository's, the config is valid for the
    // packaged binary, the unit's user is the one sysusers creates.
    let root = scratch.path().join("root");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root));
    let unit =
        std::fs::read_to_string(root.join("usr/lib/systemd/system/kurento_exporter.service"))
            .unwrap();
    assert_eq!(
        unit,
        std::fs::read_to_string(repo().join("deploy/debian/kurento_exporter.service")).unwrap()
    );
    assert!(unit.contains("\nUser=kurento_exporter\n"), "{unit}");
    let config = root.join("etc/kurento_exporter/kurento_exporter.toml");
    let packaged = root.join("usr/bin/kurento_exporter");
    let report = run(Command::new(&packaged)
        .arg("check-config")
        .arg("--config.file")
        .arg(&config));
    assert_eq!(report.trim(), "config OK: 1 target(s): local");
    assert!(run(Command::new(&packaged).arg("--version")).starts_with("kurento_exporter "));
    if tool_or_skip("systemd-sysusers", "creating the package's user") {
        run(Command::new("systemd-sysusers")
            .arg(format!("--root={}", root.display()))
            .arg("kurento-exporter.conf"));
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
        let user = passwd
            .lines()
            .find(|l| l.starts_with("kurento_exporter:"))
            .unwrap_or_else(|| panic!("no kurento_exporter user:\n{passwd}"));
        let fields: Vec<&str> = user.split(':').collect();
        let uid: u32 = fields[2].parse().unwrap();
        assert!((1..1000).contains(&uid), "a system uid: {user}");
        assert_eq!(fields[5], "/nonexistent", "{user}");
        assert!(fields[6].ends_with("nologin"), "{user}");
    }
}

// ---- systemd units ----

const UNITS: [&str; 2] = [
    "deploy/systemd/kurento_exporter.service",
    "deploy/debian/kurento_exporter.service",
];

/// The lines between the hardening markers of a unit.
fn hardening_block(unit: &str) -> Vec<&str> {
    let start = unit.find("# --- hardening").expect("a hardening block");
    let end = unit.find("# --- end of hardening ---").expect("its end");
    unit[start..end].lines().skip(1).collect()
}

#[test]
fn systemd_units_share_the_hardening_and_differ_only_in_paths_and_user() {
    let manual = std::fs::read_to_string(repo().join(UNITS[0])).unwrap();
    let package = std::fs::read_to_string(repo().join(UNITS[1])).unwrap();
    assert_eq!(hardening_block(&manual), hardening_block(&package));
    let directives = |unit: &str| -> Vec<String> {
        unit.lines()
            .filter(|l| !l.starts_with('#') && l.contains('='))
            .map(str::to_owned)
            .collect()
    };
    let manual_only: Vec<String> = directives(&manual)
        .into_iter()
        .filter(|l| !package.lines().any(|p| p == l))
        .collect();
    let package_only: Vec<String> = directives(&package)
        .into_iter()
        .filter(|l| !manual.lines().any(|m| m == l))
        .collect();
    let config = "--config.file /etc/kurento_exporter/kurento_exporter.toml";
    assert_eq!(
        manual_only,
        [
            "DynamicUser=yes".to_owned(),
            format!("ExecStartPre=/usr/local/bin/kurento_exporter check-config {config}"),
            format!("ExecStart=/usr/local/bin/kurento_exporter {config}"),
        ]
    );
    assert_eq!(
        package_only,
        [
            "User=kurento_exporter".to_owned(),
            "Group=kurento_exporter".to_owned(),
            format!("ExecStartPre=/usr/bin/kurento_exporter check-config {config}"),
            format!("ExecStart=/usr/bin/kurento_exporter {config}"),
        ]
    );
}

#[test]
fn systemd_units_are_hardened_to_an_exposure_of_at_most_2() {
    if !tool_or_skip("systemd-analyze", "systemd-analyze security") {
        return;
    }
    for unit in UNITS {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(repo().join(unit))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A misspelt or invalid directive is only warned about (and ignored): none may be.
        assert!(stderr.trim().is_empty(), "{unit}: {stderr}");
        let exposure: f64 = stdout
            .lines()
            .find_map(|l| l.split_once("Overall exposure level for kurento_exporter.service: "))
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{unit}: no overall exposure in:\n{stdout}"))
            .parse()
            .unwrap();
        eprintln!("{unit}: exposure {exposure}");
        assert!(
            exposure <= 2.0,
            "{unit}: exposure {exposure} > 2.0:\n{stdout}"
        );
    }
    // The stderr check can fail: a misspelt directive is reported there.
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.service");
    std::fs::write(
        &typo,
        "[Service]\nExecStart=/bin/true\nProtectSytem=strict\n",
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&typo)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ProtectSytem"));
}

/// Every system call in the groups and names of `spec` (`@system-service`, `~@privileged
/// @resources`…), groups expanded recursively by `systemd-analyze syscall-filter`.
fn syscalls(spec: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    let mut todo: Vec<String> = spec.split_whitespace().map(str::to_owned).collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(item) = todo.pop() {
        if !seen.insert(item.clone()) {
            continue;
        }
        if !item.starts_with('@') {
            out.insert(item);
            continue;
        }
        let listing = run(Command::new("systemd-analyze")
            .args(["syscall-filter", "--no-pager"])
            .arg(&item));
        // The first line names the group; comments start with '#'.
        for line in listing.lines().skip(1) {
            let word = line.trim();
            if !word.is_empty() && !word.starts_with('#') {
                todo.push(word.to_owned());
            }
        }
    }
    out
}

/// Kills the processes it holds when the test ends, even on a failure.
struct Reaper(Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .output();
        }
    }
}

/// Reads `child`'s stderr on a thread, line by line.
fn stderr_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The value of `key=` in the first log line containing `message`.
fn logged(rx: &std::sync::mpsc::Receiver<String>, message: &str, key: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no log line {message:?}: {e}"));
        if line.contains(message)
            && let Some((_, rest)) = line.split_once(&format!(" {key}="))
        {
            return rest.split_whitespace().next().unwrap().to_owned();
        }
    }
}

/// A plain HTTP/1.0 GET; the whole response, headers included.
fn http_get(addr: &str, path: &str, headers: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}\r\n"
    )
    .unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

#[test]
fn the_units_system_call_filter_allows_every_call_the_exporter_makes() {
    if !tool_or_skip("systemd-analyze", "the system call filter")
        || !tool_or_skip("strace", "the system call filter")
    {
        return;
    }
    // The filter as the unit states it: one allow list, then deny lists.
    let unit = std::fs::read_to_string(repo().join(UNITS[0])).unwrap();
    let mut allowed = std::collections::BTreeSet::new();
    let mut denied = std::collections::BTreeSet::new();
    for value in unit
        .lines()
        .filter_map(|l| l.strip_prefix("SystemCallFilter="))
    {
        match value.strip_prefix('~') {
            Some(deny) => denied.extend(syscalls(deny)),
            None => allowed.extend(syscalls(value)),
        }
    }
    assert!(allowed.contains("read") && denied.contains("setrlimit"));

    let mut reaper = Reaper(Vec::new());
    let mut sim = bin()
        .args(["simulate", "--listen", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    reaper.0.push(sim.id());
    let sim_log = stderr_lines(&mut sim);
    let kms = logged(&sim_log, "simulated KMS listening", "url");

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kurento_exporter.toml");
    // `localhost`, so name resolution runs under the trace too.
    let kms = kms.replace("127.0.0.1", "localhost");
    std::fs::write(
        &config,
        format!(
            "[poll]\ninterval = \"1s\"\ntimeout = \"800ms\"\ncpu_sample = \"100ms\"\n\
             [[targets]]\nname = \"sim\"\nurl = \"{kms}\"\n"
        ),
    )
    .unwrap();
    // ExecStartPre, then ExecStart, as the unit runs them.
    let trace = dir.path().join("strace.txt");
    let check_trace = dir.path().join("strace-check.txt");
    run(Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&check_trace)
        .arg(env!("CARGO_BIN_EXE_kurento_exporter"))
        .arg("check-config")
        .arg("--config.file")
        .arg(&config));
    let mut strace = Command::new("strace")
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_kurento_exporter"))
        .arg("--config.file")
        .arg(&config)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    reaper.0.push(strace.id());
    let log = stderr_lines(&mut strace);
    let addr = logged(&log, "msg=listening", "address");
    let exporter: u32 =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", strace.id()))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
    reaper.0.push(exporter);

    // Scrape until KMS is up (a full cycle ran), in both encodings, and the probes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let metrics = http_get(&addr, "/metrics", "");
        if metrics.contains("kurento_up{kms=\"sim\"} 1") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "KMS never up:\n{metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(http_get(&addr, "/metrics", "Accept-Encoding: gzip\r\n").contains("gzip"));
    assert!(http_get(&addr, "/-/ready", "").starts_with("HTTP/1.0 200"));
    assert!(http_get(&addr, "/-/healthy", "").starts_with("HTTP/1.0 200"));
    // SIGTERM, as systemctl stop sends it: the exporter shuts down gracefully under the trace.
    run(Command::new("kill").args(["-TERM", &exporter.to_string()]));
    let status = strace.wait().unwrap();
    assert!(status.success(), "the exporter exited with {status}");
    let _ = sim.kill();
    let _ = sim.wait();

    let mut used = std::collections::BTreeSet::new();
    for file in [&check_trace, &trace] {
        for line in std::fs::read_to_string(file).unwrap().lines() {
            // "PID name(args…) = result", "PID <... name resumed>…", "PID +++ exited…".
            // strace pads the pid to five columns: "9316  read(…" has two spaces.
            let Some((_, call)) = line.split_once(' ') else {
                continue;
            };
            let call = call.trim_start();
            let name: String = call
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && call[name.len()..].starts_with('(') {
                used.insert(name);
            }
        }
    }
    assert!(
        used.contains("epoll_wait") || used.contains("epoll_pwait"),
        "{used:?}"
    );
    let refused: Vec<&String> = used
        .iter()
        .filter(|c| !allowed.contains(*c) || denied.contains(*c))
        .collect();
    assert!(
        refused.is_empty(),
        "the unit's SystemCallFilter would refuse {refused:?} (used: {used:?})"
    );
}

// ---- Helm chart ----

const CHART: &str = "deploy/helm/kurento-exporter";

fn yaml_file(path: &Path) -> serde_norway::Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `.Values.a.b` path the chart's templates use.
fn values_paths_in_templates() -> std::collections::BTreeSet<String> {
    let re = regex::Regex::new(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").unwrap();
    let mut paths = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(repo().join(CHART).join("templates")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for cap in re.captures_iter(&text) {
            paths.insert(cap[1].trim_start_matches('.').to_owned());
        }
    }
    paths
}

#[test]
fn helm_chart_templates_use_only_defined_values_and_every_value_is_used() {
    let values = yaml_file(&repo().join(CHART).join("values.yaml"));
    let used = values_paths_in_templates();
    assert!(used.contains("serviceMonitor.enabled"), "{used:?}");
    for path in &used {
        let mut node = &values;
        for key in path.split('.') {
            node = node
                .get(key)
                .unwrap_or_else(|| panic!(".Values.{path}: {key} is not in values.yaml"));
        }
    }
    // Every top-level value and every key of the toggled sections is read by a template.
    let top = values.as_mapping().unwrap();
    for (key, value) in top {
        let key = key.as_str().unwrap();
        assert!(
            used.iter()
                .any(|p| p == key || p.starts_with(&format!("{key}."))),
            "values.yaml: {key} is used by no template"
        );
        if let Some(section) = value.as_mapping()
            && ["image", "service", "serviceMonitor", "prometheusRule"].contains(&key)
        {
            for sub in section.keys() {
                let path = format!("{key}.{}", sub.as_str().unwrap());
                assert!(
                    used.contains(&path),
                    "values.yaml: {path} is used by no template"
                );
            }
        }
    }
    // Chart metadata: the exporter's version; the schema covers every value.
    let chart = yaml_file(&repo().join(CHART).join("Chart.yaml"));
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION"))
    );
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join(CHART).join("values.schema.json")).unwrap(),
    )
    .unwrap();
    for key in top.keys() {
        let key = key.as_str().unwrap();
        assert!(
            schema["properties"].get(key).is_some(),
            "values.schema.json lacks {key}"
        );
    }
}

#[test]
fn helm_chart_rules_are_the_prometheus_rules() {
    for file in ["kurento-recording.rules.yml", "kurento-alerts.rules.yml"] {
        assert_eq!(
            std::fs::read_to_string(repo().join(CHART).join("rules").join(file)).unwrap(),
            std::fs::read_to_string(repo().join("deploy/prometheus/rules").join(file)).unwrap(),
            "{CHART}/rules/{file} is stale: run python3 deploy/kubernetes/sync.py"
        );
    }
}

/// One rendering of the chart: helm lint's report and the manifests by kind (documents that are
/// only comments dropped, as kubectl and helm do), or the render error.
struct Rendered {
    lint: serde_json::Value,
    by_kind: std::collections::BTreeMap<String, serde_norway::Value>,
    error: Option<String>,
}

/// Lints and renders the chart for each set of values through tests/packaging/helm.py; `None`
/// (after a SKIP message) when the Helm SDK is not installed.
fn helm_render(cases: &[serde_json::Value]) -> Option<Vec<Rendered>> {
    use std::io::Write;
    let request = serde_json::json!({
        "chart": repo().join(CHART),
        "cases": cases.iter().map(|v| serde_json::json!({"values": v})).collect::<Vec<_>>(),
    });
    let mut child = Command::new("python3")
        .arg(repo().join("tests/packaging/helm.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(3) {
        eprintln!(
            "SKIP helm lint and render: {} (./scripts/test.sh installs it)",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    assert!(
        out.status.success(),
        "helm.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    Some(
        results
            .into_iter()
            .map(|r| {
                let mut by_kind = std::collections::BTreeMap::new();
                if let Some(manifests) = r["manifests"].as_object() {
                    for (template, text) in manifests {
                        if !template.ends_with(".yaml") {
                            continue;
                        }
                        for doc in serde_norway::Deserializer::from_str(text.as_str().unwrap()) {
                            let doc = <serde_norway::Value as serde::Deserialize>::deserialize(doc)
                                .unwrap_or_else(|e| panic!("{template}: {e}\n{text}"));
                            if doc.is_null() {
                                continue;
                            }
                            let kind = doc["kind"].as_str().unwrap().to_owned();
                            assert!(by_kind.insert(kind, doc).is_none(), "{template}");
                        }
                    }
                }
                Rendered {
                    lint: r["lint"].clone(),
                    by_kind,
                    error: r["error"].as_str().map(str::to_owned),
                }
            })
            .collect(),
    )
}

/// helm lint --strict found nothing above "info" (the chart has no icon).
fn assert_lint_clean(r: &Rendered) {
    let messages = r.lint["messages"].as_array().unwrap();
    for m in messages {
        assert!(m["severity"].as_i64().unwrap() <= 1, "helm lint: {m}");
    }
    assert_eq!(r.lint["errors"], serde_json::json!([]), "{}", r.lint);
}

#[test]
fn helm_chart_lints_and_renders() {
    use serde_json::json;
    let cases = [
        json!({}),
        json!({"serviceMonitor": {"enabled": true}, "prometheusRule": {"enabled": true}}),
        json!({"serviceMonitor": {"enabled": true}, "prometheusRule": {"enabled": true},
               "release": "kps", "detail": "pipeline"}),
        json!({"serviceMonitor": {"enabled": true}, "release": "", "detail": "element",
               "targets": [{"name": "a", "url": "ws://a:8888/kurento"},
                           {"name": "b", "url": "wss://b:8433/kurento"}],
               "extraConfig": "[zombie]\nidle_after = \"10m\""}),
        json!({"resources": {"requests": {"cpu": "1"}}}),
        json!({"detail": "everything"}),
        json!({"targets": [{"name": "a"}]}),
    ];
    let Some(r) = helm_render(&cases) else {
        return;
    };
    let kinds = |r: &Rendered| r.by_kind.keys().cloned().collect::<Vec<_>>();
    for ok in &r[..5] {
        assert_lint_clean(ok);
        assert_eq!(ok.error, None);
    }

    // Defaults: no Prometheus Operator resources.
    assert_eq!(kinds(&r[0]), ["ConfigMap", "Deployment", "Service"]);
    assert_eq!(
        kinds(&r[1]),
        [
            "ConfigMap",
            "Deployment",
            "PrometheusRule",
            "Service",
            "ServiceMonitor"
        ]
    );
    assert_eq!(
        kinds(&r[3]),
        ["ConfigMap", "Deployment", "Service", "ServiceMonitor"]
    );

    // The release label: default, set, empty.
    let release = |r: &Rendered, kind: &str| {
        r.by_kind[kind]["metadata"]["labels"]
            .get("release")
            .map(|v| v.as_str().unwrap().to_owned())
    };
    assert_eq!(
        release(&r[1], "ServiceMonitor").as_deref(),
        Some("prometheus")
    );
    assert_eq!(
        release(&r[1], "PrometheusRule").as_deref(),
        Some("prometheus")
    );
    assert_eq!(release(&r[2], "ServiceMonitor").as_deref(), Some("kps"));
    assert_eq!(release(&r[2], "PrometheusRule").as_deref(), Some("kps"));
    assert_eq!(release(&r[3], "ServiceMonitor"), None);

    // The ServiceMonitor selects the Service, on its metrics port.
    let sm = &r[1].by_kind["ServiceMonitor"];
    let service = &r[1].by_kind["Service"];
    for (key, value) in sm["spec"]["selector"]["matchLabels"].as_mapping().unwrap() {
        assert_eq!(&service["spec"]["selector"][key.as_str().unwrap()], value);
    }
    assert_eq!(sm["spec"]["endpoints"][0]["port"].as_str(), Some("metrics"));
    assert_eq!(
        service["spec"]["ports"][0]["name"].as_str(),
        Some("metrics")
    );
    assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(9888));

    // The PrometheusRule carries the repository's rules, as the plain Kubernetes one does.
    let mut groups = Vec::new();
    for file in ["kurento-recording.rules.yml", "kurento-alerts.rules.yml"] {
        let rules = yaml_file(&repo().join("deploy/prometheus/rules").join(file));
        groups.extend(rules["groups"].as_sequence().unwrap().iter().cloned());
    }
    let rule = &r[1].by_kind["PrometheusRule"];
    assert_eq!(rule["spec"]["groups"].as_sequence().unwrap(), &groups);
    let plain = yaml_file(&repo().join("deploy/kubernetes/prometheusrule.yaml"));
    assert_eq!(plain["spec"]["groups"], rule["spec"]["groups"]);

    // The Deployment: probes, non-root, read-only, resources by detail level.
    let values = yaml_file(&repo().join(CHART).join("values.yaml"));
    for (case, detail) in [(0, "aggregated"), (2, "pipeline"), (3, "element")] {
        let pod = &r[case].by_kind["Deployment"]["spec"]["template"]["spec"];
        assert_eq!(
            pod["containers"][0]["resources"], values["resourcePresets"][detail],
            "{detail}"
        );
    }
    assert_eq!(
        r[4].by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]["resources"],
        serde_norway::from_str::<serde_norway::Value>("requests: {cpu: \"1\"}").unwrap()
    );
    let deployment = &r[0].by_kind["Deployment"];
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(1));
    assert_eq!(
        container["image"].as_str(),
        Some(
            format!(
                "ghcr.io/kurento-exporter/kurento_exporter:{}",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/-/ready")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/-/healthy")
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        container["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"].as_bool(),
        Some(false)
    );
    // The same pod and container settings as the plain deploy/kubernetes/deployment.yaml.
    let plain_docs: Vec<serde_norway::Value> = serde_norway::Deserializer::from_str(
        &std::fs::read_to_string(repo().join("deploy/kubernetes/deployment.yaml")).unwrap(),
    )
    .map(|d| <serde_norway::Value as serde::Deserialize>::deserialize(d).unwrap())
    .collect();
    let plain = plain_docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    let plain_pod = &plain["spec"]["template"]["spec"];
    let plain_container = &plain_pod["containers"][0];
    assert_eq!(pod["securityContext"], plain_pod["securityContext"]);
    for key in [
        "ports",
        "readinessProbe",
        "livenessProbe",
        "securityContext",
        "volumeMounts",
    ] {
        assert_eq!(container[key], plain_container[key], "container {key}");
    }
    assert_eq!(
        container["resources"], plain_container["resources"],
        "the aggregated preset is the plain Deployment's resources"
    );
    let sm_plain = yaml_file(&repo().join("deploy/kubernetes/servicemonitor.yaml"));
    assert_eq!(sm["spec"]["endpoints"], sm_plain["spec"]["endpoints"]);

    // The ConfigMap's configuration is one the exporter accepts, and the pod mounts it.
    for (case, want) in [
        (0, "config OK: 1 target(s): kms-0"),
        (3, "config OK: 2 target(s): a, b"),
    ] {
        let cm = &r[case].by_kind["ConfigMap"];
        let toml = cm["data"]["kurento_exporter.toml"].as_str().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kurento_exporter.toml");
        std::fs::write(&file, toml).unwrap();
        let report = run(bin().arg("check-config").arg("--config.file").arg(&file));
        assert_eq!(report.trim(), want, "{toml}");
        let pod = &r[case].by_kind["Deployment"]["spec"]["template"]["spec"];
        assert_eq!(
            pod["volumes"][0]["configMap"]["name"],
            cm["metadata"]["name"]
        );
    }
    let element = r[3].by_kind["ConfigMap"]["data"]["kurento_exporter.toml"]
        .as_str()
        .unwrap();
    assert!(element.contains("detail = \"element\""), "{element}");
    assert!(
        element.contains("[zombie]\nidle_after = \"10m\""),
        "{element}"
    );

    // Bad values are refused with the reason.
    for (case, reason) in [(5, "/detail"), (6, "missing property 'url'")] {
        let error = r[case].error.as_deref().unwrap_or_default();
        assert!(error.contains(reason), "case {case}: {error}");
        assert_ne!(r[case].lint["errors"], serde_json::json!([]));
    }
}
