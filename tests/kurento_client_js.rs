#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The real `kurento-client` npm library, 7.3.0 and 6.18.0, drives an application session against
//! the simulator (tests/node/app_session.js): each client against the KMS generation it was made
//! for, so the 6.18 client listens to the legacy 6.x event names. Needs
//! `npm ci --ignore-scripts --prefix tests/node`.

mod common;

use common::node::run_script;
use common::start_sim;
use kurento_exporter::sim::Scenario;

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
    let sim = start_sim(Scenario::from_toml_str(&scenario(dialect)).unwrap()).await;
    let stdout = run_script("app_session.js", &sim.url(), client, dialect).await;
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
