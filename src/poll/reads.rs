//! The per-cycle media reads of every element (docs/architecture.md "One poll cycle"): which
//! getters each element type answers, batched into `transaction`s (one round trip for many
//! elements), resumed after a failing operation (KMS stops a transaction at its first error, and an
//! element released mid-cycle must not cost the others their data), and decoded into
//! `ElementReading`s. Planning and decoding are pure; `read_elements` is the I/O shell.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use futures_util::StreamExt;
use futures_util::stream;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::analysis::model::{
    Connectivity, Direction, ElementReading, IceState, Media, RtpStream, Scope, UriState,
};
use crate::kurento::kinds::ElementKind;
use crate::kurento::stats::{self, CandidateType, StatsEntry};
use crate::kurento::{ClientError, Kms, KmsError, Op, OpOutcome};
use crate::kurento::{connections, lenient};
use crate::poll::silence::Silence;

/// Operations per transaction: large enough to cut round trips ~10× for WebRTC endpoints,
/// small enough that one transaction does not hold a KMS socket for long.
const OPS_PER_TRANSACTION: usize = 64;

/// One getter of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// `getStats(mediaType)`; without a media type only latency entries matter (non-RTP
    /// elements answer `null` unless the application enabled latency stats).
    Stats(Option<Media>),
    FlowingIn(Media),
    FlowingOut(Media),
    Transcoding(Media),
    MediaState,
    ConnectionState,
    IceStates,
    CandidatePairs,
    UriState,
    SinkConnections,
}

/// `{"mediaType": …}` of each media, built once.
static MEDIA_PARAMS: LazyLock<[Value; 2]> =
    LazyLock::new(|| Media::ALL.map(|media| json!({"mediaType": media.kms()})));

impl Read {
    fn op(self, object: &Arc<str>) -> Op {
        let media = |media: Media| Some(&MEDIA_PARAMS[media as usize]);
        let (operation, params) = match self {
            Read::Stats(Some(m)) => ("getStats", media(m)),
            Read::Stats(None) => ("getStats", None),
            Read::FlowingIn(m) => ("isMediaFlowingIn", media(m)),
            Read::FlowingOut(m) => ("isMediaFlowingOut", media(m)),
            Read::Transcoding(m) => ("isMediaTranscoding", media(m)),
            Read::MediaState => ("getMediaState", None),
            Read::ConnectionState => ("getConnectionState", None),
            Read::IceStates => ("getIceConnectionState", None),
            Read::CandidatePairs => ("getICECandidatePairs", None),
            Read::UriState => ("getState", None),
            Read::SinkConnections => ("getSinkConnections", None),
        };
        Op {
            object: Arc::clone(object),
            operation,
            params,
        }
    }
}

/// The reads of one element per cycle.
pub fn plan(kind: ElementKind) -> Vec<Read> {
    let mut reads = Vec::new();
    if kind == ElementKind::Hub {
        return reads;
    }
    let rtp = matches!(kind, ElementKind::WebRtc | ElementKind::Rtp);
    if rtp {
        reads.extend(Media::ALL.map(|m| Read::Stats(Some(m))));
    } else {
        reads.push(Read::Stats(None));
    }
    for media in Media::ALL {
        reads.extend([
            Read::FlowingIn(media),
            Read::FlowingOut(media),
            Read::Transcoding(media),
        ]);
    }
    // Not `getSourceConnections`: every source connection is another element's sink connection
    // (see `count_connections`), and in a mesh the list is as long as all stats together.
    reads.push(Read::SinkConnections);
    if rtp {
        reads.extend([Read::MediaState, Read::ConnectionState]);
    }
    if kind == ElementKind::WebRtc {
        reads.extend([Read::IceStates, Read::CandidatePairs]);
    }
    if kind == ElementKind::Uri {
        reads.push(Read::UriState);
    }
    reads
}

