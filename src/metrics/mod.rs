//! Prometheus exposition of the store, rendered at scrape time (no I/O during a scrape) by
//! prometheus-client's encoders from one collector over the store. The only module that knows
//! Prometheus metric names.

pub(crate) mod catalogue;
mod collector;
mod family;
mod histogram;
mod labels;
mod live;
mod media;
mod non_finite;
mod process;
mod render_time;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::registry::Registry;

pub use collector::BuildInfo;
use collector::StoreCollector;
use live::LiveCollector;
use non_finite::InfinityCount;
use render_time::RenderDurations;

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
    /// The SVG answer for an `/api/...graph.svg` path, or `None` for 404.
    fn graph_svg(&self, _path: &str) -> Option<String> {
        None
    }
    /// Reloads the configuration (`POST /-/reload`), resolving to the error text if the new
    /// configuration was rejected; `None` when the lifecycle API is not enabled (403).
    fn reload(&self) -> Option<futures_util::future::BoxFuture<'static, Result<(), String>>> {
        None
    }
    /// Answers `/probe?target=…&name=…`: starts watching the target if needed (and waits up to
    /// `wait` for its first cycle), resolving to its `kms` name, or to why it may not be probed;
    /// `None` when `/probe` is off.
    fn probe(
        &self,
        _target: &str,
        _name: Option<&str>,
        _wait: std::time::Duration,
    ) -> Option<futures_util::future::BoxFuture<'static, Result<String, ProbeRefusal>>> {
        None
    }
    /// One target's families alone (a `/probe` answer); `None` for an unknown target.
    fn render_target(&self, _kms: &str, _format: ExpositionFormat) -> Option<bytes::Bytes> {
        None
    }
    /// Reads the session descriptions of `element` on `kms` (at most once per poll interval);
    /// `None` when SDP inspection is not enabled (403).
    fn sdp(
        &self,
        _kms: &str,
        _element: &str,
    ) -> Option<futures_util::future::BoxFuture<'static, crate::poll::sdp::SdpOutcome>> {
        None
    }
}

/// Why a `/probe` request is refused: the HTTP status and a message for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRefusal {
    pub status: u16,
    pub message: String,
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
/// The store's part is a pure function of the snapshots, which change only when a poll cycle
/// publishes one: it is rendered once per store generation and format, and every scrape until
/// the next cycle gets the same bytes (so 100 concurrent scrapes cost one render). The few live
/// families (the exporter's process, render durations) are rendered on every scrape and
/// appended.
#[derive(Debug)]
pub struct Exposition {
    /// Holds the one [`StoreCollector`].
    registry: Registry,
    /// Holds the one [`LiveCollector`].
    live: Registry,
    durations: Arc<RenderDurations>,
    infinities: Arc<InfinityCount>,
    store: Arc<Store>,
    build: BuildInfo,
    cache: Mutex<Vec<(u64, ExpositionFormat, bytes::Bytes)>>,
    /// The size of the last render per format (OpenMetrics, text): the next one's buffer is
    /// allocated at once instead of growing (and being copied) step by step.
    last_size: [AtomicUsize; 2],
}

