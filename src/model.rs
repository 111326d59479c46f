//! The snapshot of one KMS target as the poller last saw it. Plain data: the poller builds it, the
//! store holds it, the metrics and the JSON API read it.

use std::collections::BTreeMap;

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
    /// A reply could not be decoded.
    Decode,
}

impl PollErrorReason {
    pub const ALL: [PollErrorReason; 6] = [
        PollErrorReason::Connect,
        PollErrorReason::Timeout,
        PollErrorReason::Disconnected,
        PollErrorReason::Overloaded,
        PollErrorReason::KmsError,
        PollErrorReason::Decode,
    ];

    pub fn label(self) -> &'static str {
        match self {
            PollErrorReason::Connect => "connect",
            PollErrorReason::Timeout => "timeout",
            PollErrorReason::Disconnected => "disconnected",
            PollErrorReason::Overloaded => "overloaded",
            PollErrorReason::KmsError => "kms_error",
            PollErrorReason::Decode => "decode",
        }
    }

    /// The reason for a label produced by the client; unknown labels count as KMS errors.
    pub fn from_label(label: &str) -> PollErrorReason {
        Self::ALL
            .into_iter()
            .find(|r| r.label() == label)
            .unwrap_or(PollErrorReason::KmsError)
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
    pub zombies: Option<crate::zombie::ZombieReport>,
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
        }
    }
}

/// The media kind of a stream or state (`media` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Media {
    Audio,
    Video,
}

impl Media {
    pub const ALL: [Media; 2] = [Media::Audio, Media::Video];

    pub fn label(self) -> &'static str {
        match self {
            Media::Audio => "audio",
            Media::Video => "video",
        }
    }

    /// As KMS spells it in `mediaType` parameters.
    pub fn kms(self) -> &'static str {
        match self {
            Media::Audio => "AUDIO",
            Media::Video => "VIDEO",
        }
    }

    pub fn from_kms(text: &str) -> Option<Media> {
        match text {
            "AUDIO" => Some(Media::Audio),
            "VIDEO" => Some(Media::Video),
            _ => None,
        }
    }
}

/// Direction of an RTP stream as seen from KMS (`direction` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Received by KMS from the peer.
    Inbound,
    /// Sent by KMS to the peer.
    Outbound,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// One RTP stream of an endpoint, in KMS's units (see `kurento::stats`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RtpStream {
    pub media: Option<Media>,
    pub direction: Option<Direction>,
    /// The stats id: a new one after an SSRC change.
    pub stats_id: String,
    pub bytes: u64,
    pub packets: u64,
    /// Cumulative, possibly negative.
    pub packets_lost: i64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
    /// Raw 0–255.
    pub fraction_lost: Option<f64>,
    /// Seconds (inbound).
    pub jitter_seconds: Option<f64>,
    /// Seconds (outbound); 0 means "no receiver report yet" and is not a measurement.
    pub round_trip_seconds: Option<f64>,
    /// bps; 0 means none.
    pub remb_bps: u64,
    /// bps (outbound).
    pub target_bitrate_bps: Option<f64>,
}

/// Which labelled series an element's data goes to (design §4 "Detail"). With the default
/// aggregated detail every element shares the empty scope; at pipeline or element detail,
/// pipelines and elements beyond `max_series` or outside the filter share the remainder scope,
/// whose labels are empty strings, so sums over a family are always the KMS total.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Scope {
    /// `pipeline` label (name, else id), at pipeline and element detail.
    pub pipeline: Option<String>,
    /// `element` and `element_type` labels, at element detail.
    pub element: Option<(String, String)>,
}

/// What one cycle read of one media element. `None` = not read (not applicable, or failed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ElementReading {
    pub id: String,
    pub element_type: String,
    pub scope: Scope,
    /// Indexed by `Media as usize` (audio, video).
    pub flowing_in: [Option<bool>; 2],
    pub flowing_out: [Option<bool>; 2],
    pub transcoding: [Option<bool>; 2],
    /// `getMediaState` / `getConnectionState` of BaseRtpEndpoints, lower case.
    pub media_state: Option<String>,
    pub connection_state: Option<String>,
    /// The endpoint's ICE state (lower case; see `ice_state_of`), WebRtcEndpoints only.
    pub ice_state: Option<String>,
    /// The most indirect candidate type of the selected pairs (the TURN share rule).
    pub selected_candidate: Option<crate::kurento::stats::CandidateType>,
    /// `UriEndpoint.getState` of players and recorders, lower case.
    pub uri_state: Option<String>,
    /// Source plus sink connections (`getSourceConnections` + `getSinkConnections`).
    pub connections: Option<usize>,
    pub streams: Vec<RtpStream>,
    /// (media, seconds) averages, only where the application enabled latency stats.
    pub e2e_latency: Vec<(Media, f64)>,
    pub input_latency: Vec<(Media, f64)>,
}

/// Monotonic RTP counter totals of one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpTotals {
    pub bytes: u64,
    pub packets: u64,
    pub packets_lost: u64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
}

/// The media side of a snapshot.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaState {
    /// The cycle's readings aggregated into what the media families show.
    pub summary: crate::summary::MediaSummary,
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
    fn reason_labels_round_trip_and_unknown_is_kms_error() {
        for reason in PollErrorReason::ALL {
            assert_eq!(PollErrorReason::from_label(reason.label()), reason);
        }
        assert_eq!(
            PollErrorReason::from_label("weird"),
            PollErrorReason::KmsError
        );
    }
}
