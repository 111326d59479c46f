//! Logging: `tracing` events written to stderr as logfmt or JSON lines.
//!
//! Credentials never reach the logs: URLs are logged through
//! [`redact_url`](crate::kurento::redact::redact_url), which replaces any userinfo
//! (`user:password@`) with `xxxxx@`; the WebSocket and HTTP libraries, whose debug and trace
//! events print whole requests (a URL's `?token=…` included), log at info at most whatever the
//! configured level.

use std::io;

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::app::config::{LogFormat, LogLevel};

/// Failure to install the global subscriber.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot install the log subscriber: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// Installs the process-wide subscriber writing to stderr, and routes `log` records (from
/// dependencies such as tungstenite) into it. Call once, early in `main`.
pub fn init(level: LogLevel, format: LogFormat) -> Result<(), TelemetryError> {
    tracing_subscriber::registry()
        .with(layer(level, format, io::stderr))
        .try_init()?;
    Ok(())
}

/// Libraries whose debug and trace events carry request URLs and headers.
const LIBRARIES_WITH_SECRETS_IN_DEBUG: [&str; 4] =
    ["tungstenite", "tokio_tungstenite", "hyper", "hyper_util"];

/// `level` for everything, capped at info for [`LIBRARIES_WITH_SECRETS_IN_DEBUG`].
fn filter(level: LogLevel) -> Targets {
    let level = LevelFilter::from(level);
    let capped = level.min(LevelFilter::INFO);
    Targets::new()
        .with_default(level)
        .with_targets(LIBRARIES_WITH_SECRETS_IN_DEBUG.map(|target| (target, capped)))
}

/// The formatting layer, filtered at `level`, writing to `writer` (tests pass a buffer).
///
/// logfmt lines carry `ts`, `level`, `target`, the span path, then the event's fields (the
/// message under `message`); JSON lines carry `timestamp`, `level`, `target`, `span`, and the
/// fields flattened at the top level.
pub fn layer<S, W>(
    level: LogLevel,
    format: LogFormat,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Logfmt => tracing_logfmt::builder()
            .layer()
            .with_writer(writer)
            .with_filter(filter(level))
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .with_filter(filter(level))
            .boxed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(level: LogLevel, format: LogFormat, emit: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(layer(level, format, buffer.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        buffer.text()
    }

    #[test]
    fn websocket_library_traces_stay_out_even_at_trace_level() {
        let out = capture(LogLevel::Trace, LogFormat::Logfmt, || {
            tracing::trace!(target: "tungstenite::handshake::client", "GET /kurento?token=secret");
            tracing::debug!(target: "tokio_tungstenite", "ws://u:secret@kms");
            tracing::info!(target: "tungstenite::protocol", "closing");
            tracing::trace!("our own trace");
        });
        assert!(!out.contains("secret"), "{out}");
        assert!(out.contains("closing"), "{out}");
        assert!(out.contains("our own trace"), "{out}");
        let quiet = capture(LogLevel::Warn, LogFormat::Logfmt, || {
            tracing::info!(target: "tungstenite::protocol", "closing");
        });
        assert_eq!(quiet, "");
    }

    #[test]
    fn logfmt_line_has_keys_and_fields() {
        let out = capture(LogLevel::Info, LogFormat::Logfmt, || {
            tracing::info!(kms = "kms-a", "target up");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.starts_with("ts="), "{out}");
        assert!(out.contains(" level=info "), "{out}");
        assert!(
            out.contains(" target=kurento_exporter::app::telemetry::tests"),
            "{out}"
        );
        assert!(out.contains("message=\"target up\""), "{out}");
        assert!(out.contains("kms=kms-a"), "{out}");
    }

    #[test]
    fn json_line_is_an_object_with_flattened_fields() {
        let out = capture(LogLevel::Info, LogFormat::Json, || {
            tracing::warn!(kms = "kms-a", "slow");
        });
        let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["message"], "slow");
        assert_eq!(value["kms"], "kms-a");
        assert!(value["timestamp"].is_string());
    }

    #[test]
    fn events_below_the_level_are_dropped() {
        let out = capture(LogLevel::Warn, LogFormat::Logfmt, || {
            tracing::info!("hidden");
            tracing::debug!("hidden");
            tracing::error!("shown");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("level=error"), "{out}");
    }
}
