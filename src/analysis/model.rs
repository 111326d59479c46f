//! What one cycle read from KMS, element by element: media kinds, directions, RTP streams and
//! the scopes (pipeline or element) readings are aggregated under. Plain data, no I/O.

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

/// Which labelled series an element's data goes to (README "Detail levels"). With the default
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
