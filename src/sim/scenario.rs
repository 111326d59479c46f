//! Scenario files: what the simulated KMS contains and how it behaves (TOML, strict decoding).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::SimError;
use super::classes::{self, Kind};
use super::dialect::Dialect;

/// The built-in lively scenario used by `demo` (`scenarios/demo.toml`).
const DEMO_TOML: &str = include_str!("../../scenarios/demo.toml");

/// A whole scenario. Every section is optional; the defaults make an empty 7.x KMS.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub server: ServerSpec,
    #[serde(default)]
    pub timing: TimingSpec,
    /// Named media profiles referenced by elements (`profile = "name"`).
    #[serde(default)]
    pub profiles: BTreeMap<String, MediaProfile>,
    #[serde(default)]
    pub pipelines: Vec<PipelineSpec>,
    #[serde(default)]
    pub churn: Option<ChurnSpec>,
    #[serde(default)]
    pub peers: PeerSpec,
}

/// How endpoints that applications create and negotiate meet their (real, UDP) peers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerSpec {
    /// Where negotiated endpoints bind their UDP sockets; the host candidate is that address.
    pub media_address: std::net::IpAddr,
    /// Silence after which ICE consent expires and the component FAILS (libnice ≈ 30 s).
    #[serde(with = "humantime_serde")]
    pub consent_timeout: Duration,
    /// Extra KMS candidates gathered after the host one, on documentation addresses that nothing
    /// ever sends to: `srflx` adds a server-reflexive one, `relay` a reflexive and a relayed one.
    pub local_candidates: LocalCandidate,
}

