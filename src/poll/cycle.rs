//! One poll cycle against a connected KMS: the I/O step. It reads what the target's state asks
//! for (new pipelines' metadata, then every element and the server-wide values, concurrently)
//! and hands each result to the pure update in [`TargetState`].

use futures_util::StreamExt;
use futures_util::stream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::analysis::snapshot::PollErrorReason;
use crate::kurento::ops::Kms;
use crate::poll::reads;
use crate::poll::state::{CycleRead, PipelineMetadata, ServerFacts, TargetState};

/// One poll cycle. Returns why the connection is lost, if it is.
pub(crate) async fn poll_cycle(
    cpu_sample: Duration,
    kms: &Kms,
    facts: &ServerFacts,
    state: &mut TargetState,
    in_flight: usize,
) -> Option<(PollErrorReason, String)> {
    let started = Instant::now();
    // New pipelines' names first: they label the series of their elements.
    let metadata: Vec<PipelineMetadata> = stream::iter(state.pipelines_missing_metadata())
        .map(|id| async move {
            let created = kms.get_creation_time(&id).await;
            let name = kms.get_name(&id).await;
            PipelineMetadata { id, created, name }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    state.metadata_read(metadata);
    let targets = state.read_targets();
    let (memory, sessions, cpu, elements) = tokio::join!(
        kms.get_used_memory(),
        kms.get_sessions(),
        kms.get_used_cpu(cpu_sample),
        reads::read_elements(kms, &targets, in_flight),
    );
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
    state.cycle_read(read, started.elapsed(), unix_now());
    if kms.is_closed() {
        let detail = state
            .last_failure()
            .unwrap_or("connection closed")
            .to_owned();
        return Some((PollErrorReason::Disconnected, detail));
    }
    None
}

/// Wall-clock Unix time, for snapshot ages and zombie clocks.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
