//! SDP inspection (`/api/v1/targets/{kms}/elements/{id}/sdp`) against the simulated KMS: off by
//! default, the descriptions parsed with the ICE password redacted, one read per element per
//! interval in a session closed right after, and nothing that changes state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use kurento_exporter::kurento::Connection;
use kurento_exporter::sim::{LoggedRequest, Scenario};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(20);

/// What a browser offers: audio and video, with host, srflx and relay candidates on
/// documentation addresses (the simulator never sends to a candidate of an offer).
const BROWSER_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\n\
c=IN IP4 0.0.0.0\r\n\
a=candidate:842163049 1 udp 2122260223 192.0.2.10 54400 typ host generation 0\r\n\
a=candidate:1510613869 1 udp 1686052607 198.51.100.7 54400 typ srflx raddr 192.0.2.10 rport 54400 generation 0\r\n\
a=candidate:3463826402 1 udp 41885439 203.0.113.40 3478 typ relay raddr 198.51.100.7 rport 54400 generation 0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
a=setup:actpass\r\n\
a=mid:1\r\n\
a=sendonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:96 VP8/90000\r\n";

/// The simulator's KMS password (`src/sim/sdp.rs`).
const KMS_ICE_PWD: &str = "vW8nS3mQ1pR6tY2uX5zA0bC4";

/// The ids an application made: a negotiated WebRtcEndpoint, an RtpEndpoint not negotiated, a
/// PassThrough (no SDP at all).
struct App {
    _connection: Connection,
    webrtc: String,
    rtp: String,
    passthrough: String,
}

/// An application (connection 1 of the simulator) builds a pipeline and negotiates one endpoint.
async fn application(url: &str) -> App {
    let (app, pipeline, session) = application_pipeline(url).await;
    let mut ids = Vec::new();
    for kind in ["WebRtcEndpoint", "RtpEndpoint", "PassThrough"] {
        let made = app
            .call(
                "create",
                json!({"type": kind, "constructorParams": {"mediaPipeline": pipeline}, "sessionId": session}),
            )
            .await
            .unwrap();
        ids.push(made["value"].as_str().unwrap().to_owned());
    }
    let answer = app
        .call(
            "invoke",
            json!({"object": ids[0], "operation": "processOffer",
                   "operationParams": {"offer": BROWSER_OFFER}, "sessionId": session}),
        )
        .await
        .unwrap();
    assert!(answer["value"].as_str().unwrap().starts_with("v=0"));
    App {
        _connection: app,
        passthrough: ids.pop().unwrap(),
        rtp: ids.pop().unwrap(),
        webrtc: ids.pop().unwrap(),
    }
}

/// The SDP path of `element` on the target `kms` (already a path segment), the id
/// percent-encoded as a client must (it contains `/`).
fn sdp_path(kms: &str, element: &str) -> String {
    let encoded =
        percent_encoding::utf8_percent_encode(element, percent_encoding::NON_ALPHANUMERIC);
    format!("/api/v1/targets/{kms}/elements/{encoded}/sdp")
}

fn json_body(response: &HttpResponse) -> Value {
    assert_eq!(response.header("content-type"), Some("application/json"));
    serde_json::from_str(&response.text()).unwrap()
}

/// The exporter's requests (the application is connection 1).
fn exporter_requests(log: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    log.iter().filter(|r| r.connection != 1).collect()
}

fn count(log: &[LoggedRequest], operation: &str, object: &str) -> usize {
    log.iter()
        .filter(|r| {
            r.operation.as_deref() == Some(operation) && r.object.as_deref() == Some(object)
        })
        .count()
}

/// A started stack whose first cycle has listed the application's elements; one cycle a minute,
/// so every request below falls within one interval.
async fn stack(enabled: bool) -> (Stack, App) {
    let scenario = Scenario::from_toml_str("[peers]\nlocal_candidates = \"relay\"\n").unwrap();
    let sim = start_sim(scenario).await;
    let app = application(&sim.url()).await;
    let mut config = test_config(&[(KMS, sim.url())]);
    config.poll.interval = Duration::from_secs(60);
    config.web.inspection.sdp = enabled;
    let stack = Stack::watch(sim, config).await;
    stack
        .wait_for_sample(
            "kurento_elements{kms=\"kms\",element_type=\"WebRtcEndpoint\"}",
            DEADLINE,
            |n| n == 1.0,
        )
        .await;
    (stack, app)
}

#[tokio::test]
async fn off_by_default_answers_403_and_reads_nothing() {
    let (stack, app) = stack(false).await;
    let response = stack.get(&sdp_path(KMS, &app.webrtc)).await;
    assert_eq!(response.status, 403);
    let body = json_body(&response);
    let message = body["error"].as_str().unwrap();
    assert!(
        message.contains("[web.inspection]") && message.contains("sdp = true"),
        "{message}"
    );
    // Disabled means disabled, whatever the target: nothing to learn from the answer.
    assert_eq!(stack.get(&sdp_path("nope", "x")).await.status, 403);
    let log = stack.sim.request_log();
    assert_eq!(count(&log, "getLocalSessionDescriptor", &app.webrtc), 0);
    stack.shutdown().await;
}

