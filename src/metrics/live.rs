//! The families that change between poll cycles and so are rendered on every scrape, after the
//! cached render of the store: the exporter's own process and render durations.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::ExpositionFormat;
use super::catalogue as cat;
use super::family::{Families, Value};
use super::labels::{Format, NoLabels};
use super::non_finite::InfinityCount;
use super::process::{self, ProcessStats};
use super::render_time::RenderDurations;

#[derive(Debug)]
pub(super) struct LiveCollector {
    pub(super) durations: Arc<RenderDurations>,
    pub(super) infinities: Arc<InfinityCount>,
}

impl LiveCollector {
    fn write(&self, f: &mut Families) -> fmt::Result {
        match process::read_self() {
            Ok(stats) => write_process(f, &stats)?,
            // Never expected on Linux; the scrape still serves everything else.
            Err(e) => tracing::debug!(error = %e, "no process metrics"),
        }
        f.family(&cat::RENDER_DURATION, |family| {
            for (format, label) in [
                (ExpositionFormat::OpenMetrics, "openmetrics"),
                (ExpositionFormat::Text, "text"),
            ] {
                let histogram = self.durations.of(format);
                family.sample(&Format { format: label }, &Value::Histogram(histogram))?;
            }
            Ok(())
        })
    }
}

fn write_process(f: &mut Families, stats: &ProcessStats) -> fmt::Result {
    let gauge = |f: &mut Families, def, value: Value| {
        f.family(def, |family| family.sample(&NoLabels, &value))
    };
    gauge(f, &cat::PROCESS_CPU, Value::Float(stats.cpu_seconds))?;
    gauge(
        f,
        &cat::PROCESS_RESIDENT_MEMORY,
        Value::Int(stats.resident_memory_bytes),
    )?;
    gauge(
        f,
        &cat::PROCESS_VIRTUAL_MEMORY,
        Value::Int(stats.virtual_memory_bytes),
    )?;
    gauge(f, &cat::PROCESS_OPEN_FDS, Value::Int(stats.open_fds))?;
    if let Some(max) = stats.max_fds {
        gauge(f, &cat::PROCESS_MAX_FDS, Value::Int(max))?;
    }
    gauge(
        f,
        &cat::PROCESS_START_TIME,
        Value::Float(stats.start_time_seconds),
    )?;
    gauge(f, &cat::PROCESS_THREADS, Value::Int(stats.threads))
}

impl Collector for LiveCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        Families::collect(encoder, &self.infinities, |families| self.write(families))
    }
}
