//! The fault proxy: a WebSocket proxy between the exporter and a KMS (the simulator) that a test
//! commands to misbehave the way a network or a sick KMS does:
//!
//! - [`FaultProxy::stall`]: KMS goes silent with its sockets open (a hung process, a half-open
//!   connection). Frames in both directions are swallowed; a new TCP connection is accepted but
//!   its WebSocket handshake is never answered. [`FaultProxy::resume`] ends it, and resets the
//!   connections accepted meanwhile (as a restarted KMS would), so clients retry at once.
//! - [`FaultProxy::drop_connections`]: every open connection is closed at once, without a close
//!   handshake (a crash or a reset).
//! - [`FaultProxy::inject`]: a frame of the test's choosing (garbage, a huge frame) is sent to the
//!   exporter on every open connection, ahead of whatever KMS sends next.
//!
//! Everything is loopback and ports are ephemeral. Each connection handles a command before any
//! frame it forwards after the command was given. Tests wait for accepted connections with
//! [`FaultProxy::wait_accepted`] instead of polling.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Stall,
}

/// A command for every open connection.
#[derive(Debug, Clone)]
enum Command {
    Drop,
    /// Ends the connections held unanswered by a stall.
    ReleaseHeld,
    Inject(Message),
}

struct Shared {
    mode: watch::Sender<Mode>,
    commands: broadcast::Sender<Command>,
    upstream: String,
    /// TCP connections accepted so far (handshaken or not).
    accepted: watch::Sender<u64>,
    /// Connections whose WebSocket handshake completed and whose upstream is open.
    open: AtomicU64,
    /// Frames from the exporter swallowed by a stall: requests KMS will never answer.
    swallowed: watch::Sender<u64>,
}

/// A running fault proxy; stops when dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
    url: String,
    accept_task: JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        let _ = self.shared.commands.send(Command::Drop);
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards every connection to `upstream` (a `ws://` URL).
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/kurento", listener.local_addr().unwrap());
        let (commands, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            mode: watch::Sender::new(Mode::Forward),
            commands,
            upstream: upstream.to_owned(),
            accepted: watch::Sender::new(0),
            open: AtomicU64::new(0),
            swallowed: watch::Sender::new(0),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy {
            shared,
            url,
            accept_task,
        }
    }

    /// The URL to give the exporter instead of KMS's.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// KMS goes silent: nothing is forwarded either way, new handshakes are never answered.
    pub fn stall(&self) {
        self.shared.mode.send_replace(Mode::Stall);
    }

    /// Traffic flows again (frames swallowed meanwhile stay lost, as with a hung KMS whose
    /// requests were never served). Connections accepted during the stall stay unanswered.
    pub fn resume(&self) {
        self.shared.mode.send_replace(Mode::Forward);
        let _ = self.shared.commands.send(Command::ReleaseHeld);
    }

    /// Closes every open connection abruptly (no close handshake).
    pub fn drop_connections(&self) {
        let _ = self.shared.commands.send(Command::Drop);
    }

    /// Sends `frame` to the exporter on every open connection.
    pub fn inject(&self, frame: Message) {
        let _ = self.shared.commands.send(Command::Inject(frame));
    }

    /// TCP connections accepted so far.
    pub fn accepted(&self) -> u64 {
        *self.shared.accepted.borrow()
    }

    /// Waits until at least `n` TCP connections have been accepted in all.
    pub async fn wait_accepted(&self, n: u64) {
        let mut accepted = self.shared.accepted.subscribe();
        let _ = accepted.wait_for(|count| *count >= n).await;
    }

    /// Waits until at least `n` frames from the exporter have been swallowed by stalls in all:
    /// from then on the exporter waits for a reply that will never come.
    pub async fn wait_swallowed(&self, n: u64) {
        let mut swallowed = self.shared.swallowed.subscribe();
        let _ = swallowed.wait_for(|count| *count >= n).await;
    }

    /// Connections currently open end to end.
    pub fn open_connections(&self) -> u64 {
        self.shared.open.load(Ordering::SeqCst)
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            return;
        };
        shared.accepted.send_modify(|count| *count += 1);
        // Subscribed before the task starts, so no command given from now on is missed.
        let commands = shared.commands.subscribe();
        let stalled = *shared.mode.borrow() == Mode::Stall;
        let shared = shared.clone();
        tokio::spawn(async move {
            if stalled {
                hold_unanswered(tcp, commands).await;
            } else {
                proxy(tcp, &shared, commands).await;
            }
        });
    }
}

/// Keeps a connection accepted during a stall open and silent until a drop command.
async fn hold_unanswered(tcp: TcpStream, mut commands: broadcast::Receiver<Command>) {
    while let Ok(command) = commands.recv().await {
        if let Command::Drop | Command::ReleaseHeld = command {
            break;
        }
    }
    drop(tcp);
}

/// Frames up to the exporter's own cap (16 MiB) pass both ways; a test injects larger ones.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(64 << 20))
        .max_message_size(Some(64 << 20))
}

async fn proxy(tcp: TcpStream, shared: &Shared, mut commands: broadcast::Receiver<Command>) {
    let mut mode = shared.mode.subscribe();
    let Ok(mut client) = tokio_tungstenite::accept_async_with_config(tcp, Some(config())).await
    else {
        return;
    };
    let Ok((mut upstream, _)) =
        tokio_tungstenite::connect_async_with_config(&shared.upstream, Some(config()), true).await
    else {
        return;
    };
    shared.open.fetch_add(1, Ordering::SeqCst);
    loop {
        let forwarding = *mode.borrow_and_update() == Mode::Forward;
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Ok(Command::Drop) | Err(broadcast::error::RecvError::Closed) => break,
                Ok(Command::ReleaseHeld) => {}
                Ok(Command::Inject(frame)) => {
                    if client.send(frame).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
            },
            changed = mode.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            message = client.next() => match message {
                Some(Ok(message)) => {
                    if !forwarding {
                        shared.swallowed.send_modify(|count| *count += 1);
                    } else if upstream.send(message).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
            message = upstream.next() => match message {
                Some(Ok(message)) => {
                    if forwarding && client.send(message).await.is_err() {
                        break;
                    }
                }
                _ => break,
            },
        }
    }
    shared.open.fetch_sub(1, Ordering::SeqCst);
}
