//! The HTTP server under idle and slow clients (issue: 1,100 idle/slow connections exhausted the
//! 1,024 descriptor limit and blocked scrapes and KMS reconnects). The exporter runs in process
//! on 127.0.0.1:0 with a small `web.max_connections` and `web.header_read_timeout`, so the
//! outcomes are reached quickly without sleeping to synchronise; deadlines only bound failures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use kurento_exporter::Exporter;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

/// Bounds a step that must succeed; never a measurement.
const DEADLINE: Duration = Duration::from_secs(20);

async fn exporter(max_connections: u32, header_read_timeout: Duration) -> Exporter {
    let mut config = common::test_config(&[("kms", "ws://127.0.0.1:9/kurento".to_owned())]);
    config.web.max_connections = max_connections;
    config.web.header_read_timeout = header_read_timeout;
    Exporter::start(config).await.expect("exporter starts")
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match timeout(DEADLINE, stream.read(&mut buf)).await {
            Err(_) => panic!("connection still open after {DEADLINE:?}; got {out:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_under_the_cap_do_not_block_a_scrape() {
    let exporter = exporter(512, Duration::from_secs(10)).await;
    let addr = exporter.local_addr();
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let response = timeout(DEADLINE, common::get(addr, "/metrics", &[]))
        .await
        .expect("scrape answered while 100 connections sit idle");
    assert_eq!(response.status, 200);
    drop(idle);
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_slow_clients_than_the_cap_do_not_block_a_scrape() {
    // 12 clients hold connections (half idle, half stuck in their headers) against a cap of 4:
    // without the header timeout the scrape would wait behind them forever.
    let exporter = exporter(4, Duration::from_millis(300)).await;
    let addr = exporter.local_addr();
    let mut slow = Vec::new();
    for i in 0..12 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 1 {
            stream
                .write_all(b"GET /metrics HTTP/1.1\r\nHost: slow\r\n")
                .await
                .unwrap();
        }
        slow.push(stream);
    }
    let response = timeout(DEADLINE, common::get(addr, "/metrics", &[]))
        .await
        .expect("scrape answered once the slow clients timed out");
    assert_eq!(response.status, 200);
    assert!(response.text().contains("kurento_up{kms=\"kms\"} 0"));
    // Every slow client was disconnected, none answered.
    for mut stream in slow {
        let got = read_until_closed(&mut stream).await;
        assert!(!got.starts_with(b"HTTP/1.1 200"), "{got:?}");
    }
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_and_idle_keep_alive_connections_are_closed_after_the_header_timeout() {
    let header_timeout = Duration::from_millis(200);
    let exporter = exporter(512, header_timeout).await;
    let addr = exporter.local_addr();

    // Slowloris: a request line and one header, then nothing.
    let mut slowloris = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    slowloris
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let got = read_until_closed(&mut slowloris).await;
    assert!(
        started.elapsed() >= header_timeout,
        "not before the timeout"
    );
    assert!(!got.starts_with(b"HTTP/1.1 200"), "{got:?}");

    // Keep-alive: one complete request answered, then the idle connection is closed too.
    let mut keep_alive = TcpStream::connect(addr).await.unwrap();
    keep_alive
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let got = String::from_utf8(read_until_closed(&mut keep_alive).await).unwrap();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(got.ends_with("Healthy"), "{got}");

    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tls_client_is_closed_after_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("c.pem"), pair.cert.pem()).unwrap();
    std::fs::write(dir.path().join("k.pem"), pair.signing_key.serialize_pem()).unwrap();
    let web = dir.path().join("web.yml");
    std::fs::write(
        &web,
        "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n",
    )
    .unwrap();
    let mut config = common::test_config(&[("kms", "ws://127.0.0.1:9/kurento".to_owned())]);
    config.web.header_read_timeout = Duration::from_millis(200);
    config.web.config_file = Some(web);
    let exporter = Exporter::start(config).await.unwrap();

    // Connected, never says hello: the handshake is bounded like the headers.
    let mut silent = TcpStream::connect(exporter.local_addr()).await.unwrap();
    let got = read_until_closed(&mut silent).await;
    assert!(got.is_empty(), "{got:?}");
    exporter.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let exporter = exporter(2, Duration::from_secs(60)).await;
    let addr = exporter.local_addr();
    let first = TcpStream::connect(addr).await.unwrap();
    let second = TcpStream::connect(addr).await.unwrap();

    // The third connection completes its TCP handshake (the kernel's backlog) but is not
    // served while the two slots are taken.
    let mut third = TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let waited = timeout(Duration::from_millis(300), third.read(&mut byte)).await;
    assert!(waited.is_err(), "answered past the cap: {waited:?}");

    // One slot frees: the waiting request is served.
    drop(first);
    let mut rest = Vec::new();
    timeout(DEADLINE, third.read_to_end(&mut rest))
        .await
        .expect("served once a slot freed")
        .unwrap();
    let answer = String::from_utf8(rest).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(second);
    exporter.shutdown().await;
}
