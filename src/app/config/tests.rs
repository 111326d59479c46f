// figment::Jail closures return figment::Error, which is large; irrelevant in tests.
#![allow(clippy::result_large_err)]

use super::*;
use crate::analysis::detail::DetailLevel;
use figment::Jail;
use std::io::Write;

/// An environment layer with nothing in it, so tests do not read the process environment.
fn no_env() -> Serialized<HashMap<String, String>> {
    Serialized::defaults(HashMap::new())
}

fn toml_file(content: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(content.as_bytes()).unwrap();
    f
}

fn load_toml(content: &str) -> Result<Config, ConfigErrors> {
    let f = toml_file(content);
    load_with_env(Some(f.path()), no_env(), &CliOverrides::default())
}

fn messages(errors: &ConfigErrors) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

fn target(name: &str, url: &str) -> TargetConfig {
    TargetConfig {
        name: name.to_owned(),
        url: url.to_owned(),
        interval: None,
        timeout: None,
        connections: None,
        tls_ca_file: None,
        tls_insecure_skip_verify: false,
        health_probe: None,
        health_probe_interval: None,
        health_probe_timeout: None,
    }
}

fn valid() -> Config {
    Config {
        targets: vec![target("kms-a", "ws://10.0.0.5:8888/kurento")],
        ..Config::default()
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn defaults_with_no_file_give_the_default_target() {
    let config = load_with_env(None, no_env(), &CliOverrides::default()).unwrap();
    assert_eq!(config.web.listen_address, "0.0.0.0:9888");
    assert_eq!(config.web.telemetry_path, "/metrics");
    assert_eq!(config.log.level, LogLevel::Info);
    assert_eq!(config.log.format, LogFormat::Logfmt);
    assert_eq!(config.poll, PollConfig::default());
    assert_eq!(
        config.listen_addr().unwrap(),
        "0.0.0.0:9888".parse().unwrap()
    );
    assert_eq!(
        config.targets(),
        vec![ResolvedTarget {
            name: "default".to_owned(),
            url: "ws://127.0.0.1:8888/kurento".to_owned(),
            interval: secs(15),
            timeout: secs(10),
            connections: 2,
            reconcile_interval: secs(600),
            cpu_sample: secs(1),
            tls_ca_file: None,
            tls_insecure_skip_verify: false,
            health_probe: None,
        }]
    );
}

#[test]
fn full_file_is_decoded_and_targets_resolved() {
    let config = load_toml(
        r#"
[web]
listen_address = ":9999"
telemetry_path = "/m"
[log]
level = "debug"
format = "json"
[poll]
interval = "30s"
timeout = "5s"
connections = 3
reconcile_interval = "1h"
cpu_sample = "2s"
ready_timeout = "2m"
[[targets]]
name = "kms-a"
url = "ws://10.0.0.5:8888/kurento"
[[targets]]
name = "kms-b"
url = "wss://kms-b.example/kurento"
interval = "1m"
timeout = "20s"
connections = 1
tls_ca_file = "/etc/ca.pem"
tls_insecure_skip_verify = true
"#,
    )
    .unwrap();
    assert_eq!(
        config.listen_addr().unwrap(),
        "0.0.0.0:9999".parse().unwrap()
    );
    assert_eq!(config.log.level, LogLevel::Debug);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.poll.ready_timeout, secs(120));
    let targets = config.targets();
    assert_eq!(targets.len(), 2);
    assert_eq!(
        (
            targets[0].interval,
            targets[0].timeout,
            targets[0].connections
        ),
        (secs(30), secs(5), 3)
    );
    assert_eq!(targets[0].reconcile_interval, secs(3600));
    assert_eq!(targets[0].cpu_sample, secs(2));
    assert_eq!(
        (
            targets[1].interval,
            targets[1].timeout,
            targets[1].connections
        ),
        (secs(60), secs(20), 1)
    );
    assert_eq!(targets[1].tls_ca_file, Some(PathBuf::from("/etc/ca.pem")));
    assert!(targets[1].tls_insecure_skip_verify);
}

#[test]
fn validation_error_table() {
    type Mutate = fn(&mut Config);
    let cases: Vec<(&str, Mutate, Vec<&str>)> = vec![
        ("valid", |_| {}, vec![]),
        (
            "capacities that do not divide",
            |c| {
                c.capacity.endpoints_per_cpu = 0.0;
                c.capacity.transcodes_per_cpu = f64::NAN;
            },
            vec![
                "capacity.endpoints_per_cpu: must be a number above 0 and at most 1000000, got 0",
                "capacity.transcodes_per_cpu: must be a number above 0 and at most 1000000, got NaN",
            ],
        ),
        (
            "capacity past any KMS",
            |c| c.capacity.endpoints_per_cpu = 2e6,
            vec![
                "capacity.endpoints_per_cpu: must be a number above 0 and at most 1000000, got 2000000",
            ],
        ),
        (
            "health probe interval too short",
            |c| c.health_probe.interval = Duration::from_millis(500),
            vec!["health_probe.interval: must be at least 1s, got 500ms"],
        ),
        (
            "health probe timeout too long",
            |c| c.health_probe.timeout = Duration::from_secs(120),
            vec!["health_probe.timeout: must be at most 1m, got 2m"],
        ),
        (
            "health probe timeout not below its interval",
            |c| c.health_probe.interval = Duration::from_secs(10),
            vec!["health_probe.timeout: must be less than health_probe.interval (10s), got 10s"],
        ),
        (
            "target health probe timeout not below its interval",
            |c| {
                c.targets[0].health_probe = Some(true);
                c.targets[0].health_probe_interval = Some(Duration::from_secs(5));
            },
            vec![
                "targets[0].health_probe_interval: the health probe timeout (10s) must be less than its interval (5s)",
            ],
        ),
        (
            "target health probe zero timeout",
            |c| {
                c.targets[0].health_probe = Some(true);
                c.targets[0].health_probe_timeout = Some(Duration::ZERO);
            },
            vec!["targets[0].health_probe_timeout: must be greater than 0"],
        ),
        (
            "target health probe settings while it is off",
            |c| c.targets[0].health_probe_timeout = Some(Duration::from_secs(5)),
            vec![
                "targets[0].health_probe_timeout: only allowed when the health probe is enabled (health_probe = true)",
            ],
        ),
        (
            "empty name",
            |c| c.targets[0].name = String::new(),
            vec!["targets[0].name: must not be empty"],
        ),
        (
            "long name",
            |c| c.targets[0].name = "a".repeat(65),
            vec!["targets[0].name: must be at most 64 characters, got 65"],
        ),
        (
            "bad characters",
            |c| c.targets[0].name = "kms a/1".to_owned(),
            vec![
                "targets[0].name: \"kms a/1\" may only contain A-Z, a-z, 0-9, '_', '.', ':' and '-'",
            ],
        ),
        (
            "duplicate name",
            |c| {
                c.targets.push(target("kms-b", "ws://b/kurento"));
                c.targets.push(target("kms-a", "ws://c/kurento"));
            },
            vec!["targets[2].name: duplicate of targets[0].name \"kms-a\""],
        ),
        (
            "http scheme",
            |c| {
                c.targets.push(target("kms-b", "http://b:8888/kurento"));
            },
            vec!["targets[1].url: scheme must be ws or wss, got \"http\""],
        ),
        (
            "relative url",
            |c| c.targets[0].url = "/kurento".to_owned(),
            vec!["targets[0].url: must be an absolute ws:// or wss:// URL, got \"/kurento\""],
        ),
        (
            "port out of range, credentials redacted",
            |c| c.targets[0].url = "ws://u:pw@kms:99999/kurento".to_owned(),
            vec!["targets[0].url: invalid port in \"ws://xxxxx@kms:99999/kurento\""],
        ),
        (
            "unparsable url",
            |c| c.targets[0].url = "ws://kms a/kurento".to_owned(),
            vec!["targets[0].url: invalid URL \"ws://kms a/kurento\": invalid uri character"],
        ),
        (
            "port not a number",
            |c| c.targets[0].url = "ws://kms:abc/kurento".to_owned(),
            vec!["targets[0].url: invalid port in \"ws://kms:abc/kurento\""],
        ),
        (
            "no host",
            |c| c.targets[0].url = "ws://:8888/kurento".to_owned(),
            vec!["targets[0].url: has no host: \"ws://:8888/kurento\""],
        ),
        (
            "tls options with ws",
            |c| {
                c.targets[0].tls_ca_file = Some(PathBuf::from("/ca.pem"));
                c.targets[0].tls_insecure_skip_verify = true;
            },
            vec![
                "targets[0].tls_ca_file: only allowed with a wss:// url",
                "targets[0].tls_insecure_skip_verify: only allowed with a wss:// url",
            ],
        ),
        (
            "zero durations",
            |c| {
                c.poll.interval = Duration::ZERO;
                c.poll.timeout = Duration::ZERO;
                c.poll.reconcile_interval = Duration::ZERO;
                c.poll.cpu_sample = Duration::ZERO;
                c.poll.ready_timeout = Duration::ZERO;
            },
            vec![
                "poll.interval: must be greater than 0",
                "poll.timeout: must be greater than 0",
                "poll.reconcile_interval: must be greater than 0",
                "poll.cpu_sample: must be greater than 0",
                "poll.ready_timeout: must be greater than 0",
            ],
        ),
        (
            "sub-second interval",
            |c| {
                c.poll.interval = Duration::from_millis(500);
                c.poll.timeout = Duration::from_millis(200);
                c.poll.cpu_sample = Duration::from_millis(100);
            },
            vec!["poll.interval: must be at least 1s, got 500ms"],
        ),
        (
            "timeout not below interval",
            |c| c.poll.timeout = secs(15),
            vec!["poll.timeout: must be less than poll.interval (15s), got 15s"],
        ),
        (
            "cpu sample not below timeout",
            |c| c.poll.cpu_sample = secs(10),
            vec!["poll.cpu_sample: must be less than poll.timeout (10s), got 10s"],
        ),
        (
            "connections out of range",
            |c| {
                c.poll.connections = 0;
                c.targets[0].connections = Some(17);
            },
            vec![
                "poll.connections: must be between 1 and 16, got 0",
                "targets[0].connections: must be between 1 and 16, got 17",
            ],
        ),
        (
            "reconcile too often",
            |c| c.poll.reconcile_interval = secs(300),
            vec![
                "poll.reconcile_interval: must be at least 10m (getPipelines keeps every object alive), got 5m",
            ],
        ),
        (
            "target timeout not below its interval",
            |c| {
                c.targets[0].interval = Some(secs(5));
                c.targets[0].timeout = Some(secs(5));
            },
            vec!["targets[0].timeout: must be less than the interval (5s), got 5s"],
        ),
        (
            "target interval not above the default timeout",
            |c| c.targets[0].interval = Some(secs(10)),
            vec!["targets[0].interval: must be greater than the timeout (10s), got 10s"],
        ),
        (
            "target timeout not above cpu sample",
            |c| c.targets[0].timeout = Some(secs(1)),
            vec!["targets[0].timeout: must be greater than poll.cpu_sample (1s), got 1s"],
        ),
        (
            "target durations",
            |c| {
                c.targets[0].interval = Some(Duration::ZERO);
                c.targets[0].timeout = Some(Duration::ZERO);
            },
            vec![
                "targets[0].interval: must be greater than 0",
                "targets[0].timeout: must be greater than 0",
            ],
        ),
        (
            "telemetry path without slash",
            |c| c.web.telemetry_path = "metrics".to_owned(),
            vec!["web.telemetry_path: must start with '/', got \"metrics\""],
        ),
        (
            "telemetry path is root",
            |c| c.web.telemetry_path = "/".to_owned(),
            vec!["web.telemetry_path: must not be \"/\" (that is the landing page)"],
        ),
        (
            "telemetry path reserved",
            |c| c.web.telemetry_path = "/-/metrics".to_owned(),
            vec!["web.telemetry_path: must not be under \"/-/\" (reserved), got \"/-/metrics\""],
        ),
        (
            "listen address",
            |c| c.web.listen_address = "localhost".to_owned(),
            vec![
                "web.listen_address: invalid socket address \"localhost\": expected host:port, e.g. 0.0.0.0:9888 or :9888",
            ],
        ),
        (
            "every problem at once",
            |c| {
                c.web.telemetry_path = "x".to_owned();
                c.poll.connections = 99;
                c.targets[0].name = String::new();
                c.targets[0].url = "tcp://h".to_owned();
            },
            vec![
                "web.telemetry_path: must start with '/', got \"x\"",
                "poll.connections: must be between 1 and 16, got 99",
                "targets[0].name: must not be empty",
                "targets[0].url: scheme must be ws or wss, got \"tcp\"",
            ],
        ),
        (
            "zero max_series",
            |c| c.metrics.max_series = 0,
            vec!["metrics.max_series: must be at least 1"],
        ),
        (
            "bad pipeline regex",
            |c| c.metrics.pipelines = Some("room-(".to_owned()),
            vec!["metrics.pipelines: invalid regex \"room-(\": error: unclosed group"],
        ),
        (
            "durations beyond their bounds",
            |c| {
                c.poll.interval = Duration::from_secs(2 * 3600);
                c.poll.timeout = Duration::from_secs(11 * 60);
                c.poll.reconcile_interval = Duration::from_secs(25 * 3600);
                c.poll.cpu_sample = Duration::from_secs(61);
                c.poll.ready_timeout = Duration::from_secs(3601);
                c.zombie.idle_after = Duration::from_secs(8 * 86400);
                c.zombie.max_age = Some(Duration::from_secs(30 * 86400 + 3600));
            },
            vec![
                "poll.interval: must be at most 1h, got 2h",
                "poll.timeout: must be at most 10m, got 11m",
                "poll.reconcile_interval: must be at most 1day, got 1day 1h",
                "poll.cpu_sample: must be at most 1m, got 1m 1s",
                "poll.ready_timeout: must be at most 1h, got 1h 1s",
                "zombie.idle_after: must be at most 7days, got 8days",
                "zombie.max_age: must be at most 30days, got 30days 1h",
            ],
        ),
        (
            "target durations beyond their bounds",
            |c| {
                c.targets[0].interval = Some(Duration::from_secs(3601));
                c.targets[0].timeout = Some(Duration::from_secs(601));
            },
            vec![
                "targets[0].interval: must be at most 1h, got 1h 1s",
                "targets[0].timeout: must be at most 10m, got 10m 1s",
            ],
        ),
        (
            "zero zombie durations",
            |c| {
                c.zombie.idle_after = Duration::ZERO;
                c.zombie.max_age = Some(Duration::ZERO);
            },
            vec![
                "zombie.idle_after: must be greater than 0",
                "zombie.max_age: must be greater than 0",
            ],
        ),
    ];
    for (name, mutate, want) in cases {
        let mut config = valid();
        mutate(&mut config);
        let got = match config.validate() {
            Ok(()) => vec![],
            Err(e) => messages(&e),
        };
        assert_eq!(got, want, "case {name}");
    }
}

#[test]
fn valid_edge_values_pass() {
    let mut c = valid();
    c.poll.interval = secs(1);
    c.poll.timeout = Duration::from_millis(999);
    c.poll.cpu_sample = Duration::from_millis(500);
    c.poll.connections = 16;
    c.targets[0].name = format!("{}:_.-9", "A".repeat(59));
    c.targets.push(target("kms-b", "wss://[::1]:8433/kurento"));
    c.targets[1].tls_insecure_skip_verify = true;
    c.web.listen_address = "[::]:9888".to_owned();
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn the_largest_durations_pass() {
    let mut c = valid();
    c.poll.interval = MAX_INTERVAL;
    c.poll.timeout = MAX_TIMEOUT;
    c.poll.cpu_sample = MAX_CPU_SAMPLE;
    c.poll.reconcile_interval = MAX_RECONCILE_INTERVAL;
    c.poll.ready_timeout = MAX_READY_TIMEOUT;
    c.zombie.idle_after = MAX_IDLE_AFTER;
    c.zombie.max_age = Some(MAX_AGE);
    c.targets[0].interval = Some(MAX_INTERVAL);
    c.targets[0].timeout = Some(MAX_TIMEOUT);
    assert_eq!(c.validate(), Ok(()));
}

/// `300000000000y` fits a `Duration` but not an `Instant` after it: it passed `check-config`,
/// then the poller panicked on `Instant + interval` and its last snapshot was served forever.
#[test]
fn absurd_durations_are_rejected_naming_the_key_and_the_bound() {
    let file = "[poll]\ninterval = \"300000000000y\"\ntimeout = \"300000000000y\"\n\
        reconcile_interval = \"300000000000y\"\ncpu_sample = \"300000000000y\"\n\
        ready_timeout = \"300000000000y\"\n\
        [zombie]\nidle_after = \"300000000000y\"\nmax_age = \"300000000000y\"\n\
        [[targets]]\nname = \"a\"\nurl = \"ws://kms:8888/kurento\"\n\
        interval = \"300000000000y\"\ntimeout = \"300000000000y\"\n";
    let got = messages(&load_toml(file).unwrap_err());
    let keys_and_bounds = [
        ("poll.interval", "1h"),
        ("poll.timeout", "10m"),
        ("poll.reconcile_interval", "1day"),
        ("poll.cpu_sample", "1m"),
        ("poll.ready_timeout", "1h"),
        ("targets[0].interval", "1h"),
        ("targets[0].timeout", "10m"),
        ("zombie.idle_after", "7days"),
        ("zombie.max_age", "30days"),
    ];
    let want: Vec<String> = keys_and_bounds
        .iter()
        .map(|(key, bound)| format!("{key}: must be at most {bound}, got 300000000000years"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn listen_address_forms() {
    let cases = [
        (":9888", Some("0.0.0.0:9888")),
        ("127.0.0.1:0", Some("127.0.0.1:0")),
        ("[::1]:9888", Some("[::1]:9888")),
        (":", None),
        (":99999", None),
        ("9888", None),
        ("localhost:9888", None),
        ("", None),
    ];
    for (input, want) in cases {
        let got = parse_listen_address(input).ok();
        assert_eq!(got, want.map(|w| w.parse().unwrap()), "input {input:?}");
    }
}

#[test]
fn errors_display_one_problem_per_line() {
    let errors = ConfigErrors(vec![
        ConfigError::new("a", "first"),
        ConfigError::new("b.c", "second"),
    ]);
    assert_eq!(errors.to_string(), "a: first\nb.c: second");
}

#[test]
fn unknown_key_is_rejected_with_its_path() {
    let f = toml_file("[poll]\nintervall = \"15s\"\n");
    let errors = load_with_env(Some(f.path()), no_env(), &CliOverrides::default()).unwrap_err();
    let got = messages(&errors);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0],
        format!(
            "poll.intervall: unknown key \"intervall\", expected one of: interval, timeout, \
             connections, reconcile_interval, cpu_sample, ready_timeout (in TOML file {})",
            f.path().display()
        )
    );
}

#[test]
fn unknown_top_level_section_is_rejected() {
    let errors = load_toml("[pol]\ninterval = \"15s\"\n").unwrap_err();
    let got = messages(&errors);
    assert!(
        got[0].starts_with(
            "pol: unknown key \"pol\", expected one of: web, log, poll, metrics, zombie, targets"
        ),
        "{got:?}"
    );
}

#[test]
fn unknown_target_key_names_its_index() {
    let errors = load_toml(
        "[[targets]]\nname = \"a\"\nurl = \"ws://a\"\n[[targets]]\nname = \"b\"\nurl = \"ws://b\"\nuri = \"x\"\n",
    )
    .unwrap_err();
    let got = messages(&errors);
    assert!(
        got[0].starts_with("targets[1].uri: unknown key \"uri\""),
        "{got:?}"
    );
}

#[test]
fn bad_duration_names_the_key() {
    let errors = load_toml("[poll]\ninterval = \"15 parsecs\"\n").unwrap_err();
    let got = messages(&errors);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("poll.interval: "), "{got:?}");
    assert!(got[0].contains("parsecs"), "{got:?}");
}

#[test]
fn missing_target_url_is_reported() {
    let errors = load_toml("[[targets]]\nname = \"a\"\n").unwrap_err();
    let got = messages(&errors);
    assert!(
        got[0].starts_with("targets[0]: missing key \"url\""),
        "{got:?}"
    );
}

#[test]
fn file_values_are_validated_too() {
    let errors = load_toml("[poll]\nconnections = 0\n").unwrap_err();
    assert_eq!(
        messages(&errors),
        vec!["poll.connections: must be between 1 and 16, got 0"]
    );
}

#[test]
fn missing_file_error_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.toml");
    let errors = load_with_env(Some(&path), no_env(), &CliOverrides::default()).unwrap_err();
    let got = messages(&errors);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with(&format!(
            "config file: cannot read {:?}: ",
            path.display().to_string()
        )),
        "{got:?}"
    );
}

