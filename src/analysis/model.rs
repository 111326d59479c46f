//! What one cycle read from KMS, element by element: media kinds, directions, RTP streams and
//! the scopes (pipeline or element) readings are aggregated under. Plain data, no I/O.

use std::sync::Arc;

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

/// Which way media flows through an element, named from the pipeline's side as KMS names it
/// (`isMediaFlowingIn`/`Out`, docs/kms-protocol.md §10): the `direction` label of
/// `kurento_media_flowing_elements`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flow {
    In,
    Out,
}

impl Flow {
    pub const ALL: [Flow; 2] = [Flow::In, Flow::Out];

    pub fn label(self) -> &'static str {
        match self {
            Flow::In => "in",
            Flow::Out => "out",
        }
    }
}

/// `getMediaState` and `getConnectionState` of a BaseRtpEndpoint (`state` label): whether RTCP
/// arrives, and whether the endpoint's transport is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Connectivity {
    Connected,
    Disconnected,
}

impl Connectivity {
    pub const ALL: [Connectivity; 2] = [Connectivity::Connected, Connectivity::Disconnected];

    pub fn label(self) -> &'static str {
        match self {
            Connectivity::Connected => "connected",
            Connectivity::Disconnected => "disconnected",
        }
    }

    /// KMS's spelling (`CONNECTED`), `None` for anything else.
    pub fn from_kms(text: &str) -> Option<Connectivity> {
        Self::ALL
            .into_iter()
            .find(|s| s.label().eq_ignore_ascii_case(text))
    }
}

/// A WebRtcEndpoint's ICE state (`state` label), reduced from its components' states
/// (docs/kms-protocol.md §11): `new` before ICE started, `failed` if any component failed, else
/// the least advanced component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IceState {
    New,
    Gathering,
    Connecting,
    Connected,
    Ready,
    Failed,
    Disconnected,
}

impl IceState {
    pub const ALL: [IceState; 7] = [
        IceState::New,
        IceState::Gathering,
        IceState::Connecting,
        IceState::Connected,
        IceState::Ready,
        IceState::Failed,
        IceState::Disconnected,
    ];

    /// Component states from the least to the most advanced (`failed` wins over all of them).
    const PROGRESS: [IceState; 5] = [
        IceState::Disconnected,
        IceState::Gathering,
        IceState::Connecting,
        IceState::Connected,
        IceState::Ready,
    ];

    pub fn label(self) -> &'static str {
        match self {
            IceState::New => "new",
            IceState::Gathering => "gathering",
            IceState::Connecting => "connecting",
            IceState::Connected => "connected",
            IceState::Ready => "ready",
            IceState::Failed => "failed",
            IceState::Disconnected => "disconnected",
        }
    }

    /// The endpoint's state from the `state` of each of its ICE components (KMS spelling,
    /// `READY`); unknown states are ignored.
    pub fn of_components(states: &[impl AsRef<str>]) -> IceState {
        let known = |s: &_| {
            Self::ALL
                .into_iter()
                .find(|x| x.label().eq_ignore_ascii_case(AsRef::<str>::as_ref(s)))
        };
        let states: Vec<IceState> = states.iter().filter_map(known).collect();
        if states.contains(&IceState::Failed) {
            return IceState::Failed;
        }
        states
            .iter()
            .filter_map(|s| Self::PROGRESS.iter().position(|p| p == s))
            .min()
            .map_or(IceState::New, |i| Self::PROGRESS[i])
    }

    /// Whether media can pass (the ICE connectivity checks succeeded).
    pub fn is_connected(self) -> bool {
        matches!(self, IceState::Connected | IceState::Ready)
    }
}

/// `UriEndpoint.getState` of players and recorders (`state` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UriState {
    Start,
    Pause,
    Stop,
}

impl UriState {
    pub const ALL: [UriState; 3] = [UriState::Start, UriState::Pause, UriState::Stop];

    pub fn label(self) -> &'static str {
        match self {
            UriState::Start => "start",
            UriState::Pause => "pause",
            UriState::Stop => "stop",
        }
    }

    /// KMS's spelling (`START`), `None` for anything else.
    pub fn from_kms(text: &str) -> Option<UriState> {
        Self::ALL
            .into_iter()
            .find(|s| s.label().eq_ignore_ascii_case(text))
    }
}

/// What one cycle read of one media element. `None` = not read (not applicable, or failed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ElementReading {
    /// Shared with the inventory (`poll::inventory`).
    pub id: Arc<str>,
    pub element_type: String,
    pub scope: Scope,
    /// Indexed by `Media as usize` (audio, video).
    pub flowing_in: [Option<bool>; 2],
    pub flowing_out: [Option<bool>; 2],
    pub transcoding: [Option<bool>; 2],
    /// `getMediaState` / `getConnectionState` of BaseRtpEndpoints.
    pub media_state: Option<Connectivity>,
    pub connection_state: Option<Connectivity>,
    /// The endpoint's ICE state, WebRtcEndpoints only.
    pub ice_state: Option<IceState>,
    /// The most indirect candidate type of the selected pairs (the TURN share rule).
    pub selected_candidate: Option<crate::kurento::stats::CandidateType>,
    /// The selected candidate pairs themselves (types and addresses), for the inspection API.
    pub selected_pairs: std::sync::Arc<[crate::kurento::stats::SelectedPair]>,
    /// `UriEndpoint.getState` of players and recorders.
    pub uri_state: Option<UriState>,
    /// Source plus sink connections (`getSourceConnections` + `getSinkConnections`).
    pub connections: Option<usize>,
    /// The sink connections: where this element's media goes (the edges of the pipeline graph;
    /// every edge is a sink connection of its source).
    pub sinks: Option<std::sync::Arc<[crate::kurento::connections::SinkConnection]>>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ice_state_reduction_table() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let cases = [
            (s(&[]), IceState::New),
            (s(&["READY"]), IceState::Ready),
            (s(&["READY", "CONNECTING"]), IceState::Connecting),
            (s(&["CONNECTED", "FAILED"]), IceState::Failed),
            (s(&["GATHERING"]), IceState::Gathering),
            (s(&["DISCONNECTED", "READY"]), IceState::Disconnected),
            (s(&["SOMETHING_NEW", "READY"]), IceState::Ready),
        ];
        for (states, want) in cases {
            assert_eq!(IceState::of_components(&states), want, "{states:?}");
        }
    }

    #[test]
    fn kms_spellings_parse_and_others_do_not() {
        assert_eq!(
            Connectivity::from_kms("CONNECTED"),
            Some(Connectivity::Connected)
        );
        assert_eq!(
            Connectivity::from_kms("DISCONNECTED"),
            Some(Connectivity::Disconnected)
        );
        assert_eq!(Connectivity::from_kms("FLAKY"), None);
        assert_eq!(UriState::from_kms("PAUSE"), Some(UriState::Pause));
        assert_eq!(UriState::from_kms(""), None);
    }

    #[test]
    fn labels_are_distinct_lower_case_words() {
        let labels: Vec<&str> = IceState::ALL
            .iter()
            .map(|s| s.label())
            .chain(Connectivity::ALL.iter().map(|s| s.label()))
            .chain(UriState::ALL.iter().map(|s| s.label()))
            .collect();
        for l in &labels {
            assert!(l.chars().all(|c| c.is_ascii_lowercase()), "{l}");
        }
        let ice: std::collections::BTreeSet<_> = IceState::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(ice.len(), IceState::ALL.len());
    }
}
