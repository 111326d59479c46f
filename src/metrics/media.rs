//! The media families: RTP counters, stream histograms and state gauges, rendered from the
//! snapshot's element readings and counter totals. At aggregated detail, state families list
//! every known state (0 when none), so alerts see zeros rather than absent series; at pipeline
//! and element detail only states present are listed (the series count stays proportional to
//! the load).

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::encoding::DescriptorEncoder;

use super::catalogue::{self as cat, MetricDef};
use super::collector::{Histogram, Labels, Value, write_family};
use crate::kurento::stats::CandidateType;
use crate::model::{Direction, ElementReading, Media, RtpTotals, Scope, TargetSnapshot};
use crate::reads::ElementKind;

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

/// Histograms stay per KMS at every detail level: a pipeline's handful of streams is not a
/// distribution worth a dozen series per bucket, and per-scope histograms would dominate the
/// exposition at element detail.
fn histogram_scope(_scope: &Scope) -> Scope {
    Scope::default()
}

fn is_aggregated(scope: &Scope) -> bool {
    scope.pipeline.is_none()
}

/// Counts per (scope, extra label values), ready to render as gauges.
type Counts<'a> = BTreeMap<(Scope, Vec<&'a str>), u64>;

fn count<'a>(counts: &mut Counts<'a>, scope: &Scope, extra: Vec<&'a str>) {
    *counts.entry((scope.clone(), extra)).or_default() += 1;
}

/// Adds zero entries for every combination of `known` values at aggregated detail.
fn zero_fill<'a>(counts: &mut Counts<'a>, snap: &TargetSnapshot, known: &[Vec<&'a str>]) {
    let aggregated = snap
        .media
        .as_ref()
        .is_some_and(|m| m.elements.iter().all(|e| is_aggregated(&e.scope)));
    if aggregated {
        for extra in known {
            counts.entry((Scope::default(), extra.clone())).or_default();
        }
    }
}

fn gauge_samples<'a>(
    kms: &'a str,
    names: &[&'static str],
    counts: &'a Counts<'a>,
) -> Vec<(Labels<'a>, Value)> {
    counts
        .iter()
        .map(|((scope, extra), n)| {
            let mut labels = vec![("kms", kms)];
            labels.extend(scope_labels(scope));
            labels.extend(names.iter().copied().zip(extra.iter().copied()));
            (labels, Value::Int(*n))
        })
        .collect()
}

fn readings(snap: &TargetSnapshot) -> &[ElementReading] {
    snap.media.as_ref().map_or(&[], |m| m.elements.as_slice())
}

const MEDIA_LABELS: [&str; 2] = ["audio", "video"];

