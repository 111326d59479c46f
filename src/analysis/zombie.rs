//! Zombie (leaked) pipelines and elements (README "Zombies"). Pure: a tracker over successive
//! cycles with the clock passed in.
//!
//! A pipeline is a zombie when one of these conditions has held continuously for
//! `zombie.idle_after` (never judged from one sample):
//! - `empty`: it has no elements;
//! - `ice_failed`: it has WebRTC endpoints and none is ICE connected or ready;
//! - `disconnected`: it has RTP endpoints and all are DISCONNECTED (no RTCP);
//! - `no_media`: no element has media flowing in or out;
//! - `max_age`: it is older than `zombie.max_age` (off by default).
//!
//! It counts once, under the first condition in that order. Elements follow the same rules
//! applied to the element alone (`ice_failed`, `disconnected`, `no_media`), plus `unconnected`
//! (no source and no sink connections). A read that failed leaves a condition as it was: it
//! neither starts nor resets the clock. The exporter only reports; it never releases anything.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde::Serialize;

use crate::analysis::model::{Connectivity, ElementReading};
use crate::kurento::kinds::ElementKind;

/// Why something is a zombie. The order is the precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ZombieReason {
    Empty,
    IceFailed,
    Disconnected,
    NoMedia,
    Unconnected,
    MaxAge,
}

impl ZombieReason {
    /// Pipeline reasons, in precedence order.
    pub const PIPELINE: [ZombieReason; 5] = [
        ZombieReason::Empty,
        ZombieReason::IceFailed,
        ZombieReason::Disconnected,
        ZombieReason::NoMedia,
        ZombieReason::MaxAge,
    ];
    /// Element reasons, in precedence order.
    pub const ELEMENT: [ZombieReason; 4] = [
        ZombieReason::IceFailed,
        ZombieReason::Disconnected,
        ZombieReason::NoMedia,
        ZombieReason::Unconnected,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ZombieReason::Empty => "empty",
            ZombieReason::IceFailed => "ice_failed",
            ZombieReason::Disconnected => "disconnected",
            ZombieReason::NoMedia => "no_media",
            ZombieReason::Unconnected => "unconnected",
            ZombieReason::MaxAge => "max_age",
        }
    }
}

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZombiePolicy {
    pub idle_after: Duration,
    pub max_age: Option<Duration>,
}

/// One element as a cycle saw it: `reading` is `None` when it was not read (hubs, failures).
#[derive(Debug, Clone, Copy)]
pub struct ElementView<'a> {
    pub id: &'a str,
    pub element_type: &'a str,
    pub reading: Option<&'a ElementReading>,
}

/// One pipeline as a cycle saw it.
#[derive(Debug, Clone)]
pub struct PipelineView<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub created_unix_seconds: Option<i64>,
    pub elements: Vec<ElementView<'a>>,
}

/// Whether a condition holds: `None` when the reads needed to tell failed.
type Holds = Option<bool>;

/// "All of these are bad" over several elements: false as soon as one known element is good,
/// true when every element is known and bad, unknown otherwise; false with no element at all.
fn all_bad(values: impl IntoIterator<Item = Holds>) -> Holds {
    let mut any = false;
    let mut unknown = false;
    for v in values {
        any = true;
        match v {
            Some(false) => return Some(false),
            Some(true) => {}
            None => unknown = true,
        }
    }
    if !any {
        Some(false)
    } else if unknown {
        None
    } else {
        Some(true)
    }
}

fn is_rtp(element_type: &str) -> bool {
    matches!(
        ElementKind::of(element_type),
        ElementKind::WebRtc | ElementKind::Rtp
    )
}

fn ice_not_connected(e: &ElementView) -> Holds {
    Some(!e.reading?.ice_state?.is_connected())
}

fn rtp_disconnected(e: &ElementView) -> Holds {
    Some(e.reading?.media_state? == Connectivity::Disconnected)
}

fn no_flow(e: &ElementView) -> Holds {
    let r = e.reading?;
    let states: Vec<Option<bool>> = r.flowing_in.iter().chain(&r.flowing_out).copied().collect();
    if states.contains(&Some(true)) {
        Some(false)
    } else if states.iter().all(Option::is_some) {
        Some(true)
    } else {
        None
    }
}

