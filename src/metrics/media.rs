//! The media families: RTP counters, stream histograms and state gauges, formatted from the
//! snapshot's per-cycle summary and counter totals (no aggregation at scrape time). At
//! aggregated detail, state families list every known state (0 when none), so alerts see zeros
//! rather than absent series; at pipeline and element detail only states present are listed
//! (the series count stays proportional to the load).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::catalogue::{self as cat, MetricDef};
use super::family::{Families, Value};
use super::histogram::Histogram;
use super::labels::{
    Candidate, ElementType, FromValues, Kms, Media as MediaLabel, MediaDirection, Reason, Scoped,
    State,
};
use crate::analysis::model::{Connectivity, Flow, IceState, Media, RtpTotals, Scope, UriState};
use crate::analysis::snapshot::TargetSnapshot;
use crate::analysis::summary::{Counts, Observed, StateFamily};
use crate::analysis::zombie::ZombieReport;
use crate::kurento::kinds::ElementKind;
use crate::kurento::stats::CandidateType;

/// Writes a state family from each target's summary, the family's own labels (`L`) from the
/// summary's values. At aggregated detail every `known` combination is listed (0 when no
/// element is in it).
fn state_family<L: FromValues>(
    f: &mut Families,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    known: &[&[&str]],
    state: StateFamily,
) -> fmt::Result {
    f.family(def, |family| {
        for snap in snaps {
            let Some(summary) = snap.media.as_ref().map(|m| &m.summary) else {
                continue;
            };
            let mut counts = match summary.states.get(&state) {
                Some(counts) => Cow::Borrowed(counts),
                None => Cow::Owned(Counts::new()),
            };
            if summary.aggregated {
                // Unscoped: a handful of entries, cheap to copy.
                let counts = counts.to_mut();
                for extra in known {
                    let key = (
                        Scope::default(),
                        extra.iter().map(|e| (*e).to_owned()).collect(),
                    );
                    counts.entry(key).or_default();
                }
            }
            for ((scope, extra), n) in counts.iter() {
                let own = L::from_values(extra);
                debug_assert!(own.is_some(), "{}: labels {extra:?}", def.family);
                let Some(own) = own else { continue };
                let kms = &snap.kms;
                family.sample(&(Scoped { kms, scope }, own), &Value::Int(*n))?;
            }
        }
        Ok(())
    })
}

fn rtp_counter(
    f: &mut Families,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    value: impl Fn(&RtpTotals) -> u64,
) -> fmt::Result {
    f.family(def, |family| {
        for snap in snaps {
            let Some(media) = &snap.media else {
                continue;
            };
            for ((scope, m, d), totals) in &media.rtp_totals {
                let labels = (
                    Scoped {
                        kms: &snap.kms,
                        scope,
                    },
                    MediaDirection {
                        media: m.label(),
                        direction: d.label(),
                    },
                );
                family.sample(&labels, &Value::Int(value(totals)))?;
            }
        }
        Ok(())
    })
}

/// A histogram family from each target's observations, the family's own labels (`L`) from the
/// observation keys.
fn stream_histogram<L: FromValues>(
    f: &mut Families,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    bounds: &[f64],
    observed: Observed,
) -> fmt::Result {
    f.family(def, |family| {
        for snap in snaps {
            let Some(observations) = snap
                .media
                .as_ref()
                .and_then(|m| m.summary.observations.get(&observed))
            else {
                continue;
            };
            for (extra, values) in observations {
                let own = L::from_values(extra);
                debug_assert!(own.is_some(), "{}: labels {extra:?}", def.family);
                let Some(own) = own else { continue };
                let histogram = Histogram::of_sorted(values, bounds);
                let labels = (Kms { kms: &snap.kms }, own);
                family.sample(&labels, &Value::Histogram(histogram))?;
            }
        }
        Ok(())
    })
}

/// Label value lists of one-label families, from the model's closed sets.
fn single_labels<const N: usize>(labels: [&'static str; N]) -> [[&'static str; 1]; N] {
    labels.map(|l| [l])
}

