//! `kurento_exporter bench`: drives the exporter (a child process) against in-process simulators
//! and prints the figures as markdown, judged against the targets in BENCHMARKS.md.
//!
//! Layers: [`cases`] (what runs), [`procfs`] and [`scrape`] (reading the process and its
//! `/metrics`), [`figures`] (samples → figures → verdicts, pure), [`report`] (markdown, pure),
//! [`child`] and [`run`] (the thin orchestration).

pub(crate) mod cases;
pub(crate) mod child;
pub(crate) mod figures;
pub(crate) mod procfs;
pub(crate) mod report;
pub(crate) mod run;
pub(crate) mod scrape;

use std::path::PathBuf;
use std::time::Duration;

pub use cases::BenchCase;
pub use run::{BenchError, run};

/// Flags of `bench`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BenchArgs {
    /// Case to run (repeatable); every case when absent.
    #[arg(long = "case", value_enum, value_name = "NAME")]
    pub cases: Vec<BenchCase>,
    /// Directory holding bench-1k.toml and bench-10k.toml.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenario_dir: PathBuf,
    /// Poll interval of the exporter under test, for every case [default: each case's own: 15s
    /// for 100kms-100, the interval its targets are stated for, 5s for the others]
    #[arg(long, value_name = "DURATION", value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Measured cycles per case (after the first one).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub cycles: u32,
    /// Read connections per KMS (`[poll] connections`).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub connections: u32,
    /// Full /metrics renders timed per format (each waits for a cycle to publish a snapshot;
    /// as many cached scrapes are timed too).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub render_samples: u32,
    /// Small versions of the cases (at most 2 KMS, 5 copies of each scenario pipeline, 3 timed
    /// scrapes): a smoke test, not a measurement.
    #[arg(long)]
    pub quick: bool,
}

/// The exporter refuses intervals under a second.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let interval = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if interval < crate::app::config::MIN_INTERVAL {
        return Err(format!("must be at least 1s, got {text}"));
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `bench`'s flags as the command line parses them (the first word is the command name).
    #[derive(Debug, Parser)]
    struct Bench {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Bench::try_parse_from(args).map(|bench| bench.args)
    }

    #[test]
    fn bench_flags_and_defaults() {
        let args = parse(&["bench"]).unwrap();
        assert_eq!(
            args,
            BenchArgs {
                cases: vec![],
                scenario_dir: PathBuf::from("scenarios"),
                interval: None,
                cycles: 5,
                connections: 2,
                render_samples: 5,
                quick: false,
            }
        );
        let args = parse(&[
            "bench",
            "--case",
            "1kms-1k",
            "--case",
            "1kms-10k-element",
            "--interval",
            "1s",
            "--cycles",
            "1",
            "--quick",
            "--scenario-dir",
            "/tmp/s",
            "--connections",
            "4",
        ])
        .unwrap();
        assert_eq!(
            args.cases,
            vec![BenchCase::OneKms1k, BenchCase::OneKms10kElement]
        );
        assert_eq!(args.interval, Some(Duration::from_secs(1)));
        assert_eq!((args.cycles, args.connections, args.quick), (1, 4, true));
        assert_eq!(args.scenario_dir, PathBuf::from("/tmp/s"));
    }

    #[test]
    fn bad_bench_flags_are_rejected() {
        let cases: &[&[&str]] = &[
            &["bench", "--case", "2kms"],
            &["bench", "--interval", "500ms"],
            &["bench", "--interval", "soon"],
            &["bench", "--cycles", "0"],
            &["bench", "--connections", "17"],
        ];
        for args in cases {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
