//! Per-cycle aggregation of element readings into what the media families show: counts of elements
//! by state per scope, and the observations the stream histograms are built from. Computed once per
//! poll cycle by the poller, so a scrape only formats (docs/architecture.md "One poll cycle": no
//! work at scrape time). Pure.

use std::collections::BTreeMap;

use crate::analysis::model::{Direction, ElementReading, Flow, Media, Scope};
use crate::analysis::quality;
use crate::kurento::kinds::ElementKind;

/// The state families: elements counted by (scope, label values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StateFamily {
    /// (media, "in"|"out")
    Flowing,
    /// (media)
    Transcoding,
    /// (state)
    MediaState,
    /// (state)
    ConnectionState,
    /// (state)
    IceState,
    /// (candidate type)
    Candidates,
    /// (media): WebRTC endpoints whose media flows out into the pipeline: their peer sends media to
    /// KMS (publishers). KMS names flows from the pipeline's side (docs/kms-protocol.md §10).
    Sending,
    /// (media): WebRTC endpoints with media flowing in from the pipeline: KMS sends it on to
    /// their peer (subscribers).
    Receiving,
}

/// The observation families: one value per live stream (or latency entry), by label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Observed {
    /// Seconds, inbound; (media).
    Jitter,
    /// Seconds, outbound, 0 ("no receiver report yet") left out; (media).
    RoundTrip,
    /// Ratio 0–1; (media, direction).
    FractionLost,
    /// Bytes/s, zero left out; (media, direction).
    Remb,
    /// Bytes/s, outbound; (media).
    TargetRate,
    /// Seconds; (media).
    E2eLatency,
    /// Seconds; (media).
    InputLatency,
    /// MOS 1–4.5 of scored streams, both directions (`quality`); (media).
    QualityMos,
}

/// Element counts by (scope, label values).
pub type Counts = BTreeMap<(Scope, Vec<String>), u64>;

/// The aggregates of one cycle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaSummary {
    pub states: BTreeMap<StateFamily, Counts>,
    /// Observations by label values (histograms stay per KMS at every detail level), each list
    /// sorted ascending so a render finds bucket counts by binary search instead of a pass
    /// over every stream. NaN is never observed.
    pub observations: BTreeMap<Observed, BTreeMap<Vec<&'static str>, Vec<f64>>>,
    /// Players and recorders by (element type, state).
    pub uri_endpoints: BTreeMap<(String, String), u64>,
    /// True when every element is in the unlabelled scope (aggregated detail).
    pub aggregated: bool,
}

impl MediaSummary {
    pub fn of(readings: &[ElementReading]) -> MediaSummary {
        let mut summary = MediaSummary {
            aggregated: readings.iter().all(|r| r.scope.pipeline.is_none()),
            ..MediaSummary::default()
        };
        let mut tally = StateTally::default();
        for r in readings {
            summary.count_states(&mut tally, r);
            summary.observe_streams(r);
        }
        summary.states = tally.into_counts();
        for values in summary
            .observations
            .values_mut()
            .flat_map(|o| o.values_mut())
        {
            values.sort_unstable_by(f64::total_cmp);
        }
        summary
    }

