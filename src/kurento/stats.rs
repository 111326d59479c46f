//! Wire shapes of the media getters: `getStats` entries (docs/kms-protocol.md §9), ICE candidate
//! pairs and connection states (§11). Decoding only, no unit conversion: values keep KMS's units
//! (jitter and RTT in seconds, fractionLost 0–255, bitrates in bps, latencies in ns).
//!
//! Lenient where KMS is loose: a `null` map, whole-number doubles printed as integers, negative
//! `packetsLost`, 6.x extra and deprecated fields.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::lenient::{self, MaybeStr};
use super::protocol::{integer, number, raw_to_value};
use typed_entry::{Member, TypedEntry};

mod typed_entry;

/// Fields common to inbound and outbound RTP entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RtpCommon {
    /// The stats id: stable while the SSRC lives, new after a renegotiation.
    pub id: String,
    pub ssrc: String,
    /// Cumulative; may be negative (RTCP semantics).
    pub packets_lost: i64,
    /// Raw RTCP value 0–255 (loss fraction × 256).
    pub fraction_lost: Option<f64>,
    pub nack_count: u64,
    pub pli_count: u64,
    pub fir_count: u64,
    /// bps; 0 when none (audio, or no REMB yet).
    pub remb: u64,
}

/// `RTCInboundRTPStreamStats`: what KMS receives from the peer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RtpInbound {
    pub common: RtpCommon,
    pub bytes_received: u64,
    pub packets_received: u64,
    /// Seconds.
    pub jitter: Option<f64>,
}

/// `RTCOutboundRTPStreamStats`: what KMS sends to the peer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RtpOutbound {
    pub common: RtpCommon,
    pub bytes_sent: u64,
    pub packets_sent: u64,
    /// Seconds; 0 before the first receiver report.
    pub round_trip_time: Option<f64>,
    /// bps.
    pub target_bitrate: Option<f64>,
}

/// `MediaLatencyStat`: an average latency of one pad, in nanoseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// `AUDIO` or `VIDEO`.
    pub media: String,
    pub avg_ns: f64,
}

/// One entry of a `getStats` map.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsEntry {
    Inbound(RtpInbound),
    Outbound(RtpOutbound),
    /// `EndpointStats` / `ElementStats` (only with the pipeline's latencyStats on).
    Latency {
        e2e: Vec<Latency>,
        input: Vec<Latency>,
    },
    /// Anything else (data channels, session, or types KMS declares but never sends).
    Other,
}

/// Decodes a `getStats` result: a map keyed by stats id, or `null` when empty.
pub fn decode_stats(value: &Value) -> Vec<StatsEntry> {
    let Some(map) = value.as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(key, entry)| decode_entry(key, entry))
        .collect()
}

/// A stats entry's members by name: a `Value` object (the reference) or a [`TypedEntry`].
trait Entry {
    /// A string member (`None` for any other JSON value).
    fn text(&self, field: &str) -> Option<&str>;
    /// As [`protocol::integer`].
    fn integer(&self, field: &str) -> Option<i64>;
    /// As [`protocol::number`].
    fn number(&self, field: &str) -> Option<f64>;
    /// A string member as is, a number member as serde_json prints it.
    fn printed(&self, field: &str) -> Option<String>;
    /// A list member.
    fn list(&self, field: &str) -> Option<&[Value]>;
}

impl Entry for Value {
    fn text(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }
    fn integer(&self, field: &str) -> Option<i64> {
        self.get(field).and_then(integer)
    }
    fn number(&self, field: &str) -> Option<f64> {
        self.get(field).and_then(number)
    }
    fn printed(&self, field: &str) -> Option<String> {
        match self.get(field)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
    fn list(&self, field: &str) -> Option<&[Value]> {
        self.get(field).and_then(Value::as_array).map(Vec::as_slice)
    }
}

impl Entry for TypedEntry<'_> {
    fn text(&self, field: &str) -> Option<&str> {
        self.member(field).and_then(Member::text)
    }
    fn integer(&self, field: &str) -> Option<i64> {
        self.member(field).and_then(Member::integer)
    }
    fn number(&self, field: &str) -> Option<f64> {
        self.member(field).and_then(Member::number)
    }
    fn printed(&self, field: &str) -> Option<String> {
        self.member(field).and_then(Member::printed)
    }
    fn list(&self, field: &str) -> Option<&[Value]> {
        self.latency_list(field)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
    }
}