/// The most indirect candidate type over the selected pairs (README "Metrics reference": relay if
/// either side of a pair is relay, else srflx/prflx, else host).
pub fn selected_candidate(pairs: &[stats::SelectedPair]) -> Option<CandidateType> {
    pairs
        .iter()
        .flat_map(|p| [p.local, p.remote])
        .flatten()
        .max()
}

/// Adds one `getStats` answer to a reading. `media` is what was asked for: RTP entries carry no
/// media kind of their own (docs/kms-protocol.md §9).
fn add_stats(reading: &mut ElementReading, media: Option<Media>, value: &RawValue) {
    for entry in stats::decode_stats_raw(value) {
        match entry {
            StatsEntry::Inbound(i) => reading.streams.push(RtpStream {
                media,
                direction: Some(Direction::Inbound),
                stats_id: i.common.id,
                bytes: i.bytes_received,
                packets: i.packets_received,
                packets_lost: i.common.packets_lost,
                nacks: i.common.nack_count,
                plis: i.common.pli_count,
                firs: i.common.fir_count,
                fraction_lost: i.common.fraction_lost,
                jitter_seconds: i.jitter,
                round_trip_seconds: None,
                remb_bps: i.common.remb,
                target_bitrate_bps: None,
            }),
            StatsEntry::Outbound(o) => reading.streams.push(RtpStream {
                media,
                direction: Some(Direction::Outbound),
                stats_id: o.common.id,
                bytes: o.bytes_sent,
                packets: o.packets_sent,
                packets_lost: o.common.packets_lost,
                nacks: o.common.nack_count,
                plis: o.common.pli_count,
                firs: o.common.fir_count,
                fraction_lost: o.common.fraction_lost,
                jitter_seconds: None,
                round_trip_seconds: o.round_trip_time,
                remb_bps: o.common.remb,
                target_bitrate_bps: o.target_bitrate,
            }),
            StatsEntry::Latency { e2e, input } => {
                let seconds = |list: Vec<stats::Latency>| {
                    list.into_iter()
                        .filter_map(|l| Some((Media::from_kms(&l.media)?, l.avg_ns / 1e9)))
                        .filter(|(m, _)| media.is_none_or(|asked| asked == *m))
                        .collect::<Vec<_>>()
                };
                reading.e2e_latency.extend(seconds(e2e));
                reading.input_latency.extend(seconds(input));
            }
            StatsEntry::Other => {}
        }
    }
}

/// Builds an element's reading from the outcome of each of its planned reads. Returns the
/// reading and whether all its stats reads succeeded (only then may the counters treat a
/// missing stream as gone).
pub fn decode(
    id: &Arc<str>,
    element_type: &str,
    scope: &Scope,
    results: &[(Read, Option<&RawValue>)],
    ids: &SharedIds,
) -> (ElementReading, bool) {
    let mut reading = ElementReading {
        id: Arc::clone(id),
        element_type: element_type.to_owned(),
        scope: scope.clone(),
        ..ElementReading::default()
    };
    let mut stats_complete = true;
    for (read, value) in results {
        let Some(value) = value else {
            if matches!(read, Read::Stats(_)) {
                stats_complete = false;
            }
            continue;
        };
        if let Read::Stats(media) = *read {
            add_stats(&mut reading, media, value);
            continue;
        }
        // The other getters answer small values, decoded straight from their text.
        let text = || lenient::text(value);
        match *read {
            Read::Stats(_) => {}
            Read::FlowingIn(m) => reading.flowing_in[m as usize] = lenient::flag(value),
            Read::FlowingOut(m) => reading.flowing_out[m as usize] = lenient::flag(value),
            Read::Transcoding(m) => reading.transcoding[m as usize] = lenient::flag(value),
            Read::MediaState => {
                reading.media_state = text().and_then(|t| Connectivity::from_kms(&t))
            }
            Read::ConnectionState => {
                reading.connection_state = text().and_then(|t| Connectivity::from_kms(&t))
            }
            Read::IceStates => {
                reading.ice_state = Some(IceState::of_components(&stats::decode_ice_states(value)))
            }
            Read::CandidatePairs => {
                let pairs = stats::decode_candidate_pairs(value);
                reading.selected_candidate = selected_candidate(&pairs);
                reading.selected_pairs = pairs;
            }
            Read::UriState => reading.uri_state = text().and_then(|t| UriState::from_kms(&t)),
            Read::SinkConnections => {
                reading.sinks = Some(connections::decode_sink_connections(id, value, |sink| {
                    ids.get(sink)
                }))
            }
        }
    }
    // Kept until the next cycle (topology): no slack from growing.
    reading.streams.shrink_to_fit();
    (reading, stats_complete)
}

