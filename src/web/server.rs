//! The exporter's HTTP server (hyper 1, HTTP/1.1, optionally over rustls): landing page,
//! exposition, health, readiness, JSON API, inspection page.
//!
//! Scrapes do no I/O: they render the latest snapshots through [`MetricsSource`]. Rendering and
//! gzip run on the blocking pool so that a large exposition never stalls the runtime.
//!
//! The server must never starve the process of file descriptors (1,100 idle connections once
//! exhausted a 1,024 limit and blocked KMS reconnects): at most `max_connections` connections are
//! served at once over all listeners, further ones wait in the kernel's accept backlog (which
//! holds no descriptor of ours) until one closes; and a client that does not send its request
//! headers (or finish its TLS handshake) within `header_read_timeout` is disconnected, idle
//! keep-alive connections included, so no one holds a slot for long.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::guard::Guard;
use super::security::HttpSecurity;
use super::tls::TlsError;
use super::tls_reload::TlsReloader;
use super::ui::UiAnswer;
use crate::metrics::{ExpositionFormat, MetricsSource};

pub use super::negotiate::{accepts_gzip, negotiate};
pub use super::routes::{HEALTHY_PATH, READY_PATH, Route, route};

/// Default of [`HttpOptions::header_read_timeout`]: long enough for any real client on a slow
/// link, short enough that a slow or idle client frees its slot quickly.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`HttpOptions::max_connections`]: half the common 1,024 descriptor limit, so the
/// KMS sockets always find descriptors even before the limit is raised.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Pause after an `accept` failure such as EMFILE, so that the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";
const TEXT_HTML: &str = "text/html; charset=utf-8";
const APPLICATION_JSON: &str = "application/json";
const IMAGE_SVG: &str = "image/svg+xml";

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
    #[error("systemd socket activation: {0}")]
    SystemdSocket(String),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    #[error("nothing to listen on")]
    NoListener,
}

/// What the server shows besides the metrics, how it protects itself, and who may ask.
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
    /// At most this many connections are served at once, over all listeners; more wait in the
    /// accept backlog.
    pub max_connections: usize,
    /// How long a client may take to send request headers, to complete a TLS handshake, or to
    /// start its next request on a keep-alive connection.
    pub header_read_timeout: Duration,
    /// TLS, basic authentication, extra headers, rate limit.
    pub security: HttpSecurity,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            telemetry_path: "/metrics".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            targets: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            security: HttpSecurity::default(),
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
    guard: Guard,
}

/// What every connection task needs.
struct Connections {
    state: Arc<State>,
    http: http1::Builder,
    tls: Option<TlsReloader>,
    header_read_timeout: Duration,
    shutdown: CancellationToken,
}

/// Serves HTTP on `listener` until `shutdown` is cancelled (see [`serve_all`]).
pub async fn serve(
    listener: TcpListener,
    app: Arc<dyn MetricsSource>,
    opts: HttpOptions,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    serve_all(vec![listener], app, opts, shutdown).await
}

/// Serves HTTP (or HTTPS, per `opts.security.tls`) on every listener until `shutdown` is
/// cancelled; then stops accepting, lets in-flight requests finish (idle keep-alive connections
/// are closed), and returns, after at most `opts.shutdown_grace`. Fails at once if the TLS files
/// cannot be loaded.
pub async fn serve_all(
    listeners: Vec<TcpListener>,
    app: Arc<dyn MetricsSource>,
    opts: HttpOptions,
    shutdown: CancellationToken,
) -> Result<(), HttpError> {
    if listeners.is_empty() {
        return Err(HttpError::NoListener);
    }
    let tls = opts
        .security
        .tls
        .clone()
        .map(TlsReloader::new)
        .transpose()?;
    let landing = super::routes::landing_page(&opts.version, &opts.telemetry_path, &opts.targets);
    let state = Arc::new(State {
        source: app,
        telemetry_path: opts.telemetry_path,
        landing: Bytes::from(landing),
        guard: Guard::new(&opts.security),
    });
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout);
    let connections = Arc::new(Connections {
        state,
        http,
        tls,
        header_read_timeout: opts.header_read_timeout,
        shutdown: shutdown.clone(),
    });
    let slots = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut saturated = false;

    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                saturated = false;
                permit
            }
            Err(_) => {
                if !saturated {
                    tracing::warn!(
                        max_connections = opts.max_connections,
                        "HTTP connection limit reached; new connections wait until one closes"
                    );
                    saturated = true;
                }
                tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break,
                    permit = slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        // The semaphore is never closed.
                        Err(_) => break,
                    },
                }
            }
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            accepted = accept_any(&listeners) => match accepted {
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
        tokio::spawn(connection(
            connections.clone(),
            stream,
            peer,
            permit,
            graceful.watcher(),
        ));
    }
    drop(listeners);

    tokio::select! {
        () = graceful.shutdown() => tracing::debug!("HTTP server stopped"),
        () = tokio::time::sleep(opts.shutdown_grace) => {
            tracing::warn!(grace = ?opts.shutdown_grace, "HTTP connections still open after the shutdown grace period; closing");
        }
    }
    Ok(())
}

/// The next connection on any listener.
async fn accept_any(listeners: &[TcpListener]) -> std::io::Result<(TcpStream, SocketAddr)> {
    std::future::poll_fn(|cx| {
        for listener in listeners {
            if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                return Poll::Ready(accepted);
            }
        }
        Poll::Pending
    })
    .await
}

