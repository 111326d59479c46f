//! One task per KMS target: connect (with backoff), build the inventory, keep it current from
//! manager events, read the per-cycle values, and publish a snapshot to the store after every
//! cycle. The bookkeeping (`TargetState`) is pure; `run` is the I/O shell around it.
//!
//! Transparency (design §3.1): per-cycle reads happen in the read session, whose references are
//! dropped by `Kms::end_cycle` at the end of every cycle (and of the inventory build);
//! `getPipelines` is called only at (re)connect and for reconciliation, at most every
//! `reconcile_interval` (10 min or more).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use futures_util::stream;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use std::collections::{BTreeSet, HashMap};

use crate::analysis::counters::{ElementStreams, RtpCounters, TranscodingTransitions};
use crate::analysis::detail::{DetailPolicy, Placement, ScopeAssigner};
use crate::analysis::model::{ElementReading, Media, Scope};
use crate::analysis::snapshot::{
    ExporterStats, MediaState, PollErrorReason, ServerState, TargetSnapshot,
};
use crate::analysis::summary::MediaSummary;
use crate::analysis::zombie::{
    ElementView, PipelineView, ZombiePolicy, ZombieReport, ZombieTracker,
};
use crate::kurento::client::{RequestCounter, RequestIds};
use crate::kurento::ops::{Kms, KmsError, KmsOptions};
use crate::kurento::protocol::ManagerEvent;
use crate::kurento::reconnect::{Backoff, wait_before_retry};
use crate::poll::inventory::{Applied, Inventory};
use crate::poll::reads::{self, CycleReads, Target};
use crate::poll::schedule::Schedule;
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
}

/// Reads of new pipelines run this many at a time per read connection: KMS serves one request
/// at a time per socket, so a little queueing per socket hides round-trip latency and no more.
const READS_IN_FLIGHT_PER_CONNECTION: usize = 4;

/// The pure bookkeeping of one target across connections and cycles.
#[derive(Debug)]
pub struct TargetState {
    name: String,
    stats: ExporterStats,
    server_id: Option<String>,
    server: Option<ServerState>,
    inventory: Option<Inventory>,
    up: bool,
    /// The last cycle's element readings aggregated for the metrics (`None` while KMS is
    /// unreachable).
    summary: Option<MediaSummary>,
    counters: RtpCounters,
    transitions: TranscodingTransitions,
    assigner: ScopeAssigner,
    live_scopes: BTreeSet<Scope>,
    series_dropped_total: u64,
    zombies: ZombieTracker,
    zombie_report: Option<ZombieReport>,
}

impl TargetState {
    pub fn new(name: &str, detail: DetailPolicy, zombie: ZombiePolicy) -> Self {
        TargetState {
            name: name.to_owned(),
            stats: ExporterStats::default(),
            server_id: None,
            server: None,
            inventory: None,
            up: false,
            summary: None,
            counters: RtpCounters::default(),
            transitions: TranscodingTransitions::default(),
            assigner: ScopeAssigner::new(detail),
            live_scopes: BTreeSet::new(),
            series_dropped_total: 0,
            zombies: ZombieTracker::new(zombie),
            zombie_report: None,
        }
    }

    /// A connection was established to a server with this `serverId`. A different id than the
    /// last one seen means KMS restarted.
    pub fn connected(&mut self, server_id: &str) {
        if self
            .server_id
            .as_deref()
            .is_some_and(|previous| previous != server_id)
        {
            self.stats.restarts_total += 1;
            // The new process counts from zero: every stream seen from now on is new.
            self.counters.forget_streams();
        }
        self.server_id = Some(server_id.to_owned());
        self.transitions.reconnected();
    }

    /// The connection is gone or could not be made: nothing read before is fresh any more.
    pub fn lost(&mut self, reason: PollErrorReason, detail: String) {
        self.record_error(reason, detail);
        self.up = false;
        self.server = None;
        self.inventory = None;
        self.summary = None;
        self.zombie_report = None;
    }

    pub fn record_error(&mut self, reason: PollErrorReason, detail: String) {
        *self.stats.poll_errors.entry(reason).or_default() += 1;
        self.stats.last_error = Some(detail);
    }

    pub fn set_inventory(&mut self, inventory: Inventory) {
        self.inventory = Some(inventory);
    }

    pub fn inventory_mut(&mut self) -> Option<&mut Inventory> {
        self.inventory.as_mut()
    }