/// Errors never show a password, whatever characters it holds, and never echo more than a
/// bounded part of a huge value.
#[test]
fn errors_hide_credentials_and_cap_echoed_input() {
    let hostile = [
        "ftp://u:pa/ss@kms:8888/kurento",
        "ftp://u:pa?ss@kms:8888/kurento",
        "ftp://u:pa#ss@kms:8888/kurento",
        "ws://u:pa/ss@kms:notaport/kurento",
        "u:pa/ss@kms:8888",
    ];
    for url in hostile {
        let mut config = valid();
        config.targets[0].url = url.to_owned();
        let errors = messages(&config.validate().unwrap_err()).join("\n");
        assert!(
            !errors.contains("pa/ss") && !errors.contains("pa?ss") && !errors.contains("pa#ss"),
            "{url}: {errors}"
        );
    }

    let huge = format!("ws://kms/{}", "a".repeat(10 << 20));
    let mut config = valid();
    config.targets[0].url = format!("ftp{}", &huge[2..]);
    config.web.listen_address = huge.clone();
    config.web.telemetry_path = huge.clone();
    config.metrics.pipelines = Some(format!("({}", "a".repeat(1 << 16)));
    let errors = messages(&config.validate().unwrap_err());
    assert!(errors.len() >= 3, "{errors:?}");
    for e in &errors {
        assert!(e.len() < 600, "{} bytes echoed: {}", e.len(), &e[..300]);
    }

    let file = format!(
        "[web]\n{} = 1\n[log]\nlevel = \"{}\"\n",
        "k".repeat(1 << 20),
        "v".repeat(1 << 20)
    );
    let errors = messages(&load_toml(&file).unwrap_err());
    for e in &errors {
        assert!(e.len() < 600, "{} bytes echoed: {}", e.len(), &e[..300]);
    }
}

