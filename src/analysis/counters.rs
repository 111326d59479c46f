//! Monotonic RTP counters over streams that come and go (README "Metrics reference"). Pure.
//!
//! Each stream (element, media, direction, stats id) contributes the growth of its cumulative
//! values since it was last seen. Rules:
//! - first observation: the whole cumulative value counts (so right after start-up the totals
//!   equal KMS's own sums, and a new SSRC's stream, which starts from 0, is counted in full);
//! - a drop of the stream's packet counter is a reset (the stream restarted): the new cumulative
//!   values count in full, never as negative traffic;
//! - `packetsLost` may go down without a reset (RTCP duplicates make it dip, or go negative): only
//!   growth above its high-water mark counts;
//! - a stream that is no longer reported by an element that was read is forgotten; a stream of an
//!   element whose read failed is kept, so the next successful read does not count it twice.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;

use crate::analysis::model::{Direction, Media, RtpStream, RtpTotals, Scope};

/// One stream of an element as last seen: its identity within the element and high-water marks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamSeen {
    media: Media,
    direction: Direction,
    stats_id: Box<str>,
    seen: Seen,
}

/// What was last seen of a stream: high-water marks of its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Seen {
    bytes: u64,
    packets: u64,
    packets_lost: u64,
    nacks: u64,
    plis: u64,
    firs: u64,
}

impl Seen {
    fn of(stream: &RtpStream) -> Seen {
        Seen {
            bytes: stream.bytes,
            packets: stream.packets,
            packets_lost: u64::try_from(stream.packets_lost).unwrap_or(0),
            nacks: stream.nacks,
            plis: stream.plis,
            firs: stream.firs,
        }
    }
}

/// The counter state of one KMS target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RtpCounters {
    /// Streams per element id. An element owns a handful of streams, so they are searched
    /// linearly; keying by element keeps one copy of each id however many streams it has.
    streams: HashMap<String, Vec<StreamSeen>>,
    totals: BTreeMap<(Scope, Media, Direction), RtpTotals>,
}

/// One element's streams as read this cycle.
pub struct ElementStreams<'a> {
    pub element: &'a str,
    pub scope: &'a Scope,
    pub streams: &'a [RtpStream],
}

impl RtpCounters {
    /// Accounts one cycle. `read` holds every element whose stats were read successfully;
    /// `live_scopes` every scope still alive (totals of other scopes are dropped, so their
    /// series vanish; the remainder scope is always kept).
    pub fn observe(&mut self, read: &[ElementStreams], live_scopes: &BTreeSet<Scope>) {
        for element in read {
            // The element's list is replaced by what it reports now: streams it no longer
            // reports (SSRC change) are forgotten; elements that were not read keep theirs.
            match self.streams.get_mut(element.element) {
                Some(list) => {
                    let before = std::mem::take(list);
                    *list = account(before, element, &mut self.totals);
                    if list.is_empty() {
                        self.streams.remove(element.element);
                    }
                }
                None => {
                    let list = account(Vec::new(), element, &mut self.totals);
                    if !list.is_empty() {
                        self.streams.insert(element.element.to_owned(), list);
                    }
                }
            }
        }
        self.totals
            .retain(|(scope, _, _), _| is_remainder(scope) || live_scopes.contains(scope));
    }

    /// Forgets every stream of elements not in `live` (destroyed objects).
    pub fn retain_elements(&mut self, live: &BTreeSet<&str>) {
        self.streams
            .retain(|element, _| live.contains(element.as_str()));
    }

    /// KMS restarted: its counters start again from zero, so forget every stream (totals stay).
    pub fn forget_streams(&mut self) {
        self.streams.clear();
    }

    pub fn totals(&self) -> &BTreeMap<(Scope, Media, Direction), RtpTotals> {
        &self.totals
    }
}

/// Adds the growth of an element's streams since `before` to `totals`; returns the streams to
/// remember (high-water marks).
fn account(
    mut before: Vec<StreamSeen>,
    element: &ElementStreams,
    totals: &mut BTreeMap<(Scope, Media, Direction), RtpTotals>,
) -> Vec<StreamSeen> {
    let mut remembered = Vec::with_capacity(element.streams.len());
    for stream in element.streams {
        let (Some(media), Some(direction)) = (stream.media, stream.direction) else {
            continue;
        };
        let now = Seen::of(stream);
        let previous = before
            .iter()
            .position(|s| {
                s.media == media && s.direction == direction && *s.stats_id == *stream.stats_id
            })
            .map(|i| before.swap_remove(i));
        let (delta, high_water) = match &previous {
            Some(p) if now.packets >= p.seen.packets => {
                (growth(&p.seen, &now), high_water_of(&p.seen, &now))
            }
            // First sight, or the stream restarted: everything counts.
            _ => (now, now),
        };
        remembered.push(StreamSeen {
            media,
            direction,
            stats_id: previous
                .map(|p| p.stats_id)
                .unwrap_or_else(|| stream.stats_id.as_str().into()),
            seen: high_water,
        });
        let total = totals
            .entry((element.scope.clone(), media, direction))
            .or_default();
        add(total, &delta);
    }
    remembered
}