/// Sets each reading's connection count (sources plus sinks) from the sink connections the
/// cycle read: an element's source connections are the sink connections of the elements of its
/// pipeline that point to it (KMS keeps both sides of every link), so `getSourceConnections` is
/// not read. Left `None` for the elements of a pipeline where some element's sinks are unknown
/// (its read failed this cycle): a link into them might be missing.
pub fn count_connections(readings: &mut [ElementReading]) {
    fn pipeline(id: &str) -> &str {
        id.split('/').next().unwrap_or(id)
    }
    let mut sources: HashMap<&str, usize> = HashMap::new();
    let mut unknown: HashSet<&str> = HashSet::new();
    for reading in readings.iter() {
        match &reading.sinks {
            Some(sinks) => {
                for link in sinks {
                    *sources.entry(&link.sink).or_default() += 1;
                }
            }
            None => {
                unknown.insert(pipeline(&reading.id));
            }
        }
    }
    let counts: Vec<Option<usize>> = readings
        .iter()
        .map(|r| {
            let sinks = r.sinks.as_ref()?.len();
            if unknown.contains(pipeline(&r.id)) {
                return None;
            }
            Some(sinks + sources.get(&*r.id).copied().unwrap_or(0))
        })
        .collect();
    for (reading, count) in readings.iter_mut().zip(counts) {
        reading.connections = count;
    }
}

/// The shared copies of the ids of a cycle's targets, so that the sink connections pointing at
/// an element hold its id instead of copies of it.
pub struct SharedIds<'a>(HashMap<&'a str, &'a Arc<str>>);

impl<'a> SharedIds<'a> {
    pub fn of(targets: &'a [Target]) -> Self {
        SharedIds(targets.iter().map(|t| (&*t.id, &t.id)).collect())
    }

    /// The shared copy of `id`, or a new one for an id outside the targets.
    pub fn get(&self, id: &str) -> Arc<str> {
        self.0
            .get(id)
            .map_or_else(|| Arc::from(id), |shared| Arc::clone(shared))
    }
}

/// An element to read this cycle.
#[derive(Debug, Clone)]
pub struct Target {
    /// The inventory's copy of the id, shared.
    pub id: Arc<str>,
    pub element_type: String,
    pub scope: Scope,
}

/// What one cycle's element reads produced.
#[derive(Debug, Default)]
pub struct CycleReads {
    pub readings: Vec<ElementReading>,
    /// Elements whose stats were all read (their missing streams are gone).
    pub stats_complete: BTreeSet<Arc<str>>,
    /// Elements that answered 40101: released since the inventory saw them.
    pub gone: BTreeSet<Arc<str>>,
    /// Failed reads other than "object not found".
    pub errors: Vec<KmsError>,
}

/// Reads every target, `in_flight` transactions at a time. A transaction that times out declares
/// KMS silent (the caller then abandons these reads).
pub async fn read_elements(
    kms: &Kms,
    targets: &[Target],
    in_flight: usize,
    silence: &Silence,
) -> CycleReads {
    // Whole elements per transaction, so one element's reads share a round trip.
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut ops_in_chunk = 0;
    for (index, target) in targets.iter().enumerate() {
        let n = plan(ElementKind::of(&target.element_type)).len();
        if n == 0 {
            continue;
        }
        if chunks.is_empty() || ops_in_chunk + n > OPS_PER_TRANSACTION {
            chunks.push(Vec::new());
            ops_in_chunk = 0;
        }
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(index);
        }
        ops_in_chunk += n;
    }
    let ids = SharedIds::of(targets);
    let results: Vec<CycleReads> = stream::iter(chunks)
        .map(|chunk| read_chunk(kms, targets, chunk, silence, &ids))
        .buffer_unordered(in_flight.max(1))
        .collect()
        .await;
    let mut out = CycleReads::default();
    for chunk in results {
        out.errors.extend(chunk.errors);
        out.readings.extend(chunk.readings);
        out.stats_complete.extend(chunk.stats_complete);
        out.gone.extend(chunk.gone);
    }
    count_connections(&mut out.readings);
    out
}

