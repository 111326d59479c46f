//! `check-config` through the public API, on files as an operator would write them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use kurento_exporter::app::config::CliOverrides;
use kurento_exporter::cli::{self, Cli, EXIT_INVALID_CONFIG, EXIT_OK};

fn file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

#[test]
fn a_realistic_file_is_accepted() {
    let f = file(
        r#"
[web]
listen_address = ":9888"

[poll]
interval = "15s"

[[targets]]
name = "kms-a"
url = "ws://10.0.0.5:8888/kurento"

[[targets]]
name = "kms-b"
url = "wss://kms-b.example.org/kurento"
interval = "30s"
tls_ca_file = "/etc/ssl/kms-ca.pem"
"#,
    );
    let (text, code) = cli::check_config(Some(f.path()), &CliOverrides::default());
    assert_eq!(text, "config OK: 2 target(s): kms-a, kms-b");
    assert_eq!(code, EXIT_OK);
}

#[test]
fn every_problem_is_listed_and_flags_override_the_file() {
    let f = file(
        r#"
[web]
telemetry_path = "/metrics"

[poll]
connections = 0

[[targets]]
name = "kms a"
url = "http://10.0.0.5:8888/kurento"
"#,
    );
    let path = f.path().to_str().unwrap();
    let parsed = <Cli as clap::Parser>::try_parse_from([
        "kurento_exporter",
        "check-config",
        "--config.file",
        path,
        "--web.telemetry-path",
        "/",
    ])
    .unwrap();
    let (text, code) = cli::check_config(parsed.config_file(), &parsed.overrides());
    assert_eq!(code, EXIT_INVALID_CONFIG);
    assert_eq!(
        text,
        "config invalid: 4 problem(s):\n\
         web.telemetry_path: must not be \"/\" (that is the landing page)\n\
         poll.connections: must be between 1 and 16, got 0\n\
         targets[0].name: \"kms a\" may only contain A-Z, a-z, 0-9, '_', '.', ':' and '-'\n\
         targets[0].url: scheme must be ws or wss, got \"http\""
    );
}

/// An absurd interval used to pass `check-config`; the poller then panicked on `Instant +
/// interval` and its last snapshot was served forever with `kurento_up 1`.
#[test]
fn an_absurd_interval_is_rejected_with_its_bound() {
    let f = file("[poll]\ninterval = \"300000000000y\"\n");
    let (text, code) = cli::check_config(Some(f.path()), &CliOverrides::default());
    assert_eq!(code, EXIT_INVALID_CONFIG);
    assert_eq!(
        text,
        "config invalid: 1 problem(s):\npoll.interval: must be at most 1h, got 300000000000years"
    );
}