/// Renders a state family from per-target counts.
fn state_family<'a>(
    enc: &mut DescriptorEncoder,
    def: &MetricDef,
    snaps: &'a [Arc<TargetSnapshot>],
    names: &[&'static str],
    known: &[Vec<&'a str>],
    mut classify: impl FnMut(&'a ElementReading, &mut dyn FnMut(Vec<&'a str>)),
) -> Result<(), std::fmt::Error> {
    let per_target: Vec<(&str, Counts)> = snaps
        .iter()
        .filter(|s| s.media.is_some())
        .map(|s| {
            let mut counts = Counts::new();
            zero_fill(&mut counts, s, known);
            for reading in readings(s) {
                classify(reading, &mut |extra| {
                    count(&mut counts, &reading.scope, extra)
                });
            }
            (s.kms.as_str(), counts)
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

/// A histogram family over live streams (or latency entries): `observe` yields, per element,
/// the (extra label values, observation) pairs.
fn stream_histogram<'a>(
    enc: &mut DescriptorEncoder,
    def: &MetricDef,
    snaps: &'a [Arc<TargetSnapshot>],
    names: &[&'static str],
    bounds: &[f64],
    observe: impl Fn(&'a ElementReading) -> Vec<(Vec<&'static str>, f64)>,
) -> Result<(), std::fmt::Error> {
    let mut label_sets: Vec<Vec<(&'static str, String)>> = Vec::new();
    let mut histograms: Vec<Histogram> = Vec::new();
    for snap in snaps.iter().filter(|s| s.media.is_some()) {
        let mut groups: BTreeMap<(Scope, Vec<&str>), Vec<f64>> = BTreeMap::new();
        for reading in readings(snap) {
            for (extra, v) in observe(reading) {
                groups
                    .entry((histogram_scope(&reading.scope), extra))
                    .or_default()
                    .push(v);
            }
        }
        for ((scope, extra), values) in groups {
            let labels = std::iter::once(("kms", snap.kms.clone()))
                .chain(
                    scope_labels(&scope)
                        .into_iter()
                        .map(|(k, v)| (k, v.to_owned())),
                )
                .chain(
                    names
                        .iter()
                        .copied()
                        .zip(extra.iter().map(|v| v.to_string())),
                )
                .collect();
            label_sets.push(labels);
            histograms.push(Histogram::of(values, bounds));
        }
    }
    let samples = label_sets
        .iter()
        .zip(histograms)
        .map(|(labels, h)| {
            (
                labels.iter().map(|(k, v)| (*k, v.as_str())).collect(),
                Value::Histogram(h),
            )
        })
        .collect();
    write_family(enc, def, samples)
}

fn media_pairs() -> Vec<Vec<&'static str>> {
    MEDIA_LABELS.iter().map(|m| vec![*m]).collect()
}

fn stream_media(stream: &crate::model::RtpStream) -> Option<(&'static str, &'static str)> {
    Some((stream.media?.label(), stream.direction?.label()))
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

    stream_histogram(
        enc,
        &cat::RTP_JITTER,
        snaps,
        &["media"],
        cat::JITTER_BUCKETS,
        |r| {
            r.streams
                .iter()
                .filter(|s| s.direction == Some(Direction::Inbound))
                .filter_map(|s| Some((vec![s.media?.label()], s.jitter_seconds?)))
                .collect()
        },
    )?;
    stream_histogram(
        enc,
        &cat::RTP_RTT,
        snaps,
        &["media"],
        cat::RTT_BUCKETS,
        |r| {
            r.streams
                .iter()
                .filter(|s| s.direction == Some(Direction::Outbound))
                // 0 means no receiver report yet, not an instant round trip.
                .filter_map(|s| {
                    Some((
                        vec![s.media?.label()],
                        s.round_trip_seconds.filter(|v| *v > 0.0)?,
                    ))
                })
                .collect()
        },
    )?;
    stream_histogram(
        enc,
        &cat::RTP_FRACTION_LOST,
        snaps,
        &["media", "direction"],
        cat::FRACTION_LOST_BUCKETS,
        |r| {
            r.streams
                .iter()
                .filter_map(|s| {
                    let (m, d) = stream_media(s)?;
                    Some((vec![m, d], (s.fraction_lost? / 256.0).clamp(0.0, 1.0)))
                })
                .collect()
        },
    )?;
    stream_histogram(
        enc,
        &cat::RTP_REMB,
        snaps,
        &["media", "direction"],
        cat::RATE_BUCKETS,
        |r| {
            r.streams
                .iter()
                .filter(|s| s.remb_bps > 0)
                .filter_map(|s| {
                    let (m, d) = stream_media(s)?;
                    Some((vec![m, d], s.remb_bps as f64 / 8.0))
                })
                .collect()
        },
    )?;
    stream_histogram(
        enc,
        &cat::RTP_TARGET_RATE,
        snaps,
        &["media"],
        cat::RATE_BUCKETS,
        |r| {
            r.streams
                .iter()
                .filter(|s| s.direction == Some(Direction::Outbound))
                .filter_map(|s| Some((vec![s.media?.label()], s.target_bitrate_bps? / 8.0)))
                .collect()
        },
    )?;
    stream_histogram(
        enc,
        &cat::E2E_LATENCY,
        snaps,
        &["media"],
        cat::LATENCY_BUCKETS,
        |r| {
            r.e2e_latency
                .iter()
                .map(|(m, v)| (vec![m.label()], *v))
                .collect()
        },
    )?;
    stream_histogram(
        enc,
        &cat::INPUT_LATENCY,
        snaps,
        &["media"],
        cat::LATENCY_BUCKETS,
        |r| {
            r.input_latency
                .iter()
                .map(|(m, v)| (vec![m.label()], *v))
                .collect()
        },
    )?;

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
        |r, add| {
            for m in Media::ALL {
                if r.flowing_in[m as usize] == Some(true) {
                    add(vec![m.label(), "in"]);
                }
                if r.flowing_out[m as usize] == Some(true) {
                    add(vec![m.label(), "out"]);
                }
            }
        },
    )?;
    state_family(
        enc,
        &cat::TRANSCODING,
        snaps,
        &["media"],
        &media_pairs(),
        |r, add| {
            for m in Media::ALL {
                if r.transcoding[m as usize] == Some(true) {
                    add(vec![m.label()]);
                }
            }
        },
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
        |r, add| {
            if let Some(state) = &r.media_state {
                add(vec![state.as_str()]);
            }
        },
    )?;
    state_family(
        enc,
        &cat::RTP_CONNECTION_STATE,
        snaps,
        &["state"],
        &two_states,
        |r, add| {
            if let Some(state) = &r.connection_state {
                add(vec![state.as_str()]);
            }
        },
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
        |r, add| {
            if let Some(state) = &r.ice_state {
                add(vec![state.as_str()]);
            }
        },
    )?;
    let candidates = [
        CandidateType::Host,
        CandidateType::Srflx,
        CandidateType::Prflx,
        CandidateType::Relay,
    ];
    let candidate_known: Vec<Vec<&str>> = candidates.iter().map(|c| vec![c.label()]).collect();
    state_family(
        enc,
        &cat::SELECTED_CANDIDATES,
        snaps,
        &["candidate_type"],
        &candidate_known,
        |r, add| {
            if let Some(c) = r.selected_candidate {
                add(vec![c.label()]);
            }
        },
    )?;
    state_family(
        enc,
        &cat::WEBRTC_SENDING,
        snaps,
        &["media"],
        &media_pairs(),
        |r, add| {
            if ElementKind::of(&r.element_type) == ElementKind::WebRtc {
                for m in Media::ALL {
                    if r.flowing_in[m as usize] == Some(true) {
                        add(vec![m.label()]);
                    }
                }
            }
        },
    )?;
    state_family(
        enc,
        &cat::WEBRTC_RECEIVING,
        snaps,
        &["media"],
        &media_pairs(),
        |r, add| {
            if ElementKind::of(&r.element_type) == ElementKind::WebRtc {
                for m in Media::ALL {
                    if r.flowing_out[m as usize] == Some(true) {
                        add(vec![m.label()]);
                    }
                }
            }
        },
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
    for snap in snaps.iter().filter(|s| s.media.is_some()) {
        let mut counts = UriCounts::new();
        for ty in ["PlayerEndpoint", "RecorderEndpoint"] {
            for state in ["start", "pause", "stop"] {
                counts.insert((ty, state), 0);
            }
        }
        for r in readings(snap) {
            if let Some(state) = &r.uri_state {
                *counts
                    .entry((r.element_type.as_str(), state.as_str()))
                    .or_default() += 1;
            }
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
