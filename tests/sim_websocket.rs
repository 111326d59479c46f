#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The simulated KMS driven over a real WebSocket with raw tokio-tungstenite.

mod common;

use std::time::Duration;

use common::{eventually, start_sim};
use futures_util::{SinkExt, StreamExt};
use kurento_exporter::kurento::protocol::{SERVER_MANAGER, codes};
use kurento_exporter::sim::{Fault, Scenario};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Generous upper bound for anything we wait on; never a timing assertion.
const DEADLINE: Duration = Duration::from_secs(10);

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Notifications received while waiting for replies, oldest first.
    events: Vec<Value>,
}

impl Client {
    async fn connect(url: &str) -> Client {
        let (ws, _) = connect_async(url).await.unwrap();
        Client {
            ws,
            next_id: 0,
            events: Vec::new(),
        }
    }

    async fn next_frame(&mut self) -> Option<String> {
        loop {
            let msg = tokio::time::timeout(DEADLINE, self.ws.next())
                .await
                .expect("no frame before the deadline");
            match msg {
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Sends a request and returns the raw text of its reply (events seen meanwhile are kept).
    async fn call_raw(&mut self, method: &str, params: Option<Value>) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = json!({"jsonrpc":"2.0","id":id,"method":method});
        if let Some(p) = params {
            req["params"] = p;
        }
        self.ws.send(Message::text(req.to_string())).await.unwrap();
        loop {
            let text = self.next_frame().await.expect("connection closed");
            let value: Value = serde_json::from_str(&text).unwrap();
            if value.get("method").is_some() {
                self.events.push(value);
            } else {
                assert_eq!(value["id"], id, "replies come in order on one connection");
                return text;
            }
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        serde_json::from_str(&self.call_raw(method, Some(params)).await).unwrap()
    }

    async fn ok(&mut self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params).await;
        assert!(reply.get("error").is_none(), "{method} failed: {reply}");
        reply["result"].clone()
    }

    async fn invoke(&mut self, object: &str, operation: &str, params: Value) -> Value {
        self.call(
            "invoke",
            json!({"object":object,"operation":operation,"operationParams":params}),
        )
        .await
    }

    async fn create(&mut self, type_name: &str, ctor: Value) -> String {
        let result = self
            .ok("create", json!({"type":type_name,"constructorParams":ctor}))
            .await;
        result["value"].as_str().unwrap().to_owned()
    }

    /// Waits for the next `onEvent` of `event_type`.
    async fn event(&mut self, event_type: &str) -> Value {
        loop {
            if let Some(i) = self
                .events
                .iter()
                .position(|e| e["params"]["value"]["type"] == event_type)
            {
                return self.events.remove(i);
            }
            let text = self.next_frame().await.expect("connection closed");
            self.events.push(serde_json::from_str(&text).unwrap());
        }
    }
}

fn fast_gc() -> Scenario {
    Scenario::from_toml_str("[timing]\ngc_period = \"200ms\"").unwrap()
}

#[tokio::test]
async fn kurento_client_style_bootstrap() {
    let sim = start_sim(Scenario::default()).await;
    let mut c = Client::connect(&sim.url()).await;
    let pong = c.call_raw("ping", Some(json!({"interval":5000}))).await;
    assert_eq!(
        pong,
        r#"{"id":0,"jsonrpc":"2.0","result":{"value":"pong"}}"#
    );

    let described = c.ok("describe", json!({"object": SERVER_MANAGER})).await;
    assert_eq!(described["type"], "ServerManager");
    assert_eq!(described["qualifiedType"], "kurento.ServerManager");
    let session = described["sessionId"].as_str().unwrap().to_owned();

    // Bound: the session is injected and echoed, even in ping.
    let pong = c.call_raw("ping", None).await;
    assert_eq!(
        pong,
        format!(
            r#"{{"id":2,"jsonrpc":"2.0","result":{{"sessionId":"{session}","value":"pong"}}}}"#
        )
    );
    let info = c.invoke(SERVER_MANAGER, "getInfo", json!({})).await;
    let modules: Vec<&str> = info["result"]["value"]["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(modules, ["core", "elements", "filters"]);
    assert_eq!(info["result"]["sessionId"], session.as_str());

    let pipeline = c.create("MediaPipeline", json!({})).await;
    assert!(pipeline.ends_with("_kurento.MediaPipeline"));
    let endpoint = c
        .create("WebRtcEndpoint", json!({"mediaPipeline": pipeline}))
        .await;
    assert!(endpoint.starts_with(&format!("{pipeline}/")));
    let described = c.ok("describe", json!({"object": endpoint})).await;
    assert_eq!(described["hierarchy"][0], "kurento.BaseRtpEndpoint");
    let connected = c.ok("connect", json!({})).await;
    assert_eq!(connected["sessionId"], session.as_str());
    assert_eq!(connected["serverId"], sim.server_id());
    let unknown = c.call("frobnicate", json!({})).await;
    assert_eq!(unknown["error"]["code"], codes::METHOD_NOT_FOUND);
    sim.shutdown().await;
}

#[tokio::test]
async fn released_objects_answer_40101() {
    let sim = start_sim(Scenario::default()).await;
    let mut c = Client::connect(&sim.url()).await;
    let pipeline = c.create("MediaPipeline", json!({})).await;
    let player = c
        .create(
            "PlayerEndpoint",
            json!({"mediaPipeline": pipeline, "uri": "file:///tmp/a.webm"}),
        )
        .await;
    c.ok("release", json!({"object": pipeline})).await;
    assert!(!sim.object_exists(&player), "release takes the children");
    let reply = c.invoke(&player, "getUri", json!({})).await;
    assert_eq!(reply["error"]["code"], codes::MEDIA_OBJECT_NOT_FOUND);
    assert_eq!(
        reply["error"]["message"],
        format!("Object '{player}' not found")
    );
    assert_eq!(reply["error"]["data"]["type"], "MEDIA_OBJECT_NOT_FOUND");
    // Releasing again still succeeds, as on KMS.
    c.ok("release", json!({"object": pipeline})).await;

    // Injected: the object disappears right before the read.
    let pipeline = c.create("MediaPipeline", json!({})).await;
    sim.inject(Fault::ReleaseBeforeInvoke {
        operation: "getName".into(),
    });
    let reply = c.invoke(&pipeline, "getName", json!({})).await;
    assert_eq!(reply["error"]["code"], codes::MEDIA_OBJECT_NOT_FOUND);
    sim.shutdown().await;
}

#[tokio::test]
async fn gc_collects_an_abandoned_app_session() {
    let sim = start_sim(fast_gc()).await;
    let mut app = Client::connect(&sim.url()).await;
    let abandoned = app.create("MediaPipeline", json!({})).await;
    let mut live = Client::connect(&sim.url()).await;
    let kept = live.create("MediaPipeline", json!({})).await;
    drop(app); // the application vanishes without releasing
    eventually("GC of the abandoned pipeline", DEADLINE, async || {
        !sim.object_exists(&abandoned)
    })
    .await;
    assert!(
        sim.object_exists(&kept),
        "an open bound connection keeps its session alive"
    );
    let reply = live.invoke(&kept, "getName", json!({})).await;
    assert_eq!(reply["result"]["value"], kept.as_str());
    sim.shutdown().await;
}

#[tokio::test]
async fn scenario_app_sessions_vanish_and_get_collected() {
    let scenario = Scenario::from_toml_str(
        r#"
        [timing]
        gc_period = "200ms"
        [[pipelines]]
        name = "kept"
        [[pipelines]]
        name = "gone"
        vanish_after = "100ms"
        "#,
    )
    .unwrap();
    let sim = start_sim(scenario).await;
    let before = sim.object_ids();
    assert_eq!(before.len(), 2);
    eventually(
        "the vanished app's pipeline to be collected",
        DEADLINE,
        async || {
            let ids = sim.object_ids();
            if ids.len() == 1 {
                Ok(())
            } else {
                Err(format!("{ids:?}"))
            }
        },
    )
    .await;
    let mut c = Client::connect(&sim.url()).await;
    let name = c.invoke(&sim.object_ids()[0], "getName", json!({})).await;
    assert_eq!(name["result"]["value"], "kept");
    sim.shutdown().await;
}

#[tokio::test]
async fn get_pipelines_keeps_objects_alive_through_the_pseudo_session() {
    let sim = start_sim(Scenario::default()).await;
    let mut app = Client::connect(&sim.url()).await;
    let pipeline = app.create("MediaPipeline", json!({})).await;
    let mut monitor = Client::connect(&sim.url()).await;
    let listed = monitor
        .invoke(SERVER_MANAGER, "getPipelines", json!({}))
        .await;
    assert_eq!(listed["result"]["value"], json!([pipeline]));
    let sessions = monitor
        .invoke(SERVER_MANAGER, "getSessions", json!({}))
        .await;
    let sessions = sessions["result"]["value"].as_array().unwrap().clone();
    assert!(sessions.len() % 2 == 0 && sessions[..sessions.len() / 2].iter().all(|s| s == ""));
    assert!(
        sessions[sessions.len() / 2..].contains(&json!("")),
        "the pseudo-session is listed"
    );

    app.ok("closeSession", json!({"release": false})).await;
    assert!(
        sim.object_exists(&pipeline),
        "\"\" still owns what getPipelines saw"
    );
    monitor
        .ok("closeSession", json!({"sessionId": "", "release": false}))
        .await;
    // The monitor's own session touched only the ServerManager.
    assert!(!sim.object_exists(&pipeline));
    sim.shutdown().await;
}

#[tokio::test]
async fn close_session_without_release_frees_only_that_sessions_objects() {
    let sim = start_sim(Scenario::default()).await;
    let mut a = Client::connect(&sim.url()).await;
    let only_a = a.create("MediaPipeline", json!({})).await;
    let shared = a.create("MediaPipeline", json!({})).await;
    let mut b = Client::connect(&sim.url()).await;
    b.ok("describe", json!({"object": shared})).await;
    let reply = a
        .call_raw("closeSession", Some(json!({"release": false})))
        .await;
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["result"], Value::Null);
    assert!(!sim.object_exists(&only_a));
    assert!(sim.object_exists(&shared), "b still references it");
    let log = sim.request_log();
    let close = log.iter().find(|r| r.method == "closeSession").unwrap();
    assert!(!close.changes_state());
    sim.shutdown().await;
}

#[tokio::test]
async fn events_go_to_the_connection_bound_to_the_session() {
    let sim = start_sim(Scenario::default()).await;
    let mut watcher = Client::connect(&sim.url()).await;
    let sub = watcher
        .ok(
            "subscribe",
            json!({"object": SERVER_MANAGER, "type": "ObjectCreated"}),
        )
        .await;
    let session = sub["sessionId"].as_str().unwrap().to_owned();
    let mut app = Client::connect(&sim.url()).await;
    let p1 = app.create("MediaPipeline", json!({})).await;
    let event = watcher.event("ObjectCreated").await;
    assert_eq!(event["params"]["value"]["object"], SERVER_MANAGER);
    assert_eq!(event["params"]["value"]["data"]["object"], p1.as_str());
    assert!(event.get("id").is_none());

    // A second connection takes the session over: events follow it.
    let mut takeover = Client::connect(&sim.url()).await;
    takeover.ok("ping", json!({"sessionId": session})).await;
    let p2 = app.create("MediaPipeline", json!({})).await;
    let event = takeover.event("ObjectCreated").await;
    assert_eq!(event["params"]["value"]["data"]["object"], p2.as_str());
    watcher.ok("ping", json!({})).await;
    assert!(
        watcher.events.is_empty(),
        "the old connection got {:?}",
        watcher.events
    );

    // Element events reach subscribers of that element.
    let ep = app
        .create("WebRtcEndpoint", json!({"mediaPipeline": p2}))
        .await;
    app.ok(
        "subscribe",
        json!({"object": ep, "type": "IceCandidateFound"}),
    )
    .await;
    let bad = app
        .call("subscribe", json!({"object": ep, "type": "EndOfStream"}))
        .await;
    assert_eq!(
        bad["error"]["code"],
        codes::MEDIA_OBJECT_EVENT_NOT_SUPPORTED
    );
    // KMS gathers only once the endpoint was negotiated.
    let early = app.invoke(&ep, "gatherCandidates", json!({})).await;
    assert_eq!(early["error"]["code"], 40400, "{early}");
    let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
    app.invoke(&ep, "processOffer", json!({"offer": offer}))
        .await;
    app.invoke(&ep, "gatherCandidates", json!({})).await;
    let found = app.event("IceCandidateFound").await;
    let data = &found["params"]["value"]["data"];
    assert_eq!(data["source"], ep.as_str());
    assert_eq!(data["type"], "IceCandidateFound");
    assert!(
        data["candidate"]["candidate"]
            .as_str()
            .unwrap()
            .contains("typ host")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn restart_changes_server_id_and_forgets_sessions() {
    let sim = start_sim(Scenario::default()).await;
    let url = sim.url();
    let mut c = Client::connect(&url).await;
    let first = c.ok("connect", json!({})).await;
    let session = first["sessionId"].as_str().unwrap().to_owned();
    c.create("MediaPipeline", json!({})).await;
    assert_eq!(sim.object_ids().len(), 1);

    sim.restart().await;
    assert!(
        c.next_frame().await.is_none(),
        "the old connection was dropped"
    );
    assert!(sim.object_ids().is_empty());
    let mut c = Client::connect(&url).await;
    let second = c.ok("connect", json!({})).await;
    assert_ne!(first["serverId"], second["serverId"]);
    assert_eq!(second["serverId"], sim.server_id());
    let stale = c.call("connect", json!({"sessionId": session})).await;
    assert_eq!(stale["error"]["code"], codes::INVALID_SESSION);
    sim.shutdown().await;
}

#[tokio::test]
async fn other_paths_are_closed_with_1002() {
    let sim = start_sim(Scenario::default()).await;
    let url = format!("ws://{}/other?access_token=x", sim.local_addr());
    let (mut ws, _) = connect_async(url).await.unwrap();
    let frame = tokio::time::timeout(DEADLINE, ws.next()).await.unwrap();
    let Some(Ok(Message::Close(Some(close)))) = frame else {
        panic!("expected a close frame, got {frame:?}");
    };
    assert_eq!(u16::from(close.code), 1002);
    assert_eq!(close.reason.as_str(), "Invalid path");
    // The query string is ignored on the right path.
    let mut c = Client::connect(&format!("{}?access_token=x", sim.url())).await;
    c.ok("ping", json!({})).await;
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_connections_and_shutdown_free_the_port() {
    let sim = start_sim(Scenario::default()).await;
    let addr = sim.local_addr();
    let mut c = Client::connect(&sim.url()).await;
    sim.inject(Fault::DropConnectionsAfter { requests: 1 });
    c.ok("ping", json!({})).await;
    c.ws.send(Message::text(r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#))
        .await
        .unwrap();
    assert!(c.next_frame().await.is_none(), "dropped mid-request");
    sim.shutdown().await;
    let listener = tokio::net::TcpListener::bind(addr).await;
    assert!(listener.is_ok(), "port still in use after shutdown");
}

fn shipped(name: &str) -> Scenario {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::from_file(&path).unwrap()
}

/// Reads `getStats("AUDIO")` and `getStats("VIDEO")` of every WebRtcEndpoint in one transaction
/// and sums the counters per (media, direction), as an exporter would.
async fn summed_stats(
    client: &mut Client,
    endpoints: &[String],
) -> std::collections::BTreeMap<(String, String), kurento_exporter::sim::RtpTotals> {
    let mut operations = Vec::new();
    for ep in endpoints {
        for media in ["AUDIO", "VIDEO"] {
            operations.push(json!({"jsonrpc":"2.0","id":operations.len(),"method":"invoke",
                "params":{"object":ep,"operation":"getStats","operationParams":{"mediaType":media}}}));
        }
    }
    let count = operations.len();
    let reply = client
        .ok("transaction", json!({"operations": operations}))
        .await;
    let results = reply["value"].as_array().unwrap();
    assert_eq!(results.len(), count);
    let mut totals = std::collections::BTreeMap::new();
    for (i, result) in results.iter().enumerate() {
        let media = if i % 2 == 0 { "audio" } else { "video" };
        let entries = result["result"]["value"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for entry in entries.values() {
            let (direction, bytes, packets) = match entry["type"].as_str().unwrap() {
                "inboundrtp" => ("inbound", "bytesReceived", "packetsReceived"),
                _ => ("outbound", "bytesSent", "packetsSent"),
            };
            let sum: &mut kurento_exporter::sim::RtpTotals = totals
                .entry((media.to_owned(), direction.to_owned()))
                .or_default();
            sum.bytes += entry[bytes].as_u64().unwrap();
            sum.packets += entry[packets].as_u64().unwrap();
            sum.packets_lost += entry["packetsLost"].as_i64().unwrap();
            sum.nacks += entry["nackCount"].as_u64().unwrap();
            sum.plis += entry["pliCount"].as_u64().unwrap();
            sum.firs += entry["firCount"].as_u64().unwrap();
        }
    }
    totals
}

#[tokio::test]
async fn frozen_media_totals_match_get_stats_over_the_socket() {
    for name in ["kms7.toml", "kms6.toml"] {
        let sim = start_sim(shipped(name)).await;
        sim.freeze_media();
        let endpoints: Vec<String> = sim
            .object_ids()
            .into_iter()
            .filter(|id| id.ends_with("_kurento.WebRtcEndpoint"))
            .collect();
        assert_eq!(endpoints.len(), 7);
        let mut client = Client::connect(&sim.url()).await;
        let first = summed_stats(&mut client, &endpoints).await;
        assert_eq!(first, sim.rtp_totals(), "{name}");
        assert_eq!(summed_stats(&mut client, &endpoints).await, first, "frozen");
        sim.advance_media(Duration::from_secs(60));
        let later = summed_stats(&mut client, &endpoints).await;
        assert_eq!(later, sim.rtp_totals(), "{name} after 60 s");
        let key = ("video".to_owned(), "outbound".to_owned());
        assert!(later[&key].bytes > first[&key].bytes);
        let relayed_inbound_loss_negative = later[&("audio".to_owned(), "inbound".to_owned())]
            .packets_lost
            < later[&("audio".to_owned(), "outbound".to_owned())].packets_lost;
        assert!(
            relayed_inbound_loss_negative,
            "duplicates lower inbound loss"
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn served_stats_count_operations_and_survive_restarts() {
    let sim = start_sim(Scenario::default()).await;
    let mut client = Client::connect(&sim.url()).await;
    client.call("ping", json!({})).await;
    let ops: Vec<Value> = (0..4)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"ping"}))
        .collect();
    client.ok("transaction", json!({"operations": ops})).await;
    let stats = sim.served_stats();
    assert_eq!((stats.requests, stats.operations), (2, 5));
    sim.restart().await;
    let mut client = Client::connect(&sim.url()).await;
    client.call("ping", json!({})).await;
    let stats = sim.served_stats();
    assert_eq!((stats.requests, stats.operations), (3, 6));
    sim.shutdown().await;
}

#[tokio::test]
async fn advancing_media_delivers_transitions_and_release_destroys() {
    let scenario = Scenario::from_toml_str(
        r#"
        [profiles.toggling]
        flowing_in = true
        flowing_out = true
        ice = "host"
        transcoding_toggle_every = "20s"
        [[pipelines]]
        name = "p"
        elements = [{ type = "WebRtcEndpoint", profile = "toggling" }]
        "#,
    )
    .unwrap();
    let sim = start_sim(scenario).await;
    sim.freeze_media();
    let ids = sim.object_ids();
    let endpoint = ids.iter().find(|i| i.ends_with("WebRtcEndpoint")).unwrap();
    let pipeline = ids.iter().find(|i| i.ends_with("MediaPipeline")).unwrap();
    let mut app = Client::connect(&sim.url()).await;
    app.ok(
        "subscribe",
        json!({"object": endpoint, "type": "MediaTranscodingStateChanged"}),
    )
    .await;
    app.ok(
        "subscribe",
        json!({"object": SERVER_MANAGER, "type": "ObjectDestroyed"}),
    )
    .await;
    sim.advance_media(Duration::from_secs(20));
    let event = app.event("MediaTranscodingStateChanged").await;
    let data = &event["params"]["value"]["data"];
    assert_eq!(data["state"], "TRANSCODING");
    assert_eq!(data["mediaType"], "VIDEO");
    let now = app
        .invoke(endpoint, "isMediaTranscoding", json!({"mediaType":"VIDEO"}))
        .await;
    assert_eq!(now["result"]["value"], true);
    sim.release(pipeline);
    app.event("ObjectDestroyed").await;
    assert!(!sim.object_exists(endpoint));
    sim.shutdown().await;
}
