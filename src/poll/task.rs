//! One task per KMS target: connect (with backoff), build the inventory, keep it current from
//! manager events, read the per-cycle values, and publish a snapshot to the store after every
//! cycle. The bookkeeping (`TargetState`) is pure; `run` is the I/O shell around it.
//!
//! Transparency (docs/architecture.md "Transparency and economy"): per-cycle reads happen in the
//! read session, whose references are dropped by `Kms::end_cycle` at the end of every cycle (and of
//! the inventory build); `getPipelines` is called only at (re)connect and for reconciliation, at
//! most every `reconcile_interval` (10 min or more).
//!
//! Logging: a change of `kurento_up` is logged once (down at warn with the reason, up at info),
//! never once per cycle or per reconnect attempt; the details are at debug.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::analysis::detail::DetailPolicy;
use crate::analysis::snapshot::{ExporterStats, PollErrorReason};
use crate::analysis::zombie::ZombiePolicy;
use crate::kurento::client::{RequestCounter, RequestIds};
use crate::kurento::deadline;
use crate::kurento::health::ProbeTarget;
use crate::kurento::ops::{Kms, KmsError, KmsOptions};
use crate::kurento::protocol::ManagerEvent;
use crate::kurento::reconnect::{Backoff, wait_before_retry};
use crate::poll::cycle::{self, close_session_in_background, unix_now};
use crate::poll::health::{HealthProbeSpec, ProbeObjects, run_prober};
use crate::poll::schedule::Schedule;
use crate::poll::silence::is_timeout;
use crate::poll::state::{ServerFacts, TargetState, UpChange, reason_of};
use crate::poll::store::Store;

/// How one target is polled.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The `kms` label.
    pub name: String,
    pub kms: KmsOptions,
    /// When cycles run (the poll interval, and this target's offset within it).
    pub schedule: Schedule,
    pub reconcile_interval: Duration,
    /// The `interval` of `getUsedCpu` (it blocks its own connection that long).
    pub cpu_sample: Duration,
    pub detail: DetailPolicy,
    pub zombie: ZombiePolicy,
    /// The deep health check (README "Health probe"); `None` when off, the default.
    pub health_probe: Option<HealthProbeSpec>,
}

/// Reads of new pipelines run this many at a time per read connection: KMS serves one request
/// at a time per socket, so a little queueing per socket hides round-trip latency and no more.
pub(crate) const READS_IN_FLIGHT_PER_CONNECTION: usize = 4;

/// Polls one target until `shutdown`, its counters going on from `carried` (what an earlier
/// poller of this target counted; see `TargetState::resumed`). `requests` is the target's
/// counter, shared with its on-demand reads (`poll::sdp`); only what is sent from now on is
/// added to `carried`.
pub async fn run(
    spec: TargetSpec,
    carried: ExporterStats,
    store: Arc<Store>,
    ids: Arc<RequestIds>,
    requests: RequestCounter,
    shutdown: CancellationToken,
) {
    let requests = requests.from_now();
    let probe = Arc::new(ProbeObjects::default());
    let mut state = TargetState::resumed(&spec.name, spec.detail.clone(), spec.zombie, carried)
        .with_probe(probe.clone());
    // The prober lives as long as this poller: dropping the guard (return or abort) stops it
    // after the probe in flight, whose releases are never cut short.
    let _prober = spec.health_probe.as_ref().map(|health| {
        let stop = shutdown.child_token();
        let target = ProbeTarget {
            url: spec.kms.url.clone(),
            client: spec.kms.client.clone(),
            timeout: health.timeout,
        };
        tokio::spawn(run_prober(
            spec.name.clone(),
            target,
            health.interval,
            probe.clone(),
            ids.clone(),
            requests.clone(),
            stop.clone(),
        ));
        stop.drop_guard()
    });
    let mut backoff = Backoff::new(
        Duration::from_millis(250),
        spec.schedule
            .interval()
            .clamp(Duration::from_secs(1), Duration::from_secs(30)),
        seed_for(&spec.name),
    );
    // Targets started with the exporter connect spread over its first second (see `schedule`).
    tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = tokio::time::sleep_until(spec.schedule.first_connect()) => {}
    }
    loop {
        let attempt = Instant::now();
        let connected = tokio::select! {
            _ = shutdown.cancelled() => return,
            c = Kms::connect(&spec.kms, ids.clone(), requests.clone()) => c,
        };
        match connected {
            Ok((kms, events)) => {
                backoff.reset();
                state.connected(kms.server_id());
                tracing::debug!(kms = %spec.name, server_id = kms.server_id(), "connected to KMS");
                let reason = watch(
                    &spec, &kms, events, &mut state, &store, &requests, &shutdown,
                )
                .await;
                // Ends every socket now, calls still in flight (a read session being closed in
                // the background) included.
                kms.close();
                let Some((reason, detail)) = reason else {
                    return;
                };
                tracing::debug!(kms = %spec.name, reason = reason.label(), error = %detail, "lost KMS");
                state.lost(reason, detail);
            }
            Err(err) => {
                tracing::debug!(kms = %spec.name, reason = reason_of(&err).label(), error = %err, "cannot connect to KMS");
                state.lost(reason_of(&err), err.to_string());
                state.attempt_failed(attempt.elapsed());
            }
        }
        publish(&spec.name, &mut state, &store, &requests);
        if !wait_before_retry(&mut backoff, &shutdown).await {
            return;
        }
    }
}

