//! Media behaviour of one element: flows, states, stats and ICE, computed from its profile and
//! the media time. Pure: every value is a function of (profile, seed, draws made at creation,
//! media time), so a frozen media clock gives identical answers.

use serde_json::{Map, Value, json};

use super::dialect::Dialect;
use super::media_types::{DISCONNECT_AFTER_MS, MediaType, RtpTotals, TotalsMap};
use super::rng::{Rng, mix, unit};
use super::scenario::{IceOutcome, LocalCandidate, MediaProfile};
use super::stats_entry::{RtpEntry, double};
use super::timeline::{Pauses, Periodic};

/// The first RTCP receiver report (hence a non-zero roundTripTime) comes after this much media.
const FIRST_RR_MS: u64 = 2_000;

impl RtpTotals {
    fn add(&mut self, c: &StreamCounters) {
        self.bytes += c.bytes;
        self.packets += c.packets;
        self.packets_lost += c.packets_lost;
        self.nacks += c.nacks;
        self.plis += c.plis;
        self.firs += c.firs;
    }
}

/// One RTP stream slot of an endpoint. Its stats id and SSRC are derived from `base` and the
/// SSRC epoch, so they change (and counters restart) at every epoch.
#[derive(Debug, Clone, PartialEq)]
struct Stream {
    media: MediaType,
    inbound: bool,
    base: u64,
    epochs: Option<Periodic>,
}

/// Cumulative counters of one stream at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamCounters {
    pub epoch: u64,
    /// Media time the stream has flowed in its current epoch.
    pub active_ms: u64,
    pub bytes: u64,
    pub packets: u64,
    pub packets_lost: i64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
}

/// The states an element reports, for detecting what changed between two instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSnapshot {
    /// `[audio, video]`.
    pub flowing_in: [bool; 2],
    pub flowing_out: [bool; 2],
    pub transcoding: [bool; 2],
    pub media_state: &'static str,
    pub paused: bool,
}

/// The media side of an element.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub profile: MediaProfile,
    /// Distinguishes elements in the deterministic wobble.
    ordinal: u64,
    /// Media time (epoch ms) at which the element's media started.
    started_ms: u64,
    pauses: Option<Pauses>,
    toggles: Option<Periodic>,
    streams: Vec<Stream>,
}

/// Inputs that are the same for every element of one call.
#[derive(Debug, Clone, Copy)]
pub struct StatsContext {
    /// Media time, epoch milliseconds.
    pub now_ms: u64,
    pub seed: u64,
    pub dialect: Dialect,
    pub latency_stats: bool,
}

fn media_types() -> [MediaType; 2] {
    [MediaType::Audio, MediaType::Video]
}

fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

impl Media {
    /// Makes the same number of draws whatever the profile, so ids stay put when knobs change.
    pub fn new(profile: MediaProfile, ordinal: u64, started_ms: u64, rng: &mut Rng) -> Media {
        let pause_draw = rng.next_u64();
        let toggle_draw = rng.next_u64();
        let pauses = profile
            .pause_every
            .map(|every| Pauses::new(ms(every), ms(profile.pause_for), pause_draw));
        let toggles = profile
            .transcoding_toggle_every
            .map(|every| Periodic::new(ms(every), toggle_draw));
        let mut streams = Vec::new();
        for media in media_types() {
            for inbound in [true, false] {
                let base = rng.next_u64();
                let wanted = match media {
                    MediaType::Audio => profile.audio,
                    _ => profile.video,
                };
                if wanted {
                    streams.push(Stream {
                        media,
                        inbound,
                        base,
                        epochs: profile
                            .ssrc_change_every
                            .map(|every| Periodic::new(ms(every), mix(base))),
                    });
                }
            }
        }
        Media {
            profile,
            ordinal,
            started_ms,
            pauses,
            toggles,
            streams,
        }
    }

