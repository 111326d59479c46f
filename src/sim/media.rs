//! Media behaviour of one element: stats, ICE and SDP, computed from its profile and the time.
//! Pure: every value is a function of (profile, seed, ordinal, elapsed time).

use serde_json::{Map, Value, json};

use super::rng::{Rng, unit};
use super::scenario::{Dialect, IceOutcome, MediaProfile};

/// AUDIO, VIDEO or DATA, as KMS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MediaType {
    Audio,
    Video,
    Data,
}

impl MediaType {
    pub fn parse(text: &str) -> Option<MediaType> {
        match text {
            "AUDIO" => Some(MediaType::Audio),
            "VIDEO" => Some(MediaType::Video),
            "DATA" => Some(MediaType::Data),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "AUDIO",
            MediaType::Video => "VIDEO",
            MediaType::Data => "DATA",
        }
    }
}

/// One RTP stream of an endpoint: its stats id and SSRC stay stable while the element lives.
#[derive(Debug, Clone, PartialEq)]
struct Stream {
    media: MediaType,
    inbound: bool,
    stats_id: String,
    ssrc: u32,
}

/// The media side of an element.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub profile: MediaProfile,
    /// Distinguishes elements in the deterministic wobble.
    ordinal: u64,
    started_ms: u64,
    streams: Vec<Stream>,
}

/// Inputs that are the same for every element of one call.
#[derive(Debug, Clone, Copy)]
pub struct StatsContext {
    pub now_ms: u64,
    pub seed: u64,
    pub dialect: Dialect,
    pub latency_stats: bool,
}

fn media_types() -> [MediaType; 2] {
    [MediaType::Audio, MediaType::Video]
}

impl Media {
    pub fn new(profile: MediaProfile, ordinal: u64, started_ms: u64, rng: &mut Rng) -> Media {
        let mut streams = Vec::new();
        for media in media_types() {
            let wanted = match media {
                MediaType::Audio => profile.audio,
                _ => profile.video,
            };
            if !wanted {
                continue;
            }
            for inbound in [true, false] {
                streams.push(Stream {
                    media,
                    inbound,
                    stats_id: rng.uuid(),
                    ssrc: rng.next_u64() as u32,
                });
            }
        }
        Media {
            profile,
            ordinal,
            started_ms,
            streams,
        }
    }

    fn has(&self, media: MediaType) -> bool {
        match media {
            MediaType::Audio => self.profile.audio,
            MediaType::Video => self.profile.video,
            MediaType::Data => false,
        }
    }

    pub fn flowing_in(&self, media: MediaType) -> bool {
        self.has(media) && self.profile.flowing_in && self.profile.ice != IceOutcome::Failed
    }

    pub fn flowing_out(&self, media: MediaType) -> bool {
        self.has(media) && self.profile.flowing_out && self.profile.ice != IceOutcome::Failed
    }

    pub fn transcoding(&self, media: MediaType) -> bool {
        media == MediaType::Video && self.profile.video && self.profile.transcoding
    }

