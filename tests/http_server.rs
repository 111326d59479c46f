//! End-to-end tests of the HTTP server over real loopback connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use kurento_exporter::metrics::{ExpositionFormat, MetricsSource};
use kurento_exporter::web::server::{self as http, HttpOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const OPENMETRICS_BODY: &str = "# TYPE kurento_up gauge\nkurento_up{kms=\"a\"} 1\n# EOF\n";
const TEXT_BODY: &str = "# TYPE kurento_up gauge\nkurento_up{kms=\"a\"} 1\n";

/// A source with fixed bodies, settable readiness, and an optional gate that holds `render`
/// until released (to observe in-flight requests during shutdown).
#[derive(Default)]
struct FakeSource {
    ready: AtomicBool,
    renders: AtomicUsize,
    gate: Mutex<Option<(mpsc::Sender<()>, mpsc::Receiver<()>)>>,
}

impl MetricsSource for FakeSource {
    fn render(&self, format: ExpositionFormat) -> bytes::Bytes {
        self.renders.fetch_add(1, Ordering::SeqCst);
        if let Some((entered, release)) = self.gate.lock().unwrap().as_ref() {
            entered.send(()).unwrap();
            release.recv().unwrap();
        }
        match format {
            ExpositionFormat::OpenMetrics => bytes::Bytes::from_static(OPENMETRICS_BODY.as_bytes()),
            ExpositionFormat::Text => bytes::Bytes::from_static(TEXT_BODY.as_bytes()),
        }
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), http::HttpError>>,
}

async fn start(source: Arc<FakeSource>, opts: HttpOptions) -> Server {
    let listener = http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = http::local_addr(&listener).unwrap();
    assert_ne!(addr.port(), 0);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(http::serve(listener, source, opts, shutdown.clone()));
    Server {
        addr,
        shutdown,
        task,
    }
}

fn options() -> HttpOptions {
    HttpOptions {
        targets: vec!["kms-a".to_owned(), "kms-b".to_owned()],
        version: "9.9.9".to_owned(),
        ..HttpOptions::default()
    }
}

#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }
}

/// Reads one response from a keep-alive connection (bodies carry Content-Length; `head` means
/// no body follows).
async fn read_response(stream: &mut TcpStream, head: bool) -> RawResponse {
    let mut buf = Vec::new();
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside headers: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head_text = String::from_utf8(buf[..header_end].to_vec()).unwrap();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .expect("responses carry Content-Length");
    let mut body = buf[header_end..].to_vec();
    let want = if head { 0 } else { length };
    while body.len() < want {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body.len(), want, "extra bytes after the response");
    RawResponse {
        status,
        headers,
        body,
    }
}

fn request_text(method: &str, path: &str, extra_headers: &[(&str, &str)], close: bool) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    req
}

/// One request on a fresh connection, which the server then closes.
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> RawResponse {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(request_text(method, path, headers, true).as_bytes())
        .await
        .unwrap();
    let response = read_response(&mut stream, method == "HEAD").await;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "unexpected bytes after response: {rest:?}");
    response
}

async fn stop(server: Server) {
    server.shutdown.cancel();
    server.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn metrics_default_to_the_classic_text_format() {
    let server = start(Arc::new(FakeSource::default()), options()).await;
    let r = request(server.addr, "GET", "/metrics", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some(ExpositionFormat::Text.content_type())
    );
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.header("vary"), Some("Accept, Accept-Encoding"));
    assert_eq!(r.text(), TEXT_BODY);
    stop(server).await;
}

