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

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::client::{ClientError, ClientOptions, Connection, RequestCounter, RequestIds};
use super::pool::Pool;
use super::protocol::{self, ManagerEvent, ObjectOnly, RpcError, SERVER_MANAGER, ServerInfo};

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

/// One `invoke` inside a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Shared, not copied per op (the poller reads each element with about ten ops per cycle).
    pub object: Arc<str>,
    pub operation: &'static str,
    /// The same few parameter sets every cycle (`{"mediaType":"AUDIO"}`…), built once.
    pub params: Option<&'static Value>,
}

/// The outcome of one op of a transaction: `None` when KMS stopped before it. A result is its
/// `value` as JSON text, for the caller to decode with typed structs.
pub type OpOutcome = Option<Result<Box<RawValue>, RpcError>>;

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
    /// `Some(Ok(value))`, `Some(Err(error))` (the failing one) or `None` (not run).
    pub async fn transaction(&self, ops: &[Op]) -> Result<Vec<OpOutcome>, KmsError> {
        let wrap = |e| KmsError::new("transaction", None, e);
        let params = serde_json::value::to_raw_value(&transaction_params(ops, &self.read_session))
            .map_err(|e| {
                wrap(ClientError::Decode(format!(
                    "cannot encode a transaction: {e}"
                )))
            })?;
        let reply = self
            .read
            .call_encoded("transaction", &params)
            .await
            .map_err(wrap)?;
        // One parse of the reply where it has KMS's layout (see `ResultText`).
        if let Some(outcomes) = decode_transaction_raw(reply.text(), ops.len()) {
            return Ok(outcomes);
        }
        let result = reply.into_raw().map_err(wrap)?;
        // Anything unusual: the `Value` decoder is the reference (and names the error).
        let responses = invoke_value(protocol::raw_to_value(&result)).map_err(wrap)?;
        decode_transaction(responses, ops.len()).map_err(wrap)
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

fn decode_err(expected: &str, got: &Value) -> ClientError {
    let mut shown = got.to_string();
    if shown.len() > 120 {
        let cut = (0..=120)
            .rev()
            .find(|i| shown.is_char_boundary(*i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push('…');
    }
    ClientError::Decode(format!("expected {expected}, got {shown}"))
}

fn decode_connect(result: &Value) -> Result<(String, String), ClientError> {
    let field = |name: &str| {
        result
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| decode_err(&format!("`{name}` in the connect result"), result))
    };
    Ok((field("serverId")?, field("sessionId")?))
}

/// The `value` of an `invoke` result (`{"sessionId":…,"value":…}`).
pub(super) fn invoke_value(mut result: Value) -> Result<Value, ClientError> {
    match result.get_mut("value") {
        Some(value) => Ok(value.take()),
        None => Err(decode_err("an invoke result with `value`", &result)),
    }
}

/// The per-operation outcomes of a `transaction` reply (`value` = the responses of the ops that
/// ran, in order; the last one may be an error).
fn decode_transaction(responses: Value, len: usize) -> Result<Vec<OpOutcome>, ClientError> {
    let Value::Array(list) = responses else {
        return Err(decode_err("a list of transaction responses", &responses));
    };
    let mut outcomes: Vec<OpOutcome> = vec![None; len];
    for mut response in list {
        let index = response
            .get("id")
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < len)
            .ok_or_else(|| decode_err("a transaction response with a valid id", &response))?;
        let outcome = if let Some(error) = response.get_mut("error").map(Value::take) {
            Err(serde_json::from_value::<RpcError>(error.clone())
                .map_err(|_| decode_err("a JSON-RPC error", &error))?)
        } else {
            let result = response
                .get_mut("result")
                .map(Value::take)
                .ok_or_else(|| decode_err("a result or an error", &response))?;
            Ok(protocol::to_raw(&invoke_value(result)?))
        };
        outcomes[index] = Some(outcome);
    }
    Ok(outcomes)
}

/// The params of a `transaction`, serialised as `json!` would write them (keys in order) but
/// without building a `Value` per op.
#[derive(Serialize)]
struct TransactionParams<'a> {
    operations: Vec<TransactionOp<'a>>,
    #[serde(rename = "sessionId")]
    session_id: &'a str,
}