/// The key path of an unknown key ends with that key: it is capped like any echoed input (found
/// by the property tests: a 5,000-character key was echoed whole).
#[test]
fn a_huge_unknown_key_is_capped_in_the_key_path_too() {
    let key = "k".repeat(5000);
    for file in [format!("\"{key}\" = 1\n"), format!("[web]\n{key} = 1\n")] {
        let errors = messages(&load_toml(&file).unwrap_err());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].len() < 800,
            "{} bytes: {}",
            errors[0].len(),
            &errors[0][..300]
        );
        assert!(
            errors[0].contains("… (5000 bytes)"),
            "{}",
            &errors[0][..300]
        );
    }
}

#[test]
fn layering_file_then_env_then_cli() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "c.toml",
            "[web]\nlisten_address = \":1001\"\ntelemetry_path = \"/file\"\n[log]\nlevel = \"warn\"\n[poll]\ninterval = \"20s\"\nconnections = 3\n",
        )?;
        let path = jail.directory().join("c.toml");
        let none = CliOverrides::default();

        let config = load(Some(&path), &none).unwrap();
        assert_eq!(config.web.listen_address, ":1001");
        assert_eq!(config.poll.interval, secs(20));

        jail.set_env("KURENTO_EXPORTER_WEB__LISTEN_ADDRESS", ":1002");
        jail.set_env("KURENTO_EXPORTER_POLL__INTERVAL", "30s");
        jail.set_env("KURENTO_EXPORTER_LOG__LEVEL", "error");
        let config = load(Some(&path), &none).unwrap();
        assert_eq!(config.web.listen_address, ":1002");
        assert_eq!(config.web.telemetry_path, "/file");
        assert_eq!(config.poll.interval, secs(30));
        assert_eq!(config.poll.connections, 3);
        assert_eq!(config.log.level, LogLevel::Error);

        let cli = CliOverrides {
            listen_address: Some(":1003".to_owned()),
            telemetry_path: None,
            log_level: Some(LogLevel::Trace),
            log_format: Some(LogFormat::Json),
            ..CliOverrides::default()
        };
        let config = load(Some(&path), &cli).unwrap();
        assert_eq!(config.web.listen_address, ":1003");
        assert_eq!(config.web.telemetry_path, "/file");
        assert_eq!(config.log.level, LogLevel::Trace);
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.poll.interval, secs(30));
        Ok(())
    });
}

