//! The per-cycle media reads of every element (docs/architecture.md "One poll cycle"): the reads
//! [`plan`]ned for each element, batched into `transaction`s (one round trip for many elements),
//! resumed after a failing operation (KMS stops a transaction at its first error, and an element
//! released mid-cycle must not cost the others their data), and decoded into `ElementReading`s
//! (`poll::answers`). The chunk bookkeeping is pure; `read_elements` is the I/O shell.

use std::collections::BTreeSet;
use std::sync::Arc;

use foldhash::{HashMap, HashSet};
use futures_util::StreamExt;
use futures_util::stream;

use crate::analysis::model::ElementReading;
use crate::kurento::kinds::ElementKind;
use crate::kurento::{ClientError, Kms, KmsError, Op, OpOutcome};
use crate::poll::answers::{Answer, AnswerDecoder, Memory, SharedIds, reading_of};
use crate::poll::plan::{Read, Target, plan};
use crate::poll::silence::Silence;

/// Operations per transaction: nine WebRTC endpoints (13 reads each) per round trip. Each
/// round trip costs the exporter system calls and wake-ups whatever its size: going from 64 to
/// 128 took 6–10 % off the fleet case's CPU (BENCHMARKS.md, 2026-12-01). Bounded so that one
/// transaction does not hold a KMS socket for long, and because every read connection keeps a
/// buffer the size of its largest reply (~70 KB here; the fleet case's memory).
const OPS_PER_TRANSACTION: usize = 128;

/// Sets each reading's connection count (sources plus sinks) from the sink connections the
/// cycle read: an element's source connections are the sink connections of the elements of its
/// pipeline that point to it (KMS keeps both sides of every link), so `getSourceConnections` is
/// not read. Left `None` for the elements of a pipeline where some element's sinks are unknown
/// (its read failed this cycle): a link into them might be missing.
pub fn count_connections(readings: &mut [ElementReading]) {
    fn pipeline(id: &str) -> &str {
        id.split('/').next().unwrap_or(id)
    }
    let mut sources: HashMap<&str, usize> = HashMap::default();
    let mut unknown: HashSet<&str> = HashSet::default();
    for reading in readings.iter() {
        match &reading.sinks {
            Some(sinks) => {
                for link in sinks.iter() {
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
    /// The remembered answers of this cycle (sink connections, candidate pairs), for the next.
    pub remembered: Memory,
}

/// Reads every target, `in_flight` transactions at a time. A transaction that times out declares
/// KMS silent (the caller then abandons these reads). `previous` is what the last cycle's
/// remembered reads answered ([`CycleReads::remembered`]).
pub async fn read_elements(
    kms: &Kms,
    targets: &[Target],
    in_flight: usize,
    silence: &Silence,
    previous: &Memory,
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
        .map(|chunk| read_chunk(kms, targets, chunk, silence, (&ids, previous)))
        .buffer_unordered(in_flight.max(1))
        .collect()
        .await;
    let mut out = CycleReads::default();
    for chunk in results {
        out.errors.extend(chunk.errors);
        out.readings.extend(chunk.readings);
        out.stats_complete.extend(chunk.stats_complete);
        out.gone.extend(chunk.gone);
        out.remembered.extend(chunk.remembered);
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
        let (reading, complete) =
            reading_of(target, reads.into_iter().zip(outcomes), &mut out.remembered);
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
    outcomes: Vec<OpOutcome<Answer>>,
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
        let ops = self.pending_reads(targets).map(|(read, id)| read.op(id));
        Some(ops.collect())
    }

    /// The decoder of the answers to [`ChunkState::next_ops`].
    fn decoder<'a>(
        &self,
        targets: &'a [Target],
        (ids, previous): (&'a SharedIds<'a>, &'a Memory),
    ) -> AnswerDecoder<'a> {
        let ops = self.pending_reads(targets).collect();
        AnswerDecoder { ops, ids, previous }
    }

    /// Each op still to run: what it reads, of which element.
    fn pending_reads<'t>(
        &self,
        targets: &'t [Target],
    ) -> impl Iterator<Item = (Read, &'t Arc<str>)> {
        self.pending.iter().map(|&(pos, r)| {
            let e = &self.elements[pos];
            (e.reads[r], &targets[e.index].id)
        })
    }

    /// Records a transaction's outcomes (one per op of [`ChunkState::next_ops`], `None` for ops
    /// KMS did not run) and keeps the ops to resend. A reply that ran none of the ops would
    /// resend the same transaction forever: it ends the chunk with a decode error instead.
    fn apply(&mut self, ops: &[Op], outcomes: Vec<OpOutcome<Answer>>) {
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
    shared: (&SharedIds<'_>, &Memory),
) -> CycleReads {
    let mut state = ChunkState::new(targets, &chunk);
    while let Some(ops) = state.next_ops(targets) {
        let decoder = state.decoder(targets, shared);
        match silence.check(kms.transaction(&ops, &decoder).await) {
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
    decode_chunk(targets, state.elements, &state.gone, &mut result);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::Scope;
    use crate::kurento::protocol;

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

    fn ok() -> OpOutcome<Answer> {
        Some(Ok(Answer::Flag(Some(true))))
    }

    fn failed(code: i64) -> OpOutcome<Answer> {
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
        decode_chunk(&targets, state.elements, &state.gone, &mut out);
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
