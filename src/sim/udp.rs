//! The I/O shell of peers: one UDP socket per negotiated endpoint, bound on the media address.
//! Datagrams that arrive go to the world ([`World::peer_datagram`]); every
//! [`SEND_PERIOD_MS`] the endpoint sends what flows into it to the peer's address — the sender
//! of the datagrams, never a signalled candidate.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::peer::SEND_PERIOD_MS;
use super::world::{PeerPorts, World};

/// A socket bound for an endpoint, waiting for the server to serve it.
pub struct Opened {
    pub endpoint: String,
    pub socket: std::net::UdpSocket,
    pub cancel: CancellationToken,
}

/// Binds real sockets; each is served by a task the server spawns from [`Opened`].
#[derive(Debug)]
pub struct UdpPorts {
    ip: IpAddr,
    opened: mpsc::UnboundedSender<Opened>,
    open: HashMap<String, CancellationToken>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl UdpPorts {
    pub fn new(ip: IpAddr, opened: mpsc::UnboundedSender<Opened>) -> UdpPorts {
        UdpPorts {
            ip,
            opened,
            open: HashMap::new(),
        }
    }
}

impl PeerPorts for UdpPorts {
    fn open(&mut self, endpoint: &str) -> std::io::Result<SocketAddr> {
        let socket = std::net::UdpSocket::bind((self.ip, 0))?;
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let cancel = CancellationToken::new();
        self.open.insert(endpoint.to_owned(), cancel.clone());
        let opened = Opened {
            endpoint: endpoint.to_owned(),
            socket,
            cancel,
        };
        self.opened
            .send(opened)
            .map_err(|_| std::io::Error::other("the simulator is shutting down"))?;
        Ok(addr)
    }

    fn close(&mut self, endpoint: &str) {
        if let Some(cancel) = self.open.remove(endpoint) {
            cancel.cancel();
        }
    }
}

impl Drop for UdpPorts {
    /// A replaced world (a KMS restart) takes its sockets with it.
    fn drop(&mut self) {
        for cancel in self.open.values() {
            cancel.cancel();
        }
    }
}

/// What a peer task needs from the server.
pub trait PeerHost: Send + Sync + 'static {
    /// Runs `f` on the world at the current time, then delivers the events it emitted.
    fn with_world<T>(&self, f: impl FnOnce(&mut World, u64) -> T) -> T;
}

/// Serves one endpoint's socket until it is closed.
pub async fn serve_peer<H: PeerHost>(host: Arc<H>, opened: Opened) {
    let Opened {
        endpoint,
        socket,
        cancel,
    } = opened;
    let socket = match UdpSocket::from_std(socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(endpoint, error = %e, "cannot serve a media socket");
            return;
        }
    };
    let mut buf = vec![0u8; 65_536];
    let mut tick = tokio::time::interval(Duration::from_millis(SEND_PERIOD_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok((n, from)) => {
                    host.with_world(|w, now| w.peer_datagram(&endpoint, from, &buf[..n], now));
                }
                // ICMP port unreachable from an earlier send surfaces here; keep serving.
                Err(e) => tracing::debug!(endpoint, error = %e, "media socket receive error"),
            },
            _ = tick.tick() => {
                let outgoing = host.with_world(|w, now| w.packets_to_peer(&endpoint, now));
                if let Some((to, packets)) = outgoing {
                    for packet in packets {
                        if let Err(e) = socket.send_to(&packet, to).await {
                            tracing::debug!(endpoint, error = %e, "media socket send error");
                        }
                    }
                }
            }
        }
    }
}
