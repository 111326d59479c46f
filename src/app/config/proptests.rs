//! Property tests of the configuration loader: any file, duration or environment value is
//! answered with a value or with errors, every error stays short, and no error shows a password
//! written in a target URL.

// figment::Jail closures return figment::Error, which is large; irrelevant in tests.
#![allow(clippy::result_large_err)]

use std::io::Write;

use figment::Jail;
use proptest::prelude::*;

use super::*;
use crate::kurento::proptest_support::config;

/// Longest error line accepted: each echoed input (the key path, and the key or value named in
/// the message) is capped at 200 characters (`redact::cap`), plus the wording and the file
/// name. The inputs below go well past it.
const MAX_ERROR_CHARS: usize = 800;

fn no_env() -> Serialized<HashMap<String, String>> {
    Serialized::defaults(HashMap::new())
}

fn load_text(text: &str) -> Result<Config, ConfigErrors> {
    let mut file = tempfile::NamedTempFile::new().map_err(|e| io_error(&e))?;
    file.write_all(text.as_bytes()).map_err(|e| io_error(&e))?;
    load_with_env(Some(file.path()), no_env(), &CliOverrides::default())
}

fn io_error(e: &std::io::Error) -> ConfigErrors {
    ConfigErrors(vec![ConfigError::new("test", e.to_string())])
}

/// A TOML string literal holding `s`.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A long value, so that an uncapped echo would break [`MAX_ERROR_CHARS`].
fn long_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        ("[a-z]{1,4}", 300usize..2000).prop_map(|(s, n)| s.repeat(n / s.len().max(1))),
    ]
}

/// Duration text as written, mostly close to humantime's grammar.
fn duration_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            any::<u64>(),
            prop_oneof![
                Just("ns"),
                Just("ms"),
                Just("s"),
                Just("m"),
                Just("h"),
                Just("d"),
                Just("w"),
                Just("M"),
                Just("y"),
                Just("parsecs"),
                Just("")
            ]
        )
            .prop_map(|(n, unit)| format!("{n}{unit}")),
        "[0-9 a-z.-]{0,12}",
        long_text(),
    ]
}

/// Keys of the configuration, and others.
fn toml_key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &[
                "listen_address",
                "telemetry_path",
                "interval",
                "timeout",
                "connections",
                "level",
                "format",
                "detail",
                "max_series",
                "pipelines",
                "name",
                "url",
                "idle_after",
                "max_age"
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-z_]{1,12}",
        long_text().prop_map(|k| toml_string(&k)),
    ]
}

fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        long_text().prop_map(|s| toml_string(&s)),
        duration_text().prop_map(|s| toml_string(&s)),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        Just("[1, \"a\"]".to_owned()),
        Just("{ a = 1 }".to_owned()),
        Just("1979-05-27T07:32:00Z".to_owned()),
    ]
}

/// A file of sections and `key = value` lines, sometimes broken.
fn toml_text() -> impl Strategy<Value = String> {
    let section = prop_oneof![
        proptest::sample::select(
            &[
                "[web]",
                "[log]",
                "[poll]",
                "[metrics]",
                "[zombie]",
                "[[targets]]",
                "[nope]"
            ][..]
        )
        .prop_map(str::to_owned),
        "\\[[a-z.]{0,10}\\]?",
    ];
    let line = prop_oneof![
        4 => (toml_key(), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => section,
        1 => "[^\n]{0,30}",
    ];
    proptest::collection::vec(line, 0..8).prop_map(|lines| lines.join("\n"))
}

/// A password with the characters that confuse URL parsing, behind a marker no message holds.
fn password() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/#?@:%.!~ -]{4,16}".prop_map(|p| format!("Zq{p}"))
}

/// A URL that fails validation, carrying `user:password@`.
fn url_with_password() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            Just("ws://"),
            Just("wss://"),
            Just("ftp://"),
            Just("http://"),
            Just("")
        ],
        "[a-z]{0,6}",
        password(),
        prop_oneof![
            Just("kms:notaport/kurento"),
            Just("kms:99999"),
            Just(""),
            Just("kms:8888/kurento?token=x"),
            Just("[::1:8888")
        ],
    )
        .prop_map(|(scheme, user, password, rest)| {
            (format!("{scheme}{user}:{password}@{rest}"), password)
        })
}

