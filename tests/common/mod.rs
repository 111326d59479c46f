//! Helpers shared by the end-to-end tests: a minimal HTTP/1.1 client, deadline polling of
//! external servers and processes (`eventually`), the simulator + exporter fixture (`Stack`),
//! and golden-file comparison with a line diff.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod app;
pub mod fault_proxy;
pub mod log_capture;
pub mod node;
pub mod prometheus;
pub mod silence;

use std::fmt::Display;
use std::net::SocketAddr;
use std::time::Duration;

use kurento_exporter::Exporter;
use kurento_exporter::app::config::{Config, TargetConfig};
use kurento_exporter::sim::{Scenario, SimOptions, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response: status, lower-cased headers, body bytes.
#[derive(Debug)]
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
    let mut response = parse_response(&raw);
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        response.body = dechunk(&response.body);
    }
    response
}

/// A raw HTTP/1.x response as it came off the wire (or out of `curl -i`): status line, headers
/// (names lower-cased), body as sent (not de-chunked).
pub fn parse_response(raw: &[u8]) -> HttpResponse {
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
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
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
            health_probe: None,
            health_probe_interval: None,
            health_probe_timeout: None,
        })
        .collect();
    config
}

/// The demo scenario without churn: the same KMS on every run (no meetings come and go).
pub fn steady_demo() -> Scenario {
    let mut scenario = Scenario::demo();
    scenario.churn = None;
    scenario
}

