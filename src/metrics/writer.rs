//! Writes metric families and their samples straight into a byte buffer, in OpenMetrics 1.0.0
//! or the classic text format 0.0.4. Formatting only: which samples exist is decided by the
//! collector.
//!
//! The output is byte-identical to what prometheus-client 0.25 wrote (and what our former
//! OpenMetrics-to-text rewrite made of it): the same metadata order, `dtoa` floats, `itoa`
//! integers, cumulative histogram buckets with `le` first, braces even around an empty label set.
//! The one deliberate difference: non-finite values are written `+Inf` / `-Inf` / `NaN` as both
//! formats specify, not `inf` / `-inf`.
//!
//! The two formats differ in metadata only: in OpenMetrics a counter is typed under its name
//! without `_total`, an info metric is typed `info` without `_info`, a family with a unit has a
//! `# UNIT` line, and the exposition ends with `# EOF`; in text 0.0.4 metadata carries the names
//! samples carry (`_total`, `_info`), info metrics are gauges and there is no `# UNIT`.

use super::ExpositionFormat;
use super::catalogue::{Kind, MetricDef};

/// One label of a sample: name and (unescaped) value.
pub(super) type Label<'a> = (&'a str, &'a str);

/// One sample's value; how it is written depends on the family's kind.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Int(u64),
    Float(f64),
    Histogram(Histogram),
    /// An info sample: its labels are the information, the value is always 1.
    Info,
}

/// A histogram sample over values with per-family bucket bounds.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Histogram {
    sum: f64,
    count: u64,
    /// Non-cumulative counts per upper bound, `+Inf` last (the writer accumulates).
    buckets: Vec<(f64, u64)>,
}

impl Histogram {
    pub(super) fn of(values: impl IntoIterator<Item = f64>, bounds: &[f64]) -> Histogram {
        let mut buckets: Vec<(f64, u64)> = bounds
            .iter()
            .map(|b| (*b, 0))
            .chain([(f64::INFINITY, 0)])
            .collect();
        let (mut sum, mut count) = (0.0, 0);
        for v in values {
            sum += v;
            count += 1;
            if let Some(bucket) = buckets.iter_mut().find(|(bound, _)| v <= *bound) {
                bucket.1 += 1;
            }
        }
        Histogram {
            sum,
            count,
            buckets,
        }
    }

    /// The same histogram as [`Histogram::of`] over values sorted ascending (and free of NaN),
    /// found by binary search per bucket: O(buckets × log n) instead of O(n × buckets).
    pub(super) fn of_sorted(sorted: &[f64], bounds: &[f64]) -> Histogram {
        let mut below = 0;
        let buckets = bounds
            .iter()
            .chain(&[f64::INFINITY])
            .map(|bound| {
                let upto = sorted.partition_point(|v| v <= bound);
                let n = (upto - below) as u64;
                below = upto;
                (*bound, n)
            })
            .collect();
        Histogram {
            sum: sorted.iter().sum(),
            count: sorted.len() as u64,
            buckets,
        }
    }
}

/// A whole exposition being written.
#[derive(Debug)]
pub(super) struct ExpositionWriter {
    out: Vec<u8>,
    format: ExpositionFormat,
}

impl ExpositionWriter {
    /// `capacity`: the expected size in bytes (the previous render's, say), so a large
    /// exposition is not copied over and over while it grows.
    pub(super) fn new(format: ExpositionFormat, capacity: usize) -> Self {
        ExpositionWriter {
            out: Vec::with_capacity(capacity),
            format,
        }
    }

    /// Starts a family. Its metadata is written with its first sample: a family without
    /// samples leaves no trace.
    pub(super) fn family<'w>(&'w mut self, def: &'w MetricDef) -> FamilyWriter<'w> {
        FamilyWriter {
            out: &mut self.out,
            format: self.format,
            def,
            started: false,
        }
    }

    /// The finished exposition (UTF-8: everything written came from `&str`s).
    pub(super) fn finish(mut self) -> Vec<u8> {
        if self.format == ExpositionFormat::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
        self.out
    }
}