impl Default for PeerSpec {
    fn default() -> Self {
        PeerSpec {
            media_address: std::net::Ipv4Addr::LOCALHOST.into(),
            consent_timeout: Duration::from_secs(30),
            local_candidates: LocalCandidate::Host,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSpec {
    /// Reported by `getInfo` for the server and every module.
    pub version: String,
    pub dialect: Dialect,
    pub cpu_count: u32,
    /// `getUsedCpu` answer (htop style: 100 = one core), with a small deterministic wobble.
    pub used_cpu_percent: f64,
    /// `getUsedMemory` answer in KiB.
    pub used_memory_kib: u64,
    /// Gives elements that applications create at run time this scenario profile instead of
    /// a real peer: they then report the profile's flows, ICE and stats without negotiation or
    /// datagrams (for load tests of application-driven worlds). Unset (the default), they have
    /// media only once negotiated and while their UDP peer sends (see `[peers]`).
    pub dynamic_profile: Option<String>,
    /// Keep the log of served requests (`Simulator::request_log`); benchmarks turn it off so a
    /// long run does not grow without bound.
    pub log_requests: bool,
}

impl Default for ServerSpec {
    fn default() -> Self {
        ServerSpec {
            version: "7.3.0".into(),
            dialect: Dialect::V7,
            cpu_count: 4,
            used_cpu_percent: 35.0,
            used_memory_kib: 262_144,
            dynamic_profile: None,
            log_requests: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingSpec {
    /// KMS `garbageCollectorPeriod`; keep-alive runs every quarter of it.
    #[serde(with = "humantime_serde")]
    pub gc_period: Duration,
    /// Time KMS spends on each operation: a request costs one, a `transaction` one per inner
    /// operation it ran (KMS runs them serially). Requests on one connection are served one at a
    /// time, so a connection answers at most one operation per `service_time`.
    #[serde(with = "humantime_serde")]
    pub service_time: Duration,
    /// Seed for ids, SSRCs and the wobble of stats.
    pub seed: u64,
    /// The scenario's own elements started their media this long before the simulator did, so
    /// their counters are already non-zero at start (creation times are not backdated).
    #[serde(with = "humantime_serde")]
    pub media_warmup: Duration,
}

impl Default for TimingSpec {
    fn default() -> Self {
        TimingSpec {
            gc_period: Duration::from_secs(240),
            service_time: Duration::ZERO,
            seed: 1,
            media_warmup: Duration::ZERO,
        }
    }
}

/// ICE outcome of a WebRTC endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IceOutcome {
    /// No ICE activity (no pairs, no connection state entries).
    #[default]
    None,
    /// Stuck checking (state CONNECTING, no selected pair).
    Checking,
    /// Connected; the remote candidate of the selected pair is of this type.
    Host,
    Srflx,
    /// Peer-reflexive: learnt from a connectivity check, not signalled.
    Prflx,
    Relay,
    /// ICE failed (state FAILED, no selected pair, no media).
    Failed,
}

impl IceOutcome {
    pub fn connected(self) -> bool {
        matches!(
            self,
            IceOutcome::Host | IceOutcome::Srflx | IceOutcome::Prflx | IceOutcome::Relay
        )
    }

    /// Whether media can pass (no ICE at all, as for non-WebRTC elements, or ICE connected).
    pub fn lets_media_through(self) -> bool {
        !matches!(self, IceOutcome::Checking | IceOutcome::Failed)
    }
}

/// The KMS-side candidate of the selected pair (a KMS configured with a TURN server relays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalCandidate {
    #[default]
    Host,
    Srflx,
    Relay,
}

/// The initial `UriEndpoint` state of a scenario's PlayerEndpoint/RecorderEndpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UriState {
    #[default]
    Start,
    Stop,
    Pause,
}

impl UriState {
    /// As KMS spells it (`UriEndpointState`).
    pub fn as_str(self) -> &'static str {
        match self {
            UriState::Start => "START",
            UriState::Stop => "STOP",
            UriState::Pause => "PAUSE",
        }
    }
}

/// How an element's media behaves.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaProfile {
    /// KMS's `isMediaFlowingIn`, named from the pipeline's side (docs/kms-protocol.md §10): media
    /// reaches the element from the pipeline (a subscriber's endpoint, a recorder). An RTP endpoint
    /// then sends RTP to its peer: `outboundrtp` stats.
    pub flowing_in: bool,
    /// `isMediaFlowingOut`: the element pushes media into the pipeline (a publisher's endpoint,
    /// a player). An RTP endpoint then receives RTP from its peer: `inboundrtp` stats.
    pub flowing_out: bool,
    pub audio: bool,
    pub video: bool,
    /// Video transcoding (`isMediaTranscoding(VIDEO)`).
    pub transcoding: bool,
    /// ICE outcome; for connected outcomes, the remote candidate type of the selected pair.
    pub ice: IceOutcome,
    /// The KMS-side candidate type of the selected pair.
    pub ice_local: LocalCandidate,
    /// Fraction of packets lost (0–1).
    pub loss: f64,
    /// Fraction of packets received twice (0–1). Inbound `packetsLost` is expected − received
    /// (RTCP semantics), so it goes negative when duplicates outnumber losses.
    pub duplicates: f64,
    pub jitter_ms: f64,
    pub rtt_ms: f64,
    pub audio_kbps: f64,
    pub video_kbps: f64,
    /// Every RTP stream gets a new stats id and SSRC this often, its counters restarting from 0
    /// (a renegotiation or track restart). Streams are staggered.
    #[serde(with = "humantime_serde")]
    pub ssrc_change_every: Option<Duration>,
    /// `isMediaTranscoding(VIDEO)` flips this often (`MediaTranscodingStateChanged` is emitted).
    #[serde(with = "humantime_serde")]
    pub transcoding_toggle_every: Option<Duration>,
    /// Media stops for `pause_for` once every `pause_every` (the first pause one period after
    /// the element started, staggered per element): flows are false, counters flat, mediaState
    /// DISCONNECTED after 5 s, a started UriEndpoint reports PAUSE.
    #[serde(with = "humantime_serde")]
    pub pause_every: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub pause_for: Duration,
    /// Initial state of a scenario's PlayerEndpoint/RecorderEndpoint (media flows only in START).
    pub uri_state: UriState,
}

impl Default for MediaProfile {
    fn default() -> Self {
        MediaProfile {
            flowing_in: false,
            flowing_out: false,
            audio: true,
            video: true,
            transcoding: false,
            ice: IceOutcome::None,
            ice_local: LocalCandidate::Host,
            loss: 0.0,
            duplicates: 0.0,
            jitter_ms: 0.0,
            rtt_ms: 0.0,
            audio_kbps: 40.0,
            video_kbps: 1200.0,
            ssrc_change_every: None,
            transcoding_toggle_every: None,
            pause_every: None,
            pause_for: Duration::from_secs(10),
            uri_state: UriState::Start,
        }
    }
}

impl MediaProfile {
    /// A healthy call over a direct path: the profile used when a spec names none.
    pub fn healthy() -> Self {
        MediaProfile {
            flowing_in: true,
            flowing_out: true,
            ice: IceOutcome::Host,
            loss: 0.002,
            jitter_ms: 3.0,
            rtt_ms: 30.0,
            ..MediaProfile::default()
        }
    }
}

impl MediaProfile {
    fn validate(&self, at: &str, problems: &mut Vec<String>) {
        for (field, value) in [("loss", self.loss), ("duplicates", self.duplicates)] {
            if !(0.0..=1.0).contains(&value) {
                problems.push(format!("{at}.{field} must be between 0 and 1"));
            }
        }
        for (field, value) in [
            ("jitter_ms", self.jitter_ms),
            ("rtt_ms", self.rtt_ms),
            ("audio_kbps", self.audio_kbps),
            ("video_kbps", self.video_kbps),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                problems.push(format!("{at}.{field} must be a non-negative number"));
            }
        }
        for (field, value) in [
            ("ssrc_change_every", self.ssrc_change_every),
            ("transcoding_toggle_every", self.transcoding_toggle_every),
            ("pause_every", self.pause_every),
        ] {
            if value.is_some_and(|d| d < Duration::from_millis(10)) {
                problems.push(format!("{at}.{field} must be at least 10ms"));
            }
        }
        if let Some(every) = self.pause_every
            && (self.pause_for.is_zero() || self.pause_for >= every)
        {
            problems.push(format!(
                "{at}.pause_for must be positive and shorter than pause_every"
            ));
        }
    }
}