#[test]
fn env_only_configuration_and_env_errors_name_the_variable() {
    Jail::expect_with(|jail| {
        jail.set_env("KURENTO_EXPORTER_POLL__CONNECTIONS", "4");
        jail.set_env("KURENTO_EXPORTER_REVISION", "abc123");
        let config = load(None, &CliOverrides::default()).unwrap();
        assert_eq!(config.poll.connections, 4);
        assert_eq!(config.targets()[0].connections, 4);

        jail.set_env("KURENTO_EXPORTER_POLL__TIMEOUT", "soon");
        let errors = load(None, &CliOverrides::default()).unwrap_err();
        let got = messages(&errors);
        assert!(got[0].starts_with("poll.timeout: "), "{got:?}");
        assert!(
            got[0].ends_with("(in environment variable KURENTO_EXPORTER_POLL__TIMEOUT)"),
            "{got:?}"
        );

        jail.set_env("KURENTO_EXPORTER_POLL__TIMEOUT", "5s");
        jail.set_env("KURENTO_EXPORTER_BOGUS", "1");
        let errors = load(None, &CliOverrides::default()).unwrap_err();
        let got = messages(&errors);
        assert!(
            got[0].starts_with("bogus: unknown key \"bogus\""),
            "{got:?}"
        );
        Ok(())
    });
}

