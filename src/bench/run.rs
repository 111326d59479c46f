//! The thin orchestration: simulators in process, the exporter as a child, scrapes on a schedule.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use crate::analysis::detail::DetailLevel;
use crate::sim::{self, Scenario, SimOptions, Simulator};

use super::BenchArgs;
use super::cases::{self, BenchCase, CaseSpec};
use super::child::{ChildError, ExporterProcess};
use super::figures::{CaseMeasurement, Render, TargetProgress, figures, verdicts};
use super::procfs::{self, Machine};
use super::report::{self, RunFacts};
use super::scrape::{self, ACCEPT_OPENMETRICS, HttpError, HttpResponse};

/// `[poll] cpu_sample` of the exporter under test (keeps getUsedCpu short).
const CPU_SAMPLE: Duration = Duration::from_millis(100);
/// Time for the exporter to log its listen address.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for every target to finish its first cycle.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// Extra time, beyond the measured cycles, before giving up.
const MEASURE_SLACK: Duration = Duration::from_secs(60);
/// Pause between readiness checks.
const READY_POLL: Duration = Duration::from_millis(100);
/// Limit of one HTTP exchange.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Timed scrapes per format in a `--quick` run.
const QUICK_RENDER_SAMPLES: u32 = 3;
/// Pause between checks of the targets API while waiting for a cycle to publish.
const PUBLISH_POLL: Duration = Duration::from_millis(20);

/// Why the benchmark stopped.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("case {case}: {source}")]
    Scenario {
        case: &'static str,
        source: sim::SimError,
    },
    #[error("case {case}: cannot write the exporter config {path}: {source}")]
    ConfigFile {
        case: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("case {case}: {source}")]
    Exporter {
        case: &'static str,
        source: ChildError,
    },
    #[error("case {case}: {source}; the exporter's last log lines:\n{tail}")]
    Http {
        case: &'static str,
        source: HttpError,
        tail: String,
    },
    #[error("case {case}: {what} after {waited:?}; the exporter's last log lines:\n{tail}")]
    Deadline {
        case: &'static str,
        what: &'static str,
        waited: Duration,
        tail: String,
    },
    #[error("case {case}: cannot read the exporter's /proc entries: {source}")]
    Proc {
        case: &'static str,
        source: std::io::Error,
    },
    #[error("cannot write the report: {0}")]
    Output(#[from] std::io::Error),
    #[error("interrupted")]
    Interrupted,
}

/// Runs the selected cases and prints the report to stdout, a row as each case ends. SIGINT or
/// SIGTERM stop it, killing the exporter child on the way out.
pub async fn run(args: &BenchArgs) -> Result<(), BenchError> {
    tokio::select! {
        result = run_cases(args) => result,
        _ = crate::app::signals::shutdown_signal() => Err(BenchError::Interrupted),
    }
}

async fn run_cases(args: &BenchArgs) -> Result<(), BenchError> {
    let mut out = std::io::stdout();
    let facts = RunFacts {
        command: command_line(),
        version: crate::app::build::version_string(),
        interval: match args.interval {
            Some(interval) => humantime::format_duration(interval).to_string(),
            None => "each case's own (15s for 100kms-100, 5s for the others)".to_owned(),
        },
        cycles: args.cycles,
        connections: args.connections,
        cpu_sample: humantime::format_duration(CPU_SAMPLE).to_string(),
        render_samples: render_samples(args),
        quick: args.quick,
    };
    write!(out, "{}", report::header(&Machine::read(), &facts))?;
    write!(out, "{}", report::table_head())?;
    out.flush()?;
    let mut all_verdicts = Vec::new();
    for case in cases::selected(&args.cases) {
        let measured = measure(case, args).await?;
        let figures = figures(&measured);
        let verdicts = verdicts(&figures);
        write!(out, "{}", report::table_row(&figures, &verdicts))?;
        out.flush()?;
        all_verdicts.extend(verdicts);
    }
    write!(
        out,
        "{}{}",
        report::verdict_table(&all_verdicts),
        report::NOTES
    )?;
    out.flush()?;
    Ok(())
}

