//! One JSON-RPC connection to KMS.
//!
//! A single tokio task owns the WebSocket. Callers hold a cheap [`Connection`] handle: a call
//! registers a oneshot under a fresh request id in the shared pending map, queues its frame for the
//! task, and waits for the reply with a timeout. The task matches replies by id (so replies may
//! arrive in any order), forwards `onEvent` notifications to an event channel, pings KMS, and when
//! the socket goes away fails every pending call at once with why it went away
//! ([`Connection::close_reason`]). A reply that cannot be decoded fails its call at once (matched
//! by id where the frame allows) instead of leaving it to time out.
//!
//! The task logs at debug only: the poller logs a lost KMS once, with the close reason. The one
//! exception is undecodable frames, logged at most once a minute per connection
//! (`bad_frames`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::kurento::bad_frames::{self, BadFrames, Verdict};
use crate::kurento::deadline;
use crate::kurento::redact::redact_url;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_util::sync::CancellationToken;

use super::protocol::{self, Event, RawIncoming, Request, RpcError};

/// What the WebSocket reads from the socket at a time. It also bounds what is left of a large
/// frame's buffer after the frame (tungstenite reserves the frame's length on top of what it has
/// already read), which is the traffic it takes to release that buffer (see `SocketTask::pump`).
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Tuning of one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientOptions {
    /// How long a call waits for its reply.
    pub call_timeout: Duration,
    /// How long opening the WebSocket (TCP, TLS and HTTP upgrade) may take.
    pub connect_timeout: Duration,
    /// Interval of the JSON-RPC `ping` keepalive; zero disables it.
    pub ping_interval: Duration,
    /// Largest frame/message accepted from KMS; a bigger one closes the connection.
    pub max_frame_bytes: usize,
    /// Calls allowed in flight at once; one more fails with [`ClientError::Overloaded`].
    pub max_pending: usize,
    /// Events buffered for a slow consumer; overflowing closes the connection (rather than
    /// silently losing inventory events or stalling replies).
    pub event_buffer: usize,
    /// PEM file with the CA certificate(s) that sign KMS's `wss://` certificate. When set, only
    /// these roots are trusted; otherwise the bundled WebPKI roots are.
    pub tls_ca_file: Option<PathBuf>,
    /// Accept any `wss://` server certificate. For lab use only.
    pub tls_insecure_skip_verify: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            max_frame_bytes: 16 * 1024 * 1024,
            max_pending: 1024,
            event_buffer: 4096,
            tls_ca_file: None,
            tls_insecure_skip_verify: false,
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// The connection could not be opened. Carries the URL without credentials or query.
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("`{method}` got no reply in time")]
    Timeout { method: String },
    #[error("connection to KMS closed")]
    Disconnected,
    #[error("too many calls in flight")]
    Overloaded,
    #[error(transparent)]
    Rpc(RpcError),
    #[error("unexpected reply: {0}")]
    Decode(String),
}

/// Process-wide request id source. KMS caches replies by (session, id) for 20 s
/// (docs/kms-protocol.md §1), so ids are never reused, even across connections and reconnects.
#[derive(Debug)]
pub struct RequestIds(AtomicU64);

impl RequestIds {
    pub fn new() -> Self {
        RequestIds(AtomicU64::new(1))
    }

    pub fn next_id(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

impl Default for RequestIds {
    fn default() -> Self {
        Self::new()
    }
}

/// Counts request frames sent (pings included); shared by every connection of one target.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    count: Arc<AtomicU64>,
    /// What [`RequestCounter::get`] leaves out: the count when this view was taken.
    base: u64,
}

impl RequestCounter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The requests counted through this counter (or any clone) since this view was taken.
    pub fn get(&self) -> u64 {
        self.count.load(Ordering::Relaxed).saturating_sub(self.base)
    }

    /// The same counter, counting from now: a poller restarted with its counts carried over
    /// must not count again what its predecessor published.
    pub fn from_now(&self) -> RequestCounter {
        RequestCounter {
            count: self.count.clone(),
            base: self.count.load(Ordering::Relaxed),
        }
    }