#[derive(Serialize)]
struct TransactionOp<'a> {
    id: usize,
    jsonrpc: &'static str,
    method: &'static str,
    params: InvokeParams<'a>,
}

/// [`protocol::invoke_params`] as a struct.
#[derive(Serialize)]
struct InvokeParams<'a> {
    object: &'a str,
    operation: &'a str,
    #[serde(rename = "operationParams", skip_serializing_if = "Option::is_none")]
    operation_params: Option<&'a Value>,
    #[serde(rename = "sessionId")]
    session_id: &'a str,
}

fn transaction_params<'a>(ops: &'a [Op], session_id: &'a str) -> TransactionParams<'a> {
    let operations = ops
        .iter()
        .enumerate()
        .map(|(id, op)| TransactionOp {
            id,
            jsonrpc: "2.0",
            method: "invoke",
            params: InvokeParams {
                object: &op.object,
                operation: op.operation,
                operation_params: op.params,
                session_id,
            },
        })
        .collect();
    TransactionParams {
        operations,
        session_id,
    }
}

/// `{"sessionId":…,"value":…}` with `value` kept as JSON text.
#[derive(Deserialize)]
struct RawInvokeResult<'a> {
    #[serde(borrow, default, deserialize_with = "protocol::present")]
    value: Option<&'a RawValue>,
}

/// One response inside a `transaction` reply.
#[derive(Deserialize)]
struct RawOpResponse<'a> {
    #[serde(borrow, default, deserialize_with = "protocol::present")]
    id: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "protocol::present")]
    error: Option<&'a RawValue>,
    #[serde(borrow, default)]
    result: Option<ObjectOnly<RawInvokeResult<'a>>>,
}

#[derive(Deserialize)]
struct RawTransactionResult<'a> {
    #[serde(borrow, default)]
    value: Option<Vec<ObjectOnly<RawOpResponse<'a>>>>,
}

/// [`decode_transaction`] straight from the reply text, without building `Value`s; `None` when
/// the reply is not well formed (the caller then decodes it with [`decode_transaction`]).
fn decode_transaction_raw(result: &str, len: usize) -> Option<Vec<OpOutcome>> {
    let ObjectOnly(result) =
        serde_json::from_str::<ObjectOnly<RawTransactionResult>>(result).ok()?;
    let mut outcomes: Vec<OpOutcome> = vec![None; len];
    for ObjectOnly(response) in result.value? {
        let index = serde_json::from_str::<u64>(response.id?.get())
            .ok()
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < len)?;
        let outcome = match response.error {
            Some(error) => Err(serde_json::from_str::<RpcError>(error.get()).ok()?),
            None => Ok(response.result?.0.value?.to_owned()),
        };
        outcomes[index] = Some(outcome);
    }
    Some(outcomes)
}

/// A list of object ids; `null` is an empty list.
fn decode_ids(value: &Value) -> Result<Vec<String>, ClientError> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| decode_err("a list of ids", value))
            })
            .collect(),
        _ => Err(decode_err("a list of ids", value)),
    }
}

pub(super) fn decode_string(value: &Value) -> Result<String, ClientError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| decode_err("a string", value))
}

fn decode_integer(value: &Value) -> Result<i64, ClientError> {
    protocol::integer(value).ok_or_else(|| decode_err("an integer", value))
}

fn decode_number(value: &Value) -> Result<f64, ClientError> {
    protocol::number(value).ok_or_else(|| decode_err("a number", value))
}

