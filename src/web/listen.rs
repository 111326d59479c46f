//! Where the server listens: one or more TCP addresses (`--web.listen-address`, repeatable), or
//! the sockets systemd passes (`--web.systemd-socket`, socket activation).

use std::net::SocketAddr;

use tokio::net::TcpListener;

use super::server::HttpError;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// Bind these addresses (at least one).
    Addresses(Vec<SocketAddr>),
    /// Use the sockets systemd passed; the addresses are ignored, as in exporter-toolkit.
    SystemdSocket,
}

/// Opens the listeners for `listen`. Must run inside the runtime.
pub async fn open(listen: &Listen) -> Result<Vec<TcpListener>, HttpError> {
    match listen {
        Listen::Addresses(addrs) => bind_all(addrs).await,
        Listen::SystemdSocket => systemd_listeners(),
    }
}

/// Binds every address, in order; fails on the first that cannot be bound.
pub async fn bind_all(addrs: &[SocketAddr]) -> Result<Vec<TcpListener>, HttpError> {
    let mut listeners = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        listeners.push(super::server::bind(addr).await?);
    }
    Ok(listeners)
}

/// The TCP sockets passed by systemd socket activation (`LISTEN_FDS`, and `LISTEN_PID` when set),
/// made non-blocking for tokio. Must run inside the runtime.
pub fn systemd_listeners() -> Result<Vec<TcpListener>, HttpError> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut listeners = Vec::new();
    for index in 0..fds.len() {
        let listener = fds
            .take_tcp_listener(index)
            .map_err(|e| HttpError::SystemdSocket(format!("socket {index}: {e}")))?;
        let Some(listener) = listener else { continue };
        listener
            .set_nonblocking(true)
            .map_err(|e| HttpError::SystemdSocket(format!("socket {index}: {e}")))?;
        let listener = TcpListener::from_std(listener)
            .map_err(|e| HttpError::SystemdSocket(format!("socket {index}: {e}")))?;
        listeners.push(listener);
    }
    if listeners.is_empty() {
        return Err(HttpError::SystemdSocket(
            "no socket activation file descriptors found (LISTEN_FDS)".to_owned(),
        ));
    }
    Ok(listeners)
}
