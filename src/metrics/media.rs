//! The media families: RTP counters, stream histograms and state gauges, formatted from the
//! snapshot's per-cycle summary and counter totals (no aggregation at scrape time). At
//! aggregated detail, state families list every known state (0 when none), so alerts see zeros
//! rather than absent series; at pipeline and element detail only states present are listed
//! (the series count stays proportional to the load).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use smallvec::SmallVec;

use super::catalogue::{self as cat, MetricDef};
use super::writer::{ExpositionWriter, Histogram, Label, Value};
use crate::analysis::model::{Media, RtpTotals, Scope};
use crate::analysis::snapshot::TargetSnapshot;
use crate::analysis::summary::{Counts, Observed, StateFamily};
use crate::kurento::stats::CandidateType;

/// A sample's labels, on the stack: `kms`, the scope's (up to three) and the family's own.
type Labels<'a> = SmallVec<[Label<'a>; 8]>;

/// `kms` then the detail labels of a scope, in a fixed order.
fn scoped<'a>(kms: &'a str, scope: &'a Scope) -> Labels<'a> {
    let mut labels = Labels::new();
    labels.push(("kms", kms));
    if let Some(pipeline) = &scope.pipeline {
        labels.push(("pipeline", pipeline.as_str()));
    }
    if let Some((element, element_type)) = &scope.element {
        labels.push(("element", element.as_str()));
        labels.push(("element_type", element_type.as_str()));
    }
    labels
}

const MEDIA_LABELS: [&str; 2] = ["audio", "video"];

/// Writes a state family from each target's summary. At aggregated detail every `known`
/// combination is listed (0 when no element is in it).
fn state_family(
    w: &mut ExpositionWriter,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    names: &[&'static str],
    known: &[Vec<&str>],
    state: StateFamily,
) {
    let mut family = w.family(def);
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
            let mut labels = scoped(&snap.kms, scope);
            labels.extend(names.iter().copied().zip(extra.iter().map(String::as_str)));
            family.sample(&labels, &Value::Int(*n));
        }
    }
}

fn rtp_counter(
    w: &mut ExpositionWriter,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    value: impl Fn(&RtpTotals) -> u64,
) {
    let mut family = w.family(def);
    for snap in snaps {
        let Some(media) = &snap.media else {
            continue;
        };
        for ((scope, m, d), totals) in &media.rtp_totals {
            let mut labels = scoped(&snap.kms, scope);
            labels.push(("media", m.label()));
            labels.push(("direction", d.label()));
            family.sample(&labels, &Value::Int(value(totals)));
        }
    }
}