    /// `getMediaState`: CONNECTED while RTCP flows (connected ICE and some media flowing).
    pub fn media_state(&self) -> &'static str {
        let flowing = self.profile.flowing_in || self.profile.flowing_out;
        if self.profile.ice.connected() && flowing {
            "CONNECTED"
        } else {
            "DISCONNECTED"
        }
    }

    /// `getConnectionState`.
    pub fn connection_state(&self) -> &'static str {
        if self.profile.ice.connected() {
            "CONNECTED"
        } else {
            "DISCONNECTED"
        }
    }

    /// `getIceConnectionState`: one entry per bundled stream.
    pub fn ice_connection_state(&self) -> Value {
        let state = match self.profile.ice {
            IceOutcome::None => return json!([]),
            IceOutcome::Checking => "CONNECTING",
            IceOutcome::Failed => "FAILED",
            _ => "READY",
        };
        json!([{"__module__":"kurento","__type__":"IceConnection","componentId":1,"state":state,"streamId":"1"}])
    }

    /// `getICECandidatePairs`: the selected pair, whose candidate strings carry `typ …`.
    pub fn ice_candidate_pairs(&self, dialect: Dialect) -> Value {
        if !self.profile.ice.connected() {
            return json!([]);
        }
        let mut pair = Map::new();
        pair.insert("__module__".into(), "kurento".into());
        pair.insert("__type__".into(), "IceCandidatePair".into());
        pair.insert("componentId".into(), 1.into());
        pair.insert("streamId".into(), "1".into());
        if dialect == Dialect::V6 {
            pair.insert("componentID".into(), 1.into());
            pair.insert("streamID".into(), "1".into());
        }
        pair.insert("localCandidate".into(), self.local_candidate(0).into());
        pair.insert("remoteCandidate".into(), self.remote_candidate().into());
        Value::Array(vec![Value::Object(pair)])
    }

    /// The KMS-side candidate number `n` (host first, then what the profile adds).
    pub fn local_candidate(&self, n: u64) -> String {
        let port = 40_000 + (self.ordinal * 7 + n) % 20_000;
        match (n, self.profile.ice) {
            (0, _) => format!("candidate:1 1 UDP 2015363327 10.0.0.5 {port} typ host generation 0"),
            (_, IceOutcome::Relay) => format!(
                "candidate:3 1 UDP 16777215 198.51.100.20 {port} typ relay raddr 10.0.0.5 rport {port} generation 0"
            ),
            _ => format!(
                "candidate:2 1 UDP 1679819007 203.0.113.5 {port} typ srflx raddr 10.0.0.5 rport {port} generation 0"
            ),
        }
    }

    fn remote_candidate(&self) -> String {
        let port = 50_000 + self.ordinal % 10_000;
        match self.profile.ice {
            IceOutcome::Relay => format!(
                "candidate:842163049 1 udp 33562367 198.51.100.77 {port} typ relay raddr 192.0.2.10 rport 61234 generation 0"
            ),
            IceOutcome::Srflx => format!(
                "candidate:842163049 1 udp 1677729535 192.0.2.10 {port} typ srflx raddr 192.168.1.23 rport 61234 generation 0"
            ),
            _ => format!(
                "candidate:3442447574 1 udp 2122260223 192.168.1.23 {port} typ host generation 0"
            ),
        }
    }

    /// `getStats(mediaType)` for an RTP endpoint: one entry per live RTP stream, plus the
    /// `endpoint` latency entry when the pipeline has latency stats on. `null` when empty.
    pub fn rtp_stats(
        &self,
        element_id: &str,
        filter: Option<MediaType>,
        ctx: StatsContext,
    ) -> Value {
        let mut out = Map::new();
        if ctx.latency_stats {
            out.insert(
                element_id.to_owned(),
                self.latency_entry(element_id, filter, ctx, true),
            );
        }
        for stream in &self.streams {
            if filter.is_some_and(|f| f != stream.media) {
                continue;
            }
            let live = if stream.inbound {
                self.flowing_in(stream.media)
            } else {
                self.flowing_out(stream.media)
            };
            if live {
                out.insert(stream.stats_id.clone(), self.stream_entry(stream, ctx));
            }
        }
        if out.is_empty() {
            Value::Null
        } else {
            Value::Object(out)
        }
    }

    /// `getStats` of a non-RTP element: only the latency entry, and only with latency stats on.
    pub fn element_stats(
        &self,
        element_id: &str,
        filter: Option<MediaType>,
        ctx: StatsContext,
        endpoint: bool,
    ) -> Value {
        if !ctx.latency_stats {
            return Value::Null;
        }
        json!({ element_id: self.latency_entry(element_id, filter, ctx, endpoint) })
    }

    /// Wobble in [0.8, 1.2) that changes every second, per element and stream.
    fn wobble(&self, ctx: StatsContext, salt: u64) -> f64 {
        0.8 + 0.4 * unit(&[ctx.seed, self.ordinal, salt, ctx.now_ms / 1000])
    }

    fn stream_entry(&self, stream: &Stream, ctx: StatsContext) -> Value {
        let p = &self.profile;
        let elapsed_s = ctx.now_ms.saturating_sub(self.started_ms) as f64 / 1000.0;
        let (kbps, packets_per_s) = match stream.media {
            MediaType::Audio => (p.audio_kbps, 50.0),
            _ => (p.video_kbps, (p.video_kbps * 125.0 / 1100.0).max(1.0)),
        };
        let video = stream.media == MediaType::Video;
        let bytes = (kbps * 125.0 * elapsed_s) as i64;
        let packets = (packets_per_s * elapsed_s) as i64;
        let lost = (packets as f64 * p.loss) as i64;
        let salt = u64::from(stream.ssrc);
        let fraction_lost = (p.loss * 256.0 * self.wobble(ctx, salt + 1))
            .round()
            .min(255.0);
        let nacks = if video { lost / 2 } else { 0 };
        let plis = if video { (elapsed_s / 12.0) as i64 } else { 0 };
        let remb = if video { (kbps * 1000.0) as i64 } else { 0 };
        let mut e = Map::new();
        e.insert("__module__".into(), "kurento".into());
        e.insert("associateStatsId".into(), "".into());
        e.insert("codecId".into(), "".into());
        e.insert("firCount".into(), 0.into());
        e.insert("fractionLost".into(), fraction_lost.into());
        e.insert("id".into(), stream.stats_id.clone().into());
        e.insert("isRemote".into(), false.into());
        e.insert("mediaTrackId".into(), "".into());
        e.insert("nackCount".into(), nacks.into());
        e.insert("packetsLost".into(), lost.into());
        e.insert("pliCount".into(), plis.into());
        e.insert("remb".into(), remb.into());
        e.insert("sliCount".into(), 0.into());
        e.insert("ssrc".into(), stream.ssrc.to_string().into());
        e.insert("timestampMillis".into(), ctx.now_ms.into());
        e.insert("transportId".into(), "".into());
        if ctx.dialect == Dialect::V6 {
            e.insert("timestamp".into(), (ctx.now_ms / 1000).into());
        }
        if stream.inbound {
            e.insert("__type__".into(), "RTCInboundRTPStreamStats".into());
            e.insert("bytesReceived".into(), bytes.into());
            e.insert("packetsReceived".into(), packets.into());
            let jitter = p.jitter_ms / 1000.0 * self.wobble(ctx, salt + 2);
            e.insert("jitter".into(), jitter.into());
            e.insert("type".into(), "inboundrtp".into());
        } else {
            e.insert("__type__".into(), "RTCOutboundRTPStreamStats".into());
            e.insert("bytesSent".into(), bytes.into());
            e.insert("packetsSent".into(), packets.into());
            // RTCP RR resolution is 1/65536 s.
            let rtt = (p.rtt_ms / 1000.0 * self.wobble(ctx, salt + 3) * 65536.0).round() / 65536.0;
            e.insert("roundTripTime".into(), rtt.into());
            let target = (kbps * 1000.0 * self.wobble(ctx, salt + 4)).round();
            e.insert("targetBitrate".into(), target.into());
            e.insert("type".into(), "outboundrtp".into());
        }
        Value::Object(e)
    }

    fn latency_entry(
        &self,
        element_id: &str,
        filter: Option<MediaType>,
        ctx: StatsContext,
        endpoint: bool,
    ) -> Value {
        let stat = |media: MediaType, base_ns: f64, salt: u64| -> Value {
            let name = match media {
                MediaType::Audio => "sink_audio_default",
                _ => "sink_video_default",
            };
            json!({"__module__":"kurento","__type__":"MediaLatencyStat","avg":(base_ns * self.wobble(ctx, salt)).round(),"name":name,"type":media.as_str()})
        };
        let wanted: Vec<MediaType> = media_types()
            .into_iter()
            .filter(|m| self.has(*m) && filter.is_none_or(|f| f == *m))
            .collect();
        let input: Vec<Value> = wanted
            .iter()
            .map(|m| stat(*m, if *m == MediaType::Audio { 1.2e6 } else { 3.5e6 }, 11))
            .collect();
        let mut e = Map::new();
        e.insert("__module__".into(), "kurento".into());
        e.insert("id".into(), element_id.into());
        e.insert("timestampMillis".into(), ctx.now_ms.into());
        e.insert("inputLatency".into(), Value::Array(input.clone()));
        let v6 = ctx.dialect == Dialect::V6;
        let find = |list: &[Value], media: &str| {
            list.iter()
                .find(|v| v["type"] == media)
                .and_then(|v| v["avg"].as_f64())
                .unwrap_or(0.0)
        };
        if v6 {
            e.insert("timestamp".into(), (ctx.now_ms / 1000).into());
            e.insert("inputAudioLatency".into(), find(&input, "AUDIO").into());
            e.insert("inputVideoLatency".into(), find(&input, "VIDEO").into());
        }
        if endpoint {
            let e2e: Vec<Value> = wanted
                .iter()
                .map(|m| stat(*m, if *m == MediaType::Audio { 21e6 } else { 48e6 }, 12))
                .collect();
            if v6 {
                e.insert("audioE2ELatency".into(), find(&e2e, "AUDIO").into());
                e.insert("videoE2ELatency".into(), find(&e2e, "VIDEO").into());
            }
            e.insert("E2ELatency".into(), Value::Array(e2e));
            e.insert("__type__".into(), "EndpointStats".into());
            e.insert("type".into(), "endpoint".into());
        } else {
            e.insert("__type__".into(), "ElementStats".into());
            e.insert("type".into(), "element".into());
        }
        Value::Object(e)
    }
}