    fn elapsed(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.started_ms)
    }

    fn has(&self, media: MediaType) -> bool {
        match media {
            MediaType::Audio => self.profile.audio,
            MediaType::Video => self.profile.video,
            MediaType::Data => false,
        }
    }

    /// How long the pause in progress has lasted, or `None` when media flows.
    pub fn paused_for(&self, now_ms: u64) -> Option<u64> {
        self.pauses.and_then(|p| p.paused_for(self.elapsed(now_ms)))
    }

    pub fn paused(&self, now_ms: u64) -> bool {
        self.paused_for(now_ms).is_some()
    }

    /// Media time during which media flowed since the start, up to `e` ms after it.
    fn active(&self, e: u64) -> u64 {
        self.pauses.map_or(e, |p| p.active(e))
    }

    /// Whether media of this kind reaches the element from the pipeline (`into_sink`: KMS's
    /// "flowing in") or leaves it into the pipeline ("flowing out") at all, flowing now or
    /// paused. KMS names flows from the pipeline's side (docs/kms-protocol.md §10).
    fn flows(&self, media: MediaType, into_sink: bool) -> bool {
        let p = &self.profile;
        let flag = if into_sink {
            p.flowing_in
        } else {
            p.flowing_out
        };
        self.has(media) && flag && p.ice.lets_media_through()
    }

    /// Whether an RTP stream of this network direction exists at all (flowing now or paused).
    /// `getStats` takes the network view: KMS receives RTP from the peer (`inboundrtp`) for
    /// what the endpoint pushes into the pipeline (flowing out: the peer publishes), and sends
    /// RTP to the peer (`outboundrtp`) for what reaches it from the pipeline (flowing in: the
    /// peer subscribes).
    fn carries(&self, media: MediaType, inbound: bool) -> bool {
        self.flows(media, !inbound)
    }

    /// `isMediaFlowingIn`: media arrives from the pipeline at the element's sink.
    pub fn flowing_in(&self, media: MediaType, now_ms: u64) -> bool {
        self.flows(media, true) && !self.paused(now_ms)
    }

    /// `isMediaFlowingOut`: the element pushes media into the pipeline.
    pub fn flowing_out(&self, media: MediaType, now_ms: u64) -> bool {
        self.flows(media, false) && !self.paused(now_ms)
    }

    /// Video transcodes per the profile, flipped in every odd toggle phase.
    pub fn transcoding(&self, media: MediaType, now_ms: u64) -> bool {
        let flipped = self
            .toggles
            .is_some_and(|t| t.phase(self.elapsed(now_ms)) % 2 == 1);
        media == MediaType::Video && self.profile.video && (self.profile.transcoding != flipped)
    }

    /// `getMediaState`: CONNECTED while RTCP flows (ICE connected, some media, not paused for
    /// more than 5 s).
    pub fn media_state(&self, now_ms: u64) -> &'static str {
        let p = &self.profile;
        let silent = self
            .paused_for(now_ms)
            .is_some_and(|d| d >= DISCONNECT_AFTER_MS);
        if p.ice.connected() && (p.flowing_in || p.flowing_out) && !silent {
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

    pub fn snapshot(&self, now_ms: u64) -> FlowSnapshot {
        let [a, v] = media_types();
        FlowSnapshot {
            flowing_in: [self.flowing_in(a, now_ms), self.flowing_in(v, now_ms)],
            flowing_out: [self.flowing_out(a, now_ms), self.flowing_out(v, now_ms)],
            transcoding: [self.transcoding(a, now_ms), self.transcoding(v, now_ms)],
            media_state: self.media_state(now_ms),
            paused: self.paused(now_ms),
        }
    }

    /// The next media time after `now_ms` at which a flow, transcoding or media state changes
    /// (`None` when nothing ever changes).
    pub fn next_transition(&self, now_ms: u64) -> Option<u64> {
        let e = self.elapsed(now_ms);
        let pause = self.pauses.map(|p| p.next_change(e, DISCONNECT_AFTER_MS));
        let toggle = self.toggles.map(|t| t.next_change(e));
        let next = match (pause, toggle) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(self.started_ms + next)
    }

    // ----- ICE ----------------------------------------------------------------------------

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
        let local = self.local_candidates().pop().unwrap_or_default();
        let pair = super::peer::candidate_pair(dialect, local, self.remote_candidate());
        Value::Array(vec![pair])
    }

    /// KMS's own candidates in gathering order: host, then srflx and relay as configured. The
    /// last one is the local side of the selected pair.
    pub fn local_candidates(&self) -> Vec<String> {
        let port = 40_000 + (self.ordinal * 7) % 20_000;
        let mut out = vec![format!(
            "candidate:1 1 UDP 2015363327 10.0.0.5 {port} typ host generation 0"
        )];
        if self.profile.ice_local != LocalCandidate::Host {
            out.push(format!(
                "candidate:2 1 UDP 1679819007 203.0.113.5 {} typ srflx raddr 10.0.0.5 rport {port} generation 0",
                port + 1
            ));
        }
        if self.profile.ice_local == LocalCandidate::Relay {
            out.push(format!(
                "candidate:3 1 UDP 16777215 198.51.100.20 {} typ relay raddr 203.0.113.5 rport {} generation 0",
                port + 2,
                port + 1
            ));
        }
        out
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
            IceOutcome::Prflx => format!(
                "candidate:1467250027 1 udp 1845501695 192.0.2.44 {port} typ prflx raddr 192.168.1.23 rport 61234 generation 0"
            ),
            _ => format!(
                "candidate:3442447574 1 udp 2122260223 192.168.1.23 {port} typ host generation 0"
            ),
        }
    }

    // ----- stats --------------------------------------------------------------------------

    /// The cumulative counters of a stream at `now_ms`.
    fn counters(&self, stream: &Stream, now_ms: u64) -> StreamCounters {
        let p = &self.profile;
        let e = self.elapsed(now_ms);
        let (epoch, epoch_start) = match stream.epochs {
            Some(t) => {
                let k = t.phase(e);
                (k, t.phase_start(k))
            }
            None => (0, 0),
        };
        let active_ms = self.active(e) - self.active(epoch_start.min(e));
        let active_s = active_ms as f64 / 1000.0;
        let video = stream.media == MediaType::Video;
        let (kbps, packets_per_s) = if video {
            (p.video_kbps, (p.video_kbps * 125.0 / 1100.0).max(1.0))
        } else {
            (p.audio_kbps, 50.0)
        };
        let packets = (packets_per_s * active_s) as u64;
        let lost = (packets as f64 * p.loss) as u64;
        let packets_lost = if stream.inbound {
            lost as i64 - (packets as f64 * p.duplicates) as i64
        } else {
            lost as i64
        };
        let (nacks, plis, firs) = if video {
            (
                lost * 9 / 10,
                (active_s / 15.0) as u64 + lost / 40,
                (active_s / 600.0) as u64,
            )
        } else {
            (0, 0, 0)
        };
        StreamCounters {
            epoch,
            active_ms,
            bytes: (kbps * 125.0 * active_s) as u64,
            packets,
            packets_lost,
            nacks,
            plis,
            firs,
        }
    }

    /// Adds this element's RTP streams (those `getStats` lists) into `totals`.
    pub fn add_rtp_totals(&self, now_ms: u64, totals: &mut TotalsMap) {
        for stream in &self.streams {
            if !self.carries(stream.media, stream.inbound) {
                continue;
            }
            let direction = if stream.inbound {
                "inbound"
            } else {
                "outbound"
            };
            let key = (stream.media.lower().to_owned(), direction.to_owned());
            totals
                .entry(key)
                .or_default()
                .add(&self.counters(stream, now_ms));
        }
    }

    /// `getStats(mediaType)` for an RTP endpoint: one entry per RTP stream, plus the
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
            if filter.is_some_and(|f| f != stream.media)
                || !self.carries(stream.media, stream.inbound)
            {
                continue;
            }
            let (id, entry) = self.stream_entry(stream, ctx);
            out.insert(id, entry);
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
        let mut out = Map::new();
        out.insert(
            element_id.to_owned(),
            self.latency_entry(element_id, filter, ctx, endpoint),
        );
        Value::Object(out)
    }

    /// Wobble in [0.8, 1.2) that changes every second, per element and salt.
    fn wobble(&self, ctx: StatsContext, salt: u64) -> f64 {
        // Seconds since the element's media started, not wall-clock seconds: the same scenario
        // frozen at the same media age gives the same values on every run.
        let age_s = ctx.now_ms.saturating_sub(self.started_ms) / 1000;
        0.8 + 0.4 * unit(&[ctx.seed, self.ordinal, salt, age_s])
    }

    fn stream_entry(&self, stream: &Stream, ctx: StatsContext) -> (String, Value) {
        let p = &self.profile;
        let c = self.counters(stream, ctx.now_ms);
        let identity = mix(stream.base ^ c.epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let stats_id = Rng::new(identity).uuid();
        let ssrc = (identity >> 32) as u32;
        let video = stream.media == MediaType::Video;
        let salt = identity;
        let paused = self.paused(ctx.now_ms);
        let kbps = if video { p.video_kbps } else { p.audio_kbps };
        let fraction_lost = if paused {
            0.0
        } else {
            (p.loss * 256.0 * self.wobble(ctx, salt + 1))
                .round()
                .min(255.0)
        };
        let remb = if video {
            (kbps * 1000.0 * self.wobble(ctx, salt + 5)).round() as i64
        } else {
            0
        };
        let (mut jitter, mut round_trip_time, mut target_bitrate) = (0.0, 0.0, 0.0);
        if stream.inbound {
            // RTP jitter is in clock-rate units, divided in single precision (float artifacts).
            let clock = if video { 90_000.0 } else { 48_000.0 };
            let units = (p.jitter_ms / 1000.0 * self.wobble(ctx, salt + 2) * clock).round();
            jitter = f64::from(units as f32 / clock as f32);
        } else {
            // 0 before the first receiver report; RTCP RR resolution is 1/65536 s.
            if c.active_ms >= FIRST_RR_MS {
                round_trip_time =
                    (p.rtt_ms / 1000.0 * self.wobble(ctx, salt + 3) * 65536.0).round() / 65536.0;
            }
            if !paused {
                target_bitrate = (kbps * 1000.0 * self.wobble(ctx, salt + 4)).round();
            }
        }
        let entry = RtpEntry {
            inbound: stream.inbound,
            stats_id: stats_id.clone(),
            ssrc,
            packets: c.packets,
            bytes: c.bytes,
            packets_lost: c.packets_lost,
            fraction_lost,
            nacks: c.nacks,
            plis: c.plis,
            firs: c.firs,
            remb,
            jitter,
            round_trip_time,
            target_bitrate,
        };
        (stats_id, entry.to_json(ctx.now_ms, ctx.dialect))
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
            json!({"__module__":"kurento","__type__":"MediaLatencyStat",
                "avg":double(base_ns * self.wobble(ctx, salt)),"name":name,"type":media.as_str()})
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
        let v6 = ctx.dialect == Dialect::V6;
        // 6.x copies the entries into deprecated fields (0 when not measured).
        let find = |list: &[Value], media: &str| {
            list.iter()
                .find(|v| v["type"] == media)
                .map(|v| v["avg"].clone())
                .unwrap_or(json!(0))
        };
        if v6 {
            e.insert("timestamp".into(), double((ctx.now_ms / 1000) as f64));
            e.insert("inputAudioLatency".into(), find(&input, "AUDIO"));
            e.insert("inputVideoLatency".into(), find(&input, "VIDEO"));
        }
        e.insert("inputLatency".into(), Value::Array(input));
        if endpoint {
            let e2e: Vec<Value> = wanted
                .iter()
                .map(|m| stat(*m, if *m == MediaType::Audio { 21e6 } else { 48e6 }, 12))
                .collect();
            if v6 {
                e.insert("audioE2ELatency".into(), find(&e2e, "AUDIO"));
                e.insert("videoE2ELatency".into(), find(&e2e, "VIDEO"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::media_types::empty_totals;
    use std::collections::BTreeSet;
    use std::time::Duration;

    const START: u64 = 1_000_000;

    fn ctx(now_ms: u64, latency_stats: bool, dialect: Dialect) -> StatsContext {
        StatsContext {
            now_ms,
            seed: 5,
            dialect,
            latency_stats,
        }
    }

    fn v7(now_ms: u64) -> StatsContext {
        ctx(now_ms, false, Dialect::V7)
    }

    fn media(profile: MediaProfile) -> Media {
        Media::new(profile, 3, START, &mut Rng::new(1))
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// The entries of one type, in a stable order (by SSRC).
    fn entries(stats: &Value, kind: &str) -> Vec<Value> {
        let mut out: Vec<Value> = stats
            .as_object()
            .map(|m| m.values().filter(|e| e["type"] == kind).cloned().collect())
            .unwrap_or_default();
        out.sort_by_key(|e| e["ssrc"].as_str().unwrap_or("").to_owned());
        out
    }

    fn one(stats: &Value, kind: &str) -> Value {
        let list = entries(stats, kind);
        assert_eq!(list.len(), 1, "one {kind} entry in {stats}");
        list[0].clone()
    }

    const COUNTERS_IN: [&str; 6] = [
        "bytesReceived",
        "packetsReceived",
        "packetsLost",
        "nackCount",
        "pliCount",
        "firCount",
    ];

    #[test]
    fn counters_never_decrease_and_values_are_deterministic() {
        let profiles = [
            MediaProfile::healthy(),
            MediaProfile {
                loss: 0.08,
                pause_every: Some(secs(40)),
                pause_for: secs(12),
                ..MediaProfile::healthy()
            },
        ];
        for profile in profiles {
            let m = media(profile);
            let mut last = [i64::MIN; 6];
            for t in (0..300_000).step_by(1_700) {
                let stats = m.rtp_stats("E", Some(MediaType::Video), v7(START + t));
                let inbound = one(&stats, "inboundrtp");
                for (i, field) in COUNTERS_IN.iter().enumerate() {
                    let v = inbound[field].as_i64().unwrap();
                    assert!(v >= last[i], "{field} went back at {t}");
                    last[i] = v;
                }
                assert_eq!(
                    stats,
                    m.rtp_stats("E", Some(MediaType::Video), v7(START + t))
                );
            }
            assert!(last[0] > 10_000_000, "about 1.2 Mbps for minutes");
            assert!(last[4] > 0, "some PLIs");
        }
    }

    #[test]
    fn counters_follow_the_profile_rates() {
        let m = media(MediaProfile::healthy());
        let stats = m.rtp_stats("E", None, v7(START + 100_000));
        let video_out = entries(&stats, "outboundrtp")
            .into_iter()
            .find(|e| e["remb"].as_i64() > Some(0))
            .unwrap();
        // 1200 kbps for 100 s = 15,000,000 bytes; 50 audio packets per second.
        assert_eq!(video_out["bytesSent"], 15_000_000);
        let audio_in = entries(&stats, "inboundrtp")
            .into_iter()
            .find(|e| e["remb"] == 0)
            .unwrap();
        assert_eq!(audio_in["packetsReceived"], 5_000);
        assert_eq!(audio_in["packetsLost"], 10, "0.2 % of 5,000");
        assert_eq!(entries(&stats, "inboundrtp").len(), 2);
    }

    #[test]
    fn ssrc_changes_restart_counters_under_a_new_id() {
        let m = media(MediaProfile {
            ssrc_change_every: Some(secs(60)),
            ..MediaProfile::healthy()
        });
        let mut ids = BTreeSet::new();
        let mut resets = 0;
        let mut last: Option<(String, i64)> = None;
        for t in (0..600_000).step_by(1_000) {
            let inbound = one(
                &m.rtp_stats("E", Some(MediaType::Audio), v7(START + t)),
                "inboundrtp",
            );
            let id = inbound["id"].as_str().unwrap().to_owned();
            let bytes = inbound["bytesReceived"].as_i64().unwrap();
            if let Some((last_id, last_bytes)) = &last {
                if *last_id == id {
                    assert!(bytes >= *last_bytes);
                } else {
                    resets += 1;
                    assert!(bytes < *last_bytes, "counters restart with the new SSRC");
                    assert_ne!(inbound["ssrc"], "");
                }
            }
            ids.insert(id.clone());
            last = Some((id, bytes));
        }
        assert_eq!(resets, 10, "every 60 s over 10 minutes");
        assert_eq!(ids.len(), 11);
    }

    #[test]
    fn pauses_stop_flows_flatten_counters_and_disconnect_after_5s() {
        let m = media(MediaProfile {
            pause_every: Some(secs(60)),
            pause_for: secs(20),
            ..MediaProfile::healthy()
        });
        let start = m.next_transition(START).unwrap();
        assert!(m.paused(start) && !m.paused(start - 1));
        assert!((START..start).step_by(100).all(|t| !m.paused(t)));
        assert!(
            start >= START + 30_000,
            "the first pause waits half a period"
        );
        let bytes = |t: u64| {
            one(
                &m.rtp_stats("E", Some(MediaType::Video), v7(t)),
                "outboundrtp",
            )["bytesSent"]
                .as_i64()
                .unwrap()
        };
        let cases = [
            (start - 100, true, "CONNECTED"),
            (start, false, "CONNECTED"),
            (start + 4_900, false, "CONNECTED"),
            (start + 5_000, false, "DISCONNECTED"),
            (start + 19_900, false, "DISCONNECTED"),
            (start + 20_000, true, "CONNECTED"),
        ];
        for (t, flowing, state) in cases {
            assert_eq!(m.flowing_in(MediaType::Video, t), flowing, "at {t}");
            assert_eq!(m.flowing_out(MediaType::Audio, t), flowing, "at {t}");
            assert_eq!(m.media_state(t), state, "at {t}");
        }
        assert_eq!(bytes(start), bytes(start + 19_900), "flat while paused");
        assert!(bytes(start + 21_000) > bytes(start + 19_900));
        let paused = one(
            &m.rtp_stats("E", Some(MediaType::Video), v7(start + 1_000)),
            "outboundrtp",
        );
        assert_eq!(paused["targetBitrate"], 0, "nothing sent");
        assert!(
            paused["targetBitrate"].is_i64(),
            "a whole double prints as an integer"
        );
        assert_eq!(m.next_transition(start), Some(start + 5_000));
        assert_eq!(m.next_transition(start + 5_000), Some(start + 20_000));
    }

    #[test]
    fn transcoding_toggles() {
        let m = media(MediaProfile {
            transcoding_toggle_every: Some(secs(30)),
            ..MediaProfile::healthy()
        });
        let first = m.next_transition(START).unwrap();
        assert!(!m.transcoding(MediaType::Video, first - 1));
        assert!(m.transcoding(MediaType::Video, first));
        assert!(
            !m.transcoding(MediaType::Audio, first),
            "audio never transcodes"
        );
        let second = m.next_transition(first).unwrap();
        assert_eq!(second - first, 30_000);
        assert!(!m.transcoding(MediaType::Video, second));
        let fixed = media(MediaProfile {
            transcoding: true,
            ..MediaProfile::healthy()
        });
        assert!(fixed.transcoding(MediaType::Video, START + 999_999));
        assert_eq!(fixed.next_transition(START), None);
    }

    #[test]
    fn duplicates_make_inbound_loss_negative() {
        let m = media(MediaProfile {
            loss: 0.001,
            duplicates: 0.01,
            ..MediaProfile::healthy()
        });
        let stats = m.rtp_stats("E", Some(MediaType::Audio), v7(START + 60_000));
        assert!(one(&stats, "inboundrtp")["packetsLost"].as_i64().unwrap() < 0);
        assert!(one(&stats, "outboundrtp")["packetsLost"].as_i64().unwrap() >= 0);
    }

    #[test]
    fn rtp_directions_follow_kms_flow_names() {
        // A publisher's peer sends to KMS: inbound RTP, media flowing out into the pipeline.
        // A subscriber's peer receives from KMS: outbound RTP, media flowing in from it.
        let t = START + 60_000;
        for (flowing_in, flowing_out, inbound, outbound) in [
            (false, true, 2, 0),
            (true, false, 0, 2),
            (true, true, 2, 2),
            (false, false, 0, 0),
        ] {
            let m = media(MediaProfile {
                flowing_in,
                flowing_out,
                ..MediaProfile::healthy()
            });
            let case = format!("in={flowing_in} out={flowing_out}");
            let stats = m.rtp_stats("E", None, v7(t));
            assert_eq!(entries(&stats, "inboundrtp").len(), inbound, "{case}");
            assert_eq!(entries(&stats, "outboundrtp").len(), outbound, "{case}");
            for kind in [MediaType::Audio, MediaType::Video] {
                assert_eq!(m.flowing_in(kind, t), flowing_in, "{case}");
                assert_eq!(m.flowing_out(kind, t), flowing_out, "{case}");
            }
            let mut totals = empty_totals();
            m.add_rtp_totals(t, &mut totals);
            for media_type in ["audio", "video"] {
                let bytes = |dir: &str| totals[&(media_type.to_owned(), dir.to_owned())].bytes;
                assert_eq!(bytes("inbound") > 0, flowing_out, "{case}");
                assert_eq!(bytes("outbound") > 0, flowing_in, "{case}");
            }
            let connected = flowing_in || flowing_out;
            let state = if connected {
                "CONNECTED"
            } else {
                "DISCONNECTED"
            };
            assert_eq!(m.media_state(t), state, "{case}: RTCP either way");
        }
    }

    #[test]
    fn whole_doubles_print_as_integers() {
        let m = media(MediaProfile::healthy());
        let early = m.rtp_stats("E", Some(MediaType::Video), v7(START + 500));
        let out = one(&early, "outboundrtp");
        assert_eq!(out["roundTripTime"].to_string(), "0", "before the first RR");
        assert!(out["targetBitrate"].is_i64());
        let late = m.rtp_stats("E", Some(MediaType::Video), v7(START + 60_000));
        let rtt = one(&late, "outboundrtp")["roundTripTime"].as_f64().unwrap();
        assert!(rtt > 0.02 && rtt < 0.04, "{rtt}");
        assert_eq!((rtt * 65536.0).fract(), 0.0, "1/65536 s resolution");
        let jitter = one(&late, "inboundrtp")["jitter"].as_f64().unwrap();
        assert!(jitter > 0.002 && jitter < 0.004, "{jitter}");
        assert_eq!(double(3.0).to_string(), "3");
        assert_eq!(double(0.5).to_string(), "0.5");
    }

    #[test]
    fn stats_shapes_per_case() {
        let idle = media(MediaProfile::default());
        assert_eq!(idle.rtp_stats("E", None, v7(START + 10_000)), Value::Null);
        assert_eq!(
            idle.element_stats("E", None, v7(START + 10_000), false),
            Value::Null
        );
        let with_latency = idle.rtp_stats("E", None, ctx(START + 10_000, true, Dialect::V7));
        assert_eq!(with_latency["E"]["type"], "endpoint");
        assert_eq!(with_latency["E"]["E2ELatency"].as_array().unwrap().len(), 2);
        assert!(with_latency["E"].get("audioE2ELatency").is_none());
        let element = idle.element_stats(
            "E",
            Some(MediaType::Video),
            ctx(START + 10_000, true, Dialect::V7),
            false,
        );
        assert_eq!(element["E"]["type"], "element");
        assert_eq!(element["E"]["inputLatency"].as_array().unwrap().len(), 1);
        let v7_stream = one(
            &media(MediaProfile::healthy()).rtp_stats("E", Some(MediaType::Audio), v7(START)),
            "outboundrtp",
        );
        assert!(v7_stream.get("timestamp").is_none());
    }

    #[test]
    fn dialect_6_shapes() {
        let now = START + 10_000;
        let v6 = media(MediaProfile::healthy()).rtp_stats(
            "E",
            Some(MediaType::Audio),
            ctx(now, true, Dialect::V6),
        );
        let endpoint = &v6["E"];
        assert_eq!(endpoint["__type__"], "EndpointStats");
        assert_eq!(endpoint["timestamp"], now / 1000);
        assert_eq!(endpoint["timestampMillis"], now);
        assert!(endpoint["audioE2ELatency"].as_f64().unwrap() > 1e6);
        assert_eq!(endpoint["videoE2ELatency"], 0, "not measured: 0");
        assert_eq!(
            endpoint["audioE2ELatency"],
            endpoint["E2ELatency"][0]["avg"]
        );
        assert!(endpoint["inputAudioLatency"].as_f64().unwrap() > 1e5);
        for kind in ["inboundrtp", "outboundrtp"] {
            let stream = one(&v6, kind);
            assert_eq!(stream["timestamp"], now / 1000, "{kind}");
            assert_eq!(stream["timestampMillis"], now, "{kind}");
        }
        let element = media(MediaProfile::default()).element_stats(
            "P",
            None,
            ctx(now, true, Dialect::V6),
            false,
        );
        assert!(element["P"]["inputVideoLatency"].as_f64().unwrap() > 1e6);
        assert!(element["P"].get("audioE2ELatency").is_none());
    }

    #[test]
    fn totals_equal_the_sum_of_the_entries() {
        let m = media(MediaProfile {
            duplicates: 0.02,
            ssrc_change_every: Some(secs(45)),
            pause_every: Some(secs(50)),
            ..MediaProfile::healthy()
        });
        for t in [0, 1_000, 33_333, 120_000, 500_000] {
            let mut totals = empty_totals();
            m.add_rtp_totals(START + t, &mut totals);
            let mut summed = empty_totals();
            for media_type in [MediaType::Audio, MediaType::Video] {
                let stats = m.rtp_stats("E", Some(media_type), v7(START + t));
                for (kind, dir, bytes, packets) in [
                    ("inboundrtp", "inbound", "bytesReceived", "packetsReceived"),
                    ("outboundrtp", "outbound", "bytesSent", "packetsSent"),
                ] {
                    let sum = summed
                        .get_mut(&(media_type.lower().to_owned(), dir.to_owned()))
                        .unwrap();
                    for e in entries(&stats, kind) {
                        sum.bytes += e[bytes].as_u64().unwrap();
                        sum.packets += e[packets].as_u64().unwrap();
                        sum.packets_lost += e["packetsLost"].as_i64().unwrap();
                        sum.nacks += e["nackCount"].as_u64().unwrap();
                        sum.plis += e["pliCount"].as_u64().unwrap();
                        sum.firs += e["firCount"].as_u64().unwrap();
                    }
                }
            }
            assert_eq!(totals, summed, "at {t}");
        }
    }

    #[test]
    fn ice_outcomes() {
        let cases = [
            (
                IceOutcome::None,
                LocalCandidate::Host,
                None,
                None,
                "DISCONNECTED",
            ),
            (
                IceOutcome::Failed,
                LocalCandidate::Host,
                Some("FAILED"),
                None,
                "DISCONNECTED",
            ),
            (
                IceOutcome::Checking,
                LocalCandidate::Host,
                Some("CONNECTING"),
                None,
                "DISCONNECTED",
            ),
            (
                IceOutcome::Host,
                LocalCandidate::Host,
                Some("READY"),
                Some(("host", "host")),
                "CONNECTED",
            ),
            (
                IceOutcome::Srflx,
                LocalCandidate::Srflx,
                Some("READY"),
                Some(("srflx", "srflx")),
                "CONNECTED",
            ),
            (
                IceOutcome::Prflx,
                LocalCandidate::Host,
                Some("READY"),
                Some(("host", "prflx")),
                "CONNECTED",
            ),
            (
                IceOutcome::Relay,
                LocalCandidate::Host,
                Some("READY"),
                Some(("host", "relay")),
                "CONNECTED",
            ),
            (
                IceOutcome::Host,
                LocalCandidate::Relay,
                Some("READY"),
                Some(("relay", "host")),
                "CONNECTED",
            ),
        ];
        for (ice, ice_local, state, pair, conn) in cases {
            let m = media(MediaProfile {
                ice,
                ice_local,
                ..MediaProfile::healthy()
            });
            let pairs = m.ice_candidate_pairs(Dialect::V7);
            let got = pairs.get(0).map(|p| {
                let typ = |k: &str| {
                    let c = p[k].as_str().unwrap().to_owned();
                    c.split(" typ ")
                        .nth(1)
                        .unwrap()
                        .split(' ')
                        .next()
                        .unwrap()
                        .to_owned()
                };
                (typ("localCandidate"), typ("remoteCandidate"))
            });
            let want = pair.map(|(l, r)| (l.to_owned(), r.to_owned()));
            assert_eq!(got, want, "{ice:?}/{ice_local:?}");
            assert_eq!(
                m.ice_connection_state()[0]["state"].as_str(),
                state,
                "{ice:?}"
            );
            assert_eq!(m.connection_state(), conn, "{ice:?}");
            let media_flows = m.flowing_in(MediaType::Video, START + 1_000);
            assert_eq!(media_flows, ice.lets_media_through(), "{ice:?}");
        }
        let v6 = media(MediaProfile::healthy()).ice_candidate_pairs(Dialect::V6);
        assert_eq!(v6[0]["streamID"], "1");
        let relay = media(MediaProfile {
            ice_local: LocalCandidate::Relay,
            ..MediaProfile::healthy()
        });
        assert_eq!(relay.local_candidates().len(), 3, "host, srflx, relay");
    }
}
