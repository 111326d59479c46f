//! Scenario-level tests of the media world through the wire protocol: the shipped scenario
//! files, `rtp_totals` against what `getStats` reports, the media clock, media events, and the
//! service accounting of transactions.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::media_types::{RtpTotals, TotalsMap, empty_totals};
use super::rpc::serve_frame;
use super::scenario::Scenario;
use super::world::World;
use crate::kurento::protocol::{SERVER_MANAGER, object_type};

const T0: u64 = 1_700_000_000_000;

fn scenario_file(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::from_file(&path).unwrap()
}

fn call(w: &mut World, now_ms: u64, frame: Value) -> Value {
    let served = serve_frame(w, 1, &frame.to_string(), now_ms);
    serde_json::from_str(&served.reply.unwrap()).unwrap()
}

fn invoke(w: &mut World, now_ms: u64, object: &str, operation: &str, params: Value) -> Value {
    let frame = json!({"jsonrpc":"2.0","id":1,"method":"invoke",
        "params":{"object":object,"operation":operation,"operationParams":params}});
    let reply = call(w, now_ms, frame);
    assert!(
        reply.get("error").is_none(),
        "{operation} on {object}: {reply}"
    );
    reply["result"]["value"].clone()
}

fn ids_of(w: &World, type_name: &str) -> Vec<String> {
    w.object_ids()
        .into_iter()
        .filter(|id| object_type(id) == Some(type_name))
        .collect()
}

fn counts_by_type(w: &World) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for id in w.object_ids() {
        *counts
            .entry(object_type(&id).unwrap_or("?").to_owned())
            .or_insert(0) += 1;
    }
    counts
}

/// What a poller would add up from `getStats("AUDIO")` and `getStats("VIDEO")` of every RTP
/// endpoint.
fn totals_from_get_stats(w: &mut World, now_ms: u64) -> TotalsMap {
    let mut totals = empty_totals();
    let endpoints: Vec<String> = ["WebRtcEndpoint", "RtpEndpoint"]
        .iter()
        .flat_map(|t| ids_of(w, t))
        .collect();
    for id in endpoints {
        for media in ["AUDIO", "VIDEO"] {
            let stats = invoke(w, now_ms, &id, "getStats", json!({"mediaType": media}));
            for entry in stats.as_object().into_iter().flat_map(|m| m.values()) {
                let (direction, bytes, packets) = match entry["type"].as_str() {
                    Some("inboundrtp") => ("inbound", "bytesReceived", "packetsReceived"),
                    Some("outboundrtp") => ("outbound", "bytesSent", "packetsSent"),
                    _ => continue,
                };
                let key = (media.to_lowercase(), direction.to_owned());
                let sum: &mut RtpTotals = totals.get_mut(&key).unwrap();
                sum.bytes += entry[bytes].as_u64().unwrap();
                sum.packets += entry[packets].as_u64().unwrap();
                sum.packets_lost += entry["packetsLost"].as_i64().unwrap();
                sum.nacks += entry["nackCount"].as_u64().unwrap();
                sum.plis += entry["pliCount"].as_u64().unwrap();
                sum.firs += entry["firCount"].as_u64().unwrap();
            }
        }
    }
    totals
}

