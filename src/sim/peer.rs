//! The remote peer of a negotiated WebRtcEndpoint or RtpEndpoint, as KMS sees it: present while
//! its datagrams arrive on the endpoint's UDP socket, gone after silence. Pure: datagrams and
//! time are passed in; the socket lives in `sim::udp`.
//!
//! What the endpoint reports follows from the last datagrams (README "The simulated KMS"):
//! - ICE (WebRTC only): nothing before `gatherCandidates`; GATHERING, then CONNECTING once the
//!   peer announced candidates; READY from the first datagram (selected pair: remote side = the
//!   sender, typed as the peer announced it, else peer-reflexive); FAILED once consent expires.
//! - mediaState CONNECTED while datagrams (RTCP in KMS) arrived in the last 5 s.
//! - media flows **out** of the endpoint into the pipeline (docs/kms-protocol.md §10) for each
//!   media the peer sends per the SDP, while its packets arrived in the last [`FLOW_TIMEOUT_MS`].

use std::net::SocketAddr;

use serde_json::{Map, Value, json};

use super::dialect::Dialect;
use super::media_types::{DISCONNECT_AFTER_MS, MediaType, RtpTotals};
use super::rng::{Rng, mix};
use super::rtp::{self, ReceiveStats, RtpHeader};
use super::scenario::LocalCandidate;
use super::sdp::{self, Flavour, MediaLine};
use super::stats_entry::RtpEntry;

/// A media flow is NOT_FLOWING after this long without buffers (KMS checks its pads' flow with
/// a timer of about this period).
pub const FLOW_TIMEOUT_MS: u64 = 2_000;

/// Packets KMS sends back per media every [`SEND_PERIOD_MS`]: one, of this many payload bytes.
pub const SEND_PERIOD_MS: u64 = 20;
const AUDIO_PAYLOAD: usize = 160;
const VIDEO_PAYLOAD: usize = 1_000;

/// ICE component state, as `IceConnection.state` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IceState {
    Gathering,
    Connecting,
    Ready,
    Failed,
}

impl IceState {
    pub fn as_str(self) -> &'static str {
        match self {
            IceState::Gathering => "GATHERING",
            IceState::Connecting => "CONNECTING",
            IceState::Ready => "READY",
            IceState::Failed => "FAILED",
        }
    }
}

/// What the endpoint reports about its peer at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerView {
    /// `None`: no ICE activity yet (`getIceConnectionState` is empty).
    pub ice: Option<IceState>,
    pub media_connected: bool,
    pub connection_connected: bool,
    /// `[audio, video]`: the peer's media arriving now (the endpoint flows out).
    pub sending: [bool; 2],
}

impl PeerView {
    pub const SILENT: PeerView = PeerView {
        ice: None,
        media_connected: false,
        connection_connected: false,
        sending: [false; 2],
    };
}

/// Media KMS sends to the peer on one m-line.
#[derive(Debug, Clone, PartialEq)]
struct Outbound {
    stats_id: String,
    ssrc: u32,
    payload_type: u8,
    clock_rate: u32,
    sequence: u16,
    packets: u64,
    bytes: u64,
    started_ms: u64,
}

/// One remote SSRC KMS receives.
#[derive(Debug, Clone, PartialEq)]
struct Inbound {
    media: MediaType,
    stats_id: String,
    clock_rate: u32,
    stats: ReceiveStats,
}

/// The negotiated peer of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Peer {
    /// The endpoint's bound UDP socket.
    pub local: SocketAddr,
    pub flavour: Flavour,
    /// The peer's m-lines (from its offer or answer); empty while an offer awaits its answer.
    pub lines: Vec<MediaLine>,
    /// KMS generated the offer (`generateOffer`), so only `processAnswer` may follow (KMS's
    /// `waitingAnswer`).
    pub offer_generated: bool,
    pub gathering: bool,
    /// Candidates the peer announced with `addIceCandidate`: address and the line.
    remote_candidates: Vec<(SocketAddr, String)>,
    /// The remote side of the selected pair: the last sender and its candidate line.
    selected: Option<(SocketAddr, String)>,
    last_heard_ms: Option<u64>,
    last_media_ms: [Option<u64>; 2],
    inbound: Vec<Inbound>,
    outbound: [Option<Outbound>; 2],
    /// The view last announced through events.
    pub reported: PeerView,
    /// The instant a check of this peer is already scheduled for.
    pub scheduled_ms: Option<u64>,
    seed: u64,
}

