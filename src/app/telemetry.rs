//! Logging: `tracing` events written to stderr as logfmt or JSON lines, with the keys
//! Prometheus' own components use (`time`, `level`, `source`, `msg`; see
//! [`log_format`](crate::app::log_format)).
//!
//! Credentials never reach the logs: URLs are logged through
//! [`redact_url`](crate::kurento::redact::redact_url), which replaces any userinfo
//! (`user:password@`) with `xxxxx@`; the WebSocket and HTTP libraries, whose debug and trace
//! events print whole requests (a URL's `?token=…` included), log at info at most whatever the
//! configured level.

use std::io::{self, Write};
use std::time::SystemTime;

use tracing::{Event, Subscriber, span};
use tracing_log::NormalizeEvent;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::app::config::{LogFormat, LogLevel};
use crate::app::log_format::{Fields, Line};

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
/// Lines follow Prometheus' conventions (see [`log_format`](crate::app::log_format)): `time`,
/// `level`, `source`, `msg`, then the fields of the event's spans and of the event, as logfmt or
/// as one JSON object.
pub fn layer<S, W>(
    level: LogLevel,
    format: LogFormat,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync + 'static>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    PrometheusLines { format, writer }
        .with_filter(filter(level))
        .boxed()
}

/// Writes each event as one line shaped by [`log_format`](crate::app::log_format).
struct PrometheusLines<W> {
    format: LogFormat,
    writer: W,
}

/// A span's fields as recorded so far, kept in the span for the events inside it.
struct SpanFields(Fields);

impl<S, W> Layer<S> for PrometheusLines<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            // `replace`, not `insert`: `insert` panics if the span already holds our type.
            span.extensions_mut().replace(SpanFields(fields));
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // Records bridged from the `log` crate share one callsite per level; their own target
        // is in the normalized metadata.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut fields = Fields::default();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(span_fields)) = span.extensions().get::<SpanFields>() {
                    fields.extend(span_fields.clone());
                }
            }
        }
        let mut own = Fields::for_event(event.is_log());
        event.record(&mut own);
        let msg = own.take_message();
        fields.extend(own);
        let line = Line {
            time: SystemTime::now(),
            level: *metadata.level(),
            source: metadata.target(),
            msg: &msg,
            fields: &fields,
        };
        let mut text = String::with_capacity(256);
        let formatted = match self.format {
            LogFormat::Logfmt => line.write_logfmt(&mut text),
            LogFormat::Json => line.write_json(&mut text),
        };
        // Formatting into a String cannot fail. A failed write is dropped: the log is where it
        // would be reported. One `write_all` per line keeps concurrent lines whole on stderr.
        if formatted.is_ok() {
            let _ = self
                .writer
                .make_writer_for(metadata)
                .write_all(text.as_bytes());
        }
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
    fn logfmt_line_has_prometheus_keys_and_fields() {
        let out = capture(LogLevel::Info, LogFormat::Logfmt, || {
            tracing::info!(kms = "kms-a", server_id = 7, up = true, "target up");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        let rest = out.strip_prefix("time=").unwrap();
        let (time, rest) = rest.split_once(' ').unwrap();
        assert!(humantime::parse_rfc3339(time).is_ok(), "{time}");
        assert_eq!(time.len(), "2025-03-01T12:00:01.500Z".len(), "{time}");
        assert_eq!(
            rest,
            "level=INFO source=kurento_exporter::app::telemetry::tests \
             msg=\"target up\" kms=kms-a server_id=7 up=true\n"
        );
    }

    #[test]
    fn json_line_is_an_object_with_flattened_typed_fields() {
        let out = capture(LogLevel::Info, LogFormat::Json, || {
            tracing::warn!(
                kms = "kms-a",
                attempts = 3,
                ratio = 0.5,
                up = false,
                error = %"boom",
                "slow"
            );
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        let value: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        // time, level, source, msg and the five fields, nothing else.
        assert_eq!(value.as_object().unwrap().len(), 9, "{out}");
        assert!(out.starts_with(r#"{"time":""#), "{out}");
        assert!(humantime::parse_rfc3339(value["time"].as_str().unwrap()).is_ok());
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["source"], "kurento_exporter::app::telemetry::tests");
        assert_eq!(value["msg"], "slow");
        assert_eq!(value["kms"], "kms-a");
        assert_eq!(value["attempts"], 3);
        assert_eq!(value["ratio"], 0.5);
        assert_eq!(value["up"], false);
        assert_eq!(value["error"], "boom");
    }

    #[test]
    fn span_fields_come_before_the_event_fields() {
        let out = capture(LogLevel::Info, LogFormat::Logfmt, || {
            let outer = tracing::info_span!("poll", kms = "kms-a", cycle = tracing::field::Empty);
            let _outer = outer.enter();
            outer.record("cycle", 4);
            let inner = tracing::info_span!("read", pipeline = "p1");
            let _inner = inner.enter();
            tracing::info!(objects = 2, "read done");
        });
        assert!(
            out.ends_with(" msg=\"read done\" kms=kms-a cycle=4 pipeline=p1 objects=2\n"),
            "{out}"
        );
    }

    #[test]
    fn log_crate_records_keep_their_target_and_lose_the_bridge_fields() {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::registry().with(layer(
            LogLevel::Trace,
            LogFormat::Logfmt,
            buffer.clone(),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let record = tracing_log::log::Record::builder()
                .target("rustls::client")
                .level(tracing_log::log::Level::Warn)
                .module_path_static(Some("rustls::client::hs"))
                .file_static(Some("hs.rs"))
                .line(Some(12))
                .args(format_args!("no ALPN"))
                .build();
            tracing_log::format_trace(&record).unwrap();
        });
        let out = buffer.text();
        assert!(
            out.ends_with(" level=WARN source=rustls::client msg=\"no ALPN\"\n"),
            "{out}"
        );
    }

    #[test]
    fn events_below_the_level_are_dropped() {
        let out = capture(LogLevel::Warn, LogFormat::Logfmt, || {
            tracing::info!("hidden");
            tracing::debug!("hidden");
            tracing::error!("shown");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains(" level=ERROR "), "{out}");
    }
}
