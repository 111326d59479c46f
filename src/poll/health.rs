//! The deep health check of one target (README "Health probe"): every interval,
//! `kurento::health::probe` creates a pipeline and a WebRtcEndpoint, asks for an offer and
//! releases them, on a socket and in a session of its own.
//!
//! [`ProbeObjects`] is what the prober and the poller share: the probe's recent pipelines and
//! sessions, so that the poller leaves them out of every other metric (inventory, element and
//! zombie series, created/destroyed counts, the session count), and the last verdict, which the
//! poller publishes with its next snapshot.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::analysis::snapshot::HealthProbeResult;
use crate::kurento::client::{RequestCounter, RequestIds};
use crate::kurento::deadline;
use crate::kurento::health::{ProbeTarget, ProbeWatcher, probe};
use crate::kurento::protocol::pipeline_id;

/// Probe pipelines and sessions remembered: their `ObjectDestroyed` events and the session
/// count of a cycle that overlapped a probe come after the probe, never many probes later.
const REMEMBERED: usize = 8;

/// How one target is probed.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthProbeSpec {
    pub interval: Duration,
    pub timeout: Duration,
}

#[derive(Debug, Default)]
struct Inner {
    pipelines: VecDeque<String>,
    sessions: VecDeque<String>,
    creating: bool,
    last: Option<HealthProbeResult>,
}

/// The health probe's objects and verdict, shared by the prober and the poller of a target.
#[derive(Debug, Default)]
pub struct ProbeObjects {
    inner: Mutex<Inner>,
}

fn remember(list: &mut VecDeque<String>, id: &str) {
    if list.len() == REMEMBERED {
        list.pop_front();
    }
    list.push_back(id.to_owned());
}

impl ProbeObjects {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a single push or assignment: a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `id` is one of the probe's recent pipelines or inside one.
    pub fn owns(&self, id: &str) -> bool {
        let pipeline = pipeline_id(id);
        self.lock().pipelines.iter().any(|p| p == pipeline)
    }

    /// The probe's recent pipelines.
    pub fn pipelines(&self) -> Vec<String> {
        self.lock().pipelines.iter().cloned().collect()
    }

    /// A probe's `create` of a pipeline is waiting for its reply.
    pub fn is_creating(&self) -> bool {
        self.lock().creating
    }

    /// The probe's recent sessions.
    pub fn sessions(&self) -> Vec<String> {
        self.lock().sessions.iter().cloned().collect()
    }

    pub fn last(&self) -> Option<HealthProbeResult> {
        self.lock().last
    }

    fn record(&self, result: HealthProbeResult) {
        self.lock().last = Some(result);
    }
}

impl ProbeWatcher for ProbeObjects {
    fn session(&self, id: &str) {
        remember(&mut self.lock().sessions, id);
    }

    fn creating(&self, in_flight: bool) {
        self.lock().creating = in_flight;
    }

    fn created(&self, pipeline: &str) {
        remember(&mut self.lock().pipelines, pipeline);
    }
}

/// Whether the verdict changed since the last probe (the prober logs each change once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerdictChange {
    Failing,
    Recovered,
}

/// The change `success` makes after `previous` (`None`: no probe yet). A first success is not
/// news; a first failure is.
pub(crate) fn verdict_change(previous: Option<bool>, success: bool) -> Option<VerdictChange> {
    match (previous, success) {
        (Some(false), true) => Some(VerdictChange::Recovered),
        (None | Some(true), false) => Some(VerdictChange::Failing),
        _ => None,
    }
}

/// Probes `target` every `interval` until `stop`. The first probe runs at once. A probe's
/// cleanup (its releases) finishes before the next probe starts, and is not cut short by `stop`.
pub async fn run_prober(
    name: String,
    target: ProbeTarget,
    interval: Duration,
    objects: Arc<ProbeObjects>,
    ids: Arc<RequestIds>,
    requests: RequestCounter,
    stop: CancellationToken,
) {
    let mut next = Instant::now();
    let mut previous: Option<bool> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let started = Instant::now();
        let watcher: Arc<dyn ProbeWatcher> = objects.clone();
        let run = probe(&target, ids.clone(), requests.clone(), watcher).await;
        let success = run.outcome.is_ok();
        objects.record(HealthProbeResult {
            success,
            duration_seconds: run.duration.as_secs_f64(),
        });
        match (verdict_change(previous, success), &run.outcome) {
            (Some(VerdictChange::Failing), Err(err)) => {
                tracing::warn!(kms = %name, error = %err, "KMS health probe failing");
            }
            (Some(VerdictChange::Recovered), _) => {
                tracing::info!(kms = %name, "KMS health probe succeeds again");
            }
            (_, Err(err)) => tracing::debug!(kms = %name, error = %err, "KMS health probe failed"),
            _ => {}
        }
        previous = Some(success);
        let _ = run.cleanup.await;
        next = deadline::after(started, interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_changes_are_reported_once() {
        let cases = [
            (None, true, None),
            (None, false, Some(VerdictChange::Failing)),
            (Some(true), true, None),
            (Some(true), false, Some(VerdictChange::Failing)),
            (Some(false), false, None),
            (Some(false), true, Some(VerdictChange::Recovered)),
        ];
        for (previous, success, want) in cases {
            assert_eq!(
                verdict_change(previous, success),
                want,
                "{previous:?} {success}"
            );
        }
    }

    #[test]
    fn probe_objects_cover_subtrees_and_forget_old_probes() {
        let objects = ProbeObjects::default();
        objects.created("P1_kurento.MediaPipeline");
        assert!(objects.owns("P1_kurento.MediaPipeline"));
        assert!(objects.owns("P1_kurento.MediaPipeline/E_kurento.WebRtcEndpoint"));
        assert!(!objects.owns("P2_kurento.MediaPipeline"));
        for i in 0..REMEMBERED {
            objects.created(&format!("Q{i}_kurento.MediaPipeline"));
        }
        assert!(!objects.owns("P1_kurento.MediaPipeline"));
        assert_eq!(objects.pipelines().len(), REMEMBERED);
    }

    #[test]
    fn creating_flag_and_sessions_follow_the_watcher_calls() {
        let objects = ProbeObjects::default();
        assert!(!objects.is_creating());
        objects.creating(true);
        assert!(objects.is_creating());
        objects.creating(false);
        objects.session("S1");
        assert_eq!(objects.sessions(), vec!["S1".to_owned()]);
        assert_eq!(objects.last(), None);
        objects.record(HealthProbeResult {
            success: true,
            duration_seconds: 0.5,
        });
        assert!(objects.last().is_some_and(|r| r.success));
    }
}
