//! Works around a defect of prometheus-client 0.26's OpenMetrics encoder: it writes float
//! sample values (gauges, counters, histogram sums) with `dtoa::Buffer::format`, which spells
//! infinities `inf` and `-inf`. OpenMetrics 1.0 (and Prometheus' parsers) spell them `+Inf` and
//! `-Inf`; `NaN` comes out right. Its classic text encoder spells all three correctly.
//! Upstream: `encoding/text.rs` should format floats as `encoding/prometheus_text.rs` does
//! (`format_float`, non-finite values special-cased); until then we respell the output.
//!
//! Infinite values are rare (none of our families should ever give one), so the respelling
//! pass runs only when the collector reports it handed the encoder one: the usual render pays
//! nothing.

use std::sync::atomic::{AtomicU64, Ordering};

/// How many infinite sample values collectors have handed the encoder, ever.
///
/// A render compares the count before and after encoding. Renders of the two formats may run
/// at the same time and see each other's values: that can only cause a needless respelling pass
/// (which leaves an output without infinities as it was), never a missed one.
#[derive(Debug, Default)]
pub(super) struct InfinityCount(AtomicU64);

impl InfinityCount {
    pub(super) fn add(&self, n: u64) {
        if n > 0 {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
    }

    pub(super) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Respells `inf` / `-inf` sample values as `+Inf` / `-Inf`.
///
/// A sample's value is the last token of its line, and a label value cannot hide a line end
/// (newlines in label values are escaped), so looking at the end of each sample line is exact.
/// Metadata lines (`#`) are left as they are.
pub(super) fn respell_infinities(exposition: &str) -> String {
    let mut out = String::with_capacity(exposition.len() + 64);
    for line in exposition.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let end = &line[body.len()..];
        let spelled = if body.starts_with('#') {
            None
        } else if let Some(sample) = body.strip_suffix(" inf") {
            Some((sample, " +Inf"))
        } else {
            body.strip_suffix(" -inf").map(|sample| (sample, " -Inf"))
        };
        match spelled {
            Some((sample, value)) => {
                out.push_str(sample);
                out.push_str(value);
                out.push_str(end);
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respells_sample_values_only() {
        let om = "\
# HELP g A gauge whose help ends in inf
# TYPE g gauge
g{kms=\"a inf\"} inf
g{kms=\"b\"} -inf
g{kms=\"c\"} NaN
g{kms=\"d\"} 1.0
h_sum{kms=\"a\"} inf
# EOF
";
        assert_eq!(
            respell_infinities(om),
            "\
# HELP g A gauge whose help ends in inf
# TYPE g gauge
g{kms=\"a inf\"} +Inf
g{kms=\"b\"} -Inf
g{kms=\"c\"} NaN
g{kms=\"d\"} 1.0
h_sum{kms=\"a\"} +Inf
# EOF
"
        );
    }

    #[test]
    fn counts_only_what_was_added() {
        let count = InfinityCount::default();
        count.add(0);
        assert_eq!(count.get(), 0);
        count.add(2);
        assert_eq!(count.get(), 2);
    }
}
