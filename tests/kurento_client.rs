#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The KMS JSON-RPC client against a tiny scripted WebSocket server on loopback.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::log_capture::CapturedLog;
use futures_util::{SinkExt, StreamExt};
use kurento_exporter::kurento::client::{
    ClientError, ClientOptions, Connection, RequestCounter, RequestIds,
};
use kurento_exporter::kurento::protocol::{Event, ManagerEvent};
use kurento_exporter::kurento::{Kms, KmsOptions};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// Upper bound for anything a test waits on, so a bug fails the test instead of hanging it.
const GUARD: Duration = Duration::from_secs(10);

async fn guarded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(GUARD, f)
        .await
        .expect("test step did not finish")
}

fn quiet_options() -> ClientOptions {
    ClientOptions {
        ping_interval: Duration::ZERO,
        ..ClientOptions::default()
    }
}

/// The server side of one connection, driven step by step by the test.
struct Peer {
    ws: WebSocketStream<TcpStream>,
}

impl Peer {
    /// The next request frame, as JSON.
    async fn request(&mut self) -> Value {
        loop {
            match guarded(self.ws.next()).await {
                Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a request, got {other:?}"),
            }
        }
    }

    async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    async fn reply(&mut self, request: &Value, result: Value) {
        let frame = json!({"id": request["id"], "jsonrpc": "2.0", "result": result});
        self.send_text(&frame.to_string()).await;
    }
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/kurento", listener.local_addr().unwrap());
    (listener, url)
}

async fn accept(listener: &TcpListener) -> Peer {
    let (tcp, _) = listener.accept().await.unwrap();
    Peer {
        ws: tokio_tungstenite::accept_async(tcp).await.unwrap(),
    }
}

struct Pair {
    conn: Connection,
    events: mpsc::Receiver<Event>,
    peer: Peer,
    requests: RequestCounter,
}

async fn pair_with(opts: ClientOptions, ids: Arc<RequestIds>) -> Pair {
    let (listener, url) = listener().await;
    let requests = RequestCounter::new();
    let (peer, opened) = guarded(async {
        tokio::join!(
            accept(&listener),
            Connection::open(&url, &opts, ids, requests.clone())
        )
    })
    .await;
    let (conn, events) = opened.unwrap();
    Pair {
        conn,
        events,
        peer,
        requests,
    }
}

async fn pair(opts: ClientOptions) -> Pair {
    pair_with(opts, Arc::new(RequestIds::new())).await
}

fn spawn_call(
    conn: &Connection,
    method: &str,
    params: Value,
) -> tokio::task::JoinHandle<Result<Value, ClientError>> {
    let conn = conn.clone();
    let method = method.to_owned();
    tokio::spawn(async move { conn.call(&method, params).await })
}

fn on_event(object: &str, event_type: &str, data: Value) -> String {
    json!({"jsonrpc":"2.0","method":"onEvent",
        "params":{"value":{"data":data,"object":object,"type":event_type}}})
    .to_string()
}

#[tokio::test]
async fn out_of_order_replies_are_matched_by_id() {
    let mut p = pair(quiet_options()).await;
    let a = spawn_call(&p.conn, "invoke", json!({"n": 1}));
    let b = spawn_call(&p.conn, "invoke", json!({"n": 2}));
    let c = spawn_call(&p.conn, "invoke", json!({"n": 3}));
    let mut requests = vec![
        p.peer.request().await,
        p.peer.request().await,
        p.peer.request().await,
    ];
    requests.reverse();
    for request in &requests {
        let n = request["params"]["n"].clone();
        p.peer.reply(request, json!({"echo": n})).await;
    }
    for (handle, n) in [(a, 1), (b, 2), (c, 3)] {
        assert_eq!(guarded(handle).await.unwrap().unwrap(), json!({"echo": n}));
    }
    assert_eq!(p.conn.in_flight(), 0);
    assert_eq!(p.requests.get(), 3);
}

