//! Prometheus exposition of the store, rendered at scrape time (no I/O during a scrape).
//! The only module that knows Prometheus metric names.

pub mod catalogue;
mod collector;
pub mod exposition;
mod media;

use std::sync::Arc;

use prometheus_client::registry::Registry;

pub use collector::BuildInfo;
use collector::StoreCollector;

use crate::store::Store;
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
    /// The JSON answer for an `/api/...` path, or `None` for 404.
    fn api(&self, _path: &str) -> Option<String> {
        None
    }
}

/// The exporter's `/metrics`: the store rendered through prometheus-client.
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
    store: Arc<Store>,
}

impl Exposition {
    pub fn new(store: Arc<Store>, build: BuildInfo) -> Self {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(StoreCollector::new(store.clone(), build)));
        Exposition { registry, store }
    }
}

impl MetricsSource for Exposition {
    fn render(&self, format: ExpositionFormat) -> String {
        let mut openmetrics = String::new();
        // Writing into a String cannot fail; an error could only come from our own collector,
        // and then a partial exposition is still better than none.
        if let Err(err) =
            prometheus_client::encoding::text::encode(&mut openmetrics, &self.registry)
        {
            tracing::error!(error = %err, "rendering metrics failed");
        }
        match format {
            ExpositionFormat::OpenMetrics => openmetrics,
            ExpositionFormat::Text => exposition::openmetrics_to_text(&openmetrics),
        }
    }

    fn ready(&self) -> bool {
        self.store.ready()
    }
}
