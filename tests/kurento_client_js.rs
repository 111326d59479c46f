#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `kurento-client` npm library, 7.3.0 and 6.18.0, drives an application session against
//! the simulator (tests/node/app_session.js): each client against the KMS generation it was made
//! for, so the 6.18 client listens to the legacy 6.x event names. Needs
//! `npm ci --ignore-scripts --prefix tests/node`.

use std::path::Path;
use std::time::Duration;

use kurento_exporter::sim::{Scenario, SimOptions, Simulator};

/// The scenario for a KMS of `dialect` ("6" or "7").
fn scenario(dialect: &str) -> String {
    let version = if dialect == "6" { "6.18.0" } else { "7.3.0" };
    format!(
        r#"
[server]
dialect = "{dialect}"
version = "{version}"
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
name = "existing-{{n}}"
count = 2
elements = [{{ type = "WebRtcEndpoint", count = 2 }}]
mesh = true
"#
    )
}

#[tokio::test]
async fn real_kurento_client_7_completes_an_application_session() {
    app_session("7", "7").await;
}

#[tokio::test]
async fn real_kurento_client_6_completes_an_application_session_on_a_6_server() {
    app_session("6", "6").await;
}

/// Runs app_session.js with kurento-client `client` ("6" or "7") against a simulated KMS of
/// `dialect`.
async fn app_session(client: &str, dialect: &str) {
    let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let package = if client == "6" {
        "kurento-client-6"
    } else {
        "kurento-client"
    };
    assert!(
        node_dir.join("node_modules").join(package).is_dir(),
        "tests/node/node_modules/{package} is missing: run `npm ci --ignore-scripts --prefix tests/node` first"
    );
    let sim = Simulator::start(SimOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        scenario: Scenario::from_toml_str(&scenario(dialect)).unwrap(),
    })
    .await
    .unwrap();

    let run = tokio::process::Command::new("node")
        .arg(node_dir.join("app_session.js"))
        .arg(sim.url())
        .args(["--client", client, "--dialect", dialect])
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
    let version = if client == "6" { "6.18.0" } else { "7.3.0" };
    assert!(
        stdout.contains(&format!(
            "OK kurento-client session completed (kurento-client {version}, dialect {dialect}"
        )),
        "{stdout}"
    );
    // On a 6.x server the 6.18 client listened to the legacy candidate event and got the new
    // one too; elsewhere only the new name exists.
    let events = if client == "6" && dialect == "6" {
        "OnIceCandidate + IceCandidateFound"
    } else {
        "IceCandidateFound)"
    };
    assert!(stdout.contains(events), "{stdout}");

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
