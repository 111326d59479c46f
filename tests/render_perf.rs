#![allow(clippy::unwrap_used, clippy::expect_used)]
//! How long `/metrics` takes to render on 10,000 WebRTC endpoints at aggregated and element detail,
//! measured in-process on the real exposition (no HTTP). Prints numbers, asserts only correctness;
//! run it in release mode: `cargo test --release --test render_perf -- --ignored --nocapture`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use kurento_exporter::Exporter;
use kurento_exporter::analysis::detail::DetailLevel;
use kurento_exporter::metrics::{BuildInfo, Exposition, ExpositionFormat, MetricsSource};
use kurento_exporter::sim::Scenario;

const RENDERS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run in release mode with --nocapture"]
async fn render_of_10k_endpoints() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/bench-10k.toml");
    let sim = common::start_sim(Scenario::from_file(&path).unwrap()).await;
    for detail in [DetailLevel::Aggregated, DetailLevel::Element] {
        measure(&sim.url(), detail).await;
    }
}

async fn measure(url: &str, detail: DetailLevel) {
    let mut config = common::test_config(&[("kms", url.to_owned())]);
    config.metrics.detail = detail;
    // One cycle is all the measurement needs: the snapshot then stays put.
    config.poll.interval = Duration::from_secs(3600);
    config.poll.timeout = Duration::from_secs(60);
    let exporter = Exporter::start(config).await.unwrap();
    let store = exporter.store().clone();
    common::eventually("the first cycle", Duration::from_secs(120), || {
        let store = store.clone();
        async move { store.ready().then_some(()) }
    })
    .await;
    for format in [ExpositionFormat::OpenMetrics, ExpositionFormat::Text] {
        // As in production: one exposition whose cache is invalidated by every published
        // snapshot, so each render is a full one into a buffer sized from the previous render.
        // The first (cold) render has no size to go by and is reported apart.
        let exposition = Exposition::new(
            store.clone(),
            BuildInfo {
                version: "perf".into(),
                revision: "perf".into(),
            },
        );
        let started = Instant::now();
        let cold = exposition.render(format);
        let cold_time = started.elapsed();
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..RENDERS {
            // The same snapshot again: a new store generation, nothing cached for it.
            let snapshot = store.snapshot("kms").unwrap();
            store.publish((*snapshot).clone());
            let started = Instant::now();
            let body = exposition.render(format);
            times.push(started.elapsed());
            size = body.len();
            assert_eq!(
                body.len(),
                cold.len(),
                "the same snapshot renders the same size"
            );
            let text = std::str::from_utf8(&body).unwrap();
            let labelled = text.contains(",element_type=\"WebRtcEndpoint\",");
            assert_eq!(labelled, detail == DetailLevel::Element);
            assert!(text.contains("kurento_rtp_jitter_seconds_count{kms=\"kms\",media=\"video\"}"));
        }
        times.sort();
        println!(
            "{detail:?} {format:?}: {size} bytes, median {:?} (min {:?}, max {:?}) over {RENDERS} renders after a publish; cold first render {cold_time:?}",
            times[RENDERS / 2],
            times[0],
            times[RENDERS - 1]
        );
    }
    exporter.shutdown().await;
}
