//! Prometheus exposition of the store, rendered at scrape time (no I/O during a scrape).
//! The only module that knows Prometheus metric names.

/// The two exposition formats `/metrics` can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpositionFormat {
    /// OpenMetrics 1.0.0 text.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4 (what `promtool check metrics` parses).
    Text,
}

impl ExpositionFormat {
    /// The exact Content-Type of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            ExpositionFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            ExpositionFormat::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// What the HTTP layer needs from the exporter: a rendered exposition and readiness.
pub trait MetricsSource: Send + Sync + 'static {
    /// Renders every metric in `format`. Cheap: reads the latest snapshots only.
    fn render(&self, format: ExpositionFormat) -> String;
    /// True once every target has finished its first poll cycle (or the readiness timeout passed).
    fn ready(&self) -> bool;
}