    fn increment(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

type Reply = Result<ResultText, ClientError>;

/// A reply's `result` as JSON text.
#[derive(Debug)]
pub enum ResultText {
    /// Cut out of its frame by the full decoder.
    Decoded(Box<RawValue>),
    /// Still in its frame, which has KMS's layout ([`protocol::kms_reply_layout`]): not parsed
    /// yet, so that a large reply is parsed once, by the one who reads it, and not copied.
    InFrame {
        frame: Utf8Bytes,
        range: std::ops::Range<usize>,
    },
}

impl ResultText {
    /// The result's text; when still in its frame, not yet known to be JSON.
    pub fn text(&self) -> &str {
        match self {
            ResultText::Decoded(raw) => raw.get(),
            ResultText::InFrame { frame, range } => frame.as_str().get(range.clone()).unwrap_or(""),
        }
    }

    /// The result as checked JSON text. A result in its frame that does not parse sends the whole
    /// frame through the full decoder, as any other frame (which names the problem).
    pub fn into_raw(self) -> Result<Box<RawValue>, ClientError> {
        let (frame, range) = match self {
            ResultText::Decoded(raw) => return Ok(raw),
            ResultText::InFrame { frame, range } => (frame, range),
        };
        if let Some(Ok(raw)) = frame.as_str().get(range).map(serde_json::from_str) {
            return Ok(raw);
        }
        match protocol::decode_incoming_raw(frame.as_str()) {
            Ok(RawIncoming::Response { outcome, .. }) => outcome.map_err(ClientError::Rpc),
            Ok(RawIncoming::Notification { .. }) => Err(ClientError::Decode(
                "a notification in place of a reply".to_owned(),
            )),
            Err(e) => Err(ClientError::Decode(format!("undecodable reply: {e}"))),
        }
    }
}

struct State {
    /// Why the connection closed, once it has (the first reason wins).
    closed: Option<ClientError>,
    pending: foldhash::HashMap<u64, oneshot::Sender<Reply>>,
}

struct Shared {
    state: Mutex<State>,
    closed: CancellationToken,
    ids: Arc<RequestIds>,
    garbage_frames: AtomicU64,
    unmatched_replies: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks the connection gone because of `reason` (unless it already is) and fails every
    /// pending call with the reason it closed for.
    fn shut_down(&self, reason: ClientError) {
        let (reason, pending) = {
            let mut state = self.lock();
            let reason = state.closed.get_or_insert(reason).clone();
            (reason, std::mem::take(&mut state.pending))
        };
        for (_, tx) in pending {
            let _ = tx.send(Err(reason.clone()));
        }
        self.closed.cancel();
    }

    /// Fails the pending call `id`, if there is one; returns whether there was.
    fn fail(&self, id: u64, error: ClientError) -> bool {
        let waiter = self.lock().pending.remove(&id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(Err(error));
                true
            }
            None => false,
        }
    }
}

/// Removes a call's pending entry when the call ends in any way (reply, timeout, drop).
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(&self.id);
    }
}