    /// Applies a manager event to the inventory and counts it by object type.
    pub fn apply_event(&mut self, event: &ManagerEvent) {
        let applied = match self.inventory.as_mut() {
            Some(inventory) => inventory.apply(event),
            // Events before the first inventory are still counted; the listing will hold them.
            None => Inventory::default().apply(event),
        };
        let counters = match &applied {
            Applied::Created(_) => &mut self.stats.objects_created_total,
            Applied::Destroyed(_) => &mut self.stats.objects_destroyed_total,
        };
        let (Applied::Created(ty) | Applied::Destroyed(ty)) = applied;
        *counters.entry(ty).or_default() += 1;
    }

    /// A cycle finished: `server` holds what was read, `up` whether every server read worked.
    pub fn cycle_finished(
        &mut self,
        up: bool,
        server: Option<ServerState>,
        duration: Duration,
        now: f64,
    ) {
        self.up = up;
        self.server = server;
        self.stats.last_poll_duration_seconds = Some(duration.as_secs_f64());
        self.stats.cycles_finished += 1;
        if up {
            self.stats.last_success_unix_seconds = Some(now);
        }
    }

    /// Where each element's series go this cycle, and what to read.
    fn read_targets(&mut self) -> Vec<Target> {
        let Some(inventory) = self.inventory.as_ref() else {
            return Vec::new();
        };
        let elements = inventory.media_elements();
        let placements: Vec<Placement> = elements
            .iter()
            .map(|e| Placement {
                element: e.id,
                element_type: e.element_type,
                pipeline: e.pipeline,
                pipeline_label: e.pipeline_label,
            })
            .collect();
        let assignment = self.assigner.assign(&placements);
        self.series_dropped_total += assignment.dropped;
        self.live_scopes = assignment.live;
        elements
            .into_iter()
            .map(|e| {
                let scope = assignment.scopes.get(e.id).cloned().unwrap_or_default();
                Target {
                    id: e.id.to_owned(),
                    element_type: e.element_type.to_owned(),
                    scope,
                }
            })
            .collect()
    }

    /// Accounts a cycle's element reads at Unix time `now`: counters, transcoding transitions,
    /// the metrics summary and the zombie verdicts. The readings themselves are not kept.
    fn media_read(&mut self, reads: CycleReads, now: f64) {
        let complete: Vec<ElementStreams> = reads
            .readings
            .iter()
            .filter(|r| reads.stats_complete.contains(&r.id))
            .map(|r| ElementStreams {
                element: &r.id,
                scope: &r.scope,
                streams: &r.streams,
            })
            .collect();
        self.counters.observe(&complete, &self.live_scopes);
        if let Some(inventory) = self.inventory.as_ref() {
            self.counters.retain_elements(&inventory.ids());
        }
        self.transitions
            .observe(reads.readings.iter().flat_map(|r| {
                Media::ALL
                    .into_iter()
                    .filter_map(move |m| Some((r.id.as_str(), m, r.transcoding[m as usize]?)))
            }));
        for err in &reads.errors {
            self.record_error(reason_of(err), err.to_string());
        }
        self.summary = Some(MediaSummary::of(&reads.readings));
        self.judge_zombies(now, &reads.readings);
    }

    /// Judges zombies from the inventory and this cycle's readings, at Unix time `now`.
    fn judge_zombies(&mut self, now: f64, readings: &[ElementReading]) {
        let Some(inventory) = self.inventory.as_ref() else {
            return;
        };
        let by_id: HashMap<&str, &ElementReading> =
            readings.iter().map(|r| (r.id.as_str(), r)).collect();
        let state = inventory.state();
        let elements = inventory.media_elements();
        let mut by_pipeline: HashMap<&str, Vec<ElementView>> = HashMap::new();
        for e in &elements {
            by_pipeline
                .entry(e.pipeline)
                .or_default()
                .push(ElementView {
                    id: e.id,
                    element_type: e.element_type,
                    reading: by_id.get(e.id).copied(),
                });
        }
        let views: Vec<PipelineView> = state
            .pipelines
            .iter()
            .map(|p| PipelineView {
                id: &p.id,
                name: p.name.as_deref(),
                created_unix_seconds: p.created_unix_seconds,
                elements: by_pipeline.remove(p.id.as_str()).unwrap_or_default(),
            })
            .collect();
        self.zombie_report = Some(self.zombies.observe(now, &views));
    }

    /// A failed connection attempt also ends a cycle (readiness counts it: the answer is known).
    pub fn attempt_failed(&mut self, duration: Duration) {
        self.stats.last_poll_duration_seconds = Some(duration.as_secs_f64());
        self.stats.cycles_finished += 1;
    }