/// A group of identical pipelines, each owned by its own application session.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Pipeline name; `{n}` is replaced by the 1-based index (and the churn sequence number).
    pub name: String,
    #[serde(default = "one")]
    pub count: u32,
    /// Default profile of the pipeline's elements.
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub latency_stats: bool,
    /// The owning application session stops being kept alive after this long (GC then collects it).
    #[serde(default, with = "humantime_serde")]
    pub vanish_after: Option<Duration>,
    #[serde(default)]
    pub elements: Vec<ElementSpec>,
    #[serde(default)]
    pub hubs: Vec<HubSpec>,
    /// `"PlayerEndpoint -> RecorderEndpoint"`, `"WebRtcEndpoint[1] -> HubPort[0]"` (index default
    /// 0; hub ports are numbered across all hubs of the pipeline).
    #[serde(default)]
    pub connections: Vec<String>,
    /// Connect every WebRtcEndpoint to every other one (an SFU-style meeting).
    #[serde(default)]
    pub mesh: bool,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElementSpec {
    #[serde(rename = "type")]
    pub element_type: String,
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub profile: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSpec {
    #[serde(rename = "type")]
    pub hub_type: String,
    #[serde(default)]
    pub ports: u32,
    #[serde(default)]
    pub profile: Option<String>,
}

/// Meetings created and released at a steady rate, so a demo looks alive.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnSpec {
    /// A new meeting every `every`.
    #[serde(with = "humantime_serde")]
    pub every: Duration,
    /// Each meeting is released by its application after this long.
    #[serde(with = "humantime_serde")]
    pub lifetime: Duration,
    pub pipeline: PipelineSpec,
}

/// A parsed `A[i] -> B[j]` connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRef {
    pub source: (String, usize),
    pub sink: (String, usize),
}

impl ConnectionRef {
    pub fn parse(text: &str) -> Result<ConnectionRef, String> {
        let (a, b) = text
            .split_once("->")
            .ok_or_else(|| format!("connection {text:?} must look like \"A -> B\""))?;
        Ok(ConnectionRef {
            source: parse_element_ref(a.trim())?,
            sink: parse_element_ref(b.trim())?,
        })
    }
}

fn parse_element_ref(text: &str) -> Result<(String, usize), String> {
    match text.split_once('[') {
        None => Ok((text.to_owned(), 0)),
        Some((name, rest)) => {
            let index = rest
                .strip_suffix(']')
                .and_then(|i| i.trim().parse().ok())
                .ok_or_else(|| format!("bad element reference {text:?} (expected Type[index])"))?;
            Ok((name.trim().to_owned(), index))
        }
    }
}

impl Scenario {
    /// The built-in demo scenario.
    pub fn demo() -> Scenario {
        // The embedded file is validated by a unit test, so parsing cannot fail at run time;
        // fall back to an empty world rather than panic should that ever be violated.
        Scenario::from_toml_str(DEMO_TOML).unwrap_or_default()
    }

