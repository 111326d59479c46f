//! How long renders of the exposition take (`kurento_exporter_render_duration_seconds`): one
//! histogram per format, accumulated over the process's life like any client-library histogram.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::ExpositionFormat;
use super::catalogue::RENDER_DURATION_BUCKETS;
use super::histogram::Histogram;

/// Render durations by format (OpenMetrics, text).
#[derive(Debug)]
pub(super) struct RenderDurations {
    by_format: [Mutex<Histogram>; 2],
}

impl Default for RenderDurations {
    fn default() -> Self {
        let empty = || Mutex::new(Histogram::of([], RENDER_DURATION_BUCKETS));
        RenderDurations {
            by_format: [empty(), empty()],
        }
    }
}

impl RenderDurations {
    pub(super) fn observe(&self, format: ExpositionFormat, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut histogram = self
            .slot(format)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        histogram.sum += seconds;
        histogram.count += 1;
        // The last bucket's bound is +Inf, so one always matches.
        if let Some(bucket) = histogram.buckets.iter_mut().find(|(le, _)| seconds <= *le) {
            bucket.1 += 1;
        }
    }

    /// The histogram of `format` so far.
    pub(super) fn of(&self, format: ExpositionFormat) -> Histogram {
        self.slot(format)
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn slot(&self, format: ExpositionFormat) -> &Mutex<Histogram> {
        match format {
            ExpositionFormat::OpenMetrics => &self.by_format[0],
            ExpositionFormat::Text => &self.by_format[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_accumulate_per_format() {
        let durations = RenderDurations::default();
        durations.observe(ExpositionFormat::Text, Duration::from_micros(300));
        durations.observe(ExpositionFormat::Text, Duration::from_millis(30));
        durations.observe(ExpositionFormat::Text, Duration::from_secs(9));
        let text = durations.of(ExpositionFormat::Text);
        assert_eq!(text.count, 3);
        assert!((text.sum - 9.0303).abs() < 1e-9, "{}", text.sum);
        let counted: Vec<(f64, u64)> = text.buckets.into_iter().filter(|b| b.1 > 0).collect();
        assert_eq!(counted, [(0.0005, 1), (0.05, 1), (f64::INFINITY, 1)]);
        assert_eq!(durations.of(ExpositionFormat::OpenMetrics).count, 0);
    }
}
