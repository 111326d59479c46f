//! The I/O shell: WebSocket server at `/kurento`, one task per connection serving one request at a
//! time, a clock task for keep-alive/GC/churn, restarts and fault injection.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

use super::fault::{Fault, LoggedRequest};
use super::media_types::RtpTotals;
use super::rpc;
use super::scenario::Scenario;
use super::udp::{self, Opened, PeerHost, UdpPorts};
use super::world::{ConnId, World};
use super::{SimError, SimOptions};

/// The WebSocket path KMS serves (`mediaServer.net.websocket.path`).
const PATH: &str = "/kurento";

/// A running simulated KMS.
pub struct Simulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: CancellationToken,
    accept_task: JoinHandle<()>,
    clock_task: JoinHandle<()>,
    peers_task: JoinHandle<()>,
}

/// What the simulator has served since it started (restarts included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServedStats {
    /// Frames served (each answered, or deliberately left unanswered by a fault).
    pub requests: u64,
    /// Operations charged `service_time`: 1 per frame, or per inner operation a `transaction`
    /// ran (at least 1). The serial lower bound of serving them is
    /// `operations × service_time / connections`.
    pub operations: u64,
}

struct Connection {
    tx: mpsc::UnboundedSender<Message>,
    /// Cancelled to drop the connection.
    cancel: CancellationToken,
    /// Cancelled by the connection task when it has ended.
    finished: CancellationToken,
}

struct Shared {
    world: Mutex<World>,
    connections: Mutex<HashMap<ConnId, Connection>>,
    scenario: Scenario,
    start: Instant,
    start_epoch_ms: u64,
    next_conn: AtomicU64,
    generation: AtomicU64,
    /// Wakes the clock task when the world was replaced or the media clock changed.
    world_replaced: Notify,
    requests: AtomicU64,
    operations: AtomicU64,
    /// Where worlds send the sockets they bind for negotiated endpoints.
    peer_sockets: mpsc::UnboundedSender<Opened>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PeerHost for Shared {
    fn with_world<T>(&self, f: impl FnOnce(&mut World, u64) -> T) -> T {
        let now = self.now_ms();
        let (out, frames, sooner) = {
            let mut world = self.world();
            let due = world.next_due_ms();
            let out = f(&mut world, now);
            let sooner = world.next_due_ms() < due;
            (out, std::mem::take(&mut world.outbox), sooner)
        };
        self.deliver(frames);
        if sooner {
            // The clock task sleeps until the old instant: wake it to wait for the new one.
            self.world_replaced.notify_one();
        }
        out
    }
}

/// A world for a fresh KMS process, its endpoints binding real UDP sockets.
fn new_world(
    scenario: &Scenario,
    now_ms: u64,
    generation: u64,
    peer_sockets: &mpsc::UnboundedSender<Opened>,
) -> World {
    let mut world = World::new(scenario, now_ms, generation);
    let ports = UdpPorts::new(scenario.peers.media_address, peer_sockets.clone());
    world.set_ports(Box::new(ports));
    world
}

impl Shared {
    /// Epoch milliseconds on tokio's clock (so paused time works).
    fn now_ms(&self) -> u64 {
        self.start_epoch_ms + self.start.elapsed().as_millis() as u64
    }

    fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    fn deliver(&self, frames: Vec<(ConnId, String)>) {
        if frames.is_empty() {
            return;
        }
        let connections = lock(&self.connections);
        for (conn, frame) in frames {
            if let Some(c) = connections.get(&conn) {
                let _ = c.tx.send(Message::text(frame));
            }
        }
    }