fn index(media: MediaType) -> usize {
    usize::from(media == MediaType::Video)
}

impl Peer {
    pub fn new(local: SocketAddr, flavour: Flavour, seed: u64) -> Peer {
        Peer {
            local,
            flavour,
            lines: Vec::new(),
            offer_generated: false,
            gathering: false,
            remote_candidates: Vec::new(),
            selected: None,
            last_heard_ms: None,
            last_media_ms: [None; 2],
            inbound: Vec::new(),
            outbound: [None, None],
            reported: PeerView::SILENT,
            scheduled_ms: None,
            seed,
        }
    }

    /// Records a candidate from `addIceCandidate`; unparsable lines are kept out, as libnice
    /// ignores them.
    pub fn add_remote_candidate(&mut self, line: &str) {
        if let Some((addr, _)) = sdp::parse_candidate(line) {
            self.remote_candidates.push((addr, line.trim().to_owned()));
        }
    }

    /// KMS's own candidates in gathering order: the host one on the bound socket, then the
    /// configured reflexive and relayed ones on documentation addresses nobody sends to.
    pub fn local_candidates(&self, extra: LocalCandidate) -> Vec<String> {
        let port = self.local.port();
        let ip = self.local.ip();
        let mut out = vec![sdp::host_candidate(self.local)];
        if extra != LocalCandidate::Host {
            out.push(format!(
                "candidate:2 1 UDP 1679819007 203.0.113.5 {port} typ srflx raddr {ip} rport {port} generation 0"
            ));
        }
        if extra == LocalCandidate::Relay {
            out.push(format!(
                "candidate:3 1 UDP 16777215 203.0.113.20 {port} typ relay raddr 203.0.113.5 rport {port} generation 0"
            ));
        }
        out
    }

    /// A datagram from `from` arrived at `now_ms`.
    pub fn receive(&mut self, from: SocketAddr, datagram: &[u8], now_ms: u64) {
        self.select_remote(from);
        self.last_heard_ms = Some(now_ms);
        if rtp::is_rtcp(datagram) {
            return;
        }
        let (header, is_rtp) = match rtp::parse(datagram) {
            Some(h) => (h, true),
            None => match self.plain_datagram_header(from, datagram.len(), now_ms) {
                Some(h) => (h, false),
                None => return,
            },
        };
        // Packets of a payload type the peer did not negotiate are dropped, as KMS does.
        let Some(line) = self
            .lines
            .iter()
            .find(|l| l.peer_sends && l.clock_rate(header.payload_type).is_some())
        else {
            return;
        };
        let media = line.media;
        let clock_rate = line.clock_rate(header.payload_type).unwrap_or(90_000);
        if is_rtp {
            self.last_media_ms[index(media)] = Some(now_ms);
        } else {
            for l in self.lines.iter().filter(|l| l.peer_sends) {
                self.last_media_ms[index(l.media)] = Some(now_ms);
            }
        }
        let stream = match self
            .inbound
            .iter()
            .position(|s| s.stats.ssrc == header.ssrc && s.media == media)
        {
            Some(i) => &mut self.inbound[i],
            None => {
                self.inbound.push(Inbound {
                    media,
                    stats_id: Rng::new(mix(self.seed ^ u64::from(header.ssrc))).uuid(),
                    clock_rate,
                    stats: ReceiveStats::new(&header, now_ms),
                });
                let last = self.inbound.len() - 1;
                &mut self.inbound[last]
            }
        };
        stream.stats.receive(&header, now_ms, clock_rate);
    }

    /// The sender becomes the remote side of the selected pair: the candidate the peer announced
    /// for that address, else a peer-reflexive one (RFC 8445 §7.2.5.3.1).
    fn select_remote(&mut self, from: SocketAddr) {
        if self.selected.as_ref().is_some_and(|(a, _)| *a == from) {
            return;
        }
        let line = self
            .remote_candidates
            .iter()
            .find(|(a, _)| *a == from)
            .map(|(_, l)| l.clone())
            .unwrap_or_else(|| {
                format!(
                    "candidate:{} 1 udp 1845501695 {} {} typ prflx generation 0",
                    mix(u64::from(from.port())) % 1_000_000_000,
                    from.ip(),
                    from.port()
                )
            });
        self.selected = Some((from, line));
    }

