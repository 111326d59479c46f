//! Reconnect policy: capped exponential backoff with "equal jitter".
//!
//! The base delay doubles after each failure up to `max`; each delay is half the base plus a
//! random share of the other half, so reconnects of many exporters to one restarted KMS spread
//! out while a single exporter still backs off predictably. The RNG is seeded, so a test (or a
//! reproducible run) sees the same sequence.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    base: Duration,
    rng: StdRng,
}

impl Backoff {
    /// `initial` is the first base delay; it is clamped to `max`.
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        let initial = initial.min(max);
        Backoff {
            initial,
            max,
            base: initial,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// The delay before the next attempt, in `[base/2, base]`, then doubles the base (capped).
    /// Whole milliseconds: the resolution of tokio's timer, so a sleep lasts exactly this long.
    pub fn next_delay(&mut self) -> Duration {
        let base = millis(self.base);
        self.base = self.base.saturating_mul(2).min(self.max);
        let fixed = base / 2;
        Duration::from_millis(fixed + self.rng.random_range(0..=base - fixed))
    }

    /// Back to the initial delay, after a success.
    pub fn reset(&mut self) {
        self.base = self.initial;
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sleeps the next backoff delay before a reconnect attempt. Returns `false` at once if
/// `shutdown` fires meanwhile (the caller then stops instead of retrying).
pub async fn wait_before_retry(backoff: &mut Backoff, shutdown: &CancellationToken) -> bool {
    let delay = backoff.next_delay();
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn base_doubles_up_to_the_cap_and_delays_stay_within_bounds() {
        let mut backoff = Backoff::new(100 * MS, 1000 * MS, 7);
        // Expected base per failure: 100, 200, 400, 800, 1000, 1000, ...
        let bases = [100, 200, 400, 800, 1000, 1000, 1000];
        for base in bases {
            let base = base * MS;
            let delay = backoff.next_delay();
            assert!(
                delay >= base / 2 && delay <= base,
                "{delay:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
    }

    #[test]
    fn jitter_never_exceeds_max_and_actually_varies() {
        let mut backoff = Backoff::new(MS, 50 * MS, 1);
        let delays: Vec<_> = (0..200).map(|_| backoff.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= 50 * MS));
        let capped = &delays[10..];
        assert!(capped.iter().all(|d| *d >= 25 * MS));
        let first = capped[0];
        assert!(capped.iter().any(|d| *d != first), "no jitter at all");
    }

    #[test]
    fn same_seed_same_sequence_other_seed_differs() {
        let run = |seed| {
            let mut b = Backoff::new(100 * MS, 10_000 * MS, seed);
            (0..10).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn reset_returns_to_the_initial_base() {
        let mut backoff = Backoff::new(100 * MS, 10_000 * MS, 3);
        for _ in 0..5 {
            backoff.next_delay();
        }
        backoff.reset();
        let delay = backoff.next_delay();
        assert!(delay >= 50 * MS && delay <= 100 * MS, "{delay:?}");
    }

    #[test]
    fn initial_above_max_is_clamped() {
        let mut backoff = Backoff::new(5000 * MS, 1000 * MS, 3);
        assert!(backoff.next_delay() <= 1000 * MS);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_exactly_the_backoff_delays_and_stops_on_shutdown() {
        let mut expected = Backoff::new(100 * MS, 1000 * MS, 9);
        let expected: Vec<Duration> = (0..3).map(|_| expected.next_delay()).collect();

        let mut backoff = Backoff::new(100 * MS, 1000 * MS, 9);
        let shutdown = CancellationToken::new();
        let mut waited = Vec::new();
        for _ in 0..3 {
            let before = tokio::time::Instant::now();
            assert!(wait_before_retry(&mut backoff, &shutdown).await);
            waited.push(before.elapsed());
        }
        assert_eq!(waited, expected);

        // A shutdown during the wait ends it at once, without sleeping the (now 800 ms) delay.
        let before = tokio::time::Instant::now();
        let waiting = wait_before_retry(&mut backoff, &shutdown);
        shutdown.cancel();
        assert!(!waiting.await);
        assert_eq!(before.elapsed(), Duration::ZERO);
    }
}