/// Decodes a `getStats` result from its JSON text in one pass, reading only the members used
/// (no `Value` tree for the ~18 members of each entry); same results as [`decode_stats`].
pub fn decode_stats_raw(raw: &RawValue) -> Vec<StatsEntry> {
    match serde_json::from_str::<StatsMap>(raw.get()) {
        Ok(map) => map.into_entries(),
        // Anything unusual (a duplicate member inside an entry, say): the reference decoder.
        Err(_) => decode_stats(&raw_to_value(raw)),
    }
}

/// [`decode_stats_raw`] inside a larger reply; an error where [`decode_stats_raw`] falls back
/// to the reference decoder.
pub fn stats_from<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<StatsEntry>, D::Error> {
    StatsMap::deserialize(deserializer).map(StatsMap::into_entries)
}

/// The entries of a `getStats` answer by key, in the order of the text; an entry that is not an
/// object is `None`. Any answer but an object (`null` when there are none) has no entries.
struct StatsMap<'a>(Vec<(Cow<'a, str>, Option<TypedEntry<'a>>)>);

impl StatsMap<'_> {
    /// The entries in key order, the last of duplicate keys winning, as serde_json's `Map` gives
    /// them to [`decode_stats`] (the sort is stable).
    fn into_entries(self) -> Vec<StatsEntry> {
        let mut entries = self.0;
        // KMS writes the keys sorted and once each: then there is nothing to move (an entry is
        // a few hundred bytes).
        if !entries.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            entries.reverse();
            entries.dedup_by(|later, earlier| later.0 == earlier.0);
            entries.reverse();
        }
        entries
            .iter()
            .map(|(key, entry)| match entry {
                Some(typed) => decode_entry(key, typed),
                None => StatsEntry::Other,
            })
            .collect()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for StatsMap<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> serde::de::Visitor<'de> for MapVisitor {
            type Value = StatsMap<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of stats entries")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some(MaybeStr(key)) = map.next_key::<MaybeStr>()? {
                    let key =
                        key.ok_or_else(|| serde::de::Error::custom("a key that is not a string"))?;
                    let lenient::ObjectOnly(entry) =
                        map.next_value::<lenient::ObjectOnly<TypedEntry<'de>>>()?;
                    entries.push((key, entry));
                }
                Ok(StatsMap(entries))
            }
            lenient::skip!(scalars => StatsMap(Vec::new()));
            lenient::skip!(strings => StatsMap(Vec::new()));
            lenient::skip!(seq => StatsMap(Vec::new()));
        }
        deserializer.deserialize_any(MapVisitor)
    }
}