/// The scope every element shares at aggregated detail, or the remainder at other levels.
fn is_remainder(scope: &Scope) -> bool {
    scope.pipeline.as_deref().is_none_or(str::is_empty)
}

fn growth(before: &Seen, now: &Seen) -> Seen {
    Seen {
        bytes: now.bytes.saturating_sub(before.bytes),
        packets: now.packets.saturating_sub(before.packets),
        packets_lost: now.packets_lost.saturating_sub(before.packets_lost),
        nacks: now.nacks.saturating_sub(before.nacks),
        plis: now.plis.saturating_sub(before.plis),
        firs: now.firs.saturating_sub(before.firs),
    }
}

fn high_water_of(before: &Seen, now: &Seen) -> Seen {
    Seen {
        bytes: before.bytes.max(now.bytes),
        packets: before.packets.max(now.packets),
        packets_lost: before.packets_lost.max(now.packets_lost),
        nacks: before.nacks.max(now.nacks),
        plis: before.plis.max(now.plis),
        firs: before.firs.max(now.firs),
    }
}

fn add(total: &mut RtpTotals, delta: &Seen) {
    total.bytes = total.bytes.saturating_add(delta.bytes);
    total.packets = total.packets.saturating_add(delta.packets);
    total.packets_lost = total.packets_lost.saturating_add(delta.packets_lost);
    total.nacks = total.nacks.saturating_add(delta.nacks);
    total.plis = total.plis.saturating_add(delta.plis);
    total.firs = total.firs.saturating_add(delta.firs);
}

/// Counts NOT_TRANSCODING → TRANSCODING changes between cycles, per media. An element first
/// seen already transcoding counts too, except on the first cycle after (re)connecting, when
/// every existing transcoder would otherwise look like a spike.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscodingTransitions {
    last: HashMap<String, ElementTranscoding>,
    totals: BTreeMap<Media, u64>,
    baseline_taken: bool,
    /// Counts `observe` calls, to tell this cycle's states from the previous one's.
    cycle: u64,
}

/// An element's transcoding states per media, in the previous cycle and in this one.
#[derive(Debug, Clone, Default, PartialEq)]
struct ElementTranscoding {
    cycle: u64,
    before: [Option<bool>; 2],
    now: [Option<bool>; 2],
}