#[tokio::test]
async fn descriptions_are_parsed_redacted_and_read_once_per_interval() {
    let (stack, app) = stack(true).await;
    let path = sdp_path(KMS, &app.webrtc);
    let response = stack.get(&path).await;
    assert_eq!(response.status, 200, "{}", response.text());
    let body = json_body(&response);
    assert_eq!(body["element"], app.webrtc.as_str());
    assert_eq!(body["element_type"], "WebRtcEndpoint");
    assert_eq!(body["sdp_endpoint"], true);
    assert_eq!(body["negotiated"], true);

    // KMS's answer: its host candidate on loopback, then srflx and relay on documentation
    // addresses; it receives the audio the browser sends and sends the video it receives.
    let local = &body["local"]["parsed"];
    let audio = &local["media"][0];
    assert_eq!(audio["media"], "audio");
    assert_eq!(audio["protocol"], "UDP/TLS/RTP/SAVPF");
    assert_eq!(audio["direction"], "sendrecv");
    assert_eq!(local["media"][1]["direction"], "recvonly");
    let types: Vec<&str> = audio["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["host", "srflx", "relay"]);
    assert_eq!(audio["candidates"][0]["address"], "127.0.0.1");
    assert_eq!(audio["setup"], "active");
    assert_eq!(audio["ice_ufrag"], "Kq3Z");
    assert_eq!(audio["ice_pwd"], "<redacted>");
    assert_eq!(audio["fingerprint"]["hash"], "sha-256");
    assert_eq!(audio["codecs"][0]["name"], "opus");
    assert_eq!(audio["codecs"][0]["clock_rate"], 48_000);
    assert_eq!(audio["codecs"][0]["channels"], 2);

    // The browser's offer, as KMS kept it.
    let remote = &body["remote"]["parsed"];
    let candidates = remote["media"][0]["candidates"].as_array().unwrap();
    let seen: Vec<(&str, &str, u64)> = candidates
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap(),
                c["address"].as_str().unwrap(),
                c["port"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("host", "192.0.2.10", 54400),
            ("srflx", "198.51.100.7", 54400),
            ("relay", "203.0.113.40", 3478)
        ]
    );
    assert_eq!(candidates[2]["related_address"], "198.51.100.7");
    assert_eq!(candidates[0]["foundation"], "842163049");
    assert_eq!(candidates[0]["component"], 1);
    assert_eq!(candidates[0]["priority"], 2_122_260_223_u64);
    assert_eq!(remote["media"][1]["direction"], "sendonly");
    assert_eq!(remote["media"][0]["setup"], "actpass");
    assert_eq!(remote["media"][0]["ice_pwd"], "<redacted>");
    let text = response.text();
    for secret in [KMS_ICE_PWD, "bP+XJMM09aR8AiX1jdukzR6Y"] {
        assert!(!text.contains(secret), "a password leaked: {text}");
    }
    assert!(
        body["remote"]["raw"]
            .as_str()
            .unwrap()
            .contains("a=ice-pwd:<redacted>\r\n")
    );

    // Within the interval: the same reading, no new request to KMS.
    let log = stack.sim.request_log();
    let before = exporter_requests(&log).len();
    let again = json_body(&stack.get(&path).await);
    assert_eq!(again, body);
    let log = stack.sim.request_log();
    assert_eq!(count(&log, "getLocalSessionDescriptor", &app.webrtc), 1);
    assert_eq!(count(&log, "getRemoteSessionDescriptor", &app.webrtc), 1);
    let exporter = exporter_requests(&log);
    let new: Vec<_> = exporter[before..]
        .iter()
        .filter(|r| r.method != "ping")
        .collect();
    assert!(new.is_empty(), "requests for a cached reading: {new:?}");

    // Concurrent requests for an element not negotiated share one read; both sides null.
    let rtp_path = sdp_path(KMS, &app.rtp);
    let answers = futures_util::future::join_all((0..5).map(|_| stack.get(&rtp_path))).await;
    for answer in &answers {
        assert_eq!(answer.status, 200);
        let body = json_body(answer);
        assert_eq!(body["sdp_endpoint"], true);
        assert_eq!(body["negotiated"], false);
        assert_eq!(body["local"], Value::Null);
        assert_eq!(body["remote"], Value::Null);
    }
    let log = stack.sim.request_log();
    assert_eq!(count(&log, "getLocalSessionDescriptor", &app.rtp), 1);

    // An element without descriptions: nothing read.
    let body = json_body(&stack.get(&sdp_path(KMS, &app.passthrough)).await);
    assert_eq!(body["sdp_endpoint"], false);
    assert_eq!(body["local"], Value::Null);

    // Each read ran in a session of its own, on a socket of its own, closed right after
    // without releasing anything; nothing the exporter sent changes state.
    let log = stack.sim.request_log();
    let exporter = exporter_requests(&log);
    for read in exporter
        .iter()
        .filter(|r| r.operation.as_deref() == Some("getLocalSessionDescriptor"))
    {
        let session = read.session.clone().unwrap();
        let on_socket: Vec<&str> = exporter
            .iter()
            .filter(|r| r.connection == read.connection)
            .map(|r| r.method.as_str())
            .collect();
        assert_eq!(on_socket, ["connect", "invoke", "invoke", "closeSession"]);
        assert!(
            exporter.iter().any(|r| r.method == "closeSession"
                && !r.release
                && r.session.as_deref() == Some(session.as_str())),
            "session {session} closed"
        );
        let others = exporter
            .iter()
            .filter(|r| r.connection != read.connection && r.session.as_deref() == Some(&session))
            .count();
        assert_eq!(others, 0, "the read session is the read's alone");
    }
    let changing: Vec<_> = exporter.iter().filter(|r| r.changes_state()).collect();
    assert!(changing.is_empty(), "state-changing requests: {changing:?}");
    stack.shutdown().await;
}

