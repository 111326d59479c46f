//! The exporter against the simulated KMS, in process, over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use kurento_exporter::Exporter;
use kurento_exporter::sim::{Fault, Scenario, SimOptions, Simulator};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn golden_exposition_of_the_demo_scenario() {
    let sim = start_sim(steady_demo()).await;
    sim.freeze_media_at_start();
    let config = test_config(&[("demo", sim.url())]);
    let stack = Stack::watch(sim, config).await;
    // The first cycle reads every pipeline's creation time: wait until all ages are known.
    let text = stack
        .wait_for_sample(
            "kurento_pipeline_age_seconds_count{kms=\"demo\"}",
            DEADLINE,
            |n| n == 9.0,
        )
        .await;
    compare_golden("demo.prom", &mask_volatile(&text));
    stack.shutdown().await;
}

#[tokio::test]
async fn kms_absent_at_start_then_appearing() {
    // Reserve a free port, then leave it closed: KMS is "down".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ws://127.0.0.1:{port}/kurento");
    let exporter = Exporter::start(test_config(&[("late", url)]))
        .await
        .unwrap();
    let addr = exporter.local_addr();
    let text = wait_for_sample(
        addr,
        "kurento_exporter_poll_errors_total{kms=\"late\",reason=\"connect\"}",
        DEADLINE,
        |n| n >= 1.0,
    )
    .await;
    assert_eq!(sample(&text, "kurento_up{kms=\"late\"}"), Some(0.0));
    assert_eq!(
        sample(&text, "kurento_pipelines{kms=\"late\"}"),
        None,
        "no data while down"
    );
    let ready = get(addr, "/-/ready", &[]).await;
    assert_eq!(
        ready.status, 200,
        "a finished (failed) first cycle makes the exporter ready"
    );

    let sim = Simulator::start(SimOptions {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        scenario: steady_demo(),
    })
    .await
    .unwrap();
    let text = wait_for_sample(addr, "kurento_up{kms=\"late\"}", DEADLINE, |v| v == 1.0).await;
    assert_eq!(sample(&text, "kurento_pipelines{kms=\"late\"}"), Some(9.0));
    assert_eq!(
        sample(&text, "kurento_server_restarts_total{kms=\"late\"}"),
        Some(0.0)
    );
    exporter.shutdown().await;
    sim.shutdown().await;
}

#[tokio::test]
async fn kms_restart_is_counted_and_the_inventory_rebuilt() {
    let stack = Stack::start(steady_demo(), |_| {}).await;
    stack
        .wait_for_sample("kurento_up{kms=\"kms\"}", DEADLINE, |v| v == 1.0)
        .await;
    let before = stack.sim.server_id();
    stack.sim.restart().await;
    assert_ne!(stack.sim.server_id(), before);
    let text = stack
        .wait_for_sample(
            "kurento_server_restarts_total{kms=\"kms\"}",
            DEADLINE,
            |v| v == 1.0,
        )
        .await;
    let text = if sample(&text, "kurento_up{kms=\"kms\"}") == Some(1.0) {
        text
    } else {
        stack
            .wait_for_sample("kurento_up{kms=\"kms\"}", DEADLINE, |v| v == 1.0)
            .await
    };
    assert_eq!(sample(&text, "kurento_pipelines{kms=\"kms\"}"), Some(9.0));
    stack.shutdown().await;
}

#[tokio::test]
async fn an_object_released_between_listing_and_reading_does_not_fail_the_cycle() {
    let sim = start_sim(steady_demo()).await;
    sim.inject(Fault::ReleaseBeforeInvoke {
        operation: "getChildren".to_owned(),
    });
    sim.inject(Fault::ReleaseBeforeInvoke {
        operation: "getCreationTime".to_owned(),
    });
    let config = test_config(&[("kms", sim.url())]);
    let stack = Stack::watch(sim, config).await;
    // Two pipelines vanish under the exporter's feet; the other seven are fully reported.
    let text = stack
        .wait_for_sample(
            "kurento_pipeline_age_seconds_count{kms=\"kms\"}",
            DEADLINE,
            |n| n == 7.0,
        )
        .await;
    assert_eq!(sample(&text, "kurento_up{kms=\"kms\"}"), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "kurento_exporter_poll_errors_total{kms=\"kms\",reason=\"kms_error\"}"
        ),
        Some(0.0)
    );
    let text = stack
        .wait_for_sample("kurento_pipelines{kms=\"kms\"}", DEADLINE, |n| n == 7.0)
        .await;
    assert_eq!(
        sample(
            &text,
            "kurento_objects_destroyed_total{kms=\"kms\",element_type=\"MediaPipeline\"}"
        ),
        Some(2.0)
    );
    stack.shutdown().await;
}

