//! The bookkeeping of one target across connections and cycles: what the I/O shell
//! (`poll::task`, `poll::cycle`) read goes in, a [`TargetSnapshot`] comes out. Pure: no I/O, no
//! clock (times are passed in), table-tested.
//!
//! Liveness: a cycle in which a read got no reply in time publishes `up 0` and withdraws
//! everything read from KMS (server, objects, media, zombies), as a lost connection does; after
//! [`TIMED_OUT_CYCLES_BEFORE_LOST`] such cycles in a row the connection is declared lost, without
//! waiting for the keepalive ping (which is only sent on an idle socket).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use foldhash::HashMap;

use crate::analysis::counters::{ElementStreams, RtpCounters, TranscodingTransitions};
use crate::analysis::detail::{DetailPolicy, Placement, ScopeAssigner};
use crate::analysis::model::{ElementReading, Media, Scope};
use crate::analysis::snapshot::{
    ExporterStats, MediaState, PollErrorReason, ServerState, TargetSnapshot,
};
use crate::analysis::summary::MediaSummary;
use crate::analysis::topology::Topology;
use crate::analysis::zombie::{
    ElementView, PipelineView, ZombiePolicy, ZombieReport, ZombieTracker,
};
use crate::kurento::health::PROBE_OBJECT_NAME;
use crate::kurento::ops::KmsError;
use crate::kurento::protocol::{ManagerEvent, parent_id};
use crate::poll::answers::Memory;
use crate::poll::health::ProbeObjects;
use crate::poll::inventory::{Applied, Inventory, type_label};
use crate::poll::plan::Target;
use crate::poll::reads::CycleReads;
use crate::poll::silence::is_timeout;

/// Timed-out cycles in a row after which the connection is declared lost and reopened. Two: one
/// cycle may be a hiccup (its data is withdrawn anyway); a second means KMS or the path to it is
/// stuck, and a fresh connection is the way to find out whether KMS is back.
pub const TIMED_OUT_CYCLES_BEFORE_LOST: u32 = 2;

/// What a cycle says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleVerdict {
    /// KMS answered every read, possibly with errors.
    Answered,
    /// A read got no reply in time: KMS-derived data is withdrawn. `lost` once that happened in
    /// [`TIMED_OUT_CYCLES_BEFORE_LOST`] cycles in a row.
    TimedOut { lost: bool },
}

/// A change of `kurento_up` worth a log line: each change is reported once, never every cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpChange {
    Up,
    /// With the first failure that took the target down.
    Down {
        reason: PollErrorReason,
        detail: String,
    },
}

/// Static server facts read once per connection.
#[derive(Debug, Clone)]
pub struct ServerFacts {
    pub version: String,
    pub cpu_count: Option<u32>,
}

/// A new pipeline's `getCreationTime` and `getName`, as read.
#[derive(Debug)]
pub struct PipelineMetadata {
    pub id: String,
    pub created: Result<i64, KmsError>,
    pub name: Result<String, KmsError>,
}