    /// Cancels every connection; returns tokens that complete when each task has ended.
    fn drop_all_connections(&self) -> Vec<CancellationToken> {
        let drained: Vec<Connection> = lock(&self.connections).drain().map(|(_, c)| c).collect();
        self.world().drop_all_bindings();
        drained
            .into_iter()
            .map(|c| {
                c.cancel.cancel();
                c.finished
            })
            .collect()
    }
}

impl Simulator {
    /// Binds `opts.listen` and serves `ws://addr/kurento` until [`Simulator::shutdown`].
    pub async fn start(opts: SimOptions) -> Result<Simulator, SimError> {
        let bind_error = |source| SimError::Bind {
            addr: opts.listen,
            source,
        };
        let listener = TcpListener::bind(opts.listen).await.map_err(bind_error)?;
        let mut addr = listener.local_addr().map_err(bind_error)?;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let start_epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let (peer_sockets, opened) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            world: Mutex::new(new_world(&opts.scenario, start_epoch_ms, 0, &peer_sockets)),
            connections: Mutex::new(HashMap::new()),
            scenario: opts.scenario,
            start: Instant::now(),
            start_epoch_ms,
            next_conn: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            world_replaced: Notify::new(),
            requests: AtomicU64::new(0),
            operations: AtomicU64::new(0),
            peer_sockets,
        });
        let stop = CancellationToken::new();
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone(), stop.clone()));
        let clock_task = tokio::spawn(clock_loop(shared.clone(), stop.clone()));
        let peers_task = tokio::spawn(peers_loop(shared.clone(), opened, stop.clone()));
        tracing::info!(%addr, "simulated KMS listening");
        Ok(Simulator {
            shared,
            addr,
            stop,
            accept_task,
            clock_task,
            peers_task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://HOST:PORT/kurento`.
    pub fn url(&self) -> String {
        format!("ws://{}{PATH}", self.addr)
    }

    /// Simulates a KMS restart: every connection is dropped, sessions are forgotten, a new
    /// `serverId` is drawn and the world is rebuilt from the scenario (with new ids). Keeps
    /// listening on the same port. Returns once every old connection task has ended.
    pub async fn restart(&self) {
        let generation = self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let finished = self.shared.drop_all_connections();
        {
            let now = self.shared.now_ms();
            let mut world = self.shared.world();
            let log = std::mem::take(&mut world.log);
            let clock = world.media_clock();
            let scenario = &self.shared.scenario;
            *world = new_world(scenario, now, generation, &self.shared.peer_sockets);
            world.log = log;
            world.set_media_clock(clock);
        }
        self.shared.world_replaced.notify_one();
        for f in finished {
            f.cancelled().await;
        }
    }

    /// Stops listening, drops every connection and waits for all tasks (the port is freed).
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let _ = (&mut self.accept_task).await;
        let _ = (&mut self.clock_task).await;
        let _ = (&mut self.peers_task).await;
    }

    pub fn object_exists(&self, id: &str) -> bool {
        self.shared.world().exists(id)
    }

    /// Every live object id (the ServerManager excluded), sorted.
    pub fn object_ids(&self) -> Vec<String> {
        self.shared.world().object_ids()
    }

    pub fn server_id(&self) -> String {
        self.shared.world().server_id.clone()
    }

    /// Every request served since start (restarts included), in order.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        self.shared.world().log.clone()
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.world().inject(fault);
    }

    /// Stops media time: every `getStats` returns the same cumulative values, flows and states
    /// stop changing, until [`Simulator::resume_media`]. Survives restarts.
    pub fn freeze_media(&self) {
        let now = self.shared.now_ms();
        self.shared.world().freeze_media(now);
        self.shared.world_replaced.notify_one();
    }

    /// Freezes media time at the instant the simulator's world was built, so that a scenario's
    /// stats are the same on every run (golden tests), whatever time has passed since.
    pub fn freeze_media_at_start(&self) {
        {
            let mut world = self.shared.world();
            let start = world.started_ms;
            world.freeze_media(start);
        }
        self.shared.world_replaced.notify_one();
    }

    /// Moves media time forward by `by` (typically while frozen) and delivers the media events
    /// (flow, transcoding, state changes) that became due.
    pub fn advance_media(&self, by: Duration) {
        self.with_world(|w, now| w.advance_media(by.as_millis() as u64, now));
        self.shared.world_replaced.notify_one();
    }

    /// Media time runs on with the wall clock, from where it stood.
    pub fn resume_media(&self) {
        let now = self.shared.now_ms();
        self.shared.world().resume_media(now);
        self.shared.world_replaced.notify_one();
    }

    /// Sums over every live BaseRtpEndpoint stream at the current media time, exactly what
    /// `getStats("AUDIO")` plus `getStats("VIDEO")` of every endpoint would report now. Keys:
    /// `("audio"|"video", "inbound"|"outbound")`, all four always present.
    pub fn rtp_totals(&self) -> BTreeMap<(String, String), RtpTotals> {
        let now = self.shared.now_ms();
        self.shared.world().rtp_totals(now)
    }

    /// An application releases `id` (and its subtree), as `release` would; events are delivered.
    pub fn release(&self, id: &str) {
        self.with_world(|w, now| w.release(id, now));
    }

    /// Requests and operations served since start (restarts included).
    pub fn served_stats(&self) -> ServedStats {
        ServedStats {
            requests: self.shared.requests.load(Ordering::SeqCst),
            operations: self.shared.operations.load(Ordering::SeqCst),
        }
    }

    /// Runs `f` on the world at the current time and delivers the events it emitted.
    fn with_world(&self, f: impl FnOnce(&mut World, u64)) {
        self.shared.with_world(|w, now| {
            f(w, now);
            w.settle(now);
        });
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    tasks.spawn(serve_connection(shared.clone(), stream, stop.child_token()));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
        }
    }
    drop(listener);
    shared.drop_all_connections();
    while tasks.join_next().await.is_some() {}
}

