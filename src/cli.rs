//! Command line (Prometheus-style dotted flags), the `check-config` subcommand, and the shell
//! completions and man page generated from the command line's definition.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use clap::{CommandFactory, Parser, Subcommand, ValueHint};
use clap_complete::Shell;

use crate::app::build::version_string;
use crate::app::config::{self, CliOverrides, LogFormat, LogLevel};
use crate::app::web_config;

static LONG_VERSION: LazyLock<String> = LazyLock::new(version_string);

/// kurento_exporter: Prometheus exporter for Kurento Media Server.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "kurento_exporter", version = LONG_VERSION.as_str(), about)]
pub struct Cli {
    /// Configuration file (TOML). Without it, defaults and KURENTO_EXPORTER_* variables apply.
    #[arg(long = "config.file", value_name = "PATH", global = true, value_hint = ValueHint::FilePath)]
    pub config_file: Option<PathBuf>,
    /// Address to listen on for HTTP requests, host:port or :port; repeat to listen on several.
    #[arg(long = "web.listen-address", value_name = "ADDR", global = true)]
    pub listen_address: Vec<String>,
    /// Use the sockets passed by systemd socket activation instead of --web.listen-address.
    #[arg(long = "web.systemd-socket", global = true)]
    pub systemd_socket: bool,
    /// Web configuration file (exporter-toolkit YAML: TLS, basic auth, headers), as
    /// node_exporter's.
    #[arg(long = "web.config.file", value_name = "PATH", global = true)]
    pub web_config_file: Option<PathBuf>,
    /// Path under which to expose metrics.
    #[arg(long = "web.telemetry-path", value_name = "PATH", global = true)]
    pub telemetry_path: Option<String>,
    /// Enable POST /-/reload (reload the configuration, as SIGHUP does).
    #[arg(long = "web.enable-lifecycle", global = true)]
    pub enable_lifecycle: bool,
    /// Only log messages with the given severity or above.
    #[arg(long = "log.level", value_enum, global = true)]
    pub log_level: Option<LogLevel>,
    /// Output format of log messages.
    #[arg(long = "log.format", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Worker threads of the async runtime (1–1024). `run` uses 1 unless told otherwise, the
    /// other commands one per CPU; TOKIO_WORKER_THREADS applies when this flag is absent.
    #[arg(
        long = "runtime.worker-threads",
        value_name = "N",
        global = true,
        value_parser = clap::value_parser!(u16).range(1..=1024)
    )]
    pub worker_threads: Option<u16>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; none given means [`Command::Run`].
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Run the exporter (the default).
    Run,
    /// Validate the configuration, print every problem, and exit (0 = valid, 1 = invalid).
    CheckConfig,
    /// Run the built-in simulated KMS.
    Simulate {
        /// Address for the simulated KMS WebSocket, e.g. 127.0.0.1:8888.
        #[arg(long, value_name = "ADDR")]
        listen: SocketAddr,
        /// Scenario file (TOML); the built-in scenario when absent.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        scenario: Option<PathBuf>,
        /// Address negotiated endpoints bind their UDP sockets on (their host candidate);
        /// overrides the scenario's `peers.media_address` (default 127.0.0.1).
        #[arg(long = "media-address", value_name = "IP")]
        media_address: Option<std::net::IpAddr>,
    },
    /// Run the simulated KMS and the exporter on it, to see the metrics in one command.
    Demo {
        /// Scenario file (TOML); the built-in lively scenario when absent.
        #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
        scenario: Option<PathBuf>,
        /// Address negotiated endpoints bind their UDP sockets on (default 127.0.0.1).
        #[arg(long = "media-address", value_name = "IP")]
        media_address: Option<std::net::IpAddr>,
    },
    /// Benchmark the exporter against simulated KMSs and print markdown (BENCHMARKS.md "Targets").
    Bench(crate::bench::BenchArgs),
    /// Print the shell completion script for SHELL (packaging; see README "Deploying").
    #[command(hide = true)]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page, kurento_exporter(1), as roff; with --dir, write it and one page per
    /// subcommand (kurento_exporter-SUBCOMMAND(1)) into DIR instead (packaging; see README
    /// "Deploying").
    #[command(hide = true)]
    Man {
        /// Folder to write every page into (it must exist).
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        dir: Option<PathBuf>,
    },
}

impl Cli {
    /// The subcommand to run, defaulting to `run`.
    pub fn command_or_default(&self) -> Command {
        self.command.clone().unwrap_or(Command::Run)
    }

