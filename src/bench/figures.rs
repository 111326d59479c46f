//! From samples to figures: per-target cycle progress, per-case figures and verdicts against the
//! targets (pure).

use std::time::Duration;

use crate::analysis::detail::DetailLevel;

use super::scrape::TargetReading;

/// A target's counters at one scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub last_success: f64,
    pub poll_duration: f64,
    /// `kurento_exporter_kms_requests_total`.
    pub requests: f64,
    /// Operations the target's simulator had served (`ServedStats::operations`).
    pub operations: u64,
}

/// One target followed through successive scrapes until it finished `wanted` more cycles after
/// the first successful one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetProgress {
    /// At the first scrape showing a successful cycle (the first cycle).
    pub first: Option<Mark>,
    /// When the `wanted`-th measured cycle was seen.
    pub end: Option<Mark>,
    /// Measured cycles seen so far.
    pub cycles: u64,
    /// `poll_duration` of each measured cycle the scrapes caught.
    pub durations: Vec<f64>,
    last_success: f64,
}

/// How many cycles ended between two success timestamps: 0 when unchanged, else the gap in
/// intervals rounded (at least 1), so a scrape that missed a cycle still counts it.
pub fn cycles_between(previous: f64, current: f64, interval: Duration) -> u64 {
    if current <= previous {
        return 0;
    }
    let gap = (current - previous) / interval.as_secs_f64().max(f64::EPSILON);
    (gap.round() as u64).max(1)
}

impl TargetProgress {
    /// Takes one scrape's reading of this target and the operations its simulator served.
    pub fn observe(
        &mut self,
        reading: &TargetReading,
        operations: u64,
        interval: Duration,
        wanted: u64,
    ) {
        if self.done(wanted) {
            return;
        }
        let (Some(last_success), Some(requests)) = (reading.last_success, reading.requests) else {
            return;
        };
        let mark = Mark {
            last_success,
            poll_duration: reading.poll_duration.unwrap_or(0.0),
            requests,
            operations,
        };
        if self.first.is_none() {
            self.first = Some(mark);
            self.last_success = last_success;
            return;
        }
        let ended = cycles_between(self.last_success, last_success, interval);
        if ended == 0 {
            return;
        }
        self.last_success = last_success;
        self.cycles += ended;
        self.durations.push(mark.poll_duration);
        if self.cycles >= wanted {
            self.end = Some(mark);
        }
    }

    pub fn done(&self, wanted: u64) -> bool {
        self.end.is_some() && self.cycles >= wanted
    }
}

/// One timed `/metrics` scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Render {
    pub seconds: f64,
    pub bytes: usize,
}

/// Everything measured for one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseMeasurement {
    pub case: String,
    pub kms: usize,
    pub endpoints_per_kms: u64,
    pub detail: DetailLevel,
    pub interval: Duration,
    /// The scenario's service time per operation.
    pub service_time: Duration,
    /// `[poll] cpu_sample`: getUsedCpu holds its own socket this long, so no cycle is shorter.
    pub cpu_sample: Duration,
    /// Read connections per KMS.
    pub connections: u32,
    pub targets: Vec<TargetProgress>,
    /// Per target: seconds from its "connected to KMS" log line to its first successful cycle.
    pub first_cycles: Vec<f64>,
    /// Exporter CPU ticks spent over `window`.
    pub cpu_ticks: u64,
    pub clock_ticks_per_second: u64,
    /// Wall time between the two CPU samples.
    pub window: Duration,
    pub peak_rss_kib: u64,
    /// Scrapes that rendered a new snapshot in full, per format.
    pub renders_text: Vec<Render>,
    pub renders_openmetrics: Vec<Render>,
    /// Text scrapes served from the render cache.
    pub scrapes_cached: Vec<Render>,
}

