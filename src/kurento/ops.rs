//! Typed KMS operations for the exporter. Knows KMS, not Prometheus.
//!
//! Sessions (docs/kms-protocol.md §5): the `ObjectCreated`/`ObjectDestroyed` subscriptions live
//! in a long-lived events session that only references `manager_ServerManager`; every read runs
//! in one explicit read session whose references [`Kms::end_cycle`] drops; `getUsedCpu` blocks its
//! socket, so it has a connection (and session) of its own. The only state-touching calls made
//! are `subscribe` on the manager and `closeSession {release:false}` of the read session.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::client::{ClientError, ClientOptions, Connection, RequestCounter, RequestIds};
use super::pool::Pool;
use super::protocol::{self, ManagerEvent, SERVER_MANAGER, ServerInfo};
use super::replies::{
    decode_connect, decode_err, decode_ids, decode_info, decode_integer, decode_number,
    decode_string, invoke_value,
};
use super::transaction::{self, Op, OpDecoder, OpOutcome};

/// Where and how to reach one KMS.
#[derive(Debug, Clone, PartialEq)]
pub struct KmsOptions {
    pub url: String,
    /// Size of the read pool (at least one).
    pub connections: usize,
    pub client: ClientOptions,
}

/// A failed KMS operation, with what was being done and on which object.
#[derive(Debug, Clone, PartialEq)]
pub struct KmsError {
    /// The KMS method or operation, e.g. `getChildren`.
    pub operation: String,
    /// The object it was invoked on (`None` for the ServerManager and session calls).
    pub object: Option<String>,
    pub source: ClientError,
}

impl KmsError {
    pub(super) fn new(operation: &str, object: Option<&str>, source: ClientError) -> Self {
        KmsError {
            operation: operation.to_owned(),
            object: object.map(str::to_owned),
            source,
        }
    }

    /// KMS answered 40101: the object was released (or is owned by nobody) meanwhile.
    pub fn is_object_not_found(&self) -> bool {
        matches!(&self.source, ClientError::Rpc(e) if e.is_object_not_found())
    }
}

impl fmt::Display for KmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(object) => write!(f, "KMS {} on {object}: {}", self.operation, self.source),
            None => write!(f, "KMS {}: {}", self.operation, self.source),
        }
    }
}

impl std::error::Error for KmsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// An open set of connections to one KMS.
#[derive(Debug)]
pub struct Kms {
    server_id: String,
    events: Connection,
    events_session: String,
    read: Pool,
    read_session: String,
    cpu: Connection,
    cpu_session: String,
    call_timeout: Duration,
}

impl Kms {
    /// Opens: an events connection (JSON-RPC `connect` with no params -> serverId + its own
    /// session; then `subscribe` ObjectCreated and ObjectDestroyed on manager_ServerManager in
    /// that session); a read pool of `connections` connections whose reads all carry one explicit
    /// read session id (obtained with `connect` on the first pool connection); and a separate CPU
    /// connection (own session from `connect`) used only for getUsedCpu.
    ///
    /// The receiver yields the manager's inventory events and ends when the events connection
    /// closes.
    pub async fn connect(
        opts: &KmsOptions,
        ids: Arc<RequestIds>,
        requests: RequestCounter,
    ) -> Result<(Kms, mpsc::Receiver<ManagerEvent>), KmsError> {
        let open_err = |what: &str| {
            let what = what.to_owned();
            move |e| KmsError::new(&what, None, e)
        };
        let (events, event_rx) =
            Connection::open(&opts.url, &opts.client, ids.clone(), requests.clone())
                .await
                .map_err(open_err("open events connection"))?;
        let (server_id, events_session) = session_connect(&events).await?;
        for event in ["ObjectCreated", "ObjectDestroyed"] {
            let params =
                json!({"object": SERVER_MANAGER, "type": event, "sessionId": events_session});
            events
                .call("subscribe", params)
                .await
                .map_err(|e| KmsError::new(&format!("subscribe {event}"), None, e))?;
        }

        let read = Pool::open(
            &opts.url,
            &opts.client,
            opts.connections,
            ids.clone(),
            requests.clone(),
        )
        .await
        .map_err(open_err("open read connections"))?;
        let first = read.connections().first().ok_or_else(|| {
            KmsError::new("open read connections", None, ClientError::Disconnected)
        })?;
        let (_, read_session) = session_connect(first).await?;

        let (cpu, _) = Connection::open(&opts.url, &opts.client, ids, requests)
            .await
            .map_err(open_err("open CPU connection"))?;
        let (_, cpu_session) = session_connect(&cpu).await?;

        let (tx, rx) = mpsc::channel(opts.client.event_buffer.max(1));
        tokio::spawn(forward_manager_events(event_rx, tx));

        let kms = Kms {
            server_id,
            events,
            events_session,
            read,
            read_session,
            cpu,
            cpu_session,
            call_timeout: opts.client.call_timeout,
        };
        Ok((kms, rx))
    }

