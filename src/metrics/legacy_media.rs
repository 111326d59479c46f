//! The media families: RTP counters, stream histograms and state gauges, formatted from the
//! snapshot's per-cycle summary and counter totals (no aggregation at scrape time). At aggregated detail, state families list
//! every known state (0 when none), so alerts see zeros rather than absent series; at pipeline
//! and element detail only states present are listed (the series count stays proportional to
//! the load).

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::encoding::DescriptorEncoder;

use super::catalogue::{self as cat, MetricDef};
use super::legacy_collector::{Histogram, Labels, Value, write_family};
use crate::kurento::stats::CandidateType;
use crate::model::{Media, RtpTotals, Scope, TargetSnapshot};
use crate::summary::{Counts, Observed, StateFamily};

/// The detail labels of a scope, in a fixed order.
fn scope_labels(scope: &Scope) -> Labels<'_> {
    let mut labels = Vec::new();
    if let Some(pipeline) = &scope.pipeline {
        labels.push(("pipeline", pipeline.as_str()));
    }
    if let Some((element, element_type)) = &scope.element {
        labels.push(("element", element.as_str()));
        labels.push(("element_type", element_type.as_str()));
    }
    labels
}

/// Label values per (scope, extra labels) with a count, as gauge samples.
fn gauge_samples<'a>(
    kms: &'a str,
    names: &[&'static str],
    counts: &'a Counts,
) -> Vec<(Labels<'a>, Value)> {
    counts
        .iter()
        .map(|((scope, extra), n)| {
            let mut labels = vec![("kms", kms)];
            labels.extend(scope_labels(scope));
            labels.extend(names.iter().copied().zip(extra.iter().map(String::as_str)));
            (labels, Value::Int(*n))
        })
        .collect()
}

const MEDIA_LABELS: [&str; 2] = ["audio", "video"];