fn u64_field(entry: &impl Entry, field: &str) -> u64 {
    entry
        .integer(field)
        .map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

fn f64_field(entry: &impl Entry, field: &str) -> Option<f64> {
    entry.number(field).filter(|v| v.is_finite())
}

fn common(key: &str, entry: &impl Entry) -> RtpCommon {
    RtpCommon {
        id: entry.text("id").unwrap_or(key).to_owned(),
        ssrc: entry.printed("ssrc").unwrap_or_default(),
        packets_lost: entry.integer("packetsLost").unwrap_or(0),
        fraction_lost: f64_field(entry, "fractionLost"),
        nack_count: u64_field(entry, "nackCount"),
        pli_count: u64_field(entry, "pliCount"),
        fir_count: u64_field(entry, "firCount"),
        remb: u64_field(entry, "remb"),
    }
}

fn latencies(entry: &impl Entry, field: &str) -> Vec<Latency> {
    entry
        .list(field)
        .map(|list| {
            list.iter()
                .filter_map(|l| {
                    Some(Latency {
                        media: l.get("type")?.as_str()?.to_owned(),
                        avg_ns: number(l.get("avg")?)?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// 6.x deprecated per-media latency fields, used when the list form is absent.
fn legacy_latencies(entry: &impl Entry, audio: &str, video: &str) -> Vec<Latency> {
    [("AUDIO", audio), ("VIDEO", video)]
        .into_iter()
        .filter_map(|(media, field)| {
            let avg_ns = f64_field(entry, field)?;
            // 6.x fills 0 when not measured.
            (avg_ns > 0.0).then(|| Latency {
                media: media.to_owned(),
                avg_ns,
            })
        })
        .collect()
}

fn decode_entry(key: &str, entry: &impl Entry) -> StatsEntry {
    match entry.text("type") {
        Some("inboundrtp") => StatsEntry::Inbound(RtpInbound {
            common: common(key, entry),
            bytes_received: u64_field(entry, "bytesReceived"),
            packets_received: u64_field(entry, "packetsReceived"),
            jitter: f64_field(entry, "jitter"),
        }),
        Some("outboundrtp") => StatsEntry::Outbound(RtpOutbound {
            common: common(key, entry),
            bytes_sent: u64_field(entry, "bytesSent"),
            packets_sent: u64_field(entry, "packetsSent"),
            round_trip_time: f64_field(entry, "roundTripTime"),
            target_bitrate: f64_field(entry, "targetBitrate"),
        }),
        Some("endpoint") | Some("element") => {
            let mut e2e = latencies(entry, "E2ELatency");
            if e2e.is_empty() {
                e2e = legacy_latencies(entry, "audioE2ELatency", "videoE2ELatency");
            }
            let mut input = latencies(entry, "inputLatency");
            if input.is_empty() {
                input = legacy_latencies(entry, "inputAudioLatency", "inputVideoLatency");
            }
            StatsEntry::Latency { e2e, input }
        }
        _ => StatsEntry::Other,
    }
}

/// The type of an ICE candidate, parsed from its SDP `candidate:` line (`… typ relay …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CandidateType {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl CandidateType {
    pub const ALL: [CandidateType; 4] = [
        CandidateType::Host,
        CandidateType::Srflx,
        CandidateType::Prflx,
        CandidateType::Relay,
    ];

    pub fn parse(candidate: &str) -> Option<CandidateType> {
        let mut words = candidate.split_ascii_whitespace();
        words.find(|w| *w == "typ")?;
        match words.next()? {
            "host" => Some(CandidateType::Host),
            "srflx" => Some(CandidateType::Srflx),
            "prflx" => Some(CandidateType::Prflx),
            "relay" => Some(CandidateType::Relay),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }
}

/// One selected pair of `getICECandidatePairs`: each side's candidate type and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedPair {
    pub local: Option<CandidateType>,
    pub remote: Option<CandidateType>,
    /// `address:port` of each side (`[address]:port` for IPv6), from the candidate line.
    pub local_address: Option<String>,
    pub remote_address: Option<String>,
}

/// `address:port` of an SDP candidate line (`candidate:<foundation> <component> <transport>
/// <priority> <address> <port> typ …`).
pub fn candidate_address(candidate: &str) -> Option<String> {
    let mut words = candidate.split_ascii_whitespace().skip(4);
    let address = words.next()?;
    let port: u16 = words.next()?.parse().ok()?;
    Some(if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    })
}

/// Decodes `getICECandidatePairs` (a list, `[]` before a pair is selected).
pub fn decode_candidate_pairs(raw: &RawValue) -> Vec<SelectedPair> {
    selected_pairs(lenient::objects::<PairData>(raw))
}

/// [`decode_candidate_pairs`] inside a larger reply.
pub fn candidate_pairs_from<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<SelectedPair>, D::Error> {
    lenient::objects_from::<PairData, D>(deserializer).map(selected_pairs)
}

fn selected_pairs(pairs: Vec<PairData>) -> Vec<SelectedPair> {
    pairs
        .into_iter()
        .map(|p| {
            let (local, remote) = (p.local.as_deref(), p.remote.as_deref());
            SelectedPair {
                local: local.and_then(CandidateType::parse),
                remote: remote.and_then(CandidateType::parse),
                local_address: local.and_then(candidate_address),
                remote_address: remote.and_then(candidate_address),
            }
        })
        .collect()
}

/// The members of `IceCandidatePair` read here.
#[derive(Deserialize, Default)]
#[serde(default)]
struct PairData<'a> {
    #[serde(borrow, rename = "localCandidate")]
    local: MaybeStr<'a>,
    #[serde(borrow, rename = "remoteCandidate")]
    remote: MaybeStr<'a>,
}

/// Decodes `getIceConnectionState`: the state of each stream/component, as KMS spells it
/// (`DISCONNECTED|GATHERING|CONNECTING|CONNECTED|READY|FAILED`).
pub fn decode_ice_states(raw: &RawValue) -> Vec<Cow<'_, str>> {
    component_states(lenient::objects::<IceComponentData>(raw))
}

/// [`decode_ice_states`] inside a larger reply.
pub fn ice_states_from<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Cow<'de, str>>, D::Error> {
    lenient::objects_from::<IceComponentData, D>(deserializer).map(component_states)
}

fn component_states(components: Vec<IceComponentData<'_>>) -> Vec<Cow<'_, str>> {
    components.into_iter().filter_map(|c| c.state.0).collect()
}

/// The member of `IceConnection` read here.
#[derive(Deserialize, Default)]
#[serde(default)]
struct IceComponentData<'a> {
    #[serde(borrow)]
    state: MaybeStr<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kurento::protocol::to_raw;
    use serde_json::json;

    /// docs/kms-protocol.md §9: a sendrecv WebRtcEndpoint, 7.x, latency stats on.
    fn example_7x() -> Value {
        serde_json::from_str(
            r#"{
          "P/E_kurento.WebRtcEndpoint": {
            "E2ELatency": [
              {"__module__":"kurento","__type__":"MediaLatencyStat","avg":21346811.0,"name":"sink_audio_default","type":"AUDIO"},
              {"__module__":"kurento","__type__":"MediaLatencyStat","avg":48211034.0,"name":"sink_video_default","type":"VIDEO"}],
            "__module__":"kurento","__type__":"EndpointStats","id":"P/E_kurento.WebRtcEndpoint",
            "inputLatency": [
              {"__module__":"kurento","__type__":"MediaLatencyStat","avg":1183342.0,"name":"sink_audio_default","type":"AUDIO"}],
            "timestampMillis":1700000300123,"type":"endpoint"},
          "52cd068f": {
            "__module__":"kurento","__type__":"RTCInboundRTPStreamStats","associateStatsId":"","bytesReceived":56231877,
            "codecId":"","firCount":0,"fractionLost":3,"id":"52cd068f","isRemote":false,
            "jitter":0.0035444444417953491,"mediaTrackId":"","nackCount":35,"packetsLost":-2,"packetsReceived":52110,
            "pliCount":7,"remb":1500000,"sliCount":0,"ssrc":"938697880","timestampMillis":1700000300123,"transportId":"","type":"inboundrtp"},
          "7c2d9c3a": {
            "__module__":"kurento","__type__":"RTCOutboundRTPStreamStats","associateStatsId":"","bytesSent":55120034,
            "codecId":"","firCount":0,"fractionLost":0,"id":"7c2d9c3a","isRemote":false,
            "mediaTrackId":"","nackCount":20,"packetsLost":12,"packetsSent":51034,"pliCount":4,"remb":2000000,
            "roundTripTime":0,"sliCount":0,"ssrc":"2749361215","targetBitrate":1480000,
            "timestampMillis":1700000300123,"transportId":"","type":"outboundrtp"}
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn decodes_7x_entries_with_integer_printed_doubles_and_negative_loss() {
        let mut entries = decode_stats(&example_7x());
        entries.sort_by_key(|e| format!("{e:?}"));
        let inbound = entries
            .iter()
            .find_map(|e| match e {
                StatsEntry::Inbound(i) => Some(i),
                _ => None,
            })
            .unwrap();
        assert_eq!(inbound.bytes_received, 56231877);
        assert_eq!(inbound.common.packets_lost, -2);
        assert_eq!(inbound.common.fraction_lost, Some(3.0));
        assert_eq!(inbound.common.ssrc, "938697880");
        assert_eq!(inbound.common.remb, 1_500_000);
        assert!((inbound.jitter.unwrap() - 0.003_544_444_441_795_349).abs() < 1e-15);
        let outbound = entries
            .iter()
            .find_map(|e| match e {
                StatsEntry::Outbound(o) => Some(o),
                _ => None,
            })
            .unwrap();
        assert_eq!(outbound.round_trip_time, Some(0.0));
        assert_eq!(outbound.target_bitrate, Some(1_480_000.0));
        assert_eq!(outbound.common.nack_count, 20);
        let latency = entries
            .iter()
            .find_map(|e| match e {
                StatsEntry::Latency { e2e, input } => Some((e2e, input)),
                _ => None,
            })
            .unwrap();
        assert_eq!(latency.0.len(), 2);
        assert_eq!(latency.0[1].media, "VIDEO");
        assert_eq!(latency.0[1].avg_ns, 48211034.0);
        assert_eq!(latency.1.len(), 1);
    }

    #[test]
    fn decodes_6x_deprecated_latency_fields_and_null_maps() {
        let v6: Value = serde_json::from_str(
            r#"{"P/E": {"__type__":"EndpointStats","type":"endpoint","id":"P/E",
            "audioE2ELatency":21346811.0,"videoE2ELatency":0.0,"inputAudioLatency":0,"inputVideoLatency":3520117,
            "timestamp":1700000300,"timestampMillis":1700000300123}}"#,
        )
        .unwrap();
        assert_eq!(
            decode_stats(&v6),
            vec![StatsEntry::Latency {
                e2e: vec![Latency {
                    media: "AUDIO".into(),
                    avg_ns: 21346811.0
                }],
                input: vec![Latency {
                    media: "VIDEO".into(),
                    avg_ns: 3520117.0
                }],
            }]
        );
        assert!(decode_stats(&Value::Null).is_empty());
        assert_eq!(
            decode_stats(&json!({"x": {"type": "session"}})),
            vec![StatsEntry::Other]
        );
    }

    #[test]
    fn raw_stats_decode_as_value_stats_do() {
        let texts = [
            example_7x().to_string(),
            r#"{"P/E": {"__type__":"EndpointStats","type":"endpoint","id":"P/E",
            "audioE2ELatency":21346811.0,"videoE2ELatency":0.0,"inputAudioLatency":0,"inputVideoLatency":3520117}}"#
                .to_owned(),
            r#"null"#.to_owned(),
            r#"[{"type":"inboundrtp"}]"#.to_owned(),
            r#"{"x": {"type": "session"}, "y": 3, "z": [1], "w": null}"#.to_owned(),
            r#" { "b\u0041" : { "type" : "inboundrtp" , "bytesReceived" : 1.0e3 , "ssrc" : 12 } } "#
                .to_owned(),
            r#"{"k": {"type":"outboundrtp","bytesSent":1,"bytesSent":2,"packetsLost":null}}"#
                .to_owned(),
            r#"{"k": {"type":"outboundrtp","id":7,"packetsLost":-3.0,"jitter":"x","remb":-5}, "k": {"type":"inboundrtp","packetsSent":2}}"#
                .to_owned(),
            r#"{"k": {"type":"endpoint","E2ELatency":[{"type":"AUDIO","avg":5},7,{"type":"VIDEO"}],"inputLatency":null}}"#
                .to_owned(),
        ];
        for text in texts {
            // Wrapped like an op result, so the raw text is a slice of a bigger frame.
            let frame = format!(r#"{{"value": {text} }}"#);
            let value: Value = serde_json::from_str(&text).unwrap();
            #[derive(serde::Deserialize)]
            struct Wrapper<'a> {
                #[serde(borrow)]
                value: &'a RawValue,
            }
            let wrapper: Wrapper = serde_json::from_str(&frame).unwrap();
            assert_eq!(
                decode_stats_raw(wrapper.value),
                decode_stats(&value),
                "{text}"
            );
        }
    }

    #[test]
    fn candidate_types_from_sdp_lines() {
        let cases = [
            (
                "candidate:1 1 UDP 2013266431 172.19.0.3 26097 typ host",
                Some(CandidateType::Host),
            ),
            (
                "candidate:2 1 UDP 1677724415 203.0.113.7 40000 typ srflx raddr 10.0.0.5 rport 26097",
                Some(CandidateType::Srflx),
            ),
            (
                "candidate:3 1 UDP 1 198.51.100.2 3478 typ relay raddr 203.0.113.7 rport 40000",
                Some(CandidateType::Relay),
            ),
            (
                "candidate:4 1 TCP 1 10.0.0.1 9 typ prflx tcptype active",
                Some(CandidateType::Prflx),
            ),
            ("candidate:5 1 UDP 1 10.0.0.1 9 typ weird", None),
            ("garbage", None),
        ];
        for (line, want) in cases {
            assert_eq!(CandidateType::parse(line), want, "{line}");
        }
        let pairs = json!([{"__type__":"IceCandidatePair","streamId":"1","componentId":1,
            "localCandidate":"candidate:1 1 UDP 2013266431 172.19.0.3 26097 typ host",
            "remoteCandidate":"candidate:3 1 UDP 1 198.51.100.2 3478 typ relay"}]);
        assert_eq!(
            decode_candidate_pairs(&to_raw(&pairs)),
            vec![SelectedPair {
                local: Some(CandidateType::Host),
                remote: Some(CandidateType::Relay),
                local_address: Some("172.19.0.3:26097".to_owned()),
                remote_address: Some("198.51.100.2:3478".to_owned()),
            }]
        );
        let v6 = "candidate:1 1 UDP 2013266431 2001:db8::1 5000 typ host";
        assert_eq!(candidate_address(v6).as_deref(), Some("[2001:db8::1]:5000"));
        assert_eq!(
            candidate_address("candidate:1 1 UDP 1 10.0.0.1 notaport typ host"),
            None
        );
        assert_eq!(candidate_address("garbage"), None);
        assert_eq!(
            decode_ice_states(&to_raw(
                &json!([{"streamId":"1","componentId":1,"state":"READY"}])
            )),
            vec!["READY".to_owned()]
        );
        assert!(decode_candidate_pairs(RawValue::NULL).is_empty());
    }
}

#[cfg(test)]
mod proptests;