    /// A datagram that is neither RTP nor RTCP still proves the peer is there and carries
    /// bytes: it counts as the next packet of a stream of its own on the first media the peer
    /// sends (`None` when the peer sends nothing).
    fn plain_datagram_header(
        &self,
        from: SocketAddr,
        len: usize,
        now_ms: u64,
    ) -> Option<RtpHeader> {
        let line = self.lines.iter().find(|l| l.peer_sends)?;
        let &(payload_type, clock_rate) = line.codecs.first()?;
        let ssrc = synthetic_ssrc(from);
        let sequence = self
            .inbound
            .iter()
            .find(|s| s.stats.ssrc == ssrc)
            .map_or(0, |s| s.stats.packets as u16);
        Some(RtpHeader {
            payload_type,
            sequence,
            // Stamped on arrival: such a stream has no jitter of its own.
            timestamp: (now_ms * u64::from(clock_rate) / 1000) as u32,
            ssrc,
            payload_len: len,
        })
    }

    /// What the endpoint reports at `now_ms` with ICE consent expiring after `consent_ms`.
    pub fn view(&self, now_ms: u64, consent_ms: u64) -> PeerView {
        let within =
            |last: Option<u64>, span: u64| last.is_some_and(|t| now_ms.saturating_sub(t) < span);
        let consented = within(self.last_heard_ms, consent_ms);
        let ice = match self.flavour {
            Flavour::Rtp => None,
            Flavour::WebRtc if self.last_heard_ms.is_some() => Some(if consented {
                IceState::Ready
            } else {
                IceState::Failed
            }),
            Flavour::WebRtc if !self.remote_candidates.is_empty() => Some(IceState::Connecting),
            Flavour::WebRtc if self.gathering => Some(IceState::Gathering),
            Flavour::WebRtc => None,
        };
        let mut sending = [false; 2];
        for line in self.lines.iter().filter(|l| l.peer_sends) {
            let i = index(line.media);
            sending[i] = consented && within(self.last_media_ms[i], FLOW_TIMEOUT_MS);
        }
        PeerView {
            ice,
            media_connected: within(self.last_heard_ms, DISCONNECT_AFTER_MS),
            connection_connected: consented,
            sending,
        }
    }

    /// The next instant after `now_ms` at which [`Peer::view`] changes if nothing arrives.
    pub fn next_change(&self, now_ms: u64, consent_ms: u64) -> Option<u64> {
        let mut candidates = Vec::new();
        if let Some(t) = self.last_heard_ms {
            candidates.extend([t + DISCONNECT_AFTER_MS, t + consent_ms]);
        }
        candidates.extend(
            self.last_media_ms
                .iter()
                .flatten()
                .map(|t| t + FLOW_TIMEOUT_MS),
        );
        candidates.into_iter().filter(|t| *t > now_ms).min()
    }

    /// `getIceConnectionState`: one bundled component, or nothing before ICE starts.
    pub fn ice_connection_state(&self, now_ms: u64, consent_ms: u64) -> Value {
        match self.view(now_ms, consent_ms).ice {
            None => json!([]),
            Some(state) => json!([{"__module__":"kurento","__type__":"IceConnection",
                "componentId":1,"state":state.as_str(),"streamId":"1"}]),
        }
    }

    /// `getICECandidatePairs`: the selected pair while ICE is connected.
    pub fn candidate_pairs(&self, now_ms: u64, consent_ms: u64, dialect: Dialect) -> Value {
        match self.selected_pair(dialect) {
            Some(pair) if self.view(now_ms, consent_ms).ice == Some(IceState::Ready) => {
                Value::Array(vec![pair])
            }
            _ => json!([]),
        }
    }

    /// The selected pair as `IceCandidatePair`, whatever the ICE state.
    pub fn selected_pair(&self, dialect: Dialect) -> Option<Value> {
        let (_, remote) = self.selected.as_ref()?;
        Some(candidate_pair(
            dialect,
            sdp::host_candidate(self.local),
            remote.clone(),
        ))
    }

