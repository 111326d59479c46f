//! The deep health check against the simulator (README "Health probe"): its metrics, its
//! cleanup on success, error and timeout, that its objects stay out of every other metric, and
//! that its requests are the only state-changing ones the exporter sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use kurento_exporter::app::config::Config;
use kurento_exporter::sim::{Fault, LoggedRequest};

const DEADLINE: Duration = Duration::from_secs(30);
const SUCCESS: &str = "kurento_health_probe_success{kms=\"kms\"}";
const DURATION: &str = "kurento_health_probe_duration_seconds{kms=\"kms\"}";
const PIPELINES: &str = "kurento_pipelines{kms=\"kms\"}";

fn probe_every_second(config: &mut Config) {
    config.poll.interval = Duration::from_secs(1);
    config.targets[0].health_probe = Some(true);
    config.targets[0].health_probe_interval = Some(Duration::from_secs(1));
    config.targets[0].health_probe_timeout = Some(Duration::from_millis(800));
}

/// The state-changing requests the probe may send: `create`, `release`, and the `setName` and
/// `generateOffer` invokes.
fn is_probe_write(r: &LoggedRequest) -> bool {
    match r.method.as_str() {
        "create" | "release" => true,
        "invoke" => matches!(r.operation.as_deref(), Some("setName" | "generateOffer")),
        _ => false,
    }
}

async fn probes_created(stack: &Stack) -> usize {
    stack
        .sim
        .request_log()
        .iter()
        .filter(|r| r.method == "create" && r.object.as_deref() == Some("MediaPipeline"))
        .count()
}

#[tokio::test]
async fn a_successful_probe_is_reported_and_leaves_nothing_behind() {
    let sim = start_sim(steady_demo()).await;
    let before = sim.object_ids();
    let mut config = test_config(&[(KMS, sim.url())]);
    probe_every_second(&mut config);
    let stack = Stack::watch(sim, config).await;

    let text = stack.wait_for_sample(SUCCESS, DEADLINE, |v| v == 1.0).await;
    let duration = sample(&text, DURATION).expect("a duration");
    assert!(duration > 0.0 && duration < 0.8, "{duration}");
    // Several probes later, the probe's objects never showed in the inventory metrics.
    eventually("three probes", DEADLINE, async || {
        probes_created(&stack).await >= 3
    })
    .await;
    let pipelines_before = before.iter().filter(|id| !id.contains('/')).count() as f64;
    let text = stack.scrape().await;
    assert_eq!(sample(&text, PIPELINES), Some(pipelines_before));
    assert_eq!(
        sample(
            &text,
            "kurento_objects_created_total{kms=\"kms\",element_type=\"MediaPipeline\"}"
        ),
        None,
        "the probe's pipelines are not counted as created"
    );
    assert!(
        !text.contains("kurento_exporter_health_probe"),
        "no series is labelled with the probe's pipeline"
    );

    stack.exporter.shutdown().await;
    eventually("the probe's objects to be released", DEADLINE, async || {
        stack.sim.object_ids() == before
    })
    .await;
    let log = stack.sim.request_log();
    let changing: Vec<_> = log.iter().filter(|r| r.changes_state()).collect();
    assert!(
        changing.iter().all(|r| is_probe_write(r)),
        "state-changing requests other than the probe's: {changing:?}"
    );
    let created = log.iter().filter(|r| r.method == "create").count();
    let released = log.iter().filter(|r| r.method == "release").count();
    let named = log
        .iter()
        .filter(|r| r.operation.as_deref() == Some("setName"))
        .count();
    assert!(created >= 6, "{created} creates");
    assert_eq!(named, created, "every object the probe creates is named");
    assert_eq!(released * 2, created, "one release per probe pipeline");
    // Never in the poller's read session: the probe's requests all run on sockets of their
    // own (the poller's reads are `get*`/`is*`, transactions and session bookkeeping).
    let probe_connections: std::collections::BTreeSet<u64> =
        changing.iter().map(|r| r.connection).collect();
    assert!(
        log.iter()
            .all(|r| !probe_connections.contains(&r.connection) || r.method != "transaction")
    );
    stack.sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_probe_reports_0_and_still_releases() {
    let sim = start_sim(steady_demo()).await;
    let before = sim.object_ids();
    sim.inject(Fault::FailNextInvoke {
        operation: "generateOffer".to_owned(),
        code: 40001,
    });
    let mut config = test_config(&[(KMS, sim.url())]);
    probe_every_second(&mut config);
    // One probe only: the failure stays the last verdict.
    config.targets[0].health_probe_interval = Some(Duration::from_secs(3600));
    let stack = Stack::watch(sim, config).await;

    stack.wait_for_sample(SUCCESS, DEADLINE, |v| v == 0.0).await;
    eventually(
        "the failed probe's objects to be released",
        DEADLINE,
        async || stack.sim.object_ids() == before,
    )
    .await;
    let log = stack.sim.request_log();
    assert_eq!(log.iter().filter(|r| r.method == "release").count(), 1);
    assert_eq!(
        log.iter()
            .filter(|r| r.method == "closeSession" && r.release)
            .count(),
        0
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn a_timed_out_probe_reports_0_and_releases_in_the_background() {
    let sim = start_sim(steady_demo()).await;
    let before = sim.object_ids();
    let mut config = test_config(&[(KMS, sim.url())]);
    probe_every_second(&mut config);
    let stack = Stack::watch(sim, config).await;
    stack.wait_for_sample(SUCCESS, DEADLINE, |v| v == 1.0).await;

    // `connect` is now answered after 500 ms and `create` after 1 s, past the probe's 800 ms:
    // the verdict comes while the `create` is in flight, and its reply (within the cleanup
    // deadline) tells the cleanup what to release.
    stack.sim.inject(Fault::SlowReplies {
        extra: Duration::from_millis(500),
    });
    stack.wait_for_sample(SUCCESS, DEADLINE, |v| v == 0.0).await;
    stack.sim.inject(Fault::SlowReplies {
        extra: Duration::ZERO,
    });
    stack.exporter.shutdown().await;
    eventually(
        "the timed-out probe's objects to be released",
        DEADLINE,
        async || stack.sim.object_ids() == before,
    )
    .await;
    let changing: Vec<_> = stack
        .sim
        .request_log()
        .into_iter()
        .filter(|r| r.changes_state())
        .collect();
    assert!(changing.iter().all(is_probe_write), "{changing:?}");
    let pipelines = changing
        .iter()
        .filter(|r| r.method == "create" && r.object.as_deref() == Some("MediaPipeline"))
        .count();
    let released = changing.iter().filter(|r| r.method == "release").count();
    assert_eq!(
        released, pipelines,
        "every probe pipeline released: {changing:?}"
    );
    stack.sim.shutdown().await;
}

#[tokio::test]
async fn without_the_probe_there_are_no_probe_series_and_no_writes() {
    let stack = Stack::start(steady_demo(), |_| {}).await;
    let text = stack
        .wait_for_sample("kurento_up{kms=\"kms\"}", DEADLINE, |v| v == 1.0)
        .await;
    assert!(!text.contains("kurento_health_probe_"));
    let log = stack.sim.request_log();
    assert!(log.iter().all(|r| !r.changes_state()));
    stack.shutdown().await;
}