impl TranscodingTransitions {
    /// `states`: (element, media, transcoding) of every element read this cycle.
    pub fn observe<'a>(&mut self, states: impl IntoIterator<Item = (&'a str, Media, bool)>) {
        self.cycle += 1;
        for (element, media, transcoding) in states {
            // Updated in place: ids are not copied again for elements already known.
            let entry = match self.last.get_mut(element) {
                Some(entry) => entry,
                None => self.last.entry(element.to_owned()).or_default(),
            };
            if entry.cycle != self.cycle {
                entry.before = std::mem::take(&mut entry.now);
                entry.cycle = self.cycle;
            }
            let counts = match entry.before[media as usize] {
                Some(was) => transcoding && !was,
                None => transcoding && self.baseline_taken,
            };
            if counts {
                *self.totals.entry(media).or_default() += 1;
            }
            entry.now[media as usize] = Some(transcoding);
        }
        // Elements not read this cycle are forgotten, as if never seen.
        let cycle = self.cycle;
        self.last.retain(|_, entry| entry.cycle == cycle);
        self.baseline_taken = true;
    }

    /// A new connection: the next cycle is a baseline again.
    pub fn reconnected(&mut self) {
        self.last.clear();
        self.baseline_taken = false;
    }

    pub fn totals(&self) -> &BTreeMap<Media, u64> {
        &self.totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(stats_id: &str, packets: u64, bytes: u64, lost: i64) -> RtpStream {
        RtpStream {
            media: Some(Media::Video),
            direction: Some(Direction::Inbound),
            stats_id: stats_id.to_owned(),
            bytes,
            packets,
            packets_lost: lost,
            nacks: packets / 100,
            ..RtpStream::default()
        }
    }

    fn total(c: &RtpCounters) -> RtpTotals {
        c.totals()
            .get(&(Scope::default(), Media::Video, Direction::Inbound))
            .copied()
            .unwrap_or_default()
    }

    /// Each step: the streams element "e" reports (or `None` when its read failed).
    fn run(steps: &[Option<Vec<RtpStream>>]) -> Vec<(u64, u64, u64)> {
        let mut counters = RtpCounters::default();
        let scope = Scope::default();
        let live = BTreeSet::new();
        steps
            .iter()
            .map(|step| {
                let read: Vec<ElementStreams> = step
                    .iter()
                    .map(|streams| ElementStreams {
                        element: "e",
                        scope: &scope,
                        streams,
                    })
                    .collect();
                counters.observe(&read, &live);
                let t = total(&counters);
                (t.packets, t.bytes, t.packets_lost)
            })
            .collect()
    }

    #[test]
    fn delta_accounting_table() {
        type Case = (
            &'static str,
            Vec<Option<Vec<RtpStream>>>,
            Vec<(u64, u64, u64)>,
        );
        let cases: Vec<Case> = vec![
            (
                "first observation counts whole",
                vec![Some(vec![stream("a", 100, 1000, 2)])],
                vec![(100, 1000, 2)],
            ),
            (
                "growth counts the difference",
                vec![
                    Some(vec![stream("a", 100, 1000, 2)]),
                    Some(vec![stream("a", 150, 1600, 5)]),
                ],
                vec![(100, 1000, 2), (150, 1600, 5)],
            ),
            (
                "stream reset counts the new value, never negative",
                vec![
                    Some(vec![stream("a", 100, 1000, 2)]),
                    Some(vec![stream("a", 10, 90, 0)]),
                    Some(vec![stream("a", 30, 300, 1)]),
                ],
                vec![(100, 1000, 2), (110, 1090, 2), (130, 1300, 3)],
            ),
            (
                "negative and dipping packetsLost count only growth above the high-water mark",
                vec![
                    Some(vec![stream("a", 100, 1000, -3)]),
                    Some(vec![stream("a", 200, 2000, 5)]),
                    Some(vec![stream("a", 300, 3000, 3)]),
                    Some(vec![stream("a", 400, 4000, 6)]),
                ],
                vec![
                    (100, 1000, 0),
                    (200, 2000, 5),
                    (300, 3000, 5),
                    (400, 4000, 6),
                ],
            ),
            (
                "SSRC change: old stream forgotten, new one counted from its start",
                vec![
                    Some(vec![stream("a", 100, 1000, 0)]),
                    Some(vec![stream("b", 20, 200, 0)]),
                    Some(vec![stream("b", 50, 500, 0)]),
                ],
                vec![(100, 1000, 0), (120, 1200, 0), (150, 1500, 0)],
            ),
            (
                "endpoint gone: totals stay",
                vec![Some(vec![stream("a", 100, 1000, 0)]), Some(vec![])],
                vec![(100, 1000, 0), (100, 1000, 0)],
            ),
            (
                "a failed read does not make the next one count twice",
                vec![
                    Some(vec![stream("a", 100, 1000, 0)]),
                    None,
                    Some(vec![stream("a", 130, 1300, 0)]),
                ],
                vec![(100, 1000, 0), (100, 1000, 0), (130, 1300, 0)],
            ),
        ];
        for (name, steps, want) in cases {
            assert_eq!(run(&steps), want, "{name}");
        }
    }

    #[test]
    fn totals_of_vanished_scopes_are_dropped_but_the_remainder_stays() {
        let mut counters = RtpCounters::default();
        let room = Scope {
            pipeline: Some("room".into()),
            element: None,
        };
        let rest = Scope {
            pipeline: Some(String::new()),
            element: None,
        };
        let streams = vec![stream("a", 10, 100, 0)];
        let other = vec![stream("b", 5, 50, 0)];
        let read = [
            ElementStreams {
                element: "e1",
                scope: &room,
                streams: &streams,
            },
            ElementStreams {
                element: "e2",
                scope: &rest,
                streams: &other,
            },
        ];
        counters.observe(&read, &BTreeSet::from([room.clone()]));
        assert_eq!(counters.totals().len(), 2);
        counters.observe(&[], &BTreeSet::new());
        let left: Vec<&Scope> = counters.totals().keys().map(|(s, _, _)| s).collect();
        assert_eq!(left, vec![&rest]);
    }

    #[test]
    fn a_kms_restart_counts_new_streams_from_zero() {
        let mut counters = RtpCounters::default();
        let scope = Scope::default();
        let before = vec![stream("a", 100, 1000, 0)];
        counters.observe(
            &[ElementStreams {
                element: "e",
                scope: &scope,
                streams: &before,
            }],
            &BTreeSet::new(),
        );
        counters.forget_streams();
        // After the restart, KMS reuses nothing: a stream with the same ids would start at 0.
        let after = vec![stream("a", 40, 400, 0)];
        counters.observe(
            &[ElementStreams {
                element: "e",
                scope: &scope,
                streams: &after,
            }],
            &BTreeSet::new(),
        );
        assert_eq!(total(&counters).packets, 140);
    }

    #[test]
    fn transcoding_transitions_skip_the_baseline_and_count_starts() {
        let mut t = TranscodingTransitions::default();
        t.observe([("a", Media::Video, true), ("b", Media::Video, false)]);
        assert_eq!(t.totals().get(&Media::Video), None, "baseline");
        t.observe([
            ("a", Media::Video, true),
            ("b", Media::Video, true),
            ("c", Media::Video, true),
        ]);
        assert_eq!(
            t.totals()[&Media::Video],
            2,
            "b started, c appeared transcoding"
        );
        t.observe([("a", Media::Video, false), ("b", Media::Video, true)]);
        t.observe([("a", Media::Video, true)]);
        assert_eq!(t.totals()[&Media::Video], 3);
        t.reconnected();
        t.observe([("z", Media::Video, true)]);
        assert_eq!(t.totals()[&Media::Video], 3, "baseline after reconnect");
    }
}