fn as_slices<'a, const K: usize>(values: &'a [[&'static str; K]]) -> Vec<&'a [&'static str]> {
    values.iter().map(|v| &v[..]).collect()
}

/// Writes every media family.
pub(super) fn write(f: &mut Families, snaps: &[Arc<TargetSnapshot>]) -> fmt::Result {
    let media = single_labels(Media::ALL.map(Media::label));
    let media_only = as_slices(&media);
    rtp_counter(f, &cat::RTP_BYTES, snaps, |t| t.bytes)?;
    rtp_counter(f, &cat::RTP_PACKETS, snaps, |t| t.packets)?;
    rtp_counter(f, &cat::RTP_PACKETS_LOST, snaps, |t| t.packets_lost)?;
    rtp_counter(f, &cat::RTP_NACKS, snaps, |t| t.nacks)?;
    rtp_counter(f, &cat::RTP_PLIS, snaps, |t| t.plis)?;
    rtp_counter(f, &cat::RTP_FIRS, snaps, |t| t.firs)?;

    let (jitter, rtt) = (Observed::Jitter, Observed::RoundTrip);
    stream_histogram::<MediaLabel>(f, &cat::RTP_JITTER, snaps, cat::JITTER_BUCKETS, jitter)?;
    stream_histogram::<MediaLabel>(f, &cat::RTP_RTT, snaps, cat::RTT_BUCKETS, rtt)?;
    stream_histogram::<MediaDirection>(
        f,
        &cat::RTP_FRACTION_LOST,
        snaps,
        cat::FRACTION_LOST_BUCKETS,
        Observed::FractionLost,
    )?;
    stream_histogram::<MediaDirection>(
        f,
        &cat::RTP_REMB,
        snaps,
        cat::RATE_BUCKETS,
        Observed::Remb,
    )?;
    stream_histogram::<MediaLabel>(
        f,
        &cat::RTP_TARGET_RATE,
        snaps,
        cat::RATE_BUCKETS,
        Observed::TargetRate,
    )?;
    stream_histogram::<MediaLabel>(
        f,
        &cat::E2E_LATENCY,
        snaps,
        cat::LATENCY_BUCKETS,
        Observed::E2eLatency,
    )?;
    stream_histogram::<MediaLabel>(
        f,
        &cat::INPUT_LATENCY,
        snaps,
        cat::LATENCY_BUCKETS,
        Observed::InputLatency,
    )?;
    stream_histogram::<MediaLabel>(
        f,
        &cat::RTP_QUALITY_MOS,
        snaps,
        cat::MOS_BUCKETS,
        Observed::QualityMos,
    )?;

    let flowing_known: Vec<[&str; 2]> = Media::ALL
        .iter()
        .flat_map(|m| Flow::ALL.map(|d| [m.label(), d.label()]))
        .collect();
    let flowing_known = as_slices(&flowing_known);
    state_family::<MediaDirection>(
        f,
        &cat::MEDIA_FLOWING,
        snaps,
        &flowing_known,
        StateFamily::Flowing,
    )?;
    state_family::<MediaLabel>(
        f,
        &cat::TRANSCODING,
        snaps,
        &media_only,
        StateFamily::Transcoding,
    )?;
    transcoding_transitions(f, snaps)?;

    let connectivity = single_labels(Connectivity::ALL.map(Connectivity::label));
    let two_states = as_slices(&connectivity);
    state_family::<State>(
        f,
        &cat::RTP_MEDIA_STATE,
        snaps,
        &two_states,
        StateFamily::MediaState,
    )?;
    state_family::<State>(
        f,
        &cat::RTP_CONNECTION_STATE,
        snaps,
        &two_states,
        StateFamily::ConnectionState,
    )?;
    let ice = single_labels(IceState::ALL.map(IceState::label));
    let ice_known = as_slices(&ice);
    state_family::<State>(f, &cat::ICE_STATE, snaps, &ice_known, StateFamily::IceState)?;
    let candidates = single_labels(CandidateType::ALL.map(CandidateType::label));
    let candidate_known = as_slices(&candidates);
    state_family::<Candidate>(
        f,
        &cat::SELECTED_CANDIDATES,
        snaps,
        &candidate_known,
        StateFamily::Candidates,
    )?;
    state_family::<MediaLabel>(
        f,
        &cat::WEBRTC_SENDING,
        snaps,
        &media_only,
        StateFamily::Sending,
    )?;
    state_family::<MediaLabel>(
        f,
        &cat::WEBRTC_RECEIVING,
        snaps,
        &media_only,
        StateFamily::Receiving,
    )?;
    uri_endpoints(f, snaps)?;

    f.family(&cat::SERIES_DROPPED, |family| {
        for snap in snaps {
            if let Some(media) = &snap.media {
                let n = media.series_dropped_total;
                family.sample(&Kms { kms: &snap.kms }, &Value::Int(n))?;
            }
        }
        Ok(())
    })?;
    zombies(f, snaps)
}

/// Elements seen starting to transcode, every media listed for targets with media readings.
fn transcoding_transitions(f: &mut Families, snaps: &[Arc<TargetSnapshot>]) -> fmt::Result {
    f.family(&cat::TRANSCODING_TRANSITIONS, |family| {
        for snap in snaps {
            let Some(media) = &snap.media else {
                continue;
            };
            for m in Media::ALL {
                let n = media.transcoding_transitions.get(&m).copied().unwrap_or(0);
                let labels = (Kms { kms: &snap.kms }, MediaLabel { media: m.label() });
                family.sample(&labels, &Value::Int(n))?;
            }
        }
        Ok(())
    })
}

/// Zombie pipelines by reason (every reason listed) and zombie elements by type and reason.
fn zombies(f: &mut Families, snaps: &[Arc<TargetSnapshot>]) -> fmt::Result {
    let reports: Vec<(&str, &ZombieReport)> = snaps
        .iter()
        .filter_map(|s| s.zombies.as_ref().map(|z| (s.kms.as_str(), z)))
        .collect();
    f.family(&cat::ZOMBIE_PIPELINES, |family| {
        for (kms, report) in &reports {
            for (reason, n) in report.pipelines_by_reason() {
                let labels = (
                    Kms { kms },
                    Reason {
                        reason: reason.label(),
                    },
                );
                family.sample(&labels, &Value::Int(n))?;
            }
        }
        Ok(())
    })?;
    f.family(&cat::ZOMBIE_ELEMENTS, |family| {
        for (kms, report) in &reports {
            for ((ty, reason), n) in report.elements_by_type_and_reason() {
                let labels = (
                    Kms { kms },
                    (
                        ElementType { element_type: &ty },
                        Reason {
                            reason: reason.label(),
                        },
                    ),
                );
                family.sample(&labels, &Value::Int(n))?;
            }
        }
        Ok(())
    })
}

/// (element type, state) -> players or recorders in that state.
type UriCounts<'a> = BTreeMap<(&'a str, &'a str), u64>;

/// Players and recorders by state, per KMS (not scoped: a handful per pipeline at most).
fn uri_endpoints(f: &mut Families, snaps: &[Arc<TargetSnapshot>]) -> fmt::Result {
    f.family(&cat::URI_ENDPOINTS, |family| {
        for snap in snaps {
            let Some(media) = snap.media.as_ref() else {
                continue;
            };
            let mut counts = UriCounts::new();
            for ty in ElementKind::URI_CLASSES {
                for state in UriState::ALL {
                    counts.insert((ty, state.label()), 0);
                }
            }
            for ((ty, state), n) in &media.summary.uri_endpoints {
                *counts.entry((ty.as_str(), state.as_str())).or_default() += n;
            }
            for ((ty, state), n) in counts {
                let labels = (
                    Kms { kms: &snap.kms },
                    (ElementType { element_type: ty }, State { state }),
                );
                family.sample(&labels, &Value::Int(n))?;
            }
        }
        Ok(())
    })
}