/// `getInfo`, tolerating `null` members (treated as absent).
fn decode_info(mut value: Value) -> Result<ServerInfo, ClientError> {
    if let Value::Object(fields) = &mut value {
        fields.retain(|_, v| !v.is_null());
    }
    serde_json::from_value::<ServerInfo>(value.clone())
        .map_err(|e| decode_err(&format!("a ServerInfo ({e})"), &value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn invoke_value_takes_value_even_when_null() {
        let cases = [
            (json!({"sessionId":"s","value":[1]}), Some(json!([1]))),
            (json!({"sessionId":"s","value":null}), Some(Value::Null)),
            (json!({"sessionId":"s"}), None),
            (json!(null), None),
        ];
        for (result, expected) in cases {
            assert_eq!(invoke_value(result.clone()).ok(), expected, "{result}");
        }
    }

    #[test]
    fn transaction_replies_stop_at_the_first_failure() {
        let reply = json!([
            {"id":0,"jsonrpc":"2.0","result":{"sessionId":"s","value":"CONNECTED"}},
            {"id":1,"jsonrpc":"2.0","error":{"code":40101,"data":{"type":"MEDIA_OBJECT_NOT_FOUND"},"message":"Object 'x' not found"}}
        ]);
        let text = json!({"sessionId": "s", "value": reply.clone()}).to_string();
        let raw = RawValue::from_string(text).unwrap();
        let fast = decode_transaction_raw(raw.get(), 3).unwrap();
        for outcomes in [decode_transaction(reply, 3).unwrap(), fast] {
            let value = outcomes[0].as_ref().unwrap().as_ref().unwrap();
            assert_eq!(protocol::raw_to_value(value), json!("CONNECTED"));
            assert_eq!(
                outcomes[1].as_ref().unwrap().as_ref().unwrap_err().code,
                40101
            );
            assert!(outcomes[2].is_none());
        }
        assert!(matches!(
            decode_transaction(json!([{"id":5,"result":{"value":1}}]), 3).unwrap_err(),
            ClientError::Decode(_)
        ));
        assert!(matches!(
            decode_transaction(json!(null), 1).unwrap_err(),
            ClientError::Decode(_)
        ));
    }

    #[test]
    fn raw_transaction_decoding_leaves_malformed_replies_to_the_value_decoder() {
        let malformed = [
            r#"{"value":[{"id":5,"result":{"value":1}}]}"#,
            r#"{"value":[{"id":-1,"result":{"value":1}}]}"#,
            r#"{"value":[{"result":{"value":1}}]}"#,
            r#"{"value":[{"id":0,"result":null}]}"#,
            r#"{"value":[{"id":0,"result":{"sessionId":"s"}}]}"#,
            r#"{"value":[{"id":0,"result":[1]}]}"#,
            r#"{"value":[{"id":0,"error":null}]}"#,
            r#"{"value":[{"id":0}]}"#,
            r#"{"value":[[0,null,{"value":1}]]}"#,
            r#"{"value":null}"#,
            r#"{"value":{}}"#,
            r#"{"sessionId":"s"}"#,
            r#"[{"value":[]}]"#,
            r#"null"#,
        ];
        for text in malformed {
            let raw = RawValue::from_string(text.to_owned()).unwrap();
            assert!(decode_transaction_raw(raw.get(), 3).is_none(), "{text}");
            let value = protocol::raw_to_value(&raw);
            let slow = invoke_value(value).and_then(|v| decode_transaction(v, 3));
            assert!(
                matches!(slow.unwrap_err(), ClientError::Decode(_)),
                "{text}"
            );
        }
        let ok = RawValue::from_string(
            r#"{"sessionId":"s","value":[{"id":1,"result":{"value":null}},{"id":1,"result":{"value":{"a":[1]}}}]}"#
                .to_owned(),
        )
        .unwrap();
        let outcomes = decode_transaction_raw(ok.get(), 2).unwrap();
        assert!(outcomes[0].is_none());
        let value = outcomes[1].as_ref().unwrap().as_ref().unwrap();
        assert_eq!(
            value.get(),
            r#"{"a":[1]}"#,
            "the last duplicate wins, as text"
        );
    }

    #[test]
    fn transaction_params_are_written_as_json_values_would_be() {
        let ops = [
            Op {
                object: "P/E_kurento.WebRtcEndpoint".into(),
                operation: "getStats",
                params: Some(Box::leak(Box::new(json!({"mediaType": "AUDIO"})))),
            },
            Op {
                object: "P/E\"x".into(),
                operation: "getMediaState",
                params: None,
            },
        ];
        let operations: Vec<Value> = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                json!({
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": "invoke",
                    "params": protocol::invoke_params(
                        &op.object,
                        op.operation,
                        op.params.cloned(),
                        Some("s1"),
                    ),
                })
            })
            .collect();
        let expected = json!({ "operations": operations, "sessionId": "s1" });
        assert_eq!(
            serde_json::to_string(&transaction_params(&ops, "s1")).unwrap(),
            expected.to_string()
        );
    }

    #[test]
    fn decodes_id_lists() {
        assert_eq!(decode_ids(&json!(null)).unwrap(), Vec::<String>::new());
        assert_eq!(decode_ids(&json!(["a", "b"])).unwrap(), vec!["a", "b"]);
        assert!(matches!(
            decode_ids(&json!(["a", 1])).unwrap_err(),
            ClientError::Decode(_)
        ));
        assert!(matches!(
            decode_ids(&json!("a")).unwrap_err(),
            ClientError::Decode(_)
        ));
    }

    #[test]
    fn decodes_numbers_as_kms_prints_them() {
        let cases = [
            (json!(512000), Some(512000)),
            (json!(5.12e5), Some(512000)),
            (json!(512000.0), Some(512000)),
            (json!(1.5), None),
            (json!(null), None),
            (json!("512000"), None),
        ];
        for (value, expected) in cases {
            assert_eq!(decode_integer(&value).ok(), expected, "{value}");
        }
        assert_eq!(decode_number(&json!(0)).unwrap(), 0.0);
        assert_eq!(decode_number(&json!(153.5)).unwrap(), 153.5);
        assert!(decode_number(&json!(null)).is_err());
    }

    #[test]
    fn decodes_connect_result() {
        let ok = json!({"serverId":"srv","sessionId":"s1"});
        assert_eq!(
            decode_connect(&ok).unwrap(),
            ("srv".to_owned(), "s1".to_owned())
        );
        assert!(decode_connect(&json!({"sessionId":"s1"})).is_err());
        assert!(decode_connect(&json!(null)).is_err());
    }

    #[test]
    fn decodes_info_of_6x_7x_and_with_nulls() {
        let v7 = json!({"__module__":"kurento","__type__":"ServerInfo","capabilities":["transactions"],
            "modules":[{"__module__":"kurento","__type__":"ModuleInfo","factories":["MediaPipeline"],
            "generationTime":"Feb 27 2024 12:00:00","name":"core","version":"7.0.0"}],
            "type":"KMS","version":"7.0.0"});
        let info = decode_info(v7).unwrap();
        assert_eq!(info.version, "7.0.0");
        assert_eq!(info.modules[0].name, "core");
        let v6 =
            json!({"capabilities":["transactions"],"modules":[],"type":"KMS","version":"6.18.0"});
        assert_eq!(decode_info(v6).unwrap().version, "6.18.0");
        let nulls = json!({"modules":null,"type":null,"version":"6.9.0"});
        let info = decode_info(nulls).unwrap();
        assert_eq!(info.version, "6.9.0");
        assert!(info.modules.is_empty());
        assert!(matches!(
            decode_info(json!({"modules":[]})).unwrap_err(),
            ClientError::Decode(_)
        ));
    }

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

    #[test]
    fn long_bad_values_are_truncated_in_errors() {
        let big = Value::String("é".repeat(500));
        let ClientError::Decode(text) = decode_err("a number", &big) else {
            panic!("not a decode error")
        };
        assert!(text.chars().count() < 150, "{text}");
    }
}
