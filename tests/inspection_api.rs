//! The inspection API (`/api/v1/targets/{kms}/pipelines…`, `/streams/worst`) end to end: golden
//! JSON of the demo, 404s and percent-encoded ids, and the promise that looking costs KMS nothing
//! (views are answered from the last cycle's snapshot, never by reading KMS).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use kurento_exporter::sim::Scenario;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(20);

/// Fields whose values change from run to run (times and ages).
const VOLATILE: &[&str] = &[
    "as_of_unix_seconds",
    "created_unix_seconds",
    "age_seconds",
    "since_unix_seconds",
];

/// `value` with every volatile field replaced by `"<masked>"`.
fn masked(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if VOLATILE.contains(&key.as_str()) && !v.is_null() {
                        *v = Value::from("<masked>");
                    } else {
                        walk(v);
                    }
                }
            }
            Value::Array(list) => list.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

async fn json(stack: &Stack, path: &str) -> Value {
    let resp = stack.get(path).await;
    assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    serde_json::from_slice(&resp.body).unwrap()
}

/// The demo without churn, media frozen, polled once (a one-hour interval): every run sees the
/// same KMS, and nothing polls KMS while the test looks.
async fn frozen_demo() -> Stack {
    let mut scenario = Scenario::demo();
    scenario.churn = None;
    let sim = start_sim(scenario).await;
    sim.freeze_media_at_start();
    let mut config = test_config(&[("demo", sim.url())]);
    config.poll.interval = Duration::from_secs(3600);
    let stack = Stack::watch(sim, config).await;
    // The first cycle reads every pipeline's creation time.
    eventually(
        "the first cycle with every pipeline's metadata",
        DEADLINE,
        async || {
            let list = json(&stack, "/api/v1/targets/demo/pipelines").await;
            let pipelines = list["pipelines"].as_array()?.clone();
            let complete = pipelines.len() == 9
                && pipelines
                    .iter()
                    .all(|p| !p["created_unix_seconds"].is_null())
                && pipelines.iter().all(|p| !p["flowing"].is_null());
            complete.then_some(())
        },
    )
    .await;
    stack
}

fn pipeline_ids(list: &Value) -> Vec<String> {
    list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect()
}

