//! The one prometheus-client collector over the store: which samples the latest snapshots give,
//! in catalogue order. No I/O: everything comes from the latest snapshot of each target.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::catalogue::{self as cat, MetricDef};
use super::family::{Families, Value};
use super::histogram::Histogram;
use super::labels::{Build, ElementType, Kms, NoLabels, Read, Reason, Source, Version};
use super::non_finite::InfinityCount;
use crate::analysis::snapshot::{PollErrorReason, TargetSnapshot};
use crate::poll::store::Store;

/// Version and revision for `kurento_exporter_build_info`.
#[derive(Debug, Clone)]
pub struct BuildInfo {
    pub version: String,
    pub revision: String,
}

#[derive(Debug)]
pub(super) struct StoreCollector {
    store: Arc<Store>,
    build: BuildInfo,
    infinities: Arc<InfinityCount>,
    /// Only this target's families (a `/probe` answer), without the exporter-wide ones.
    only: Option<String>,
}

/// A family with one sample per target, only for targets where `value` gives one.
fn per_target(
    families: &mut Families,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    value: impl Fn(&TargetSnapshot) -> Option<Value>,
) -> fmt::Result {
    families.family(def, |family| {
        for snap in snaps {
            if let Some(v) = value(snap) {
                family.sample(&Kms { kms: &snap.kms }, &v)?;
            }
        }
        Ok(())
    })
}

/// A family of counts by element type, for targets where `map` gives them.
fn by_element_type<'a>(
    families: &mut Families,
    def: &MetricDef,
    snaps: &'a [Arc<TargetSnapshot>],
    map: impl Fn(&'a TargetSnapshot) -> Option<&'a BTreeMap<String, u64>>,
) -> fmt::Result {
    families.family(def, |family| {
        for snap in snaps {
            for (ty, n) in map(snap).into_iter().flatten() {
                let labels = (Kms { kms: &snap.kms }, ElementType { element_type: ty });
                family.sample(&labels, &Value::Int(*n))?;
            }
        }
        Ok(())
    })
}

impl StoreCollector {
    /// `infinities` counts the infinite values handed to the encoder (see `non_finite`).
    pub(super) fn new(store: Arc<Store>, build: BuildInfo, infinities: Arc<InfinityCount>) -> Self {
        StoreCollector {
            store,
            build,
            infinities,
            only: None,
        }
    }

    /// A collector of one target's families only (see [`StoreCollector::only`]).
    pub(super) fn of_target(
        store: Arc<Store>,
        build: BuildInfo,
        infinities: Arc<InfinityCount>,
        kms: &str,
    ) -> Self {
        StoreCollector {
            only: Some(kms.to_owned()),
            ..StoreCollector::new(store, build, infinities)
        }
    }

    /// Writes every family, in catalogue order.
    fn write(&self, f: &mut Families) -> fmt::Result {
        let mut snaps = self.store.snapshots();
        if let Some(kms) = &self.only {
            snaps.retain(|s| &s.kms == kms);
            return self.write_targets(f, &snaps);
        }

        f.family(&cat::BUILD_INFO, |family| {
            family.info(&Build {
                version: &self.build.version,
                revision: &self.build.revision,
            })
        })?;
        let reload = self.store.reload_status();
        f.family(&cat::CONFIG_RELOAD_SUCCESSFUL, |family| {
            family.sample(&NoLabels, &Value::Int(u64::from(reload.successful)))
        })?;
        f.family(&cat::CONFIG_RELOAD_SUCCESS_TIME, |family| {
            family.sample(&NoLabels, &Value::Float(reload.success_unix_seconds))
        })?;
        f.family(&cat::TARGETS, |family| {
            for (source, n) in self.store.targets_by_source() {
                let labels = Source {
                    source: source.label(),
                };
                family.sample(&labels, &Value::Int(n as u64))?;
            }
            Ok(())
        })?;
        self.write_targets(f, &snaps)
    }