/// Writes the samples of one family.
#[derive(Debug)]
pub(super) struct FamilyWriter<'w> {
    out: &'w mut Vec<u8>,
    format: ExpositionFormat,
    def: &'w MetricDef,
    started: bool,
}

impl FamilyWriter<'_> {
    /// Writes one sample: a counter or gauge for `Int`/`Float` (by the family's kind), the
    /// `_sum`, `_count` and `_bucket` lines of a histogram, or an info sample.
    pub(super) fn sample(&mut self, labels: &[Label], value: &Value) {
        if !self.started {
            self.started = true;
            self.metadata();
        }
        let counter = self.def.kind == Kind::Counter;
        match value {
            Value::Int(v) => {
                self.sample_name(if counter { "_total" } else { "" }, labels);
                if counter {
                    push_int(self.out, *v);
                } else {
                    // Gauges are signed: saturate what an i64 cannot hold.
                    push_int(self.out, (*v).min(i64::MAX as u64));
                }
            }
            Value::Float(v) => {
                self.sample_name(if counter { "_total" } else { "" }, labels);
                push_float(self.out, *v);
            }
            Value::Info => {
                self.sample_name("_info", labels);
                self.out.push(b'1');
            }
            Value::Histogram(h) => {
                self.sample_name("_sum", labels);
                push_float(self.out, h.sum);
                self.out.extend_from_slice(b"\n");
                self.sample_name("_count", labels);
                push_int(self.out, h.count);
                let mut cumulative = 0;
                for (bound, n) in &h.buckets {
                    cumulative += n;
                    self.out.push(b'\n');
                    self.name("_bucket");
                    self.out.extend_from_slice(b"{le=\"");
                    if *bound == f64::INFINITY {
                        self.out.extend_from_slice(b"+Inf");
                    } else {
                        push_float(self.out, *bound);
                    }
                    self.out.push(b'"');
                    for (key, value) in labels {
                        self.out.push(b',');
                        push_label(self.out, key, value);
                    }
                    self.out.extend_from_slice(b"} ");
                    push_int(self.out, cumulative);
                }
            }
        }
        self.out.push(b'\n');
    }

    /// `# HELP`, `# TYPE` and (OpenMetrics only) `# UNIT`.
    fn metadata(&mut self) {
        let def = self.def;
        let (suffix, kind) = match (self.format, def.kind) {
            (ExpositionFormat::Text, Kind::Counter) => ("_total", "counter"),
            (ExpositionFormat::Text, Kind::Info) => ("_info", "gauge"),
            (_, kind) => ("", kind.as_str()),
        };
        let quotes_escaped = self.format == ExpositionFormat::OpenMetrics;
        self.out.extend_from_slice(b"# HELP ");
        self.name(suffix);
        self.out.push(b' ');
        push_escaped(self.out, &def.help_text(), quotes_escaped);
        self.out.extend_from_slice(b"\n# TYPE ");
        self.name(suffix);
        self.out.push(b' ');
        self.out.extend_from_slice(kind.as_bytes());
        self.out.push(b'\n');
        if let (ExpositionFormat::OpenMetrics, Some(unit)) = (self.format, def.unit) {
            self.out.extend_from_slice(b"# UNIT ");
            self.name("");
            self.out.push(b' ');
            self.out.extend_from_slice(unit.as_bytes());
            self.out.push(b'\n');
        }
    }

    /// The family's name with its unit, then `suffix`.
    fn name(&mut self, suffix: &str) {
        self.out.extend_from_slice(self.def.family.as_bytes());
        if let Some(unit) = self.def.unit {
            self.out.push(b'_');
            self.out.extend_from_slice(unit.as_bytes());
        }
        self.out.extend_from_slice(suffix.as_bytes());
    }

    /// `name{labels} ` (braces even around no labels, as prometheus-client wrote).
    fn sample_name(&mut self, suffix: &str, labels: &[Label]) {
        self.name(suffix);
        self.out.push(b'{');
        for (i, (key, value)) in labels.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            push_label(self.out, key, value);
        }
        self.out.extend_from_slice(b"} ");
    }
}

