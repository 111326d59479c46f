#![allow(clippy::unwrap_used, clippy::expect_used)]
//! TEMPORARY: the new writer's output equals prometheus-client's, byte for byte.

mod common;

use std::path::Path;
use std::time::Duration;

use kurento_exporter::Exporter;
use kurento_exporter::config::DetailLevel;
use kurento_exporter::metrics::{
    BuildInfo, Exposition, ExpositionFormat, MetricsSource, legacy_render,
};
use kurento_exporter::sim::Scenario;

fn build() -> BuildInfo {
    BuildInfo {
        version: "1.2.3-\"q\"\\x\ny".into(),
        revision: "abc".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_writer_equals_prometheus_client() {
    let out = Path::new("/tmp/ref");
    std::fs::create_dir_all(out).unwrap();
    for scenario in ["demo", "kms7", "kms6", "zombies", "bench-1k"] {
        for (level, lname) in [
            (DetailLevel::Aggregated, "aggregated"),
            (DetailLevel::Pipeline, "pipeline"),
            (DetailLevel::Element, "element"),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios")
                .join(format!("{scenario}.toml"));
            let sim = common::start_sim(Scenario::from_file(&path).unwrap()).await;
            let mut config = common::test_config(&[("kms", sim.url())]);
            config.metrics.detail = level;
            config.zombie.idle_after = Duration::from_millis(500);
            config.poll.interval = Duration::from_secs(2);
            config.poll.timeout = Duration::from_millis(1900);
            let exporter = Exporter::start(config).await.unwrap();
            let store = exporter.store().clone();
            common::eventually("ready", Duration::from_secs(60), || {
                let store = store.clone();
                async move { (store.ready() && store.generation() > 3).then_some(()) }
            })
            .await;
            let mut compared = 0;
            while compared < 3 {
                let g = store.generation();
                let e = Exposition::new(store.clone(), build());
                let new_om = e.render(ExpositionFormat::OpenMetrics);
                let new_text = e.render(ExpositionFormat::Text);
                let old_om = legacy_render(store.clone(), build(), ExpositionFormat::OpenMetrics);
                let old_text = legacy_render(store.clone(), build(), ExpositionFormat::Text);
                if store.generation() != g {
                    continue;
                }
                let name = format!("{scenario}-{lname}");
                std::fs::write(out.join(format!("{name}.om")), &old_om).unwrap();
                std::fs::write(out.join(format!("{name}.txt")), &old_text).unwrap();
                assert!(new_om == old_om, "{name} OpenMetrics differs");
                assert!(new_text == old_text, "{name} text differs");
                compared += 1;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            println!("{scenario}-{lname}: ok");
            exporter.shutdown().await;
        }
    }
}