/// Everything one cycle read from KMS, each read's success or failure kept for the accounting.
#[derive(Debug)]
pub struct CycleRead {
    pub facts: ServerFacts,
    pub server_id: String,
    /// The exporter's own sessions, left out of the session count.
    pub own_sessions: BTreeSet<String>,
    pub memory: Result<u64, KmsError>,
    pub sessions: Result<BTreeSet<String>, KmsError>,
    pub cpu: Result<f64, KmsError>,
    /// Closing the read session (dropping the cycle's references).
    pub end_of_cycle: Result<(), KmsError>,
    pub elements: CycleReads,
}

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
    /// The last cycle's elements for the inspection API (`None` while KMS is unreachable).
    topology: Option<Arc<Topology>>,
    /// The first server-wide failure of the last cycle, or why the connection was lost.
    last_failure: Option<(PollErrorReason, String)>,
    /// The last cycle timed out: what was read from KMS before is withheld from snapshots.
    silent: bool,
    timed_out_cycles: u32,
    /// The `up` value last reported by [`TargetState::up_change`].
    reported_up: Option<bool>,
    /// The health probe's objects and verdict (empty when the probe is off).
    probe: Arc<ProbeObjects>,
    /// Pipelines whose `ObjectCreated` came while a probe's `create` awaited its reply: counted
    /// (or not, if they are the probe's) once that reply is in.
    uncounted_pipelines: Vec<String>,
    /// What the elements answered to the remembered reads in the last cycle that read them.
    answer_memory: Memory,
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
            topology: None,
            last_failure: None,
            silent: false,
            timed_out_cycles: 0,
            reported_up: None,
            probe: Arc::default(),
            uncounted_pipelines: Vec::new(),
            answer_memory: Memory::default(),
        }
    }

    /// This state, leaving out what `probe` says the health probe holds.
    pub fn with_probe(mut self, probe: Arc<ProbeObjects>) -> Self {
        self.probe = probe;
        self
    }

    /// Leaves the health probe's pipelines out of the inventory's views, and counts the
    /// pipeline creations held back while a probe's `create` was in flight that were not the
    /// probe's. Runs before each cycle and after each listing.
    pub fn leave_out_probe_objects(&mut self) {
        let creating = self.probe.is_creating();
        let mut held = std::mem::take(&mut self.uncounted_pipelines);
        held.retain(|id| {
            if self.probe.owns(id) {
                return false;
            }
            if creating {
                return true;
            }
            *self
                .stats
                .objects_created_total
                .entry(type_label(id))
                .or_default() += 1;
            false
        });
        self.uncounted_pipelines = held;
        if let Some(inventory) = self.inventory.as_mut() {
            for pipeline in self.probe.pipelines() {
                inventory.exclude(&pipeline);
            }
        }
    }

    /// The state of a target whose previous poller failed (see `app::supervisor`): its counters
    /// go on from `stats` instead of restarting at zero, so a restarted poller does not look like
    /// a counter reset, and the failure that restarted it stays counted.
    pub fn resumed(
        name: &str,
        detail: DetailPolicy,
        zombie: ZombiePolicy,
        stats: ExporterStats,
    ) -> Self {
        let mut state = TargetState::new(name, detail, zombie);
        state.stats = stats;
        state
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
        self.record_error(reason, detail.clone());
        self.last_failure = Some((reason, detail));
        self.up = false;
        self.server = None;
        self.inventory = None;
        self.summary = None;
        self.zombie_report = None;
        self.topology = None;
        self.silent = false;
        self.timed_out_cycles = 0;
    }

    pub fn record_error(&mut self, reason: PollErrorReason, detail: String) {
        *self.stats.poll_errors.entry(reason).or_default() += 1;
        self.stats.last_error = Some(detail);
    }

    /// A read that failed: a poll error by its reason, and a read error by its KMS operation, so
    /// one failing `getUsedCpu` is told apart from a KMS that answers nothing.
    fn read_failed(&mut self, err: &KmsError) {
        self.record_error(reason_of(err), err.to_string());
        *self
            .stats
            .read_errors
            .entry(err.operation.clone())
            .or_default() += 1;
    }

    /// A new listing of every object: reconciles the inventory with it (or starts one).
    pub fn listed(&mut self, ids: Vec<String>) {
        match self.inventory.as_mut() {
            Some(inventory) => inventory.reconcile(ids),
            None => self.inventory = Some(Inventory::from_listing(ids)),
        }
        self.leave_out_probe_objects();
    }

    /// Pipelines whose name and creation time are still to be read.
    pub fn pipelines_missing_metadata(&self) -> Vec<String> {
        self.inventory
            .as_ref()
            .map(Inventory::pipelines_missing_metadata)
            .unwrap_or_default()
    }

    /// Applies a manager event to the inventory and counts it by object type.
    pub fn apply_event(&mut self, event: &ManagerEvent) {
        let (ManagerEvent::Created(id) | ManagerEvent::Destroyed(id)) = event;
        if self.probe.owns(id) {
            // The health probe's objects are neither inventoried nor counted.
            if let (ManagerEvent::Destroyed(_), Some(inventory)) = (event, self.inventory.as_mut())
            {
                inventory.apply(event);
            }
            return;
        }
        if matches!(event, ManagerEvent::Created(_))
            && parent_id(id).is_none()
            && self.probe.is_creating()
        {
            if let Some(inventory) = self.inventory.as_mut() {
                inventory.apply(event);
            }
            self.uncounted_pipelines.push(id.clone());
            return;
        }
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

    /// Records the names and creation times of new pipelines (read before the element reads:
    /// they label the series of their elements).
    pub fn metadata_read(&mut self, metadata: Vec<PipelineMetadata>) {
        let mut failures = Vec::new();
        if let Some(inventory) = self.inventory.as_mut() {
            for PipelineMetadata { id, created, name } in metadata {
                match (created, name) {
                    (Ok(created), Ok(name)) => {
                        // Another exporter's probe (an HA replica, an earlier process).
                        if name == PROBE_OBJECT_NAME {
                            inventory.exclude(&id);
                        }
                        inventory.set_metadata(&id, Some(name), created);
                    }
                    // Released between listing and reading: normal churn, the event will follow.
                    (Err(err), _) | (_, Err(err)) if err.is_object_not_found() => {}
                    (Err(err), _) | (_, Err(err)) => failures.push(err),
                }
            }
        }
        for err in failures {
            self.read_failed(&err);
        }
    }

    /// Accounts what a cycle read, at Unix time `now`: the target is up when every server-wide
    /// read (and the end of the read session) worked; element reads that failed count as errors
    /// without taking it down. A server-wide read that timed out makes it a timed-out cycle (see
    /// [`TargetState::cycle_timed_out`]).
    pub fn cycle_read(&mut self, read: CycleRead, duration: Duration, now: f64) -> CycleVerdict {
        let CycleRead {
            facts,
            server_id,
            own_sessions,
            memory,
            sessions,
            cpu,
            end_of_cycle,
            mut elements,
        } = read;
        self.answer_memory = std::mem::take(&mut elements.remembered);
        let mut failures: Vec<KmsError> = Vec::new();
        let memory = keep(memory, &mut failures);
        let probe_sessions = self.probe.sessions();
        let sessions = keep(sessions, &mut failures).map(|s| {
            s.iter()
                .filter(|id| !own_sessions.contains(*id) && !probe_sessions.contains(*id))
                .count() as u64
        });
        let cpu = keep(cpu, &mut failures);
        keep(end_of_cycle, &mut failures);
        if failures.iter().any(is_timeout) {
            failures.extend(elements.errors);
            return self.cycle_timed_out(failures, duration);
        }
        self.media_read(elements, now);
        let up = failures.is_empty();
        for err in &failures {
            self.read_failed(err);
        }
        self.up = up;
        self.server = Some(ServerState {
            version: facts.version,
            server_id,
            cpu_count: facts.cpu_count,
            cpu_used_percent: cpu,
            memory_resident_kib: memory,
            sessions,
        });
        self.stats.last_poll_duration_seconds = Some(duration.as_secs_f64());
        self.stats.cycles_finished += 1;
        if up {
            self.stats.last_success_unix_seconds = Some(now);
        }
        self.last_failure = failures.first().map(|e| (reason_of(e), e.to_string()));
        self.silent = false;
        self.timed_out_cycles = 0;
        CycleVerdict::Answered
    }

    /// A cycle in which a read got no reply in time (`failures` holds it first, then the other
    /// reads that failed). KMS is silent, so nothing read from it before is fresh: the target is
    /// down and server, objects, media and zombies are withheld until a cycle is answered again.
    /// The inventory itself is kept (events still update it), only hidden.
    pub fn cycle_timed_out(&mut self, failures: Vec<KmsError>, duration: Duration) -> CycleVerdict {
        for err in &failures {
            self.read_failed(err);
        }
        self.last_failure = failures.first().map(|e| (reason_of(e), e.to_string()));
        self.up = false;
        self.server = None;
        self.summary = None;
        self.zombie_report = None;
        self.topology = None;
        self.silent = true;
        self.stats.last_poll_duration_seconds = Some(duration.as_secs_f64());
        self.stats.cycles_finished += 1;
        self.timed_out_cycles = self.timed_out_cycles.saturating_add(1);
        CycleVerdict::TimedOut {
            lost: self.timed_out_cycles >= TIMED_OUT_CYCLES_BEFORE_LOST,
        }
    }

    /// The first server-wide failure of the last cycle, or why the connection was lost.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure
            .as_ref()
            .map(|(_, detail)| detail.as_str())
    }

    /// `up` changed since the last call: report it (the task logs it once).
    pub fn up_change(&mut self) -> Option<UpChange> {
        if self.reported_up == Some(self.up) {
            return None;
        }
        self.reported_up = Some(self.up);
        if self.up {
            return Some(UpChange::Up);
        }
        let (reason, detail) = self.last_failure.clone().unwrap_or((
            PollErrorReason::Disconnected,
            "no cycle answered yet".to_owned(),
        ));
        Some(UpChange::Down { reason, detail })
    }

    /// What the last cycle's remembered reads answered, for this cycle's reads (which give back
    /// a new memory with their [`CycleReads`]).
    pub fn take_answer_memory(&mut self) -> Memory {
        std::mem::take(&mut self.answer_memory)
    }

    /// Where each element's series go this cycle, and what to read.
    pub fn read_targets(&mut self) -> Vec<Target> {
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
                let scope = assignment.scopes.get(&**e.id).cloned().unwrap_or_default();
                Target {
                    id: Arc::clone(e.id),
                    element_type: e.element_type.to_owned(),
                    scope,
                }
            })
            .collect()
    }

    /// Accounts a cycle's element reads at Unix time `now`: counters, transcoding transitions,
    /// the metrics summary, the zombie verdicts, and the readings themselves for the inspection
    /// API.
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
                    .filter_map(move |m| Some((&*r.id, m, r.transcoding[m as usize]?)))
            }));
        for err in &reads.errors {
            self.read_failed(err);
        }
        self.summary = Some(MediaSummary::of(&reads.readings));
        self.judge_zombies(now, &reads.readings);
        self.keep_topology(reads.readings, now);
    }

    /// Keeps the cycle's readings, with their stream rates, for the inspection API.
    fn keep_topology(&mut self, readings: Vec<ElementReading>, now: f64) {
        let Some(inventory) = self.inventory.as_ref() else {
            return;
        };
        let elements = inventory.media_elements();
        let topology = Topology::new(
            elements.iter().map(|e| (Arc::clone(e.id), e.element_type)),
            readings,
            self.topology.as_deref(),
            now,
        );
        self.topology = Some(Arc::new(topology));
    }

    /// Judges zombies from the inventory and this cycle's readings, at Unix time `now`.
    fn judge_zombies(&mut self, now: f64, readings: &[ElementReading]) {
        let Some(inventory) = self.inventory.as_ref() else {
            return;
        };
        let by_id: HashMap<&str, &ElementReading> = readings.iter().map(|r| (&*r.id, r)).collect();
        let state = inventory.state();
        let elements = inventory.media_elements();
        let mut by_pipeline: HashMap<&str, Vec<ElementView>> = HashMap::default();
        for e in &elements {
            by_pipeline
                .entry(e.pipeline)
                .or_default()
                .push(ElementView {
                    id: e.id,
                    element_type: e.element_type,
                    reading: by_id.get(&**e.id).copied(),
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
        // `self.stats` holds only the requests of earlier pollers (0 unless `resumed`); this
        // poller's own are counted by its connections.
        stats.kms_requests_total = self.stats.kms_requests_total + requests_total;
        stats.health_probe = self.probe.last().or(self.stats.health_probe);
        TargetSnapshot {
            kms: self.name.clone(),
            up: self.up,
            taken_unix_seconds: now,
            exporter: stats,
            server: self.server.clone(),
            objects: self
                .inventory
                .as_ref()
                .filter(|_| !self.silent)
                .map(Inventory::state),
            media: self.summary.as_ref().map(|summary| MediaState {
                summary: summary.clone(),
                rtp_totals: self.counters.totals().clone(),
                transcoding_transitions: self.transitions.totals().clone(),
                series_dropped_total: self.series_dropped_total,
            }),
            zombies: self.zombie_report.clone(),
            topology: self.topology.clone(),
        }
    }
}

pub fn reason_of(err: &KmsError) -> PollErrorReason {
    PollErrorReason::from(&err.source)
}

/// The value of a read, or `None` with its error kept for accounting.
fn keep<T>(result: Result<T, KmsError>, failures: &mut Vec<KmsError>) -> Option<T> {
    result.map_err(|e| failures.push(e)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kurento::ClientError;
    use std::collections::BTreeMap;

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

    fn facts() -> ServerFacts {
        ServerFacts {
            version: "7.3.0".into(),
            cpu_count: Some(2),
        }
    }

    fn cycle(memory: Result<u64, KmsError>) -> CycleRead {
        CycleRead {
            facts: facts(),
            server_id: "s1".into(),
            own_sessions: BTreeSet::from(["mine".to_owned()]),
            memory,
            sessions: Ok(BTreeSet::from(["mine".to_owned(), "app".to_owned()])),
            cpu: Ok(12.5),
            end_of_cycle: Ok(()),
            elements: CycleReads::default(),
        }
    }

    fn timeout(operation: &str) -> KmsError {
        KmsError {
            operation: operation.into(),
            object: None,
            source: ClientError::Timeout {
                method: "invoke".into(),
            },
        }
    }

    #[test]
    fn a_cycle_whose_server_reads_work_is_up_and_counts_only_foreign_sessions() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.connected("s1");
        state.listed(vec!["p_kurento.MediaPipeline".to_owned()]);
        state.cycle_read(cycle(Ok(2048)), Duration::from_millis(5), 100.0);
        let snap = state.snapshot(3, 100.5);
        assert!(snap.up);
        let server = snap.server.unwrap();
        assert_eq!(server.sessions, Some(1));
        assert_eq!(server.memory_resident_kib, Some(2048));
        assert_eq!(server.version, "7.3.0");
        assert_eq!(snap.exporter.last_success_unix_seconds, Some(100.0));
        assert_eq!(snap.exporter.last_poll_duration_seconds, Some(0.005));
        assert!(snap.exporter.poll_errors.is_empty());
        assert!(snap.media.is_some() && snap.zombies.is_some());
        assert_eq!(state.last_failure(), None);
    }

    fn kms_error(operation: &str) -> KmsError {
        KmsError {
            operation: operation.into(),
            object: None,
            source: ClientError::Rpc(crate::kurento::protocol::RpcError::kms(40001, "boom")),
        }
    }

    #[test]
    fn a_failed_server_read_takes_the_target_down_and_is_counted_by_reason() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.connected("s1");
        state.cycle_read(cycle(Ok(1)), Duration::from_millis(5), 100.0);
        let verdict = state.cycle_read(
            cycle(Err(kms_error("getUsedMemory"))),
            Duration::from_millis(5),
            115.0,
        );
        assert_eq!(verdict, CycleVerdict::Answered);
        let snap = state.snapshot(3, 115.5);
        assert!(!snap.up);
        assert_eq!(snap.server.unwrap().memory_resident_kib, None);
        assert_eq!(snap.exporter.poll_errors[&PollErrorReason::KmsError], 1);
        // Which read failed is counted by its operation.
        assert_eq!(
            snap.exporter.read_errors,
            BTreeMap::from([("getUsedMemory".to_owned(), 1)])
        );
        assert_eq!(snap.exporter.last_success_unix_seconds, Some(100.0));
        assert_eq!(snap.exporter.cycles_finished, 2);
        assert_eq!(
            state.last_failure(),
            Some("KMS getUsedMemory: KMS error 40001: boom")
        );
    }

    /// A half-open KMS kept `up 1` for 33 s and its object series for 53 s: a cycle whose reads
    /// time out now publishes `up 0` with everything read from KMS withdrawn, and two such
    /// cycles in a row lose the connection.
    #[test]
    fn a_timed_out_cycle_withdraws_what_kms_said_and_two_in_a_row_lose_the_connection() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.connected("s1");
        state.listed(vec!["p_kurento.MediaPipeline".to_owned()]);
        state.cycle_read(cycle(Ok(1)), Duration::from_millis(5), 100.0);
        let snap = state.snapshot(0, 100.0);
        assert!(snap.up && snap.server.is_some() && snap.objects.is_some());
        assert!(snap.media.is_some() && snap.zombies.is_some());

        // Through the complete path (a server-wide read timed out) and the abandoned one.
        let timed_out = [
            state.cycle_read(
                cycle(Err(timeout("getUsedMemory"))),
                Duration::from_secs(10),
                115.0,
            ),
            state.cycle_timed_out(vec![timeout("transaction")], Duration::from_secs(10)),
        ];
        assert_eq!(
            timed_out,
            [
                CycleVerdict::TimedOut { lost: false },
                CycleVerdict::TimedOut { lost: true }
            ]
        );
        let snap = state.snapshot(0, 130.0);
        assert!(!snap.up);
        assert_eq!(
            (&snap.server, &snap.objects, &snap.media, &snap.zombies),
            (&None, &None, &None, &None)
        );
        assert_eq!(snap.exporter.poll_errors[&PollErrorReason::Timeout], 2);
        assert_eq!(snap.exporter.cycles_finished, 3);
        assert_eq!(snap.exporter.last_success_unix_seconds, Some(100.0));

        // One answered cycle in between resets the count and brings everything back.
        state.lost(PollErrorReason::Timeout, "silent".into());
        state.connected("s1");
        state.listed(vec!["p_kurento.MediaPipeline".to_owned()]);
        let verdicts = [
            state.cycle_timed_out(vec![timeout("getSessions")], Duration::from_secs(10)),
            state.cycle_read(cycle(Ok(1)), Duration::from_millis(5), 160.0),
            state.cycle_timed_out(vec![timeout("getSessions")], Duration::from_secs(10)),
        ];
        assert_eq!(
            verdicts,
            [
                CycleVerdict::TimedOut { lost: false },
                CycleVerdict::Answered,
                CycleVerdict::TimedOut { lost: false }
            ]
        );
        state.cycle_read(cycle(Ok(1)), Duration::from_millis(5), 190.0);
        let snap = state.snapshot(0, 190.0);
        assert!(snap.up && snap.server.is_some() && snap.objects.is_some());
    }

    #[test]
    fn each_change_of_up_is_reported_once() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.lost(PollErrorReason::Connect, "refused".into());
        let down = |reason, detail: &str| {
            Some(UpChange::Down {
                reason,
                detail: detail.to_owned(),
            })
        };
        assert_eq!(state.up_change(), down(PollErrorReason::Connect, "refused"));
        state.lost(PollErrorReason::Connect, "refused".into());
        assert_eq!(state.up_change(), None, "still down: nothing to report");
        state.connected("s1");
        state.cycle_read(cycle(Ok(1)), Duration::from_millis(5), 100.0);
        assert_eq!(state.up_change(), Some(UpChange::Up));
        state.cycle_read(cycle(Ok(1)), Duration::from_millis(5), 115.0);
        assert_eq!(state.up_change(), None);
        state.cycle_read(cycle(Err(timeout("getUsedMemory"))), Duration::ZERO, 130.0);
        assert_eq!(
            state.up_change(),
            down(
                PollErrorReason::Timeout,
                "KMS getUsedMemory: `invoke` got no reply in time"
            )
        );
        state.cycle_timed_out(vec![timeout("getSessions")], Duration::ZERO);
        state.lost(PollErrorReason::Timeout, "no reply".into());
        assert_eq!(state.up_change(), None);
    }

    #[test]
    fn pipeline_metadata_is_kept_and_only_real_failures_count() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        let ids = [
            "p_kurento.MediaPipeline",
            "q_kurento.MediaPipeline",
            "r_kurento.MediaPipeline",
        ];
        state.listed(ids.iter().map(|id| (*id).to_owned()).collect());
        assert_eq!(state.pipelines_missing_metadata().len(), 3);
        let gone = KmsError {
            operation: "getName".into(),
            object: Some(ids[1].into()),
            source: ClientError::Rpc(crate::kurento::protocol::RpcError::kms(40101, "gone")),
        };
        state.metadata_read(vec![
            PipelineMetadata {
                id: ids[0].into(),
                created: Ok(10),
                name: Ok("call".into()),
            },
            PipelineMetadata {
                id: ids[1].into(),
                created: Ok(11),
                name: Err(gone),
            },
            PipelineMetadata {
                id: ids[2].into(),
                created: Err(timeout("getCreationTime")),
                name: Ok("x".into()),
            },
        ]);
        assert_eq!(
            state.pipelines_missing_metadata(),
            vec![ids[1].to_owned(), ids[2].to_owned()]
        );
        let snap = state.snapshot(0, 1.0);
        assert_eq!(
            snap.exporter.poll_errors.get(&PollErrorReason::KmsError),
            None
        );
        assert_eq!(snap.exporter.poll_errors[&PollErrorReason::Timeout], 1);
        let named = &snap.objects.unwrap().pipelines;
        let call = named.iter().find(|p| p.id == ids[0]).unwrap();
        assert_eq!(
            (call.name.as_deref(), call.created_unix_seconds),
            (Some("call"), Some(10))
        );
    }

    #[test]
    fn losing_kms_drops_everything_read_from_it_but_keeps_counters() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.connected("s1");
        state.listed(vec!["p_kurento.MediaPipeline".to_owned()]);
        state.apply_event(&ManagerEvent::Created("q_kurento.MediaPipeline".into()));
        state.cycle_read(cycle(Ok(1)), Duration::from_millis(5), 100.0);
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
    fn the_health_probes_objects_are_neither_inventoried_nor_counted() {
        use crate::kurento::health::ProbeWatcher;
        let probe = Arc::new(ProbeObjects::default());
        let mut state =
            TargetState::new("a", aggregated(), zombie_policy()).with_probe(probe.clone());
        state.listed(vec!["app_kurento.MediaPipeline".to_owned()]);
        let created = |id: &str| ManagerEvent::Created(id.to_owned());

        // The probe's pipeline announced before its `create` reply, next to an application's.
        probe.creating(true);
        state.apply_event(&created("probe_kurento.MediaPipeline"));
        state.apply_event(&created("other_kurento.MediaPipeline"));
        state.leave_out_probe_objects();
        assert!(state.stats.objects_created_total.is_empty(), "held back");
        probe.created("probe_kurento.MediaPipeline");
        probe.creating(false);
        // Its endpoint, announced after the reply.
        state.apply_event(&created(
            "probe_kurento.MediaPipeline/e_kurento.WebRtcEndpoint",
        ));
        state.leave_out_probe_objects();
        assert_eq!(
            state.stats.objects_created_total,
            BTreeMap::from([("MediaPipeline".to_owned(), 1)])
        );
        let snap = state.snapshot(0, 1.0);
        let objects = snap.objects.unwrap();
        let ids: Vec<&str> = objects.pipelines.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            vec!["app_kurento.MediaPipeline", "other_kurento.MediaPipeline"]
        );
        assert!(objects.elements_by_type.is_empty());
        assert!(
            state
                .pipelines_missing_metadata()
                .iter()
                .all(|p| !p.starts_with("probe"))
        );

        // Its destruction is not counted either, and a listing does not bring it back.
        state.apply_event(&ManagerEvent::Destroyed(
            "probe_kurento.MediaPipeline".to_owned(),
        ));
        assert!(state.stats.objects_destroyed_total.is_empty());
        state.listed(vec![
            "app_kurento.MediaPipeline".to_owned(),
            "probe_kurento.MediaPipeline".to_owned(),
        ]);
        assert_eq!(state.snapshot(0, 1.0).objects.unwrap().pipelines.len(), 1);
    }

    #[test]
    fn another_exporters_probe_pipeline_is_left_out_by_its_name() {
        let mut state = TargetState::new("a", aggregated(), zombie_policy());
        state.listed(vec![
            "app_kurento.MediaPipeline".to_owned(),
            "ha_kurento.MediaPipeline".to_owned(),
            "ha_kurento.MediaPipeline/e_kurento.WebRtcEndpoint".to_owned(),
        ]);
        state.metadata_read(vec![PipelineMetadata {
            id: "ha_kurento.MediaPipeline".to_owned(),
            created: Ok(1),
            name: Ok(PROBE_OBJECT_NAME.to_owned()),
        }]);
        let objects = state.snapshot(0, 1.0).objects.unwrap();
        assert_eq!(objects.pipelines.len(), 1);
        assert!(objects.elements_by_type.is_empty());
        assert!(state.read_targets().is_empty(), "nothing of it is read");
    }
}
