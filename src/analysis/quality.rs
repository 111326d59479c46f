//! Call quality: a MOS (mean opinion score, 1–4.5) estimated per RTP stream with the ITU-T G.107
//! E-model in the simplified form VoIP monitoring tools use, from what KMS reports (README "Call
//! quality"). Pure: readings in, scores out.
//!
//! The E-model rates a network path for narrowband speech, so it is audio-centric; video streams
//! get the same scale (the same loss weight of 2.5 R points per percent) as a comparable signal,
//! not as a video quality measure.

use crate::analysis::model::{Direction, ElementReading, Media, RtpStream};

/// What the E-model needs of one stream, in the exporter's base units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct QualityInputs {
    /// Seconds.
    pub round_trip_seconds: f64,
    /// Seconds.
    pub jitter_seconds: f64,
    /// Ratio 0–1 (values above 1 count as 1).
    pub loss_ratio: f64,
}

/// The R factor of a perfect path before delay (G.107's default R0 less the default
/// impairments, as the simplified form uses it).
const R_BASE: f64 = 93.2;
/// R points lost per percent of packets lost.
const LOSS_WEIGHT: f64 = 2.5;

/// The MOS of a path, or `None` when an input is NaN or negative: KMS never reports such
/// values, so they are not measurements and get no score rather than a made-up one. `+∞` is a
/// measurement of the worst kind (MOS 1).
pub(crate) fn mos(inputs: QualityInputs) -> Option<f64> {
    let QualityInputs {
        round_trip_seconds: rtt,
        jitter_seconds: jitter,
        loss_ratio: loss,
    } = inputs;
    if [rtt, jitter, loss].iter().any(|v| v.is_nan() || *v < 0.0) {
        return None;
    }
    // Effective latency in ms: one-way delay, jitter buffer (twice the jitter), codec delay.
    let latency_ms = rtt * 1000.0 / 2.0 + 2.0 * jitter * 1000.0 + 10.0;
    let delay_impairment = if latency_ms < 160.0 {
        latency_ms / 40.0
    } else {
        (latency_ms - 120.0) / 10.0
    };
    let r = R_BASE - delay_impairment - LOSS_WEIGHT * loss.min(1.0) * 100.0;
    Some(mos_of_r(r))
}

/// G.107 Annex B's R-to-MOS mapping, R clamped to 0–100 first (G.107 gives MOS 1 below R 0
/// and 4.5 above R 100).
pub(crate) fn mos_of_r(r: f64) -> f64 {
    let r = r.clamp(0.0, 100.0);
    (1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)).clamp(1.0, 4.5)
}

/// One scored stream of an endpoint.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StreamScore {
    pub media: Media,
    pub direction: Direction,
    pub stats_id: String,
    pub mos: f64,
}

/// The quality inputs of `stream`, an RTP stream of `reading`, or `None` when KMS gave no loss
/// figure for it. The pairing (README "Call quality"):
///
/// - inbound (peer → KMS): its own fraction lost and jitter; the RTT of the same endpoint's
///   outbound stream of that media (the same peer and path), the largest if several, else 0;
/// - outbound (KMS → peer): the fraction lost and RTT from the peer's receiver reports, scored
///   only once a report arrived (RTT 0 means none yet, so its loss is no measurement either);
///   KMS does not report the peer's jitter, so it counts as 0 unless the reading has one.
pub(crate) fn inputs_of(reading: &ElementReading, stream: &RtpStream) -> Option<QualityInputs> {
    let loss_ratio = stream.fraction_lost? / 256.0;
    let jitter_seconds = stream.jitter_seconds.unwrap_or(0.0);
    let round_trip_seconds = match stream.direction? {
        Direction::Inbound => reading
            .streams
            .iter()
            .filter(|s| s.media == stream.media && s.direction == Some(Direction::Outbound))
            .filter_map(|s| s.round_trip_seconds)
            .filter(|rtt| *rtt > 0.0)
            .fold(0.0, f64::max),
        Direction::Outbound => stream.round_trip_seconds.filter(|rtt| *rtt > 0.0)?,
    };
    Some(QualityInputs {
        round_trip_seconds,
        jitter_seconds,
        loss_ratio,
    })
}

