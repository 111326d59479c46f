//! One poll cycle against a connected KMS: the I/O step. It reads what the target's state asks
//! for (the server-wide values, and new pipelines' metadata then every element, concurrently)
//! and hands each result to the pure update in [`TargetState`].
//!
//! Liveness (README "Failures"): the server-wide reads are sent first, when the cycle starts, so
//! they time out at most one timeout later if KMS is silent. The first read of the cycle that
//! times out abandons the rest of it ([`Silence`]); the read session is then closed in the
//! background instead of waiting another timeout for `closeSession`, and the cycle publishes
//! `up 0` with everything read from KMS withdrawn.

use futures_util::StreamExt;
use futures_util::stream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::analysis::snapshot::PollErrorReason;
use crate::kurento::ops::{Kms, KmsError};
use crate::poll::reads::{self, CycleReads};
use crate::poll::silence::Silence;
use crate::poll::state::{
    CycleRead, CycleVerdict, PipelineMetadata, ServerFacts, TIMED_OUT_CYCLES_BEFORE_LOST,
    TargetState, reason_of,
};

/// One poll cycle. Returns why the connection is lost, if it is.
pub(crate) async fn poll_cycle(
    cpu_sample: Duration,
    kms: &Kms,
    facts: &ServerFacts,
    state: &mut TargetState,
    in_flight: usize,
) -> Option<(PollErrorReason, String)> {
    let started = Instant::now();
    let silence = Silence::new();
    // Polled first by `join!`, so these are the first requests of the cycle on the wire.
    let server = async {
        tokio::join!(
            async { silence.check(kms.get_used_memory().await) },
            async { silence.check(kms.get_sessions().await) },
        )
    };
    let cpu = silence.unless_silent(async { silence.check(kms.get_used_cpu(cpu_sample).await) });
    let media = silence.unless_silent(read_media(kms, state, in_flight, &silence));
    let ((memory, sessions), cpu, elements) = tokio::join!(server, cpu, media);
    let verdict = match (cpu, elements) {
        (Some(cpu), Some(elements)) if !silence.is_silent() => {
            let end_of_cycle = kms.end_cycle().await;
            let read = CycleRead {
                facts: facts.clone(),
                server_id: kms.server_id().to_owned(),
                own_sessions: kms.own_sessions(),
                memory,
                sessions,
                cpu,
                end_of_cycle,
                elements,
            };
            state.cycle_read(read, started.elapsed(), unix_now())
        }
        (cpu, _) => {
            close_session_in_background(kms);
            let completed = [memory.err(), sessions.err(), cpu.and_then(Result::err)];
            let failures = silent_cycle_failures(completed, silence.first_timeout());
            state.cycle_timed_out(failures, started.elapsed())
        }
    };
    why_lost(kms, state, verdict)
}

/// New pipelines' names and creation times (they label the series of their elements), then
/// every element.
async fn read_media(
    kms: &Kms,
    state: &mut TargetState,
    in_flight: usize,
    silence: &Silence,
) -> CycleReads {
    let metadata: Vec<PipelineMetadata> = stream::iter(state.pipelines_missing_metadata())
        .map(|id| async move {
            let created = silence.check(kms.get_creation_time(&id).await);
            let name = silence.check(kms.get_name(&id).await);
            PipelineMetadata { id, created, name }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    state.metadata_read(metadata);
    let targets = state.read_targets();
    let previous = state.take_answer_memory();
    reads::read_elements(kms, &targets, in_flight, silence, &previous).await
}

/// KMS did not answer in time: nothing waits for `closeSession`, but it still drops the cycle's
/// references if KMS answers later (transparency), and ends when the connection is closed.
pub(crate) fn close_session_in_background(kms: &Kms) {
    let closing = kms.end_cycle_detached();
    tokio::spawn(async move {
        if let Err(err) = closing.await {
            tracing::debug!(error = %err, "closing the read session of a timed-out cycle failed");
        }
    });
}

/// The failures of a timed-out cycle: the read that timed out first leads (it may have been
/// abandoned with its branch of the cycle, and is then not among the completed reads), then the
/// other completed reads that failed.
fn silent_cycle_failures(
    completed: [Option<KmsError>; 3],
    first_timeout: Option<KmsError>,
) -> Vec<KmsError> {
    let mut failures: Vec<KmsError> = completed.into_iter().flatten().collect();
    if let Some(first) = first_timeout {
        failures.retain(|f| *f != first);
        failures.insert(0, first);
    }
    failures
}

/// Why the connection is lost after a cycle, if it is: a socket closed (with its reason), or the
/// cycle was the last of too many timed-out ones in a row.
fn why_lost(
    kms: &Kms,
    state: &TargetState,
    verdict: CycleVerdict,
) -> Option<(PollErrorReason, String)> {
    if kms.is_closed() {
        return Some(closed_because(kms));
    }
    match verdict {
        CycleVerdict::TimedOut { lost: true } => Some((
            PollErrorReason::Timeout,
            format!(
                "no reply from KMS in {TIMED_OUT_CYCLES_BEFORE_LOST} cycles in a row ({})",
                state.last_failure().unwrap_or("no detail")
            ),
        )),
        CycleVerdict::TimedOut { lost: false } | CycleVerdict::Answered => None,
    }
}

/// Why a closed connection closed (the first closed socket's reason).
pub(crate) fn closed_because(kms: &Kms) -> (PollErrorReason, String) {
    match kms.close_reason() {
        Some(err) => (reason_of(&err), err.to_string()),
        None => (
            PollErrorReason::Disconnected,
            "connection closed".to_owned(),
        ),
    }
}

/// Wall-clock Unix time, for snapshot ages and zombie clocks.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kurento::ClientError;

    fn failed(operation: &str, source: ClientError) -> KmsError {
        KmsError {
            operation: operation.into(),
            object: None,
            source,
        }
    }

    #[test]
    fn the_first_timeout_leads_the_failures_of_a_silent_cycle_once() {
        let timeout = || ClientError::Timeout {
            method: "invoke".into(),
        };
        let memory = failed("getUsedMemory", timeout());
        let sessions = failed("getSessions", timeout());
        let element = failed("transaction", timeout());
        let cases = [
            (
                [Some(memory.clone()), Some(sessions.clone()), None],
                Some(sessions.clone()),
                vec![sessions.clone(), memory.clone()],
            ),
            (
                [None, None, None],
                Some(element.clone()),
                vec![element.clone()],
            ),
            (
                [Some(memory.clone()), None, None],
                Some(element.clone()),
                vec![element.clone(), memory.clone()],
            ),
        ];
        for (completed, first, want) in cases {
            assert_eq!(silent_cycle_failures(completed, first), want);
        }
    }
}