#[test]
fn metrics_section_is_decoded() {
    let config =
        load_toml("[metrics]\ndetail = \"element\"\nmax_series = 500\npipelines = \"^room-\"\n")
            .unwrap();
    assert_eq!(config.metrics.detail, DetailLevel::Element);
    assert_eq!(config.metrics.max_series, 500);
    assert!(config.metrics.pipeline_filter().unwrap().is_match("room-1"));
    let errors = load_toml("[metrics]\ndetail = \"ssrc\"\n").unwrap_err();
    assert!(
        messages(&errors)[0].starts_with("metrics.detail: unknown variant"),
        "{errors}"
    );
}

#[test]
fn zombie_section_is_decoded_with_max_age_off_by_default() {
    let config = load_toml("[zombie]\nidle_after = \"2m\"\n").unwrap();
    assert_eq!(config.zombie.idle_after, Duration::from_secs(120));
    assert_eq!(config.zombie.max_age, None);
    let config = load_toml("[zombie]\nmax_age = \"12h\"\n").unwrap();
    assert_eq!(config.zombie.idle_after, Duration::from_secs(300));
    assert_eq!(config.zombie.max_age, Some(Duration::from_secs(12 * 3600)));
}

#[test]
fn sdp_inspection_is_off_by_default_and_strictly_decoded() {
    let config = load_toml("").unwrap();
    assert!(
        !config.web.inspection.sdp,
        "SDP carries users' IP addresses"
    );
    let config = load_toml("[web.inspection]\nsdp = true\n").unwrap();
    assert!(config.web.inspection.sdp);
    let errors = load_toml("[web.inspection]\nsdp = \"yes\"\n").unwrap_err();
    let got = messages(&errors);
    assert!(got[0].starts_with("web.inspection.sdp: "), "{got:?}");
    let errors = load_toml("[web.inspection]\nsdpp = true\n").unwrap_err();
    let got = messages(&errors);
    assert!(
        got[0].starts_with("web.inspection.sdpp: unknown key \"sdpp\", expected one of: sdp"),
        "{got:?}"
    );
    Jail::expect_with(|jail| {
        jail.set_env("KURENTO_EXPORTER_WEB__INSPECTION__SDP", "true");
        let config = load(None, &CliOverrides::default()).unwrap();
        assert!(config.web.inspection.sdp);
        Ok(())
    });
}