#[tokio::test]
async fn notifications_interleaved_with_replies_reach_the_event_receiver() {
    let mut p = pair(quiet_options()).await;
    let call = spawn_call(&p.conn, "subscribe", json!({}));
    let request = p.peer.request().await;
    let data =
        json!({"object":"P_kurento.MediaPipeline","source":"manager_ServerManager","tags":[]});
    p.peer
        .send_text(&on_event("manager_ServerManager", "ObjectCreated", data))
        .await;
    p.peer.reply(&request, json!({"value": "sub-1"})).await;
    p.peer
        .send_text(&on_event(
            "P/E_kurento.WebRtcEndpoint",
            "MediaFlowInStateChanged",
            json!({"state":"FLOWING"}),
        ))
        .await;

    assert_eq!(
        guarded(call).await.unwrap().unwrap(),
        json!({"value": "sub-1"})
    );
    let first = guarded(p.events.recv()).await.unwrap();
    assert_eq!(first.event_type, "ObjectCreated");
    assert_eq!(
        ManagerEvent::from_event(&first),
        Some(ManagerEvent::Created("P_kurento.MediaPipeline".into()))
    );
    let second = guarded(p.events.recv()).await.unwrap();
    assert_eq!(second.event_type, "MediaFlowInStateChanged");
    assert_eq!(second.data["state"], "FLOWING");
}

#[tokio::test]
async fn a_silent_kms_times_the_call_out_and_frees_its_slot() {
    let opts = ClientOptions {
        call_timeout: Duration::from_millis(100),
        ..quiet_options()
    };
    let mut p = pair(opts).await;
    let call = spawn_call(&p.conn, "invoke", json!({}));
    let _never_answered = p.peer.request().await;
    let err = guarded(call).await.unwrap().unwrap_err();
    assert_eq!(
        err,
        ClientError::Timeout {
            method: "invoke".into()
        }
    );
    assert!(matches!(err, ClientError::Timeout { .. }));
    assert_eq!(p.conn.in_flight(), 0);
    assert!(!p.conn.is_closed());
}

#[tokio::test]
async fn a_late_reply_is_dropped_and_the_next_call_still_works() {
    let opts = ClientOptions {
        call_timeout: Duration::from_millis(100),
        ..quiet_options()
    };
    let mut p = pair(opts).await;
    let late = spawn_call(&p.conn, "invoke", json!({"n": 1}));
    let late_request = p.peer.request().await;
    assert!(matches!(
        guarded(late).await.unwrap(),
        Err(ClientError::Timeout { .. })
    ));

    let next = spawn_call(&p.conn, "invoke", json!({"n": 2}));
    let next_request = p.peer.request().await;
    p.peer.reply(&late_request, json!("late")).await;
    p.peer.reply(&next_request, json!("fresh")).await;
    assert_eq!(guarded(next).await.unwrap().unwrap(), json!("fresh"));
    // The late reply was read before the fresh one (same socket, in order).
    assert_eq!(p.conn.unmatched_replies(), 1);
    assert!(!p.conn.is_closed());
}

#[tokio::test]
async fn a_disconnect_fails_every_pending_call_at_once() {
    let p = pair(quiet_options()).await;
    let Pair {
        conn,
        mut events,
        mut peer,
        ..
    } = p;
    let calls: Vec<_> = (0..3)
        .map(|n| spawn_call(&conn, "invoke", json!({ "n": n })))
        .collect();
    for _ in 0..3 {
        peer.request().await;
    }
    drop(peer);
    for call in calls {
        assert_eq!(
            guarded(call).await.unwrap().unwrap_err(),
            ClientError::Disconnected
        );
    }
    guarded(conn.closed()).await;
    assert!(conn.is_closed());
    assert!(guarded(events.recv()).await.is_none(), "event stream ends");
    assert_eq!(
        conn.call("invoke", json!({})).await.unwrap_err(),
        ClientError::Disconnected
    );
    assert_eq!(conn.in_flight(), 0);
}

#[tokio::test]
async fn request_ids_never_repeat_across_connections_sharing_the_source() {
    let ids = Arc::new(RequestIds::new());
    let mut a = pair_with(quiet_options(), ids.clone()).await;
    let mut b = pair_with(quiet_options(), ids.clone()).await;
    let mut seen = Vec::new();
    for round in 0..3 {
        for p in [&mut a, &mut b] {
            let call = spawn_call(&p.conn, "ping", Value::Null);
            let request = p.peer.request().await;
            assert!(request.get("params").is_none(), "null params are omitted");
            seen.push(request["id"].as_u64().unwrap());
            p.peer.reply(&request, json!({"value": "pong"})).await;
            assert_eq!(
                guarded(call).await.unwrap().unwrap()["value"],
                "pong",
                "round {round}"
            );
        }
    }
    assert_eq!(seen[0], 1, "ids start at 1");
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "ids repeat: {seen:?}");
    assert_eq!(a.requests.get(), 3);
    assert_eq!(b.requests.get(), 3);
}

