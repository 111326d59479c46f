//! A few connections to one KMS. KMS serves one request at a time per socket (docs/kms-protocol.md
//! §1, §15), so reads spread over several sockets run in parallel on the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use super::client::{
    ClientError, ClientOptions, Connection, RequestCounter, RequestIds, ResultText,
};

#[derive(Debug)]
pub struct Pool {
    connections: Vec<Connection>,
    /// Where the search for the least busy connection starts, so ties rotate.
    cursor: AtomicUsize,
}

impl Pool {
    /// Opens `size` (at least one) connections to `url`. Their event receivers are dropped: the
    /// pool is for reads only.
    pub async fn open(
        url: &str,
        opts: &ClientOptions,
        size: usize,
        ids: Arc<RequestIds>,
        requests: RequestCounter,
    ) -> Result<Pool, ClientError> {
        let mut connections = Vec::with_capacity(size.max(1));
        for _ in 0..size.max(1) {
            let (connection, _events) =
                Connection::open(url, opts, ids.clone(), requests.clone()).await?;
            connections.push(connection);
        }
        Ok(Pool::from_connections(connections))
    }

    /// A pool of already open connections; an empty one fails every call with
    /// [`ClientError::Disconnected`] and reports itself closed.
    pub fn from_connections(connections: Vec<Connection>) -> Pool {
        Pool {
            connections,
            cursor: AtomicUsize::new(0),
        }
    }

    pub fn connections(&self) -> &[Connection] {
        &self.connections
    }

    /// The connection with the fewest calls in flight (ties rotate).
    pub fn pick(&self) -> Option<&Connection> {
        let n = self.connections.len();
        if n == 0 {
            return None;
        }
        let start = self.cursor.fetch_add(1, Ordering::Relaxed) % n;
        (0..n)
            .map(|i| &self.connections[(start + i) % n])
            .min_by_key(|c| c.in_flight())
    }

    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        match self.pick() {
            Some(connection) => connection.call(method, params).await,
            None => Err(ClientError::Disconnected),
        }
    }

    pub async fn call_encoded(
        &self,
        method: &str,
        params: &str,
    ) -> Result<ResultText, ClientError> {
        match self.pick() {
            Some(connection) => connection.call_encoded(method, params).await,
            None => Err(ClientError::Disconnected),
        }
    }

    pub async fn call_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, ClientError> {
        match self.pick() {
            Some(connection) => connection.call_with_timeout(method, params, timeout).await,
            None => Err(ClientError::Disconnected),
        }
    }

    /// True once any connection is gone: the pool is then broken as a whole and should be
    /// replaced (its session bookkeeping assumes every socket is alive).
    pub fn is_closed(&self) -> bool {
        self.connections.is_empty() || self.connections.iter().any(Connection::is_closed)
    }

    /// Why the first closed connection closed (`None` while every one is open).
    pub fn close_reason(&self) -> Option<ClientError> {
        self.connections.iter().find_map(Connection::close_reason)
    }

    /// Resolves when any connection is gone.
    pub async fn closed(&self) {
        if self.connections.is_empty() {
            return;
        }
        let all = self.connections.iter().map(|c| Box::pin(c.closed()));
        futures_util::future::select_all(all).await;
    }

    /// Closes every connection.
    pub fn close(&self) {
        self.connections.iter().for_each(Connection::close);
    }
}