/// Serves the UDP socket of every endpoint the world negotiates until the simulator stops.
async fn peers_loop(
    shared: Arc<Shared>,
    mut opened: mpsc::UnboundedReceiver<Opened>,
    stop: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            Some(socket) = opened.recv() => {
                tasks.spawn(udp::serve_peer(shared.clone(), socket));
            }
        }
    }
    tasks.shutdown().await;
}

async fn clock_loop(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        let due = shared.world().next_due_ms();
        let now = shared.now_ms();
        if due > now {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = shared.world_replaced.notified() => continue,
                _ = tokio::time::sleep(Duration::from_millis(due - now)) => {}
            }
        }
        let frames = {
            let mut world = shared.world();
            world.advance(shared.now_ms());
            std::mem::take(&mut world.outbox)
        };
        shared.deliver(frames);
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, cancel: CancellationToken) {
    let mut path = String::new();
    // The callback signature is tungstenite's; its error type is theirs.
    #[allow(clippy::result_large_err)]
    let record_path = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, record_path).await else {
        return;
    };
    if path != PATH {
        // KMS accepts the handshake, then closes with a protocol error (the query is ignored).
        let frame = CloseFrame {
            code: CloseCode::Protocol,
            reason: "Invalid path".into(),
        };
        let _ = ws.close(Some(frame)).await;
        return;
    }
    let conn = shared.next_conn.fetch_add(1, Ordering::SeqCst) + 1;
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let finished = CancellationToken::new();
    let _finished_guard = finished.clone().drop_guard();
    lock(&shared.connections).insert(
        conn,
        Connection {
            tx: tx.clone(),
            cancel: cancel.clone(),
            finished,
        },
    );
    let (mut sink, mut source) = ws.split();
    let writer = async {
        while let Some(message) = rx.recv().await {
            if sink.send(message).await.is_err() {
                break;
            }
        }
    };
    // Frames are stamped as they arrive and served in order: a request queued behind others
    // starts when the connection is free, not when the server got round to reading it (timer
    // lateness would otherwise add up over a queue).
    let (frames_tx, mut frames_rx) = mpsc::unbounded_channel::<(Instant, String)>();
    let reader = async move {
        while let Some(Ok(message)) = source.next().await {
            // websocketpp hands KMS the payload whatever the opcode; old `ws` clients send binary.
            let text = match message {
                Message::Text(t) => t.to_string(),
                Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                Message::Close(_) => break,
                _ => continue,
            };
            if frames_tx.send((Instant::now(), text)).is_err() {
                break;
            }
        }
    };
    let server = async {
        let mut busy_until = Instant::now();
        while let Some((arrived, text)) = frames_rx.recv().await {
            if !serve_request(&shared, conn, &text, arrived, &tx, &mut busy_until).await {
                break;
            }
        }
    };
    // Requests read before the client went away are still served (the reader's end closes the
    // queue; the server drains it).
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = writer => {}
        _ = async { tokio::join!(reader, server) } => {}
    }
    lock(&shared.connections).remove(&conn);
    shared.world().connection_closed(conn);
}

/// The connection is busy until the work it was charged is done, counted from when the request
/// arrived (the simulator's own computing overlaps the simulated service time). Timers have
/// millisecond resolution, so shorter debts accumulate instead of sleeping: over many requests
/// the connection serves exactly one operation per `service_time`.
async fn wait_until_served(busy_until: &mut Instant, arrived: Instant, cost: Duration) {
    *busy_until = (*busy_until).max(arrived) + cost;
    if *busy_until >= Instant::now() + Duration::from_millis(1) {
        tokio::time::sleep_until(*busy_until).await;
    }
}

/// Serves one request: the world changes at once, the reply (then the events it caused) goes
/// out once the connection has spent the request's service time. Returns false when the
/// connection must end.
async fn serve_request(
    shared: &Shared,
    conn: ConnId,
    text: &str,
    arrived: Instant,
    tx: &mpsc::UnboundedSender<Message>,
    busy_until: &mut Instant,
) -> bool {
    let (served, frames, extra_ms) = {
        let mut world = shared.world();
        let served = rpc::serve_frame(&mut world, conn, text, shared.now_ms());
        (
            served,
            std::mem::take(&mut world.outbox),
            world.extra_delay_ms,
        )
    };
    if served.drop_connections {
        shared.drop_all_connections();
        return false;
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
    shared
        .operations
        .fetch_add(served.operations, Ordering::SeqCst);
    let service =
        shared.scenario.timing.service_time * served.operations.min(u32::MAX as u64) as u32;
    let cost = service + Duration::from_millis(extra_ms + served.delay_ms);
    wait_until_served(busy_until, arrived, cost).await;
    if served.garbage_first {
        let _ = tx.send(Message::text("\u{1}not json{"));
    }
    if let Some(reply) = served.reply {
        let _ = tx.send(Message::text(reply));
    }
    shared.deliver(frames);
    true
}