fn push_label(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"=\"");
    push_escaped(out, value, true);
    out.push(b'"');
}

/// Escapes backslash, newline and (if `quotes`) double quote.
fn push_escaped(out: &mut Vec<u8>, s: &str, quotes: bool) {
    let bytes = s.as_bytes();
    // The common case, nothing to escape, found by a SIMD scan (label values are long ids).
    let special = memchr::memchr3(b'\\', b'\n', b'"', bytes).is_some();
    if special {
        push_escaped_slowly(out, bytes, quotes);
    } else {
        out.extend_from_slice(bytes);
    }
}

#[cold]
fn push_escaped_slowly(out: &mut Vec<u8>, bytes: &[u8], quotes: bool) {
    let mut last = 0;
    for (i, b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'"' if quotes => b"\\\"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(escaped);
        last = i + 1;
    }
    out.extend_from_slice(&bytes[last..]);
}

fn push_int(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Shortest round-trip form with at least one decimal (`1.0`, `0.001`, `1e-7`), as `dtoa`
/// writes it; non-finite values as the exposition formats spell them.
fn push_float(out: &mut Vec<u8>, v: f64) {
    let text = if v.is_nan() {
        "NaN"
    } else if v == f64::INFINITY {
        "+Inf"
    } else if v == f64::NEG_INFINITY {
        "-Inf"
    } else {
        return out.extend_from_slice(dtoa::Buffer::new().format_finite(v).as_bytes());
    };
    out.extend_from_slice(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A family with its samples, as a test writes it.
    type Family = (MetricDef, Vec<(Vec<Label<'static>>, Value)>);

    fn def(family: &'static str, unit: Option<&'static str>, kind: Kind) -> MetricDef {
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

    fn render(format: ExpositionFormat, families: &[Family]) -> String {
        let mut w = ExpositionWriter::new(format, 0);
        for (def, samples) in families {
            let mut family = w.family(def);
            for (labels, value) in samples {
                family.sample(labels, value);
            }
        }
        String::from_utf8(w.finish()).unwrap()
    }

    fn float_text(v: f64) -> String {
        let mut out = Vec::new();
        push_float(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_are_written_like_prometheus_client_and_non_finite_as_the_formats_spell_them() {
        let table = [
            (0.0, "0.0"),
            (1.0, "1.0"),
            (3.0, "3.0"),
            (-2.0, "-2.0"),
            (0.001, "0.001"),
            (0.0025, "0.0025"),
            (4000.0, "4000.0"),
            (1_000_000.0, "1000000.0"),
            (604_800.0, "604800.0"),
            (1_700_000_000.123, "1700000000.123"),
            // dtoa (Grisu) round-trips but is not always the closest: this is the byte
            // prometheus-client wrote, and ryu or `{}` would write ...04.
            (0.1 + 0.2, "0.30000000000000007"),
            (1e-7, "1e-7"),
            (1e21, "1e21"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in table {
            assert_eq!(float_text(v), want, "{v:?}");
        }
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        let table = [
            ("plain", "plain"),
            ("", ""),
            ("a\\b", "a\\\\b"),
            ("say \"hi\"", "say \\\"hi\\\""),
            ("two\nlines", "two\\nlines"),
            ("tab\tand é", "tab\tand é"),
            ("\\\"\n", "\\\\\\\"\\n"),
        ];
        for (value, want) in table {
            let mut out = Vec::new();
            push_label(&mut out, "k", value);
            assert_eq!(String::from_utf8(out).unwrap(), format!("k=\"{want}\""));
        }
    }

    #[test]
    fn help_escapes_quotes_in_openmetrics_only() {
        let mut help = def("x", None, Kind::Gauge);
        help.help = "a \"b\" c\\d";
        let samples = vec![(vec![], Value::Int(1))];
        let om = render(ExpositionFormat::OpenMetrics, &[(help, samples.clone())]);
        assert!(om.starts_with("# HELP x a \\\"b\\\" c\\\\d\n"), "{om}");
        let text = render(ExpositionFormat::Text, &[(help, samples)]);
        assert!(text.starts_with("# HELP x a \"b\" c\\\\d\n"), "{text}");
    }

    /// One family of each kind, in both formats.
    fn every_kind() -> Vec<Family> {
        vec![
            (
                def("k_up", None, Kind::Gauge),
                vec![
                    (vec![("kms", "a")], Value::Int(1)),
                    (vec![("kms", "b")], Value::Int(u64::MAX)),
                ],
            ),
            (
                def("k_poll", Some("seconds"), Kind::Gauge),
                vec![(vec![("kms", "a")], Value::Float(0.5))],
            ),
            (
                def("k_restarts", None, Kind::Counter),
                vec![(vec![("kms", "a"), ("reason", "x")], Value::Int(2))],
            ),
            (
                def("k_rtp", Some("bytes"), Kind::Counter),
                vec![(vec![("kms", "a")], Value::Int(u64::MAX))],
            ),
            (def("k_empty", None, Kind::Gauge), vec![]),
            (
                def("k_build", None, Kind::Info),
                vec![(vec![("version", "0.1.0")], Value::Info)],
            ),
            (
                def("k_age", Some("seconds"), Kind::Histogram),
                vec![(
                    vec![("kms", "a")],
                    Value::Histogram(Histogram::of([0.5, 2.0, 7.0], &[1.0, 2.5])),
                )],
            ),
        ]
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
        assert_eq!(render(ExpositionFormat::OpenMetrics, &every_kind()), want);
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
k_age_seconds_sum{kms=\"a\"} 9.5
k_age_seconds_count{kms=\"a\"} 3
k_age_seconds_bucket{le=\"1.0\",kms=\"a\"} 1
k_age_seconds_bucket{le=\"2.5\",kms=\"a\"} 2
k_age_seconds_bucket{le=\"+Inf\",kms=\"a\"} 3
";
        assert_eq!(render(ExpositionFormat::Text, &every_kind()), want);
    }

    #[test]
    fn an_empty_label_set_keeps_its_braces() {
        let families = [
            (
                def("g", None, Kind::Gauge),
                vec![(vec![], Value::Float(f64::NAN))],
            ),
            (
                def("h", None, Kind::Histogram),
                vec![(vec![], Value::Histogram(Histogram::of([], &[0.0])))],
            ),
        ];
        assert_eq!(
            render(ExpositionFormat::Text, &families),
            "# HELP g Help.\n# TYPE g gauge\ng{} NaN\n\
             # HELP h Help.\n# TYPE h histogram\nh_sum{} 0.0\nh_count{} 0\n\
             h_bucket{le=\"0.0\"} 0\nh_bucket{le=\"+Inf\"} 0\n"
        );
    }

    #[test]
    fn sorted_histograms_equal_unsorted_ones() {
        // Deterministic spread of values, bounds hit exactly, below the first and above the last.
        let mut values: Vec<f64> = (0..500).map(|i| f64::from((i * 37) % 101) / 10.0).collect();
        values.extend([-1.0, 0.0, 1.0, 2.5, 50.0]);
        let bounds = [0.0, 1.0, 2.5, 5.0, 10.0];
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let (a, b) = (
            Histogram::of(values, &bounds),
            Histogram::of_sorted(&sorted, &bounds),
        );
        assert_eq!((a.count, &a.buckets), (b.count, &b.buckets));
        assert!((a.sum - b.sum).abs() < 1e-9, "{} vs {}", a.sum, b.sum);
        let empty = Histogram::of_sorted(&[], &bounds);
        assert_eq!((empty.count, empty.sum), (0, 0.0));
        assert!(empty.buckets.iter().all(|(_, n)| *n == 0));
    }

    #[test]
    fn histogram_buckets_are_per_bound_with_inf_last() {
        let h = Histogram::of([0.0, 1.0, 2.5, 100.0], &[1.0, 2.0, 4.0]);
        assert_eq!(h.count, 4);
        assert_eq!(h.sum, 103.5);
        assert_eq!(
            h.buckets,
            vec![(1.0, 2), (2.0, 0), (4.0, 1), (f64::INFINITY, 1)]
        );
    }
}