    pub fn snapshot(&self, requests_total: u64, now: f64) -> TargetSnapshot {
        let mut stats = self.stats.clone();
        stats.kms_requests_total = requests_total;
        TargetSnapshot {
            kms: self.name.clone(),
            up: self.up,
            taken_unix_seconds: now,
            exporter: stats,
            server: self.server.clone(),
            objects: self.inventory.as_ref().map(Inventory::state),
            media: self.summary.as_ref().map(|summary| MediaState {
                summary: summary.clone(),
                rtp_totals: self.counters.totals().clone(),
                transcoding_transitions: self.transitions.totals().clone(),
                series_dropped_total: self.series_dropped_total,
            }),
            zombies: self.zombie_report.clone(),
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn reason_of(err: &KmsError) -> PollErrorReason {
    PollErrorReason::from(&err.source)
}

/// Static server facts read once per connection.
struct ServerFacts {
    version: String,
    cpu_count: Option<u32>,
}

/// Polls one target until `shutdown`.
pub async fn run(
    spec: TargetSpec,
    store: Arc<Store>,
    ids: Arc<RequestIds>,
    shutdown: CancellationToken,
) {
    let requests = RequestCounter::default();
    let mut state = TargetState::new(&spec.name, spec.detail.clone(), spec.zombie);
    let mut backoff = Backoff::new(
        Duration::from_millis(250),
        spec.schedule
            .interval()
            .clamp(Duration::from_secs(1), Duration::from_secs(30)),
        seed_for(&spec.name),
    );
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
                tracing::info!(kms = %spec.name, server_id = kms.server_id(), "connected to KMS");
                let reason = watch(
                    &spec, &kms, events, &mut state, &store, &requests, &shutdown,
                )
                .await;
                let Some((reason, detail)) = reason else {
                    return;
                };
                tracing::warn!(kms = %spec.name, reason = reason.label(), error = %detail, "lost KMS");
                state.lost(reason, detail);
            }
            Err(err) => {
                tracing::warn!(kms = %spec.name, reason = reason_of(&err).label(), error = %err, "cannot connect to KMS");
                state.lost(reason_of(&err), err.to_string());
                state.attempt_failed(attempt.elapsed());
            }
        }
        store.publish(state.snapshot(requests.get(), unix_now()));
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
    // The first cycle runs at once, later ones on the target's slots (see `schedule`).
    let first_started = Instant::now();
    if let Some(lost) = connection.cycle(&mut events, state).await {
        return Some(lost);
    }
    let mut ticker = tokio::time::interval_at(
        spec.schedule.next_slot(first_started),
        spec.schedule.interval(),
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut reconcile = tokio::time::interval_at(
        Instant::now() + spec.reconcile_interval,
        spec.reconcile_interval,
    );
    reconcile.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            event = events.recv() => match event {
                Some(event) => state.apply_event(&event),
                None => return Some((PollErrorReason::Disconnected, "events connection closed".to_owned())),
            },
            _ = reconcile.tick() => {
                if let Err(err) = rebuild_inventory(kms, state, in_flight).await {
                    return Some((reason_of(&err), err.to_string()));
                }
            }
            _ = ticker.tick() => {
                if let Some(lost) = connection.cycle(&mut events, state).await {
                    return Some(lost);
                }
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
        let lost = poll_cycle(self.spec, self.kms, &self.facts, state, self.in_flight).await;
        self.store
            .publish(state.snapshot(self.requests.get(), unix_now()));
        lost
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
    let listed = list_objects(kms, in_flight).await;
    // Whatever happened, drop the references the listing took.
    let ended = kms.end_cycle().await;
    let ids = listed?;
    ended?;
    match state.inventory_mut() {
        Some(inventory) => inventory.reconcile(ids),
        None => state.set_inventory(Inventory::from_listing(ids)),
    }
    Ok(())
}

async fn list_objects(kms: &Kms, in_flight: usize) -> Result<Vec<String>, KmsError> {
    let mut all = Vec::new();
    let mut level = kms.get_pipelines().await?;
    while !level.is_empty() {
        let children: Vec<Result<Vec<String>, KmsError>> = stream::iter(level.clone())
            .map(|id| async move { kms.get_children(&id).await })
            .buffered(in_flight)
            .collect()
            .await;
        all.append(&mut level);
        for result in children {
            match result {
                Ok(mut ids) => level.append(&mut ids),
                Err(err) if err.is_object_not_found() => {}
                Err(err) => return Err(err),
            }
        }
    }
    Ok(all)
}

/// One poll cycle. Returns why the connection is lost, if it is.
async fn poll_cycle(
    spec: &TargetSpec,
    kms: &Kms,
    facts: &ServerFacts,
    state: &mut TargetState,
    in_flight: usize,
) -> Option<(PollErrorReason, String)> {
    let started = Instant::now();
    let missing = state
        .inventory_mut()
        .map(|inv| inv.pipelines_missing_metadata())
        .unwrap_or_default();
    // New pipelines' names first: they label the series of their elements.
    let metadata: Vec<_> = stream::iter(missing)
        .map(|id| async move {
            let created = kms.get_creation_time(&id).await;
            let name = kms.get_name(&id).await;
            (id, created, name)
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let mut object_failures = Vec::new();
    if let Some(inventory) = state.inventory_mut() {
        for (id, created, name) in metadata {
            match (created, name) {
                (Ok(created), Ok(name)) => inventory.set_metadata(&id, Some(name), created),
                // Released between listing and reading: normal churn, the event will follow.
                (Err(err), _) | (_, Err(err)) if err.is_object_not_found() => {}
                (Err(err), _) | (_, Err(err)) => object_failures.push(err),
            }
        }
    }
    let targets = state.read_targets();
    let (memory, sessions, cpu, element_reads) = tokio::join!(
        kms.get_used_memory(),
        kms.get_sessions(),
        kms.get_used_cpu(spec.cpu_sample),
        reads::read_elements(kms, &targets, in_flight),
    );
    let ended = kms.end_cycle().await;
    let now = unix_now();
    state.media_read(element_reads, now);

    let mut failures: Vec<KmsError> = Vec::new();
    let memory = keep(memory, &mut failures);
    let own = kms.own_sessions();
    let sessions = keep(sessions, &mut failures)
        .map(|s| s.iter().filter(|id| !own.contains(*id)).count() as u64);
    let cpu = keep(cpu, &mut failures);
    keep(ended, &mut failures);
    let server_ok = failures.is_empty();
    for err in failures.iter().chain(&object_failures) {
        state.record_error(reason_of(err), err.to_string());
    }
    let server = ServerState {
        version: facts.version.clone(),
        server_id: kms.server_id().to_owned(),
        cpu_count: facts.cpu_count,
        cpu_used_percent: cpu,
        memory_resident_kib: memory,
        sessions,
    };
    state.cycle_finished(server_ok, Some(server), started.elapsed(), now);
    if kms.is_closed() {
        let detail = failures
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "connection closed".to_owned());
        return Some((PollErrorReason::Disconnected, detail));
    }
    None
}

/// The value of a read, or `None` with its error kept for accounting.
fn keep<T>(result: Result<T, KmsError>, failures: &mut Vec<KmsError>) -> Option<T> {
    result.map_err(|e| failures.push(e)).ok()
}

/// A per-target seed, so targets do not retry in lockstep yet runs are reproducible.
fn seed_for(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zombie_policy() -> ZombiePolicy {
        ZombiePolicy {
            idle_after: Duration::from_secs(300),
            max_age: None,
        }
    }

    fn aggregated() -> DetailPolicy {
        DetailPolicy {
            level: crate::analysis::detail::DetailLevel::Aggregated,
            max_series: 10,
            pipelines: None,
        }
    }

    #[test]
    fn a_new_server_id_counts_a_restart_but_the_first_does_not() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.connected("s1");
        state.connected("s1");
        assert_eq!(state.stats.restarts_total, 0);
        state.connected("s2");
        assert_eq!(state.stats.restarts_total, 1);
    }

    #[test]
    fn losing_kms_drops_everything_read_from_it_but_keeps_counters() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.connected("s1");
        state.set_inventory(Inventory::from_listing([
            "p_kurento.MediaPipeline".to_owned()
        ]));
        state.apply_event(&ManagerEvent::Created("q_kurento.MediaPipeline".into()));
        state.cycle_finished(
            true,
            Some(ServerState {
                version: "7".into(),
                server_id: "s1".into(),
                cpu_count: Some(2),
                cpu_used_percent: Some(1.0),
                memory_resident_kib: Some(1),
                sessions: Some(1),
            }),
            Duration::from_millis(5),
            100.0,
        );
        let snap = state.snapshot(7, 101.0);
        assert!(snap.up);
        assert_eq!(snap.objects.as_ref().unwrap().pipelines.len(), 2);
        assert_eq!(snap.exporter.kms_requests_total, 7);
        assert_eq!(snap.exporter.last_success_unix_seconds, Some(100.0));

        state.lost(PollErrorReason::Disconnected, "gone".into());
        let snap = state.snapshot(9, 102.0);
        assert!(!snap.up);
        assert!(snap.server.is_none());
        assert!(snap.objects.is_none());
        assert_eq!(snap.exporter.objects_created_total["MediaPipeline"], 1);
        assert_eq!(snap.exporter.poll_errors[&PollErrorReason::Disconnected], 1);
        assert_eq!(snap.exporter.last_success_unix_seconds, Some(100.0));
    }

    #[test]
    fn seeds_differ_by_target_and_are_stable() {
        assert_eq!(seed_for("kms-a"), seed_for("kms-a"));
        assert_ne!(seed_for("kms-a"), seed_for("kms-b"));
    }
}