/// The SDP answer KMS would give to `offer`: the same m-lines (codecs kept), direction mirrored,
/// KMS's own ICE credentials and fingerprint.
pub fn sdp_answer(offer: &str, session_version: u64) -> String {
    let mut out = sdp_header(session_version);
    let mids: Vec<&str> = offer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a=mid:"))
        .collect();
    if !mids.is_empty() {
        out.push_str(&format!("a=group:BUNDLE {}\r\n", mids.join(" ")));
    }
    out.push_str("a=msid-semantic: WMS EnvoyStream\r\n");
    for line in offer.lines().map(str::trim) {
        if line.starts_with("m=") {
            let mut parts = line.split_whitespace();
            let media = parts.next().unwrap_or("m=audio");
            let proto = parts.nth(1).unwrap_or("UDP/TLS/RTP/SAVPF");
            let pts: Vec<&str> = parts.collect();
            out.push_str(&format!("{media} 9 {proto} {}\r\n", pts.join(" ")));
            out.push_str("c=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n");
            out.push_str(&ice_lines());
        } else if line.starts_with("a=rtpmap:")
            || line.starts_with("a=fmtp:")
            || line.starts_with("a=rtcp-fb:")
            || line.starts_with("a=mid:")
            || line == "a=rtcp-mux"
        {
            out.push_str(line);
            out.push_str("\r\n");
        } else if let Some(dir) = line.strip_prefix('a').and_then(|l| l.strip_prefix('=')) {
            let mirrored = match dir {
                "sendonly" => Some("recvonly"),
                "recvonly" => Some("sendonly"),
                "sendrecv" => Some("sendrecv"),
                "inactive" => Some("inactive"),
                _ => None,
            };
            if let Some(m) = mirrored {
                out.push_str(&format!("a={m}\r\n"));
            }
        }
    }
    out
}

