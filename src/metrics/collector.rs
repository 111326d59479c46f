//! Which samples the store's snapshots give, written through the exposition writer at scrape
//! time. No I/O: everything comes from the latest snapshot of each target.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalogue::{self as cat, MetricDef};
use super::writer::{ExpositionWriter, Histogram, Value};
use crate::analysis::snapshot::{PollErrorReason, TargetSnapshot};
use crate::poll::store::Store;

/// Version and revision for `kurento_exporter_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
}

#[derive(Debug)]
pub struct StoreCollector {
    store: Arc<Store>,
    build: BuildInfo,
}

/// A family with one sample per target, only for targets where `value` gives one.
fn per_target(
    w: &mut ExpositionWriter,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    value: impl Fn(&TargetSnapshot) -> Option<Value>,
) {
    let mut family = w.family(def);
    for snap in snaps {
        if let Some(v) = value(snap) {
            family.sample(&[("kms", snap.kms.as_str())], &v);
        }
    }
}

/// A family of counts by element type, for targets where `map` gives them.
fn by_element_type<'a>(
    w: &mut ExpositionWriter,
    def: &MetricDef,
    snaps: &'a [Arc<TargetSnapshot>],
    map: impl Fn(&'a TargetSnapshot) -> Option<&'a BTreeMap<String, u64>>,
) {
    let mut family = w.family(def);
    for snap in snaps {
        for (ty, n) in map(snap).into_iter().flatten() {
            family.sample(
                &[("kms", snap.kms.as_str()), ("element_type", ty.as_str())],
                &Value::Int(*n),
            );
        }
    }
}

impl StoreCollector {
    pub fn new(store: Arc<Store>, build: BuildInfo) -> Self {
        StoreCollector { store, build }
    }

    /// Writes every family, in catalogue order.
    pub fn write(&self, w: &mut ExpositionWriter) {
        let snaps = self.store.snapshots();

        w.family(&cat::BUILD_INFO).sample(
            &[
                ("version", self.build.version.as_str()),
                ("revision", self.build.revision.as_str()),
            ],
            &Value::Info,
        );
        per_target(w, &cat::UP, &snaps, |s| Some(Value::Int(u64::from(s.up))));
        per_target(w, &cat::POLL_DURATION, &snaps, |s| {
            s.exporter.last_poll_duration_seconds.map(Value::Float)
        });
        per_target(w, &cat::LAST_POLL_SUCCESS, &snaps, |s| {
            s.exporter.last_success_unix_seconds.map(Value::Float)
        });
        let mut errors = w.family(&cat::POLL_ERRORS);
        for snap in snaps.iter() {
            for reason in PollErrorReason::ALL {
                let n = snap.exporter.poll_errors.get(&reason).copied().unwrap_or(0);
                errors.sample(
                    &[("kms", snap.kms.as_str()), ("reason", reason.label())],
                    &Value::Int(n),
                );
            }
        }
        per_target(w, &cat::KMS_REQUESTS, &snaps, |s| {
            Some(Value::Int(s.exporter.kms_requests_total))
        });

        let mut infos = w.family(&cat::SERVER_INFO);
        for snap in snaps.iter() {
            if let Some(server) = &snap.server {
                infos.sample(
                    &[
                        ("kms", snap.kms.as_str()),
                        ("version", server.version.as_str()),
                    ],
                    &Value::Info,
                );
            }
        }
        per_target(w, &cat::SERVER_RESTARTS, &snaps, |s| {
            Some(Value::Int(s.exporter.restarts_total))
        });
        per_target(w, &cat::SERVER_CPU_COUNT, &snaps, |s| {
            s.server.as_ref()?.cpu_count.map(|c| Value::Int(c.into()))
        });
        per_target(w, &cat::SERVER_CPU_USAGE, &snaps, |s| {
            s.server.as_ref()?.cpu_usage_ratio().map(Value::Float)
        });
        per_target(w, &cat::SERVER_MEMORY, &snaps, |s| {
            s.server
                .as_ref()?
                .memory_resident_kib
                .map(|kib| Value::Int(kib.saturating_mul(1024)))
        });
        per_target(w, &cat::SERVER_SESSIONS, &snaps, |s| {
            s.server.as_ref()?.sessions.map(Value::Int)
        });

        per_target(w, &cat::PIPELINES, &snaps, |s| {
            s.objects
                .as_ref()
                .map(|o| Value::Int(o.pipelines.len() as u64))
        });
        by_element_type(w, &cat::ELEMENTS, &snaps, |s| {
            s.objects.as_ref().map(|o| &o.elements_by_type)
        });
        by_element_type(w, &cat::OBJECTS_CREATED, &snaps, |s| {
            Some(&s.exporter.objects_created_total)
        });
        by_element_type(w, &cat::OBJECTS_DESTROYED, &snaps, |s| {
            Some(&s.exporter.objects_destroyed_total)
        });
        per_target(w, &cat::PIPELINE_ELEMENTS, &snaps, |s| {
            let objects = s.objects.as_ref()?;
            Some(Value::Histogram(Histogram::of(
                objects.pipelines.iter().map(|p| p.elements as f64),
                cat::PIPELINE_ELEMENTS_BUCKETS,
            )))
        });
        per_target(w, &cat::PIPELINE_AGE, &snaps, |s| {
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
        });
        super::media::write(w, &snaps);
    }
}