#[test]
fn shipped_scenarios_build_the_documented_worlds() {
    let small: BTreeMap<String, usize> = [
        ("Composite", 1),
        ("HubPort", 2),
        ("MediaPipeline", 4),
        ("PlayerEndpoint", 1),
        ("RecorderEndpoint", 1),
        ("WebRtcEndpoint", 7),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for name in ["kms7.toml", "kms6.toml"] {
        let w = World::new(&scenario_file(name), T0, 0);
        assert_eq!(counts_by_type(&w), small, "{name}");
    }
    let (seven, six) = (
        World::new(&scenario_file("kms7.toml"), T0, 0),
        World::new(&scenario_file("kms6.toml"), T0, 0),
    );
    assert_eq!(seven.object_ids(), six.object_ids(), "same seed, same ids");
    let bench = World::new(&scenario_file("bench-1k.toml"), T0, 0);
    let counts = counts_by_type(&bench);
    assert_eq!(counts["WebRtcEndpoint"], 1_000);
    assert_eq!(counts["MediaPipeline"], 250);
    assert_eq!(bench.scenario.timing.service_time.as_micros(), 50);
    assert!(!bench.scenario.server.log_requests);
    let demo = Scenario::demo();
    assert!(demo.profiles.values().any(|p| p.pause_every.is_some()));
    assert!(
        demo.profiles
            .values()
            .any(|p| p.ssrc_change_every.is_some())
    );
    assert!(
        demo.profiles
            .values()
            .any(|p| p.transcoding_toggle_every.is_some())
    );
}

#[test]
fn rtp_totals_equal_the_sums_of_get_stats() {
    for name in ["kms7.toml", "kms6.toml", "demo.toml"] {
        let mut w = World::new(&scenario_file(name), T0, 0);
        for at in [T0, T0 + 1_500, T0 + 61_000, T0 + 400_000] {
            w.advance(at);
            let want = w.rtp_totals(at);
            assert_eq!(totals_from_get_stats(&mut w, at), want, "{name} at {at}");
            if at > T0 + 60_000 {
                assert!(
                    want[&("video".into(), "outbound".into())].bytes > 0,
                    "{name}"
                );
            }
        }
    }
    let kms7 = World::new(&scenario_file("kms7.toml"), T0, 0);
    let inbound_audio = kms7.rtp_totals(T0)[&("audio".into(), "inbound".into())];
    assert!(
        inbound_audio.bytes > 0,
        "warmed up: counters non-zero at start"
    );
}

#[test]
fn a_frozen_media_clock_repeats_itself_and_advances_by_hand() {
    let mut w = World::new(&scenario_file("kms7.toml"), T0, 0);
    let endpoint = ids_of(&w, "WebRtcEndpoint")[0].clone();
    w.freeze_media(T0 + 1_000);
    let stats = |w: &mut World, at: u64| invoke(w, at, &endpoint, "getStats", json!({}));
    let first = stats(&mut w, T0 + 1_000);
    assert_eq!(
        stats(&mut w, T0 + 90_000),
        first,
        "frozen: identical answers"
    );
    assert_eq!(w.rtp_totals(T0 + 1_000), w.rtp_totals(T0 + 90_000));
    let before = w.rtp_totals(T0 + 90_000);
    w.advance_media(30_000, T0 + 90_000);
    let later = stats(&mut w, T0 + 90_000);
    assert_ne!(later, first);
    let timestamp =
        |v: &Value| v.as_object().unwrap().values().next().unwrap()["timestampMillis"].clone();
    assert_eq!(
        timestamp(&later),
        json!(T0 + 31_000),
        "media time moved by 30 s"
    );
    let after = w.rtp_totals(T0 + 90_000);
    let key = ("video".to_owned(), "inbound".to_owned());
    assert!(after[&key].bytes > before[&key].bytes);
    w.resume_media(T0 + 100_000);
    assert_eq!(
        w.media_now(T0 + 100_000),
        T0 + 31_000,
        "resumes where it stood"
    );
    assert_eq!(w.media_now(T0 + 101_000), T0 + 32_000);
}

/// Subscribes session "s" (bound to connection 1) to `events` of `object`.
fn subscribe(w: &mut World, object: &str, events: &[&str]) {
    w.bind(1, "s");
    for e in events {
        w.reference("s", object);
        w.subscribe("s", object, e);
    }
}

fn drained_events(w: &mut World) -> Vec<(String, Value)> {
    w.outbox
        .drain(..)
        .map(|(_, frame)| {
            let v: Value = serde_json::from_str(&frame).unwrap();
            let value = &v["params"]["value"];
            (
                value["type"].as_str().unwrap().to_owned(),
                value["data"].clone(),
            )
        })
        .collect()
}

#[test]
fn media_transitions_emit_events_to_subscribers() {
    let text = r#"
        [profiles.toggling]
        flowing_in = true
        flowing_out = true
        ice = "host"
        audio = false
        transcoding_toggle_every = "30s"
        pause_every = "100s"
        pause_for = "10s"
        [profiles.playing]
        flowing_out = true
        audio = false
        pause_every = "100s"
        pause_for = "10s"
        [[pipelines]]
        name = "p"
        elements = [{ type = "WebRtcEndpoint", profile = "toggling" }, { type = "PlayerEndpoint", profile = "playing" }]
    "#;
    let mut w = World::new(&Scenario::from_toml_str(text).unwrap(), T0, 0);
    let endpoint = ids_of(&w, "WebRtcEndpoint")[0].clone();
    let player = ids_of(&w, "PlayerEndpoint")[0].clone();
    subscribe(
        &mut w,
        &endpoint,
        &[
            "MediaTranscodingStateChanged",
            "MediaFlowInStateChanged",
            "MediaStateChanged",
        ],
    );
    subscribe(&mut w, &player, &["UriEndpointStateChanged"]);
    w.freeze_media(T0);
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut transcoding = invoke(
        &mut w,
        T0,
        &endpoint,
        "isMediaTranscoding",
        json!({"mediaType":"VIDEO"}),
    );
    for _ in 0..200 {
        w.advance_media(1_000, T0);
        for (event, data) in drained_events(&mut w) {
            let detail = data["state"]
                .as_str()
                .or(data["newState"].as_str())
                .unwrap()
                .to_owned();
            assert!(data["source"].as_str().is_some());
            if event == "MediaTranscodingStateChanged" {
                let now = invoke(
                    &mut w,
                    T0,
                    &endpoint,
                    "isMediaTranscoding",
                    json!({"mediaType":"VIDEO"}),
                );
                assert_ne!(now, transcoding, "the event reports a real flip");
                assert_eq!(now, json!(detail == "TRANSCODING"));
                transcoding = now;
            }
            seen.push((event, detail));
        }
    }
    let count = |event: &str, detail: &str| {
        seen.iter()
            .filter(|(e, d)| e == event && d == detail)
            .count()
    };
    assert!(
        count("MediaTranscodingStateChanged", "TRANSCODING") >= 3,
        "{seen:?}"
    );
    assert!(count("MediaTranscodingStateChanged", "NOT_TRANSCODING") >= 3);
    assert_eq!(
        count("MediaFlowInStateChanged", "NOT_FLOWING"),
        2,
        "two pauses in 200 s"
    );
    assert_eq!(count("MediaFlowInStateChanged", "FLOWING"), 2);
    assert_eq!(
        count("MediaStateChanged", "DISCONNECTED"),
        2,
        "5 s into each pause"
    );
    assert_eq!(count("MediaStateChanged", "CONNECTED"), 2);
    assert_eq!(count("UriEndpointStateChanged", "PAUSE"), 2);
    assert_eq!(count("UriEndpointStateChanged", "START"), 2);
}

#[test]
fn uri_endpoints_report_their_state_and_flow_only_when_started() {
    let text = r#"
        [profiles.stopped_player]
        flowing_out = true
        uri_state = "stop"
        [profiles.stopped_recorder]
        flowing_in = true
        uri_state = "stop"
        [[pipelines]]
        name = "p"
        elements = [
          { type = "PlayerEndpoint", profile = "stopped_player" },
          { type = "RecorderEndpoint", profile = "stopped_recorder" },
        ]
    "#;
    let mut w = World::new(&Scenario::from_toml_str(text).unwrap(), T0, 0);
    let recorder = ids_of(&w, "RecorderEndpoint")[0].clone();
    let flowing = |w: &mut World| {
        invoke(
            w,
            T0,
            &recorder,
            "isMediaFlowingIn",
            json!({"mediaType":"VIDEO"}),
        )
    };
    assert_eq!(invoke(&mut w, T0, &recorder, "getState", json!({})), "STOP");
    assert_eq!(flowing(&mut w), false);
    invoke(&mut w, T0, &recorder, "record", json!({}));
    assert_eq!(
        invoke(&mut w, T0, &recorder, "getState", json!({})),
        "START"
    );
    assert_eq!(flowing(&mut w), true);
    invoke(&mut w, T0, &recorder, "pause", json!({}));
    assert_eq!(
        invoke(&mut w, T0, &recorder, "getState", json!({})),
        "PAUSE"
    );
    assert_eq!(flowing(&mut w), false);
    // KMS names flows from the pipeline's side: a started player pushes media into the
    // pipeline (out), a recording recorder takes it from there (in); never the other way.
    let player = ids_of(&w, "PlayerEndpoint")[0].clone();
    invoke(&mut w, T0, &player, "play", json!({}));
    invoke(&mut w, T0, &recorder, "record", json!({}));
    let video = json!({"mediaType":"VIDEO"});
    let flows = [
        (&player, "isMediaFlowingOut", true),
        (&player, "isMediaFlowingIn", false),
        (&recorder, "isMediaFlowingIn", true),
        (&recorder, "isMediaFlowingOut", false),
    ];
    for (element, operation, expected) in flows {
        assert_eq!(
            invoke(&mut w, T0, element, operation, video.clone()),
            expected,
            "{element} {operation}"
        );
    }
}

#[test]
fn latency_entries_follow_the_pipeline_setting() {
    let mut w = World::new(&scenario_file("kms7.toml"), T0, 0);
    let player = ids_of(&w, "PlayerEndpoint")[0].clone();
    let stats = invoke(&mut w, T0, &player, "getStats", json!({}));
    assert_eq!(
        stats[&player]["type"], "element",
        "recording has latencyStats on"
    );
    let endpoint = ids_of(&w, "WebRtcEndpoint")[0].clone();
    let has_latency = |w: &mut World| {
        invoke(w, T0, &endpoint, "getStats", json!({}))
            .get(&endpoint)
            .is_some()
    };
    assert!(!has_latency(&mut w));
    let pipeline = w.get(&endpoint).unwrap().parent.clone().unwrap();
    invoke(
        &mut w,
        T0,
        &pipeline,
        "setLatencyStats",
        json!({"latencyStats": true}),
    );
    assert!(has_latency(&mut w), "an application turned it on");
}

#[test]
fn service_is_charged_per_operation() {
    let mut w = World::new(&scenario_file("kms7.toml"), T0, 0);
    let endpoint = ids_of(&w, "WebRtcEndpoint")[0].clone();
    let op = |i: u64, object: &str| {
        json!({"jsonrpc":"2.0","id":i,"method":"invoke",
            "params":{"object":object,"operation":"getStats","operationParams":{"mediaType":"AUDIO"}}})
    };
    let transaction = |ops: Vec<Value>| {
        json!({"jsonrpc":"2.0","id":9,"method":"transaction","params":{"operations":ops}})
            .to_string()
    };
    let cases = [
        (
            json!({"jsonrpc":"2.0","id":1,"method":"ping"}).to_string(),
            1,
        ),
        (op(1, &endpoint).to_string(), 1),
        (
            transaction(vec![op(0, &endpoint), op(1, &endpoint), op(2, &endpoint)]),
            3,
        ),
        (
            transaction(vec![
                op(0, &endpoint),
                op(1, "gone_kurento.WebRtcEndpoint"),
                op(2, &endpoint),
            ]),
            2,
        ),
        (transaction(vec![]), 1),
        (transaction(vec![op(5, &endpoint)]), 1),
        ("not json".to_owned(), 1),
    ];
    for (frame, operations) in cases {
        assert_eq!(
            serve_frame(&mut w, 1, &frame, T0).operations,
            operations,
            "{frame}"
        );
    }
    assert!(w.exists(SERVER_MANAGER));
}