    /// The per-target families of `snaps`.
    fn write_targets(&self, f: &mut Families, snaps: &[Arc<TargetSnapshot>]) -> fmt::Result {
        let snaps = snaps.to_vec();
        per_target(f, &cat::UP, &snaps, |s| Some(Value::Int(u64::from(s.up))))?;
        per_target(f, &cat::HEALTH_PROBE_SUCCESS, &snaps, |s| {
            let probe = s.exporter.health_probe?;
            Some(Value::Int(u64::from(probe.success)))
        })?;
        per_target(f, &cat::HEALTH_PROBE_DURATION, &snaps, |s| {
            Some(Value::Float(s.exporter.health_probe?.duration_seconds))
        })?;
        per_target(f, &cat::POLL_DURATION, &snaps, |s| {
            s.exporter.last_poll_duration_seconds.map(Value::Float)
        })?;
        per_target(f, &cat::LAST_POLL_SUCCESS, &snaps, |s| {
            s.exporter.last_success_unix_seconds.map(Value::Float)
        })?;
        f.family(&cat::POLL_ERRORS, |family| {
            for snap in snaps.iter() {
                for reason in PollErrorReason::ALL {
                    let n = snap.exporter.poll_errors.get(&reason).copied().unwrap_or(0);
                    let labels = (
                        Kms { kms: &snap.kms },
                        Reason {
                            reason: reason.label(),
                        },
                    );
                    family.sample(&labels, &Value::Int(n))?;
                }
            }
            Ok(())
        })?;
        f.family(&cat::READ_ERRORS, |family| {
            for snap in snaps.iter() {
                for (read, n) in &snap.exporter.read_errors {
                    let labels = (Kms { kms: &snap.kms }, Read { read });
                    family.sample(&labels, &Value::Int(*n))?;
                }
            }
            Ok(())
        })?;
        per_target(f, &cat::KMS_REQUESTS, &snaps, |s| {
            Some(Value::Int(s.exporter.kms_requests_total))
        })?;

        f.family(&cat::SERVER_INFO, |family| {
            for snap in snaps.iter() {
                if let Some(server) = &snap.server {
                    let labels = (
                        Kms { kms: &snap.kms },
                        Version {
                            version: &server.version,
                        },
                    );
                    family.info(&labels)?;
                }
            }
            Ok(())
        })?;
        per_target(f, &cat::SERVER_RESTARTS, &snaps, |s| {
            Some(Value::Int(s.exporter.restarts_total))
        })?;
        per_target(f, &cat::SERVER_CPU_COUNT, &snaps, |s| {
            s.server.as_ref()?.cpu_count.map(|c| Value::Int(c.into()))
        })?;
        per_target(f, &cat::SERVER_CPU_USAGE, &snaps, |s| {
            s.server.as_ref()?.cpu_usage_ratio().map(Value::Float)
        })?;
        per_target(f, &cat::SERVER_MEMORY, &snaps, |s| {
            s.server
                .as_ref()?
                .memory_resident_kib
                .map(|kib| Value::Int(kib.saturating_mul(1024)))
        })?;
        per_target(f, &cat::SERVER_SESSIONS, &snaps, |s| {
            s.server.as_ref()?.sessions.map(Value::Int)
        })?;

        per_target(f, &cat::PIPELINES, &snaps, |s| {
            s.objects
                .as_ref()
                .map(|o| Value::Int(o.pipelines.len() as u64))
        })?;
        by_element_type(f, &cat::ELEMENTS, &snaps, |s| {
            s.objects.as_ref().map(|o| &o.elements_by_type)
        })?;
        by_element_type(f, &cat::OBJECTS_CREATED, &snaps, |s| {
            Some(&s.exporter.objects_created_total)
        })?;
        by_element_type(f, &cat::OBJECTS_DESTROYED, &snaps, |s| {
            Some(&s.exporter.objects_destroyed_total)
        })?;
        per_target(f, &cat::PIPELINE_ELEMENTS, &snaps, |s| {
            let objects = s.objects.as_ref()?;
            Some(Value::Histogram(Histogram::of(
                objects.pipelines.iter().map(|p| p.elements as f64),
                cat::PIPELINE_ELEMENTS_BUCKETS,
            )))
        })?;
        per_target(f, &cat::PIPELINE_AGE, &snaps, |s| {
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
        })?;
        super::media::write(f, &snaps)
    }
}

impl Collector for StoreCollector {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        Families::collect(encoder, &self.infinities, |families| self.write(families))
    }
}
