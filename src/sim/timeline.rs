//! Pure time arithmetic of periodic media behaviour (pauses, SSRC epochs, transcoding toggles).
//! Times are milliseconds of media time since the element's media started.

/// Media stops for `length` once every `period`: pause k (k ≥ 1) covers
/// `[k·period − stagger, k·period − stagger + length)`, so the first pause comes at least half a
/// period after the start and elements built together do not all pause at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pauses {
    period: u64,
    length: u64,
    stagger: u64,
}

impl Pauses {
    /// `draw` is a random word that picks the stagger.
    pub fn new(period: u64, length: u64, draw: u64) -> Pauses {
        let period = period.max(2);
        let length = length.clamp(1, period - 1);
        let stagger = draw % ((period - length) / 2 + 1);
        Pauses {
            period,
            length,
            stagger,
        }
    }

    /// How long the pause in progress at `e` has lasted, or `None` when media flows.
    pub fn paused_for(&self, e: u64) -> Option<u64> {
        let s = e + self.stagger;
        let into = s % self.period;
        (s >= self.period && into < self.length).then_some(into)
    }

    /// Time in `[0, e)` during which media flowed.
    pub fn active(&self, e: u64) -> u64 {
        let s = e + self.stagger;
        if s < self.period {
            return e;
        }
        let k = s / self.period;
        let paused = (k - 1) * self.length + (s - k * self.period).min(self.length);
        e.saturating_sub(paused)
    }

    /// The first instant after `e` at which a pause starts, ends or reaches `mark` ms.
    pub fn next_change(&self, e: u64, mark: u64) -> u64 {
        let s = e + self.stagger;
        let k = s / self.period;
        let mut offsets = vec![0, self.length];
        if mark > 0 && mark < self.length {
            offsets.push(mark);
        }
        (k.max(1)..=k + 1)
            .flat_map(|kk| offsets.iter().map(move |o| kk * self.period + o))
            .filter(|c| *c > s)
            .min()
            .unwrap_or(s + self.period)
            - self.stagger
    }
}

/// Phases of length `period`, staggered: phase k covers `[k·period − stagger, (k+1)·period −
/// stagger)` (phase 0 starts at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periodic {
    period: u64,
    stagger: u64,
}

impl Periodic {
    pub fn new(period: u64, draw: u64) -> Periodic {
        let period = period.max(1);
        Periodic {
            period,
            stagger: draw % (period / 2 + 1),
        }
    }

    pub fn phase(&self, e: u64) -> u64 {
        (e + self.stagger) / self.period
    }

    pub fn phase_start(&self, phase: u64) -> u64 {
        (phase * self.period).saturating_sub(self.stagger)
    }

    /// The start of the phase after the one at `e`.
    pub fn next_change(&self, e: u64) -> u64 {
        self.phase_start(self.phase(e) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_flat_active_time_and_transitions() {
        // period 10 s, pauses of 3 s, stagger 1 s: pauses at [9,12), [19,22), …
        let p = Pauses::new(10_000, 3_000, 1_000);
        let cases = [
            (0, None, 0),
            (8_999, None, 8_999),
            (9_000, Some(0), 9_000),
            (11_999, Some(2_999), 9_000),
            (12_000, None, 9_000),
            (19_500, Some(500), 16_000),
            (25_000, None, 19_000),
        ];
        for (e, paused, active) in cases {
            assert_eq!(p.paused_for(e), paused, "paused_for({e})");
            assert_eq!(p.active(e), active, "active({e})");
        }
        assert_eq!(p.next_change(0, 5_000), 9_000);
        assert_eq!(
            p.next_change(9_000, 2_000),
            11_000,
            "the mark inside a pause"
        );
        assert_eq!(p.next_change(11_000, 2_000), 12_000);
        assert_eq!(
            p.next_change(12_000, 5_000),
            19_000,
            "mark beyond the pause ignored"
        );
    }

    #[test]
    fn active_time_never_decreases() {
        let p = Pauses::new(7_000, 2_500, 12_345);
        let mut last = 0;
        for e in (0..60_000).step_by(97) {
            let a = p.active(e);
            assert!(a >= last, "active({e})");
            last = a;
        }
    }

    #[test]
    fn periodic_phases() {
        let t = Periodic::new(10_000, 3_000);
        assert_eq!(t.phase(0), 0);
        assert_eq!(t.phase(6_999), 0);
        assert_eq!(t.phase(7_000), 1);
        assert_eq!(t.phase_start(1), 7_000);
        assert_eq!(t.phase_start(0), 0);
        assert_eq!(t.next_change(0), 7_000);
        assert_eq!(t.next_change(7_000), 17_000);
    }
}
