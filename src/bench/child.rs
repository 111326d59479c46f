//! The exporter under test as a child process: spawned from this binary, its JSON log read for
//! the listen address and the connect times, killed when dropped.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};

/// Log lines kept to explain a failure.
const TAIL_LINES: usize = 20;

/// Why the exporter could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot find this program to run the exporter: {0}")]
    CurrentExe(std::io::Error),
    #[error("cannot start the exporter: {0}")]
    Spawn(std::io::Error),
    #[error("the exporter has no process id (it exited at once)")]
    NoPid,
    #[error(
        "the exporter did not log its listen address within {timeout:?}; its last log lines:\n{tail}"
    )]
    NoAddress { timeout: Duration, tail: String },
}

/// What the benchmark needs from one exporter log line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub message: String,
    pub address: Option<String>,
    pub kms: Option<String>,
    /// Unix seconds of the line's `time`, when it parses.
    pub unix_seconds: Option<f64>,
}

/// Parses a JSON log line (`msg`, `time`, fields flattened at the top level or under `fields`;
/// the keys of `app::log_format`).
pub fn parse_log_line(line: &str) -> Option<LogLine> {
    let value: Value = serde_json::from_str(line).ok()?;
    let field = |name: &str| {
        value
            .get(name)
            .or_else(|| value.get("fields").and_then(|f| f.get(name)))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    Some(LogLine {
        message: field("msg")?,
        address: field("address"),
        kms: field("kms"),
        unix_seconds: value
            .get("time")
            .and_then(Value::as_str)
            .and_then(|ts| humantime::parse_rfc3339_weak(ts).ok())
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
    })
}

/// What the stderr reader learnt so far.
#[derive(Debug, Default)]
struct Observed {
    /// Unix seconds of the last "connected to KMS" line per target.
    connected: HashMap<String, f64>,
    tail: VecDeque<String>,
}

fn lock(m: &Mutex<Observed>) -> MutexGuard<'_, Observed> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn record(observed: &Mutex<Observed>, line: &str) -> Option<LogLine> {
    let parsed = parse_log_line(line);
    let mut observed = lock(observed);
    if observed.tail.len() == TAIL_LINES {
        observed.tail.pop_front();
    }
    observed.tail.push_back(line.to_owned());
    if let Some(LogLine {
        message,
        kms: Some(kms),
        unix_seconds,
        ..
    }) = &parsed
        && message == "connected to KMS"
    {
        let at = unix_seconds.unwrap_or_else(unix_now);
        observed.connected.insert(kms.clone(), at);
    }
    parsed
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// A running exporter; killed on drop.
pub struct ExporterProcess {
    child: Child,
    pid: u32,
    addr: SocketAddr,
    observed: Arc<Mutex<Observed>>,
}

impl ExporterProcess {
    /// Runs this program as `--config.file <config> --web.listen-address 127.0.0.1:0
    /// --log.format json` and waits (up to `timeout`) for its "listening" line.
    pub async fn spawn(config: &Path, timeout: Duration) -> Result<ExporterProcess, ChildError> {
        let exe = std::env::current_exe().map_err(ChildError::CurrentExe)?;
        let mut child = Command::new(exe)
            .arg("--config.file")
            .arg(config)
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--log.format",
                "json",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(ChildError::Spawn)?;
        let pid = child.id().ok_or(ChildError::NoPid)?;
        let observed = Arc::new(Mutex::new(Observed::default()));
        let stderr = child.stderr.take();
        let mut lines = stderr.map(|s| BufReader::new(s).lines());
        let found = match lines.as_mut() {
            Some(lines) => tokio::time::timeout(timeout, listen_address(lines, &observed))
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let Some(addr) = found else {
            let tail = lock(&observed)
                .tail
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(ChildError::NoAddress { timeout, tail });
        };
        if let Some(mut lines) = lines {
            // Keep draining stderr so the exporter never blocks on a full pipe.
            let observed = observed.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    record(&observed, &line);
                }
            });
        }
        Ok(ExporterProcess {
            child,
            pid,
            addr,
            observed,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The HTTP address the exporter really listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Unix seconds at which the exporter logged "connected to KMS" for `kms`.
    pub fn connected_at(&self, kms: &str) -> Option<f64> {
        lock(&self.observed).connected.get(kms).copied()
    }

    /// The last log lines, to explain a failure.
    pub fn log_tail(&self) -> String {
        lock(&self.observed)
            .tail
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Kills the exporter and reaps it.
    pub async fn kill(mut self) {
        if let Err(err) = self.child.kill().await {
            tracing::warn!(pid = self.pid, error = %err, "cannot kill the exporter");
        }
    }
}

/// Reads log lines until the "listening" one and returns its `address`.
async fn listen_address(
    lines: &mut Lines<BufReader<ChildStderr>>,
    observed: &Mutex<Observed>,
) -> Option<SocketAddr> {
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(LogLine {
            message,
            address: Some(address),
            ..
        }) = record(observed, &line)
            && message == "listening"
        {
            return address.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_flattened_or_nested() {
        let flat = r#"{"time":"2025-03-01T12:00:01.500Z","level":"INFO","source":"kurento_exporter","msg":"listening","address":"127.0.0.1:40123"}"#;
        assert_eq!(
            parse_log_line(flat),
            Some(LogLine {
                message: "listening".into(),
                address: Some("127.0.0.1:40123".into()),
                kms: None,
                unix_seconds: Some(1_740_830_401.5),
            })
        );
        let nested =
            r#"{"time":"bad","level":"INFO","fields":{"msg":"connected to KMS","kms":"kms-3"}}"#;
        assert_eq!(
            parse_log_line(nested),
            Some(LogLine {
                message: "connected to KMS".into(),
                address: None,
                kms: Some("kms-3".into()),
                unix_seconds: None,
            })
        );
        assert_eq!(parse_log_line("time=1 level=INFO msg=listening"), None);
        assert_eq!(parse_log_line(r#"{"level":"INFO"}"#), None);
    }

    #[test]
    fn recording_keeps_connect_times_and_a_bounded_tail() {
        let observed = Mutex::new(Observed::default());
        record(
            &observed,
            r#"{"time":"2025-03-01T12:00:00Z","msg":"connected to KMS","kms":"kms-1"}"#,
        );
        for i in 0..TAIL_LINES + 5 {
            record(&observed, &format!("line {i}"));
        }
        let observed = lock(&observed);
        assert_eq!(observed.connected.get("kms-1"), Some(&1_740_830_400.0));
        assert_eq!(observed.tail.len(), TAIL_LINES);
        assert_eq!(observed.tail.back().map(String::as_str), Some("line 24"));
    }
}
