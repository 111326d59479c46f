//! Prometheus exposition of the store, rendered at scrape time (no I/O during a scrape) by
//! prometheus-client's encoders from one collector over the store. The only module that knows
//! Prometheus metric names.

pub(crate) mod catalogue;
mod collector;
mod family;
mod histogram;
mod labels;
mod media;
mod non_finite;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;

pub use collector::BuildInfo;
use collector::StoreCollector;
use non_finite::InfinityCount;

use crate::poll::store::Store;

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
    fn render(&self, format: ExpositionFormat) -> bytes::Bytes;
    /// True once every target has finished its first poll cycle (or the readiness timeout passed).
    fn ready(&self) -> bool;
    /// The JSON answer for an `/api/...` path, or `None` for 404.
    fn api(&self, _path: &str) -> Option<String> {
        None
    }
    /// Reloads the configuration (`POST /-/reload`), resolving to the error text if the new
    /// configuration was rejected; `None` when the lifecycle API is not enabled (403).
    fn reload(&self) -> Option<futures_util::future::BoxFuture<'static, Result<(), String>>> {
        None
    }
}

/// Encoding an exposition failed. Cannot happen while the collector only fails when the encoder
/// does and the encoder writes into a `String`; reported rather than assumed all the same.
#[derive(Debug, thiserror::Error)]
#[error("encoding the {format:?} exposition")]
pub struct RenderError {
    format: ExpositionFormat,
    #[source]
    source: std::fmt::Error,
}

/// Encodes everything `registry` collects in `format` into a buffer of `capacity` bytes.
/// `infinities` is what the registry's collectors count (see `non_finite`).
fn encode(
    registry: &Registry,
    infinities: &InfinityCount,
    format: ExpositionFormat,
    capacity: usize,
) -> Result<String, RenderError> {
    let mut out = String::with_capacity(capacity);
    let before = infinities.get();
    let encoded = match format {
        ExpositionFormat::OpenMetrics => text::encode(&mut out, registry),
        ExpositionFormat::Text => prometheus_text::encode(&mut out, registry),
    };
    encoded.map_err(|source| RenderError { format, source })?;
    if format == ExpositionFormat::OpenMetrics && infinities.get() != before {
        out = non_finite::respell_infinities(&out);
    }
    Ok(out)
}

/// The exporter's `/metrics`: the store rendered through prometheus-client.
///
/// The exposition is a pure function of the snapshots, which change only when a poll cycle
/// publishes one: it is rendered once per store generation and format, and every scrape until
/// the next cycle gets the same bytes (so 100 concurrent scrapes cost one render).
#[derive(Debug)]
pub struct Exposition {
    /// Holds the one [`StoreCollector`].
    registry: Registry,
    infinities: Arc<InfinityCount>,
    store: Arc<Store>,
    cache: Mutex<Vec<(u64, ExpositionFormat, bytes::Bytes)>>,
    /// The size of the last render per format (OpenMetrics, text): the next one's buffer is
    /// allocated at once instead of growing (and being copied) step by step.
    last_size: [AtomicUsize; 2],
}

impl Exposition {
    pub fn new(store: Arc<Store>, build: BuildInfo) -> Self {
        let infinities = Arc::new(InfinityCount::default());
        let collector = StoreCollector::new(store.clone(), build, infinities.clone());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        Exposition {
            registry,
            infinities,
            store,
            cache: Mutex::new(Vec::new()),
            last_size: [AtomicUsize::new(0), AtomicUsize::new(0)],
        }
    }

    fn render_uncached(&self, format: ExpositionFormat) -> Result<bytes::Bytes, RenderError> {
        let last_size = match format {
            ExpositionFormat::OpenMetrics => &self.last_size[0],
            ExpositionFormat::Text => &self.last_size[1],
        };
        // A little headroom: the load (and so the size) moves between cycles.
        let expected = last_size.load(Ordering::Relaxed);
        let capacity = expected + expected / 16;
        let rendered = encode(&self.registry, &self.infinities, format, capacity)?;
        last_size.store(rendered.len(), Ordering::Relaxed);
        Ok(rendered.into())
    }
}

impl MetricsSource for Exposition {
    fn render(&self, format: ExpositionFormat) -> bytes::Bytes {
        // Read before rendering: if a cycle publishes meanwhile, the entry is stale at once and
        // the next scrape renders again (never the reverse).
        let generation = self.store.generation();
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, _, hit)) = cache
                .iter()
                .find(|(g, f, _)| *g == generation && *f == format)
            {
                return hit.clone();
            }
        }
        // Rendered outside the lock: a slow render must not block scrapes of the other format.
        let rendered = match self.render_uncached(format) {
            Ok(rendered) => rendered,
            Err(e) => {
                // Not cached: the next scrape tries again.
                tracing::error!(error = %e, "serving an empty exposition");
                return match format {
                    ExpositionFormat::OpenMetrics => bytes::Bytes::from_static(b"# EOF\n"),
                    ExpositionFormat::Text => bytes::Bytes::new(),
                };
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|(g, f, _)| *g == generation && *f != format);
        cache.push((generation, format, rendered.clone()));
        rendered
    }

    fn ready(&self) -> bool {
        self.store.ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::snapshot::TargetSnapshot;
    use std::time::Duration;

    #[test]
    fn renders_once_per_published_snapshot_and_format() {
        let store = Arc::new(Store::new(["a"], Duration::ZERO));
        let build = BuildInfo {
            version: "1".into(),
            revision: "r".into(),
        };
        let exposition = Exposition::new(store.clone(), build);
        let first = exposition.render(ExpositionFormat::Text);
        let remembered = exposition.last_size[1].load(Ordering::Relaxed);
        assert_eq!(remembered, first.len(), "the next render's buffer size");
        let again = exposition.render(ExpositionFormat::Text);
        assert_eq!(first.as_ptr(), again.as_ptr(), "served from the cache");
        let om = exposition.render(ExpositionFormat::OpenMetrics);
        assert!(om.ends_with(b"# EOF\n") && !first.ends_with(b"# EOF\n"));
        let mut snap = TargetSnapshot::initial("a");
        snap.up = true;
        store.publish(snap);
        let fresh = exposition.render(ExpositionFormat::Text);
        assert_ne!(fresh, first, "a new snapshot is rendered anew");
        assert!(String::from_utf8_lossy(&fresh).contains("kurento_up{kms=\"a\"} 1"));
    }
}