    /// The runtime's worker threads for `command`; `None` leaves the choice to tokio
    /// (`TOKIO_WORKER_THREADS`, else one per CPU). `run` defaults to one worker, as
    /// node_exporter defaults to one CPU (`--runtime.gomaxprocs=1`): an exporter often shares its
    /// host with the KMS it watches, and one worker costs less per cycle (fewer wake-ups of idle
    /// threads; BENCHMARKS.md, 2026-12-01). Renders run on the blocking pool either way.
    /// `tokio_env_set`: whether `TOKIO_WORKER_THREADS` is set.
    pub fn worker_threads(&self, tokio_env_set: bool) -> Option<usize> {
        if let Some(n) = self.worker_threads {
            return Some(usize::from(n));
        }
        match self.command_or_default() {
            Command::Run if !tokio_env_set => Some(1),
            _ => None,
        }
    }

    /// The flag values that override the configuration file and environment.
    pub fn overrides(&self) -> CliOverrides {
        let (first, rest) = match self.listen_address.split_first() {
            Some((first, rest)) => (Some(first.clone()), Some(rest.to_vec())),
            None => (None, None),
        };
        CliOverrides {
            listen_address: first,
            extra_listen_addresses: rest,
            web_config_file: self.web_config_file.clone(),
            systemd_socket: self.systemd_socket.then_some(true),
            telemetry_path: self.telemetry_path.clone(),
            enable_lifecycle: self.enable_lifecycle.then_some(true),
            log_level: self.log_level,
            log_format: self.log_format,
        }
    }

    /// The `--config.file` path, if given.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }
}

/// The completion script of `shell` for the whole command line.
pub fn completions(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kurento_exporter", &mut out);
    out
}

/// The command line as the man pages describe it: built (so subcommands carry their full names
/// and the global flags), without the `help` subcommand.
fn man_command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// The man page, kurento_exporter(1), in roff (hidden subcommands left out).
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(man_command()).render(&mut out)?;
    Ok(out)
}

/// Writes kurento_exporter.1 and a kurento_exporter-SUBCOMMAND.1 per visible subcommand, which
/// the first page's SUBCOMMANDS section refers to, into `dir`.
pub fn write_man_pages(dir: &Path) -> std::io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}

/// Exit code of `check-config` for a valid configuration.
pub const EXIT_OK: u8 = 0;
/// Exit code of `check-config` (and of a refused start) for an invalid configuration.
pub const EXIT_INVALID_CONFIG: u8 = 1;

/// Loads and validates the configuration like a start would, the web configuration file and its
/// TLS files included; returns the report to print and the process exit code.
pub fn check_config(file: Option<&Path>, overrides: &CliOverrides) -> (String, u8) {
    let loaded = config::load(file, overrides)
        .and_then(|config| web_config::http_setup(&config).map(|_| config));
    report(loaded)
}

