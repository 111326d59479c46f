//! The latest snapshot of every target, each swapped whole so a scrape never sees half a cycle.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::analysis::snapshot::TargetSnapshot;
use crate::poll::cycle::unix_now;

/// Where a target came from (`kurento_exporter_targets{source}`, the API's `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum TargetSource {
    /// `[[targets]]` of the configuration file.
    #[default]
    Config,
    /// A Prometheus file_sd file of `targets_files`.
    File,
    /// A DNS name of `dns_sd`.
    Dns,
    /// A `/probe?target=` request.
    Probe,
}

impl TargetSource {
    pub const ALL: [TargetSource; 4] = [
        TargetSource::Config,
        TargetSource::File,
        TargetSource::Dns,
        TargetSource::Probe,
    ];

    pub fn label(self) -> &'static str {
        match self {
            TargetSource::Config => "config",
            TargetSource::File => "file",
            TargetSource::Dns => "dns",
            TargetSource::Probe => "probe",
        }
    }
}

#[derive(Debug)]
pub struct Store {
    targets: RwLock<BTreeMap<String, Arc<TargetSnapshot>>>,
    /// Where each target came from; a target missing here is a configured one.
    sources: RwLock<BTreeMap<String, TargetSource>>,
    /// Bumped by every publish, so derived views (the rendered exposition) know when to rebuild.
    generation: AtomicU64,
    /// The generation, for whoever waits for the next publish (tests, instead of polling).
    published: watch::Sender<u64>,
    started: Instant,
    ready_timeout: Duration,
    /// The outcome of the last configuration load, for the exporter's reload gauges.
    reload: RwLock<ReloadStatus>,
}

/// The outcome of the last configuration load (the start counts as a successful one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReloadStatus {
    pub successful: bool,
    /// When the last successful load happened (Unix seconds).
    pub success_unix_seconds: f64,
}