/// Decodes a chunk's outcomes into readings, so the raw replies are dropped as soon as the chunk
/// is done (a cycle over 10,000 endpoints never holds all of its JSON at once).
fn decode_chunk(
    targets: &[Target],
    elements: Vec<ChunkElement>,
    gone: &BTreeSet<usize>,
    out: &mut CycleReads,
    ids: &SharedIds,
) {
    for ChunkElement {
        index,
        reads,
        outcomes,
    } in elements
    {
        let target = &targets[index];
        if gone.contains(&index) {
            out.gone.insert(target.id.clone());
            continue;
        }
        let results: Vec<(Read, Option<&RawValue>)> = reads
            .iter()
            .zip(&outcomes)
            .map(|(read, outcome)| {
                let value = outcome.as_ref().and_then(|o| o.as_ref().ok());
                (*read, value.map(|v| &**v))
            })
            .collect();
        let (reading, complete) = decode(
            &target.id,
            &target.element_type,
            &target.scope,
            &results,
            ids,
        );
        if complete {
            out.stats_complete.insert(target.id.clone());
        }
        out.readings.push(reading);
    }
}

/// One element of a chunk: its target index, its planned reads and their outcomes so far.
struct ChunkElement {
    index: usize,
    reads: Vec<Read>,
    outcomes: Vec<OpOutcome>,
}

/// The ops of one chunk still to run, and what the ones that ran answered. Pure: [`read_chunk`]
/// sends [`ChunkState::next_ops`] as one transaction and feeds the answer to
/// [`ChunkState::apply`]. KMS stops a transaction at its first failing op and answers nothing
/// for the rest ([docs/kms-protocol.md §6](../../docs/kms-protocol.md)), so the ops after a
/// failure are sent again in the next transaction; the ops of an element KMS says is gone are
/// dropped.
struct ChunkState {
    elements: Vec<ChunkElement>,
    /// Targets (by index) that answered "object not found".
    gone: BTreeSet<usize>,
    /// (position in `elements`, read index) of every op still to run.
    pending: Vec<(usize, usize)>,
    errors: Vec<KmsError>,
}

impl ChunkState {
    fn new(targets: &[Target], chunk: &[usize]) -> Self {
        let elements: Vec<ChunkElement> = chunk
            .iter()
            .map(|&index| {
                let reads = plan(ElementKind::of(&targets[index].element_type));
                let outcomes = vec![None; reads.len()];
                ChunkElement {
                    index,
                    reads,
                    outcomes,
                }
            })
            .collect();
        let pending = elements
            .iter()
            .enumerate()
            .flat_map(|(pos, e)| (0..e.reads.len()).map(move |r| (pos, r)))
            .collect();
        ChunkState {
            elements,
            gone: BTreeSet::new(),
            pending,
            errors: Vec::new(),
        }
    }

    /// The next transaction's ops, or `None` when every op ran or was dropped.
    fn next_ops(&self, targets: &[Target]) -> Option<Vec<Op>> {
        if self.pending.is_empty() {
            return None;
        }
        let ops = self
            .pending
            .iter()
            .map(|&(pos, r)| {
                let e = &self.elements[pos];
                e.reads[r].op(&targets[e.index].id)
            })
            .collect();
        Some(ops)
    }