/// A histogram family from each target's observations.
fn stream_histogram(
    w: &mut ExpositionWriter,
    def: &MetricDef,
    snaps: &[Arc<TargetSnapshot>],
    names: &[&'static str],
    bounds: &[f64],
    observed: Observed,
) {
    let mut family = w.family(def);
    for snap in snaps {
        let Some(observations) = snap
            .media
            .as_ref()
            .and_then(|m| m.summary.observations.get(&observed))
        else {
            continue;
        };
        for (extra, values) in observations {
            let mut labels = Labels::new();
            labels.push(("kms", snap.kms.as_str()));
            labels.extend(names.iter().copied().zip(extra.iter().copied()));
            let histogram = Histogram::of_sorted(values, bounds);
            family.sample(&labels, &Value::Histogram(histogram));
        }
    }
}

fn media_pairs() -> Vec<Vec<&'static str>> {
    MEDIA_LABELS.iter().map(|m| vec![*m]).collect()
}
/// Writes every media family.
pub(super) fn write(w: &mut ExpositionWriter, snaps: &[Arc<TargetSnapshot>]) {
    rtp_counter(w, &cat::RTP_BYTES, snaps, |t| t.bytes);
    rtp_counter(w, &cat::RTP_PACKETS, snaps, |t| t.packets);
    rtp_counter(w, &cat::RTP_PACKETS_LOST, snaps, |t| t.packets_lost);
    rtp_counter(w, &cat::RTP_NACKS, snaps, |t| t.nacks);
    rtp_counter(w, &cat::RTP_PLIS, snaps, |t| t.plis);
    rtp_counter(w, &cat::RTP_FIRS, snaps, |t| t.firs);

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
        stream_histogram(w, def, snaps, names, bounds, family);
    }

    let flowing_known: Vec<Vec<&str>> = MEDIA_LABELS
        .iter()
        .flat_map(|m| [vec![*m, "in"], vec![*m, "out"]])
        .collect();
    state_family(
        w,
        &cat::MEDIA_FLOWING,
        snaps,
        &["media", "direction"],
        &flowing_known,
        StateFamily::Flowing,
    );
    state_family(
        w,
        &cat::TRANSCODING,
        snaps,
        &["media"],
        &media_pairs(),
        StateFamily::Transcoding,
    );
    let mut transitions = w.family(&cat::TRANSCODING_TRANSITIONS);
    for snap in snaps {
        let Some(media) = &snap.media else {
            continue;
        };
        for m in Media::ALL {
            let n = media.transcoding_transitions.get(&m).copied().unwrap_or(0);
            transitions.sample(
                &[("kms", snap.kms.as_str()), ("media", m.label())],
                &Value::Int(n),
            );
        }
    }

    let two_states = vec![vec!["connected"], vec!["disconnected"]];
    state_family(
        w,
        &cat::RTP_MEDIA_STATE,
        snaps,
        &["state"],
        &two_states,
        StateFamily::MediaState,
    );
    state_family(
        w,
        &cat::RTP_CONNECTION_STATE,
        snaps,
        &["state"],
        &two_states,
        StateFamily::ConnectionState,
    );
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
        w,
        &cat::ICE_STATE,
        snaps,
        &["state"],
        &ice_known,
        StateFamily::IceState,
    );
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
        w,
        &cat::SELECTED_CANDIDATES,
        snaps,
        &["candidate_type"],
        &candidate_known,
        StateFamily::Candidates,
    );
    state_family(
        w,
        &cat::WEBRTC_SENDING,
        snaps,
        &["media"],
        &media_pairs(),
        StateFamily::Sending,
    );
    state_family(
        w,
        &cat::WEBRTC_RECEIVING,
        snaps,
        &["media"],
        &media_pairs(),
        StateFamily::Receiving,
    );
    uri_endpoints(w, snaps);

    let mut dropped = w.family(&cat::SERIES_DROPPED);
    for snap in snaps {
        if let Some(media) = &snap.media {
            let n = media.series_dropped_total;
            dropped.sample(&[("kms", snap.kms.as_str())], &Value::Int(n));
        }
    }
    zombies(w, snaps);
}

/// Zombie pipelines by reason (every reason listed) and zombie elements by type and reason.
fn zombies(w: &mut ExpositionWriter, snaps: &[Arc<TargetSnapshot>]) {
    let reports: Vec<(&str, &crate::analysis::zombie::ZombieReport)> = snaps
        .iter()
        .filter_map(|s| s.zombies.as_ref().map(|z| (s.kms.as_str(), z)))
        .collect();
    let mut pipelines = w.family(&cat::ZOMBIE_PIPELINES);
    for (kms, report) in &reports {
        for (reason, n) in report.pipelines_by_reason() {
            pipelines.sample(&[("kms", *kms), ("reason", reason.label())], &Value::Int(n));
        }
    }
    let mut elements = w.family(&cat::ZOMBIE_ELEMENTS);
    for (kms, report) in &reports {
        for ((ty, reason), n) in report.elements_by_type_and_reason() {
            elements.sample(
                &[
                    ("kms", *kms),
                    ("element_type", ty.as_str()),
                    ("reason", reason.label()),
                ],
                &Value::Int(n),
            );
        }
    }
}

/// (element type, state) -> players or recorders in that state.
type UriCounts<'a> = BTreeMap<(&'a str, &'a str), u64>;

/// Players and recorders by state, per KMS (not scoped: a handful per pipeline at most).
fn uri_endpoints(w: &mut ExpositionWriter, snaps: &[Arc<TargetSnapshot>]) {
    let mut family = w.family(&cat::URI_ENDPOINTS);
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
        for ((ty, state), n) in counts {
            family.sample(
                &[
                    ("kms", snap.kms.as_str()),
                    ("element_type", ty),
                    ("state", state),
                ],
                &Value::Int(n),
            );
        }
    }
}
