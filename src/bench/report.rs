//! The markdown the benchmark prints (pure).

use std::fmt::Write;

use super::cases::detail_name;
use super::figures::{CaseFigures, Verdict, format_number};
use super::procfs::Machine;

/// How the run was set up, for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    pub command: String,
    pub version: String,
    pub interval: String,
    pub cycles: u32,
    pub connections: u32,
    pub cpu_sample: String,
    pub render_samples: u32,
    pub quick: bool,
}

pub fn header(machine: &Machine, run: &RunFacts) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## kurento_exporter bench\n");
    let _ = writeln!(out, "Command: `{}`\n", run.command);
    let _ = writeln!(
        out,
        "Machine: {} CPUs (nproc), {}, Linux {}\n",
        machine.cpus, machine.cpu_model, machine.kernel
    );
    let _ = writeln!(
        out,
        "Exporter {} as a child process; simulators in the bench process on loopback. Poll interval {}, {} measured cycles per case, {} read connections per KMS, cpu_sample {}, render figures are medians of {} full renders per format{}.\n",
        run.version,
        run.interval,
        run.cycles,
        run.connections,
        run.cpu_sample,
        run.render_samples,
        if run.quick {
            "; QUICK run: scenarios shrunk, figures are not comparable with the targets"
        } else {
            ""
        }
    );
    out
}

/// Column titles of the results table (tests find columns by these).
pub const COLUMNS: [&str; 16] = [
    "case",
    "KMS × endpoints",
    "detail",
    "requests/cycle",
    "operations/cycle",
    "cycle mean ms",
    "cycle max ms",
    "serial bound ms",
    "first cycle ms",
    "CPU s/cycle",
    "CPU %/1k endpoints @15s",
    "peak RSS MiB",
    "text render ms / KiB",
    "OpenMetrics render ms / KiB",
    "cached scrape ms",
    "targets",
];

pub fn table_head() -> String {
    format!(
        "| {} |\n|{}\n",
        COLUMNS.join(" | "),
        "---|".repeat(COLUMNS.len())
    )
}

fn opt(x: Option<f64>) -> String {
    x.map(format_number).unwrap_or_else(|| "n/a".to_owned())
}

fn render(ms: Option<f64>, kib: Option<f64>) -> String {
    format!("{} / {}", opt(ms), opt(kib))
}

/// `PASS`, or `MISS (what)` naming the missed targets.
pub fn verdict_summary(verdicts: &[Verdict]) -> String {
    let missed: Vec<&str> = verdicts
        .iter()
        .filter(|v| !v.pass)
        .map(|v| v.figure)
        .collect();
    if missed.is_empty() {
        "PASS".to_owned()
    } else {
        format!("MISS ({})", missed.join(", "))
    }
}

pub fn table_row(f: &CaseFigures, verdicts: &[Verdict]) -> String {
    let cells = [
        f.case.clone(),
        format!("{} × {}", f.kms, f.endpoints_per_kms),
        detail_name(f.detail).to_owned(),
        opt(f.requests_per_cycle),
        opt(f.operations_per_cycle),
        opt(f.cycle_mean_ms),
        opt(f.cycle_max_ms),
        opt(f.serial_bound_ms),
        opt(f.first_cycle_ms),
        opt(f.cpu_seconds_per_cycle),
        opt(f.cpu_percent_per_1k_at_15s),
        format_number(f.peak_rss_mib),
        render(f.render_text_ms, f.render_text_kib),
        render(f.render_openmetrics_ms, f.render_openmetrics_kib),
        opt(f.cached_scrape_ms),
        verdict_summary(verdicts),
    ];
    format!("| {} |\n", cells.join(" | "))
}

/// The targets next to the measurements.
pub fn verdict_table(verdicts: &[Verdict]) -> String {
    let mut out = String::from(
        "\n### Targets\n\n| case | figure | measured | target | result |\n|---|---|---|---|---|\n",
    );
    for v in verdicts {
        let _ = writeln!(
            out,
            "| {} | {} | {} {} | {} {} | {} |",
            v.case,
            v.figure,
            opt(v.measured),
            v.unit,
            v.target,
            v.unit,
            if v.pass { "PASS" } else { "MISS" }
        );
    }
    out
}

