//! Configuration reload in process: targets added, removed, changed and unchanged, and a bad
//! configuration that changes nothing. Synchronises on the store's publications, not by polling.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{KMS, Stack, test_config};
use kurento_exporter::sim::Scenario;

/// Waits until `kms` has finished at least `cycles` cycles (one publication at a time).
async fn cycles(stack: &Stack, kms: &str, cycles: u64) -> u64 {
    cycles_of(stack.exporter.store(), kms, cycles).await
}

async fn cycles_of(store: &kurento_exporter::poll::store::Store, kms: &str, cycles: u64) -> u64 {
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

/// `method path` with an empty body; the status and the body.
async fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let body = raw.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

fn file_config(urls: &[(&str, &str)]) -> String {
    let mut text = "[web]\nlisten_address = \"127.0.0.1:0\"\nenable_lifecycle = true\n\
                    [poll]\ninterval = \"1s\"\ntimeout = \"900ms\"\ncpu_sample = \"50ms\"\n"
        .to_owned();
    for (name, url) in urls {
        text.push_str(&format!(
            "[[targets]]\nname = \"{name}\"\nurl = \"{url}\"\n"
        ));
    }
    text
}

/// Without `web.enable_lifecycle`, `POST /-/reload` is refused (403), and GET is never a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reload_endpoint_is_off_by_default_and_never_on_get() {
    let stack = Stack::start(Scenario::demo(), |_| {}).await;
    assert_eq!(request(stack.addr, "POST", "/-/reload").await.0, 403);
    assert_eq!(request(stack.addr, "GET", "/-/reload").await.0, 405);
    stack.shutdown().await;
}

/// With it, `POST /-/reload` reloads the file: a good one is applied (200), a bad one is refused
/// (500 with the problems) and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_reload_applies_a_good_file_and_refuses_a_bad_one() {
    let sim = common::start_sim(Scenario::demo()).await;
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exporter.toml");
    std::fs::write(&path, file_config(&[(KMS, &url)])).unwrap();
    let file = path.clone();
    let load: kurento_exporter::ConfigLoader =
        Box::new(move || kurento_exporter::app::config::load(Some(&file), &Default::default()));
    let config = kurento_exporter::app::config::load(Some(&path), &Default::default()).unwrap();
    let exporter = kurento_exporter::Exporter::start_with_loader(config, Some(load))
        .await
        .unwrap();
    let addr = exporter.local_addr();
    let names = || -> Vec<String> {
        let snapshots = exporter.store().snapshots();
        snapshots.iter().map(|s| s.kms.clone()).collect()
    };

    std::fs::write(&path, file_config(&[(KMS, &url), ("b", &url)])).unwrap();
    assert_eq!(
        request(addr, "POST", "/-/reload").await,
        (200, "Reloaded".to_owned())
    );
    assert_eq!(names(), ["b", KMS]);

    // `[capacity]` takes effect on a reload: the placement answers price endpoints with it.
    let placement = || async {
        let (status, body) = request(addr, "GET", "/api/v1/targets").await;
        assert_eq!(status, 200, "{body}");
        let targets: serde_json::Value = serde_json::from_str(&body).unwrap();
        let target = targets.as_array().unwrap().iter().find(|t| t["kms"] == KMS);
        target.unwrap()["placement"].clone()
    };
    cycles_of(exporter.store(), KMS, 1).await;
    assert_eq!(placement().await["capacities"]["endpoints_per_cpu"], 20.0);
    let calibrated = file_config(&[(KMS, &url), ("b", &url)])
        + "[capacity]\nendpoints_per_cpu = 35\ntranscodes_per_cpu = 1.5\n";
    std::fs::write(&path, calibrated).unwrap();
    assert_eq!(request(addr, "POST", "/-/reload").await.0, 200);
    let capacities = placement().await["capacities"].clone();
    assert_eq!(capacities["endpoints_per_cpu"], 35.0);
    assert_eq!(capacities["transcodes_per_cpu"], 1.5);

    std::fs::write(&path, "[poll]\ninterval = \"nonsense\"\n").unwrap();
    let (status, body) = request(addr, "PUT", "/-/reload").await;
    assert_eq!(status, 500);
    assert!(body.starts_with("failed to reload config: "), "{body}");
    assert!(body.contains("poll.interval"), "{body}");
    assert_eq!(names(), ["b", KMS]);
    let metrics = common::scrape(addr).await;
    let reloaded = common::sample(&metrics, "kurento_exporter_config_last_reload_successful");
    assert_eq!(reloaded, Some(0.0));
    exporter.shutdown().await;
    sim.shutdown().await;
}