    /// Packets KMS sends to the peer now: one per media flowing into the endpoint from the
    /// pipeline that the peer accepts, addressed to the last sender (never to a signalled
    /// candidate), and only while consent holds.
    pub fn packets_to_send(
        &mut self,
        flowing_in: [bool; 2],
        now_ms: u64,
        consent_ms: u64,
    ) -> Option<(SocketAddr, Vec<Vec<u8>>)> {
        let to = self.selected.as_ref()?.0;
        if !self.view(now_ms, consent_ms).connection_connected {
            return None;
        }
        let mut packets = Vec::new();
        for line in &self.lines {
            let i = index(line.media);
            if !(line.peer_receives && flowing_in[i]) {
                continue;
            }
            let Some(&(payload_type, clock_rate)) = line.codecs.first() else {
                continue;
            };
            let seed = self.seed;
            let out = self.outbound[i].get_or_insert_with(|| {
                let identity = mix(seed ^ 0x0ff ^ i as u64);
                Outbound {
                    stats_id: Rng::new(identity).uuid(),
                    ssrc: (identity >> 32) as u32,
                    payload_type,
                    clock_rate,
                    sequence: identity as u16,
                    packets: 0,
                    bytes: 0,
                    started_ms: now_ms,
                }
            });
            let payload = if line.media == MediaType::Audio {
                AUDIO_PAYLOAD
            } else {
                VIDEO_PAYLOAD
            };
            let elapsed = now_ms.saturating_sub(out.started_ms);
            let timestamp = (elapsed * u64::from(out.clock_rate) / 1000) as u32;
            packets.push(rtp::packet(
                out.payload_type,
                out.sequence,
                timestamp,
                out.ssrc,
                payload,
            ));
            out.sequence = out.sequence.wrapping_add(1);
            out.packets += 1;
            out.bytes += payload as u64;
        }
        (!packets.is_empty()).then_some((to, packets))
    }

    /// `getStats` entries for `filter` (all media when `None`), keyed by stats id.
    pub fn stats(
        &self,
        filter: Option<MediaType>,
        now_ms: u64,
        dialect: Dialect,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for s in self
            .inbound
            .iter()
            .filter(|s| filter.is_none_or(|f| f == s.media))
        {
            let entry = RtpEntry {
                inbound: true,
                stats_id: s.stats_id.clone(),
                ssrc: s.stats.ssrc,
                packets: s.stats.packets,
                bytes: s.stats.bytes,
                packets_lost: s.stats.lost(),
                fraction_lost: f64::from(s.stats.fraction_lost()),
                nacks: 0,
                plis: 0,
                firs: 0,
                remb: 0,
                jitter: s.stats.jitter_seconds(s.clock_rate),
                round_trip_time: 0.0,
                target_bitrate: 0.0,
            };
            out.insert(s.stats_id.clone(), entry.to_json(now_ms, dialect));
        }
        for (i, o) in self.outbound.iter().enumerate() {
            let media = if i == 0 {
                MediaType::Audio
            } else {
                MediaType::Video
            };
            let Some(o) = o.as_ref().filter(|_| filter.is_none_or(|f| f == media)) else {
                continue;
            };
            let elapsed_s = now_ms.saturating_sub(o.started_ms).max(1) as f64 / 1000.0;
            let entry = RtpEntry {
                inbound: false,
                stats_id: o.stats_id.clone(),
                ssrc: o.ssrc,
                packets: o.packets,
                bytes: o.bytes,
                packets_lost: 0,
                fraction_lost: 0.0,
                nacks: 0,
                plis: 0,
                firs: 0,
                remb: 0,
                jitter: 0.0,
                // No receiver reports come back from a scripted peer.
                round_trip_time: 0.0,
                target_bitrate: (o.bytes as f64 * 8.0 / elapsed_s).round(),
            };
            out.insert(o.stats_id.clone(), entry.to_json(now_ms, dialect));
        }
        out
    }

