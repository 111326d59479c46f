//! Zombie detection end to end: every kind of leak in scenarios/zombies.toml is reported with
//! its reason, healthy and briefly pausing meetings never are, a leaking application's zombies
//! grow, and they vanish when the application finally releases them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use kurento_exporter::sim::Scenario;
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(30);
const NEVER: [&str; 2] = ["healthy-meeting", "pausing-meeting"];

fn scenario() -> Scenario {
    Scenario::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/zombies.toml"))
        .unwrap()
}

async fn zombies(addr: SocketAddr) -> Value {
    let resp = get(addr, "/api/v1/targets/kms/zombies", &[]).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    serde_json::from_slice(&resp.body).unwrap()
}

/// Zombie pipelines by name -> reason, failing at once if a never-zombie is listed.
fn by_name(report: &Value) -> BTreeMap<String, String> {
    let list = report["pipelines"].as_array().cloned().unwrap_or_default();
    let named: BTreeMap<String, String> = list
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for healthy in NEVER {
        assert!(!named.contains_key(healthy), "{healthy} flagged: {report}");
    }
    named
}

fn zombie_sum(text: &str) -> f64 {
    ["empty", "ice_failed", "disconnected", "no_media", "max_age"]
        .iter()
        .map(|r| {
            sample(
                text,
                &format!("kurento_zombie_pipelines{{kms=\"kms\",reason=\"{r}\"}}"),
            )
            .unwrap()
        })
        .sum()
}

#[tokio::test]
async fn every_leak_is_reported_healthy_meetings_never_and_released_zombies_vanish() {
    let stack = Stack::start(scenario(), |config| {
        config.zombie.idle_after = Duration::from_secs(2);
    })
    .await;
    let addr = stack.addr;

    let want = [
        ("forgotten-call", "disconnected"),
        ("never-connected", "ice_failed"),
        ("ice-failed", "ice_failed"),
        ("idle-recorder", "no_media"),
        ("empty", "empty"),
    ];
    // Each leak shows up with its reason; the healthy meetings are checked at every poll.
    let report = eventually("every kind of leak to be reported", DEADLINE, async || {
        let report = zombies(addr).await;
        let named = by_name(&report);
        if want
            .iter()
            .all(|(name, reason)| named.get(*name).map(String::as_str) == Some(*reason))
        {
            Ok(report)
        } else {
            Err(format!("{named:?}"))
        }
    })
    .await;
    let recorder = report["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "idle-recorder")
        .unwrap();
    assert_eq!(recorder["elements"][0]["element_type"], "RecorderEndpoint");
    assert!(
        recorder["id"]
            .as_str()
            .unwrap()
            .ends_with("_kurento.MediaPipeline")
    );
    assert!(
        recorder["zombie_since"].as_f64().unwrap()
            <= report["as_of_unix_seconds"].as_f64().unwrap() - 2.0
    );

    // The leaking app's zombies grow, cycle after cycle, and only leaked calls are counted.
    let mut seen: Vec<f64> = Vec::new();
    let text = eventually("the zombies to grow", DEADLINE, async || {
        let text = scrape(addr).await;
        let total = zombie_sum(&text);
        if seen.last() != Some(&total) {
            seen.push(total);
        }
        let named = by_name(&zombies(addr).await);
        for name in named.keys().filter(|n| !want.iter().any(|(w, _)| w == n)) {
            assert!(name.starts_with("leak-"), "unexpected zombie {name}");
        }
        if seen.len() >= 4 {
            Ok(text)
        } else {
            Err(format!("zombie sums {seen:?}"))
        }
    })
    .await;
    assert!(
        seen.windows(2).all(|w| w[1] > w[0]),
        "zombies grew monotonically: {seen:?}"
    );
    assert!(sample(&text, "kurento_zombie_elements{kms=\"kms\",element_type=\"RecorderEndpoint\",reason=\"no_media\"}").is_some());

    // The application finally releases everything it leaked: zombies vanish from both.
    for id in stack.sim.object_ids() {
        if id.ends_with("_kurento.MediaPipeline") {
            stack.sim.release(&id);
        }
    }
    let report = eventually("zombies to vanish from the API", DEADLINE, async || {
        let report = zombies(addr).await;
        let list = report["pipelines"].as_array()?;
        // Churn keeps adding new leaks; none is old enough yet right after the release.
        list.is_empty().then_some(report)
    })
    .await;
    assert_eq!(report["elements"].as_array().unwrap().len(), 0);
    let text = stack.scrape().await;
    assert_eq!(zombie_sum(&text), 0.0);
    stack.shutdown().await;
}
