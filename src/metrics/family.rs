//! Writes catalogue families through prometheus-client's collector API: the metadata (name,
//! type, unit, HELP) from the catalogue, the samples from the collector. Formatting is the
//! encoder's; this module only decides which encoder call a sample becomes.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::catalogue::{Kind, MetricDef};
use super::histogram::Histogram;
use super::labels::CatalogueLabels;
use super::non_finite::InfinityCount;

/// One sample's value; which encoder call it becomes depends on the family's kind.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Int(u64),
    Float(f64),
    Histogram(Histogram),
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
        Kind::Info => MetricType::Info,
    }
}

/// The encoder as the collector sees it: families in, in catalogue order.
#[derive(Debug)]
pub(super) struct Families<'a> {
    descriptors: DescriptorEncoder<'a>,
    /// Infinite values handed to the encoder (see `non_finite`).
    infinite_values: u64,
}

impl<'a> Families<'a> {
    /// What a collector's `encode` does: `write` the families into `descriptors`, then add the
    /// infinite values written to `infinities` (see `non_finite`).
    pub(super) fn collect(
        descriptors: DescriptorEncoder<'a>,
        infinities: &InfinityCount,
        write: impl FnOnce(&mut Families<'a>) -> fmt::Result,
    ) -> fmt::Result {
        let mut families = Families {
            descriptors,
            infinite_values: 0,
        };
        let written = write(&mut families);
        infinities.add(families.infinite_values);
        written
    }

    /// Writes the family `def` with the samples `write` gives it.
    /// Its metadata is written with its first sample: a family without samples leaves no trace.
    pub(super) fn family(
        &mut self,
        def: &MetricDef,
        write: impl FnOnce(&mut FamilyWriter<'_, 'a>) -> fmt::Result,
    ) -> fmt::Result {
        let help = def.help_text();
        // `Other` for every unit: the named variants spell some units differently from ours
        // (`Unit::Ratios` is "ratios"), and the name is all the encoder uses.
        let unit = def.unit.map(|u| Unit::Other(u.to_owned()));
        let mut family = FamilyWriter {
            def,
            help: &help,
            unit: unit.as_ref(),
            pending: Some(&mut self.descriptors),
            metric: None,
            label_type: None,
            infinite_values: &mut self.infinite_values,
        };
        write(&mut family)
    }
}

/// Writes the samples of one family.
#[derive(Debug)]
pub(super) struct FamilyWriter<'f, 'a> {
    def: &'f MetricDef,
    help: &'f str,
    unit: Option<&'f Unit>,
    /// The descriptor encoder until the first sample starts the family.
    pending: Option<&'f mut DescriptorEncoder<'a>>,
    metric: Option<MetricEncoder<'f>>,
    /// The label set type of the first sample, which every sample must share (checked in
    /// debug builds).
    label_type: Option<&'static str>,
    infinite_values: &'f mut u64,
}

impl<'f> FamilyWriter<'f, '_> {
    /// The family's metric encoder, writing its metadata first if this is its first sample.
    /// In debug builds, checks that the sample's labels are the catalogue's.
    fn metric<L: CatalogueLabels>(&mut self) -> Result<&mut MetricEncoder<'f>, fmt::Error> {
        let def = self.def;
        if cfg!(debug_assertions) {
            let label_type = *self.label_type.get_or_insert(std::any::type_name::<L>());
            assert_eq!(label_type, std::any::type_name::<L>(), "{}", def.family);
        }
        if let Some(descriptors) = self.pending.take() {
            debug_assert_eq!(L::names(), def.labels, "{}: labels", def.family);
            debug_assert_eq!(L::detail(), def.detail, "{}: detail", def.family);
            let metric = descriptors.encode_descriptor(
                def.family,
                self.help,
                self.unit,
                metric_type(def.kind),
            )?;
            self.metric = Some(metric);
        }
        // Set above on the first call, and `pending` is never refilled.
        self.metric.as_mut().ok_or(fmt::Error)
    }

    /// Writes one sample: a counter or a gauge for `Int` and `Float` (by the family's kind), the
    /// `_bucket`, `_sum` and `_count` lines of a histogram.
    pub(super) fn sample<L: CatalogueLabels>(&mut self, labels: &L, value: &Value) -> fmt::Result {
        let kind = self.def.kind;
        debug_assert!(
            matches!(
                (kind, value),
                (Kind::Counter | Kind::Gauge, Value::Int(_) | Value::Float(_))
                    | (Kind::Histogram, Value::Histogram(_))
            ),
            "{}: a {value:?} sample in a {kind:?} family",
            self.def.family
        );
        let infinite = match value {
            Value::Int(_) => false,
            Value::Float(v) => v.is_infinite(),
            Value::Histogram(h) => h.sum.is_infinite(),
        };
        *self.infinite_values += u64::from(infinite);
        let mut sample = self.metric::<L>()?.encode_family(labels)?;
        match value {
            Value::Int(v) if kind == Kind::Counter => {
                sample.encode_counter::<NoLabelSet, _, u64>(v, None)
            }
            // Gauges are signed: saturate what an i64 cannot hold.
            Value::Int(v) => sample.encode_gauge(&i64::try_from(*v).unwrap_or(i64::MAX)),
            Value::Float(v) if kind == Kind::Counter => {
                sample.encode_counter::<NoLabelSet, _, u64>(v, None)
            }
            Value::Float(v) => sample.encode_gauge(v),
            Value::Histogram(h) => {
                sample.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)
            }
        }
    }

    /// Writes one info sample: its labels are the information, its value always 1.
    pub(super) fn info<L: CatalogueLabels>(&mut self, labels: &L) -> fmt::Result {
        debug_assert_eq!(self.def.kind, Kind::Info, "{}", self.def.family);
        self.metric::<L>()?.encode_info(labels)
    }
}

