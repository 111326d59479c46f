//! Application-created endpoints with real UDP peers, watched by the exporter: a one-to-many
//! broadcast (1 presenter, 5 viewers) reports 1 publisher and 5 subscribers per media; a viewer
//! whose browser goes silent while the application keeps its objects becomes a zombie element,
//! the whole pipeline once the presenter goes silent too; a healthy loopback call is never
//! flagged; releasing leaves nothing behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::app::{Browser, KmsApp, UdpPeer};
use common::*;
use kurento_exporter::sim::Scenario;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

/// Short consent so silence shows within seconds (KMS/libnice: about 30 s).
const SCENARIO: &str = "[peers]\nconsent_timeout = \"3s\"\n";

async fn zombies(addr: SocketAddr) -> Value {
    let resp = get(addr, "/api/v1/targets/kms/zombies", &[]).await;
    assert_eq!(resp.status, 200);
    serde_json::from_slice(&resp.body).unwrap()
}

/// `(id, reason)` of every zombie in the report's `pipelines` or `elements` list.
fn zombie_ids(report: &Value, list: &str) -> Vec<(String, String)> {
    let field = |z: &Value, key: &str| z[key].as_str().unwrap().to_owned();
    report[list]
        .as_array()
        .map(|zs| {
            zs.iter()
                .map(|z| (field(z, "id"), field(z, "reason")))
                .collect()
        })
        .unwrap_or_default()
}

fn zombie_element_ids(report: &Value) -> Vec<(String, String)> {
    zombie_ids(report, "elements")
}

fn zombie_pipeline_ids(report: &Value) -> Vec<(String, String)> {
    zombie_ids(report, "pipelines")
}