/// The MOS of every stream of `reading` that can be scored (media and direction known, a loss
/// figure, valid inputs), in the reading's order.
pub(crate) fn stream_scores(reading: &ElementReading) -> Vec<StreamScore> {
    reading
        .streams
        .iter()
        .filter_map(|s| {
            Some(StreamScore {
                media: s.media?,
                direction: s.direction?,
                stats_id: s.stats_id.clone(),
                mos: mos(inputs_of(reading, s)?)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64) -> bool {
        (got - want).abs() < 1e-9
    }

    #[test]
    fn r_to_mos_matches_g107_annex_b() {
        // ITU-T G.107 (06/2015) Annex B, formula B-4: MOS = 1 + 0.035 R + 7e-6 R (R-60)(100-R)
        // for 0 < R < 100. Exact values of the formula; the commonly quoted rounded pairs are
        // 93.2 → 4.41, 80 → 4.02, 70 → 3.6, 60 → 3.1, 50 → 2.58.
        let cases = [
            (100.0, 4.5),
            (93.2, 4.409_285_824),
            (90.0, 4.339),
            (80.0, 4.024),
            (70.0, 3.597),
            (60.0, 3.1),
            (50.0, 2.575),
            (0.0, 1.0),
            // The cubic dips below 1 for R under about 6.5 (R 3 gives 0.989): clamped.
            (3.0, 1.0),
            // Outside 0–100: G.107's MOS 1 and 4.5.
            (-20.0, 1.0),
            (120.0, 4.5),
        ];
        for (r, want) in cases {
            let got = mos_of_r(r);
            assert!((got - want).abs() < 1e-6, "R {r}: {got} vs {want}");
        }
    }

    fn inputs(rtt: f64, jitter: f64, loss: f64) -> QualityInputs {
        QualityInputs {
            round_trip_seconds: rtt,
            jitter_seconds: jitter,
            loss_ratio: loss,
        }
    }

    #[test]
    fn end_to_end_cases() {
        let cases = [
            // Perfect network: only the 10 ms codec delay, R 92.95.
            (inputs(0.0, 0.0, 0.0), mos_of_r(93.2 - 10.0 / 40.0)),
            // A good call: 40 ms RTT, 5 ms jitter → 40 ms latency, R 92.2, about 4.39.
            (inputs(0.04, 0.005, 0.0), mos_of_r(92.2)),
            // 5 % loss on a perfect path: R 92.95 − 12.5 = 80.45, about 4.04.
            (inputs(0.0, 0.0, 0.05), mos_of_r(80.45)),
            // 200 ms RTT: 110 ms latency, still on the gentle slope: R 90.45.
            (inputs(0.2, 0.0, 0.0), mos_of_r(90.45)),
            // 400 ms RTT and 20 ms jitter: 250 ms latency, past the 160 ms knee: R 80.2.
            (inputs(0.4, 0.02, 0.0), mos_of_r(80.2)),
            // 20 % loss with 300 ms RTT: 160 ms latency (the knee) → R 89.2 − 50 = 39.2.
            (inputs(0.3, 0.0, 0.2), mos_of_r(39.2)),
            // Total loss, and loss above 1 counted as 1: R below 0, MOS 1.
            (inputs(0.0, 0.0, 1.0), 1.0),
            (inputs(0.0, 0.0, 3.0), 1.0),
            // Infinite delay is the worst path, not an invalid one.
            (inputs(f64::INFINITY, 0.0, 0.0), 1.0),
        ];
        for (i, want) in cases {
            let got = mos(i).unwrap_or(f64::NAN);
            assert!(close(got, want), "{i:?}: {got} vs {want}");
        }
        let perfect = mos(inputs(0.0, 0.0, 0.0)).unwrap_or_default();
        assert!((4.40..4.41).contains(&perfect), "{perfect}");
        let lossy = mos(inputs(0.0, 0.0, 0.05)).unwrap_or_default();
        assert!((4.0..4.1).contains(&lossy), "{lossy}");
    }

    #[test]
    fn nan_and_negative_inputs_get_no_score() {
        for i in [
            inputs(f64::NAN, 0.0, 0.0),
            inputs(0.0, f64::NAN, 0.0),
            inputs(0.0, 0.0, f64::NAN),
            inputs(-0.1, 0.0, 0.0),
            inputs(0.0, -0.001, 0.0),
            inputs(0.0, 0.0, -0.5),
            inputs(f64::NEG_INFINITY, 0.0, 0.0),
        ] {
            assert_eq!(mos(i), None, "{i:?}");
        }
    }

    fn stream(media: Media, direction: Direction, id: &str) -> RtpStream {
        RtpStream {
            media: Some(media),
            direction: Some(direction),
            stats_id: id.into(),
            ..RtpStream::default()
        }
    }

    #[test]
    fn streams_are_paired_per_endpoint_and_media() {
        let (audio, video) = (Media::Audio, Media::Video);
        let (inb, out) = (Direction::Inbound, Direction::Outbound);
        let reading = ElementReading {
            streams: vec![
                // Audio in: 2 % loss (5/256 ≈ 1.95 %), 10 ms jitter; RTT from audio out.
                RtpStream {
                    fraction_lost: Some(5.0),
                    jitter_seconds: Some(0.01),
                    ..stream(audio, inb, "a-in")
                },
                RtpStream {
                    fraction_lost: Some(0.0),
                    round_trip_seconds: Some(0.1),
                    ..stream(audio, out, "a-out")
                },
                // Video in: the video out stream has no receiver report yet, so RTT 0.
                RtpStream {
                    fraction_lost: Some(0.0),
                    jitter_seconds: Some(0.002),
                    ..stream(video, inb, "v-in")
                },
                RtpStream {
                    fraction_lost: Some(0.0),
                    round_trip_seconds: Some(0.0),
                    ..stream(video, out, "v-out")
                },
                // No loss figure: no score.
                RtpStream {
                    jitter_seconds: Some(0.002),
                    ..stream(video, inb, "v-in-2")
                },
            ],
            ..ElementReading::default()
        };
        let by_id = |id: &str| {
            let s = reading.streams.iter().find(|s| s.stats_id == id);
            s.and_then(|s| inputs_of(&reading, s))
        };
        assert_eq!(by_id("a-in"), Some(inputs(0.1, 0.01, 5.0 / 256.0)));
        assert_eq!(by_id("a-out"), Some(inputs(0.1, 0.0, 0.0)));
        assert_eq!(by_id("v-in"), Some(inputs(0.0, 0.002, 0.0)));
        assert_eq!(by_id("v-out"), None, "no receiver report yet");
        assert_eq!(by_id("v-in-2"), None, "no loss figure");

        let scores = stream_scores(&reading);
        let ids: Vec<&str> = scores.iter().map(|s| s.stats_id.as_str()).collect();
        assert_eq!(ids, ["a-in", "a-out", "v-in"]);
        // Audio in: latency 50 + 20 + 10 = 80 ms → R 91.2 − 2.5 × 1.953125 = 86.317…
        let want = mos_of_r(93.2 - 2.0 - 2.5 * (5.0 / 256.0) * 100.0);
        assert!(close(scores[0].mos, want), "{scores:?}");
        assert_eq!(
            (scores[0].media, scores[0].direction),
            (Media::Audio, Direction::Inbound)
        );
    }

    #[test]
    fn inbound_takes_the_largest_rtt_of_its_media_and_unlabelled_streams_are_skipped() {
        let reading = ElementReading {
            streams: vec![
                RtpStream {
                    fraction_lost: Some(0.0),
                    jitter_seconds: Some(0.0),
                    ..stream(Media::Video, Direction::Inbound, "in")
                },
                RtpStream {
                    round_trip_seconds: Some(0.05),
                    ..stream(Media::Video, Direction::Outbound, "sim-low")
                },
                RtpStream {
                    round_trip_seconds: Some(0.2),
                    ..stream(Media::Video, Direction::Outbound, "sim-high")
                },
                // Another media's RTT is another RTP session: not used.
                RtpStream {
                    round_trip_seconds: Some(0.9),
                    ..stream(Media::Audio, Direction::Outbound, "audio")
                },
                RtpStream {
                    media: None,
                    fraction_lost: Some(0.0),
                    ..stream(Media::Audio, Direction::Inbound, "unknown")
                },
            ],
            ..ElementReading::default()
        };
        assert_eq!(
            inputs_of(&reading, &reading.streams[0]),
            Some(inputs(0.2, 0.0, 0.0))
        );
        let ids: Vec<String> = stream_scores(&reading)
            .into_iter()
            .map(|s| s.stats_id)
            .collect();
        assert_eq!(ids, ["in"], "outbound without loss figure, unknown media");
    }
}