    pub fn from_toml_str(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| SimError::Scenario(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn from_file(path: &Path) -> Result<Scenario, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadScenario {
            path: path.to_owned(),
            source,
        })?;
        Scenario::from_toml_str(&text).map_err(|e| match e {
            SimError::Scenario(msg) => SimError::Scenario(format!("{}: {msg}", path.display())),
            other => other,
        })
    }

    /// The profile named `name`, or the healthy default when `None`.
    pub fn profile(&self, name: Option<&str>) -> MediaProfile {
        name.and_then(|n| self.profiles.get(n))
            .cloned()
            .unwrap_or_else(MediaProfile::healthy)
    }

    /// Every problem of the scenario, joined, or Ok.
    fn validate(&self) -> Result<(), SimError> {
        let mut problems = Vec::new();
        if self.timing.gc_period < Duration::from_millis(4) {
            problems.push("timing.gc_period must be at least 4ms".to_owned());
        }
        if self.peers.consent_timeout < Duration::from_millis(100) {
            problems.push("peers.consent_timeout must be at least 100ms".to_owned());
        }
        if let Some(p) = &self.server.dynamic_profile
            && !self.profiles.contains_key(p)
        {
            problems.push(format!("server.dynamic_profile: unknown profile {p:?}"));
        }
        for (name, profile) in &self.profiles {
            profile.validate(&format!("profiles.{name}"), &mut problems);
        }
        for (i, spec) in self.pipelines.iter().enumerate() {
            self.validate_pipeline(&format!("pipelines[{i}]"), spec, &mut problems);
        }
        if let Some(churn) = &self.churn {
            if churn.every.is_zero() {
                problems.push("churn.every must be positive".to_owned());
            }
            self.validate_pipeline("churn.pipeline", &churn.pipeline, &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SimError::Scenario(problems.join("; ")))
        }
    }

