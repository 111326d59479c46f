//! The exporter's HTTP server (hyper 1, HTTP/1.1): landing page, exposition, health, readiness.
//!
//! Scrapes do no I/O: they render the latest snapshots through [`MetricsSource`]. Rendering and
//! gzip run on the blocking pool so that a large exposition never stalls the runtime.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::{ExpositionFormat, MetricsSource};

pub use super::negotiate::{accepts_gzip, negotiate};
pub use super::routes::{HEALTHY_PATH, READY_PATH, Route, route};

/// How long a client may take to send request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause after an `accept` failure such as EMFILE, so that the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";
const APPLICATION_JSON: &str = "application/json";

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the local address of the listener: {0}")]
    LocalAddr(std::io::Error),
}

/// What the server shows besides the metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    /// Path of the exposition (validated by the configuration: starts with '/', is not '/').
    pub telemetry_path: String,
    /// Shown on the landing page.
    pub version: String,
    /// Target names, shown on the landing page.
    pub targets: Vec<String>,
    /// After shutdown is requested, how long in-flight requests may take before `serve` returns
    /// anyway.
    pub shutdown_grace: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            telemetry_path: "/metrics".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            targets: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Binds a TCP listener; `listener.local_addr()` then gives the real port when `addr` has port 0.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, HttpError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| HttpError::Bind { addr, source })
}

/// The real address of a bound listener.
pub fn local_addr(listener: &TcpListener) -> Result<SocketAddr, HttpError> {
    listener.local_addr().map_err(HttpError::LocalAddr)
}

struct State {
    source: Arc<dyn MetricsSource>,
    telemetry_path: String,
    landing: Bytes,
}

/// Serves HTTP on `listener` until `shutdown` is cancelled; then stops accepting, lets in-flight
/// requests finish (idle keep-alive connections are closed), and returns, after at most
/// `opts.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    app: Arc<dyn MetricsSource>,
    opts: HttpOptions,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    let landing = super::routes::landing_page(&opts.version, &opts.telemetry_path, &opts.targets);
    let state = Arc::new(State {
        source: app,
        telemetry_path: opts.telemetry_path,
        landing: Bytes::from(landing),
    });
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);

    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an HTTP connection failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => continue,
                    }
                }
            },
        };
        let state = state.clone();
        let service = service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, req).await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    drop(listener);

    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("HTTP server stopped"),
        () = tokio::time::sleep(opts.shutdown_grace) => {
            tracing::warn!(grace = ?opts.shutdown_grace, "HTTP connections still open after the shutdown grace period; closing");
        }
    }
    Ok(())
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match route(req.method(), req.uri().path(), &state.telemetry_path) {
        Route::Landing => respond(StatusCode::OK, TEXT_HTML, state.landing.clone()),
        Route::Metrics => metrics(state, req.headers()).await,
        Route::Healthy => plain(StatusCode::OK, "Healthy"),
        Route::Ready if state.source.ready() => plain(StatusCode::OK, "Ready"),
        Route::Ready => plain(StatusCode::SERVICE_UNAVAILABLE, "Not ready"),
        Route::Api => match state.source.api(req.uri().path()) {
            Some(json) => respond(StatusCode::OK, APPLICATION_JSON, Bytes::from(json)),
            None => respond(
                StatusCode::NOT_FOUND,
                APPLICATION_JSON,
                Bytes::from_static(br#"{"error":"not found"}"#),
            ),
        },
        Route::NotFound => plain(StatusCode::NOT_FOUND, "Not found"),
        Route::MethodNotAllowed => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static(super::routes::ALLOWED_METHODS),
            );
            response
        }
    }
}

/// Renders the exposition in the negotiated format, gzipped when the client allows it. HEAD gets
/// the same headers; hyper drops the body.
async fn metrics(state: &State, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let format = negotiate(header_str(header::ACCEPT));
    let gzip = accepts_gzip(header_str(header::ACCEPT_ENCODING));
    let source = state.source.clone();
    let rendered = tokio::task::spawn_blocking(move || render(source.as_ref(), format, gzip)).await;
    let body = match rendered {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "compressing the exposition failed");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Compressing metrics failed",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "rendering the exposition failed");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Rendering metrics failed",
            );
        }
    };
    let mut response = respond(StatusCode::OK, format.content_type(), body);
    let headers = response.headers_mut();
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

fn render(
    source: &dyn MetricsSource,
    format: ExpositionFormat,
    gzip: bool,
) -> std::io::Result<Bytes> {
    let text = source.render(format);
    if !gzip {
        return Ok(text);
    }
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(&text)?;
    Ok(Bytes::from(encoder.finish()?))
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    respond(status, TEXT_PLAIN, Bytes::from_static(text.as_bytes()))
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