#[tokio::test]
async fn unknown_targets_and_elements_are_404() {
    let (stack, app) = stack(true).await;
    let cases = [
        sdp_path("nope", &app.webrtc),
        sdp_path(KMS, "P_kurento.MediaPipeline/E_kurento.WebRtcEndpoint"),
        // Not percent-encoded: the `/` splits the id, so this is no SDP path at all.
        format!("/api/v1/targets/{KMS}/elements/{}/sdp", app.webrtc),
    ];
    for path in cases {
        let response = stack.get(&path).await;
        assert_eq!(response.status, 404, "{path}");
        assert!(json_body(&response)["error"].is_string());
    }
    // The percent-encoded target name too.
    let encoded_kms = sdp_path("k%6Ds", &app.webrtc);
    assert_eq!(stack.get(&encoded_kms).await.status, 200, "{encoded_kms}");
    let log = stack.sim.request_log();
    assert_eq!(count(&log, "getLocalSessionDescriptor", &app.webrtc), 1);
    stack.shutdown().await;
}

#[tokio::test]
async fn a_kms_that_is_down_is_503() {
    let sim = start_sim(Scenario::default()).await;
    // Nothing listens there.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/kurento", unused.local_addr().unwrap());
    drop(unused);
    let mut config = test_config(&[(KMS, url)]);
    config.web.inspection.sdp = true;
    let stack = Stack::watch(sim, config).await;
    let response = stack
        .get(&sdp_path(
            KMS,
            "P_kurento.MediaPipeline/E_kurento.WebRtcEndpoint",
        ))
        .await;
    assert_eq!(response.status, 503, "{}", response.text());
    assert!(json_body(&response)["error"].is_string());
    stack.shutdown().await;
}

/// The reads count in `kurento_exporter_kms_requests_total`: between cycles, with nothing else
/// in flight, the published count is exactly what the simulator received from the exporter.
#[tokio::test]
async fn reads_count_in_the_targets_requests() {
    let scenario = Scenario::default();
    let sim = start_sim(scenario).await;
    let app = application(&sim.url()).await;
    let mut config = test_config(&[(KMS, sim.url())]);
    config.poll.interval = Duration::from_secs(2);
    config.web.inspection.sdp = true;
    let stack = Stack::watch(sim, config).await;
    let store = stack.exporter.store().clone();
    let mut published = store.subscribe();
    // The count published at the end of the next cycle, and the frames the simulator had
    // received from the exporter by then (inner operations of a transaction are not frames).
    let next_cycle = async |published: &mut tokio::sync::watch::Receiver<u64>| {
        let before = store.snapshot(KMS).unwrap().exporter.cycles_finished;
        loop {
            published.changed().await.unwrap();
            let snapshot = store.snapshot(KMS).unwrap();
            if snapshot.exporter.cycles_finished > before && snapshot.up {
                let log = stack.sim.request_log();
                let frames = exporter_requests(&log)
                    .iter()
                    .filter(|r| !r.in_transaction)
                    .count() as u64;
                return (snapshot.exporter.kms_requests_total, frames);
            }
        }
    };
    let (counted, frames) = tokio::time::timeout(DEADLINE, next_cycle(&mut published))
        .await
        .unwrap();
    assert_eq!(counted, frames, "the count matches before any SDP read");
    let response = stack.get(&sdp_path(KMS, &app.webrtc)).await;
    assert_eq!(response.status, 200);
    let (counted_after, frames_after) = tokio::time::timeout(DEADLINE, next_cycle(&mut published))
        .await
        .unwrap();
    assert_eq!(
        counted_after, frames_after,
        "the SDP read's 4 requests are counted"
    );
    let log = stack.sim.request_log();
    assert_eq!(count(&log, "getLocalSessionDescriptor", &app.webrtc), 1);
    stack.shutdown().await;
}