#[tokio::test]
async fn garbage_frames_are_counted_and_do_not_kill_the_connection() {
    let mut p = pair(quiet_options()).await;
    let call = spawn_call(&p.conn, "invoke", json!({}));
    let request = p.peer.request().await;
    p.peer.send_text("{not json").await;
    p.peer.send_text("[1,2]").await;
    // An id no call waits for (a frame naming a waiting call fails that call: see below).
    p.peer.send_text(r#"{"id":424242,"jsonrpc":"2.0"}"#).await;
    p.peer
        .ws
        .send(Message::binary(vec![0u8, 1, 2]))
        .await
        .unwrap();
    p.peer
        .send_text(r#"{"jsonrpc":"2.0","method":"onEvent","params":{"oops":1}}"#)
        .await;
    p.peer.reply(&request, json!("still here")).await;
    assert_eq!(guarded(call).await.unwrap().unwrap(), json!("still here"));
    assert_eq!(p.conn.garbage_frames(), 5);
    assert!(!p.conn.is_closed());
    assert!(
        p.events.try_recv().is_err(),
        "a malformed event is not delivered"
    );
}

/// A reply KMS sent but the client cannot decode used to leave its call waiting for the timeout,
/// counted as `timeout`; it now fails that call at once, as `decode`.
#[tokio::test]
async fn an_undecodable_reply_fails_its_call_at_once_as_decode() {
    // A timeout far beyond the guard: only an immediate failure passes.
    let opts = ClientOptions {
        call_timeout: Duration::from_secs(3600),
        ..quiet_options()
    };
    let mut p = pair(opts).await;
    let frames = [
        r#"{"id":ID,"jsonrpc":"2.0"}"#,
        r#"{"id":ID,"jsonrpc":"2.0","error":null}"#,
        r#"{"id":ID,"jsonrpc":"2.0","error":{"code":"x"}}"#,
        r#"{"id":"ID","jsonrpc":"2.0","result":{"value":1}}"#,
        r#"[{"id":ID,"jsonrpc":"2.0","result":{"value":1}}]"#,
        r#"{"id":ID,"jsonrpc":"2.0","result":{"value":"trunc"#,
    ];
    for frame in frames {
        let call = spawn_call(&p.conn, "invoke", json!({}));
        let request = p.peer.request().await;
        let id = request["id"].as_u64().unwrap().to_string();
        p.peer.send_text(&frame.replace("ID", &id)).await;
        let err = guarded(call).await.unwrap().unwrap_err();
        assert!(matches!(err, ClientError::Decode(_)), "{frame}: {err:?}");
        assert_eq!(p.conn.in_flight(), 0, "{frame}");
    }
    assert_eq!(
        p.conn.garbage_frames(),
        5,
        "a string id decodes but is still wrong"
    );
    assert!(!p.conn.is_closed());
}

/// 20,000 garbage frames once wrote 4.6 MB of log, a line per frame, and kept the connection.
/// Now: one line a minute at most, and more than 100 bad frames drop the connection as `decode`.
#[tokio::test]
async fn bad_frames_are_logged_rate_limited_and_too_many_drop_the_connection() {
    let (log, _guard) = CapturedLog::install(tracing::Level::INFO);

    let opts = ClientOptions {
        call_timeout: Duration::from_secs(3600),
        ..quiet_options()
    };
    let mut p = pair(opts).await;
    let waiting = spawn_call(&p.conn, "invoke", json!({"n": 1}));
    let _never_answered = p.peer.request().await;
    for _ in 0..100 {
        p.peer.send_text("{not json").await;
    }
    // A reply after the 100 bad frames: once it arrives, they have all been handled.
    let call = spawn_call(&p.conn, "invoke", json!({"n": 2}));
    let request = p.peer.request().await;
    p.peer.reply(&request, json!("ok")).await;
    assert_eq!(guarded(call).await.unwrap().unwrap(), json!("ok"));
    assert_eq!(p.conn.garbage_frames(), 100);
    assert!(!p.conn.is_closed(), "100 bad frames are tolerated");
    let lines = log.lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("undecodable frame"), "{}", lines[0]);

    p.peer.send_text("{not json").await;
    let err = guarded(waiting).await.unwrap().unwrap_err();
    let ClientError::Decode(why) = &err else {
        panic!("not a decode error: {err:?}")
    };
    assert!(why.contains("more than 100 undecodable frames"), "{why}");
    assert!(p.conn.is_closed());
    assert_eq!(p.conn.close_reason(), Some(err.clone()));
    assert_eq!(log.lines().len(), 1, "{:#?}", log.lines());
}

#[tokio::test]
async fn an_unanswered_ping_is_the_close_reason() {
    let opts = ClientOptions {
        ping_interval: Duration::from_millis(20),
        call_timeout: Duration::from_millis(100),
        ..ClientOptions::default()
    };
    let mut p = pair(opts).await;
    let ping = p.peer.request().await;
    assert_eq!(ping["method"], "ping");
    guarded(p.conn.closed()).await;
    assert_eq!(
        p.conn.close_reason(),
        Some(ClientError::Timeout {
            method: "ping".into()
        })
    );
}

#[tokio::test]
async fn calls_beyond_max_pending_are_refused_not_queued() {
    let opts = ClientOptions {
        max_pending: 2,
        ..quiet_options()
    };
    let mut p = pair(opts).await;
    let a = spawn_call(&p.conn, "invoke", json!({"n": 1}));
    let b = spawn_call(&p.conn, "invoke", json!({"n": 2}));
    let ra = p.peer.request().await;
    let rb = p.peer.request().await;
    let err = p.conn.call("invoke", json!({"n": 3})).await.unwrap_err();
    assert_eq!(err, ClientError::Overloaded);
    assert!(matches!(err, ClientError::Overloaded));
    p.peer.reply(&ra, json!(1)).await;
    p.peer.reply(&rb, json!(2)).await;
    assert_eq!(guarded(a).await.unwrap().unwrap(), json!(1));
    assert_eq!(guarded(b).await.unwrap().unwrap(), json!(2));
    // Capacity is back once the calls are answered.
    let c = spawn_call(&p.conn, "invoke", json!({"n": 3}));
    let rc = p.peer.request().await;
    p.peer.reply(&rc, json!(3)).await;
    assert_eq!(guarded(c).await.unwrap().unwrap(), json!(3));
}

#[tokio::test]
async fn kms_errors_come_back_as_rpc_errors() {
    let mut p = pair(quiet_options()).await;
    let call = spawn_call(&p.conn, "invoke", json!({}));
    let request = p.peer.request().await;
    let frame = json!({"error":{"code":40101,"data":{"type":"MEDIA_OBJECT_NOT_FOUND"},
        "message":"Object 'x' not found"},"id":request["id"],"jsonrpc":"2.0"});
    p.peer.send_text(&frame.to_string()).await;
    let err = guarded(call).await.unwrap().unwrap_err();
    let ClientError::Rpc(rpc) = &err else {
        panic!("not an rpc error: {err:?}")
    };
    assert!(rpc.is_object_not_found());
    assert!(matches!(err, ClientError::Rpc(_)));
}

#[tokio::test]
async fn pings_are_sent_and_counted() {
    let opts = ClientOptions {
        ping_interval: Duration::from_millis(20),
        ..ClientOptions::default()
    };
    let mut p = pair(opts).await;
    for _ in 0..2 {
        let ping = p.peer.request().await;
        assert_eq!(ping["method"], "ping");
        assert!(ping.get("params").is_none());
        p.peer.reply(&ping, json!({"value": "pong"})).await;
    }
    assert!(p.requests.get() >= 2);
    assert!(!p.conn.is_closed());
}

#[tokio::test]
async fn an_unanswered_ping_closes_the_connection() {
    let opts = ClientOptions {
        ping_interval: Duration::from_millis(20),
        call_timeout: Duration::from_millis(100),
        ..ClientOptions::default()
    };
    let mut p = pair(opts).await;
    let ping = p.peer.request().await;
    assert_eq!(ping["method"], "ping");
    guarded(p.conn.closed()).await;
    assert!(p.conn.is_closed());
}

#[tokio::test]
async fn an_oversized_frame_closes_the_connection() {
    let opts = ClientOptions {
        max_frame_bytes: 1024,
        ..quiet_options()
    };
    let mut p = pair(opts).await;
    let call = spawn_call(&p.conn, "invoke", json!({}));
    let request = p.peer.request().await;
    p.peer.reply(&request, json!("x".repeat(4096))).await;
    assert_eq!(
        guarded(call).await.unwrap().unwrap_err(),
        ClientError::Disconnected
    );
    assert!(p.conn.is_closed());
}

#[tokio::test]
async fn dropping_every_handle_closes_the_socket() {
    let p = pair(quiet_options()).await;
    let Pair { conn, mut peer, .. } = p;
    drop(conn);
    loop {
        match guarded(peer.ws.next()).await {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break,
            Some(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn connect_errors_hide_credentials_and_query() {
    // A port that was just free: nothing listens there.
    let (listener, _) = listener().await;
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let url = format!("ws://user:secret@127.0.0.1:{port}/kurento?access_token=abc");
    let err = Connection::open(
        &url,
        &quiet_options(),
        Arc::new(RequestIds::new()),
        RequestCounter::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)));
    let text = err.to_string();
    assert!(
        text.contains(&format!("127.0.0.1:{port}/kurento")),
        "{text}"
    );
    assert!(!text.contains("secret") && !text.contains("abc"), "{text}");
}

#[tokio::test]
async fn wss_with_an_unreadable_ca_file_is_a_clear_connect_error() {
    let opts = ClientOptions {
        tls_ca_file: Some("/nonexistent/ca.pem".into()),
        ..quiet_options()
    };
    let err = Connection::open(
        "wss://127.0.0.1:1/kurento",
        &opts,
        Arc::new(RequestIds::new()),
        RequestCounter::new(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)));
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Kms over a scripted fake KMS: every connection is answered by `respond`, every request is
// recorded with the index of the connection it came on (accept order).

type Recorded = (usize, Value);

const EVENTS_SESSION: &str = "session-0";

fn result_frame(id: &Value, result: &str) -> String {
    format!(r#"{{"id":{id},"jsonrpc":"2.0","result":{result}}}"#)
}

/// Frames the fake KMS sends back for one request on connection `conn`.
fn respond(conn: usize, request: &Value) -> Vec<String> {
    let id = &request["id"];
    let params = &request["params"];
    let session = format!(r#""session-{conn}""#);
    let invoke =
        |value: &str| result_frame(id, &format!(r#"{{"sessionId":{session},"value":{value}}}"#));
    match request["method"].as_str().unwrap() {
        "connect" => vec![result_frame(
            id,
            &format!(r#"{{"serverId":"server-1","sessionId":{session}}}"#),
        )],
        "subscribe" => {
            let mut frames = vec![invoke(r#""sub""#)];
            if params["type"] == "ObjectDestroyed" {
                frames.push(on_event(
                    "manager_ServerManager",
                    "ObjectCreated",
                    json!({"object":"P_kurento.MediaPipeline","source":"manager_ServerManager","tags":[]}),
                ));
                frames.push(on_event(
                    "P_kurento.MediaPipeline/E_kurento.WebRtcEndpoint",
                    "MediaFlowInStateChanged",
                    json!({"state":"FLOWING"}),
                ));
                frames.push(on_event(
                    "manager_ServerManager",
                    "ObjectDestroyed",
                    json!({"objectId":"P_kurento.MediaPipeline","source":"manager_ServerManager","tags":[]}),
                ));
            }
            frames
        }
        "closeSession" => vec![result_frame(id, "null")],
        "invoke" => {
            let value = match params["operation"].as_str().unwrap() {
                "getSessions" => r#"["","","","session-0","app-1",""]"#.to_owned(),
                "getUsedMemory" => "5.12e5".to_owned(),
                "getCpuCount" => "4".to_owned(),
                "getUsedCpu" => "153.5".to_owned(),
                "getCreationTime" => "1700000000.0".to_owned(),
                "getName" => r#""meeting-1""#.to_owned(),
                "getPipelines" => r#"["P_kurento.MediaPipeline"]"#.to_owned(),
                "getChildren" if params["object"] == "gone" => {
                    let error = json!({"error":{"code":40101,"data":{"type":"MEDIA_OBJECT_NOT_FOUND"},
                        "message":"Object 'gone' not found"},"id":id,"jsonrpc":"2.0"});
                    return vec![error.to_string()];
                }
                "getChildren" => "null".to_owned(),
                "getInfo" => {
                    r#"{"capabilities":["transactions"],"modules":[],"type":"KMS","version":"6.18.0"}"#
                        .to_owned()
                }
                other => panic!("unexpected operation {other}"),
            };
            vec![invoke(&value)]
        }
        other => panic!("unexpected method {other}"),
    }
}

async fn fake_kms() -> (String, mpsc::UnboundedReceiver<Recorded>) {
    let (listener, url) = listener().await;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for conn in 0.. {
            let mut peer = accept(&listener).await;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(Ok(Message::Text(text))) = peer.ws.next().await {
                    let request: Value = serde_json::from_str(&text).unwrap();
                    let frames = respond(conn, &request);
                    let _ = tx.send((conn, request));
                    for frame in frames {
                        peer.send_text(&frame).await;
                    }
                }
            });
        }
    });
    (url, rx)
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Recorded>) -> Vec<Recorded> {
    let mut all = Vec::new();
    while let Ok(item) = rx.try_recv() {
        all.push(item);
    }
    all
}

async fn connect_kms(
    connections: usize,
) -> (
    Kms,
    mpsc::Receiver<ManagerEvent>,
    mpsc::UnboundedReceiver<Recorded>,
) {
    let (url, recorded) = fake_kms().await;
    let opts = KmsOptions {
        url,
        connections,
        client: quiet_options(),
    };
    let (kms, events) = guarded(Kms::connect(
        &opts,
        Arc::new(RequestIds::new()),
        RequestCounter::new(),
    ))
    .await
    .unwrap();
    (kms, events, recorded)
}

#[tokio::test]
async fn kms_connect_opens_sessions_and_subscribes_on_the_manager_only() {
    let (kms, mut events, mut recorded) = connect_kms(2).await;
    let setup = drain(&mut recorded);
    // events (0): connect + 2 subscribes; read pool (1, 2): connect on the first; cpu (3): connect.
    let methods: Vec<(usize, &str)> = setup
        .iter()
        .map(|(conn, r)| (*conn, r["method"].as_str().unwrap()))
        .collect();
    assert_eq!(
        methods,
        vec![
            (0, "connect"),
            (0, "subscribe"),
            (0, "subscribe"),
            (1, "connect"),
            (3, "connect")
        ]
    );
    assert!(setup[0].1.get("params").is_none(), "connect has no params");
    for (i, event) in [(1, "ObjectCreated"), (2, "ObjectDestroyed")] {
        let params = &setup[i].1["params"];
        assert_eq!(params["object"], "manager_ServerManager");
        assert_eq!(params["type"], event);
        assert_eq!(params["sessionId"], EVENTS_SESSION);
    }
    assert_eq!(kms.server_id(), "server-1");
    assert_eq!(kms.read_session(), "session-1");
    assert_eq!(
        kms.own_sessions(),
        BTreeSet::from(["session-0".into(), "session-1".into(), "session-3".into()])
    );

    // Only the manager's inventory events come through, in order.
    assert_eq!(
        guarded(events.recv()).await,
        Some(ManagerEvent::Created("P_kurento.MediaPipeline".into()))
    );
    assert_eq!(
        guarded(events.recv()).await,
        Some(ManagerEvent::Destroyed("P_kurento.MediaPipeline".into()))
    );
    assert!(!kms.is_closed());
}

#[tokio::test]
async fn kms_reads_decode_what_kms_prints_and_carry_the_read_session() {
    let (kms, _events, mut recorded) = connect_kms(2).await;
    drain(&mut recorded);

    let sessions = kms.get_sessions().await.unwrap();
    assert_eq!(
        sessions,
        BTreeSet::from(["app-1".into(), "session-0".into()])
    );
    assert_eq!(kms.get_used_memory().await.unwrap(), 512_000);
    assert_eq!(kms.get_cpu_count().await.unwrap(), 4);
    assert_eq!(
        kms.get_creation_time("P_kurento.MediaPipeline")
            .await
            .unwrap(),
        1_700_000_000
    );
    assert_eq!(
        kms.get_name("P_kurento.MediaPipeline").await.unwrap(),
        "meeting-1"
    );
    assert_eq!(
        kms.get_pipelines().await.unwrap(),
        vec!["P_kurento.MediaPipeline"]
    );
    assert!(
        kms.get_children("P_kurento.MediaPipeline")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(kms.get_info().await.unwrap().version, "6.18.0");
    let gone = kms.get_children("gone").await.unwrap_err();
    assert!(gone.is_object_not_found());
    assert_eq!(gone.object.as_deref(), Some("gone"));
    assert_eq!(gone.operation, "getChildren");

    let reads = drain(&mut recorded);
    assert_eq!(reads.len(), 9);
    for (conn, request) in &reads {
        assert!([1, 2].contains(conn), "read on connection {conn}");
        assert_eq!(request["method"], "invoke");
        assert_eq!(request["params"]["sessionId"], "session-1");
    }

    assert_eq!(
        kms.get_used_cpu(Duration::from_secs(1)).await.unwrap(),
        153.5
    );
    let cpu = drain(&mut recorded);
    assert_eq!(cpu.len(), 1);
    let (conn, request) = &cpu[0];
    assert_eq!(*conn, 3, "getUsedCpu runs on its own connection");
    assert_eq!(request["params"]["operation"], "getUsedCpu");
    assert_eq!(
        request["params"]["operationParams"],
        json!({"interval": 1000})
    );
    assert_eq!(request["params"]["sessionId"], "session-3");
}

#[tokio::test]
async fn end_cycle_drops_the_read_session_without_releasing() {
    let (kms, _events, mut recorded) = connect_kms(1).await;
    drain(&mut recorded);
    kms.end_cycle().await.unwrap();
    let sent = drain(&mut recorded);
    assert_eq!(sent.len(), 1);
    let (conn, request) = &sent[0];
    assert_eq!(*conn, 1);
    assert_eq!(request["method"], "closeSession");
    assert_eq!(
        request["params"],
        json!({"sessionId": "session-1", "release": false})
    );
}

#[tokio::test]
async fn kms_reports_closed_when_a_connection_goes() {
    let (kms, mut events, _recorded) = connect_kms(2).await;
    assert!(!kms.is_closed());
    kms.close();
    guarded(kms.closed()).await;
    assert!(kms.is_closed());
    // The event stream ends with the events connection.
    while guarded(events.recv()).await.is_some() {}
    let err = kms.get_info().await.unwrap_err();
    assert!(matches!(err.source, ClientError::Disconnected));
}

// ---------------------------------------------------------------------------------------------
// wss:// against a loopback TLS server. Test-only keys: a throwaway CA and a server certificate
// for 127.0.0.1/localhost, valid until 2126.

const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBrjCCAVOgAwIBAgIUXhGQD96kZOO71rTkSujABIdymRswCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYa3VyZW50by1leHBvcnRlciB0ZXN0IENBMCAXDTI2MTEyMzAw
MTUxMFoYDzIxMjYxMDMwMDAxNTEwWjAjMSEwHwYDVQQDDBhrdXJlbnRvLWV4cG9y
dGVyIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQa43tiCvczInNY
cytCyH+BsS9jjj9NXziKCQIjjNhtmAbkPQH5Pw/OY/UGfHY0uu5v47NorqLHToR2
iuxnQkaPo2MwYTAdBgNVHQ4EFgQUZwHVEyYFu0zg2T7QHGxyczfP1cEwHwYDVR0j
BBgwFoAUZwHVEyYFu0zg2T7QHGxyczfP1cEwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDSQAwRgIhAKW53KsQIaWcveoLyvvp7sV6
PZTizEPIp7lcwNybptdWAiEA+rrNrFmZeWMXjf0xDcWGLFXuvSB5OYF84lDHpd3O
a3s=
-----END CERTIFICATE-----
";

const TEST_SERVER_CERT_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBuTCCAV+gAwIBAgIUC8EuNoCX51Nzd1noHYspBsoCtFswCgYIKoZIzj0EAwIw
IzEhMB8GA1UEAwwYa3VyZW50by1leHBvcnRlciB0ZXN0IENBMCAXDTI2MTEyMzAw
MTUxMFoYDzIxMjYxMDMwMDAxNTEwWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTAT
BgcqhkjOPQIBBggqhkjOPQMBBwNCAASugbpn2mKe+UqbvAP61G+m0vze7wjGgIfq
KBJc7+aFmGUxHqWNgD4jGpsWnkfps7CaPbbqpkMtcLX3TDG2qktoo34wfDAaBgNV
HREEEzARgglsb2NhbGhvc3SHBH8AAAEwCQYDVR0TBAIwADATBgNVHSUEDDAKBggr
BgEFBQcDATAdBgNVHQ4EFgQUdfck4EshLljsmRDQrNrHFk9QEDkwHwYDVR0jBBgw
FoAUZwHVEyYFu0zg2T7QHGxyczfP1cEwCgYIKoZIzj0EAwIDSAAwRQIgUWfriG2r
PjhezOLyVjFad5uXzu72nZ/rpp5vBHXuhV8CIQDfVVDW1QHX1gbRC8mnUz39myad
hiQdvz0jhEPJ5H7XCg==
-----END CERTIFICATE-----
";

const TEST_SERVER_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg+EqE2qANqQtGGdkK
7dhieK3LebhAdmDWQih20eh/QhyhRANCAASugbpn2mKe+UqbvAP61G+m0vze7wjG
gIfqKBJc7+aFmGUxHqWNgD4jGpsWnkfps7CaPbbqpkMtcLX3TDG2qkto
-----END PRIVATE KEY-----
";

/// A one-connection wss server answering one `ping`; returns its URL.
async fn tls_server() -> String {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let cert = CertificateDer::from_pem_slice(TEST_SERVER_CERT_PEM.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(TEST_SERVER_KEY_PEM.as_bytes()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://{}/kurento", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        // A client that rejects the certificate ends the handshake here.
        let Ok(tls) = acceptor.accept(tcp).await else {
            return;
        };
        let mut ws = tokio_tungstenite::accept_async(tls).await.unwrap();
        while let Some(Ok(Message::Text(text))) = ws.next().await {
            let request: Value = serde_json::from_str(&text).unwrap();
            let reply = json!({"id": request["id"], "jsonrpc": "2.0", "result": {"value": "pong"}});
            ws.send(Message::text(reply.to_string())).await.unwrap();
        }
    });
    url
}

async fn ping_over(url: &str, opts: &ClientOptions) -> Result<Value, ClientError> {
    let (conn, _events) = Connection::open(
        url,
        opts,
        Arc::new(RequestIds::new()),
        RequestCounter::new(),
    )
    .await?;
    conn.call("ping", Value::Null).await
}

#[tokio::test]
async fn wss_trusts_a_custom_ca_file() {
    let mut ca = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca, TEST_CA_PEM.as_bytes()).unwrap();
    let opts = ClientOptions {
        tls_ca_file: Some(ca.path().to_owned()),
        ..quiet_options()
    };
    let url = tls_server().await;
    let reply = guarded(ping_over(&url, &opts)).await.unwrap();
    assert_eq!(reply["value"], "pong");
}

#[tokio::test]
async fn wss_rejects_an_unknown_issuer_by_default() {
    let url = tls_server().await;
    let err = guarded(ping_over(&url, &quiet_options()))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)), "{err}");
}

#[tokio::test]
async fn wss_insecure_skip_verify_accepts_any_certificate() {
    let opts = ClientOptions {
        tls_insecure_skip_verify: true,
        ..quiet_options()
    };
    let url = tls_server().await;
    let reply = guarded(ping_over(&url, &opts)).await.unwrap();
    assert_eq!(reply["value"], "pong");
}

// ---------------------------------------------------------------------------------------------
// Pool dispatch.

#[tokio::test]
async fn the_pool_sends_each_call_to_the_least_busy_connection() {
    use kurento_exporter::kurento::pool::Pool;

    let mut a = pair(quiet_options()).await;
    let mut b = pair(quiet_options()).await;
    let pool = Arc::new(Pool::from_connections(vec![a.conn.clone(), b.conn.clone()]));
    let call = |n: u64| {
        let pool = pool.clone();
        tokio::spawn(async move { pool.call("invoke", json!({ "n": n })).await })
    };

    // First call lands somewhere; the second must go to the other, idle connection.
    let first = call(1);
    let (busy, idle) = tokio::select! {
        r = a.peer.request() => ((&mut a, r), &mut b),
        r = b.peer.request() => ((&mut b, r), &mut a),
    };
    let second = call(2);
    let second_request = idle.peer.request().await;
    assert_eq!(second_request["params"]["n"], 2);
    assert_eq!(busy.1["params"]["n"], 1);
    idle.peer.reply(&second_request, json!("two")).await;
    busy.0.peer.reply(&busy.1, json!("one")).await;
    assert_eq!(guarded(first).await.unwrap().unwrap(), json!("one"));
    assert_eq!(guarded(second).await.unwrap().unwrap(), json!("two"));

    assert!(!pool.is_closed());
    a.conn.close();
    guarded(pool.closed()).await;
    assert!(pool.is_closed(), "one closed connection closes the pool");
}

/// Time arithmetic never panics: a ping interval and a call timeout with no `Instant` after them
/// (config bounds them, but the client must not rely on it) still give a working connection.
#[tokio::test]
async fn durations_too_large_for_an_instant_do_not_kill_the_connection() {
    let opts = ClientOptions {
        call_timeout: Duration::MAX,
        ping_interval: Duration::MAX,
        ..ClientOptions::default()
    };
    let mut p = pair(opts).await;
    let call = spawn_call(&p.conn, "invoke", json!({}));
    let request = p.peer.request().await;
    p.peer.reply(&request, json!("alive")).await;
    assert_eq!(guarded(call).await.unwrap().unwrap(), json!("alive"));

    let (url, _recorded) = fake_kms().await;
    let opts = KmsOptions {
        url,
        connections: 1,
        client: ClientOptions {
            call_timeout: Duration::MAX,
            ..quiet_options()
        },
    };
    let (kms, _events) = guarded(Kms::connect(
        &opts,
        Arc::new(RequestIds::new()),
        RequestCounter::new(),
    ))
    .await
    .unwrap();
    assert_eq!(
        guarded(kms.get_used_cpu(Duration::MAX)).await.unwrap(),
        153.5
    );
}