    /// Adds this peer's streams into `totals` (keys as `media_types::TotalsMap`).
    pub fn add_totals(&self, totals: &mut super::media_types::TotalsMap) {
        for s in &self.inbound {
            let key = (s.media.lower().to_owned(), "inbound".to_owned());
            let t = totals.entry(key).or_default();
            add(t, s.stats.bytes, s.stats.packets, s.stats.lost());
        }
        for (i, o) in self.outbound.iter().enumerate() {
            if let Some(o) = o {
                let media = if i == 0 { "audio" } else { "video" };
                let t = totals
                    .entry((media.to_owned(), "outbound".to_owned()))
                    .or_default();
                add(t, o.bytes, o.packets, 0);
            }
        }
    }
}

/// An `IceCandidatePair` (one bundled component) as KMS writes it; 6.x adds the old `…ID` names.
pub fn candidate_pair(dialect: Dialect, local: String, remote: String) -> Value {
    let mut pair = Map::new();
    pair.insert("__module__".into(), "kurento".into());
    pair.insert("__type__".into(), "IceCandidatePair".into());
    pair.insert("componentId".into(), 1.into());
    pair.insert("streamId".into(), "1".into());
    if dialect == Dialect::V6 {
        pair.insert("componentID".into(), 1.into());
        pair.insert("streamID".into(), "1".into());
    }
    pair.insert("localCandidate".into(), local.into());
    pair.insert("remoteCandidate".into(), remote.into());
    Value::Object(pair)
}

fn add(t: &mut RtpTotals, bytes: u64, packets: u64, lost: i64) {
    t.bytes += bytes;
    t.packets += packets;
    t.packets_lost += lost;
}

