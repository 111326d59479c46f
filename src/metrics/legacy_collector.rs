//! TEMPORARY: the former prometheus-client rendering, kept only to compare outputs.
//! Renders the store's snapshots through prometheus-client at scrape time. No I/O: everything
//! comes from the latest snapshot of each target.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::catalogue::{self as cat, Kind, MetricDef};
use crate::model::{PollErrorReason, TargetSnapshot};
use crate::store::Store;

use super::collector::BuildInfo;

#[derive(Debug)]
pub struct LegacyCollector {
    store: Arc<Store>,
    build: BuildInfo,
}

impl LegacyCollector {
    pub fn new(store: Arc<Store>, build: BuildInfo) -> Self {
        LegacyCollector { store, build }
    }
}

pub(super) type Labels<'a> = Vec<(&'static str, &'a str)>;

/// One sample of a family: its labels and value.
pub(super) enum Value {
    Int(u64),
    Float(f64),
    /// A histogram over values with per-family bucket bounds.
    Histogram(Histogram),
    Info,
}

pub(super) struct Histogram {
    sum: f64,
    count: u64,
    /// Non-cumulative counts per upper bound, `+Inf` last (prometheus-client accumulates).
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
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Histogram => MetricType::Histogram,
        Kind::Info => MetricType::Info,
    }
}

fn unit(def: &MetricDef) -> Option<Unit> {
    def.unit.map(|u| match u {
        "seconds" => Unit::Seconds,
        "bytes" => Unit::Bytes,
        other => Unit::Other(other.to_owned()),
    })
}

/// Writes one family; a family without samples is left out entirely.
pub(super) fn write_family(
    encoder: &mut DescriptorEncoder,
    def: &MetricDef,
    samples: Vec<(Labels, Value)>,
) -> Result<(), std::fmt::Error> {
    if samples.is_empty() {
        return Ok(());
    }
    let unit = unit(def);
    let help = def.help_text();
    let mut family =
        encoder.encode_descriptor(def.family, &help, unit.as_ref(), metric_type(def.kind))?;
    for (labels, value) in samples {
        if let Value::Info = value {
            // Info labels are the sample's own labels, not a family's.
            family.encode_info(&labels)?;
            continue;
        }
        let mut sample: MetricEncoder = family.encode_family(&labels)?;
        match value {
            Value::Int(v) if def.kind == Kind::Counter => {
                sample.encode_counter::<NoLabelSet, _, u64>(&v, None)?
            }
            Value::Float(v) if def.kind == Kind::Counter => {
                sample.encode_counter::<NoLabelSet, _, f64>(&v, None)?
            }
            Value::Int(v) => sample.encode_gauge(&i64::try_from(v).unwrap_or(i64::MAX))?,
            Value::Float(v) => sample.encode_gauge(&v)?,
            Value::Histogram(h) => {
                sample.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?
            }
            Value::Info => {}
        }
    }
    Ok(())
}

/// Samples of a family with one value per target, only for targets where `value` gives one.
fn per_target<'a>(
    snaps: &'a [Arc<TargetSnapshot>],
    value: impl Fn(&'a TargetSnapshot) -> Option<Value>,
) -> Vec<(Labels<'a>, Value)> {
    snaps
        .iter()
        .filter_map(|s| value(s).map(|v| (vec![("kms", s.kms.as_str())], v)))
        .collect()
}

fn by_element_type<'a>(
    snaps: &'a [Arc<TargetSnapshot>],
    map: impl Fn(&'a TargetSnapshot) -> Option<&'a std::collections::BTreeMap<String, u64>>,
) -> Vec<(Labels<'a>, Value)> {
    snaps
        .iter()
        .filter_map(|s| map(s).map(|m| (s, m)))
        .flat_map(|(s, m)| {
            m.iter().map(move |(ty, n)| {
                (
                    vec![("kms", s.kms.as_str()), ("element_type", ty.as_str())],
                    Value::Int(*n),
                )
            })
        })
        .collect()
}

