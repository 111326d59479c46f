//! `kurento_exporter bench --quick` end to end: the real binary, a tiny scenario, one cycle.
//! Only the shape and plausibility of the output are checked, never timings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::Command;

/// Generous: a debug build, a shared machine; the run itself takes a few seconds.
const DEADLINE: Duration = Duration::from_secs(180);

/// Three rooms of four WebRTC endpoints, 50 µs per operation.
const SCENARIO: &str = r#"
[timing]
service_time = "50us"
seed = 7

[profiles.healthy]
flowing_in = true
flowing_out = true
ice = "host"

[[pipelines]]
name = "room-{n}"
count = 3
profile = "healthy"
mesh = true
elements = [{ type = "WebRtcEndpoint", count = 4 }]
"#;

/// Runs `kurento_exporter bench <args>`; on the deadline, SIGTERM (the bench then kills its
/// exporter child) and fail.
async fn bench(args: &[&str], scenario_dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kurento_exporter"))
        .arg("bench")
        .args(args)
        .arg("--scenario-dir")
        .arg(scenario_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let read_stdout = tokio::spawn(async move {
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).await.map(|_| buf)
    });
    let read_stderr = tokio::spawn(async move {
        let mut buf = Vec::new();
        stderr.read_to_end(&mut buf).await.map(|_| buf)
    });
    let status = match tokio::time::timeout(DEADLINE, child.wait()).await {
        Ok(status) => status.unwrap(),
        Err(_) => {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            panic!("bench {args:?} did not finish within {DEADLINE:?}");
        }
    };
    Output {
        status,
        stdout: read_stdout.await.unwrap().unwrap(),
        stderr: read_stderr.await.unwrap().unwrap(),
    }
}

/// The cells of the results-table row of `case`, keyed by column title.
fn row(report: &str, case: &str) -> Vec<(String, String)> {
    let cells = |line: &str| -> Vec<String> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_owned())
            .collect()
    };
    let head = report
        .lines()
        .find(|l| l.starts_with("| case | KMS × endpoints |"))
        .unwrap_or_else(|| panic!("no results table in:\n{report}"));
    let line = report
        .lines()
        .find(|l| l.starts_with(&format!("| {case} | ")))
        .unwrap_or_else(|| panic!("no row for {case} in:\n{report}"));
    cells(head).into_iter().zip(cells(line)).collect()
}

fn number(row: &[(String, String)], column: &str) -> f64 {
    let cell = &row
        .iter()
        .find(|(c, _)| c == column)
        .unwrap_or_else(|| panic!("no column {column:?} in {row:?}"))
        .1;
    cell.parse()
        .unwrap_or_else(|_| panic!("{column} is not a number: {cell:?}"))
}

#[tokio::test]
async fn quick_bench_prints_a_row_with_requests_and_peak_rss() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bench-1k.toml"), SCENARIO).unwrap();
    let out = bench(
        &[
            "--quick",
            "--case",
            "1kms-1k",
            "--cycles",
            "1",
            "--interval",
            "1s",
        ],
        dir.path(),
    )
    .await;
    let report = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "bench failed: {}\nstdout:\n{report}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("Command: `kurento_exporter bench --quick --case 1kms-1k"),
        "{report}"
    );
    let row = row(&report, "1kms-1k");
    assert_eq!(row[1].1, "1 × 12", "{row:?}");
    let requests = number(&row, "requests/cycle");
    assert!(requests > 0.0, "requests/cycle {requests}");
    assert!(number(&row, "operations/cycle") >= requests, "{row:?}");
    assert!(number(&row, "peak RSS MiB") > 0.0, "{row:?}");
    assert!(report.contains("| 1kms-1k | peak RSS |"), "{report}");
}

#[tokio::test]
async fn bench_without_its_scenario_fails_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&["--quick", "--case", "1kms-10k"], dir.path()).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("case 1kms-10k"), "{stderr}");
    assert!(stderr.contains("bench-10k.toml"), "{stderr}");
}
