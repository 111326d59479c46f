#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `kurento-client@7.3.0` npm library drives an application session against the
//! simulator (tests/node/app_session.js). Needs `npm ci --ignore-scripts --prefix tests/node`.

use std::path::Path;
use std::time::Duration;

use kurento_exporter::sim::{Scenario, SimOptions, Simulator};

const SCENARIO: &str = r#"
[server]
dynamic_profile = "live"

[timing]
seed = 11

[profiles.live]
flowing_in = true
flowing_out = true
ice = "relay"
loss = 0.01
jitter_ms = 4.0
rtt_ms = 60.0

[[pipelines]]
name = "existing-{n}"
count = 2
elements = [{ type = "WebRtcEndpoint", count = 2 }]
mesh = true
"#;

#[tokio::test]
async fn real_kurento_client_completes_an_application_session() {
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        node_dir.join("node_modules/kurento-client").is_dir(),
        "tests/node/node_modules is missing: run `npm ci --ignore-scripts --prefix tests/node` first"
    );
    let sim = Simulator::start(SimOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        scenario: Scenario::from_toml_str(SCENARIO).unwrap(),
    })
    .await
    .unwrap();

    let run = tokio::process::Command::new("node")
        .arg(node_dir.join("app_session.js"))
        .arg(sim.url())
        .current_dir(&node_dir)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("node did not finish within 60 s")
        .expect("cannot run `node` (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kurento-client session failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("OK kurento-client session completed"),
        "{stdout}"
    );

    // The session was served by the simulator: a create and a release were logged, and the
    // application's pipeline is gone while the scenario's two remain.
    let log = sim.request_log();
    assert!(log.iter().any(|r| r.method == "create"));
    assert!(log.iter().any(|r| r.method == "release"));
    let pipelines = sim
        .object_ids()
        .into_iter()
        .filter(|id| id.ends_with("_kurento.MediaPipeline"))
        .count();
    assert_eq!(pipelines, 2);
    sim.shutdown().await;
}