/// One connection: the TLS handshake if configured (bounded by the header timeout), then HTTP.
/// The slot is held until the connection ends.
async fn connection(
    conns: Arc<Connections>,
    stream: TcpStream,
    peer: SocketAddr,
    _slot: OwnedSemaphorePermit,
    watcher: Watcher,
) {
    let Some(tls) = &conns.tls else {
        serve_http(&conns, TokioIo::new(stream), peer, watcher).await;
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
    let handshake = tokio::time::timeout(conns.header_read_timeout, acceptor.accept(stream));
    let stream = tokio::select! {
        () = conns.shutdown.cancelled() => return,
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    serve_http(&conns, TokioIo::new(stream), peer, watcher).await;
}

async fn serve_http<I>(conns: &Connections, io: TokioIo<I>, peer: SocketAddr, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = conns.state.clone();
    let service = service_fn(move |req| {
        let state = state.clone();
        async move { Ok::<_, Infallible>(guarded(&state, req).await) }
    });
    if let Err(e) = watcher
        .watch(conns.http.serve_connection(io, service))
        .await
    {
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}

/// The guard's checks, then the route; the configured headers on every answer.
async fn guarded(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let mut response = match state.guard.admit(req.headers()).await {
        Some(refusal) => refusal,
        None => handle(state, req).await,
    };
    state.guard.decorate(&mut response);
    response
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match route(req.method(), req.uri().path(), &state.telemetry_path) {
        Route::Landing => respond(StatusCode::OK, TEXT_HTML, state.landing.clone()),
        Route::Metrics => metrics(state, req.headers()).await,
        Route::Probe => probe(state, req.uri().query(), req.headers()).await,
        Route::Healthy => plain(StatusCode::OK, "Healthy"),
        Route::Ready if state.source.ready() => plain(StatusCode::OK, "Ready"),
        Route::Ready => plain(StatusCode::SERVICE_UNAVAILABLE, "Not ready"),
        Route::Api if req.uri().path().ends_with("/graph.svg") => {
            match state.source.graph_svg(req.uri().path()) {
                Some(svg) => respond(StatusCode::OK, IMAGE_SVG, Bytes::from(svg)),
                None => plain(StatusCode::NOT_FOUND, "Not found"),
            }
        }
        Route::Ui => match super::ui::answer(req.uri().path()) {
            Some(UiAnswer::File { content_type, body }) => respond(
                StatusCode::OK,
                content_type,
                Bytes::from_static(body.as_bytes()),
            ),
            Some(UiAnswer::Redirect(to)) => {
                let mut response = plain(StatusCode::MOVED_PERMANENTLY, "Moved");
                response
                    .headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static(to));
                response
            }
            None => plain(StatusCode::NOT_FOUND, "Not found"),
        },
        Route::Api => api(state, req.uri().path()).await,
        Route::Reload => match state.source.reload() {
            None => plain(StatusCode::FORBIDDEN, "Lifecycle API is not enabled."),
            Some(reload) => match reload.await {
                Ok(()) => plain(StatusCode::OK, "Reloaded"),
                Err(err) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    TEXT_PLAIN,
                    Bytes::from(format!("failed to reload config: {err}\n")),
                ),
            },
        },
        Route::NotFound => plain(StatusCode::NOT_FOUND, "Not found"),
        Route::MethodNotAllowed => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
            response.headers_mut().insert(
                header::ALLOW,
                HeaderValue::from_static(super::routes::allowed_methods(req.uri().path())),
            );
            response
        }
    }
}

/// The JSON API: the SDP view (which reads KMS, when enabled), else the views of the store.
async fn api(state: &State, path: &str) -> Response<Full<Bytes>> {
    if let Some((kms, element)) = super::sdp::sdp_path(path) {
        let (status, body) = match state.source.sdp(&kms, &element) {
            None => (StatusCode::FORBIDDEN, super::sdp::disabled()),
            Some(read) => super::sdp::answer(&read.await),
        };
        return respond(status, APPLICATION_JSON, Bytes::from(body.to_string()));
    }
    match state.source.api(path) {
        Some(json) => respond(StatusCode::OK, APPLICATION_JSON, Bytes::from(json)),
        None => respond(
            StatusCode::NOT_FOUND,
            APPLICATION_JSON,
            Bytes::from_static(br#"{"error":"not found"}"#),
        ),
    }
}

/// `/probe?target=…`: starts watching the target if needed, then answers its series alone, in
/// the negotiated format.
async fn probe(state: &State, query: Option<&str>, headers: &HeaderMap) -> Response<Full<Bytes>> {
    let header_str = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let query = match super::probe::parse_query(query) {
        Ok(query) => query,
        Err(message) => return text(StatusCode::BAD_REQUEST, message),
    };
    let wait = super::probe::wait_budget(header_str("x-prometheus-scrape-timeout-seconds"));
    let Some(probing) = state
        .source
        .probe(&query.target, query.name.as_deref(), wait)
    else {
        return plain(
            StatusCode::NOT_FOUND,
            "Probing is off (probe.max_targets = 0)",
        );
    };
    let kms = match probing.await {
        Ok(kms) => kms,
        Err(refusal) => {
            let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_REQUEST);
            return text(status, refusal.message);
        }
    };
    let format = negotiate(header_str(header::ACCEPT.as_str()));
    match state.source.render_target(&kms, format) {
        Some(body) => {
            let mut response = respond(StatusCode::OK, format.content_type(), body);
            response
                .headers_mut()
                .insert(header::VARY, HeaderValue::from_static("Accept"));
            response
        }
        // Expired between the probe and the render: rare, and the next scrape starts it again.
        None => plain(StatusCode::SERVICE_UNAVAILABLE, "Target stopped meanwhile"),
    }
}

/// A plain-text answer of a message made at run time.
fn text(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    respond(
        status,
        "text/plain; charset=utf-8",
        Bytes::from(message + "\n"),
    )
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