fn assert_capped(errors: &ConfigErrors) -> Result<(), TestCaseError> {
    prop_assert!(!errors.is_empty());
    for e in errors.iter() {
        let line = e.to_string();
        prop_assert!(
            line.chars().count() <= MAX_ERROR_CHARS,
            "{} chars: {}",
            line.chars().count(),
            line.chars().take(300).collect::<String>()
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    /// Any file text loads or fails with short errors.
    #[test]
    fn any_file_loads_or_fails_briefly(text in prop_oneof![toml_text(), any::<String>()]) {
        if let Err(errors) = load_text(&text) {
            assert_capped(&errors)?;
        }
    }

    /// Any duration text in any duration key loads or fails with short errors naming the key.
    #[test]
    fn any_duration_loads_or_fails_briefly(
        key in proptest::sample::select(&[
            "poll.interval", "poll.timeout", "poll.reconcile_interval", "poll.cpu_sample",
            "poll.ready_timeout", "web.header_read_timeout", "zombie.idle_after", "zombie.max_age",
        ][..]),
        duration in duration_text(),
    ) {
        let (section, name) = key.split_once('.').unwrap_or(("poll", key));
        let text = format!("[{section}]\n{name} = {}\n", toml_string(&duration));
        if let Err(errors) = load_text(&text) {
            assert_capped(&errors)?;
            prop_assert!(errors.iter().any(|e| e.key == key), "{}: {}", key, errors);
        }
    }

    /// A poll interval between the default timeout and the maximum loads as written.
    #[test]
    fn valid_interval_loads_as_written(secs in 11u64..=3600, unit in prop_oneof![Just("s"), Just("m")]) {
        let (text, want) = match unit {
            "m" => (format!("{}m", secs / 60 + 1), Duration::from_secs((secs / 60 + 1) * 60)),
            _ => (format!("{secs}s"), Duration::from_secs(secs)),
        };
        prop_assume!(want <= MAX_INTERVAL);
        let loaded = load_text(&format!("[poll]\ninterval = {}\n", toml_string(&text)));
        prop_assert_eq!(loaded.map(|c| c.poll.interval), Ok(want));
    }

    /// No error about a target shows its password, whatever it holds, from the file or from
    /// validating a configuration built in code.
    #[test]
    fn errors_never_show_a_target_password((url, password) in url_with_password()) {
        let text = format!("[[targets]]\nname = \"a\"\nurl = {}\n", toml_string(&url));
        // Some generated URLs are valid (a plain password, a good port): no error to check.
        if let Err(errors) = load_text(&text) {
            assert_capped(&errors)?;
            prop_assert!(!errors.to_string().contains(&password), "{}", errors);
        }

        let config = Config {
            targets: vec![TargetConfig { url: url.clone(), ..TargetConfig::default_target() }],
            ..Config::default()
        };
        let errors = config.validate().err().map(|e| e.to_string()).unwrap_or_default();
        prop_assert!(!errors.contains(&password), "{}", errors);
    }
}

proptest! {
    // Each case runs in a figment Jail (a process-wide lock and real environment variables).
    #![proptest_config(config(32))]

    /// A bad value in an environment variable fails with a short error naming the variable.
    #[test]
    fn any_env_duration_fails_briefly(duration in duration_text()) {
        prop_assume!(!duration.contains('\0') && !duration.trim().is_empty());
        let mut outcome = Ok(());
        Jail::expect_with(|jail| {
            jail.set_env("KURENTO_EXPORTER_POLL__INTERVAL", &duration);
            outcome = match load_with_env(None, env_provider(), &CliOverrides::default()) {
                Ok(_) => Ok(()),
                Err(errors) => assert_capped(&errors),
            };
            Ok(())
        });
        outcome?;
    }
}