/// An application session on the exporter's own client that created one pipeline: the
/// connection (kept open: it owns the pipeline), the pipeline's id and the session id.
pub async fn application_pipeline(
    url: &str,
) -> (kurento_exporter::kurento::Connection, String, String) {
    use kurento_exporter::kurento::{ClientOptions, Connection, RequestCounter, RequestIds};
    let (app, _events) = Connection::open(
        url,
        &ClientOptions::default(),
        std::sync::Arc::new(RequestIds::new()),
        RequestCounter::default(),
    )
    .await
    .unwrap();
    let created = app
        .call("create", serde_json::json!({"type": "MediaPipeline"}))
        .await
        .unwrap();
    let pipeline = created["value"].as_str().unwrap().to_owned();
    let session = created["sessionId"].as_str().unwrap().to_owned();
    (app, pipeline, session)
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

/// Scrapes until `series` has a value satisfying `ok`, returning the exposition; on timeout the
/// panic shows the last value seen.
pub async fn wait_for_sample(
    addr: SocketAddr,
    series: &str,
    deadline: Duration,
    ok: impl Fn(f64) -> bool,
) -> String {
    eventually(&format!("{series} to match"), deadline, async || {
        let text = scrape(addr).await;
        match sample(&text, series) {
            Some(v) if ok(v) => Ok(text),
            last => Err(format!("{series} = {last:?}")),
        }
    })
    .await
}

/// One attempt of `eventually`/`poll_until`: done with a value, or not yet.
///
/// - `Option<T>`: `Some(value)` is done; `None` is not yet.
/// - `bool`: `true` is done.
/// - `Result<T, E: Display>`: `Ok(value)` is done; `Err(state)` is not yet, and the last such
///   state is shown when the deadline passes (what was observed instead).
pub trait Attempt {
    type Output;
    /// `Ok` when done; `Err` with what was observed (if the check says) when not yet.
    fn into_result(self) -> Result<Self::Output, Option<String>>;
}

impl<T> Attempt for Option<T> {
    type Output = T;
    fn into_result(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl Attempt for bool {
    type Output = ();
    fn into_result(self) -> Result<(), Option<String>> {
        if self { Ok(()) } else { Err(None) }
    }
}

impl<T, E: Display> Attempt for Result<T, E> {
    type Output = T;
    fn into_result(self) -> Result<T, Option<String>> {
        self.map_err(|state| Some(state.to_string()))
    }
}

/// `poll_until` ran out of time.
#[derive(Debug)]
pub struct TimedOut {
    pub deadline: Duration,
    /// The state the last attempt reported, if it reports one.
    pub last: Option<String>,
}

impl TimedOut {
    /// `timed out after … waiting for <what>`, and the last state observed.
    pub fn message(&self, what: &str) -> String {
        let mut message = format!("timed out after {:?} waiting for {what}", self.deadline);
        if let Some(last) = &self.last {
            message.push_str(&format!("; last observed: {last}"));
        }
        message
    }
}

/// How long `poll_until` waits between attempts: 1/200 of the deadline, between 20 ms and 250 ms,
/// so short waits react quickly and long waits on slow processes do not hammer them.
fn poll_interval(deadline: Duration) -> Duration {
    (deadline / 200).clamp(Duration::from_millis(20), Duration::from_millis(250))
}

/// Runs `check` until it is done (see `Attempt`) or `deadline` has passed, whichever is first;
/// the first attempt runs at once. For waiting on external servers and processes only, never to
/// synchronise with something the test controls. An attempt still running at the deadline may
/// finish within one more `deadline` (a hung server fails the test instead of hanging it).
/// The one polling loop of the tests: `eventually` is this, failing the test on timeout.
pub async fn poll_until<A: Attempt>(
    deadline: Duration,
    mut check: impl AsyncFnMut() -> A,
) -> Result<A::Output, TimedOut> {
    let start = tokio::time::Instant::now();
    let until = start + deadline;
    let mut last = None;
    loop {
        let attempt = tokio::time::timeout_at(until + deadline, check())
            .await
            .map_err(|_| TimedOut {
                deadline,
                last: Some(format!(
                    "an attempt still running {:?} after the start",
                    start.elapsed()
                )),
            })?;
        match attempt.into_result() {
            Ok(value) => return Ok(value),
            Err(state) => last = state.or(last),
        }
        if tokio::time::Instant::now() >= until {
            return Err(TimedOut { deadline, last });
        }
        tokio::time::sleep(poll_interval(deadline)).await;
    }
}

/// Runs `check` until it is done (see `Attempt`), failing the test after `deadline` with `what`
/// and the last state `check` reported.
pub async fn eventually<A: Attempt>(
    what: &str,
    deadline: Duration,
    check: impl AsyncFnMut() -> A,
) -> A::Output {
    match poll_until(deadline, check).await {
        Ok(value) => value,
        Err(timed_out) => panic!("{}", timed_out.message(what)),
    }
}

/// The target name `Stack::start` gives the simulator in the exporter's config.
pub const KMS: &str = "kms";

/// A simulator and an exporter watching it, on loopback ephemeral ports.
pub struct Stack {
    pub sim: Simulator,
    pub exporter: Exporter,
    /// Where the exporter's HTTP server listens.
    pub addr: SocketAddr,
}

impl Stack {
    /// Starts the simulator for `scenario`, then an exporter watching it as target `kms` with
    /// `test_config` as `configure` adjusts it.
    pub async fn start(scenario: Scenario, configure: impl FnOnce(&mut Config)) -> Stack {
        let sim = start_sim(scenario).await;
        let mut config = test_config(&[(KMS, sim.url())]);
        configure(&mut config);
        Stack::watch(sim, config).await
    }

    /// Starts an exporter with `config` watching `sim`, which the test has started and prepared
    /// (faults injected, media frozen, objects created) before the exporter's first poll.
    pub async fn watch(sim: Simulator, config: Config) -> Stack {
        let exporter = Exporter::start(config).await.expect("exporter starts");
        let addr = exporter.local_addr();
        Stack {
            sim,
            exporter,
            addr,
        }
    }

    /// The exporter's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `GET path` on the exporter.
    pub async fn get(&self, path: &str) -> HttpResponse {
        get(self.addr, path, &[]).await
    }

    /// The exporter's classic-text exposition.
    pub async fn scrape(&self) -> String {
        scrape(self.addr).await
    }

    /// Scrapes until `series` has a value satisfying `ok` (see `wait_for_sample`).
    pub async fn wait_for_sample(
        &self,
        series: &str,
        deadline: Duration,
        ok: impl Fn(f64) -> bool,
    ) -> String {
        wait_for_sample(self.addr, series, deadline, ok).await
    }

    /// Stops the exporter (polls end, in-flight scrapes finish), then the simulator.
    pub async fn shutdown(self) {
        self.exporter.shutdown().await;
        self.sim.shutdown().await;
    }
}

/// Replaces values that change from run to run (build, times, durations, request counts, CPU,
/// ages, the exporter's own process and render times) with `<masked>`, so an exposition can be
/// compared with a golden file. The build's
/// `revision` label is masked too: build.rs takes it from git, so it changes with every commit.
pub fn mask_volatile(exposition: &str) -> String {
    const VOLATILE: &[&str] = &[
        "kurento_exporter_build_info",
        "kurento_exporter_config_last_reload_success_timestamp_seconds",
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
            let masked_revision;
            let line = match line.split_once("revision=\"") {
                Some((head, tail)) if name == "kurento_exporter_build_info" => {
                    let rest = tail.split_once('"').map_or("", |(_, rest)| rest);
                    masked_revision = format!("{head}revision=\"<masked>\"{rest}");
                    masked_revision.as_str()
                }
                _ => line,
            };
            let own_process = name.starts_with("process_")
                || name.starts_with("kurento_exporter_render_duration_seconds");
            if !line.starts_with('#') && (VOLATILE.contains(&name) || own_process) {
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
