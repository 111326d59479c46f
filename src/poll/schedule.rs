//! When each target's poll cycles run. Pure.
//!
//! Targets are spread evenly over the poll interval (target `i` of `n` is offset by
//! `i × interval ÷ n` from a common epoch), so the cycles of many KMS instances do not all run at
//! once: the exporter's CPU load stays flat instead of peaking every interval, cycles do not slow
//! each other down, and fewer cycles hold their readings in memory at the same time. The first
//! cycle after connecting runs at once (metrics are there as soon as possible); later cycles run
//! on the target's slots.
//!
//! The targets started together at the epoch (the exporter's start) make their first connection
//! in the same order, compressed into the first second ([`Schedule::first_connect`]): their
//! inventories and first cycles would otherwise all hold their replies at the same moment, which
//! was the exporter's peak memory (a fleet of 100 KMS: ~20 MiB above the steady state). Targets
//! started later (a reload, discovery, `/probe`) and every reconnection connect at once.
//!
//! Two cycles start between half an interval and one interval apart (or back to back after a
//! cycle that took longer than an interval), also while a target joins its slots (after a
//! connect). The lower bound keeps cycles from running back to back; the upper
//! bound is the liveness guarantee: a KMS that goes silent is found silent by a cycle starting at
//! most one interval later, whose reads time out one timeout after that (README "Failures").
//!
//! Slots saturate to a far future instead of overflowing: a panic here would kill the poller and
//! leave its last snapshot served as fresh.

use std::time::Duration;

use tokio::time::Instant;

use crate::kurento::deadline;

/// What the first connections of the targets started at the epoch are spread over (or the
/// interval, if shorter).
const STARTUP_SPREAD: Duration = Duration::from_secs(1);

/// The slots of one target: `epoch + phase + k × interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    epoch: Instant,
    phase: Duration,
    interval: Duration,
}