/// The figures of one case, as printed.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseFigures {
    pub case: String,
    pub kms: usize,
    pub endpoints_per_kms: u64,
    pub detail: DetailLevel,
    /// JSON-RPC frames the exporter sent, per KMS and cycle.
    pub requests_per_cycle: Option<f64>,
    /// Operations the simulator served (one per frame or per inner transaction operation), per
    /// KMS and cycle.
    pub operations_per_cycle: Option<f64>,
    pub cycle_mean_ms: Option<f64>,
    pub cycle_max_ms: Option<f64>,
    /// operations/cycle × service time ÷ read connections.
    pub serial_bound_ms: Option<f64>,
    /// What a cycle cannot beat: the serial bound, or `cpu_sample` when that is longer.
    pub cycle_floor_ms: Option<f64>,
    /// Slowest target's connect-to-first-success time (inventory build plus first cycle).
    pub first_cycle_ms: Option<f64>,
    /// Exporter CPU per interval, all KMS together.
    pub cpu_seconds_per_cycle: Option<f64>,
    /// That CPU as % of one core at a 15 s interval, per 1,000 endpoints.
    pub cpu_percent_per_1k_at_15s: Option<f64>,
    pub peak_rss_mib: f64,
    pub render_text_ms: Option<f64>,
    pub render_text_kib: Option<f64>,
    pub render_openmetrics_ms: Option<f64>,
    pub render_openmetrics_kib: Option<f64>,
    pub cached_scrape_ms: Option<f64>,
}

impl CaseFigures {
    pub fn total_endpoints(&self) -> u64 {
        self.endpoints_per_kms * self.kms as u64
    }
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

pub fn max(values: &[f64]) -> Option<f64> {
    values.iter().copied().reduce(f64::max)
}

pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// Σ(end − first) ÷ Σ cycles over the targets that finished, for one counter.
fn per_cycle(targets: &[TargetProgress], counter: impl Fn(&Mark) -> f64) -> Option<f64> {
    let (delta, cycles) = targets
        .iter()
        .filter_map(|t| {
            Some((
                counter(t.end.as_ref()?) - counter(t.first.as_ref()?),
                t.cycles,
            ))
        })
        .fold((0.0, 0u64), |(d, c), (dt, ct)| (d + dt, c + ct));
    (cycles > 0).then(|| delta / cycles as f64)
}

/// The interval the CPU target is stated for.
pub const CPU_TARGET_INTERVAL: Duration = Duration::from_secs(15);

pub fn figures(m: &CaseMeasurement) -> CaseFigures {
    let durations: Vec<f64> = m
        .targets
        .iter()
        .flat_map(|t| t.durations.iter().copied())
        .collect();
    let operations_per_cycle = per_cycle(&m.targets, |mark| mark.operations as f64);
    let serial_bound_ms = operations_per_cycle
        .map(|ops| ops * m.service_time.as_secs_f64() / f64::from(m.connections.max(1)) * 1000.0);
    let cpu_seconds_per_cycle = (m.clock_ticks_per_second > 0 && !m.window.is_zero()).then(|| {
        m.cpu_ticks as f64 / m.clock_ticks_per_second as f64 / m.window.as_secs_f64()
            * m.interval.as_secs_f64()
    });
    let total_endpoints = m.endpoints_per_kms * m.kms as u64;
    let cpu_percent_per_1k_at_15s =
        cpu_seconds_per_cycle
            .filter(|_| total_endpoints > 0)
            .map(|cpu| {
                cpu / CPU_TARGET_INTERVAL.as_secs_f64() / (total_endpoints as f64 / 1000.0) * 100.0
            });
    let ms = |renders: &[Render]| {
        median(
            &renders
                .iter()
                .map(|r| r.seconds * 1000.0)
                .collect::<Vec<_>>(),
        )
    };
    let kib = |renders: &[Render]| {
        median(
            &renders
                .iter()
                .map(|r| r.bytes as f64 / 1024.0)
                .collect::<Vec<_>>(),
        )
    };
    CaseFigures {
        case: m.case.clone(),
        kms: m.kms,
        endpoints_per_kms: m.endpoints_per_kms,
        detail: m.detail,
        requests_per_cycle: per_cycle(&m.targets, |mark| mark.requests),
        operations_per_cycle,
        cycle_mean_ms: mean(&durations).map(|s| s * 1000.0),
        cycle_max_ms: max(&durations).map(|s| s * 1000.0),
        serial_bound_ms,
        cycle_floor_ms: serial_bound_ms.map(|b| b.max(m.cpu_sample.as_secs_f64() * 1000.0)),
        first_cycle_ms: max(&m.first_cycles).map(|s| s * 1000.0),
        cpu_seconds_per_cycle,
        cpu_percent_per_1k_at_15s,
        peak_rss_mib: m.peak_rss_kib as f64 / 1024.0,
        render_text_ms: ms(&m.renders_text),
        render_text_kib: kib(&m.renders_text),
        render_openmetrics_ms: ms(&m.renders_openmetrics),
        render_openmetrics_kib: kib(&m.renders_openmetrics),
        cached_scrape_ms: ms(&m.scrapes_cached),
    }
}

/// A target next to its measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub case: String,
    pub figure: &'static str,
    /// `None` when it could not be measured (a MISS).
    pub measured: Option<f64>,
    pub limit: f64,
    pub unit: &'static str,
    /// How the limit reads, e.g. `≤ 1.5 × 12.5` or `< 64`.
    pub target: String,
    pub pass: bool,
}