#[tokio::test]
async fn prometheus_accept_header_gets_openmetrics() {
    let server = start(Arc::new(FakeSource::default()), options()).await;
    let accept = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let r = request(server.addr, "GET", "/metrics", &[("Accept", accept)]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert_eq!(r.text(), OPENMETRICS_BODY);
    stop(server).await;
}

#[tokio::test]
async fn gzip_round_trip() {
    let server = start(Arc::new(FakeSource::default()), options()).await;
    let r = request(
        server.addr,
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip, deflate")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.header("vary"), Some("Accept, Accept-Encoding"));
    assert_eq!(
        r.header("content-type"),
        Some(ExpositionFormat::Text.content_type())
    );
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(r.body.as_slice())
        .read_to_string(&mut decoded)
        .unwrap();
    assert_eq!(decoded, TEXT_BODY);
    stop(server).await;
}

#[tokio::test]
async fn head_has_the_headers_of_get_and_no_body() {
    let server = start(Arc::new(FakeSource::default()), options()).await;
    let get = request(server.addr, "GET", "/metrics", &[]).await;
    let head = request(server.addr, "HEAD", "/metrics", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert_eq!(head.header("content-length"), get.header("content-length"));
    stop(server).await;
}

#[tokio::test]
async fn landing_page_links_everything() {
    let server = start(Arc::new(FakeSource::default()), options()).await;
    let r = request(server.addr, "GET", "/", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.text();
    for needle in [
        r#"href="/metrics""#,
        r#"href="/-/healthy""#,
        r#"href="/-/ready""#,
        "9.9.9",
        "kms-a",
        "kms-b",
    ] {
        assert!(page.contains(needle), "missing {needle} in {page}");
    }
    stop(server).await;
}

#[tokio::test]
async fn custom_telemetry_path() {
    let opts = HttpOptions {
        telemetry_path: "/kms-metrics".to_owned(),
        ..options()
    };
    let server = start(Arc::new(FakeSource::default()), opts).await;
    assert_eq!(
        request(server.addr, "GET", "/kms-metrics", &[])
            .await
            .status,
        200
    );
    assert_eq!(
        request(server.addr, "GET", "/metrics", &[]).await.status,
        404
    );
    let landing = request(server.addr, "GET", "/", &[]).await.text();
    assert!(landing.contains(r#"href="/kms-metrics""#), "{landing}");
    stop(server).await;
}

#[tokio::test]
async fn health_not_found_and_wrong_method() {
    let server = start(Arc::new(FakeSource::default()), options()).await;

    let r = request(server.addr, "GET", "/-/healthy", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "Healthy"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    let r = request(server.addr, "GET", "/nope", &[]).await;
    assert_eq!(r.status, 404);

    let r = request(server.addr, "POST", "/metrics", &[("Content-Length", "0")]).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    stop(server).await;
}

#[tokio::test]
async fn ready_follows_the_source() {
    let source = Arc::new(FakeSource::default());
    let server = start(source.clone(), options()).await;

    let r = request(server.addr, "GET", "/-/ready", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (503, "Not ready"));

    source.ready.store(true, Ordering::SeqCst);
    let r = request(server.addr, "GET", "/-/ready", &[]).await;
    assert_eq!((r.status, r.text().as_str()), (200, "Ready"));
    stop(server).await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_and_closes_on_shutdown() {
    let server = start(Arc::new(FakeSource::default()), options()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for path in ["/-/healthy", "/metrics"] {
        stream
            .write_all(request_text("GET", path, &[], false).as_bytes())
            .await
            .unwrap();
        assert_eq!(read_response(&mut stream, false).await.status, 200);
    }

    // The connection is idle: shutdown closes it and serve returns.
    stop(server).await;
    let mut rest = Vec::new();
    let n = stream.read_to_end(&mut rest).await.unwrap();
    assert_eq!(n, 0, "idle connection should be closed without data");
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_then_returns() {
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let source = Arc::new(FakeSource {
        gate: Mutex::new(Some((entered_tx, release_rx))),
        ..FakeSource::default()
    });
    let server = start(source.clone(), options()).await;

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(request_text("GET", "/metrics", &[], false).as_bytes())
        .await
        .unwrap();
    // Wait until the request is inside render (off the runtime, so a blocking wait is fine).
    tokio::task::spawn_blocking(move || entered_rx.recv().unwrap())
        .await
        .unwrap();

    server.shutdown.cancel();
    assert!(
        !server.task.is_finished(),
        "serve must wait for the in-flight request"
    );
    release_tx.send(()).unwrap();

    let response = read_response(&mut stream, false).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), TEXT_BODY);
    server.task.await.unwrap().unwrap();
    assert_eq!(source.renders.load(Ordering::SeqCst), 1);

    // The listener is gone with serve.
    assert!(TcpStream::connect(server.addr).await.is_err());
}