#[test]
fn dns_sd_is_decoded_with_defaults_and_replaces_the_default_target() {
    let config = load_toml(
        r#"
dns_sd_nameservers = ["10.96.0.10", "127.0.0.1:5353", "[::1]:53"]

[[dns_sd]]
name = "kms.kurento.svc.cluster.local"
type = "A"
port = 8888

[[dns_sd]]
name = "_kms._tcp.kurento.example."
type = "SRV"
refresh = "5s"
path = "/kms"
scheme = "wss"
"#,
    )
    .unwrap();
    assert!(config.targets.is_empty(), "no default target with dns_sd");
    let a = &config.dns_sd[0];
    assert_eq!(
        (a.record_type, a.port, a.refresh, a.path.as_str(), a.scheme),
        (
            DnsRecordType::A,
            Some(8888),
            secs(30),
            "/kurento",
            WsScheme::Ws
        )
    );
    let srv = &config.dns_sd[1];
    assert_eq!(
        (
            srv.record_type,
            srv.port,
            srv.refresh,
            srv.path.as_str(),
            srv.scheme
        ),
        (DnsRecordType::Srv, None, secs(5), "/kms", WsScheme::Wss)
    );
    let servers: Vec<SocketAddr> = config
        .dns_sd_nameservers
        .iter()
        .map(|s| parse_nameserver(s).unwrap())
        .collect();
    assert_eq!(
        servers,
        [
            "10.96.0.10:53".parse().unwrap(),
            "127.0.0.1:5353".parse().unwrap(),
            "[::1]:53".parse().unwrap()
        ]
    );
    let errors = load_toml("[[dns_sd]]\nname = \"kms\"\ntype = \"MX\"\nport = 1\n").unwrap_err();
    let got = messages(&errors);
    assert!(got[0].starts_with("dns_sd[0].type: "), "{got:?}");
}