/// Transparency (docs/architecture.md): an abandoned pipeline is collected by KMS's GC while the
/// exporter polls, and the exporter sends nothing that changes state.
#[tokio::test]
async fn the_exporter_keeps_nothing_alive_and_changes_nothing() {
    let gc_period = Duration::from_secs(1);
    let mut scenario = Scenario::default();
    scenario.timing.gc_period = gc_period;
    let sim = start_sim(scenario).await;

    // An application creates a pipeline with an endpoint...
    let (app, pipeline, session) = application_pipeline(&sim.url()).await;
    app.call("create", json!({"type": "WebRtcEndpoint", "constructorParams": {"mediaPipeline": pipeline}, "sessionId": session})).await.unwrap();

    // ...the exporter starts (its getPipelines makes "" an owner too) and reads everything...
    let config = test_config(&[("kms", sim.url())]);
    let interval = config.poll.interval;
    let stack = Stack::watch(sim, config).await;
    stack
        .wait_for_sample(
            "kurento_pipeline_age_seconds_count{kms=\"kms\"}",
            DEADLINE,
            |n| n == 1.0,
        )
        .await;
    stack
        .wait_for_sample(
            "kurento_elements{kms=\"kms\",element_type=\"WebRtcEndpoint\"}",
            DEADLINE,
            |n| n == 1.0,
        )
        .await;

    // ...and the application vanishes without releasing anything.
    app.close();
    let vanished = tokio::time::Instant::now();
    let bound = 2 * gc_period + interval;
    eventually(
        "the abandoned pipeline to be collected",
        bound + Duration::from_secs(2),
        async || !stack.sim.object_exists(&pipeline),
    )
    .await;
    let took = vanished.elapsed();
    assert!(
        took <= bound + Duration::from_millis(500),
        "collected after {took:?}, bound {bound:?}"
    );

    // Its series vanish from the exposition.
    let text = stack
        .wait_for_sample("kurento_pipelines{kms=\"kms\"}", DEADLINE, |n| n == 0.0)
        .await;
    assert_eq!(
        sample(
            &text,
            "kurento_elements{kms=\"kms\",element_type=\"WebRtcEndpoint\"}"
        ),
        None
    );

    // The application was connection 1; everything else is the exporter's.
    let log = stack.sim.request_log();
    let exporter_requests: Vec<_> = log.iter().filter(|r| r.connection != 1).collect();
    assert!(
        exporter_requests
            .iter()
            .any(|r| r.method == "closeSession" && !r.release),
        "the exporter drops its references every cycle"
    );
    let changing: Vec<_> = exporter_requests
        .iter()
        .filter(|r| r.changes_state())
        .collect();
    assert!(
        changing.is_empty(),
        "state-changing requests from the exporter: {changing:?}"
    );
    let get_pipelines = exporter_requests
        .iter()
        .filter(|r| r.operation.as_deref() == Some("getPipelines"))
        .count();
    assert_eq!(get_pipelines, 1, "getPipelines only at connect");
    stack.shutdown().await;
}

/// Reliability: `/metrics` holds under 100 concurrent scrapes (every one answered in full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_scrapes_are_all_answered() {
    let stack = Stack::start(steady_demo(), |_| {}).await;
    stack
        .wait_for_sample("kurento_up{kms=\"kms\"}", DEADLINE, |v| v == 1.0)
        .await;
    let addr = stack.addr;
    let scrapes: Vec<_> = (0..100)
        .map(|i| {
            tokio::spawn(async move {
                // Half text, half OpenMetrics, some gzipped: every cache path at once.
                let mut headers = Vec::new();
                if i % 2 == 0 {
                    headers.push(("Accept", "application/openmetrics-text;version=1.0.0"));
                }
                if i % 4 == 1 {
                    headers.push(("Accept-Encoding", "gzip"));
                }
                let resp = get(addr, "/metrics", &headers).await;
                (
                    i,
                    resp.status,
                    resp.body.len(),
                    resp.header("content-encoding").map(str::to_owned),
                )
            })
        })
        .collect();
    for scrape in scrapes {
        let (i, status, len, encoding) = scrape.await.unwrap();
        assert_eq!(status, 200, "scrape {i}");
        assert!(len > 1000, "scrape {i} got {len} bytes");
        assert_eq!(encoding.is_some(), i % 4 == 1, "scrape {i}");
    }
    stack.shutdown().await;
}