/// Watches one connected KMS until it is lost (returns why) or shutdown (returns `None`).
async fn watch(
    spec: &TargetSpec,
    kms: &Kms,
    mut events: mpsc::Receiver<ManagerEvent>,
    state: &mut TargetState,
    store: &Store,
    requests: &RequestCounter,
    shutdown: &CancellationToken,
) -> Option<(PollErrorReason, String)> {
    let facts = match read_facts(kms).await {
        Ok(f) => f,
        Err(err) => return Some((reason_of(&err), err.to_string())),
    };
    let in_flight = spec.kms.connections.max(1) * READS_IN_FLIGHT_PER_CONNECTION;
    if let Err(err) = rebuild_inventory(kms, state, in_flight).await {
        return Some((reason_of(&err), err.to_string()));
    }
    let connection = Connection {
        spec,
        kms,
        facts,
        store,
        requests,
        in_flight,
    };
    // The first cycle runs at once, later ones on the target's slots (see `schedule`). Both
    // deadlines saturate (`deadline::after`, `Schedule::next_cycle`): no duration can panic here.
    let first_started = Instant::now();
    if let Some(lost) = connection.cycle(&mut events, state).await {
        return Some(lost);
    }
    let mut next_cycle = spec.schedule.next_cycle(first_started);
    let mut next_reconcile = deadline::after(Instant::now(), spec.reconcile_interval);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            event = events.recv() => match event {
                Some(event) => state.apply_event(&event),
                None => return Some(cycle::closed_because(kms)),
            },
            _ = tokio::time::sleep_until(next_reconcile) => {
                if let Err(err) = rebuild_inventory(kms, state, in_flight).await {
                    return Some((reason_of(&err), err.to_string()));
                }
                next_reconcile = deadline::after(Instant::now(), spec.reconcile_interval);
            }
            _ = tokio::time::sleep_until(next_cycle) => {
                let started = Instant::now();
                if let Some(lost) = connection.cycle(&mut events, state).await {
                    return Some(lost);
                }
                // At most one interval after this cycle's start (at once if this cycle overran
                // that): the liveness bound of README "Failures" rests on it.
                next_cycle = spec.schedule.next_cycle(started);
            }
        }
    }
}

/// What a poll cycle needs from one connection to KMS.
struct Connection<'a> {
    spec: &'a TargetSpec,
    kms: &'a Kms,
    facts: ServerFacts,
    store: &'a Store,
    requests: &'a RequestCounter,
    in_flight: usize,
}

impl Connection<'_> {
    /// Runs one poll cycle and publishes its snapshot. Returns why the connection is lost, if
    /// it is.
    async fn cycle(
        &self,
        events: &mut mpsc::Receiver<ManagerEvent>,
        state: &mut TargetState,
    ) -> Option<(PollErrorReason, String)> {
        // Apply what arrived before the cycle starts, so the snapshot is as fresh as it can be.
        while let Ok(event) = events.try_recv() {
            state.apply_event(&event);
        }
        state.leave_out_probe_objects();
        let lost = cycle::poll_cycle(
            self.spec.cpu_sample,
            self.kms,
            &self.facts,
            state,
            self.in_flight,
        )
        .await;
        publish(&self.spec.name, state, self.store, self.requests);
        lost
    }
}

/// Publishes the target's snapshot, and logs a change of `up` once: down at warn with the first
/// failure that took it down, up at info.
fn publish(name: &str, state: &mut TargetState, store: &Store, requests: &RequestCounter) {
    store.publish(state.snapshot(requests.get(), unix_now()));
    match state.up_change() {
        Some(UpChange::Up) => tracing::info!(kms = %name, "KMS up"),
        Some(UpChange::Down { reason, detail }) => {
            tracing::warn!(kms = %name, reason = reason.label(), error = %detail, "KMS down");
        }
        None => {}
    }
}

async fn read_facts(kms: &Kms) -> Result<ServerFacts, KmsError> {
    let info = kms.get_info().await?;
    let cpu_count = kms.get_cpu_count().await.ok();
    Ok(ServerFacts {
        version: info.version,
        cpu_count,
    })
}

/// Lists every object (pipelines, then children level by level; hubs own their ports) and
/// replaces the inventory. Objects released meanwhile (40101) are simply left out.
async fn rebuild_inventory(
    kms: &Kms,
    state: &mut TargetState,
    in_flight: usize,
) -> Result<(), KmsError> {
    // Whatever happened, drop the references the listing took; without waiting another timeout
    // for it when KMS stopped answering.
    let ids = match list_objects(kms, in_flight).await {
        Err(err) if is_timeout(&err) => {
            close_session_in_background(kms);
            return Err(err);
        }
        listed => {
            let ended = kms.end_cycle().await;
            let ids = listed?;
            ended?;
            ids
        }
    };
    state.listed(ids);
    Ok(())
}

/// Every object id, level by level. Stops at the first failure (other than an object released
/// meanwhile) instead of waiting for the rest of the level: on a silent KMS each round of
/// `getChildren` would cost one more timeout.
async fn list_objects(kms: &Kms, in_flight: usize) -> Result<Vec<String>, KmsError> {
    let mut all = Vec::new();
    let mut level = kms.get_pipelines().await?;
    while !level.is_empty() {
        let mut next_level = Vec::new();
        let mut children = stream::iter(level.clone())
            .map(|id| async move { kms.get_children(&id).await })
            .buffered(in_flight);
        while let Some(result) = children.next().await {
            match result {
                Ok(mut ids) => next_level.append(&mut ids),
                Err(err) if err.is_object_not_found() => {}
                Err(err) => return Err(err),
            }
        }
        all.append(&mut level);
        level = next_level;
    }
    Ok(all)
}

/// A per-target seed, so targets do not retry in lockstep yet runs are reproducible.
pub(crate) fn seed_for(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_target_and_are_stable() {
        assert_eq!(seed_for("kms-a"), seed_for("kms-a"));
        assert_ne!(seed_for("kms-a"), seed_for("kms-b"));
    }
}