#[test]
fn dns_sd_errors_name_the_entry_and_key() {
    let entry = |record_type, port| DnsSdConfig {
        name: "kms.example".to_owned(),
        record_type,
        port,
        refresh: secs(30),
        path: "/kurento".to_owned(),
        scheme: WsScheme::Ws,
    };
    let mut bad_name = entry(DnsRecordType::A, Some(8888));
    bad_name.name = "kms..example".to_owned();
    let mut empty_name = entry(DnsRecordType::A, Some(8888));
    empty_name.name = ".".to_owned();
    let mut short = entry(DnsRecordType::A, Some(8888));
    short.refresh = Duration::from_millis(500);
    let mut long = entry(DnsRecordType::A, Some(8888));
    long.refresh = secs(2 * 86_400);
    let mut zero = entry(DnsRecordType::A, Some(8888));
    zero.refresh = Duration::ZERO;
    let mut relative = entry(DnsRecordType::A, Some(8888));
    relative.path = "kurento".to_owned();
    let mut spaced = entry(DnsRecordType::A, Some(8888));
    spaced.path = "/a b".to_owned();
    let config = Config {
        dns_sd: vec![
            entry(DnsRecordType::A, Some(8888)),
            bad_name,
            empty_name,
            entry(DnsRecordType::A, None),
            entry(DnsRecordType::Aaaa, Some(0)),
            entry(DnsRecordType::A, Some(65_536)),
            entry(DnsRecordType::Srv, Some(8888)),
            short,
            long,
            zero,
            relative,
            spaced,
            entry(DnsRecordType::Srv, None),
        ],
        dns_sd_nameservers: vec!["127.0.0.1:5353".to_owned(), "dns.example".to_owned()],
        ..valid()
    };
    let got = messages(&config.validate().unwrap_err());
    let want = [
        "dns_sd[1].name: invalid DNS name",
        "dns_sd[2].name: must not be empty",
        "dns_sd[3].port: required with type A or AAAA",
        "dns_sd[4].port: must be between 1 and 65535, got 0",
        "dns_sd[5].port: must be between 1 and 65535, got 65536",
        "dns_sd[6].port: not allowed with type SRV",
        "dns_sd[7].refresh: must be at least 1s, got 500ms",
        "dns_sd[8].refresh: must be at most 1day, got 2days",
        "dns_sd[9].refresh: must be greater than 0",
        "dns_sd[10].path: must start with '/'",
        "dns_sd[11].path: not a valid URL path",
        "dns_sd_nameservers[1]: must be an IP address",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (got, want) in got.iter().zip(want) {
        assert!(got.starts_with(want), "{got} does not start with {want}");
    }
}

#[test]
fn health_probe_is_off_by_default_and_resolved_per_target() {
    let config = load_toml(
        r#"
[health_probe]
interval = "2m"

[[targets]]
name = "a"
url = "ws://a:8888/kurento"

[[targets]]
name = "b"
url = "ws://b:8888/kurento"
health_probe = true
health_probe_timeout = "3s"
"#,
    )
    .unwrap();
    let targets = config.targets();
    assert_eq!(targets[0].health_probe, None);
    assert_eq!(
        targets[1].health_probe,
        Some(crate::poll::health::HealthProbeSpec {
            interval: Duration::from_secs(120),
            timeout: Duration::from_secs(3),
        })
    );
    assert_eq!(config.resolve("d", "ws://d/kurento").health_probe, None);
}

#[test]
fn capacities_default_to_the_rules_and_are_read_from_the_file() {
    let defaults = load_toml("").unwrap().capacity.capacities();
    assert_eq!(defaults, crate::analysis::capacity::DEFAULT_CAPACITIES);
    let config =
        load_toml("[capacity]\nendpoints_per_cpu = 35\ntranscodes_per_cpu = 1.5\n").unwrap();
    assert_eq!(config.capacity.endpoints_per_cpu, 35.0);
    assert_eq!(config.capacity.transcodes_per_cpu, 1.5);
    let typo = load_toml("[capacity]\nendpoint_per_cpu = 35\n").unwrap_err();
    assert!(messages(&typo)[0].contains("endpoint_per_cpu"), "{typo}");
    let negative = load_toml("[capacity]\ntranscodes_per_cpu = -1\n").unwrap_err();
    assert_eq!(
        messages(&negative),
        ["capacity.transcodes_per_cpu: must be a number above 0 and at most 1000000, got -1"]
    );
}
