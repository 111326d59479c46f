//! The snapshot of one KMS target as the poller last saw it. Plain data: the poller builds it, the
//! store holds it, the metrics and the JSON API read it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::model::{Direction, Media, RtpTotals, Scope};
use super::summary::MediaSummary;
use super::topology::Topology;
use super::zombie::ZombieReport;
use crate::kurento::ClientError;

/// Why a poll cycle (or one of its reads) failed. A closed set: it becomes the `reason` label of
/// `kurento_exporter_poll_errors_total`, and every reason is always exported (0 until it happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PollErrorReason {
    /// The WebSocket could not be opened (KMS down, refused, DNS, TLS).
    Connect,
    /// A call got no reply within the timeout.
    Timeout,
    /// The connection dropped while calls were pending.
    Disconnected,
    /// Too many calls pending on the connections; the exporter refused to pile up more.
    Overloaded,
    /// KMS answered with an error (other than "object not found", which is normal churn).
    KmsError,
    /// A reply could not be decoded, or KMS sent so many undecodable frames that the exporter
    /// dropped the connection.
    Decode,
    /// The exporter itself failed (a poller task panicked or stopped); KMS may be fine. Set by
    /// the task supervision in `app`, never by a KMS read.
    Internal,
}

impl PollErrorReason {
    pub const ALL: [PollErrorReason; 7] = [
        PollErrorReason::Connect,
        PollErrorReason::Timeout,
        PollErrorReason::Disconnected,
        PollErrorReason::Overloaded,
        PollErrorReason::KmsError,
        PollErrorReason::Decode,
        PollErrorReason::Internal,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PollErrorReason::Connect => "connect",
            PollErrorReason::Timeout => "timeout",
            PollErrorReason::Disconnected => "disconnected",
            PollErrorReason::Overloaded => "overloaded",
            PollErrorReason::KmsError => "kms_error",
            PollErrorReason::Decode => "decode",
            PollErrorReason::Internal => "internal",
        }
    }
}

impl From<&ClientError> for PollErrorReason {
    fn from(err: &ClientError) -> Self {
        match err {
            ClientError::Connect(_) => PollErrorReason::Connect,
            ClientError::Timeout { .. } => PollErrorReason::Timeout,
            ClientError::Disconnected => PollErrorReason::Disconnected,
            ClientError::Overloaded => PollErrorReason::Overloaded,
            ClientError::Rpc(_) => PollErrorReason::KmsError,
            ClientError::Decode(_) => PollErrorReason::Decode,
        }
    }
}

/// What the exporter knows about its own work on one target. Counters here only grow.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExporterStats {
    /// Wall time of the last finished cycle.
    pub last_poll_duration_seconds: Option<f64>,
    /// When the last successful cycle finished (Unix seconds).
    pub last_success_unix_seconds: Option<f64>,
    pub poll_errors: BTreeMap<PollErrorReason, u64>,
    /// Failed reads by KMS operation (`getUsedCpu`, `getStats`, `transaction`, …): a bounded set
    /// of method names, never user data. Object-not-found churn is not a failure.
    pub read_errors: BTreeMap<String, u64>,
    /// Every request frame sent to this KMS, pings included.
    pub kms_requests_total: u64,
    /// Changes of `serverId` seen (KMS restarts).
    pub restarts_total: u64,
    /// `ObjectCreated` / `ObjectDestroyed` events seen, by object type.
    pub objects_created_total: BTreeMap<String, u64>,
    pub objects_destroyed_total: BTreeMap<String, u64>,
    /// Cycles finished, successful or not (readiness waits for the first).
    pub cycles_finished: u64,
    /// The last failure, for logs and the API (never carries credentials).
    pub last_error: Option<String>,
    /// The last deep health check (README "Health probe"); `None` while the probe is off or
    /// has not finished once.
    pub health_probe: Option<HealthProbeResult>,
}

/// The outcome of one deep health check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HealthProbeResult {
    pub success: bool,
    /// From opening its socket to the verdict (a timeout counts as the whole timeout).
    pub duration_seconds: f64,
}

/// Server-wide readings from the last successful cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerState {
    pub version: String,
    pub server_id: String,
    pub cpu_count: Option<u32>,
    /// `getUsedCpu`: percent of one core, htop-style (100 = one full core).
    pub cpu_used_percent: Option<f64>,
    /// `getUsedMemory`: resident set size in KiB.
    pub memory_resident_kib: Option<u64>,
    /// Distinct sessions holding objects, the exporter's own excluded.
    pub sessions: Option<u64>,
}

impl ServerState {
    /// CPU use as a ratio of all cores: `getUsedCpu / (100 × getCpuCount)`.
    pub fn cpu_usage_ratio(&self) -> Option<f64> {
        let count = self.cpu_count.filter(|c| *c > 0)?;
        Some(self.cpu_used_percent? / (100.0 * f64::from(count)))
    }
}

/// One pipeline of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineState {
    pub id: String,
    pub name: Option<String>,
    /// `getCreationTime` (Unix seconds), once read.
    pub created_unix_seconds: Option<i64>,
    /// Objects inside the pipeline, at any depth (hub ports included).
    pub elements: u64,
}