/// The offer `generateOffer` returns: audio (opus) and video (VP8/H264), bundled.
pub fn sdp_offer(session_version: u64) -> String {
    let mut out = sdp_header(session_version);
    out.push_str("a=group:BUNDLE 0 1\r\na=msid-semantic: WMS EnvoyStream\r\n");
    out.push_str(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
    );
    out.push_str(&ice_lines());
    out.push_str("a=mid:0\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n");
    out.push_str(
        "m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\n",
    );
    out.push_str(&ice_lines());
    out.push_str("a=mid:1\r\na=sendrecv\r\na=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 goog-remb\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42e01f\r\n");
    out
}

fn sdp_header(session_version: u64) -> String {
    format!("v=0\r\no=- {session_version} 0 IN IP4 0.0.0.0\r\ns=Kurento Media Server\r\nt=0 0\r\n")
}

fn ice_lines() -> String {
    "a=ice-ufrag:Kq3Z\r\na=ice-pwd:vW8nS3mQ1pR6tY2uX5zA0bC4\r\na=ice-options:trickle\r\na=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\na=setup:active\r\n".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(now_ms: u64, latency_stats: bool, dialect: Dialect) -> StatsContext {
        StatsContext {
            now_ms,
            seed: 5,
            dialect,
            latency_stats,
        }
    }

    fn media(profile: MediaProfile) -> Media {
        Media::new(profile, 3, 1_000_000, &mut Rng::new(1))
    }

    #[test]
    fn rtp_stats_grow_with_time_and_are_deterministic() {
        let m = media(MediaProfile::healthy());
        let early = m.rtp_stats(
            "E",
            Some(MediaType::Video),
            ctx(1_010_000, false, Dialect::V7),
        );
        let late = m.rtp_stats(
            "E",
            Some(MediaType::Video),
            ctx(1_070_000, false, Dialect::V7),
        );
        let entries = early.as_object().unwrap();
        assert_eq!(entries.len(), 2, "video inbound + outbound");
        let inbound = entries
            .values()
            .find(|e| e["type"] == "inboundrtp")
            .unwrap();
        let id = inbound["id"].as_str().unwrap();
        assert!(late[id]["bytesReceived"].as_i64() > inbound["bytesReceived"].as_i64());
        assert!(inbound.get("timestamp").is_none());
        assert_eq!(
            early,
            m.rtp_stats(
                "E",
                Some(MediaType::Video),
                ctx(1_010_000, false, Dialect::V7)
            )
        );
        let all = m.rtp_stats("E", None, ctx(1_010_000, false, Dialect::V7));
        assert_eq!(all.as_object().unwrap().len(), 4);
    }

    #[test]
    fn stats_shapes_per_case() {
        let idle = media(MediaProfile::default());
        assert_eq!(
            idle.rtp_stats("E", None, ctx(1_010_000, false, Dialect::V7)),
            Value::Null
        );
        assert_eq!(
            idle.element_stats("E", None, ctx(1_010_000, false, Dialect::V7), false),
            Value::Null
        );
        let with_latency = idle.rtp_stats("E", None, ctx(1_010_000, true, Dialect::V7));
        assert_eq!(with_latency["E"]["type"], "endpoint");
        assert_eq!(with_latency["E"]["E2ELatency"].as_array().unwrap().len(), 2);
        let v6 = media(MediaProfile::healthy()).rtp_stats(
            "E",
            Some(MediaType::Audio),
            ctx(1_010_000, true, Dialect::V6),
        );
        assert!(v6["E"]["audioE2ELatency"].as_f64().unwrap() > 0.0);
        let stream = v6
            .as_object()
            .unwrap()
            .values()
            .find(|e| e["type"] == "outboundrtp")
            .unwrap();
        assert_eq!(stream["timestamp"], 1010);
        let element = idle.element_stats(
            "E",
            Some(MediaType::Video),
            ctx(1_010_000, true, Dialect::V7),
            false,
        );
        assert_eq!(element["E"]["type"], "element");
        assert_eq!(element["E"]["inputLatency"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn ice_outcomes() {
        let cases = [
            (IceOutcome::None, 0, None, "DISCONNECTED"),
            (IceOutcome::Failed, 0, Some("FAILED"), "DISCONNECTED"),
            (IceOutcome::Checking, 0, Some("CONNECTING"), "DISCONNECTED"),
            (IceOutcome::Host, 1, Some("READY"), "CONNECTED"),
            (IceOutcome::Relay, 1, Some("READY"), "CONNECTED"),
        ];
        for (ice, pairs, state, conn) in cases {
            let m = media(MediaProfile {
                ice,
                ..MediaProfile::healthy()
            });
            assert_eq!(
                m.ice_candidate_pairs(Dialect::V7).as_array().unwrap().len(),
                pairs,
                "{ice:?}"
            );
            assert_eq!(
                m.ice_connection_state()[0]["state"].as_str(),
                state,
                "{ice:?}"
            );
            assert_eq!(m.connection_state(), conn, "{ice:?}");
        }
        let relay = media(MediaProfile {
            ice: IceOutcome::Relay,
            ..MediaProfile::healthy()
        });
        let pair = &relay.ice_candidate_pairs(Dialect::V7)[0];
        assert!(
            pair["remoteCandidate"]
                .as_str()
                .unwrap()
                .contains("typ relay")
        );
    }

    #[test]
    fn answer_mirrors_the_offer() {
        let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendrecv\r\na=rtpmap:96 VP8/90000\r\n";
        let answer = sdp_answer(offer, 77);
        assert!(answer.starts_with("v=0\r\no=- 77 0 IN IP4"));
        assert!(answer.contains("a=group:BUNDLE 0 1"));
        assert!(answer.contains("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"));
        assert!(answer.contains("a=recvonly"));
        assert!(answer.contains("a=rtpmap:96 VP8/90000"));
        assert!(sdp_offer(1).contains("m=video"));
    }
}