    fn validate_pipeline(&self, at: &str, spec: &PipelineSpec, problems: &mut Vec<String>) {
        let mut check_profile = |field: &str, p: &Option<String>| {
            if let Some(p) = p
                && !self.profiles.contains_key(p)
            {
                problems.push(format!("{at}.{field}: unknown profile {p:?}"));
            }
        };
        check_profile("profile", &spec.profile);
        for (j, e) in spec.elements.iter().enumerate() {
            check_profile(&format!("elements[{j}].profile"), &e.profile);
        }
        for (j, h) in spec.hubs.iter().enumerate() {
            check_profile(&format!("hubs[{j}].profile"), &h.profile);
        }
        for (j, e) in spec.elements.iter().enumerate() {
            match classes::factory(&e.element_type) {
                Some(c) if c.is_element() && c.kind != Kind::HubPort => {}
                _ => problems.push(format!(
                    "{at}.elements[{j}].type: {:?} is not an element type (use hubs for hubs)",
                    e.element_type
                )),
            }
        }
        for (j, h) in spec.hubs.iter().enumerate() {
            if classes::factory(&h.hub_type).map(|c| c.kind) != Some(Kind::Hub) {
                problems.push(format!(
                    "{at}.hubs[{j}].type: {:?} is not a hub type",
                    h.hub_type
                ));
            }
        }
        let count_of = |ty: &str| -> usize {
            if ty == "HubPort" {
                spec.hubs.iter().map(|h| h.ports as usize).sum()
            } else {
                spec.elements
                    .iter()
                    .filter(|e| classes::factory(&e.element_type).map(|c| c.name) == Some(ty))
                    .map(|e| e.count as usize)
                    .sum()
            }
        };
        for (j, c) in spec.connections.iter().enumerate() {
            match ConnectionRef::parse(c) {
                Err(e) => problems.push(format!("{at}.connections[{j}]: {e}")),
                Ok(r) => {
                    for (ty, index) in [&r.source, &r.sink] {
                        if *index >= count_of(ty) {
                            problems.push(format!(
                                "{at}.connections[{j}]: no {ty}[{index}] in this pipeline"
                            ));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_scenario_parses_and_is_lively() {
        let demo = Scenario::from_toml_str(DEMO_TOML).unwrap();
        assert!(demo.pipelines.len() >= 3);
        assert!(demo.churn.is_some());
        assert_eq!(Scenario::demo(), demo);
    }

    #[test]
    fn empty_scenario_has_defaults() {
        let s = Scenario::from_toml_str("").unwrap();
        assert_eq!(s.timing.gc_period, Duration::from_secs(240));
        assert_eq!(s.server.dialect, Dialect::V7);
    }

    #[test]
    fn parses_a_full_example() {
        let text = r#"
            [server]
            version = "6.18.0"
            dialect = "6"
            [timing]
            gc_period = "1s"
            service_time = "2ms"
            seed = 7
            [profiles.turn]
            flowing_in = true
            ice = "relay"
            loss = 0.05
            [[pipelines]]
            name = "room-{n}"
            count = 2
            vanish_after = "3s"
            profile = "turn"
            elements = [{ type = "WebRtcEndpoint", count = 2 }, { type = "PlayerEndpoint" }, { type = "RecorderEndpoint" }]
            hubs = [{ type = "Composite", ports = 2 }]
            connections = ["PlayerEndpoint -> RecorderEndpoint", "WebRtcEndpoint[1] -> HubPort[1]"]
        "#;
        let s = Scenario::from_toml_str(text).unwrap();
        assert_eq!(s.server.dialect, Dialect::V6);
        assert_eq!(s.timing.service_time, Duration::from_millis(2));
        assert_eq!(s.profiles["turn"].ice, IceOutcome::Relay);
        assert_eq!(s.pipelines[0].vanish_after, Some(Duration::from_secs(3)));
    }

    #[test]
    fn parses_the_media_knobs() {
        let text = r#"
            [timing]
            media_warmup = "2m"
            [server]
            log_requests = false
            [profiles.busy]
            ice = "prflx"
            ice_local = "relay"
            duplicates = 0.02
            ssrc_change_every = "5m"
            transcoding_toggle_every = "45s"
            pause_every = "90s"
            pause_for = "15s"
            uri_state = "pause"
        "#;
        let s = Scenario::from_toml_str(text).unwrap();
        let p = &s.profiles["busy"];
        assert_eq!(
            (p.ice, p.ice_local),
            (IceOutcome::Prflx, LocalCandidate::Relay)
        );
        assert_eq!(p.ssrc_change_every, Some(Duration::from_secs(300)));
        assert_eq!(p.transcoding_toggle_every, Some(Duration::from_secs(45)));
        assert_eq!(
            (p.pause_every, p.pause_for),
            (Some(Duration::from_secs(90)), Duration::from_secs(15))
        );
        assert_eq!(p.uri_state, UriState::Pause);
        assert_eq!(s.timing.media_warmup, Duration::from_secs(120));
        assert!(!s.server.log_requests);
        let defaults = MediaProfile::default();
        assert_eq!(defaults.pause_every, None);
        assert_eq!(defaults.uri_state.as_str(), "START");
    }

    #[test]
    fn rejects_bad_scenarios_with_clear_errors() {
        let cases = [
            ("[server]\nverison = \"7\"", "unknown field `verison`"),
            ("[timing]\ngc_period = \"soon\"", "gc_period"),
            (
                "[[pipelines]]\nname = \"p\"\nelements = [{ type = \"Composite\" }]",
                "is not an element type",
            ),
            (
                "[[pipelines]]\nname = \"p\"\nprofile = \"nope\"",
                "unknown profile \"nope\"",
            ),
            (
                "[[pipelines]]\nname = \"p\"\nconnections = [\"PlayerEndpoint -> RecorderEndpoint\"]",
                "no PlayerEndpoint[0]",
            ),
            (
                "[[pipelines]]\nname = \"p\"\nconnections = [\"A => B\"]",
                "must look like",
            ),
            (
                "[profiles.x]\npause_every = \"10s\"\npause_for = \"10s\"",
                "profiles.x.pause_for must be positive and shorter than pause_every",
            ),
            (
                "[profiles.x]\nduplicates = 1.5",
                "profiles.x.duplicates must be between 0 and 1",
            ),
            (
                "[profiles.x]\nssrc_change_every = \"1ms\"",
                "profiles.x.ssrc_change_every must be at least 10ms",
            ),
            ("[profiles.x]\nice = \"turn\"", "unknown variant `turn`"),
            (
                "[profiles.x]\nuri_state = \"PLAY\"",
                "unknown variant `PLAY`",
            ),
        ];
        for (text, needle) in cases {
            let err = Scenario::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
    }

    #[test]
    fn parses_connection_references() {
        assert_eq!(
            ConnectionRef::parse("WebRtcEndpoint[2] -> HubPort").unwrap(),
            ConnectionRef {
                source: ("WebRtcEndpoint".into(), 2),
                sink: ("HubPort".into(), 0)
            }
        );
        assert!(ConnectionRef::parse("A[x] -> B").is_err());
    }
}
