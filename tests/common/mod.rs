//! Helpers shared by the end-to-end tests: a minimal HTTP/1.1 client, deadline polling, and
//! golden-file comparison with a line diff.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod node;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status, lower-cased headers, body bytes.
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }
}

/// `GET path` with extra headers, `Connection: close`, reading the whole response.
pub async fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).await.expect("connect to exporter");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).unwrap().trim(), 16)
                .unwrap();
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The classic-text exposition (what promtool parses).
pub async fn scrape(addr: SocketAddr) -> String {
    let resp = get(addr, "/metrics", &[]).await;
    assert_eq!(resp.status, 200);
    resp.text()
}

/// The value of the first sample whose line starts with `series` (name plus labels, exact).
pub fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        let value = rest.strip_prefix(' ')?;
        value.split(' ').next()?.parse().ok()
    })
}

/// Polls `check` until it returns `Some`, failing the test after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

use kurento_exporter::config::{Config, TargetConfig};
use kurento_exporter::sim::{Scenario, SimOptions, Simulator};

/// An exporter config for tests: listens on 127.0.0.1:0 and polls every second.
pub fn test_config(targets: &[(&str, String)]) -> Config {
    let mut config = Config::default();
    config.web.listen_address = "127.0.0.1:0".to_owned();
    config.poll.interval = Duration::from_secs(1);
    config.poll.timeout = Duration::from_millis(900);
    config.poll.cpu_sample = Duration::from_millis(50);
    config.poll.ready_timeout = Duration::from_secs(3600);
    config.targets = targets
        .iter()
        .map(|(name, url)| TargetConfig {
            name: (*name).to_owned(),
            url: url.clone(),
            interval: None,
            timeout: None,
            connections: None,
            tls_ca_file: None,
            tls_insecure_skip_verify: false,
        })
        .collect();
    config
}

/// Starts the simulator on an ephemeral loopback port.
pub async fn start_sim(scenario: Scenario) -> Simulator {
    Simulator::start(SimOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        scenario,
    })
    .await
    .expect("simulator starts")
}

/// Scrapes until `series` has a value satisfying `ok`, returning the exposition.
pub async fn wait_for_sample(
    addr: SocketAddr,
    series: &str,
    deadline: Duration,
    ok: impl Fn(f64) -> bool,
) -> String {
    eventually(&format!("{series} to match"), deadline, || async {
        let text = scrape(addr).await;
        sample(&text, series).filter(|v| ok(*v)).map(|_| text)
    })
    .await
}

/// Replaces values that change from run to run (build, times, durations, request counts, CPU,
/// ages) with `<masked>`, so an exposition can be compared with a golden file.
pub fn mask_volatile(exposition: &str) -> String {
    const VOLATILE: &[&str] = &[
        "kurento_exporter_build_info",
        "kurento_exporter_poll_duration_seconds",
        "kurento_exporter_last_poll_success_timestamp_seconds",
        "kurento_exporter_kms_requests_total",
        "kurento_server_cpu_usage_ratio",
        "kurento_pipeline_age_seconds_sum",
    ];
    exposition
        .lines()
        .map(|line| {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            if !line.starts_with('#') && VOLATILE.contains(&name) {
                let series = line.rsplit_once(' ').map(|(s, _)| s).unwrap_or(line);
                format!("{series} <masked>\n")
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// Compares with `tests/golden/<name>`, failing with a unified line diff (golden → this run);
/// `UPDATE_GOLDEN=1` rewrites the file instead.
pub fn compare_golden(name: &str, masked: &str) {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, masked).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|_| panic!("{} missing (UPDATE_GOLDEN=1 writes it)", golden.display()));
    if masked != want {
        let diff = similar::TextDiff::from_lines(want.as_str(), masked)
            .unified_diff()
            .context_radius(2)
            .header(&format!("tests/golden/{name}"), "this run")
            .to_string();
        panic!(
            "exposition differs from {} ({} lines, golden {}; UPDATE_GOLDEN=1 rewrites it):\n{diff}",
            golden.display(),
            masked.lines().count(),
            want.lines().count(),
        );
    }
}

/// Runs `promtool check metrics` (Debian's prometheus package) on an exposition: (passed,
/// everything it printed).
pub fn promtool_check_metrics(exposition: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: install Debian's prometheus package (scripts/test.sh does)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}