impl Collector for LegacyCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snaps = self.store.snapshots();
        let enc = &mut encoder;

        write_family(
            enc,
            &cat::BUILD_INFO,
            vec![(
                vec![
                    ("version", self.build.version.as_str()),
                    ("revision", self.build.revision.as_str()),
                ],
                Value::Info,
            )],
        )?;
        write_family(
            enc,
            &cat::UP,
            per_target(&snaps, |s| Some(Value::Int(u64::from(s.up)))),
        )?;
        write_family(
            enc,
            &cat::POLL_DURATION,
            per_target(&snaps, |s| {
                s.exporter.last_poll_duration_seconds.map(Value::Float)
            }),
        )?;
        write_family(
            enc,
            &cat::LAST_POLL_SUCCESS,
            per_target(&snaps, |s| {
                s.exporter.last_success_unix_seconds.map(Value::Float)
            }),
        )?;
        let errors = snaps
            .iter()
            .flat_map(|s| {
                PollErrorReason::ALL.into_iter().map(|reason| {
                    let n = s.exporter.poll_errors.get(&reason).copied().unwrap_or(0);
                    (
                        vec![("kms", s.kms.as_str()), ("reason", reason.label())],
                        Value::Int(n),
                    )
                })
            })
            .collect();
        write_family(enc, &cat::POLL_ERRORS, errors)?;
        write_family(
            enc,
            &cat::KMS_REQUESTS,
            per_target(&snaps, |s| Some(Value::Int(s.exporter.kms_requests_total))),
        )?;

        let infos = snaps
            .iter()
            .filter_map(|s| {
                s.server.as_ref().map(|srv| {
                    (
                        vec![("kms", s.kms.as_str()), ("version", srv.version.as_str())],
                        Value::Info,
                    )
                })
            })
            .collect();
        write_family(enc, &cat::SERVER_INFO, infos)?;
        write_family(
            enc,
            &cat::SERVER_RESTARTS,
            per_target(&snaps, |s| Some(Value::Int(s.exporter.restarts_total))),
        )?;
        write_family(
            enc,
            &cat::SERVER_CPU_COUNT,
            per_target(&snaps, |s| {
                s.server.as_ref()?.cpu_count.map(|c| Value::Int(c.into()))
            }),
        )?;
        write_family(
            enc,
            &cat::SERVER_CPU_USAGE,
            per_target(&snaps, |s| {
                s.server.as_ref()?.cpu_usage_ratio().map(Value::Float)
            }),
        )?;
        write_family(
            enc,
            &cat::SERVER_MEMORY,
            per_target(&snaps, |s| {
                s.server
                    .as_ref()?
                    .memory_resident_kib
                    .map(|kib| Value::Int(kib.saturating_mul(1024)))
            }),
        )?;
        write_family(
            enc,
            &cat::SERVER_SESSIONS,
            per_target(&snaps, |s| s.server.as_ref()?.sessions.map(Value::Int)),
        )?;

        write_family(
            enc,
            &cat::PIPELINES,
            per_target(&snaps, |s| {
                s.objects
                    .as_ref()
                    .map(|o| Value::Int(o.pipelines.len() as u64))
            }),
        )?;
        write_family(
            enc,
            &cat::ELEMENTS,
            by_element_type(&snaps, |s| s.objects.as_ref().map(|o| &o.elements_by_type)),
        )?;
        write_family(
            enc,
            &cat::OBJECTS_CREATED,
            by_element_type(&snaps, |s| Some(&s.exporter.objects_created_total)),
        )?;
        write_family(
            enc,
            &cat::OBJECTS_DESTROYED,
            by_element_type(&snaps, |s| Some(&s.exporter.objects_destroyed_total)),
        )?;
        write_family(
            enc,
            &cat::PIPELINE_ELEMENTS,
            per_target(&snaps, |s| {
                let objects = s.objects.as_ref()?;
                Some(Value::Histogram(Histogram::of(
                    objects.pipelines.iter().map(|p| p.elements as f64),
                    cat::PIPELINE_ELEMENTS_BUCKETS,
                )))
            }),
        )?;
        write_family(
            enc,
            &cat::PIPELINE_AGE,
            per_target(&snaps, |s| {
                let objects = s.objects.as_ref()?;
                let now = s.taken_unix_seconds;
                Some(Value::Histogram(Histogram::of(
                    objects
                        .pipelines
                        .iter()
                        .filter_map(|p| p.created_unix_seconds)
                        .map(|created| (now - created as f64).max(0.0)),
                    cat::PIPELINE_AGE_BUCKETS,
                )))
            }),
        )?;
        super::legacy_media::encode(enc, &snaps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