#[tokio::test]
async fn one_to_many_publishers_subscribers_and_the_leaks_of_silent_peers() {
    let stack = Stack::start(Scenario::from_toml_str(SCENARIO).unwrap(), |config| {
        config.zombie.idle_after = Duration::from_secs(2);
    })
    .await;
    let addr = stack.addr;
    let mut app = KmsApp::connect(&stack.sim.url()).await;

    // The one2many tutorial: the presenter's endpoint feeds every viewer's.
    let broadcast = app.create("MediaPipeline", json!({})).await;
    let presenter = app
        .create("WebRtcEndpoint", json!({"mediaPipeline": broadcast}))
        .await;
    let mut presenter_peer = UdpPeer::bind().await;
    let target = app
        .negotiate(&presenter, "sendonly", presenter_peer.addr)
        .await;
    presenter_peer.start(target, Browser::Publisher);
    let mut viewers = Vec::new();
    for _ in 0..5 {
        let viewer = app
            .create("WebRtcEndpoint", json!({"mediaPipeline": broadcast}))
            .await;
        app.invoke(&presenter, "connect", json!({"sink": viewer}))
            .await;
        let mut peer = UdpPeer::bind().await;
        let target = app.negotiate(&viewer, "recvonly", peer.addr).await;
        peer.start(target, Browser::Subscriber);
        viewers.push((viewer, peer));
    }
    // The presenter publishes (its endpoint flows out), the 5 viewers subscribe (flow in).
    let counts = |publishers: f64, subscribers: f64| {
        move |text: &str| {
            ["audio", "video"].iter().all(|m| {
                let series = |family: &str| format!("{family}{{kms=\"kms\",media=\"{m}\"}}");
                sample(text, &series("kurento_webrtc_endpoints_sending")) == Some(publishers)
                    && sample(text, &series("kurento_webrtc_endpoints_receiving"))
                        == Some(subscribers)
            })
        }
    };
    let broadcast_only = counts(1.0, 5.0);
    eventually(
        "1 publisher and 5 subscribers per media",
        DEADLINE,
        async || broadcast_only(&scrape(addr).await),
    )
    .await;

    // The hello-world tutorial next to it: one endpoint in loopback, a sendrecv browser.
    let hello = app.create("MediaPipeline", json!({})).await;
    let mirror = app
        .create("WebRtcEndpoint", json!({"mediaPipeline": hello}))
        .await;
    app.invoke(&mirror, "connect", json!({"sink": mirror}))
        .await;
    let mut mirror_peer = UdpPeer::bind().await;
    let target = app.negotiate(&mirror, "sendrecv", mirror_peer.addr).await;
    mirror_peer.start(target, Browser::Publisher);

    // Publishers flow out (the presenter and the mirror), subscribers flow in (5 viewers and
    // the mirror), per media.
    let healthy = counts(2.0, 6.0);
    let text = eventually(
        "2 publishers and 6 subscribers per media",
        DEADLINE,
        async || {
            let text = scrape(addr).await;
            healthy(&text).then_some(text)
        },
    )
    .await;
    assert_eq!(
        sample(
            &text,
            "kurento_webrtc_endpoints_ice_state{kms=\"kms\",state=\"ready\"}"
        ),
        Some(7.0),
        "{text}"
    );
    // The viewers' browsers get what the presenter sends; the mirror gets its own media back.
    eventually(
        "media sent back to every subscriber",
        DEADLINE,
        async || {
            let received = |peer: &UdpPeer| peer.received.load(Ordering::SeqCst);
            let counts: Vec<u64> = viewers
                .iter()
                .map(|(_, p)| received(p))
                .chain([received(&mirror_peer)])
                .collect();
            if counts.iter().all(|n| *n > 10) {
                Ok(())
            } else {
                Err(format!("datagrams received by viewers, mirror: {counts:?}"))
            }
        },
    )
    .await;
    assert!(
        zombie_element_ids(&zombies(addr).await).is_empty(),
        "nothing is a zombie while every peer is there"
    );

    // One viewer's browser leaves; the application keeps its endpoint.
    viewers[0].1.silence();
    let gone = viewers[0].0.clone();
    let report = eventually(
        "the silent viewer's endpoint to be a zombie",
        DEADLINE,
        async || {
            let report = zombies(addr).await;
            zombie_element_ids(&report)
                .iter()
                .any(|(id, _)| *id == gone)
                .then_some(report)
        },
    )
    .await;
    let elements = zombie_element_ids(&report);
    assert_eq!(elements.len(), 1, "only the silent viewer: {report}");
    assert!(
        ["ice_failed", "disconnected"].contains(&elements[0].1.as_str()),
        "{report}"
    );
    assert!(
        zombie_pipeline_ids(&report).is_empty(),
        "the broadcast still runs: {report}"
    );

    // The presenter leaves too: nothing flows any more, the pipeline is a zombie.
    presenter_peer.silence();
    let report = eventually(
        "the broadcast pipeline to be a zombie",
        DEADLINE,
        async || {
            let report = zombies(addr).await;
            zombie_pipeline_ids(&report)
                .iter()
                .any(|(id, _)| *id == broadcast)
                .then_some(report)
        },
    )
    .await;
    let pipelines = zombie_pipeline_ids(&report);
    assert_eq!(
        pipelines.len(),
        1,
        "the hello-world call is healthy: {report}"
    );
    assert!(
        !zombie_element_ids(&report)
            .iter()
            .any(|(id, _)| *id == mirror),
        "the mirror is healthy: {report}"
    );
    let text = scrape(addr).await;
    for m in ["audio", "video"] {
        assert_eq!(
            sample(
                &text,
                &format!("kurento_webrtc_endpoints_sending{{kms=\"kms\",media=\"{m}\"}}")
            ),
            Some(1.0),
            "only the mirror publishes: {text}"
        );
    }

    // The application cleans up: nothing is left, on KMS or in the exporter.
    app.release(&broadcast).await;
    app.release(&hello).await;
    assert!(
        stack.sim.object_ids().is_empty(),
        "{:?}",
        stack.sim.object_ids()
    );
    eventually(
        "the released objects to vanish from the exporter",
        DEADLINE,
        async || {
            let text = scrape(addr).await;
            let report = zombies(addr).await;
            (sample(&text, "kurento_pipelines{kms=\"kms\"}") == Some(0.0)
                && zombie_pipeline_ids(&report).is_empty()
                && zombie_element_ids(&report).is_empty())
            .then_some(())
        },
    )
    .await;
    stack.shutdown().await;
}