/// The object inventory of one KMS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectsState {
    pub pipelines: Vec<PipelineState>,
    /// Objects inside pipelines by class name (hubs and hub ports included).
    pub elements_by_type: BTreeMap<String, u64>,
}

/// Everything the exporter knows about one target, swapped whole into the store after each cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSnapshot {
    /// The `kms` label value.
    pub kms: String,
    /// True when the last cycle succeeded.
    pub up: bool,
    /// When this snapshot was taken (Unix seconds); ages are computed against it.
    pub taken_unix_seconds: f64,
    pub exporter: ExporterStats,
    /// `None` while KMS is unreachable: no stale reading is ever served as fresh.
    pub server: Option<ServerState>,
    pub objects: Option<ObjectsState>,
    /// Media readings of the last cycle (`None` while KMS is unreachable); the counters inside
    /// survive reconnects and KMS restarts.
    pub media: Option<MediaState>,
    /// Zombies as of the last cycle (`None` while KMS is unreachable).
    pub zombies: Option<ZombieReport>,
    /// Every element as of the last cycle, for the inspection API (`None` while KMS is
    /// unreachable). Shared: snapshots are published every cycle, the topology is not copied.
    pub topology: Option<Arc<Topology>>,
}

impl TargetSnapshot {
    /// The snapshot of a target that has not finished a cycle yet.
    pub fn initial(kms: &str) -> Self {
        TargetSnapshot {
            kms: kms.to_owned(),
            up: false,
            taken_unix_seconds: 0.0,
            exporter: ExporterStats::default(),
            server: None,
            objects: None,
            media: None,
            zombies: None,
            topology: None,
        }
    }
}

impl TargetSnapshot {
    /// This snapshot after a failure that ended polling (`reason`, with `detail` for the API and
    /// logs): `up 0`, everything read from KMS withdrawn (as a lost connection withdraws it, so
    /// no stale reading is served), the exporter's own counters kept and the failure counted.
    pub fn failed(&self, reason: PollErrorReason, detail: String, now: f64) -> TargetSnapshot {
        let mut exporter = self.exporter.clone();
        *exporter.poll_errors.entry(reason).or_default() += 1;
        exporter.last_error = Some(detail);
        TargetSnapshot {
            kms: self.kms.clone(),
            up: false,
            taken_unix_seconds: now,
            exporter,
            server: None,
            objects: None,
            media: None,
            zombies: None,
            topology: None,
        }
    }
}

/// The media side of a snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaState {
    /// The cycle's readings aggregated into what the media families show.
    pub summary: MediaSummary,
    /// Per (scope, media, direction), monotonic while the scope lives.
    pub rtp_totals: BTreeMap<(Scope, Media, Direction), RtpTotals>,
    /// NOT_TRANSCODING → TRANSCODING changes seen, per media.
    pub transcoding_transitions: BTreeMap<Media, u64>,
    /// Labelled scopes folded into the remainder because of `max_series`, summed over cycles.
    pub series_dropped_total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_snapshot_withdraws_kms_data_and_keeps_counting() {
        let mut before = TargetSnapshot::initial("a");
        before.up = true;
        before.exporter.kms_requests_total = 7;
        before
            .exporter
            .poll_errors
            .insert(PollErrorReason::Internal, 1);
        before.objects = Some(ObjectsState::default());
        before.media = Some(MediaState::default());
        let after = before.failed(PollErrorReason::Internal, "boom".into(), 42.0);
        assert!(!after.up);
        assert_eq!(
            (&after.server, &after.objects, &after.media, &after.zombies),
            (&None, &None, &None, &None)
        );
        assert_eq!(after.exporter.kms_requests_total, 7);
        assert_eq!(after.exporter.poll_errors[&PollErrorReason::Internal], 2);
        assert_eq!(after.exporter.last_error.as_deref(), Some("boom"));
        assert_eq!(after.taken_unix_seconds, 42.0);
    }

    #[test]
    fn cpu_ratio_is_percent_over_all_cores() {
        let mut server = ServerState {
            version: "7.3.0".into(),
            server_id: "s".into(),
            cpu_count: Some(4),
            cpu_used_percent: Some(150.0),
            memory_resident_kib: None,
            sessions: None,
        };
        assert_eq!(server.cpu_usage_ratio(), Some(0.375));
        server.cpu_count = Some(0);
        assert_eq!(server.cpu_usage_ratio(), None);
        server.cpu_count = None;
        assert_eq!(server.cpu_usage_ratio(), None);
    }

    #[test]
    fn every_client_error_has_its_own_reason() {
        use crate::kurento::protocol::RpcError;
        let errors = [
            ClientError::Connect("x".into()),
            ClientError::Timeout { method: "m".into() },
            ClientError::Disconnected,
            ClientError::Overloaded,
            ClientError::Rpc(RpcError::kms(40101, "gone")),
            ClientError::Decode("d".into()),
        ];
        let reasons: Vec<_> = errors.iter().map(PollErrorReason::from).collect();
        // Every reason but `internal` (the exporter's own failure) comes from a client error.
        assert_eq!(reasons, PollErrorReason::ALL[..errors.len()]);
        assert_eq!(
            PollErrorReason::ALL[errors.len()..],
            [PollErrorReason::Internal]
        );
        let labels: std::collections::BTreeSet<_> =
            PollErrorReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), PollErrorReason::ALL.len());
    }
}