impl Exposition {
    pub fn new(store: Arc<Store>, build: BuildInfo) -> Self {
        let infinities = Arc::new(InfinityCount::default());
        let collector = StoreCollector::new(store.clone(), build.clone(), infinities.clone());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let durations = Arc::new(RenderDurations::default());
        let mut live = Registry::default();
        live.register_collector(Box::new(LiveCollector {
            durations: durations.clone(),
            infinities: infinities.clone(),
        }));
        Exposition {
            registry,
            live,
            durations,
            infinities,
            store,
            build,
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
        let started = Instant::now();
        let rendered = encode(&self.registry, &self.infinities, format, capacity)?;
        self.durations.observe(format, started.elapsed());
        last_size.store(rendered.len(), Ordering::Relaxed);
        Ok(rendered.into())
    }

    /// One target's families alone, rendered afresh (probes are rare next to scrapes of
    /// `/metrics`, and each asks for another target); `None` for an unknown target.
    pub fn render_target(&self, kms: &str, format: ExpositionFormat) -> Option<bytes::Bytes> {
        self.store.snapshot(kms)?;
        let collector = StoreCollector::of_target(
            self.store.clone(),
            self.build.clone(),
            self.infinities.clone(),
            kms,
        );
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        match encode(&registry, &self.infinities, format, 4096) {
            Ok(text) => Some(text.into()),
            Err(e) => {
                tracing::error!(error = %e, kms, "rendering a probed target failed");
                None
            }
        }
    }

    /// The store's render (`cached`) followed by the live families.
    fn with_live(&self, cached: &bytes::Bytes, format: ExpositionFormat) -> bytes::Bytes {
        match encode(&self.live, &self.infinities, format, 4096) {
            Ok(live) => join(cached, &live, format),
            Err(e) => {
                tracing::error!(error = %e, "serving the exposition without the live families");
                cached.clone()
            }
        }
    }
}

/// Two expositions in `format` as one: OpenMetrics ends with a single `# EOF`, the first one's
/// is dropped.
fn join(first: &[u8], second: &str, format: ExpositionFormat) -> bytes::Bytes {
    const EOF: &[u8] = b"# EOF\n";
    let first = match format {
        ExpositionFormat::OpenMetrics => first.strip_suffix(EOF).unwrap_or(first),
        ExpositionFormat::Text => first,
    };
    let mut joined = Vec::with_capacity(first.len() + second.len());
    joined.extend_from_slice(first);
    joined.extend_from_slice(second.as_bytes());
    joined.into()
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
                let hit = hit.clone();
                drop(cache);
                return self.with_live(&hit, format);
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
        drop(cache);
        self.with_live(&rendered, format)
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
        let renders = |format| exposition.durations.of(format).count;
        let first = exposition.render(ExpositionFormat::Text);
        let remembered = exposition.last_size[1].load(Ordering::Relaxed);
        assert!(
            remembered > 0 && remembered < first.len(),
            "the store's part"
        );
        let again = exposition.render(ExpositionFormat::Text);
        assert_eq!(renders(ExpositionFormat::Text), 1, "served from the cache");
        let text = String::from_utf8_lossy(&again);
        assert!(text.contains("kurento_exporter_render_duration_seconds_count{format=\"text\"} 1"));
        let om = exposition.render(ExpositionFormat::OpenMetrics);
        assert_eq!(renders(ExpositionFormat::OpenMetrics), 1);
        let om = String::from_utf8_lossy(&om);
        assert!(
            om.ends_with("# EOF\n") && om.matches("# EOF").count() == 1,
            "{om}"
        );
        assert!(!first.ends_with(b"# EOF\n"));
        let mut snap = TargetSnapshot::initial("a");
        snap.up = true;
        store.publish(snap);
        let fresh = exposition.render(ExpositionFormat::Text);
        assert_eq!(
            renders(ExpositionFormat::Text),
            2,
            "a new snapshot is rendered anew"
        );
        assert!(String::from_utf8_lossy(&fresh).contains("kurento_up{kms=\"a\"} 1"));
    }

    #[test]
    fn the_process_families_follow_the_store_in_both_formats() {
        let store = Arc::new(Store::new(["a"], Duration::ZERO));
        let build = BuildInfo {
            version: "1".into(),
            revision: "r".into(),
        };
        let exposition = Exposition::new(store, build);
        for format in [ExpositionFormat::Text, ExpositionFormat::OpenMetrics] {
            let body = exposition.render(format);
            let body = String::from_utf8_lossy(&body);
            let up = body.find("kurento_up").unwrap();
            for family in [
                "process_cpu_seconds_total ",
                "process_open_fds ",
                "process_start_time_seconds ",
            ] {
                let at = body
                    .find(family)
                    .unwrap_or_else(|| panic!("{family} in {body}"));
                assert!(at > up, "{family} after the store's families");
            }
        }
    }
}