fn render_samples(args: &BenchArgs) -> u32 {
    if args.quick {
        args.render_samples.min(QUICK_RENDER_SAMPLES)
    } else {
        args.render_samples
    }
}

/// This process's command line, with the program's file name only.
fn command_line() -> String {
    let mut args = std::env::args();
    let program = args
        .next()
        .and_then(|p| {
            Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "kurento_exporter".to_owned());
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The exporter's config for a case (TOML).
pub fn exporter_config(
    targets: &[(String, String)],
    interval: Duration,
    connections: u32,
    detail: DetailLevel,
) -> String {
    // Below the interval, above cpu_sample.
    let timeout = (interval * 4 / 5).max(CPU_SAMPLE * 2);
    let mut toml = format!(
        "[log]\nlevel = \"info\"\nformat = \"json\"\n\n[poll]\ninterval = \"{}ms\"\ntimeout = \"{}ms\"\nconnections = {connections}\ncpu_sample = \"{}ms\"\n\n[metrics]\ndetail = \"{}\"\n",
        interval.as_millis(),
        timeout.as_millis(),
        CPU_SAMPLE.as_millis(),
        cases::detail_name(detail),
    );
    for (name, url) in targets {
        toml.push_str(&format!(
            "\n[[targets]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
    }
    toml
}

/// The exporter config file of a case; removed when dropped.
struct ConfigFile(PathBuf);

impl ConfigFile {
    fn write(case: &'static str, text: &str) -> Result<ConfigFile, BenchError> {
        let path = std::env::temp_dir().join(format!(
            "kurento_exporter-bench-{}-{case}.toml",
            std::process::id()
        ));
        std::fs::write(&path, text).map_err(|source| BenchError::ConfigFile {
            case,
            path: path.clone(),
            source,
        })?;
        Ok(ConfigFile(path))
    }
}

impl Drop for ConfigFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The poll interval of a case: `--interval`, else the case's own.
fn interval_of(args: &BenchArgs, spec: &CaseSpec) -> Duration {
    args.interval.unwrap_or(spec.interval)
}

/// Operations a simulator has charged `service_time` for: one per frame, or one per inner
/// operation of a transaction. The one place that asks the simulator.
fn served_operations(simulator: &Simulator) -> u64 {
    simulator.served_stats().operations
}

/// Runs one case: simulators up, exporter up, measured, everything stopped (also on error).
async fn measure(case: BenchCase, args: &BenchArgs) -> Result<CaseMeasurement, BenchError> {
    let spec = case.spec(args.quick);
    let name = spec.name;
    let scenario_path = args.scenario_dir.join(spec.scenario_file);
    let mut scenario = Scenario::from_file(&scenario_path)
        .map_err(|source| BenchError::Scenario { case: name, source })?;
    if args.quick {
        cases::shrink(&mut scenario, cases::QUICK_MAX_PIPELINES);
    }
    let mut simulators = Vec::with_capacity(spec.kms);
    for _ in 0..spec.kms {
        let options = SimOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            scenario: scenario.clone(),
        };
        let simulator = Simulator::start(options)
            .await
            .map_err(|source| BenchError::Scenario { case: name, source })?;
        simulators.push(simulator);
    }
    let targets: Vec<(String, String)> = simulators
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("kms-{}", i + 1), s.url()))
        .collect();
    let config = ConfigFile::write(
        name,
        &exporter_config(
            &targets,
            interval_of(args, &spec),
            args.connections,
            spec.detail,
        ),
    )?;
    let exporter = ExporterProcess::spawn(&config.0, SPAWN_TIMEOUT)
        .await
        .map_err(|source| BenchError::Exporter { case: name, source })?;
    let running = Running {
        spec: &spec,
        args,
        exporter: &exporter,
        simulators: &simulators,
        names: targets.into_iter().map(|(n, _)| n).collect(),
    };
    let result = running.measure(&scenario).await;
    exporter.kill().await;
    for simulator in simulators {
        simulator.shutdown().await;
    }
    result
}

/// A case whose simulators and exporter are up.
struct Running<'a> {
    spec: &'a CaseSpec,
    args: &'a BenchArgs,
    exporter: &'a ExporterProcess,
    simulators: &'a [Simulator],
    /// Target names, in simulator order.
    names: Vec<String>,
}