fn unconnected(e: &ElementView) -> Holds {
    Some(e.reading?.connections? == 0)
}

fn is_media_element(e: &ElementView) -> bool {
    ElementKind::of(e.element_type) != ElementKind::Hub
}

fn pipeline_condition(
    reason: ZombieReason,
    p: &PipelineView,
    policy: &ZombiePolicy,
    now: f64,
) -> Holds {
    let media_elements = || p.elements.iter().filter(|e| is_media_element(e));
    match reason {
        ZombieReason::Empty => Some(p.elements.is_empty()),
        ZombieReason::IceFailed => all_bad(
            p.elements
                .iter()
                .filter(|e| ElementKind::of(e.element_type) == ElementKind::WebRtc)
                .map(ice_not_connected),
        ),
        ZombieReason::Disconnected => all_bad(
            p.elements
                .iter()
                .filter(|e| is_rtp(e.element_type))
                .map(rtp_disconnected),
        ),
        ZombieReason::NoMedia => {
            if media_elements().next().is_none() {
                Some(true)
            } else {
                all_bad(media_elements().map(no_flow))
            }
        }
        ZombieReason::MaxAge => {
            let max_age = policy.max_age?;
            let created = p.created_unix_seconds?;
            Some(now - created as f64 > max_age.as_secs_f64())
        }
        ZombieReason::Unconnected => Some(false),
    }
}

fn element_condition(reason: ZombieReason, e: &ElementView) -> Holds {
    match reason {
        ZombieReason::IceFailed if ElementKind::of(e.element_type) == ElementKind::WebRtc => {
            ice_not_connected(e)
        }
        ZombieReason::Disconnected if is_rtp(e.element_type) => rtp_disconnected(e),
        ZombieReason::NoMedia => no_flow(e),
        ZombieReason::Unconnected => unconnected(e),
        _ => Some(false),
    }
}

/// A zombie pipeline, as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZombiePipeline {
    pub id: String,
    pub name: Option<String>,
    pub reason: ZombieReason,
    /// Unix seconds since when the condition has held.
    pub zombie_since: f64,
    /// Seconds since the pipeline was created (when known).
    pub age_seconds: Option<f64>,
    /// Its zombie elements, if any.
    pub elements: Vec<ZombieElement>,
}

/// A zombie element.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZombieElement {
    pub id: String,
    pub element_type: String,
    pub pipeline: String,
    pub reason: ZombieReason,
    pub zombie_since: f64,
}

/// What the tracker concluded at one cycle.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ZombieReport {
    pub pipelines: Vec<ZombiePipeline>,
    /// Zombie elements of every pipeline (zombie or not).
    pub elements: Vec<ZombieElement>,
}

impl ZombieReport {
    /// Zombie pipelines per reason (every pipeline reason present, 0 when none).
    pub fn pipelines_by_reason(&self) -> BTreeMap<ZombieReason, u64> {
        let mut counts: BTreeMap<ZombieReason, u64> =
            ZombieReason::PIPELINE.iter().map(|r| (*r, 0)).collect();
        for p in &self.pipelines {
            *counts.entry(p.reason).or_default() += 1;
        }
        counts
    }

    /// Zombie elements per (element type, reason).
    pub fn elements_by_type_and_reason(&self) -> BTreeMap<(String, ZombieReason), u64> {
        let mut counts = BTreeMap::new();
        for e in &self.elements {
            *counts
                .entry((e.element_type.clone(), e.reason))
                .or_default() += 1;
        }
        counts
    }
}

/// Since when each condition of each object has held.
type Since = HashMap<String, BTreeMap<ZombieReason, f64>>;

/// Tracks conditions across cycles.
#[derive(Debug, Clone)]
pub struct ZombieTracker {
    policy: ZombiePolicy,
    pipelines: Since,
    elements: Since,
}

/// Updates the since-times of one object from this cycle's conditions.
fn update(since: &mut BTreeMap<ZombieReason, f64>, conditions: &[(ZombieReason, Holds)], now: f64) {
    for (reason, holds) in conditions {
        match holds {
            Some(true) => {
                since.entry(*reason).or_insert(now);
            }
            Some(false) => {
                since.remove(reason);
            }
            // Unknown this cycle: neither start nor reset the clock.
            None => {}
        }
    }
}