#[cfg(test)]
mod tests {
    //! The encoder's output for each kind of family, in both formats: what our collector's
    //! families look like once prometheus-client has written them.

    use std::sync::Arc;

    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{EncodeLabelSet, LabelSetEncoder, text};
    use prometheus_client::registry::Registry;

    use super::*;
    use crate::metrics::ExpositionFormat;
    use crate::metrics::labels::{Kms, Reason, Version};

    type Write = for<'a> fn(&mut Families<'a>) -> fmt::Result;

    /// A collector writing fixed families.
    #[derive(Debug)]
    struct Fixture {
        write: Write,
        infinities: Arc<InfinityCount>,
    }

    impl Collector for Fixture {
        fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
            Families::collect(encoder, &self.infinities, self.write)
        }
    }

    fn registry(write: Write) -> (Registry, Arc<InfinityCount>) {
        let infinities = Arc::new(InfinityCount::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Fixture {
            write,
            infinities: infinities.clone(),
        }));
        (registry, infinities)
    }

    /// Renders as `/metrics` does.
    fn render(format: ExpositionFormat, write: Write) -> String {
        let (registry, infinities) = registry(write);
        crate::metrics::encode(&registry, &infinities, format, 0).unwrap()
    }

    const fn def(family: &'static str, unit: Option<&'static str>, kind: Kind) -> MetricDef {
        MetricDef {
            family,
            unit,
            kind,
            labels: &["kms"],
            help: "Help.",
            source: "exporter",
            detail: false,
        }
    }

    const UP: MetricDef = def("k_up", None, Kind::Gauge);
    const POLL: MetricDef = def("k_poll", Some("seconds"), Kind::Gauge);
    const RESTARTS: MetricDef = MetricDef {
        labels: &["kms", "reason"],
        ..def("k_restarts", None, Kind::Counter)
    };
    const RTP: MetricDef = def("k_rtp", Some("bytes"), Kind::Counter);
    const EMPTY: MetricDef = def("k_empty", None, Kind::Gauge);
    const BUILD: MetricDef = MetricDef {
        labels: &["version"],
        ..def("k_build", None, Kind::Info)
    };
    const AGE: MetricDef = def("k_age", Some("seconds"), Kind::Histogram);

    /// One family of each kind.
    fn every_kind(f: &mut Families) -> fmt::Result {
        f.family(&UP, |family| {
            family.sample(&Kms { kms: "a" }, &Value::Int(1))?;
            family.sample(&Kms { kms: "b" }, &Value::Int(u64::MAX))
        })?;
        f.family(&POLL, |family| {
            family.sample(&Kms { kms: "a" }, &Value::Float(0.5))
        })?;
        f.family(&RESTARTS, |family| {
            let labels = (Kms { kms: "a" }, Reason { reason: "x" });
            family.sample(&labels, &Value::Int(2))
        })?;
        f.family(&RTP, |family| {
            family.sample(&Kms { kms: "a" }, &Value::Int(u64::MAX))
        })?;
        f.family(&EMPTY, |_| Ok(()))?;
        f.family(&BUILD, |family| family.info(&Version { version: "0.1.0" }))?;
        f.family(&AGE, |family| {
            let histogram = Histogram::of([0.5, 2.0, 7.0], &[1.0, 2.5]);
            family.sample(&Kms { kms: "a" }, &Value::Histogram(histogram))
        })
    }

    #[test]
    fn every_kind_in_openmetrics() {
        let want = "\
# HELP k_up Help.
# TYPE k_up gauge
k_up{kms=\"a\"} 1
k_up{kms=\"b\"} 9223372036854775807
# HELP k_poll_seconds Help.
# TYPE k_poll_seconds gauge
# UNIT k_poll_seconds seconds
k_poll_seconds{kms=\"a\"} 0.5
# HELP k_restarts Help.
# TYPE k_restarts counter
k_restarts_total{kms=\"a\",reason=\"x\"} 2
# HELP k_rtp_bytes Help.
# TYPE k_rtp_bytes counter
# UNIT k_rtp_bytes bytes
k_rtp_bytes_total{kms=\"a\"} 18446744073709551615
# HELP k_build Help.
# TYPE k_build info
k_build_info{version=\"0.1.0\"} 1
# HELP k_age_seconds Help.
# TYPE k_age_seconds histogram
# UNIT k_age_seconds seconds
k_age_seconds_sum{kms=\"a\"} 9.5
k_age_seconds_count{kms=\"a\"} 3
k_age_seconds_bucket{le=\"1.0\",kms=\"a\"} 1
k_age_seconds_bucket{le=\"2.5\",kms=\"a\"} 2
k_age_seconds_bucket{le=\"+Inf\",kms=\"a\"} 3
# EOF
";
        assert_eq!(render(ExpositionFormat::OpenMetrics, every_kind), want);
    }

    #[test]
    fn every_kind_in_text_format() {
        let want = "\
# HELP k_up Help.
# TYPE k_up gauge
k_up{kms=\"a\"} 1
k_up{kms=\"b\"} 9223372036854775807
# HELP k_poll_seconds Help.
# TYPE k_poll_seconds gauge
k_poll_seconds{kms=\"a\"} 0.5
# HELP k_restarts_total Help.
# TYPE k_restarts_total counter
k_restarts_total{kms=\"a\",reason=\"x\"} 2
# HELP k_rtp_bytes_total Help.
# TYPE k_rtp_bytes_total counter
k_rtp_bytes_total{kms=\"a\"} 18446744073709551615
# HELP k_build_info Help.
# TYPE k_build_info gauge
k_build_info{version=\"0.1.0\"} 1
# HELP k_age_seconds Help.
# TYPE k_age_seconds histogram
k_age_seconds_bucket{kms=\"a\",le=\"1\"} 1
k_age_seconds_bucket{kms=\"a\",le=\"2.5\"} 2
k_age_seconds_bucket{kms=\"a\",le=\"+Inf\"} 3
k_age_seconds_sum{kms=\"a\"} 9.5
k_age_seconds_count{kms=\"a\"} 3
";
        assert_eq!(render(ExpositionFormat::Text, every_kind), want);
    }

    /// Gauge values and how both formats spell them; each sample is labelled with its spelling.
    const FLOATS: [(f64, &str); 14] = [
        (0.0, "0.0"),
        (1.0, "1.0"),
        (-2.0, "-2.0"),
        (0.001, "0.001"),
        (0.0025, "0.0025"),
        (4000.0, "4000.0"),
        (604_800.0, "604800.0"),
        (1_700_000_000.123, "1700000000.123"),
        (0.1 + 0.2, "0.30000000000000007"),
        (1e-7, "1e-7"),
        (1e21, "1e21"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (f64::NAN, "NaN"),
    ];

    fn floats(f: &mut Families) -> fmt::Result {
        f.family(&UP, |family| {
            for (v, spelled) in FLOATS {
                family.sample(&Kms { kms: spelled }, &Value::Float(v))?;
            }
            Ok(())
        })
    }

    #[test]
    fn floats_in_both_formats_and_non_finite_values_as_the_formats_spell_them() {
        for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Text] {
            let out = render(format, floats);
            for (_, spelled) in FLOATS {
                let line = format!("k_up{{kms=\"{spelled}\"}} {spelled}\n");
                assert!(out.contains(&line), "{format:?} lacks {line}in\n{out}");
            }
        }
    }

    /// The defect `non_finite` works around: prometheus-client 0.26's OpenMetrics encoder alone
    /// writes infinities as `inf` / `-inf`. When this fails, upstream has fixed it and the
    /// respelling can go.
    #[test]
    fn the_openmetrics_encoder_alone_spells_infinity_inf() {
        let (registry, _) = registry(floats);
        let mut raw = String::new();
        text::encode(&mut raw, &registry).unwrap();
        assert!(raw.contains("k_up{kms=\"+Inf\"} inf\n"), "{raw}");
        assert!(raw.contains("k_up{kms=\"-Inf\"} -inf\n"), "{raw}");
        assert!(raw.contains("k_up{kms=\"NaN\"} NaN\n"), "{raw}");
    }

    #[test]
    fn an_infinite_histogram_sum_is_respelled_too() {
        fn infinite(f: &mut Families) -> fmt::Result {
            f.family(&AGE, |family| {
                let histogram = Histogram::of([f64::INFINITY], &[1.0]);
                family.sample(&Kms { kms: "a" }, &Value::Histogram(histogram))
            })
        }
        let out = render(ExpositionFormat::OpenMetrics, infinite);
        assert!(out.contains("k_age_seconds_sum{kms=\"a\"} +Inf\n"), "{out}");
        assert!(out.contains("k_age_seconds_bucket{le=\"+Inf\",kms=\"a\"} 1\n"));
    }

    /// Label values and how they are written, escaped.
    const ESCAPES: [(&str, &str); 7] = [
        ("plain", "plain"),
        ("", ""),
        ("a\\b", "a\\\\b"),
        ("say \"hi\"", "say \\\"hi\\\""),
        ("two\nlines", "two\\nlines"),
        ("tab\tand é", "tab\tand é"),
        ("\\\"\n", "\\\\\\\"\\n"),
    ];

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        fn escapes(f: &mut Families) -> fmt::Result {
            f.family(&UP, |family| {
                for (value, _) in ESCAPES {
                    family.sample(&Kms { kms: value }, &Value::Int(1))?;
                }
                Ok(())
            })
        }
        for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Text] {
            let out = render(format, escapes);
            for (_, escaped) in ESCAPES {
                let line = format!("k_up{{kms=\"{escaped}\"}} 1\n");
                assert!(out.contains(&line), "{format:?} lacks {line}in\n{out}");
            }
        }
    }

    /// The defect the catalogue's HELP texts steer clear of: prometheus-client 0.26's
    /// OpenMetrics encoder writes HELP as given, where OpenMetrics escapes backslash, newline
    /// and double quote (the text encoder escapes backslash and newline, as its format wants).
    #[test]
    fn help_is_escaped_in_the_text_format_only() {
        fn quoted(f: &mut Families) -> fmt::Result {
            const QUOTED: MetricDef = MetricDef {
                help: "a \"b\" c\\d",
                ..UP
            };
            f.family(&QUOTED, |family| {
                family.sample(&Kms { kms: "a" }, &Value::Int(1))
            })
        }
        let om = render(ExpositionFormat::OpenMetrics, quoted);
        assert!(om.starts_with("# HELP k_up a \"b\" c\\d\n"), "{om}");
        let text = render(ExpositionFormat::Text, quoted);
        assert!(text.starts_with("# HELP k_up a \"b\" c\\\\d\n"), "{text}");
    }

    /// No labels at all.
    struct NoLabels;

    impl EncodeLabelSet for NoLabels {
        fn encode(&self, _: &mut LabelSetEncoder) -> fmt::Result {
            Ok(())
        }
    }

    impl CatalogueLabels for NoLabels {
        fn names() -> Vec<&'static str> {
            Vec::new()
        }
    }

    #[test]
    fn an_empty_label_set_has_no_braces() {
        fn unlabelled(f: &mut Families) -> fmt::Result {
            const G: MetricDef = MetricDef {
                labels: &[],
                ..def("g", None, Kind::Gauge)
            };
            const H: MetricDef = MetricDef {
                labels: &[],
                ..def("h", None, Kind::Histogram)
            };
            f.family(&G, |family| {
                family.sample(&NoLabels, &Value::Float(f64::NAN))
            })?;
            f.family(&H, |family| {
                let histogram = Histogram::of([], &[0.0]);
                family.sample(&NoLabels, &Value::Histogram(histogram))
            })
        }
        assert_eq!(
            render(ExpositionFormat::Text, unlabelled),
            "# HELP g Help.\n# TYPE g gauge\ng NaN\n\
             # HELP h Help.\n# TYPE h histogram\nh_bucket{le=\"0\"} 0\nh_bucket{le=\"+Inf\"} 0\n\
             h_sum 0.0\nh_count 0\n"
        );
        assert_eq!(
            render(ExpositionFormat::OpenMetrics, unlabelled),
            "# HELP g Help.\n# TYPE g gauge\ng NaN\n\
             # HELP h Help.\n# TYPE h histogram\nh_sum 0.0\nh_count 0\n\
             h_bucket{le=\"0.0\"} 0\nh_bucket{le=\"+Inf\"} 0\n# EOF\n"
        );
    }

    #[test]
    #[should_panic(expected = "k_up: labels")]
    #[cfg(debug_assertions)]
    fn labels_other_than_the_catalogues_are_caught_in_debug_builds() {
        fn wrong(f: &mut Families) -> fmt::Result {
            f.family(&UP, |family| {
                family.sample(&Version { version: "1" }, &Value::Int(1))
            })
        }
        render(ExpositionFormat::Text, wrong);
    }
}
