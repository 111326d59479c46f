#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Memory held after large frames: KMS replies of 15 MiB (under the 16 MiB cap) on a few
//! connections, then a little more traffic, measuring the client's resident set (`VmRSS`) each
//! time. Each socket used to keep a read buffer the size of its largest frame until it
//! reconnected (~60 MB over four sockets, ~100 MB resident with malloc's own caching); the buffer
//! now goes once the socket has read its read-buffer size (16 KiB) more.
//!
//! A measurement, ignored by default:
//! `cargo test --test frame_memory -- --ignored --exact resident_memory_after_large_frames --nocapture`.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use kurento_exporter::kurento::client::{ClientOptions, Connection, RequestCounter, RequestIds};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const CONNECTIONS: usize = 4;
const LARGE: usize = 15 << 20;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A server answering every request with `{"value": <size of params.n bytes>}`.
async fn server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/kurento", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let config = WebSocketConfig::default().max_message_size(None);
                let mut ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config))
                    .await
                    .unwrap();
                while let Some(Ok(Message::Text(text))) = ws.next().await {
                    let request: Value = serde_json::from_str(&text).unwrap();
                    let n = request["params"]["n"].as_u64().unwrap() as usize;
                    let reply = json!({"id": request["id"], "jsonrpc": "2.0",
                        "result": {"value": "x".repeat(n)}});
                    ws.send(Message::text(reply.to_string())).await.unwrap();
                }
            });
        }
    });
    url
}

/// Set in the child process: the URL of the parent's server.
const SERVER_ENV: &str = "FRAME_MEMORY_SERVER";

/// Runs the client in child processes (this test binary, `client_side` only), so the server's
/// own buffers do not count in the resident set measured: once with glibc's default malloc, once
/// with a fixed mmap threshold, which returns every large free block to the system at once and
/// so shows what the client itself still holds.
#[tokio::test]
#[ignore = "a measurement: prints the resident set before and after large frames"]
async fn resident_memory_after_large_frames() {
    let url = server().await;
    for fixed_threshold in [false, true] {
        let exe = std::env::current_exe().unwrap();
        let mut child = tokio::process::Command::new(exe);
        child
            .args(["--ignored", "--exact", "client_side", "--nocapture"])
            .env(SERVER_ENV, &url);
        if fixed_threshold {
            child.env("MALLOC_MMAP_THRESHOLD_", "131072");
        }
        let out = child.output().await.unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        let line = text
            .lines()
            .find(|l| l.starts_with("VmRSS"))
            .unwrap_or_else(|| panic!("no measurement from the child: {text}"));
        let malloc = if fixed_threshold {
            "fixed mmap threshold"
        } else {
            "default malloc"
        };
        println!("{malloc}: {line}");
        let kib: Vec<u64> = text
            .lines()
            .find_map(|l| l.strip_prefix("RSS_KIB "))
            .unwrap()
            .split(' ')
            .map(|n| n.parse().unwrap())
            .collect();
        if fixed_threshold {
            // The client kept a 15 MiB read buffer per socket until it reconnected.
            let held = kib[3].saturating_sub(kib[0]);
            assert!(
                held < 16 * 1024,
                "{} MiB still held after the large frames",
                held / 1024
            );
        }
    }
}

/// The client side of `resident_memory_after_large_frames` (does nothing when run alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by resident_memory_after_large_frames in a child process"]
async fn client_side() {
    let Ok(url) = std::env::var(SERVER_ENV) else {
        return;
    };
    let opts = ClientOptions {
        ping_interval: Duration::ZERO,
        call_timeout: Duration::from_secs(60),
        ..ClientOptions::default()
    };
    let ids = Arc::new(RequestIds::new());
    let mut connections = Vec::new();
    for _ in 0..CONNECTIONS {
        let (c, _events) = Connection::open(&url, &opts, ids.clone(), RequestCounter::new())
            .await
            .unwrap();
        connections.push(c);
    }
    for c in &connections {
        c.call("invoke", json!({"n": 10})).await.unwrap();
    }
    let before = rss_kib();
    for c in &connections {
        let reply = c.call_raw("invoke", json!({"n": LARGE})).await.unwrap();
        assert!(reply.get().len() > LARGE);
    }
    let after_large = rss_kib();
    for c in &connections {
        c.call("invoke", json!({"n": 100})).await.unwrap();
    }
    let after_one_small = rss_kib();
    // 20 KiB more on each socket: more than its read buffer (16 KiB).
    for _ in 0..10 {
        for c in &connections {
            c.call("invoke", json!({"n": 2048})).await.unwrap();
        }
    }
    let after_small = rss_kib();
    drop(connections);
    println!("RSS_KIB {before} {after_large} {after_one_small} {after_small}");
    println!(
        "VmRSS of the client with {CONNECTIONS} connections: {} MiB before; {} MiB after one \
         {} MiB reply on each; {} MiB after one small reply more on each; {} MiB after 20 KiB more \
         on each",
        before / 1024,
        after_large / 1024,
        LARGE >> 20,
        after_one_small / 1024,
        after_small / 1024,
    );
}