/// How each figure is computed, printed under the tables.
pub const NOTES: &str = "
Notes:
- requests/cycle: delta of `kurento_exporter_kms_requests_total` over the measured cycles, per KMS and cycle (pings included).
- operations/cycle: operations the simulator charged service_time for over the same cycles (one per frame, or one per inner operation of a transaction), per KMS and cycle.
- cycle mean/max: `kurento_exporter_poll_duration_seconds` of each measured cycle; serial bound = operations/cycle × scenario service_time ÷ read connections; the cycle target is 1.5 × the longer of the serial bound and cpu_sample (getUsedCpu holds its own socket that long in every cycle).
- first cycle: from the exporter's \"connected to KMS\" log line to the end of its first successful cycle (inventory build included); slowest KMS.
- CPU s/cycle: exporter utime+stime (/proc/<pid>/stat) over the measured window × interval ÷ window, all KMS together, one /metrics scrape per interval included; CPU %/1k endpoints @15s = CPU s/cycle ÷ 15 s ÷ (endpoints ÷ 1000).
- peak RSS: VmHWM of /proc/<pid>/status at the end of the case.
- render: wall time of a GET /metrics that renders a newly published snapshot in full (the bench waits for a cycle to publish, then scrapes each format once), from the bench process over loopback (new connection, no gzip), and body size; median per format.
- cached scrape: wall time of a text GET /metrics served from the render cache (repeated scrapes of one snapshot: what concurrent scrapers see); median.
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::detail::DetailLevel;
    use crate::bench::figures::{CaseMeasurement, figures, verdicts};
    use std::time::Duration;

    fn sample_figures() -> CaseFigures {
        figures(&CaseMeasurement {
            case: "1kms-1k".into(),
            kms: 1,
            endpoints_per_kms: 1000,
            detail: DetailLevel::Aggregated,
            interval: Duration::from_secs(5),
            service_time: Duration::from_micros(50),
            cpu_sample: Duration::from_millis(100),
            connections: 2,
            targets: vec![],
            first_cycles: vec![],
            cpu_ticks: 10,
            clock_ticks_per_second: 100,
            window: Duration::from_secs(25),
            peak_rss_kib: 12 * 1024,
            renders_text: vec![],
            renders_openmetrics: vec![],
            scrapes_cached: vec![],
        })
    }

    #[test]
    fn a_fleet_is_held_to_a_whole_exporter_budget() {
        let mut f = sample_figures();
        f.kms = 100;
        f.endpoints_per_kms = 100;
        f.cpu_percent_per_1k_at_15s = Some(0.6);
        f.peak_rss_mib = 100.0;
        let v = verdicts(&f);
        let find = |figure: &str| v.iter().find(|v| v.figure == figure).unwrap();
        let cpu = find("CPU of the whole exporter at 15 s");
        // 0.6 % per 1,000 endpoints × 10,000 endpoints.
        assert!((cpu.measured.unwrap() - 6.0).abs() < 1e-9);
        assert!(!cpu.pass);
        let rss = find("peak RSS");
        assert_eq!((rss.limit, rss.pass), (128.0, true));
    }

    #[test]
    fn row_has_one_cell_per_column() {
        let f = sample_figures();
        let v = verdicts(&f);
        let row = table_row(&f, &v);
        let cells: Vec<&str> = row
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(cells.len(), COLUMNS.len());
        assert_eq!(cells[0], "1kms-1k");
        assert_eq!(cells[1], "1 × 1000");
        assert_eq!(cells[3], "n/a");
        assert_eq!(cells[9], "0.020");
        assert_eq!(cells[11], "12.0");
        assert_eq!(cells[14], "n/a");
        assert_eq!(cells[15], "MISS (/metrics render (median, slower format))");
        let head = table_head();
        assert!(head.starts_with("| case | KMS × endpoints |"), "{head}");
        assert_eq!(
            head.lines().nth(1).map(|l| l.matches("---").count()),
            Some(COLUMNS.len())
        );
    }

    #[test]
    fn verdict_table_lists_each_target() {
        let f = sample_figures();
        let table = verdict_table(&verdicts(&f));
        assert!(
            table.contains("| 1kms-1k | peak RSS | 12.0 MiB | < 64 MiB | PASS |"),
            "{table}"
        );
        assert!(
            table.contains(
                "| 1kms-1k | /metrics render (median, slower format) | n/a ms | < 5 ms | MISS |"
            ),
            "{table}"
        );
        assert_eq!(verdict_summary(&[]), "PASS");
    }

    #[test]
    fn header_names_the_command_and_machine() {
        let text = header(
            &Machine {
                cpus: 2,
                cpu_model: "Test CPU".into(),
                kernel: "6.1.0".into(),
            },
            &RunFacts {
                command: "kurento_exporter bench --quick".into(),
                version: "0.1.0".into(),
                interval: "5s".into(),
                cycles: 5,
                connections: 2,
                cpu_sample: "100ms".into(),
                render_samples: 20,
                quick: true,
            },
        );
        assert!(text.contains("Command: `kurento_exporter bench --quick`"));
        assert!(text.contains("2 CPUs (nproc), Test CPU, Linux 6.1.0"));
        assert!(text.contains("QUICK run"));
    }
}