/// The `check-config` report for a load result (pure, for tests).
pub fn report(result: Result<config::Config, config::ConfigErrors>) -> (String, u8) {
    match result {
        Ok(config) => {
            let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
            (
                format!("config OK: {} target(s): {}", names.len(), names.join(", ")),
                EXIT_OK,
            )
        }
        Err(errors) => (
            format!("config invalid: {} problem(s):\n{errors}", errors.len()),
            EXIT_INVALID_CONFIG,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("kurento_exporter").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_exporter_runs_one_worker_unless_told_otherwise() {
        // (arguments, TOKIO_WORKER_THREADS set, workers)
        let cases: [(&[&str], bool, Option<usize>); 7] = [
            (&[], false, Some(1)),
            (&["run"], false, Some(1)),
            (&["run"], true, None),
            (&["--runtime.worker-threads", "4"], false, Some(4)),
            (&["run", "--runtime.worker-threads=3"], true, Some(3)),
            (&["demo"], false, None),
            (&["bench", "--runtime.worker-threads", "2"], false, Some(2)),
        ];
        for (args, env, want) in cases {
            assert_eq!(parse(args).worker_threads(env), want, "{args:?} env {env}");
        }
        for bad in ["0", "1025", "many"] {
            let parsed = Cli::try_parse_from(["kurento_exporter", "--runtime.worker-threads", bad]);
            assert!(parsed.is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn no_subcommand_means_run() {
        let cli = parse(&[]);
        assert_eq!(cli.command, None);
        assert_eq!(cli.command_or_default(), Command::Run);
        assert_eq!(cli.overrides(), CliOverrides::default());
    }

    #[test]
    fn dotted_flags_become_overrides() {
        let cli = parse(&[
            "--config.file",
            "/etc/kurento_exporter.toml",
            "--web.listen-address=:9999",
            "--web.telemetry-path",
            "/m",
            "--log.level",
            "debug",
            "--log.format=json",
        ]);
        assert_eq!(
            cli.config_file(),
            Some(Path::new("/etc/kurento_exporter.toml"))
        );
        assert_eq!(cli.command_or_default(), Command::Run);
        assert_eq!(
            cli.overrides(),
            CliOverrides {
                listen_address: Some(":9999".to_owned()),
                extra_listen_addresses: Some(Vec::new()),
                web_config_file: None,
                systemd_socket: None,
                telemetry_path: Some("/m".to_owned()),
                enable_lifecycle: None,
                log_level: Some(LogLevel::Debug),
                log_format: Some(LogFormat::Json),
            }
        );
    }

    #[test]
    fn web_flags_become_overrides() {
        let cli = parse(&[
            "--web.listen-address=127.0.0.1:1",
            "--web.listen-address",
            "[::1]:2",
            "--web.listen-address=:3",
            "--web.config.file",
            "/etc/web.yml",
            "--web.systemd-socket",
        ]);
        let o = cli.overrides();
        assert_eq!(o.listen_address.as_deref(), Some("127.0.0.1:1"));
        assert_eq!(
            o.extra_listen_addresses,
            Some(vec!["[::1]:2".to_owned(), ":3".to_owned()])
        );
        assert_eq!(o.web_config_file, Some(PathBuf::from("/etc/web.yml")));
        assert_eq!(o.systemd_socket, Some(true));
    }

    #[test]
    fn subcommands_parse() {
        let cases: Vec<(Vec<&str>, Command)> = vec![
            (vec!["run"], Command::Run),
            (vec!["check-config"], Command::CheckConfig),
            (
                vec!["simulate", "--listen", "127.0.0.1:8888"],
                Command::Simulate {
                    listen: "127.0.0.1:8888".parse().unwrap(),
                    scenario: None,
                    media_address: None,
                },
            ),
            (
                vec!["simulate", "--listen", "0.0.0.0:0", "--scenario", "s.toml"],
                Command::Simulate {
                    listen: "0.0.0.0:0".parse().unwrap(),
                    scenario: Some(PathBuf::from("s.toml")),
                    media_address: None,
                },
            ),
            (
                vec!["demo"],
                Command::Demo {
                    scenario: None,
                    media_address: None,
                },
            ),
            (
                vec![
                    "simulate",
                    "--listen",
                    "127.0.0.1:1",
                    "--media-address",
                    "127.0.0.2",
                ],
                Command::Simulate {
                    listen: "127.0.0.1:1".parse().unwrap(),
                    scenario: None,
                    media_address: Some("127.0.0.2".parse().unwrap()),
                },
            ),
            (
                vec!["completions", "bash"],
                Command::Completions { shell: Shell::Bash },
            ),
            (vec!["man"], Command::Man { dir: None }),
            (
                vec!["man", "--dir", "out"],
                Command::Man {
                    dir: Some(PathBuf::from("out")),
                },
            ),
            (
                vec!["demo", "--scenario", "x.toml"],
                Command::Demo {
                    scenario: Some(PathBuf::from("x.toml")),
                    media_address: None,
                },
            ),
        ];
        for (args, want) in cases {
            assert_eq!(parse(&args).command_or_default(), want, "args {args:?}");
        }
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = parse(&["demo", "--web.listen-address", "127.0.0.1:0"]);
        assert_eq!(
            cli.command_or_default(),
            Command::Demo {
                scenario: None,
                media_address: None
            }
        );
        assert_eq!(
            cli.overrides().listen_address.as_deref(),
            Some("127.0.0.1:0")
        );

        let cli = parse(&["check-config", "--config.file", "c.toml"]);
        assert_eq!(cli.command_or_default(), Command::CheckConfig);
        assert_eq!(cli.config_file(), Some(Path::new("c.toml")));
    }

    #[test]
    fn bad_arguments_are_rejected() {
        let cases: &[&[&str]] = &[
            &["--log.level", "loud"],
            &["--log.format", "xml"],
            &["simulate"],
            &["simulate", "--listen", "nowhere"],
            &["frobnicate"],
            &["--web.listen_address", ":1"],
            &["completions"],
            &["completions", "tcsh"],
        ];
        for args in cases {
            let result = Cli::try_parse_from(
                std::iter::once("kurento_exporter").chain(args.iter().copied()),
            );
            assert!(result.is_err(), "args {args:?} should be rejected");
        }
    }

    #[test]
    fn version_flag_prints_version_and_revision() {
        let err = Cli::try_parse_from(["kurento_exporter", "--version"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayVersion);
        assert_eq!(
            err.to_string(),
            format!(
                "kurento_exporter {} (revision {})\n",
                crate::app::build::VERSION,
                crate::app::build::revision()
            )
        );
    }

    #[test]
    fn completions_cover_the_subcommands_and_flags() {
        let bash = String::from_utf8(completions(Shell::Bash)).unwrap();
        assert!(bash.contains("complete -F _kurento_exporter"), "{bash}");
        for word in ["check-config", "simulate", "demo", "bench", "--config.file"] {
            assert!(bash.contains(word), "bash completion lacks {word}");
        }
        for shell in [Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let script = String::from_utf8(completions(shell)).unwrap();
            assert!(script.contains("check-config"), "{shell}: {script}");
        }
    }

    #[test]
    fn man_page_is_roff_with_the_subcommands() {
        let man = String::from_utf8(man_page().unwrap()).unwrap();
        assert!(man.starts_with(".ie \\n(.g .ds Aq"), "{man}");
        assert!(man.contains(".TH kurento_exporter 1"), "{man}");
        for word in ["check\\-config", "simulate", "config.file"] {
            assert!(man.contains(word), "man page lacks {word}:\n{man}");
        }
        assert!(
            !man.contains("completions") && !man.contains("kurento_exporter\\-help"),
            "hidden subcommands and help are not listed"
        );
    }

    #[test]
    fn man_pages_exist_for_every_subcommand_the_first_page_lists() {
        let dir = tempfile::tempdir().unwrap();
        write_man_pages(dir.path()).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "kurento_exporter-bench.1",
                "kurento_exporter-check-config.1",
                "kurento_exporter-demo.1",
                "kurento_exporter-run.1",
                "kurento_exporter-simulate.1",
                "kurento_exporter.1",
            ]
        );
        let first = std::fs::read(dir.path().join("kurento_exporter.1")).unwrap();
        assert_eq!(first, man_page().unwrap(), "stdout and --dir agree");
        let simulate =
            std::fs::read_to_string(dir.path().join("kurento_exporter-simulate.1")).unwrap();
        assert!(
            simulate.contains(".TH kurento_exporter-simulate 1"),
            "{simulate}"
        );
        assert!(simulate.contains("media\\-address"), "{simulate}");
    }

    #[test]
    fn report_of_a_valid_config_lists_targets() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(
            b"[[targets]]\nname = \"kms-a\"\nurl = \"ws://a/kurento\"\n[[targets]]\nname = \"kms-b\"\nurl = \"ws://b/kurento\"\n",
        )
        .unwrap();
        let result = config::load_with_env(
            Some(file.path()),
            figment::providers::Serialized::defaults(
                std::collections::HashMap::<String, String>::new(),
            ),
            &CliOverrides::default(),
        );
        assert_eq!(
            report(result),
            ("config OK: 2 target(s): kms-a, kms-b".to_owned(), EXIT_OK)
        );
    }

    #[test]
    fn report_of_an_invalid_config_lists_every_problem() {
        let errors = config::ConfigErrors(vec![
            config::ConfigError {
                key: "poll.connections".to_owned(),
                message: "must be between 1 and 16, got 0".to_owned(),
            },
            config::ConfigError {
                key: "targets[0].name".to_owned(),
                message: "must not be empty".to_owned(),
            },
        ]);
        assert_eq!(
            report(Err(errors)),
            (
                "config invalid: 2 problem(s):\npoll.connections: must be between 1 and 16, got 0\ntargets[0].name: must not be empty"
                    .to_owned(),
                EXIT_INVALID_CONFIG
            )
        );
    }

    #[test]
    fn check_config_reports_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.toml");
        let (text, code) = check_config(Some(&path), &CliOverrides::default());
        assert_eq!(code, EXIT_INVALID_CONFIG);
        assert!(
            text.starts_with("config invalid: 1 problem(s):\nconfig file: cannot read"),
            "{text}"
        );
        assert!(text.contains("nope.toml"), "{text}");
    }
}