impl Schedule {
    /// The schedule of target `index` (0-based) of `count` targets.
    pub fn spread(epoch: Instant, index: usize, count: usize, interval: Duration) -> Schedule {
        let count = u32::try_from(count.max(1)).unwrap_or(u32::MAX);
        let index = u32::try_from(index).unwrap_or(u32::MAX) % count;
        Schedule {
            epoch,
            phase: interval / count * index,
            interval,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the target first connects: its phase scaled from the interval down to
    /// [`STARTUP_SPREAD`] after the epoch. In the past (so at once) for a target started more
    /// than that after the epoch.
    pub fn first_connect(&self) -> Instant {
        let spread = STARTUP_SPREAD.min(self.interval);
        let offset = if self.interval.is_zero() {
            Duration::ZERO
        } else {
            // The phase is below the interval, so the fraction is below 1.
            spread.mul_f64(self.phase.as_secs_f64() / self.interval.as_secs_f64())
        };
        deadline::after(self.epoch, offset)
    }

    /// When the cycle after the one that started at `started` starts: the first slot between
    /// half an interval and one interval after `started`. When no slot falls in that window (a
    /// target joining its slots), half an interval after `started`: the slot after that one is
    /// then in the window, so a target joins its slots within two cycles.
    pub fn next_cycle(&self, started: Instant) -> Instant {
        let earliest = deadline::after(started, self.interval / 2);
        let latest = deadline::after(started, self.interval);
        let slot = self.first_slot_from(earliest);
        if slot <= latest { slot } else { earliest }
    }

    /// The first slot at or after `at`.
    fn first_slot_from(&self, at: Instant) -> Instant {
        let first = deadline::after(self.epoch, self.phase);
        if at <= first || self.interval.is_zero() {
            return first.max(at);
        }
        let since_first = (at - first).as_nanos();
        let interval = self.interval.as_nanos();
        let slots = since_first.div_ceil(interval);
        // Slot counts fit in u32 for any real uptime (u32::MAX intervals of 1 ms is 49 days;
        // intervals are at least 1 s): saturate rather than wrap.
        let slots = u32::try_from(slots).unwrap_or(u32::MAX);
        deadline::after(first, self.interval.saturating_mul(slots))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn targets_are_spread_evenly_over_the_interval() {
        let epoch = Instant::now();
        let phases: Vec<Duration> = (0..4)
            .map(|i| Schedule::spread(epoch, i, 4, 8 * S).first_slot_from(epoch) - epoch)
            .collect();
        assert_eq!(phases, vec![Duration::ZERO, 2 * S, 4 * S, 6 * S]);
    }

    #[test]
    fn first_connections_keep_the_slot_order_within_the_first_second() {
        let epoch = Instant::now();
        let offsets: Vec<Duration> = (0..4)
            .map(|i| Schedule::spread(epoch, i, 4, 8 * S).first_connect() - epoch)
            .collect();
        assert_eq!(
            offsets,
            [0, 250, 500, 750].map(Duration::from_millis).to_vec()
        );
        // An interval shorter than the spread: spread over the interval, like the slots.
        let short = Schedule::spread(epoch, 1, 2, S / 2);
        assert_eq!(short.first_connect() - epoch, S / 4);
        // An absurd interval does not overflow.
        let far = Schedule::spread(epoch, 2, 3, Duration::MAX);
        assert!(far.first_connect() - epoch < S);
    }

    #[test]
    fn a_single_target_has_no_offset() {
        let epoch = Instant::now();
        let s = Schedule::spread(epoch, 0, 1, 15 * S);
        assert_eq!(s.next_cycle(epoch), epoch + 15 * S);
        assert_eq!(s.next_cycle(epoch + 7 * S), epoch + 15 * S);
        assert_eq!(s.next_cycle(epoch + 15 * S), epoch + 30 * S);
        // Off its slots (a first cycle after connecting): half an interval later.
        assert_eq!(s.next_cycle(epoch + 8 * S), epoch + 15_500 * S / 1000);
    }

    #[test]
    fn the_next_cycle_starts_half_an_interval_to_one_interval_later() {
        let epoch = Instant::now();
        let s = Schedule::spread(epoch, 1, 2, 10 * S); // slots at 5, 15, 25 …
        // (cycle started at, next cycle at): a slot when one falls 5..=10 s later, else +5 s.
        let cases = [
            (0, 5),
            (1, 6),
            (4, 9),
            (5, 15),
            (6, 15),
            (10, 15),
            (11, 16),
            (20, 25),
            (100, 105),
        ];
        for (started, want) in cases {
            assert_eq!(
                s.next_cycle(epoch + started * S),
                epoch + want * S,
                "cycle started at {started}s"
            );
        }
    }

    #[test]
    fn a_target_joins_its_slots_within_two_cycles() {
        let epoch = Instant::now();
        let s = Schedule::spread(epoch, 1, 2, 10 * S); // slots at 5, 15, 25 …
        for connected_ms in (0..20_000).step_by(250) {
            let mut at = epoch + Duration::from_millis(connected_ms);
            for _ in 0..2 {
                let next = s.next_cycle(at);
                assert!(
                    next - at >= 5 * S && next - at <= 10 * S,
                    "{connected_ms} ms"
                );
                at = next;
            }
            let on_slot = (at - epoch).as_millis() % 10_000 == 5_000;
            assert!(
                on_slot,
                "connected at {connected_ms} ms: at {:?}",
                at - epoch
            );
        }
    }

    /// `300000000000y` decodes to a valid `Duration` with no `Instant` after it; the poller
    /// panicked on it. Config rejects it now, and the schedule saturates anyway.
    #[test]
    fn absurd_intervals_give_far_slots_instead_of_a_panic() {
        let epoch = Instant::now();
        let year = Duration::from_secs(365 * 24 * 3600);
        for interval in [
            Duration::MAX,
            Duration::from_secs(300_000_000_000 * 31_557_600),
        ] {
            for (index, count) in [(0, 1), (1, 3), (2, 3)] {
                let s = Schedule::spread(epoch, index, count, interval);
                let next = s.next_cycle(epoch);
                assert!(next >= epoch + year, "{interval:?} {index}/{count}");
                assert!(s.next_cycle(next) >= next, "from a far slot");
            }
        }
    }

    #[test]
    fn slots_follow_each_other_one_interval_apart() {
        let epoch = Instant::now();
        let s = Schedule::spread(epoch, 2, 3, 9 * S);
        let mut at = s.next_cycle(epoch);
        for _ in 0..5 {
            let next = s.next_cycle(at);
            assert_eq!(next - at, 9 * S);
            at = next;
        }
    }
}
