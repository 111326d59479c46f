//! Deadlines that cannot overflow. `Instant + Duration` panics when the sum has no `Instant`,
//! and a panic in a socket or poller task leaves stale state behind (a dead socket task never
//! fails its pending calls; a dead poller leaves its last snapshot served). Every deadline of the
//! client and the poller is therefore computed here, saturating to a far future instead.

use std::time::Duration;

use tokio::time::Instant;

/// About 30 years: later than any deadline that can matter, small enough that adding it to a
/// monotonic clock (counted from boot) cannot overflow.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// `at + d`, with `d` capped at about 30 years: so the sum exists, and a longer duration never
/// gives an earlier deadline than a shorter one.
pub fn after(at: Instant, d: Duration) -> Instant {
    at.checked_add(d.min(FAR_FUTURE))
        // Unreachable on real clocks (see FAR_FUTURE); `at` itself still cannot panic.
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_durations_add_and_huge_ones_saturate() {
        let now = Instant::now();
        assert_eq!(
            after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        let mut previous = now;
        for huge in [
            FAR_FUTURE / 2,
            FAR_FUTURE,
            Duration::from_secs(u64::MAX / 4),
            Duration::from_secs(u64::MAX / 2),
            Duration::MAX,
        ] {
            let far = after(now, huge);
            assert!(far >= previous, "monotonic at {huge:?}");
            previous = far;
        }
        assert_eq!(previous, now + FAR_FUTURE);
    }
}