/// Takes an object's clocks out of `since`, with its key when it was remembered.
fn remembered(since: &mut Since, id: &str) -> (Option<String>, BTreeMap<ZombieReason, f64>) {
    match since.remove_entry(id) {
        Some((key, clocks)) => (Some(key), clocks),
        None => (None, BTreeMap::new()),
    }
}

/// The first reason (in precedence order) that has held for at least `idle_after`.
fn verdict(
    since: &BTreeMap<ZombieReason, f64>,
    order: &[ZombieReason],
    idle_after: f64,
    now: f64,
) -> Option<(ZombieReason, f64)> {
    order.iter().find_map(|r| {
        since
            .get(r)
            .filter(|s| now - **s >= idle_after)
            .map(|s| (*r, *s))
    })
}

impl ZombieTracker {
    pub fn new(policy: ZombiePolicy) -> Self {
        ZombieTracker {
            policy,
            pipelines: Since::new(),
            elements: Since::new(),
        }
    }

    /// Accounts one cycle at Unix time `now` and returns the current zombies. Objects not in
    /// `pipelines` are forgotten.
    pub fn observe(&mut self, now: f64, pipelines: &[PipelineView]) -> ZombieReport {
        let idle_after = self.policy.idle_after.as_secs_f64();
        let mut next_pipelines = Since::new();
        let mut next_elements = Since::new();
        let mut report = ZombieReport::default();
        for p in pipelines {
            // Keys are moved from the old map, not copied again.
            let (key, mut since) = remembered(&mut self.pipelines, p.id);
            let conditions: Vec<(ZombieReason, Holds)> = ZombieReason::PIPELINE
                .iter()
                .map(|r| (*r, pipeline_condition(*r, p, &self.policy, now)))
                .collect();
            update(&mut since, &conditions, now);
            let mut zombie_elements = Vec::new();
            for e in p.elements.iter().filter(|e| is_media_element(e)) {
                let (e_key, mut e_since) = remembered(&mut self.elements, e.id);
                let conditions: Vec<(ZombieReason, Holds)> = ZombieReason::ELEMENT
                    .iter()
                    .map(|r| (*r, element_condition(*r, e)))
                    .collect();
                update(&mut e_since, &conditions, now);
                if let Some((reason, zombie_since)) =
                    verdict(&e_since, &ZombieReason::ELEMENT, idle_after, now)
                {
                    zombie_elements.push(ZombieElement {
                        id: e.id.to_owned(),
                        element_type: e.element_type.to_owned(),
                        pipeline: p.id.to_owned(),
                        reason,
                        zombie_since,
                    });
                }
                // Nothing holding is the same as never seen: only objects with a running
                // clock are remembered.
                if !e_since.is_empty() {
                    next_elements.insert(e_key.unwrap_or_else(|| e.id.to_owned()), e_since);
                }
            }
            if let Some((reason, zombie_since)) =
                verdict(&since, &ZombieReason::PIPELINE, idle_after, now)
            {
                report.pipelines.push(ZombiePipeline {
                    id: p.id.to_owned(),
                    name: p.name.map(str::to_owned),
                    reason,
                    zombie_since,
                    age_seconds: p.created_unix_seconds.map(|c| (now - c as f64).max(0.0)),
                    elements: zombie_elements.clone(),
                });
            }
            report.elements.extend(zombie_elements);
            if !since.is_empty() {
                next_pipelines.insert(key.unwrap_or_else(|| p.id.to_owned()), since);
            }
        }
        self.pipelines = next_pipelines;
        self.elements = next_elements;
        // Oldest first: what has leaked longest is what an operator looks at first.
        let order = |a: f64, b: f64| a.total_cmp(&b);
        report
            .pipelines
            .sort_by(|a, b| order(a.zombie_since, b.zombie_since).then_with(|| a.id.cmp(&b.id)));
        report
            .elements
            .sort_by(|a, b| order(a.zombie_since, b.zombie_since).then_with(|| a.id.cmp(&b.id)));
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::IceState;

    const IDLE: f64 = 300.0;

    fn policy() -> ZombiePolicy {
        ZombiePolicy {
            idle_after: Duration::from_secs(300),
            max_age: None,
        }
    }

    fn webrtc(ice: &str, media_state: &str, flowing: bool, connections: usize) -> ElementReading {
        ElementReading {
            element_type: "WebRtcEndpoint".into(),
            flowing_in: [Some(flowing), Some(flowing)],
            flowing_out: [Some(flowing), Some(flowing)],
            media_state: Connectivity::from_kms(media_state),
            ice_state: Some(IceState::of_components(&[ice.to_uppercase()])),
            connections: Some(connections),
            ..ElementReading::default()
        }
    }

    fn healthy() -> ElementReading {
        webrtc("ready", "connected", true, 2)
    }

    fn pipeline<'a>(id: &'a str, readings: &'a [ElementReading]) -> PipelineView<'a> {
        PipelineView {
            id,
            name: Some("room"),
            created_unix_seconds: Some(0),
            elements: readings
                .iter()
                .enumerate()
                .map(|(i, r)| ElementView {
                    id: ["e0", "e1", "e2", "e3"][i],
                    element_type: "WebRtcEndpoint",
                    reading: Some(r),
                })
                .collect(),
        }
    }

    /// Runs the tracker over (time, readings of pipeline "p") and returns the pipeline verdict
    /// after each step.
    fn run(
        policy: ZombiePolicy,
        steps: &[(f64, Vec<ElementReading>)],
    ) -> Vec<Option<ZombieReason>> {
        let mut tracker = ZombieTracker::new(policy);
        steps
            .iter()
            .map(|(now, readings)| {
                let report = tracker.observe(*now, &[pipeline("p", readings)]);
                report.pipelines.first().map(|z| z.reason)
            })
            .collect()
    }

    #[test]
    fn pipeline_verdict_table() {
        let failed = || webrtc("failed", "disconnected", false, 1);
        let paused = || webrtc("ready", "connected", false, 2);
        type Case = (
            &'static str,
            Vec<(f64, Vec<ElementReading>)>,
            Vec<Option<ZombieReason>>,
        );
        let cases: Vec<Case> = vec![
            (
                "one sample is never enough",
                vec![(0.0, vec![failed()])],
                vec![None],
            ),
            (
                "ICE failed for idle_after",
                vec![
                    (0.0, vec![failed()]),
                    (IDLE - 1.0, vec![failed()]),
                    (IDLE, vec![failed()]),
                ],
                vec![None, None, Some(ZombieReason::IceFailed)],
            ),
            (
                "empty pipeline",
                vec![(0.0, vec![]), (IDLE, vec![])],
                vec![None, Some(ZombieReason::Empty)],
            ),
            (
                "healthy meeting never flagged",
                vec![
                    (0.0, vec![healthy(), healthy()]),
                    (IDLE * 10.0, vec![healthy(), healthy()]),
                ],
                vec![None, None],
            ),
            (
                "one healthy participant keeps the pipeline alive",
                vec![
                    (0.0, vec![failed(), healthy()]),
                    (IDLE, vec![failed(), healthy()]),
                ],
                vec![None, None],
            ),
            (
                "media paused (ICE fine, RTCP flowing): no_media",
                vec![(0.0, vec![paused()]), (IDLE, vec![paused()])],
                vec![None, Some(ZombieReason::NoMedia)],
            ),
            (
                "a pause shorter than idle_after resets the clock",
                vec![
                    (0.0, vec![paused()]),
                    (IDLE - 10.0, vec![healthy()]),
                    (IDLE + 10.0, vec![paused()]),
                    (IDLE * 2.0, vec![paused()]),
                    (IDLE * 2.0 + 10.0, vec![paused()]),
                ],
                vec![None, None, None, None, Some(ZombieReason::NoMedia)],
            ),
            (
                "recovery clears the verdict",
                vec![
                    (0.0, vec![paused()]),
                    (IDLE, vec![paused()]),
                    (IDLE + 1.0, vec![healthy()]),
                ],
                vec![None, Some(ZombieReason::NoMedia), None],
            ),
            (
                "precedence: ice_failed before disconnected and no_media",
                vec![
                    (0.0, vec![webrtc("connecting", "disconnected", false, 0)]),
                    (IDLE, vec![webrtc("connecting", "disconnected", false, 0)]),
                ],
                vec![None, Some(ZombieReason::IceFailed)],
            ),
            (
                "disconnected (RTCP stopped) although ICE is ready",
                vec![
                    (0.0, vec![webrtc("ready", "disconnected", false, 1)]),
                    (IDLE, vec![webrtc("ready", "disconnected", false, 1)]),
                ],
                vec![None, Some(ZombieReason::Disconnected)],
            ),
        ];
        for (name, steps, want) in cases {
            assert_eq!(run(policy(), &steps), want, "{name}");
        }
    }

    #[test]
    fn zombies_are_listed_oldest_first() {
        let failed = [webrtc("failed", "disconnected", false, 1)];
        let mut tracker = ZombieTracker::new(policy());
        tracker.observe(0.0, &[pipeline("b", &failed)]);
        tracker.observe(10.0, &[pipeline("b", &failed), pipeline("a", &failed)]);
        let report = tracker.observe(
            IDLE + 10.0,
            &[pipeline("a", &failed), pipeline("b", &failed)],
        );
        let order: Vec<(&str, f64)> = report
            .pipelines
            .iter()
            .map(|p| (p.id.as_str(), p.zombie_since))
            .collect();
        assert_eq!(order, vec![("b", 0.0), ("a", 10.0)]);
    }

    #[test]
    fn unknown_reads_neither_start_nor_reset_the_clock() {
        let mut tracker = ZombieTracker::new(policy());
        let failed = [webrtc("failed", "disconnected", false, 1)];
        let unknown = [ElementReading::default()];
        let verdict = |t: &mut ZombieTracker, now, r| {
            t.observe(now, &[pipeline("p", r)])
                .pipelines
                .first()
                .map(|z| (z.reason, z.zombie_since))
        };
        assert_eq!(verdict(&mut tracker, 0.0, &failed), None);
        assert_eq!(verdict(&mut tracker, 100.0, &unknown), None);
        assert_eq!(
            verdict(&mut tracker, IDLE, &failed),
            Some((ZombieReason::IceFailed, 0.0)),
            "the unknown cycle did not reset the clock"
        );
        let mut fresh = ZombieTracker::new(policy());
        assert_eq!(verdict(&mut fresh, 0.0, &unknown), None);
        assert_eq!(
            verdict(&mut fresh, IDLE, &unknown),
            None,
            "unknown never starts it"
        );
    }

    #[test]
    fn max_age_is_off_by_default_and_last_in_precedence() {
        let old = [healthy()];
        let mut p = pipeline("p", &old);
        p.created_unix_seconds = Some(0);
        let mut tracker = ZombieTracker::new(policy());
        tracker.observe(1e6, std::slice::from_ref(&p));
        assert!(
            tracker
                .observe(1e6 + IDLE, std::slice::from_ref(&p))
                .pipelines
                .is_empty()
        );
        let mut tracker = ZombieTracker::new(ZombiePolicy {
            idle_after: Duration::from_secs(300),
            max_age: Some(Duration::from_secs(3600)),
        });
        tracker.observe(1e6, std::slice::from_ref(&p));
        let report = tracker.observe(1e6 + IDLE, std::slice::from_ref(&p));
        assert_eq!(report.pipelines[0].reason, ZombieReason::MaxAge);
        assert_eq!(report.pipelines[0].age_seconds, Some(1e6 + IDLE));
    }

    #[test]
    fn elements_are_judged_alone_and_vanished_objects_forgotten() {
        let readings = [healthy(), webrtc("ready", "connected", true, 0)];
        let mut tracker = ZombieTracker::new(policy());
        tracker.observe(0.0, &[pipeline("p", &readings)]);
        let report = tracker.observe(IDLE, &[pipeline("p", &readings)]);
        assert!(report.pipelines.is_empty(), "the pipeline is healthy");
        assert_eq!(report.elements.len(), 1);
        assert_eq!(report.elements[0].id, "e1");
        assert_eq!(report.elements[0].reason, ZombieReason::Unconnected);
        assert_eq!(
            report.elements_by_type_and_reason()
                [&("WebRtcEndpoint".to_owned(), ZombieReason::Unconnected)],
            1
        );
        // Gone, then back with the same id: the clock starts again.
        tracker.observe(IDLE + 1.0, &[]);
        let report = tracker.observe(IDLE + 2.0, &[pipeline("p", &readings)]);
        assert!(report.elements.is_empty());
        let counts = report.pipelines_by_reason();
        assert_eq!(counts.len(), 5);
        assert!(counts.values().all(|n| *n == 0));
    }
}