    /// Records a transaction's outcomes (one per op of [`ChunkState::next_ops`], `None` for ops
    /// KMS did not run) and keeps the ops to resend. A reply that ran none of the ops would
    /// resend the same transaction forever: it ends the chunk with a decode error instead.
    fn apply(&mut self, ops: &[Op], outcomes: Vec<OpOutcome>) {
        let mut next = Vec::new();
        for ((&(pos, r), op), outcome) in self.pending.iter().zip(ops).zip(outcomes) {
            let index = self.elements[pos].index;
            if self.gone.contains(&index) {
                continue;
            }
            match outcome {
                None => next.push((pos, r)),
                Some(Err(error)) if error.is_object_not_found() => {
                    self.gone.insert(index);
                }
                Some(Err(error)) => {
                    self.errors.push(KmsError {
                        operation: op.operation.to_owned(),
                        object: Some(op.object.to_string()),
                        source: ClientError::Rpc(error.clone()),
                    });
                    self.elements[pos].outcomes[r] = Some(Err(error));
                }
                Some(Ok(value)) => self.elements[pos].outcomes[r] = Some(Ok(value)),
            }
        }
        // Ops of an element found gone later in this transaction are not resent either.
        next.retain(|&(pos, _)| !self.gone.contains(&self.elements[pos].index));
        if !next.is_empty() && next.len() == self.pending.len() {
            self.errors.push(KmsError {
                operation: "transaction".to_owned(),
                object: None,
                source: ClientError::Decode("KMS ran none of the transaction's operations".into()),
            });
            next.clear();
        }
        self.pending = next;
    }
}