fn encoded(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn golden_pipelines_and_graphs_of_the_demo() {
    let stack = frozen_demo().await;
    let list = json(&stack, "/api/v1/targets/demo/pipelines").await;
    let mut golden = serde_json::json!({"pipelines": masked(list.clone())});
    for id in pipeline_ids(&list) {
        let graph = json(
            &stack,
            &format!("/api/v1/targets/demo/pipelines/{}", encoded(&id)),
        )
        .await;
        assert_eq!(graph["pipeline"]["id"], id.as_str());
        golden[id.as_str()] = masked(graph);
    }
    golden["worst_streams"] = masked(json(&stack, "/api/v1/targets/demo/streams/worst").await);
    let text = serde_json::to_string_pretty(&golden).unwrap() + "\n";
    compare_golden("demo-inspection.json", &text);
    stack.shutdown().await;
}

#[tokio::test]
async fn the_graph_holds_what_kms_holds() {
    let stack = frozen_demo().await;
    let list = json(&stack, "/api/v1/targets/demo/pipelines").await;
    let ids = pipeline_ids(&list);
    let mut connections = 0;
    for id in &ids {
        let graph = json(
            &stack,
            &format!("/api/v1/targets/demo/pipelines/{}", encoded(id)),
        )
        .await;
        let elements = graph["elements"].as_array().unwrap();
        let summary = list["pipelines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id.as_str());
        assert_eq!(
            elements.len() as u64,
            summary.unwrap()["elements"].as_u64().unwrap(),
            "every object of {id} is a node"
        );
        for link in graph["connections"].as_array().unwrap() {
            let has = |key: &str| elements.iter().any(|e| e["id"] == link[key]);
            assert!(
                has("source") && has("sink"),
                "{link} joins two nodes of {id}"
            );
            connections += 1;
        }
    }
    // KMS's own count: every object's sink connections, as the simulator holds them.
    assert!(connections > 0);
    let worst = json(&stack, "/api/v1/targets/demo/streams/worst").await;
    let streams = worst["streams"].as_array().unwrap();
    assert!(!streams.is_empty() && streams.len() <= 20);
    let mos: Vec<f64> = streams.iter().map(|s| s["mos"].as_f64().unwrap()).collect();
    assert!(
        mos.windows(2).all(|w| w[0] <= w[1]),
        "lowest first: {mos:?}"
    );
    assert!(ids.iter().any(|id| streams[0]["pipeline"] == id.as_str()));
    stack.shutdown().await;
}

#[tokio::test]
async fn unknown_things_are_404_and_ids_may_be_percent_encoded() {
    let stack = frozen_demo().await;
    let list = json(&stack, "/api/v1/targets/demo/pipelines").await;
    let id = pipeline_ids(&list).remove(0);
    for path in [
        "/api/v1/targets/nope/pipelines".to_owned(),
        "/api/v1/targets/demo/pipelines/nope".to_owned(),
        format!("/api/v1/targets/demo/pipelines/{id}/extra"),
        "/api/v1/targets/demo/streams/best".to_owned(),
    ] {
        assert_eq!(stack.get(&path).await.status, 404, "{path}");
    }
    let plain = json(&stack, &format!("/api/v1/targets/demo/pipelines/{id}")).await;
    let encoded = json(
        &stack,
        &format!("/api/v1/targets/demo/pipelines/{}", encoded(&id)),
    )
    .await;
    assert_eq!(plain, encoded);
    stack.shutdown().await;
}

/// 100 page loads' worth of API views between two cycles: KMS sees no request at all.
#[tokio::test]
async fn looking_costs_kms_nothing() {
    let stack = frozen_demo().await;
    let kms_requests = || {
        stack
            .sim
            .request_log()
            .into_iter()
            .filter(|r| r.method != "ping")
            .count()
    };
    let before = kms_requests();
    let list = json(&stack, "/api/v1/targets/demo/pipelines").await;
    let ids = pipeline_ids(&list);
    for _ in 0..100 {
        json(&stack, "/api/v1/targets").await;
        json(&stack, "/api/v1/targets/demo/pipelines").await;
        json(&stack, "/api/v1/targets/demo/streams/worst").await;
        json(&stack, "/api/v1/targets/demo/zombies").await;
        for id in &ids {
            json(
                &stack,
                &format!("/api/v1/targets/demo/pipelines/{}", encoded(id)),
            )
            .await;
        }
    }
    assert_eq!(kms_requests(), before, "API views read KMS");
    stack.shutdown().await;
}

/// In the zombie scenario the pipeline list and the graphs mark exactly the zombies that
/// `/zombies` reports, with the same reasons.
#[tokio::test]
async fn pipelines_and_graphs_mark_the_zombies() {
    let scenario = Scenario::from_file(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/zombies.toml"),
    )
    .unwrap();
    let stack = Stack::start(scenario, |config| {
        config.zombie.idle_after = Duration::from_secs(2);
    })
    .await;
    let want = [
        "forgotten-call",
        "never-connected",
        "ice-failed",
        "idle-recorder",
        "empty",
    ];
    // One snapshot's views: the list, the zombies and the graphs are read between two cycles
    // (each answers from the snapshot it sees; compare only answers with the same timestamp).
    let (list, zombies) = eventually("every kind of leak in one snapshot", DEADLINE, async || {
        let list = json(&stack, "/api/v1/targets/kms/pipelines").await;
        let zombies = json(&stack, "/api/v1/targets/kms/zombies").await;
        let same = list["as_of_unix_seconds"] == zombies["as_of_unix_seconds"];
        let names: Vec<&str> = zombies["pipelines"]
            .as_array()?
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        (same && want.iter().all(|w| names.contains(w))).then_some((list.clone(), zombies.clone()))
    })
    .await;
    let reported: std::collections::BTreeMap<String, String> = zombies["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let marked: std::collections::BTreeMap<String, String> = list["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| !p["zombie"].is_null())
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p["zombie"]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(marked, reported);
    // Element verdicts appear on the graph of their pipeline (read from one snapshot).
    let (element, node) = eventually(
        "an element verdict and its graph in one snapshot",
        DEADLINE,
        async || {
            let zombies = json(&stack, "/api/v1/targets/kms/zombies").await;
            let element = zombies["elements"].as_array()?.first()?.clone();
            let pipeline = element["pipeline"].as_str()?.to_owned();
            let graph = json(
                &stack,
                &format!("/api/v1/targets/kms/pipelines/{}", encoded(&pipeline)),
            )
            .await;
            if graph["as_of_unix_seconds"] != zombies["as_of_unix_seconds"] {
                return None;
            }
            let node = graph["elements"]
                .as_array()?
                .iter()
                .find(|e| e["id"] == element["id"])?
                .clone();
            Some((element, node))
        },
    )
    .await;
    assert_eq!(node["zombie"]["reason"], element["reason"]);
    stack.shutdown().await;
}