    /// The KMS process id from `connect`; it changes when KMS restarts.
    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    /// The session id all reads carry.
    pub fn read_session(&self) -> &str {
        &self.read_session
    }

    /// The exporter's own session ids (to exclude from the session count).
    pub fn own_sessions(&self) -> BTreeSet<String> {
        [&self.events_session, &self.read_session, &self.cpu_session]
            .into_iter()
            .cloned()
            .collect()
    }

    pub async fn get_info(&self) -> Result<ServerInfo, KmsError> {
        let value = self.invoke(SERVER_MANAGER, "getInfo", None).await?;
        decode_info(value).map_err(|e| KmsError::new("getInfo", None, e))
    }

    /// Every pipeline id. Side effect in KMS: the pseudo-session `""` becomes an owner of every
    /// object for up to two GC periods (docs/kms-protocol.md §4) — call rarely.
    pub async fn get_pipelines(&self) -> Result<Vec<String>, KmsError> {
        let value = self.invoke(SERVER_MANAGER, "getPipelines", None).await?;
        decode_ids(&value).map_err(|e| KmsError::new("getPipelines", None, e))
    }

    pub async fn get_children(&self, id: &str) -> Result<Vec<String>, KmsError> {
        let value = self.invoke(id, "getChildren", None).await?;
        decode_ids(&value).map_err(|e| KmsError::new("getChildren", Some(id), e))
    }

    pub async fn get_name(&self, id: &str) -> Result<String, KmsError> {
        let value = self.invoke(id, "getName", None).await?;
        decode_string(&value).map_err(|e| KmsError::new("getName", Some(id), e))
    }

    /// Epoch seconds.
    pub async fn get_creation_time(&self, id: &str) -> Result<i64, KmsError> {
        let value = self.invoke(id, "getCreationTime", None).await?;
        decode_integer(&value).map_err(|e| KmsError::new("getCreationTime", Some(id), e))
    }

    /// Resident memory of KMS in KiB, as KMS reports it.
    pub async fn get_used_memory(&self) -> Result<u64, KmsError> {
        let value = self.invoke(SERVER_MANAGER, "getUsedMemory", None).await?;
        decode_integer(&value)
            .and_then(|kib| u64::try_from(kib).map_err(|_| decode_err("a count", &value)))
            .map_err(|e| KmsError::new("getUsedMemory", None, e))
    }

    pub async fn get_cpu_count(&self) -> Result<u32, KmsError> {
        let value = self.invoke(SERVER_MANAGER, "getCpuCount", None).await?;
        decode_integer(&value)
            .and_then(|n| u32::try_from(n).map_err(|_| decode_err("a CPU count", &value)))
            .map_err(|e| KmsError::new("getCpuCount", None, e))
    }

    /// Percent CPU of the KMS process over `interval`, htop-style (100 = one core). Runs on the
    /// CPU connection, which it blocks for `interval`; an interval under 1 ms is raised to 1 ms
    /// (KMS divides by the ticks elapsed).
    pub async fn get_used_cpu(&self, interval: Duration) -> Result<f64, KmsError> {
        let millis = u64::try_from(interval.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let params = protocol::invoke_params(
            SERVER_MANAGER,
            "getUsedCpu",
            Some(json!({ "interval": millis })),
            Some(&self.cpu_session),
        );
        // Saturating: the call must not panic whatever the configured durations.
        let timeout = self
            .call_timeout
            .saturating_add(Duration::from_millis(millis));
        let wrap = |e| KmsError::new("getUsedCpu", None, e);
        let result = self
            .cpu
            .call_with_timeout("invoke", params, timeout)
            .await
            .map_err(wrap)?;
        let value = invoke_value(result).map_err(wrap)?;
        decode_number(&value).map_err(wrap)
    }

    /// Distinct session ids KMS knows (padding and the `""` pseudo-session removed).
    pub async fn get_sessions(&self) -> Result<BTreeSet<String>, KmsError> {
        let value = self.invoke(SERVER_MANAGER, "getSessions", None).await?;
        Ok(protocol::distinct_sessions(&value))
    }

    /// Ends a poll cycle: drops every reference the read session took (`closeSession` with
    /// `release:false`), so the exporter never keeps alive an object KMS would collect.
    pub async fn end_cycle(&self) -> Result<(), KmsError> {
        let params = json!({ "sessionId": self.read_session, "release": false });
        self.read
            .call("closeSession", params)
            .await
            .map(drop)
            .map_err(|e| KmsError::new("closeSession", None, e))
    }

    /// [`Kms::end_cycle`] as a future that borrows nothing, for when KMS has stopped answering:
    /// the poller must not wait a whole timeout for it, yet the references should still be dropped
    /// if KMS answers late. The call holds a handle on one read socket until it ends (a reply, its
    /// timeout, or [`Kms::close`]).
    pub fn end_cycle_detached(
        &self,
    ) -> impl std::future::Future<Output = Result<(), KmsError>> + Send + 'static {
        let connection = self.read.pick().cloned();
        let params = json!({ "sessionId": self.read_session, "release": false });
        async move {
            let Some(connection) = connection else {
                return Err(KmsError::new(
                    "closeSession",
                    None,
                    ClientError::Disconnected,
                ));
            };
            connection
                .call("closeSession", params)
                .await
                .map(drop)
                .map_err(|e| KmsError::new("closeSession", None, e))
        }
    }