/// Renders a state family from each target's summary. At aggregated detail every `known`
/// combination is listed (0 when no element is in it).
fn state_family(
    enc: &mut DescriptorEncoder,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    names: &[&'static str],
    known: &[Vec<&str>],
    family: StateFamily,
) -> Result<(), std::fmt::Error> {
    let per_target: Vec<(&str, Counts)> = snaps
        .iter()
        .filter_map(|s| s.media.as_ref().map(|m| (s.kms.as_str(), &m.summary)))
        .map(|(kms, summary)| {
            let mut counts = summary.states.get(&family).cloned().unwrap_or_default();
            if summary.aggregated {
                for extra in known {
                    let key = (
                        Scope::default(),
                        extra.iter().map(|e| (*e).to_owned()).collect(),
                    );
                    counts.entry(key).or_default();
                }
            }
            (kms, counts)
        })
        .collect();
    let samples = per_target
        .iter()
        .flat_map(|(kms, counts)| gauge_samples(kms, names, counts))
        .collect();
    write_family(enc, def, samples)
}

fn rtp_counter(
    enc: &mut DescriptorEncoder,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    value: impl Fn(&RtpTotals) -> u64,
) -> Result<(), std::fmt::Error> {
    let samples = snaps
        .iter()
        .filter_map(|s| s.media.as_ref().map(|m| (s.kms.as_str(), m)))
        .flat_map(|(kms, media)| {
            media
                .rtp_totals
                .iter()
                .map(|((scope, m, d), totals)| {
                    let mut labels = vec![("kms", kms)];
                    labels.extend(scope_labels(scope));
                    labels.push(("media", m.label()));
                    labels.push(("direction", d.label()));
                    (labels, Value::Int(value(totals)))
                })
                .collect::<Vec<_>>()
        })
        .collect();
    write_family(enc, def, samples)
}

/// A histogram family from each target's observations.
fn stream_histogram(
    enc: &mut DescriptorEncoder,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    names: &[&'static str],
    bounds: &[f64],
    family: Observed,
) -> Result<(), std::fmt::Error> {
    let mut samples = Vec::new();
    for snap in snaps {
        let Some(observed) = snap
            .media
            .as_ref()
            .and_then(|m| m.summary.observations.get(&family))
        else {
            continue;
        };
        for (extra, values) in observed {
            let mut labels: Labels = vec![("kms", snap.kms.as_str())];
            labels.extend(names.iter().copied().zip(extra.iter().copied()));
            samples.push((
                labels,
                Value::Histogram(Histogram::of(values.iter().copied(), bounds)),
            ));
        }
    }
    write_family(enc, def, samples)
}

fn media_pairs() -> Vec<Vec<&'static str>> {
    MEDIA_LABELS.iter().map(|m| vec![*m]).collect()
}

/// Writes every media family.
pub(super) fn encode(
    enc: &mut DescriptorEncoder,
    snaps: &[Arc<TargetSnapshot>],
) -> Result<(), std::fmt::Error> {
    rtp_counter(enc, &cat::RTP_BYTES, snaps, |t| t.bytes)?;
    rtp_counter(enc, &cat::RTP_PACKETS, snaps, |t| t.packets)?;
    rtp_counter(enc, &cat::RTP_PACKETS_LOST, snaps, |t| t.packets_lost)?;
    rtp_counter(enc, &cat::RTP_NACKS, snaps, |t| t.nacks)?;
    rtp_counter(enc, &cat::RTP_PLIS, snaps, |t| t.plis)?;
    rtp_counter(enc, &cat::RTP_FIRS, snaps, |t| t.firs)?;

    let histograms: [(&MetricDef, &[&'static str], &[f64], Observed); 7] = [
        (
            &cat::RTP_JITTER,
            &["media"],
            cat::JITTER_BUCKETS,
            Observed::Jitter,
        ),
        (
            &cat::RTP_RTT,
            &["media"],
            cat::RTT_BUCKETS,
            Observed::RoundTrip,
        ),
        (
            &cat::RTP_FRACTION_LOST,
            &["media", "direction"],
            cat::FRACTION_LOST_BUCKETS,
            Observed::FractionLost,
        ),
        (
            &cat::RTP_REMB,
            &["media", "direction"],
            cat::RATE_BUCKETS,
            Observed::Remb,
        ),
        (
            &cat::RTP_TARGET_RATE,
            &["media"],
            cat::RATE_BUCKETS,
            Observed::TargetRate,
        ),
        (
            &cat::E2E_LATENCY,
            &["media"],
            cat::LATENCY_BUCKETS,
            Observed::E2eLatency,
        ),
        (
            &cat::INPUT_LATENCY,
            &["media"],
            cat::LATENCY_BUCKETS,
            Observed::InputLatency,
        ),
    ];
    for (def, names, bounds, family) in histograms {
        stream_histogram(enc, def, snaps, names, bounds, family)?;
    }

    let flowing_known: Vec<Vec<&str>> = MEDIA_LABELS
        .iter()
        .flat_map(|m| [vec![*m, "in"], vec![*m, "out"]])
        .collect();
    state_family(
        enc,
        &cat::MEDIA_FLOWING,
        snaps,
        &["media", "direction"],
        &flowing_known,
        StateFamily::Flowing,
    )?;
    state_family(
        enc,
        &cat::TRANSCODING,
        snaps,
        &["media"],
        &media_pairs(),
        StateFamily::Transcoding,
    )?;
    let transitions = snaps
        .iter()
        .filter_map(|s| s.media.as_ref().map(|m| (s.kms.as_str(), m)))
        .flat_map(|(kms, media)| {
            Media::ALL.into_iter().map(move |m| {
                let n = media.transcoding_transitions.get(&m).copied().unwrap_or(0);
                (vec![("kms", kms), ("media", m.label())], Value::Int(n))
            })
        })
        .collect();
    write_family(enc, &cat::TRANSCODING_TRANSITIONS, transitions)?;

    let two_states = vec![vec!["connected"], vec!["disconnected"]];
    state_family(
        enc,
        &cat::RTP_MEDIA_STATE,
        snaps,
        &["state"],
        &two_states,
        StateFamily::MediaState,
    )?;
    state_family(
        enc,
        &cat::RTP_CONNECTION_STATE,
        snaps,
        &["state"],
        &two_states,
        StateFamily::ConnectionState,
    )?;
    let ice_known: Vec<Vec<&str>> = [
        "new",
        "gathering",
        "connecting",
        "connected",
        "ready",
        "failed",
        "disconnected",
    ]
    .iter()
    .map(|s| vec![*s])
    .collect();
    state_family(
        enc,
        &cat::ICE_STATE,
        snaps,
        &["state"],
        &ice_known,
        StateFamily::IceState,
    )?;
    let candidate_known: Vec<Vec<&str>> = [
        CandidateType::Host,
        CandidateType::Srflx,
        CandidateType::Prflx,
        CandidateType::Relay,
    ]
    .iter()
    .map(|c| vec![c.label()])
    .collect();
    state_family(
        enc,
        &cat::SELECTED_CANDIDATES,
        snaps,
        &["candidate_type"],
        &candidate_known,
        StateFamily::Candidates,
    )?;
    state_family(
        enc,
        &cat::WEBRTC_SENDING,
        snaps,
        &["media"],
        &media_pairs(),
        StateFamily::Sending,
    )?;
    state_family(
        enc,
        &cat::WEBRTC_RECEIVING,
        snaps,
        &["media"],
        &media_pairs(),
        StateFamily::Receiving,
    )?;
    uri_endpoints(enc, snaps)?;

    let dropped = snaps
        .iter()
        .filter_map(|s| {
            s.media.as_ref().map(|m| {
                (
                    vec![("kms", s.kms.as_str())],
                    Value::Int(m.series_dropped_total),
                )
            })
        })
        .collect();
    write_family(enc, &cat::SERIES_DROPPED, dropped)?;
    zombies(enc, snaps)
}

/// Zombie pipelines by reason (every reason listed) and zombie elements by type and reason.
fn zombies(
    enc: &mut DescriptorEncoder,
    snaps: &[Arc<TargetSnapshot>],
) -> Result<(), std::fmt::Error> {
    let reports: Vec<(&str, &crate::zombie::ZombieReport)> = snaps
        .iter()
        .filter_map(|s| s.zombies.as_ref().map(|z| (s.kms.as_str(), z)))
        .collect();
    let pipelines = reports
        .iter()
        .flat_map(|(kms, z)| {
            z.pipelines_by_reason().into_iter().map(move |(reason, n)| {
                (
                    vec![("kms", *kms), ("reason", reason.label())],
                    Value::Int(n),
                )
            })
        })
        .collect();
    write_family(enc, &cat::ZOMBIE_PIPELINES, pipelines)?;
    type ByTypeAndReason = BTreeMap<(String, crate::zombie::ZombieReason), u64>;
    let counts: Vec<(&str, ByTypeAndReason)> = reports
        .iter()
        .map(|(kms, z)| (*kms, z.elements_by_type_and_reason()))
        .collect();
    let elements = counts
        .iter()
        .flat_map(|(kms, counts)| {
            counts.iter().map(move |((ty, reason), n)| {
                (
                    vec![
                        ("kms", *kms),
                        ("element_type", ty.as_str()),
                        ("reason", reason.label()),
                    ],
                    Value::Int(*n),
                )
            })
        })
        .collect();
    write_family(enc, &cat::ZOMBIE_ELEMENTS, elements)
}

/// (element type, state) -> players or recorders in that state.
type UriCounts<'a> = BTreeMap<(&'a str, &'a str), u64>;

/// Players and recorders by state, per KMS (not scoped: a handful per pipeline at most).
fn uri_endpoints(
    enc: &mut DescriptorEncoder,
    snaps: &[Arc<TargetSnapshot>],
) -> Result<(), std::fmt::Error> {
    let mut per_target: Vec<(&str, UriCounts)> = Vec::new();
    for snap in snaps {
        let Some(media) = snap.media.as_ref() else {
            continue;
        };
        let mut counts = UriCounts::new();
        for ty in ["PlayerEndpoint", "RecorderEndpoint"] {
            for state in ["start", "pause", "stop"] {
                counts.insert((ty, state), 0);
            }
        }
        for ((ty, state), n) in &media.summary.uri_endpoints {
            *counts.entry((ty.as_str(), state.as_str())).or_default() += n;
        }
        per_target.push((snap.kms.as_str(), counts));
    }
    let samples = per_target
        .iter()
        .flat_map(|(kms, counts)| {
            counts.iter().map(move |((ty, state), n)| {
                (
                    vec![("kms", *kms), ("element_type", *ty), ("state", *state)],
                    Value::Int(*n),
                )
            })
        })
        .collect();
    write_family(enc, &cat::URI_ENDPOINTS, samples)
}