impl Store {
    /// A store for these target names, each with an initial (not yet polled) snapshot.
    pub fn new<'a>(targets: impl IntoIterator<Item = &'a str>, ready_timeout: Duration) -> Self {
        let targets = targets
            .into_iter()
            .map(|name| (name.to_owned(), Arc::new(TargetSnapshot::initial(name))))
            .collect();
        Store {
            targets: RwLock::new(targets),
            sources: RwLock::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
            published: watch::Sender::new(0),
            started: Instant::now(),
            ready_timeout,
            reload: RwLock::new(ReloadStatus {
                successful: true,
                success_unix_seconds: unix_now(),
            }),
        }
    }

    /// Replaces a target's snapshot.
    pub fn publish(&self, snapshot: TargetSnapshot) {
        // A panic while holding the lock cannot leave the map half-written (inserts are atomic
        // from the map's point of view), so a poisoned lock is safe to keep using.
        let mut targets = self.targets.write().unwrap_or_else(PoisonError::into_inner);
        targets.insert(snapshot.kms.clone(), Arc::new(snapshot));
        // Bumped while the write lock is held: a reader that sees the new generation also sees
        // the new snapshot.
        self.bump(targets);
    }

    /// Starts serving `kms` (a target added by a configuration reload or discovered) with an
    /// initial snapshot; a target already there keeps its snapshot (and so its counters).
    pub fn add_target(&self, kms: &str, source: TargetSource) {
        self.sources
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(kms.to_owned(), source);
        let mut targets = self.targets.write().unwrap_or_else(PoisonError::into_inner);
        if targets.contains_key(kms) {
            return;
        }
        targets.insert(kms.to_owned(), Arc::new(TargetSnapshot::initial(kms)));
        self.bump(targets);
    }

    /// Stops serving `kms` (a target removed by a configuration reload): its series disappear
    /// from the next scrape instead of lingering at their last values.
    pub fn remove_target(&self, kms: &str) {
        self.sources
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(kms);
        let mut targets = self.targets.write().unwrap_or_else(PoisonError::into_inner);
        if targets.remove(kms).is_none() {
            return;
        }
        self.bump(targets);
    }

    /// Bumps the generation while the write lock is still held (see `publish`), then tells the
    /// waiters.
    fn bump(
        &self,
        targets: std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<TargetSnapshot>>>,
    ) {
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        drop(targets);
        self.published.send_replace(generation);
    }

    /// Records the outcome of a configuration reload at `now` (Unix seconds). A new generation,
    /// so the next scrape shows it.
    pub fn reloaded(&self, successful: bool, now: f64) {
        {
            let mut reload = self.reload.write().unwrap_or_else(PoisonError::into_inner);
            reload.successful = successful;
            if successful {
                reload.success_unix_seconds = now;
            }
        }
        let targets = self.targets.write().unwrap_or_else(PoisonError::into_inner);
        self.bump(targets);
    }

    pub fn reload_status(&self) -> ReloadStatus {
        *self.reload.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes (to the generation) at every publish, so a waiter needs no polling loop.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    /// How many snapshots have been published.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The current snapshots, in target-name order.
    pub fn snapshots(&self) -> Vec<Arc<TargetSnapshot>> {
        let targets = self.targets.read().unwrap_or_else(PoisonError::into_inner);
        targets.values().cloned().collect()
    }

    /// Where `kms` came from.
    pub fn source(&self, kms: &str) -> TargetSource {
        let sources = self.sources.read().unwrap_or_else(PoisonError::into_inner);
        sources.get(kms).copied().unwrap_or_default()
    }

    /// How many targets each source gave (every source listed, 0 when none).
    pub fn targets_by_source(&self) -> BTreeMap<TargetSource, usize> {
        let mut counts: BTreeMap<TargetSource, usize> =
            TargetSource::ALL.iter().map(|s| (*s, 0)).collect();
        for snapshot in self.snapshots() {
            *counts.entry(self.source(&snapshot.kms)).or_default() += 1;
        }
        counts
    }

    pub fn snapshot(&self, kms: &str) -> Option<Arc<TargetSnapshot>> {
        let targets = self.targets.read().unwrap_or_else(PoisonError::into_inner);
        targets.get(kms).cloned()
    }

    /// Ready once every target has finished a cycle, or once the readiness timeout has passed
    /// (so one dead KMS cannot keep the exporter out of a load balancer forever).
    pub fn ready(&self) -> bool {
        self.started.elapsed() >= self.ready_timeout
            || self
                .snapshots()
                .iter()
                .all(|s| s.exporter.cycles_finished > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_after_every_target_finished_a_cycle() {
        let store = Store::new(["a", "b"], Duration::from_secs(3600));
        assert!(!store.ready());
        let mut a = TargetSnapshot::initial("a");
        a.exporter.cycles_finished = 1;
        store.publish(a);
        assert!(!store.ready());
        let mut b = TargetSnapshot::initial("b");
        b.exporter.cycles_finished = 1;
        store.publish(b);
        assert!(store.ready());
        assert_eq!(store.snapshot("a").unwrap().exporter.cycles_finished, 1);
    }

    #[test]
    fn targets_can_be_added_and_removed_and_each_change_is_a_new_generation() {
        let store = Store::new(["a"], Duration::from_secs(3600));
        let mut a = TargetSnapshot::initial("a");
        a.exporter.cycles_finished = 3;
        store.publish(a);
        let generation = store.generation();
        store.add_target("b", TargetSource::File);
        store.add_target("a", TargetSource::Config);
        assert_eq!(store.generation(), generation + 1);
        assert_eq!(store.snapshot("a").unwrap().exporter.cycles_finished, 3);
        assert_eq!(store.snapshot("b").unwrap().exporter.cycles_finished, 0);
        store.remove_target("a");
        store.remove_target("a");
        assert_eq!(store.generation(), generation + 2);
        let names: Vec<_> = store.snapshots().iter().map(|s| s.kms.clone()).collect();
        assert_eq!(names, ["b"]);
        assert_eq!(store.source("b"), TargetSource::File);
        let counts = store.targets_by_source();
        assert_eq!(counts[&TargetSource::File], 1);
        assert_eq!(counts[&TargetSource::Config], 0);
        assert_eq!(counts.len(), TargetSource::ALL.len());
    }

    #[test]
    fn ready_after_the_timeout_even_if_a_target_never_answers() {
        let store = Store::new(["a"], Duration::ZERO);
        assert!(store.ready());
    }
}
