//! One value per key per interval: the first asker in an interval starts it, every later asker
//! within that interval (concurrent ones included) gets the same value. It bounds on-demand
//! reads of KMS to one per key per poll interval (README "JSON API", SDP). Pure: time is passed
//! in.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

use crate::kurento::deadline;

#[derive(Debug)]
pub(crate) struct OncePerInterval<K, V> {
    /// Each value with the instant it stops being served.
    entries: HashMap<K, (Instant, V)>,
}

impl<K: Eq + Hash, V: Clone> OncePerInterval<K, V> {
    pub(crate) fn new() -> Self {
        OncePerInterval {
            entries: HashMap::new(),
        }
    }

    /// The value of `key` started less than `interval` before `now`, else the one `start`
    /// makes now. Expired entries are dropped on the way, so the map holds only what was asked
    /// for within the last interval.
    pub(crate) fn get_or_start(
        &mut self,
        key: K,
        now: Instant,
        interval: Duration,
        start: impl FnOnce() -> V,
    ) -> V {
        self.entries.retain(|_, (until, _)| *until > now);
        let (_, value) = self
            .entries
            .entry(key)
            .or_insert_with(|| (deadline::after(now, interval), start()));
        value.clone()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const INTERVAL: Duration = Duration::from_secs(10);

    #[test]
    fn one_start_per_key_per_interval() {
        let t0 = Instant::now();
        let mut once = OncePerInterval::new();
        let mut starts = 0;
        let mut ask = |key: &str, at: Duration| {
            once.get_or_start(key.to_owned(), t0 + at, INTERVAL, || {
                starts += 1;
                starts
            })
        };
        let cases = [
            ("a", 0, 1),
            ("a", 1, 1),
            ("b", 2, 2),
            ("a", 9, 1),
            ("a", 10, 3),
            ("b", 11, 2),
            ("b", 12, 4),
            ("a", 19, 3),
        ];
        for (key, at, want) in cases {
            assert_eq!(ask(key, Duration::from_secs(at)), want, "{key} at {at}s");
        }
    }

    #[test]
    fn expired_entries_are_dropped() {
        let t0 = Instant::now();
        let mut once = OncePerInterval::new();
        for i in 0..100 {
            once.get_or_start(i, t0, INTERVAL, || i);
        }
        assert_eq!(once.len(), 100);
        once.get_or_start(0, t0 + INTERVAL, INTERVAL, || 0);
        assert_eq!(once.len(), 1);
    }

    /// Concurrent askers share one shared future: the work runs once, on paused time.
    #[tokio::test(start_paused = true)]
    async fn concurrent_askers_share_one_read() {
        let reads = Arc::new(AtomicUsize::new(0));
        let mut once = OncePerInterval::new();
        let mut waiters = Vec::new();
        for _ in 0..10 {
            let reads = reads.clone();
            let shared = once.get_or_start("e", Instant::now(), INTERVAL, move || {
                async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    "sdp"
                }
                .boxed()
                .shared()
            });
            waiters.push(tokio::spawn(shared));
        }
        for waiter in waiters {
            assert_eq!(waiter.await.unwrap(), "sdp");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        tokio::time::advance(INTERVAL).await;
        let reads2 = reads.clone();
        let again = once.get_or_start("e", Instant::now(), INTERVAL, move || {
            async move {
                reads2.fetch_add(1, Ordering::SeqCst);
                "sdp"
            }
            .boxed()
            .shared()
        });
        again.await;
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "a new interval reads again"
        );
    }
}