/// Runs one chunk's ops, resuming after each failing op until every op ran or was dropped.
async fn read_chunk(
    kms: &Kms,
    targets: &[Target],
    chunk: Vec<usize>,
    silence: &Silence,
    ids: &SharedIds<'_>,
) -> CycleReads {
    let mut state = ChunkState::new(targets, &chunk);
    while let Some(ops) = state.next_ops(targets) {
        match silence.check(kms.transaction(&ops).await) {
            Ok(outcomes) => state.apply(&ops, outcomes),
            Err(err) => {
                // The connection failed or timed out: the rest of the chunk is lost this cycle.
                state.errors.push(err);
                break;
            }
        }
    }
    let mut result = CycleReads {
        errors: state.errors,
        ..CycleReads::default()
    };
    decode_chunk(targets, state.elements, &state.gone, &mut result, ids);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kurento::protocol;
    use crate::kurento::stats::SelectedPair;

    fn targets(types: &[&str]) -> Vec<Target> {
        types
            .iter()
            .enumerate()
            .map(|(i, ty)| Target {
                id: format!("P_kurento.MediaPipeline/E{i}_kurento.{ty}").into(),
                element_type: (*ty).to_owned(),
                scope: Scope::default(),
            })
            .collect()
    }

    fn ok() -> OpOutcome {
        Some(Ok(RawValue::from_string("true".into()).unwrap()))
    }

    fn failed(code: i64) -> OpOutcome {
        Some(Err(protocol::RpcError::kms(code, "boom")))
    }

    /// (target, operation) of each op, for readable assertions.
    fn names(ops: &[Op]) -> Vec<(String, &'static str)> {
        ops.iter()
            .map(|op| (op.object[op.object.len() - 2..].to_owned(), op.operation))
            .collect()
    }

    #[test]
    fn a_failing_op_is_recorded_and_the_ops_after_it_are_resent() {
        let targets = targets(&["PassThrough", "PassThrough"]);
        let mut state = ChunkState::new(&targets, &[0, 1]);
        let first = state.next_ops(&targets).unwrap();
        let per_element = plan(ElementKind::Plain).len();
        assert_eq!(first.len(), 2 * per_element);
        // KMS ran two ops, the third failed, and it stopped there.
        let mut outcomes = vec![ok(), ok(), failed(40001)];
        outcomes.resize(first.len(), None);
        state.apply(&first, outcomes);
        let second = state.next_ops(&targets).unwrap();
        assert_eq!(names(&second), names(&first[3..]));
        assert_eq!(state.errors.len(), 1);
        assert_eq!(state.errors[0].operation, first[2].operation);
        assert_eq!(state.errors[0].object.as_deref(), Some(&*first[2].object));
        assert!(state.elements[0].outcomes[2].as_ref().unwrap().is_err());
        // Everything else succeeds: nothing is left and every outcome is filled in.
        state.apply(&second, vec![ok(); second.len()]);
        assert!(state.next_ops(&targets).is_none());
        assert!(
            state
                .elements
                .iter()
                .all(|e| e.outcomes.iter().all(Option::is_some))
        );
    }

    #[test]
    fn an_element_gone_mid_transaction_loses_only_its_own_ops() {
        let targets = targets(&["PassThrough", "PassThrough"]);
        let mut state = ChunkState::new(&targets, &[0, 1]);
        let first = state.next_ops(&targets).unwrap();
        let mut outcomes = vec![ok(), failed(protocol::codes::MEDIA_OBJECT_NOT_FOUND)];
        outcomes.resize(first.len(), None);
        state.apply(&first, outcomes);
        let second = state.next_ops(&targets).unwrap();
        assert!(
            second.iter().all(|op| *op.object == *targets[1].id),
            "{:?}",
            names(&second)
        );
        assert_eq!(second.len(), plan(ElementKind::Plain).len());
        assert!(state.errors.is_empty(), "not found is churn, not an error");
        state.apply(&second, vec![ok(); second.len()]);
        assert!(state.next_ops(&targets).is_none());
        let mut out = CycleReads::default();
        decode_chunk(
            &targets,
            state.elements,
            &state.gone,
            &mut out,
            &SharedIds::of(&targets),
        );
        assert_eq!(out.gone, BTreeSet::from([targets[0].id.clone()]));
        assert_eq!(out.readings.len(), 1);
        assert_eq!(out.readings[0].id, targets[1].id);
    }

    #[test]
    fn a_reply_that_runs_nothing_ends_the_chunk_instead_of_looping() {
        let targets = targets(&["WebRtcEndpoint"]);
        let mut state = ChunkState::new(&targets, &[0]);
        let ops = state.next_ops(&targets).unwrap();
        state.apply(&ops, vec![None; ops.len()]);
        assert!(state.next_ops(&targets).is_none());
        assert!(matches!(
            state.errors[..],
            [KmsError {
                source: ClientError::Decode(_),
                ..
            }]
        ));
    }

    #[test]
    fn a_chunk_with_nothing_to_read_sends_nothing() {
        let targets = targets(&["Composite"]);
        let state = ChunkState::new(&targets, &[0]);
        assert!(state.next_ops(&targets).is_none());
    }

    #[test]
    fn reads_per_element_kind() {
        assert_eq!(plan(ElementKind::of("WebRtcEndpoint")).len(), 13);
        assert_eq!(plan(ElementKind::of("RtpEndpoint")).len(), 11);
        assert_eq!(plan(ElementKind::of("RecorderEndpoint")).len(), 9);
        assert_eq!(plan(ElementKind::of("HubPort")).len(), 8);
        assert!(plan(ElementKind::of("Composite")).is_empty());
        let ops: Vec<&str> = plan(ElementKind::WebRtc)
            .iter()
            .map(|r| r.op(&Arc::from("x")).operation)
            .collect();
        assert!(
            ops.iter()
                .all(|op| op.starts_with("get") || op.starts_with("is"))
        );
    }

    #[test]
    fn the_most_indirect_candidate_wins() {
        use CandidateType::*;
        let pair = |l, r| SelectedPair {
            local: Some(l),
            remote: Some(r),
            local_address: None,
            remote_address: None,
        };
        assert_eq!(selected_candidate(&[pair(Host, Host)]), Some(Host));
        assert_eq!(selected_candidate(&[pair(Host, Srflx)]), Some(Srflx));
        assert_eq!(
            selected_candidate(&[pair(Host, Host), pair(Relay, Host)]),
            Some(Relay)
        );
        assert_eq!(selected_candidate(&[]), None);
    }

    #[test]
    fn decodes_an_endpoint_with_units_and_media_from_the_request() {
        let raw = |text: &str| RawValue::from_string(text.to_owned()).unwrap();
        let audio = raw(
            r#"{"i":{"type":"inboundrtp","id":"i","bytesReceived":100,"packetsReceived":10,
                "packetsLost":-1,"jitter":0.002,"fractionLost":64,"ssrc":"1"},
              "E":{"type":"endpoint","id":"E","E2ELatency":[{"type":"AUDIO","avg":20000000.0},{"type":"VIDEO","avg":1.0}],
                "inputLatency":[]}}"#,
        );
        let video = raw(
            r#"{"o":{"type":"outboundrtp","id":"o","bytesSent":900,"packetsSent":30,
                "roundTripTime":0.05,"targetBitrate":800000,"remb":1000000,"ssrc":"2"}}"#,
        );
        let flowing = raw("true");
        let state = raw(r#""CONNECTED""#);
        let ice = raw(r#"[{"state": "READY"}]"#);
        let results = [
            (Read::Stats(Some(Media::Audio)), Some(&*audio)),
            (Read::Stats(Some(Media::Video)), Some(&*video)),
            (Read::FlowingIn(Media::Video), Some(&*flowing)),
            (Read::MediaState, Some(&*state)),
            (Read::IceStates, Some(&*ice)),
        ];
        let no_ids = SharedIds::of(&[]);
        let (reading, complete) = decode(
            &Arc::from("e"),
            "WebRtcEndpoint",
            &Scope::default(),
            &results,
            &no_ids,
        );
        assert!(complete);
        assert_eq!(reading.streams.len(), 2);
        let inbound = reading
            .streams
            .iter()
            .find(|s| s.direction == Some(Direction::Inbound))
            .unwrap();
        assert_eq!(inbound.media, Some(Media::Audio));
        assert_eq!(inbound.packets_lost, -1);
        let outbound = reading
            .streams
            .iter()
            .find(|s| s.direction == Some(Direction::Outbound))
            .unwrap();
        assert_eq!(outbound.media, Some(Media::Video));
        assert_eq!(outbound.remb_bps, 1_000_000);
        // Only the latency of the media asked for, in seconds.
        assert_eq!(reading.e2e_latency, vec![(Media::Audio, 0.02)]);
        assert_eq!(reading.flowing_in, [None, Some(true)]);
        assert_eq!(reading.media_state, Some(Connectivity::Connected));
        assert_eq!(reading.ice_state, Some(IceState::Ready));

        let (_, complete) = decode(
            &Arc::from("e"),
            "WebRtcEndpoint",
            &Scope::default(),
            &[(Read::Stats(Some(Media::Audio)), None)],
            &no_ids,
        );
        assert!(!complete, "a failed stats read leaves the counters alone");
    }

    #[test]
    fn connection_counts_add_the_sinks_pointing_at_each_element() {
        use crate::kurento::connections::SinkConnection;
        let reading = |id: &str, sinks: Option<&[&str]>| ElementReading {
            id: id.into(),
            sinks: sinks.map(|s| {
                s.iter()
                    .map(|sink| SinkConnection::new(sink, "AUDIO"))
                    .collect()
            }),
            ..ElementReading::default()
        };
        let mut readings = vec![
            reading("p/a", Some(&["p/b", "p/b", "p/h/port"])),
            reading("p/b", Some(&["p/a"])),
            reading("p/h/port", Some(&[])),
            reading("p/alone", Some(&[])),
            reading("q/x", Some(&["q/y"])),
            reading("q/y", None),
        ];
        count_connections(&mut readings);
        let counts: Vec<Option<usize>> = readings.iter().map(|r| r.connections).collect();
        assert_eq!(
            counts,
            [Some(4), Some(3), Some(1), Some(0), None, None],
            "a: 3 sinks + 1 source; b: 1 sink + 2 sources; q: y's links are unknown"
        );
    }
}