    fn observe(&mut self, family: Observed, labels: &[&'static str], value: f64) {
        if value.is_nan() {
            return;
        }
        // Looked up by reference: a key is built once per cycle, not once per stream.
        let by_labels = self.observations.entry(family).or_default();
        match by_labels.get_mut(labels) {
            Some(values) => values.push(value),
            None => {
                by_labels.insert(labels.to_vec(), vec![value]);
            }
        }
    }

    fn count_states(&mut self, tally: &mut StateTally, r: &ElementReading) {
        let webrtc = ElementKind::of(&r.element_type) == ElementKind::WebRtc;
        for m in Media::ALL {
            let i = m as usize;
            // isMediaFlowingIn: media arrives from the pipeline at the element's sink, so a
            // WebRTC endpoint flowing in sends it to its peer (a subscriber).
            if r.flowing_in[i] == Some(true) {
                tally.count(
                    StateFamily::Flowing,
                    &r.scope,
                    &[m.label(), Flow::In.label()],
                );
                if webrtc {
                    tally.count(StateFamily::Receiving, &r.scope, &[m.label()]);
                }
            }
            // isMediaFlowingOut: the element pushes media into the pipeline, so a WebRTC
            // endpoint flowing out gets it from its peer (a publisher).
            if r.flowing_out[i] == Some(true) {
                tally.count(
                    StateFamily::Flowing,
                    &r.scope,
                    &[m.label(), Flow::Out.label()],
                );
                if webrtc {
                    tally.count(StateFamily::Sending, &r.scope, &[m.label()]);
                }
            }
            if r.transcoding[i] == Some(true) {
                tally.count(StateFamily::Transcoding, &r.scope, &[m.label()]);
            }
        }
        if let Some(state) = r.media_state {
            tally.count(StateFamily::MediaState, &r.scope, &[state.label()]);
        }
        if let Some(state) = r.connection_state {
            tally.count(StateFamily::ConnectionState, &r.scope, &[state.label()]);
        }
        if let Some(state) = r.ice_state {
            tally.count(StateFamily::IceState, &r.scope, &[state.label()]);
        }
        if let Some(c) = r.selected_candidate {
            tally.count(StateFamily::Candidates, &r.scope, &[c.label()]);
        }
        if let Some(state) = r.uri_state {
            *self
                .uri_endpoints
                .entry((r.element_type.clone(), state.label().to_owned()))
                .or_default() += 1;
        }
    }

    fn observe_streams(&mut self, r: &ElementReading) {
        for s in &r.streams {
            let (Some(media), Some(direction)) = (s.media, s.direction) else {
                continue;
            };
            let (m, d) = (media.label(), direction.label());
            match direction {
                Direction::Inbound => {
                    if let Some(jitter) = s.jitter_seconds {
                        self.observe(Observed::Jitter, &[m], jitter);
                    }
                }
                Direction::Outbound => {
                    if let Some(rtt) = s.round_trip_seconds.filter(|v| *v > 0.0) {
                        self.observe(Observed::RoundTrip, &[m], rtt);
                    }
                    if let Some(bps) = s.target_bitrate_bps {
                        self.observe(Observed::TargetRate, &[m], bps / 8.0);
                    }
                }
            }
            if let Some(raw) = s.fraction_lost {
                let ratio = (raw / 256.0).clamp(0.0, 1.0);
                self.observe(Observed::FractionLost, &[m, d], ratio);
            }
            if s.remb_bps > 0 {
                self.observe(Observed::Remb, &[m, d], s.remb_bps as f64 / 8.0);
            }
        }
        for score in quality::stream_scores(r) {
            self.observe(Observed::QualityMos, &[score.media.label()], score.mos);
        }
        for (media, seconds) in &r.e2e_latency {
            self.observe(Observed::E2eLatency, &[media.label()], *seconds);
        }
        for (media, seconds) in &r.input_latency {
            self.observe(Observed::InputLatency, &[media.label()], *seconds);
        }
    }
}

/// Element counts as a cycle adds them up: by family, scope and label values, each level looked
/// up by reference, so that counting an element allocates nothing once its key is known.
#[derive(Default)]
struct StateTally(BTreeMap<StateFamily, BTreeMap<Scope, BTreeMap<Vec<&'static str>, u64>>>);

impl StateTally {
    fn count(&mut self, family: StateFamily, scope: &Scope, labels: &[&'static str]) {
        let by_scope = self.0.entry(family).or_default();
        let by_labels = match by_scope.get_mut(scope) {
            Some(by_labels) => by_labels,
            None => by_scope.entry(scope.clone()).or_default(),
        };
        match by_labels.get_mut(labels) {
            Some(n) => *n += 1,
            None => {
                by_labels.insert(labels.to_vec(), 1);
            }
        }
    }

    fn into_counts(self) -> BTreeMap<StateFamily, Counts> {
        self.0
            .into_iter()
            .map(|(family, by_scope)| {
                let counts = by_scope
                    .into_iter()
                    .flat_map(|(scope, by_labels)| {
                        by_labels.into_iter().map(move |(labels, n)| {
                            let labels = labels.iter().map(|l| (*l).to_owned()).collect();
                            ((scope.clone(), labels), n)
                        })
                    })
                    .collect();
                (family, counts)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::IceState;
    use crate::analysis::model::RtpStream;

    #[test]
    fn counts_states_per_scope_and_converts_units() {
        let room = Scope {
            pipeline: Some("room".into()),
            element: None,
        };
        let reading = ElementReading {
            element_type: "WebRtcEndpoint".into(),
            scope: room.clone(),
            flowing_in: [Some(true), Some(false)],
            flowing_out: [None, Some(true)],
            transcoding: [Some(false), Some(true)],
            ice_state: Some(IceState::Ready),
            streams: vec![
                RtpStream {
                    media: Some(Media::Video),
                    direction: Some(Direction::Outbound),
                    fraction_lost: Some(64.0),
                    round_trip_seconds: Some(0.0),
                    remb_bps: 800_000,
                    target_bitrate_bps: Some(1_600_000.0),
                    ..RtpStream::default()
                },
                RtpStream {
                    media: Some(Media::Audio),
                    direction: Some(Direction::Inbound),
                    jitter_seconds: Some(0.004),
                    ..RtpStream::default()
                },
            ],
            ..ElementReading::default()
        };
        let s = MediaSummary::of(&[reading.clone(), reading]);
        assert!(!s.aggregated);
        let flowing = &s.states[&StateFamily::Flowing];
        assert_eq!(
            flowing[&(room.clone(), vec!["audio".into(), "in".into()])],
            2
        );
        assert_eq!(
            flowing[&(room.clone(), vec!["video".into(), "out".into()])],
            2
        );
        assert_eq!(flowing.len(), 2, "false and unknown flows are not counted");
        // Audio flows in (from the pipeline, on to the peer): receiving; video flows out
        // (from the peer into the pipeline): sending.
        assert_eq!(
            s.states[&StateFamily::Receiving],
            Counts::from([((room.clone(), vec!["audio".into()]), 2)])
        );
        assert_eq!(
            s.states[&StateFamily::Sending],
            Counts::from([((room.clone(), vec!["video".into()]), 2)])
        );
        assert_eq!(s.states[&StateFamily::Transcoding].len(), 1);
        let obs = &s.observations;
        assert_eq!(
            obs[&Observed::FractionLost][&vec!["video", "outbound"]],
            vec![0.25, 0.25]
        );
        assert_eq!(
            obs[&Observed::Remb][&vec!["video", "outbound"]],
            vec![100_000.0; 2]
        );
        assert_eq!(
            obs[&Observed::TargetRate][&vec!["video"]],
            vec![200_000.0; 2]
        );
        assert_eq!(obs[&Observed::Jitter][&vec!["audio"]], vec![0.004; 2]);
        assert!(
            !obs.contains_key(&Observed::RoundTrip),
            "RTT 0 means no report yet"
        );
        // Outbound video has no receiver report yet, inbound audio no loss figure: no scores.
        assert!(!obs.contains_key(&Observed::QualityMos));
    }

    #[test]
    fn scored_streams_are_observed_per_media() {
        let lossless = |direction, rtt| RtpStream {
            media: Some(Media::Audio),
            direction: Some(direction),
            fraction_lost: Some(0.0),
            round_trip_seconds: rtt,
            ..RtpStream::default()
        };
        let reading = ElementReading {
            element_type: "WebRtcEndpoint".into(),
            streams: vec![
                lossless(Direction::Inbound, None),
                lossless(Direction::Outbound, Some(0.1)),
            ],
            ..ElementReading::default()
        };
        let s = MediaSummary::of(&[reading]);
        let mos = &s.observations[&Observed::QualityMos];
        assert_eq!(mos.keys().collect::<Vec<_>>(), [&vec!["audio"]]);
        // Both directions: 50 ms one way + 10 ms codec delay, no jitter, no loss.
        let want = crate::analysis::quality::mos_of_r(93.2 - 60.0 / 40.0);
        assert_eq!(mos[&vec!["audio"]], vec![want, want]);
    }

    fn endpoint(element_type: &str, flowing_in: bool, flowing_out: bool) -> ElementReading {
        ElementReading {
            element_type: element_type.into(),
            flowing_in: [Some(flowing_in); 2],
            flowing_out: [Some(flowing_out); 2],
            ..ElementReading::default()
        }
    }

    fn count(s: &MediaSummary, family: StateFamily, labels: &[&str]) -> u64 {
        let key = (
            Scope::default(),
            labels.iter().map(|l| (*l).to_owned()).collect::<Vec<_>>(),
        );
        s.states
            .get(&family)
            .and_then(|c| c.get(&key))
            .copied()
            .unwrap_or(0)
    }

    #[test]
    fn publishers_flow_out_and_subscribers_flow_in() {
        // KMS names flows from the pipeline's side (docs/kms-protocol.md §10): a publisher's
        // endpoint pushes what its browser sends into the pipeline (flowing out); a subscriber's
        // takes media from the pipeline and sends it to its browser (flowing in).
        let publisher = ElementReading {
            element_type: "WebRtcEndpoint".into(),
            flowing_in: [Some(false), None],
            flowing_out: [Some(true), None],
            ..ElementReading::default()
        };
        let s = MediaSummary::of(std::slice::from_ref(&publisher));
        assert_eq!(count(&s, StateFamily::Sending, &["audio"]), 1);
        assert_eq!(count(&s, StateFamily::Receiving, &["audio"]), 0);
        assert_eq!(count(&s, StateFamily::Flowing, &["audio", "out"]), 1);
        assert_eq!(count(&s, StateFamily::Flowing, &["audio", "in"]), 0);

        // One presenter and five viewers: one publisher, five subscribers.
        let mut room = vec![endpoint("WebRtcEndpoint", false, true)];
        room.extend((0..5).map(|_| endpoint("WebRtcEndpoint", true, false)));
        let s = MediaSummary::of(&room);
        for media in ["audio", "video"] {
            assert_eq!(count(&s, StateFamily::Sending, &[media]), 1, "{media}");
            assert_eq!(count(&s, StateFamily::Receiving, &[media]), 5, "{media}");
        }

        // A loopback endpoint (hello world) is both; players and recorders are neither,
        // though they flow out and in respectively.
        let others = [
            endpoint("WebRtcEndpoint", true, true),
            endpoint("PlayerEndpoint", false, true),
            endpoint("RecorderEndpoint", true, false),
        ];
        let s = MediaSummary::of(&others);
        assert_eq!(count(&s, StateFamily::Sending, &["video"]), 1);
        assert_eq!(count(&s, StateFamily::Receiving, &["video"]), 1);
        assert_eq!(count(&s, StateFamily::Flowing, &["video", "out"]), 2);
        assert_eq!(count(&s, StateFamily::Flowing, &["video", "in"]), 2);
    }
}