impl Running<'_> {
    async fn measure(&self, scenario: &Scenario) -> Result<CaseMeasurement, BenchError> {
        let interval = interval_of(self.args, self.spec);
        let wanted = u64::from(self.args.cycles);
        let mut progress = vec![TargetProgress::default(); self.names.len()];

        self.wait_ready().await?;
        let first_cycles_deadline = Instant::now() + READY_TIMEOUT;
        while !progress.iter().all(|p| p.first.is_some()) {
            self.check(
                first_cycles_deadline,
                READY_TIMEOUT,
                "not every KMS finished a first cycle",
            )?;
            tokio::time::sleep(READY_POLL).await;
            self.observe(&mut progress, wanted).await?;
        }

        // The measured window: one scrape per interval, half an interval after the cycles end.
        let clock_ticks_per_second = procfs::clock_ticks_per_second();
        let before = self.process_sample()?;
        let window_start = Instant::now();
        let limit = interval * (self.args.cycles + 3) + MEASURE_SLACK;
        let mut next = window_start + interval / 2;
        while !progress.iter().all(|p| p.done(wanted)) {
            self.check(
                window_start + limit,
                limit,
                "the measured cycles did not all finish",
            )?;
            tokio::time::sleep_until(next).await;
            next += interval;
            self.observe(&mut progress, wanted).await?;
        }
        let after = self.process_sample()?;
        let window = window_start.elapsed();

        let (renders_text, renders_openmetrics) = self.full_renders(interval).await?;
        let scrapes_cached = self.cached_scrapes().await?;
        let peak_rss_kib = self.process_sample()?.peak_rss_kib;

        let first_cycles = self
            .names
            .iter()
            .zip(&progress)
            .filter_map(|(name, p)| {
                let connected = self.exporter.connected_at(name)?;
                let first = p.first.as_ref()?.last_success;
                (first > connected).then_some(first - connected)
            })
            .collect();
        Ok(CaseMeasurement {
            case: self.spec.name.to_owned(),
            kms: self.spec.kms,
            endpoints_per_kms: cases::endpoints(scenario),
            detail: self.spec.detail,
            interval,
            service_time: scenario.timing.service_time,
            cpu_sample: CPU_SAMPLE,
            connections: self.args.connections,
            targets: progress,
            first_cycles,
            cpu_ticks: after.cpu_ticks.saturating_sub(before.cpu_ticks),
            clock_ticks_per_second,
            window,
            peak_rss_kib,
            renders_text,
            renders_openmetrics,
            scrapes_cached,
        })
    }

    /// Polls `/-/ready` until it answers 200.
    async fn wait_ready(&self) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while self.get("/-/ready", None).await?.status != 200 {
            self.check(deadline, READY_TIMEOUT, "the exporter did not turn ready")?;
            tokio::time::sleep(READY_POLL).await;
        }
        Ok(())
    }

    /// One scrape, fed to every target's progress with its simulator's served operations.
    async fn observe(
        &self,
        progress: &mut [TargetProgress],
        wanted: u64,
    ) -> Result<(), BenchError> {
        let response = self.get("/metrics", None).await?;
        let readings = scrape::readings(&String::from_utf8_lossy(&response.body));
        for ((name, simulator), p) in self.names.iter().zip(self.simulators).zip(progress) {
            if let Some(reading) = readings.get(name) {
                p.observe(
                    reading,
                    served_operations(simulator),
                    interval_of(self.args, self.spec),
                    wanted,
                );
            }
        }
        Ok(())
    }

    /// Timed scrapes that each render in full: the exporter renders once per published
    /// snapshot and format and serves repeats from a cache, so every sample waits for a cycle
    /// to publish (the targets API changes) and then scrapes each format once.
    async fn full_renders(
        &self,
        interval: Duration,
    ) -> Result<(Vec<Render>, Vec<Render>), BenchError> {
        let (mut text, mut openmetrics) = (Vec::new(), Vec::new());
        let samples = render_samples(self.args);
        let limit = interval * (samples + 2) + MEASURE_SLACK;
        let deadline = Instant::now() + limit;
        let mut seen = self.get("/api/v1/targets", None).await?.body;
        for _ in 0..samples {
            loop {
                self.check(deadline, limit, "no new snapshot to render")?;
                let now = self.get("/api/v1/targets", None).await?.body;
                if now != seen {
                    seen = now;
                    break;
                }
                tokio::time::sleep(PUBLISH_POLL).await;
            }
            text.push(self.timed_scrape(None).await?);
            openmetrics.push(self.timed_scrape(Some(ACCEPT_OPENMETRICS)).await?);
        }
        Ok((text, openmetrics))
    }

    /// Timed text scrapes of a snapshot already rendered (what concurrent scrapers see).
    async fn cached_scrapes(&self) -> Result<Vec<Render>, BenchError> {
        let mut scrapes = Vec::new();
        for _ in 0..=render_samples(self.args) {
            scrapes.push(self.timed_scrape(None).await?);
        }
        // The first may have rendered a snapshot published meanwhile.
        scrapes.remove(0);
        Ok(scrapes)
    }

    async fn timed_scrape(&self, accept: Option<&str>) -> Result<Render, BenchError> {
        let started = Instant::now();
        let response = self.get("/metrics", accept).await?;
        Ok(Render {
            seconds: started.elapsed().as_secs_f64(),
            bytes: response.body.len(),
        })
    }

    async fn get(&self, path: &str, accept: Option<&str>) -> Result<HttpResponse, BenchError> {
        scrape::get(self.exporter.addr(), path, accept, HTTP_TIMEOUT)
            .await
            .map_err(|source| BenchError::Http {
                case: self.spec.name,
                source,
                tail: self.exporter.log_tail(),
            })
    }

    fn check(
        &self,
        deadline: Instant,
        waited: Duration,
        what: &'static str,
    ) -> Result<(), BenchError> {
        if Instant::now() < deadline {
            return Ok(());
        }
        Err(BenchError::Deadline {
            case: self.spec.name,
            what,
            waited,
            tail: self.exporter.log_tail(),
        })
    }

    fn process_sample(&self) -> Result<procfs::ProcessSample, BenchError> {
        procfs::sample(self.exporter.pid()).map_err(|source| BenchError::Proc {
            case: self.spec.name,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::Config;

    #[test]
    fn exporter_config_is_valid_and_complete() {
        let targets = vec![
            ("kms-1".to_owned(), "ws://127.0.0.1:1/kurento".to_owned()),
            ("kms-2".to_owned(), "ws://127.0.0.1:2/kurento".to_owned()),
        ];
        let cases = [
            (
                Duration::from_secs(1),
                DetailLevel::Element,
                Duration::from_millis(800),
            ),
            (
                Duration::from_secs(5),
                DetailLevel::Aggregated,
                Duration::from_secs(4),
            ),
        ];
        for (interval, detail, timeout) in cases {
            let text = exporter_config(&targets, interval, 3, detail);
            let config: Config = toml::from_str(&text).unwrap();
            config.validate().unwrap();
            assert_eq!(config.poll.interval, interval);
            assert_eq!(config.poll.timeout, timeout);
            assert_eq!(config.poll.connections, 3);
            assert_eq!(config.poll.cpu_sample, CPU_SAMPLE);
            assert_eq!(config.metrics.detail, detail);
            let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, vec!["kms-1", "kms-2"]);
            assert_eq!(config.targets[1].url, "ws://127.0.0.1:2/kurento");
        }
    }

    #[test]
    fn config_file_is_removed_on_drop() {
        let file = ConfigFile::write("unit-test", "x = 1\n").unwrap();
        let path = file.0.clone();
        assert!(path.exists());
        drop(file);
        assert!(!path.exists());
    }
}
