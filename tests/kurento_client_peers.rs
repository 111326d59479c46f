#![allow(clippy::unwrap_used, clippy::expect_used)]
//! A scripted browser with a real UDP media peer (tests/node/peer_session.js) drives one
//! application session through the real `kurento-client`, 7.3.0 and 6.18.0, against the
//! simulator on either KMS dialect: negotiation with a loopback host candidate, RTP sent to it and
//! looped back by the endpoint, stats counting exactly what was sent, and the endpoint noticing
//! the silence afterwards. Needs `npm ci --ignore-scripts --prefix tests/node`.

mod common;

use common::node::run_script;
use common::start_sim;
use kurento_exporter::sim::Scenario;
use serde_json::Value;

/// A KMS of `dialect` whose WebRtcEndpoints get their media from real peers: no dynamic profile,
/// so nothing flows until packets arrive, and ICE consent expires 6 s after the peer goes quiet.
fn scenario(dialect: &str) -> String {
    let version = if dialect == "6" { "6.18.0" } else { "7.3.0" };
    format!(
        r#"
[server]
dialect = "{dialect}"
version = "{version}"

[timing]
seed = 23

[peers]
consent_timeout = "6s"
"#
    )
}

#[tokio::test]
async fn client_7_peer_session_on_a_7_server() {
    peer_session("7", "7").await;
}

#[tokio::test]
async fn client_7_peer_session_on_a_6_server() {
    peer_session("7", "6").await;
}

#[tokio::test]
async fn client_6_peer_session_on_a_6_server() {
    peer_session("6", "6").await;
}

#[tokio::test]
async fn client_6_peer_session_on_a_7_server() {
    peer_session("6", "7").await;
}

/// Runs peer_session.js with kurento-client `client` ("6" or "7") against a simulated KMS of
/// `dialect` and checks its summary.
async fn peer_session(client: &str, dialect: &str) {
    let sim = start_sim(Scenario::from_toml_str(&scenario(dialect)).unwrap()).await;
    let stdout = run_script("peer_session.js", &sim.url(), client, dialect).await;
    assert!(stdout.contains("OK peer session"), "{stdout}");
    // kurento-client logs to stdout too: the summary is the last line that is a JSON object.
    let summary: Value = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("summary is JSON"))
        .expect("no JSON summary on stdout");
    let count = |pointer: &str| {
        summary
            .pointer(pointer)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("summary lacks {pointer}: {summary}"))
    };

    let version = if client == "6" { "6.18.0" } else { "7.3.0" };
    assert_eq!(summary["client"]["version"], version);
    assert_eq!(summary["dialect"], dialect);

    // Event names: legacy ones only where both sides speak them, and every kind delivered.
    let legacy = client == "6" && dialect == "6";
    let (flow_out, flow_in, ice, candidate, done) = if legacy {
        (
            "MediaFlowOutStateChange",
            "MediaFlowInStateChange",
            "OnIceComponentStateChanged",
            "OnIceCandidate",
            "OnIceGatheringDone",
        )
    } else {
        (
            "MediaFlowOutStateChanged",
            "MediaFlowInStateChanged",
            "IceComponentStateChanged",
            "IceCandidateFound",
            "IceGatheringDone",
        )
    };
    let subscribed: Vec<&str> = summary["subscribed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for name in [flow_out, flow_in, ice, candidate, done, "MediaStateChanged"] {
        assert!(subscribed.contains(&name), "{name} not in {subscribed:?}");
    }
    assert_eq!(
        subscribed.contains(&"NewCandidatePairSelected"),
        !legacy,
        "{subscribed:?}"
    );
    // FLOWING and NOT_FLOWING per media; ICE up then FAILED; CONNECTED then DISCONNECTED.
    assert!(count(&format!("/events/{flow_out}")) >= 4, "{summary}");
    assert!(count(&format!("/events/{flow_in}")) >= 1, "{summary}");
    assert!(count(&format!("/events/{ice}")) >= 2, "{summary}");
    assert!(count("/events/MediaStateChanged") >= 2, "{summary}");
    assert!(count(&format!("/events/{candidate}")) >= 1, "{summary}");
    assert!(count(&format!("/events/{done}")) >= 1, "{summary}");

    // The endpoint's loopback host candidate was the only address the peer used.
    let used = summary["candidates"]["used"].as_array().unwrap();
    assert!(!used.is_empty(), "{summary}");
    assert!(
        used.iter()
            .all(|c| c.as_str().unwrap().contains(" 127.0.0.1 ")),
        "{summary}"
    );

    // Media both ways, and getStats counting exactly what the peer sent, under its SSRCs.
    let (audio, video) = (count("/sent/audio"), count("/sent/video"));
    assert!(audio > 0 && video > 0, "{summary}");
    assert_eq!(count("/sent/errors"), 0);
    assert_eq!(count("/stats/audio/packetsReceived"), audio);
    assert_eq!(count("/stats/video/packetsReceived"), video);
    assert_eq!(
        summary["stats"]["audio"]["ssrc"],
        count("/ssrc/audio").to_string()
    );
    assert_eq!(
        summary["stats"]["video"]["ssrc"],
        count("/ssrc/video").to_string()
    );
    assert!(count("/received/fromEndpoint") > 0, "{summary}");
    assert_eq!(count("/received/fromElsewhere"), 0, "{summary}");

    // The application released its pipeline, the only one there was.
    assert!(
        !sim.object_ids()
            .iter()
            .any(|id| id.ends_with("_kurento.MediaPipeline")),
        "{:?}",
        sim.object_ids()
    );
    sim.shutdown().await;
}