pub const CYCLE_FACTOR: f64 = 1.5;
pub const CPU_PERCENT_PER_1K: f64 = 2.0;
pub const RSS_MIB: f64 = 64.0;
/// The RSS target is stated for this many endpoints; cases up to it are held to it.
pub const RSS_ENDPOINTS: u64 = 10_000;
pub const RENDER_DEFAULT_MS: f64 = 5.0;
/// A case with this many KMS is a fleet: one exporter watching many small KMS is held to a
/// whole-exporter budget (the fleets issue) instead of the per-endpoint one.
pub const FLEET_KMS: usize = 100;
pub const FLEET_CPU_PERCENT: f64 = 5.0;
pub const FLEET_RSS_MIB: f64 = 128.0;
pub const RENDER_ELEMENT_MS: f64 = 150.0;

/// The targets that apply to a case, each judged.
pub fn verdicts(f: &CaseFigures) -> Vec<Verdict> {
    let mut out = Vec::new();
    let mut push =
        |figure, measured: Option<f64>, limit: f64, unit, target: String, inclusive: bool| {
            let pass = measured.is_some_and(|m| if inclusive { m <= limit } else { m < limit });
            out.push(Verdict {
                case: f.case.clone(),
                figure,
                measured,
                limit,
                unit,
                target,
                pass,
            });
        };
    if let (Some(bound), Some(floor)) = (f.serial_bound_ms, f.cycle_floor_ms) {
        let target = if floor > bound {
            format!(
                "≤ {CYCLE_FACTOR} × cpu_sample {} (serial bound {} is shorter)",
                format_number(floor),
                format_number(bound)
            )
        } else {
            format!("≤ {CYCLE_FACTOR} × serial bound {}", format_number(bound))
        };
        push(
            "cycle mean",
            f.cycle_mean_ms,
            CYCLE_FACTOR * floor,
            "ms",
            target,
            true,
        );
    }
    push(
        "CPU per 1,000 endpoints at 15 s",
        f.cpu_percent_per_1k_at_15s,
        CPU_PERCENT_PER_1K,
        "% of a core",
        format!("< {CPU_PERCENT_PER_1K}"),
        false,
    );
    if f.kms >= FLEET_KMS {
        let whole = f
            .cpu_percent_per_1k_at_15s
            .map(|per_1k| per_1k * f.total_endpoints() as f64 / 1000.0);
        push(
            "CPU of the whole exporter at 15 s",
            whole,
            FLEET_CPU_PERCENT,
            "% of a core",
            format!("< {FLEET_CPU_PERCENT}"),
            false,
        );
        push(
            "peak RSS",
            Some(f.peak_rss_mib),
            FLEET_RSS_MIB,
            "MiB",
            format!("< {FLEET_RSS_MIB}"),
            false,
        );
    } else if f.total_endpoints() <= RSS_ENDPOINTS {
        push(
            "peak RSS",
            Some(f.peak_rss_mib),
            RSS_MIB,
            "MiB",
            format!("< {RSS_MIB}"),
            false,
        );
    }
    let render_limit = match f.detail {
        DetailLevel::Aggregated => Some(RENDER_DEFAULT_MS),
        DetailLevel::Element => Some(RENDER_ELEMENT_MS),
        DetailLevel::Pipeline => None,
    };
    if let Some(limit) = render_limit {
        let slowest = match (f.render_text_ms, f.render_openmetrics_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        push(
            "/metrics render (median, slower format)",
            slowest,
            limit,
            "ms",
            format!("< {limit}"),
            false,
        );
    }
    out
}

/// A number with about three significant digits (no exponent).
pub fn format_number(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.01 {
        format!("{x:.3}")
    } else {
        format!("{x:.5}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn reading(ts: f64, duration: f64, requests: f64) -> TargetReading {
        TargetReading {
            last_success: Some(ts),
            poll_duration: Some(duration),
            requests: Some(requests),
        }
    }

    #[test]
    fn cycles_between_rounds_gaps_to_intervals() {
        let cases = [
            (100.0, 100.0, 0),
            (100.0, 99.0, 0),
            (100.0, 100.2, 1),
            (100.0, 101.05, 1),
            (100.0, 102.9, 3),
            (100.0, 104.0, 4),
        ];
        for (previous, current, want) in cases {
            assert_eq!(
                cycles_between(previous, current, SECOND),
                want,
                "{previous} -> {current}"
            );
        }
    }

    #[test]
    fn progress_counts_cycles_after_the_first_and_stops_at_wanted() {
        let mut p = TargetProgress::default();
        let steps: &[(TargetReading, u64, u64, bool)] = &[
            // Not yet polled: ignored.
            (TargetReading::default(), 0, 0, false),
            // First success: the baseline.
            (reading(10.0, 0.9, 20.0), 50, 0, false),
            // Same cycle seen again.
            (reading(10.0, 0.9, 21.0), 51, 0, false),
            (reading(11.0, 0.2, 30.0), 80, 1, false),
            // A missed scrape: two cycles at once.
            (reading(13.0, 0.3, 50.0), 140, 3, true),
            // After the end nothing changes.
            (reading(14.0, 9.9, 99.0), 999, 3, true),
        ];
        for (i, (r, ops, cycles, done)) in steps.iter().enumerate() {
            p.observe(r, *ops, SECOND, 3);
            assert_eq!((p.cycles, p.done(3)), (*cycles, *done), "step {i}");
        }
        assert_eq!(p.durations, vec![0.2, 0.3]);
        assert_eq!(
            p.first.map(|m| (m.requests, m.operations, m.poll_duration)),
            Some((20.0, 50, 0.9))
        );
        assert_eq!(p.end.map(|m| (m.requests, m.operations)), Some((50.0, 140)));
    }

    #[test]
    fn statistics() {
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), Some(3.0));
        assert_eq!(max(&[1.0, 7.0, 6.0]), Some(7.0));
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    fn progress(
        first: (f64, u64),
        end: (f64, u64),
        cycles: u64,
        durations: Vec<f64>,
    ) -> TargetProgress {
        let mark = |(requests, operations): (f64, u64)| Mark {
            last_success: 0.0,
            poll_duration: 0.0,
            requests,
            operations,
        };
        TargetProgress {
            first: Some(mark(first)),
            end: Some(mark(end)),
            cycles,
            durations,
            last_success: 0.0,
        }
    }

    fn measurement() -> CaseMeasurement {
        CaseMeasurement {
            case: "2kms".into(),
            kms: 2,
            endpoints_per_kms: 1000,
            detail: DetailLevel::Aggregated,
            interval: Duration::from_secs(5),
            service_time: Duration::from_micros(50),
            cpu_sample: Duration::from_millis(10),
            connections: 2,
            targets: vec![
                progress((100.0, 300), (160.0, 1300), 2, vec![0.1, 0.3]),
                progress((100.0, 300), (200.0, 1300), 2, vec![0.2, 0.2]),
                // Never finished: left out of the per-cycle counts.
                TargetProgress::default(),
            ],
            first_cycles: vec![0.5, 0.75],
            cpu_ticks: 30,
            clock_ticks_per_second: 100,
            window: Duration::from_secs(10),
            peak_rss_kib: 20 * 1024,
            renders_text: vec![
                Render {
                    seconds: 0.002,
                    bytes: 2048,
                },
                Render {
                    seconds: 0.004,
                    bytes: 2048,
                },
                Render {
                    seconds: 0.001,
                    bytes: 2048,
                },
            ],
            renders_openmetrics: vec![Render {
                seconds: 0.006,
                bytes: 3072,
            }],
            scrapes_cached: vec![
                Render {
                    seconds: 0.0003,
                    bytes: 2048,
                },
                Render {
                    seconds: 0.0001,
                    bytes: 2048,
                },
            ],
        }
    }

    #[test]
    fn figures_from_a_measurement() {
        let f = figures(&measurement());
        assert_eq!(f.requests_per_cycle, Some(40.0));
        assert_eq!(f.operations_per_cycle, Some(500.0));
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
        assert!(close(f.cycle_mean_ms, 200.0), "{:?}", f.cycle_mean_ms);
        assert!(close(f.cycle_max_ms, 300.0));
        // 500 ops × 50 µs ÷ 2 connections.
        assert!(close(f.serial_bound_ms, 12.5));
        assert!(close(f.cycle_floor_ms, 12.5));
        assert!(close(f.first_cycle_ms, 750.0));
        // 0.3 s over 10 s of wall time, at a 5 s interval.
        assert!(close(f.cpu_seconds_per_cycle, 0.15));
        // 0.15 s / 15 s / 2 (thousand endpoints) = 0.5 %.
        assert!(close(f.cpu_percent_per_1k_at_15s, 0.5));
        assert_eq!(f.peak_rss_mib, 20.0);
        assert!(close(f.render_text_ms, 2.0));
        assert_eq!(f.render_text_kib, Some(2.0));
        assert!(close(f.render_openmetrics_ms, 6.0));
        assert_eq!(f.render_openmetrics_kib, Some(3.0));
        assert!(close(f.cached_scrape_ms, 0.2));
    }

    #[test]
    fn figures_without_data_are_absent() {
        let mut m = measurement();
        m.targets = vec![TargetProgress::default()];
        m.window = Duration::ZERO;
        m.renders_text.clear();
        let f = figures(&m);
        assert_eq!(
            (
                f.requests_per_cycle,
                f.serial_bound_ms,
                f.cycle_mean_ms,
                f.cpu_seconds_per_cycle,
                f.render_text_ms
            ),
            (None, None, None, None, None)
        );
    }

    #[test]
    fn verdicts_apply_the_design_targets() {
        let f = figures(&measurement());
        let got: Vec<(&str, f64, bool)> = verdicts(&f)
            .iter()
            .map(|v| (v.figure, v.limit, v.pass))
            .collect();
        assert_eq!(
            got,
            vec![
                // 200 ms against 1.5 × 12.5 ms.
                ("cycle mean", 18.75, false),
                ("CPU per 1,000 endpoints at 15 s", 2.0, true),
                ("peak RSS", 64.0, true),
                // The slower format (OpenMetrics, 6 ms) decides.
                ("/metrics render (median, slower format)", 5.0, false),
            ]
        );

        let mut slow_cpu_sample = measurement();
        slow_cpu_sample.cpu_sample = Duration::from_millis(100);
        let v = verdicts(&figures(&slow_cpu_sample));
        assert_eq!((v[0].limit, v[0].pass), (150.0, false));
        assert_eq!(
            v[0].target,
            "≤ 1.5 × cpu_sample 100 (serial bound 12.5 is shorter)"
        );
        slow_cpu_sample.targets[0].durations = vec![0.12];
        slow_cpu_sample.targets[1].durations = vec![0.13];
        assert!(verdicts(&figures(&slow_cpu_sample))[0].pass);

        let mut element = f.clone();
        element.detail = DetailLevel::Element;
        element.endpoints_per_kms = 10_000;
        element.kms = 1;
        element.cpu_percent_per_1k_at_15s = None;
        let got: Vec<(&str, f64, bool)> = verdicts(&element)
            .iter()
            .map(|v| (v.figure, v.limit, v.pass))
            .collect();
        assert_eq!(
            got[1],
            ("CPU per 1,000 endpoints at 15 s", 2.0, false),
            "unmeasured is a miss"
        );
        assert_eq!(
            got[3],
            ("/metrics render (median, slower format)", 150.0, true)
        );

        let mut big = f;
        big.kms = 20;
        big.detail = DetailLevel::Pipeline;
        let figures: Vec<&str> = verdicts(&big).iter().map(|v| v.figure).collect();
        assert_eq!(
            figures,
            vec!["cycle mean", "CPU per 1,000 endpoints at 15 s"]
        );
    }

    #[test]
    fn numbers_keep_about_three_digits() {
        let cases = [
            (0.0, "0"),
            (1234.56, "1235"),
            (45.678, "45.7"),
            (4.5678, "4.57"),
            (0.45678, "0.457"),
            (0.0012345, "0.00123"),
        ];
        for (x, want) in cases {
            assert_eq!(format_number(x), want);
        }
    }
}