/// The SSRC a non-RTP sender's datagrams are counted under.
fn synthetic_ssrc(from: SocketAddr) -> u32 {
    (mix(u64::from(from.port()) ^ 0x5eed) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONSENT: u64 = 6_000;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn negotiated(peer_offer: &str) -> Peer {
        let local = addr("127.0.0.1:40000");
        let mut p = Peer::new(local, Flavour::WebRtc, 7);
        p.lines = sdp::parse_media(peer_offer, "").unwrap();
        p
    }

    const SENDRECV: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n";

    #[test]
    fn ice_follows_gathering_candidates_datagrams_and_silence() {
        let mut p = negotiated(SENDRECV);
        assert_eq!(p.view(0, CONSENT), PeerView::SILENT);
        p.gathering = true;
        assert_eq!(p.view(0, CONSENT).ice, Some(IceState::Gathering));
        p.add_remote_candidate("candidate:9 1 udp 1 127.0.0.1 5000 typ relay");
        p.add_remote_candidate("not a candidate");
        assert_eq!(p.view(0, CONSENT).ice, Some(IceState::Connecting));
        p.receive(
            addr("127.0.0.1:5000"),
            &rtp::packet(111, 1, 0, 9, 50),
            1_000,
        );
        let v = p.view(1_000, CONSENT);
        assert_eq!(v.ice, Some(IceState::Ready));
        assert!(v.media_connected && v.connection_connected);
        assert_eq!(v.sending, [true, false], "only audio arrived");
        let pair = p.candidate_pairs(1_000, CONSENT, Dialect::V7);
        assert!(
            pair[0]["remoteCandidate"]
                .as_str()
                .unwrap()
                .contains("typ relay"),
            "{pair}"
        );
        assert!(
            pair[0]["localCandidate"]
                .as_str()
                .unwrap()
                .contains("127.0.0.1 40000 typ host")
        );
        assert_eq!(p.next_change(1_000, CONSENT), Some(3_000));
        assert_eq!(p.view(2_999, CONSENT).sending, [true, false]);
        assert_eq!(
            p.view(3_000, CONSENT).sending,
            [false, false],
            "flow timeout"
        );
        assert!(p.view(5_999, CONSENT).media_connected);
        assert!(!p.view(6_000, CONSENT).media_connected, "no RTCP for 5 s");
        assert_eq!(p.next_change(6_000, CONSENT), Some(7_000));
        assert_eq!(p.view(7_000, CONSENT).ice, Some(IceState::Failed));
        assert_eq!(p.candidate_pairs(7_000, CONSENT, Dialect::V7), json!([]));
        assert_eq!(p.next_change(7_000, CONSENT), None);
        p.receive(addr("127.0.0.1:5001"), b"back", 8_000);
        assert_eq!(
            p.view(8_000, CONSENT).ice,
            Some(IceState::Ready),
            "FAILED is not terminal"
        );
        let pair = p.candidate_pairs(8_000, CONSENT, Dialect::V6);
        assert!(
            pair[0]["remoteCandidate"]
                .as_str()
                .unwrap()
                .contains("127.0.0.1 5001 typ prflx")
        );
        assert_eq!(pair[0]["streamID"], "1");
    }

    #[test]
    fn directions_come_from_the_peer_sdp() {
        let mut p = negotiated(
            "v=0\r\nm=audio 9 RTP/AVP 111\r\na=recvonly\r\nm=video 9 RTP/AVP 96\r\na=sendonly\r\n",
        );
        p.receive(addr("127.0.0.1:5000"), &rtp::packet(111, 1, 0, 9, 50), 0);
        p.receive(addr("127.0.0.1:5000"), &rtp::packet(96, 1, 0, 10, 50), 0);
        assert_eq!(
            p.view(0, CONSENT).sending,
            [false, true],
            "a recvonly peer publishes nothing"
        );
        let sent = p.packets_to_send([true, true], 0, CONSENT).unwrap();
        assert_eq!(sent.0, addr("127.0.0.1:5000"), "answers go to the sender");
        assert_eq!(sent.1.len(), 1, "only audio is accepted by the peer");
        assert_eq!(rtp::parse(&sent.1[0]).unwrap().payload_type, 111);
        assert!(p.packets_to_send([false, false], 0, CONSENT).is_none());
        assert!(
            p.packets_to_send([true, true], CONSENT, CONSENT).is_none(),
            "consent expired"
        );
    }

    #[test]
    fn stats_count_what_arrived_and_what_was_sent() {
        let mut p = negotiated(SENDRECV);
        for seq in [10u16, 11, 13, 14] {
            p.receive(addr("127.0.0.1:5000"), &rtp::packet(96, seq, 0, 42, 100), 0);
        }
        p.receive(addr("127.0.0.1:5000"), b"plain bytes", 0);
        p.receive(addr("127.0.0.1:5000"), &[0x81, 201, 0, 1, 0, 0, 0, 9], 0);
        for t in [0, 20, 40] {
            p.packets_to_send([true, false], t, CONSENT);
        }
        let video = p.stats(Some(MediaType::Video), 1_000, Dialect::V7);
        assert_eq!(video.len(), 1);
        let e = video.values().next().unwrap();
        assert_eq!(
            (e["type"].as_str(), e["ssrc"].as_str()),
            (Some("inboundrtp"), Some("42"))
        );
        assert_eq!(
            (e["packetsReceived"].as_u64(), e["bytesReceived"].as_u64()),
            (Some(4), Some(400))
        );
        assert_eq!(e["packetsLost"], 1);
        let audio = p.stats(Some(MediaType::Audio), 1_000, Dialect::V6);
        let kinds: Vec<&str> = audio
            .values()
            .map(|e| e["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds.len(), 2, "{audio:?}");
        assert!(kinds.contains(&"inboundrtp") && kinds.contains(&"outboundrtp"));
        let out = audio.values().find(|e| e["type"] == "outboundrtp").unwrap();
        assert_eq!(out["packetsSent"], 3);
        assert_eq!(out["bytesSent"], 3 * AUDIO_PAYLOAD as u64);
        assert!(out["timestamp"].is_number(), "6.x field");
        let plain = audio.values().find(|e| e["type"] == "inboundrtp").unwrap();
        assert_eq!(
            plain["bytesReceived"], 11,
            "a non-RTP datagram counts whole"
        );
        let mut totals = super::super::media_types::empty_totals();
        p.add_totals(&mut totals);
        assert_eq!(totals[&("video".into(), "inbound".into())].packets, 4);
        assert_eq!(totals[&("audio".into(), "outbound".into())].bytes, 480);
    }

    #[test]
    fn extra_local_candidates_use_documentation_addresses() {
        let p = negotiated(SENDRECV);
        let all = p.local_candidates(LocalCandidate::Relay);
        assert_eq!(all.len(), 3);
        assert!(all[0].contains("127.0.0.1 40000 typ host"));
        for c in &all[1..] {
            assert!(c.contains(" 203.0.113."), "{c}");
        }
        assert_eq!(p.local_candidates(LocalCandidate::Host).len(), 1);
    }
}
