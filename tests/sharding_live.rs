//! Scaling out on Prometheus: two real Prometheus servers shard six simulated KMS between them
//! with `hashmod` over the exporter's `/probe`, using the shipped
//! deploy/prometheus/sharding/prometheus-shard.yml. Every KMS is scraped by exactly one server;
//! a KMS removed from the file_sd file loses its series without ever reporting `kurento_up 0`
//! (nothing for KurentoDown to fire on).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::prometheus::*;
use common::*;
use kurento_exporter::Exporter;

const KMS: usize = 6;
const DEADLINE: Duration = Duration::from_secs(60);

/// The `kms` names each server has `kurento_up == 1` for.
async fn up_by_server(servers: &[SocketAddr]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for server in servers {
        let result = query(*server, "kurento_up{job=\"kurento\"} == 1")
            .await
            .unwrap_or_default();
        let mut names: Vec<String> = result
            .iter()
            .filter_map(|r| r["metric"]["kms"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        out.push(names);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_prometheus_servers_share_the_fleet_through_probe() {
    let dir = tempfile::tempdir().unwrap();
    let mut sims = Vec::new();
    for _ in 0..KMS {
        sims.push(start_sim(steady_demo()).await);
    }
    let mut config = test_config(&[]);
    config.targets.clear();
    let exporter = Exporter::start(config).await.unwrap();
    let exporter_addr = exporter.local_addr();

    let targets_dir = dir.path().join("targets");
    std::fs::create_dir(&targets_dir).unwrap();
    let groups = |n: usize| -> String {
        let groups: Vec<String> = sims[..n]
            .iter()
            .enumerate()
            .map(|(i, sim)| {
                let address = sim
                    .url()
                    .trim_start_matches("ws://")
                    .trim_end_matches("/kurento")
                    .to_owned();
                format!(r#"{{"targets": ["{address}"], "labels": {{"kms": "kms-{i}"}}}}"#)
            })
            .collect();
        format!("[{}]", groups.join(","))
    };
    let file = targets_dir.join("kms.json");
    let write = |text: String| {
        let tmp = targets_dir.join("kms.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };
    write(groups(KMS));

    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy/prometheus/sharding/prometheus-shard.yml"),
    )
    .unwrap();
    let mut servers = Vec::new();
    let mut children = Vec::new();
    for shard in 0..2 {
        let text = shipped
            .replace("scrape_interval: 15s", "scrape_interval: 1s")
            .replace("evaluation_interval: 15s", "evaluation_interval: 1s")
            .replace("TARGETS_DIR", &targets_dir.display().to_string())
            .replace("modulus: N", "modulus: 2")
            .replace("regex: \"SHARD\"", &format!("regex: \"{shard}\""))
            .replace(
                "replacement: EXPORTER",
                &format!("replacement: {exporter_addr}"),
            );
        let shard_dir = dir.path().join(format!("prom-{shard}"));
        std::fs::create_dir(&shard_dir).unwrap();
        std::fs::write(shard_dir.join("prometheus.yml"), text).unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        children.push(spawn(
            "/usr/bin/prometheus",
            &[
                format!(
                    "--config.file={}",
                    shard_dir.join("prometheus.yml").display()
                ),
                format!("--storage.tsdb.path={}", shard_dir.join("tsdb").display()),
                format!("--web.listen-address={addr}"),
            ],
            &shard_dir.join("prometheus.log"),
        ));
        servers.push(addr);
    }
    let logs = || {
        (0..2)
            .map(|s| {
                std::fs::read_to_string(dir.path().join(format!("prom-{s}/prometheus.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    };

    // Every KMS up on exactly one server.
    let all: Vec<String> = (0..KMS).map(|i| format!("kms-{i}")).collect();
    let shared = poll_until(DEADLINE, async || {
        let by_server = up_by_server(&servers).await;
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for name in by_server.iter().flatten() {
            *count.entry(name.clone()).or_default() += 1;
        }
        let every_once = all.iter().all(|k| count.get(k) == Some(&1)) && count.len() == KMS;
        every_once
            .then_some(by_server)
            .ok_or(by_server_text(&count))
    })
    .await;
    let by_server = shared.unwrap_or_else(|e| {
        panic!(
            "{}\n{}",
            e.message("every KMS on exactly one server"),
            logs()
        )
    });
    let api = get(exporter_addr, "/api/v1/targets", &[]).await;
    let targets: serde_json::Value = serde_json::from_slice(&api.body).unwrap();
    assert!(
        targets
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["source"] == "probe"),
        "{targets}"
    );

    // kms-5 leaves the fleet: its series go (stale) and it never reads as down.
    write(groups(KMS - 1));
    let gone = poll_until(DEADLINE, async || {
        let mut left = 0;
        for server in &servers {
            left += query(*server, "kurento_up{kms=\"kms-5\"}")
                .await
                .map_or(1, |r| r.len());
        }
        (left == 0).then_some(()).ok_or(left)
    })
    .await;
    gone.unwrap_or_else(|e| panic!("{}\n{}", e.message("kms-5's series to go"), logs()));
    for server in &servers {
        let down = query(*server, "kurento_up == 0").await.unwrap();
        assert!(down.is_empty(), "a KMS read as down: {down:?}");
    }
    assert_eq!(by_server.len(), 2);
    drop(children);
    exporter.shutdown().await;
    for sim in sims {
        sim.shutdown().await;
    }
}

fn by_server_text(count: &BTreeMap<String, usize>) -> String {
    format!("servers per KMS: {count:?}")
}