/// A handle on one KMS connection. Cloning is cheap; the socket closes when every handle is
/// dropped, when [`Connection::close`] is called, or when KMS goes away.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    outgoing: mpsc::Sender<String>,
    max_pending: usize,
    call_timeout: Duration,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("closed", &self.is_closed())
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl Connection {
    /// Opens a WebSocket to `url` (`ws://` or `wss://`) and starts its task. The event receiver
    /// yields decoded `onEvent` notifications and ends when the connection closes.
    pub async fn open(
        url: &str,
        opts: &ClientOptions,
        ids: Arc<RequestIds>,
        requests: RequestCounter,
    ) -> Result<(Connection, mpsc::Receiver<Event>), ClientError> {
        let shown = redact_url(url);
        let connector = tls::connector(url, opts)
            .map_err(|cause| ClientError::Connect(format!("{shown}: {cause}")))?;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_frame_size(Some(opts.max_frame_bytes))
            .max_message_size(Some(opts.max_frame_bytes));
        let connecting =
            tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, connector);
        let (ws, _response) = match tokio::time::timeout(opts.connect_timeout, connecting).await {
            Ok(Ok(done)) => done,
            Ok(Err(e)) => return Err(ClientError::Connect(format!("{shown}: {e}"))),
            Err(_) => {
                return Err(ClientError::Connect(format!(
                    "{shown}: no answer within {}",
                    humantime::format_duration(opts.connect_timeout)
                )));
            }
        };

        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                closed: None,
                pending: foldhash::HashMap::default(),
            }),
            closed: CancellationToken::new(),
            ids,
            garbage_frames: AtomicU64::new(0),
            unmatched_replies: AtomicU64::new(0),
        });
        let max_pending = opts.max_pending.max(1);
        let (outgoing, outgoing_rx) = mpsc::channel(max_pending);
        let (events_tx, events_rx) = mpsc::channel(opts.event_buffer.max(1));
        let task = SocketTask {
            shared: shared.clone(),
            requests,
            events: events_tx,
            ping_interval: opts.ping_interval,
            ping_timeout: opts.call_timeout,
            url: shown,
            bad_frames: BadFrames::default(),
        };
        tokio::spawn(task.run(ws, outgoing_rx));
        Ok((
            Connection {
                shared,
                outgoing,
                max_pending,
                call_timeout: opts.call_timeout,
            },
            events_rx,
        ))
    }

    /// Calls `method` and returns the reply's `result` (a KMS error reply is
    /// [`ClientError::Rpc`]). `Value::Null` params are left out of the frame, as kurento-client
    /// sends `connect` and `ping`.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.call_with_timeout(method, params, self.call_timeout)
            .await
    }

    /// Like [`Connection::call`], returning the `result` as JSON text, for callers that decode
    /// it with typed structs (large replies: no `Value` tree is built).
    pub async fn call_raw(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Box<RawValue>, ClientError> {
        self.call_raw_with_timeout(method, params, self.call_timeout)
            .await
    }

    /// Like [`Connection::call`] with an explicit timeout (for calls that take long on purpose,
    /// such as `getUsedCpu`).
    pub async fn call_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        self.call_raw_with_timeout(method, params, timeout)
            .await
            .map(|raw| protocol::raw_to_value(&raw))
    }

    /// Like [`Connection::call_with_timeout`], returning the `result` as JSON text.
    pub async fn call_raw_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Box<RawValue>, ClientError> {
        self.call_frame(method, timeout, |id| encode_request(id, method, params))
            .await
            .and_then(ResultText::into_raw)
    }

    /// Like [`Connection::call_raw`] with `params` already encoded (large requests are written
    /// straight from typed data, without building a `Value` tree), and the result possibly still
    /// in its frame (large replies are parsed once, by the caller). `params` must be JSON text
    /// written by an encoder of this crate: it is sent as it is, not parsed again.
    pub async fn call_encoded(
        &self,
        method: &str,
        params: &str,
    ) -> Result<ResultText, ClientError> {
        self.call_frame(method, self.call_timeout, |id| {
            Ok(encode_request_raw(id, method, params))
        })
        .await
    }

    /// Sends the frame `encode` builds for a fresh request id and waits for its reply.
    async fn call_frame(
        &self,
        method: &str,
        timeout: Duration,
        encode: impl FnOnce(u64) -> Result<String, ClientError>,
    ) -> Result<ResultText, ClientError> {
        let id = self.shared.ids.next_id();
        let frame = encode(id)?;
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.shared.lock();
            if state.closed.is_some() {
                return Err(ClientError::Disconnected);
            }
            if state.pending.len() >= self.max_pending {
                return Err(ClientError::Overloaded);
            }
            state.pending.insert(id, tx);
        }
        let _guard = PendingGuard {
            shared: &self.shared,
            id,
        };
        match self.outgoing.try_send(frame) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => return Err(ClientError::Overloaded),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(ClientError::Disconnected),
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(ClientError::Disconnected),
            Err(_) => Err(ClientError::Timeout {
                method: method.to_owned(),
            }),
        }
    }

    /// Calls currently waiting for a reply.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().pending.len()
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Resolves once the connection is gone.
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await
    }

    /// Closes the connection; pending calls fail with [`ClientError::Disconnected`].
    pub fn close(&self) {
        self.shared.shut_down(ClientError::Disconnected);
    }

    /// Why the connection closed (`None` while it is open): [`ClientError::Disconnected`] when
    /// the socket dropped or was closed here, [`ClientError::Timeout`] for an unanswered ping,
    /// [`ClientError::Decode`] when KMS sent too many undecodable frames,
    /// [`ClientError::Overloaded`] when the event consumer fell behind.
    pub fn close_reason(&self) -> Option<ClientError> {
        self.shared.lock().closed.clone()
    }

    /// Frames that could not be decoded (logged and skipped).
    pub fn garbage_frames(&self) -> u64 {
        self.shared.garbage_frames.load(Ordering::Relaxed)
    }

    /// Replies whose id matched no waiting call (late after a timeout, or unknown).
    pub fn unmatched_replies(&self) -> u64 {
        self.shared.unmatched_replies.load(Ordering::Relaxed)
    }
}

