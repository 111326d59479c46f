//! Configuration reload in process: targets added, removed, changed and unchanged, and a bad
//! configuration that changes nothing. Synchronises on the store's publications, not by polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{KMS, Stack, test_config};
use kurento_exporter::sim::Scenario;

/// Waits until `kms` has finished at least `cycles` cycles (one publication at a time).
async fn cycles(stack: &Stack, kms: &str, cycles: u64) -> u64 {
    let store = stack.exporter.store();
    let mut published = store.subscribe();
    let wait = async {
        loop {
            if let Some(n) = store
                .snapshot(kms)
                .map(|s| s.exporter.cycles_finished)
                .filter(|n| *n >= cycles)
            {
                return n;
            }
            published.changed().await.unwrap();
        }
    };
    // A liveness bound only: the simulator answers at once, a cycle runs every second.
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .expect("the target finishes its cycles")
}

fn names(stack: &Stack) -> Vec<String> {
    let snapshots = stack.exporter.store().snapshots();
    snapshots.iter().map(|s| s.kms.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_removes_and_restarts_targets_and_keeps_unchanged_ones() {
    let stack = Stack::start(Scenario::demo(), |_| {}).await;
    let url = stack.sim.url();
    let before = cycles(&stack, KMS, 1).await;

    // Added: "b". Unchanged: "kms" keeps its state (its cycles go on counting).
    let config = test_config(&[(KMS, url.clone()), ("b", url.clone())]);
    let changes = stack.exporter.reload(&config).await.unwrap();
    assert_eq!(
        (changes.added, changes.unchanged),
        (vec!["b".to_owned()], 1)
    );
    assert_eq!(names(&stack), ["b", KMS]);
    assert!(
        stack
            .exporter
            .store()
            .snapshot(KMS)
            .unwrap()
            .exporter
            .cycles_finished
            >= before
    );
    cycles(&stack, "b", 1).await;

    // Changed: "kms" gets another timeout and restarts, its counters carried over.
    let mut changed = config.clone();
    changed.targets[0].timeout = Some(Duration::from_millis(800));
    let finished = cycles(&stack, KMS, 1).await;
    let changes = stack.exporter.reload(&changed).await.unwrap();
    assert_eq!(changes.restarted, [KMS]);
    assert!(
        stack
            .exporter
            .store()
            .snapshot(KMS)
            .unwrap()
            .exporter
            .cycles_finished
            >= finished
    );

    // Removed: "b"'s series are gone as soon as the reload returns.
    let changes = stack
        .exporter
        .reload(&test_config(&[(KMS, url.clone())]))
        .await;
    assert_eq!(changes.unwrap().removed, ["b"]);
    assert_eq!(names(&stack), [KMS]);
    assert!(!stack.scrape().await.contains(r#"kms="b""#));

    // A configuration that does not validate changes nothing.
    let mut bad = test_config(&[("c", url)]);
    bad.poll.timeout = Duration::from_secs(5);
    let reloaded = "kurento_exporter_config_last_reload_successful";
    assert_eq!(common::sample(&stack.scrape().await, reloaded), Some(1.0));
    assert!(stack.exporter.reload(&bad).await.is_err());
    assert_eq!(names(&stack), [KMS]);
    assert_eq!(common::sample(&stack.scrape().await, reloaded), Some(0.0));
    // The last success stays the time of the last good reload.
    let success = "kurento_exporter_config_last_reload_success_timestamp_seconds";
    assert!(common::sample(&stack.scrape().await, success).unwrap() > 0.0);
    stack.shutdown().await;
}
