//! Wire shapes of the media getters: `getStats` entries (protocol §4), ICE candidate pairs and
//! connection states (§3.3). Decoding only, no unit conversion: values keep KMS's units
//! (jitter and RTT in seconds, fractionLost 0–255, bitrates in bps, latencies in ns).
//!
//! Lenient where KMS is loose: a `null` map, whole-number doubles printed as integers, negative
//! `packetsLost`, 6.x extra and deprecated fields.

use serde_json::Value;

use super::protocol::{integer, number};

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

fn u64_field(entry: &Value, field: &str) -> u64 {
    entry
        .get(field)
        .and_then(integer)
        .map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

fn f64_field(entry: &Value, field: &str) -> Option<f64> {
    entry.get(field).and_then(number).filter(|v| v.is_finite())
}

fn common(key: &str, entry: &Value) -> RtpCommon {
    RtpCommon {
        id: entry
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(key)
            .to_owned(),
        ssrc: match entry.get("ssrc") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        },
        packets_lost: entry.get("packetsLost").and_then(integer).unwrap_or(0),
        fraction_lost: f64_field(entry, "fractionLost"),
        nack_count: u64_field(entry, "nackCount"),
        pli_count: u64_field(entry, "pliCount"),
        fir_count: u64_field(entry, "firCount"),
        remb: u64_field(entry, "remb"),
    }
}

fn latencies(entry: &Value, field: &str) -> Vec<Latency> {
    entry
        .get(field)
        .and_then(Value::as_array)
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
fn legacy_latencies(entry: &Value, audio: &str, video: &str) -> Vec<Latency> {
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

fn decode_entry(key: &str, entry: &Value) -> StatsEntry {
    match entry.get("type").and_then(Value::as_str) {
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

/// One selected pair of `getICECandidatePairs`: the local and remote candidate types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectedPair {
    pub local: Option<CandidateType>,
    pub remote: Option<CandidateType>,
}

/// Decodes `getICECandidatePairs` (a list, `[]` before a pair is selected).
pub fn decode_candidate_pairs(value: &Value) -> Vec<SelectedPair> {
    value
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .map(|p| SelectedPair {
                    local: p
                        .get("localCandidate")
                        .and_then(Value::as_str)
                        .and_then(CandidateType::parse),
                    remote: p
                        .get("remoteCandidate")
                        .and_then(Value::as_str)
                        .and_then(CandidateType::parse),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes `getIceConnectionState`: the state of each stream/component, as KMS spells it
/// (`DISCONNECTED|GATHERING|CONNECTING|CONNECTED|READY|FAILED`).
pub fn decode_ice_states(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| c.get("state")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Protocol §4.4: a sendrecv WebRtcEndpoint, 7.x, latency stats on.
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
            decode_candidate_pairs(&pairs),
            vec![SelectedPair {
                local: Some(CandidateType::Host),
                remote: Some(CandidateType::Relay)
            }]
        );
        assert_eq!(
            decode_ice_states(&json!([{"streamId":"1","componentId":1,"state":"READY"}])),
            vec!["READY".to_owned()]
        );
        assert!(decode_candidate_pairs(&Value::Null).is_empty());
    }
}