fn encode_request(id: u64, method: &str, params: Value) -> Result<String, ClientError> {
    let mut request = Request::new(id, method, Value::Null);
    request.params = (!params.is_null()).then_some(params);
    serde_json::to_string(&request)
        .map_err(|e| ClientError::Decode(format!("cannot encode `{method}` request: {e}")))
}

/// A request frame with pre-encoded params, byte for byte what [`encode_request`] writes.
fn encode_request_raw(id: u64, method: &str, params: &str) -> String {
    let method = Value::from(method).to_string();
    let mut frame = String::with_capacity(params.len() + method.len() + 64);
    frame.push_str("{\"jsonrpc\":\"2.0\",\"id\":");
    frame.push_str(itoa::Buffer::new().format(id));
    frame.push_str(",\"method\":");
    frame.push_str(&method);
    frame.push_str(",\"params\":");
    frame.push_str(params);
    frame.push('}');
    frame
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Why the socket task stopped, with the reason pending calls fail with.
enum Exit {
    /// Every handle was dropped, `close()` was called, or the exporter gave up on what KMS sends:
    /// close the socket politely.
    Local(ClientError),
    /// KMS closed, the socket failed, or the keepalive failed: nothing more to say to KMS.
    Remote(ClientError),
}

struct SocketTask {
    shared: Arc<Shared>,
    requests: RequestCounter,
    events: mpsc::Sender<Event>,
    ping_interval: Duration,
    ping_timeout: Duration,
    url: String,
    bad_frames: BadFrames,
}

impl SocketTask {
    async fn run(mut self, mut ws: Socket, mut outgoing: mpsc::Receiver<String>) {
        let exit = self.pump(&mut ws, &mut outgoing).await;
        let (reason, polite) = match exit {
            Exit::Local(reason) => (reason, true),
            Exit::Remote(reason) => (reason, false),
        };
        tracing::debug!(url = %self.url, reason = %reason, "KMS connection closed");
        // Fail pending calls before the (possibly slow) close handshake.
        self.shared.shut_down(reason);
        if polite {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
        }
    }

    async fn pump(&mut self, ws: &mut Socket, outgoing: &mut mpsc::Receiver<String>) -> Exit {
        let pinging = !self.ping_interval.is_zero();
        let mut next_ping = deadline::after(Instant::now(), self.ping_interval);
        // (id, deadline) of the unanswered keepalive ping.
        let mut ping: Option<(u64, Instant)> = None;
        // The last message received, kept until the next one has been read. Its payload shares
        // the WebSocket's read buffer, so when that buffer must grow or be refilled, it is not the
        // buffer's only owner and a new buffer of at most the next frame's size (or 16 KiB) is
        // allocated instead of the old one being reused. Without this, a 15 MiB frame left a
        // 15 MiB read buffer behind for the life of the connection (~100 MB over a few sockets);
        // with it, that buffer is freed once at most `READ_BUFFER_BYTES` more have been read on
        // the socket. (tungstenite 0.30 reads into a `BytesMut` and hands out frames split from
        // it; `BytesMut::reserve` reuses an allocation only when it is the sole owner.)
        let mut last_message: Option<Message> = None;
        loop {
            let ping_deadline = ping.map(|(_, deadline)| deadline);
            tokio::select! {
                _ = self.shared.closed.cancelled() => return Exit::Local(ClientError::Disconnected),
                frame = outgoing.recv() => {
                    let Some(frame) = frame else { return Exit::Local(ClientError::Disconnected) };
                    if let Err(e) = ws.send(Message::text(frame)).await {
                        tracing::debug!(url = %self.url, error = %e, "KMS socket write failed");
                        return Exit::Remote(ClientError::Disconnected);
                    }
                    self.requests.increment();
                }
                message = ws.next() => {
                    let message = match message {
                        Some(Ok(message)) => message,
                        Some(Err(e)) => {
                            // The poller reports the loss once per KMS; this is the detail.
                            tracing::debug!(url = %self.url, error = %e, "KMS socket read failed");
                            return Exit::Remote(ClientError::Disconnected);
                        }
                        None => return Exit::Remote(ClientError::Disconnected),
                    };
                    // Cheap: a message's payload is reference-counted. Replacing it drops the one
                    // before, whose buffer the read of this one has moved away from.
                    let _previous = last_message.replace(message.clone());
                    match self.on_message(message, &mut ping) {
                        Ok(()) => {}
                        Err(exit) => return exit,
                    }
                }
                _ = tokio::time::sleep_until(next_ping), if pinging && ping.is_none() => {
                    // Calls in flight already probe the socket (with their own timeouts), and a
                    // ping queued behind a slow call (getUsedCpu) would time out for no fault.
                    if !self.shared.lock().pending.is_empty() {
                        next_ping = deadline::after(Instant::now(), self.ping_interval);
                        continue;
                    }
                    let id = self.shared.ids.next_id();
                    let frame = match encode_request(id, "ping", Value::Null) {
                        Ok(frame) => frame,
                        Err(e) => return Exit::Local(e),
                    };
                    if let Err(e) = ws.send(Message::text(frame)).await {
                        tracing::debug!(url = %self.url, error = %e, "KMS socket write failed");
                        return Exit::Remote(ClientError::Disconnected);
                    }
                    self.requests.increment();
                    let now = Instant::now();
                    ping = Some((id, deadline::after(now, self.ping_timeout)));
                    next_ping = deadline::after(now, self.ping_interval);
                }
                _ = sleep_until_opt(ping_deadline) => {
                    return Exit::Remote(ClientError::Timeout { method: "ping".to_owned() });
                }
            }
        }
    }

    /// Handles one received message; `Err` ends the connection.
    fn on_message(
        &mut self,
        message: Message,
        ping: &mut Option<(u64, Instant)>,
    ) -> Result<(), Exit> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Err(Exit::Remote(ClientError::Disconnected)),
            Message::Ping(_) | Message::Pong(_) => return Ok(()),
            Message::Binary(_) | Message::Frame(_) => return self.garbage("binary frame"),
        };
        if let Some((id, range)) = protocol::kms_reply_layout(text.as_str()) {
            // A reply as KMS writes it: routed by its id without decoding it here. Should its
            // result not parse, its reader gets a decode error (`ResultText::into_raw`); it is
            // not counted among the undecodable frames that end a connection.
            if ping.is_some_and(|(ping_id, _)| ping_id == id) {
                *ping = None;
                return Ok(());
            }
            let outcome = ResultText::InFrame { frame: text, range };
            self.deliver(id, Ok(outcome));
            return Ok(());
        }
        match protocol::decode_incoming_raw(text.as_str()) {
            Ok(RawIncoming::Response {
                id: Some(id),
                outcome,
            }) => {
                if ping.is_some_and(|(ping_id, _)| ping_id == id) {
                    *ping = None;
                    if let Err(e) = outcome {
                        return Err(Exit::Remote(ClientError::Rpc(e)));
                    }
                    return Ok(());
                }
                self.deliver(
                    id,
                    outcome.map(ResultText::Decoded).map_err(ClientError::Rpc),
                );
            }
            Ok(RawIncoming::Response { id: None, outcome }) => {
                // An id written as a string still names the call it answers: fail it now.
                let failed = self.fail_calls(text.as_str(), ping, "reply id is not an integer");
                if !failed {
                    self.shared
                        .unmatched_replies
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(url = %self.url, ?outcome, "dropping reply without a usable id");
                }
            }
            Ok(RawIncoming::Notification { method, params }) => {
                if method != "onEvent" {
                    tracing::debug!(url = %self.url, %method, "ignoring notification");
                    return Ok(());
                }
                let Some(event) = Event::from_params(&params) else {
                    return self.garbage("malformed onEvent");
                };
                match self.events.try_send(event) {
                    Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(url = %self.url, "event consumer too slow; closing connection");
                        return Err(Exit::Local(ClientError::Overloaded));
                    }
                }
            }
            Err(e) => {
                let why = e.to_string();
                self.fail_calls(text.as_str(), ping, &why);
                return self.garbage(&why);
            }
        }
        Ok(())
    }

    /// Fails at once the calls an undecodable reply seems to answer (see
    /// [`protocol::reply_ids`]) with [`ClientError::Decode`]; a keepalive ping counts as answered
    /// (KMS is there). Returns whether any call or ping matched.
    /// Hands a reply to the call waiting for it, or counts it as unmatched.
    fn deliver(&self, id: u64, reply: Reply) {
        let waiter = self.shared.lock().pending.remove(&id);
        match waiter {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => {
                self.shared
                    .unmatched_replies
                    .fetch_add(1, Ordering::Relaxed);
                tracing::debug!(url = %self.url, id, "dropping reply to no waiting call (late or unknown)");
            }
        }
    }

    fn fail_calls(&self, text: &str, ping: &mut Option<(u64, Instant)>, why: &str) -> bool {
        let mut matched = false;
        for id in protocol::reply_ids(text) {
            if ping.is_some_and(|(ping_id, _)| ping_id == id) {
                *ping = None;
                matched = true;
            } else if self
                .shared
                .fail(id, ClientError::Decode(format!("undecodable reply: {why}")))
            {
                matched = true;
            }
        }
        matched
    }

    /// Counts a frame that could not be decoded, logs it (rate-limited), and ends the connection
    /// once there were too many.
    fn garbage(&mut self, why: &str) -> Result<(), Exit> {
        self.shared.garbage_frames.fetch_add(1, Ordering::Relaxed);
        match self.bad_frames.record(Instant::now()) {
            Verdict::Log { suppressed } => {
                tracing::warn!(
                    url = %self.url,
                    why,
                    not_logged_since_last = suppressed,
                    "ignoring undecodable frame from KMS (logged at most once a minute per connection)"
                );
                Ok(())
            }
            Verdict::Quiet => Ok(()),
            Verdict::Drop => Err(Exit::Local(ClientError::Decode(format!(
                "KMS sent more than {} undecodable frames; connection dropped",
                bad_frames::MAX_BAD_FRAMES
            )))),
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The rustls connector for `wss://` URLs.
mod tls {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::WebPkiSupportedAlgorithms;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
    use tokio_tungstenite::Connector;

    use super::ClientOptions;

    /// `None` (plain) for `ws://`; a rustls config for `wss://`.
    pub fn connector(url: &str, opts: &ClientOptions) -> Result<Option<Connector>, String> {
        let is_tls = url
            .get(..6)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss://"));
        if !is_tls {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let config = if opts.tls_insecure_skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
        } else {
            builder
                .with_root_certificates(roots(opts)?)
                .with_no_client_auth()
        };
        Ok(Some(Connector::Rustls(Arc::new(config))))
    }

    fn roots(opts: &ClientOptions) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        let Some(path) = &opts.tls_ca_file else {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            return Ok(roots);
        };
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read CA file {shown}: {e}"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("bad PEM in CA file {shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("CA file {shown} holds no certificate"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("bad certificate in CA file {shown}: {e}"))?;
        }
        Ok(roots)
    }

    /// `tls_insecure_skip_verify`: trusts any certificate but still checks handshake signatures.
    #[derive(Debug)]
    struct AcceptAnyCert(WebPkiSupportedAlgorithms);

    impl ServerCertVerifier for AcceptAnyCert {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_counter_view_counts_from_when_it_was_taken_and_shares_the_count() {
        let counter = RequestCounter::new();
        counter.increment();
        counter.increment();
        let view = counter.from_now();
        assert_eq!((counter.get(), view.get()), (2, 0));
        // Another user of the same counter (an SDP read) counts into every view.
        counter.clone().increment();
        view.increment();
        assert_eq!((counter.get(), view.get()), (4, 2));
    }

    #[test]
    fn requests_omit_null_params() {
        assert_eq!(
            encode_request(3, "connect", Value::Null).unwrap(),
            r#"{"jsonrpc":"2.0","id":3,"method":"connect"}"#
        );
        assert_eq!(
            encode_request(4, "ping", json!({})).unwrap(),
            r#"{"jsonrpc":"2.0","id":4,"method":"ping","params":{}}"#
        );
    }

    #[test]
    fn pre_encoded_params_make_the_same_frame() {
        let params = json!({"operations": [{"id": 0, "method": "invoke"}], "sessionId": "s"});
        assert_eq!(
            encode_request_raw(7, "transaction", &params.to_string()),
            encode_request(7, "transaction", params).unwrap()
        );
    }

    /// A reply in KMS's layout is handed over undecoded; its reader gets the result, or the
    /// full decoder's verdict when the result does not parse.
    #[test]
    fn results_left_in_their_frame_are_checked_when_read() {
        let in_frame = |text: &str| {
            let (_, range) = protocol::kms_reply_layout(text).expect("KMS's layout");
            ResultText::InFrame {
                frame: Utf8Bytes::from(text.to_owned()),
                range,
            }
        };
        let ok = in_frame(r#"{"id":4,"jsonrpc":"2.0","result":{"value":[1,2]}}"#);
        assert_eq!(ok.text(), r#"{"value":[1,2]}"#);
        assert_eq!(ok.into_raw().unwrap().get(), r#"{"value":[1,2]}"#);
        let broken = in_frame(r#"{"id":4,"jsonrpc":"2.0","result":[1,}"#);
        assert!(matches!(broken.into_raw(), Err(ClientError::Decode(_))));
        let decoded = ResultText::Decoded(RawValue::from_string("7".to_owned()).unwrap());
        assert_eq!(decoded.text(), "7");
        assert_eq!(decoded.into_raw().unwrap().get(), "7");
    }

    #[test]
    fn ids_start_at_one_and_increase() {
        let ids = RequestIds::new();
        assert_eq!((ids.next_id(), ids.next_id()), (1, 2));
    }

    #[test]
    fn defaults_are_sensible() {
        let opts = ClientOptions::default();
        assert_eq!(opts.call_timeout, Duration::from_secs(10));
        assert_eq!(opts.ping_interval, Duration::from_secs(30));
        assert_eq!(opts.max_frame_bytes, 16 * 1024 * 1024);
        assert_eq!(opts.max_pending, 1024);
    }
}