    /// Runs `ops` as one `transaction` on a read connection, in the read session: one round trip
    /// for many reads. KMS stops at the first failing operation, so the outcome of each op is
    /// `Some(Ok(value))` (its value as `decoder` decodes it), `Some(Err(error))` (the failing
    /// one) or `None` (not run).
    pub async fn transaction<O: OpDecoder>(
        &self,
        ops: &[Op],
        decoder: &O,
    ) -> Result<Vec<OpOutcome<O::Value>>, KmsError> {
        let wrap = |e| KmsError::new("transaction", None, e);
        let params = transaction::encode_params(ops, &self.read_session);
        let reply = self
            .read
            .call_encoded("transaction", &params)
            .await
            .map_err(wrap)?;
        transaction::decode_reply(reply, ops.len(), decoder).map_err(wrap)
    }

    /// True once any of the connections is gone; the whole `Kms` should then be replaced.
    pub fn is_closed(&self) -> bool {
        self.events.is_closed() || self.read.is_closed() || self.cpu.is_closed()
    }

    /// Why the connection to KMS is lost, once any socket closed: the first closed socket's
    /// reason (see [`Connection::close_reason`]), with which socket it was.
    pub fn close_reason(&self) -> Option<KmsError> {
        let events = self.events.close_reason().map(|e| ("events connection", e));
        let read = || self.read.close_reason().map(|e| ("read connection", e));
        let cpu = || self.cpu.close_reason().map(|e| ("CPU connection", e));
        let (socket, reason) = events.or_else(read).or_else(cpu)?;
        Some(KmsError::new(socket, None, reason))
    }

    /// Resolves when any of the connections is gone.
    pub async fn closed(&self) {
        tokio::select! {
            _ = self.events.closed() => {}
            _ = self.read.closed() => {}
            _ = self.cpu.closed() => {}
        }
    }

    /// Closes every connection.
    pub fn close(&self) {
        self.events.close();
        self.read.close();
        self.cpu.close();
    }

    async fn invoke(
        &self,
        object: &str,
        operation: &str,
        operation_params: Option<Value>,
    ) -> Result<Value, KmsError> {
        let shown = (object != SERVER_MANAGER).then_some(object);
        let params = protocol::invoke_params(
            object,
            operation,
            operation_params,
            Some(&self.read_session),
        );
        let result = self
            .read
            .call("invoke", params)
            .await
            .map_err(|e| KmsError::new(operation, shown, e))?;
        invoke_value(result).map_err(|e| KmsError::new(operation, shown, e))
    }
}

/// `connect` with no params on a fresh connection: (serverId, new session id).
pub(super) async fn session_connect(connection: &Connection) -> Result<(String, String), KmsError> {
    let wrap = |e| KmsError::new("connect", None, e);
    let result = connection
        .call("connect", Value::Null)
        .await
        .map_err(wrap)?;
    decode_connect(&result).map_err(wrap)
}

async fn forward_manager_events(
    mut events: mpsc::Receiver<protocol::Event>,
    tx: mpsc::Sender<ManagerEvent>,
) {
    while let Some(event) = events.recv().await {
        if event.object != SERVER_MANAGER {
            continue;
        }
        if let Some(manager_event) = ManagerEvent::from_event(&event)
            && tx.send(manager_event).await.is_err()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_context_and_source() {
        let err = KmsError::new(
            "getChildren",
            Some("P_kurento.MediaPipeline"),
            ClientError::Rpc(protocol::RpcError::kms(40101, "Object 'P' not found")),
        );
        assert!(err.is_object_not_found());
        assert!(matches!(err.source, ClientError::Rpc(_)));
        assert_eq!(
            err.to_string(),
            "KMS getChildren on P_kurento.MediaPipeline: KMS error 40101: Object 'P' not found"
        );
        let err = KmsError::new(
            "getInfo",
            None,
            ClientError::Timeout {
                method: "invoke".into(),
            },
        );
        assert!(!err.is_object_not_found());
        assert!(matches!(err.source, ClientError::Timeout { .. }));
        assert_eq!(
            err.to_string(),
            "KMS getInfo: `invoke` got no reply in time"
        );
    }
}
