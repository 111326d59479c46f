//! JSON-RPC over one text frame: decoding, session injection and binding, the server methods
//! and transactions (docs/kms-protocol.md §1, §6). Pure: works on a `World`, returns what to send.

use serde_json::{Map, Value, json};

use super::classes;
use super::classes::Kind;
use super::fault::{Fault, LoggedRequest};
use super::invoke::not_found;
use super::ops;
use super::world::{ConnId, World};
use crate::kurento::protocol::{Response, RpcError, codes};

/// What serving one frame produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Served {
    /// The frame to send back (`Some("")` for a `closeSession` notification); `None` for none.
    pub reply: Option<String>,
    /// Send a non-JSON frame before the reply.
    pub garbage_first: bool,
    /// Block the connection this long before replying (`getUsedCpu`).
    pub delay_ms: u64,
    /// Drop every connection instead of replying.
    pub drop_connections: bool,
    /// Operations this frame cost: 1, or the inner operations a `transaction` ran (at least 1).
    pub operations: u64,
}

impl World {
    /// Arms a fault (see [`Fault`]).
    pub fn inject(&mut self, fault: Fault) {
        match fault {
            Fault::DropConnectionsAfter { requests } => {
                self.drop_at_served = Some(self.served + requests)
            }
            Fault::SlowReplies { extra } => self.extra_delay_ms = extra.as_millis() as u64,
            other => self.faults.push(other),
        }
    }

    fn take_fault(&mut self, wanted: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let i = self.faults.iter().position(wanted)?;
        Some(self.faults.remove(i))
    }
}

fn server_error(message: impl Into<String>) -> RpcError {
    RpcError {
        code: codes::SERVER_ERROR,
        data: None,
        message: message.into(),
    }
}

fn jsonrpc_error(code: i64, message: &str) -> RpcError {
    RpcError {
        code,
        data: None,
        message: message.to_owned(),
    }
}

fn to_text(response: &Response) -> String {
    serde_json::to_string(response).unwrap_or_default()
}

/// Serves one text frame received on `conn`.
pub fn serve_frame(w: &mut World, conn: ConnId, text: &str, now_ms: u64) -> Served {
    if w.drop_at_served.is_some_and(|n| w.served >= n) {
        w.drop_at_served = None;
        return Served {
            drop_connections: true,
            ..Served::default()
        };
    }
    w.served += 1;
    let inner_before = w.inner_ops;
    let reply = serve_value(w, conn, text, now_ms);
    // Live elements' flows and peer states follow what the request changed (its events go out
    // after the reply).
    w.settle(now_ms);
    let mut served = Served {
        reply: reply.0,
        delay_ms: reply.1,
        operations: (w.inner_ops - inner_before).max(1),
        ..Served::default()
    };
    if w.take_fault(|f| *f == Fault::DropNextReply).is_some() {
        served.reply = None;
    }
    served.garbage_first = w
        .take_fault(|f| *f == Fault::GarbageBeforeNextReply)
        .is_some();
    served
}

fn serve_value(w: &mut World, conn: ConnId, text: &str, now_ms: u64) -> (Option<String>, u64) {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        let error = jsonrpc_error(codes::PARSE_ERROR, "Parse error.");
        return (Some(to_text(&Response::err(Value::Null, error))), 0);
    };
    let invalid = |id: Value| {
        let error = jsonrpc_error(codes::INVALID_REQUEST, "Invalid JSON-RPC request.");
        (Some(to_text(&Response::err(id, error))), 0)
    };
    let Value::Object(mut request) = value else {
        return invalid(Value::Null);
    };
    let id = request.remove("id");
    if matches!(id, Some(Value::Array(_) | Value::Object(_))) {
        return invalid(Value::Null);
    }
    let reply_id = id.clone().unwrap_or(Value::Null);
    if request.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(reply_id);
    }
    let Some(method) = request
        .get("method")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return invalid(reply_id);
    };
    let mut params = match request.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            let error = RpcError::kms(codes::INVALID_PARAMS, "'params' should be an object");
            return (Some(to_text(&Response::err(reply_id, error))), 0);
        }
    };
    // Session injection from the connection binding (docs/kms-protocol.md §3).
    if let Some(bound) = w.bound_session(conn).map(str::to_owned)
        && params.as_ref().is_none_or(|p| !p.contains_key("sessionId"))
    {
        params
            .get_or_insert_with(Map::new)
            .insert("sessionId".into(), bound.into());
    }
    let outcome = dispatch(w, conn, &method, params, false, now_ms);
    if let Ok((result, _)) = &outcome
        && let Some(session) = result.get("sessionId").and_then(Value::as_str)
    {
        let session = session.to_owned();
        w.bind(conn, &session);
    }
    let delay = outcome.as_ref().map(|(_, d)| *d).unwrap_or(0);
    let response = match (id, outcome) {
        (Some(id), Ok((result, _))) => Response::ok(id, result),
        (Some(id), Err(error)) => Response::err(id, error),
        (None, Ok(_)) if method == "closeSession" => return (Some(String::new()), delay),
        (None, Ok((result, _))) => Response::err(
            Value::Null,
            RpcError {
                code: codes::SERVER_ERROR,
                data: Some(result),
                message: "Ignoring response because of a notification request".into(),
            },
        ),
        (None, Err(error)) => Response::err(Value::Null, error),
    };
    (Some(to_text(&response)), delay)
}

/// The request's session: explicit (or injected) `sessionId`, else a new one.
fn session_or_new(w: &mut World, params: &Map<String, Value>) -> String {
    params
        .get("sessionId")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| w.rng.uuid())
}

fn required<'a>(params: &'a Map<String, Value>, name: &str) -> Result<&'a str, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Err(server_error(format!("'{name}' parameter is required"))),
        Some(v) => v
            .as_str()
            .ok_or_else(|| server_error(format!("'{name}' parameter should be a string"))),
    }
}

fn with_session(mut result: Map<String, Value>, session: &str) -> Value {
    result.insert("sessionId".into(), session.into());
    Value::Object(result)
}

/// `{"sessionId":…,"value":…}`, built by hand: `json!` would deep-copy `value` through serde.
fn value_result(value: Value, session: &str) -> Value {
    let mut result = Map::new();
    result.insert("sessionId".into(), session.into());
    result.insert("value".into(), value);
    Value::Object(result)
}

/// Runs one server method; returns the `result` and how long to block before replying.
fn dispatch(
    w: &mut World,
    conn: ConnId,
    method: &str,
    params: Option<Map<String, Value>>,
    in_transaction: bool,
    now_ms: u64,
) -> Result<(Value, u64), RpcError> {
    let has_params = params.is_some();
    let p = params.unwrap_or_default();
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
    if in_transaction {
        w.inner_ops += 1;
    }
    if w.scenario.server.log_requests {
        w.log.push(LoggedRequest {
            connection: conn,
            session: text("sessionId"),
            method: method.to_owned(),
            operation: (method == "invoke").then(|| text("operation")).flatten(),
            object: text("object").or_else(|| (method == "create").then(|| text("type")).flatten()),
            release: p.get("release").and_then(Value::as_bool).unwrap_or(false),
            in_transaction,
        });
    }
    let needs_params = !matches!(method, "ping" | "connect");
    if needs_params && !has_params && is_known(method) {
        return Err(RpcError::kms(codes::INVALID_PARAMS, "'params' is required"));
    }
    let ok = |v: Value| Ok((v, 0));
    match method {
        "ping" => {
            let mut result = Map::new();
            result.insert("value".into(), "pong".into());
            if let Some(s) = text("sessionId") {
                result.insert("sessionId".into(), s.into());
            }
            ok(Value::Object(result))
        }
        "connect" => {
            let session = match text("sessionId") {
                Some(s) if !w.keep_alive(&s) => {
                    return Err(RpcError::kms(codes::INVALID_SESSION, "Invalid session"));
                }
                Some(s) => s,
                None => w.rng.uuid(),
            };
            ok(json!({"serverId": w.server_id, "sessionId": session}))
        }
        "create" => create(w, &p, now_ms).map(|v| (v, 0)),
        "describe" => {
            let object = required(&p, "object")?;
            let session = session_or_new(w, &p);
            let class = w
                .resolve(&session, object)
                .ok_or_else(|| not_found(object))?;
            let mut result = Map::new();
            result.insert("hierarchy".into(), json!(class.hierarchy));
            result.insert("qualifiedType".into(), class.qualified().into());
            result.insert("type".into(), class.name.into());
            ok(with_session(result, &session))
        }
        "invoke" => {
            let object = required(&p, "object")?.to_owned();
            let operation = required(&p, "operation")?.to_owned();
            let op_params = match p.get("operationParams") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            let session = session_or_new(w, &p);
            if w.take_fault(
                |f| matches!(f, Fault::ReleaseBeforeInvoke { operation: o } if *o == operation),
            )
            .is_some()
            {
                w.release(&object, now_ms);
            }
            let class = w
                .resolve(&session, &object)
                .ok_or_else(|| not_found(&object))?;
            if let Some(Fault::FailNextInvoke { code, .. }) = w.take_fault(
                |f| matches!(f, Fault::FailNextInvoke { operation: o, .. } if *o == operation),
            ) {
                return Err(RpcError::kms(
                    code,
                    format!("Injected failure of '{operation}'"),
                ));
            }
            let outcome = ops::invoke(w, &session, class, &object, &operation, &op_params, now_ms)?;
            Ok((value_result(outcome.value, &session), outcome.delay_ms))
        }
        "subscribe" => {
            let object = required(&p, "object")?;
            let event = required(&p, "type")?;
            let session = session_or_new(w, &p);
            let class = w
                .resolve(&session, object)
                .ok_or_else(|| not_found(object))?;
            if !class.has_event(event, w.dialect()) {
                return Err(RpcError::kms(
                    codes::MEDIA_OBJECT_EVENT_NOT_SUPPORTED,
                    format!("Event '{event}' not supported"),
                ));
            }
            let subscription = w.subscribe(&session, object, event);
            ok(value_result(subscription.into(), &session))
        }
        "unsubscribe" => {
            let object = required(&p, "object")?;
            let subscription = required(&p, "subscription")?;
            let session = required(&p, "sessionId")?;
            w.unsubscribe(object, subscription);
            ok(json!({"sessionId": session}))
        }
        "release" => {
            let object = required(&p, "object")?;
            let session = session_or_new(w, &p);
            w.release(object, now_ms);
            ok(json!({"sessionId": session}))
        }
        "ref" => {
            let object = required(&p, "object")?;
            let session = required(&p, "sessionId")?;
            w.resolve(session, object)
                .ok_or_else(|| not_found(object))?;
            ok(json!({"sessionId": session}))
        }
        "unref" => {
            let object = required(&p, "object")?;
            let session = required(&p, "sessionId")?;
            w.unref(session, object, now_ms);
            ok(json!({"sessionId": session}))
        }
        "keepAlive" => {
            let session = required(&p, "sessionId")?;
            if !w.keep_alive(session) {
                return Err(RpcError::kms(codes::INVALID_SESSION, "Invalid session"));
            }
            ok(json!({"sessionId": session}))
        }
        "closeSession" => {
            let session = required(&p, "sessionId")?.to_owned();
            let release = p.get("release").and_then(Value::as_bool).unwrap_or(false);
            w.close_session(&session, release, now_ms);
            ok(Value::Null)
        }
        "transaction" => transaction(w, conn, &p, now_ms),
        _ => Err(jsonrpc_error(codes::METHOD_NOT_FOUND, "Method not found.")),
    }
}

fn is_known(method: &str) -> bool {
    matches!(
        method,
        "create"
            | "describe"
            | "invoke"
            | "subscribe"
            | "unsubscribe"
            | "release"
            | "ref"
            | "unref"
            | "keepAlive"
            | "closeSession"
            | "transaction"
    )
}

fn create(w: &mut World, p: &Map<String, Value>, now_ms: u64) -> Result<Value, RpcError> {
    let type_name = required(p, "type")?;
    let class = classes::factory(type_name).ok_or_else(|| {
        RpcError::kms(
            codes::MEDIA_OBJECT_NOT_AVAILABLE,
            format!("Factory '{type_name}' not found"),
        )
    })?;
    let ctor = match p.get("constructorParams") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let session = session_or_new(w, p);
    let parent_param = match class.kind {
        Kind::Pipeline => None,
        Kind::HubPort => Some("hub"),
        _ => Some("mediaPipeline"),
    };
    let parent = match parent_param {
        None => None,
        Some(name) => {
            let id = ctor.get(name).and_then(Value::as_str).ok_or_else(|| {
                RpcError::kms(
                    codes::MARSHALL_ERROR,
                    format!("'{name}' parameter is required"),
                )
            })?;
            let parent_class = w.resolve(&session, id).ok_or_else(|| not_found(id))?;
            let fits = match class.kind {
                Kind::HubPort => parent_class.kind == Kind::Hub,
                _ => parent_class.kind == Kind::Pipeline,
            };
            if !fits {
                return Err(RpcError::kms(
                    codes::MARSHALL_ERROR,
                    format!(
                        "'{name}' parameter should be a {}",
                        if class.kind == Kind::HubPort {
                            "Hub"
                        } else {
                            "MediaPipeline"
                        }
                    ),
                ));
            }
            Some(id.to_owned())
        }
    };
    let uri = if class.is_uri() {
        let uri = ctor
            .get("uri")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::kms(codes::MARSHALL_ERROR, "'uri' parameter is required"))?;
        Some(uri.to_owned())
    } else {
        None
    };
    // GStreamerFilter(mediaPipeline, command, filterType = AUTODETECT): `command` is a
    // read-only property afterwards.
    let command = if class.name == "GStreamerFilter" {
        let command = ctor.get("command").and_then(Value::as_str).ok_or_else(|| {
            RpcError::kms(codes::MARSHALL_ERROR, "'command' parameter is required")
        })?;
        match ctor.get("filterType") {
            None | Some(Value::Null) => {}
            Some(t) if matches!(t.as_str(), Some("AUDIO" | "AUTODETECT" | "VIDEO")) => {}
            Some(_) => {
                return Err(RpcError::kms(
                    codes::MARSHALL_ERROR,
                    "Invalid value for 'FilterType'",
                ));
            }
        }
        Some(command.to_owned())
    } else {
        None
    };
    let id = w.create(&session, class, parent.as_deref(), None, now_ms);
    if let Some(o) = w.get_mut(&id) {
        o.uri = uri;
        if let Some(command) = command {
            o.props.insert("command".into(), command.into());
        }
    }
    Ok(value_result(id.into(), &session))
}

/// `transaction`: operation ids must equal their indexes; `newref:N` is replaced with the value
/// of operation N; processing stops at the first failing operation.
fn transaction(
    w: &mut World,
    conn: ConnId,
    p: &Map<String, Value>,
    now_ms: u64,
) -> Result<(Value, u64), RpcError> {
    let operations = match p.get("operations") {
        Some(Value::Array(ops)) => ops.clone(),
        None | Some(Value::Null) => return Err(server_error("'operations' parameter is required")),
        Some(_) => return Err(server_error("'operations' parameter should be an array")),
    };
    for (i, op) in operations.iter().enumerate() {
        if op.get("id").and_then(Value::as_u64) != Some(i as u64) || !op.is_object() {
            return Err(RpcError::kms(
                codes::MALFORMED_TRANSACTION,
                format!("Invalid transaction: operation {i} must have id {i}"),
            ));
        }
    }
    let session = session_or_new(w, p);
    let mut responses: Vec<Value> = Vec::new();
    let mut delay = 0;
    for (i, op) in operations.into_iter().enumerate() {
        let method = op
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let mut params = match op.get("params") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        // Every operation runs in the transaction's session, whatever it says (KMS overwrites it,
        // docs/kms-protocol.md §6).
        params.insert("sessionId".to_owned(), session.clone().into());
        let mut params = Value::Object(params);
        substitute_newrefs(&mut params, &responses);
        let params = match params {
            Value::Object(m) => Some(m),
            _ => None,
        };
        let outcome = dispatch(w, conn, &method, params, true, now_ms);
        let failed = outcome.is_err();
        let response = match outcome {
            Ok((result, d)) => {
                delay += d;
                Response::ok(json!(i), result)
            }
            Err(e) => Response::err(json!(i), e),
        };
        responses.push(serde_json::to_value(&response).unwrap_or(Value::Null));
        if failed {
            break;
        }
    }
    Ok((value_result(Value::Array(responses), &session), delay))
}

fn substitute_newrefs(value: &mut Value, responses: &[Value]) {
    match value {
        Value::String(s) => {
            if let Some(n) = s
                .strip_prefix("newref:")
                .and_then(|n| n.parse::<usize>().ok())
                && let Some(v) = responses
                    .get(n)
                    .and_then(|r| r.pointer("/result/value"))
                    .and_then(Value::as_str)
            {
                *s = v.to_owned();
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| substitute_newrefs(v, responses)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| substitute_newrefs(v, responses)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::Scenario;

    const T0: u64 = 1_700_000_000_000;

    fn world() -> World {
        World::new(&Scenario::default(), T0, 0)
    }

    fn call(w: &mut World, conn: ConnId, frame: Value) -> Value {
        let served = serve_frame(w, conn, &frame.to_string(), T0);
        serde_json::from_str(&served.reply.unwrap()).unwrap()
    }

    fn req(id: u64, method: &str, params: Value) -> Value {
        json!({"jsonrpc":"2.0","id":id,"method":method,"params":params})
    }

    /// Creates an object on connection 1 and returns its id.
    fn create(w: &mut World, id: u64, params: Value) -> String {
        call(w, 1, req(id, "create", params))["result"]["value"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn bootstrap_binds_and_injects_the_session() {
        let mut w = world();
        let pong = call(
            &mut w,
            1,
            json!({"jsonrpc":"2.0","id":0,"method":"ping","params":{"interval":5000}}),
        );
        assert_eq!(pong["result"], json!({"value":"pong"}));
        let described = call(
            &mut w,
            1,
            req(1, "describe", json!({"object":"manager_ServerManager"})),
        );
        let session = described["result"]["sessionId"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            described["result"]["hierarchy"],
            json!(["kurento.MediaObject"])
        );
        let pong = call(&mut w, 1, json!({"jsonrpc":"2.0","id":2,"method":"ping"}));
        assert_eq!(pong["result"]["sessionId"], session.as_str());
        let created = call(&mut w, 1, req(3, "create", json!({"type":"MediaPipeline"})));
        assert_eq!(created["result"]["sessionId"], session.as_str(), "injected");
        let logged = w.log.last().unwrap();
        assert_eq!(logged.session.as_deref(), Some(session.as_str()));
        // Another connection using the session explicitly takes the binding over.
        call(&mut w, 2, req(0, "ping", json!({"sessionId": session})));
        assert_eq!(w.bound_session(2), Some(session.as_str()));
        assert_eq!(w.bound_session(1), None);
    }

    #[test]
    fn error_shapes() {
        let mut w = world();
        let cases: Vec<(&str, i64, Value)> = vec![
            ("{nope", codes::PARSE_ERROR, Value::Null),
            ("[1]", codes::INVALID_REQUEST, Value::Null),
            (
                r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#,
                codes::INVALID_REQUEST,
                Value::Null,
            ),
            (
                r#"{"jsonrpc":"2.0","id":5,"method":"frobnicate"}"#,
                codes::METHOD_NOT_FOUND,
                json!(5),
            ),
            (
                r#"{"jsonrpc":"2.0","id":6,"method":"create","params":null}"#,
                codes::INVALID_PARAMS,
                json!(6),
            ),
            (
                r#"{"jsonrpc":"2.0","id":"s","method":"create","params":{}}"#,
                codes::SERVER_ERROR,
                json!("s"),
            ),
            (
                r#"{"jsonrpc":"2.0","id":8,"method":"create","params":{"type":"Nope"}}"#,
                codes::MEDIA_OBJECT_NOT_AVAILABLE,
                json!(8),
            ),
            (
                r#"{"jsonrpc":"2.0","id":9,"method":"connect","params":{"sessionId":"unknown"}}"#,
                codes::INVALID_SESSION,
                json!(9),
            ),
            (
                r#"{"jsonrpc":"2.0","id":10,"method":"describe","params":{"object":"x_kurento.MediaPipeline"}}"#,
                codes::MEDIA_OBJECT_NOT_FOUND,
                json!(10),
            ),
        ];
        for (frame, code, id) in cases {
            let reply: Value =
                serde_json::from_str(&serve_frame(&mut w, 1, frame, T0).reply.unwrap()).unwrap();
            assert_eq!(reply["error"]["code"], code, "{frame}");
            assert_eq!(reply["id"], id, "{frame}");
        }
    }

    #[test]
    fn invoke_errors_and_values() {
        let mut w = world();
        let p = create(&mut w, 1, json!({"type":"MediaPipeline"}));
        let e = create(
            &mut w,
            2,
            json!({"type":"kurento.WebRtcEndpoint","constructorParams":{"mediaPipeline":p}}),
        );
        assert!(e.starts_with(&format!("{p}/")) && e.ends_with("_kurento.WebRtcEndpoint"));
        let inv = |w: &mut World, op: &str, params: Value| {
            call(
                w,
                1,
                req(
                    3,
                    "invoke",
                    json!({"object":e,"operation":op,"operationParams":params}),
                ),
            )
        };
        assert_eq!(
            inv(&mut w, "getFoo", json!({}))["error"]["message"],
            "Method 'getFoo' with 0 parameters not found"
        );
        assert_eq!(
            inv(&mut w, "getFoo", json!({}))["error"]["code"],
            codes::MALFORMED_TRANSACTION
        );
        assert_eq!(
            inv(&mut w, "isMediaFlowingIn", json!({"mediaType":"DATA"}))["error"]["code"],
            codes::MEDIA_OBJECT_ILLEGAL_PARAM_ERROR
        );
        assert_eq!(
            inv(&mut w, "getLocalSessionDescriptor", json!({}))["error"]["code"],
            codes::SDP_END_POINT_NO_LOCAL_SDP_ERROR
        );
        assert_eq!(
            inv(&mut w, "getRemoteSessionDescriptor", json!({}))["error"]["code"],
            codes::SDP_END_POINT_NO_REMOTE_SDP_ERROR
        );
        assert_eq!(
            inv(&mut w, "getStats", json!({}))["result"]["value"],
            Value::Null
        );
        assert_eq!(
            inv(&mut w, "stop", json!({}))["result"]["value"],
            Value::Null,
            "void methods have value null"
        );
        assert_eq!(
            inv(&mut w, "setMtu", json!({"mtu":1000}))["result"],
            json!({"sessionId": w.bound_session(1).unwrap(), "value": null})
        );
        assert_eq!(inv(&mut w, "getMtu", json!({}))["result"]["value"], 1000);
        assert_eq!(
            inv(&mut w, "getChilds", json!({}))["error"]["code"],
            codes::MALFORMED_TRANSACTION,
            "7.x has no getChilds"
        );
        let sub = call(
            &mut w,
            1,
            req(4, "subscribe", json!({"object":e,"type":"EndOfStream"})),
        );
        assert_eq!(
            sub["error"]["code"],
            codes::MEDIA_OBJECT_EVENT_NOT_SUPPORTED
        );
        assert_eq!(sub["error"]["message"], "Event 'EndOfStream' not supported");
        call(&mut w, 1, req(5, "release", json!({"object":p})));
        assert_eq!(
            inv(&mut w, "getName", json!({}))["error"]["message"],
            format!("Object '{e}' not found")
        );
    }

    #[test]
    fn transactions_resolve_newrefs_and_stop_at_the_first_failure() {
        let mut w = world();
        let ops = json!([
            {"jsonrpc":"2.0","id":0,"method":"create","params":{"type":"MediaPipeline"}},
            {"jsonrpc":"2.0","id":1,"method":"create","params":{"type":"PassThrough","constructorParams":{"mediaPipeline":"newref:0"}}},
            {"jsonrpc":"2.0","id":2,"method":"invoke","params":{"object":"nope","operation":"getName"}},
            {"jsonrpc":"2.0","id":3,"method":"create","params":{"type":"MediaPipeline"}},
        ]);
        let reply = call(&mut w, 1, req(1, "transaction", json!({"operations": ops})));
        let results = reply["result"]["value"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let pipeline = results[0]["result"]["value"].as_str().unwrap();
        assert!(
            results[1]["result"]["value"]
                .as_str()
                .unwrap()
                .starts_with(pipeline)
        );
        assert_eq!(results[2]["error"]["code"], codes::MEDIA_OBJECT_NOT_FOUND);
        assert_eq!(w.pipeline_ids().len(), 1, "operation 3 never ran");
        assert!(w.log.iter().filter(|l| l.in_transaction).count() == 3);
        let bad = call(
            &mut w,
            1,
            req(
                2,
                "transaction",
                json!({"operations":[{"jsonrpc":"2.0","id":7,"method":"ping"}]}),
            ),
        );
        assert_eq!(bad["error"]["code"], codes::MALFORMED_TRANSACTION);
    }

    #[test]
    fn notifications_get_the_kms_quirks() {
        let mut w = world();
        call(
            &mut w,
            1,
            req(0, "describe", json!({"object":"manager_ServerManager"})),
        );
        let ping = serve_frame(&mut w, 1, r#"{"jsonrpc":"2.0","method":"ping"}"#, T0)
            .reply
            .unwrap();
        let ping: Value = serde_json::from_str(&ping).unwrap();
        assert_eq!(ping["error"]["code"], codes::SERVER_ERROR);
        assert_eq!(ping["error"]["data"]["value"], "pong");
        assert_eq!(ping["id"], Value::Null);
        let close = serve_frame(
            &mut w,
            1,
            r#"{"jsonrpc":"2.0","method":"closeSession"}"#,
            T0,
        );
        assert_eq!(close.reply.as_deref(), Some(""));
    }

    #[test]
    fn get_pipelines_refs_everything_into_the_pseudo_session() {
        let mut w = world();
        let p = create(&mut w, 1, json!({"type":"MediaPipeline"}));
        let reply = call(
            &mut w,
            1,
            req(
                2,
                "invoke",
                json!({"object":"manager_ServerManager","operation":"getPipelines"}),
            ),
        );
        assert_eq!(reply["result"]["value"], json!([p]));
        assert!(w.owners(&p).contains(""));
        let sessions = call(
            &mut w,
            1,
            req(
                3,
                "invoke",
                json!({"object":"manager_ServerManager","operation":"getSessions"}),
            ),
        );
        assert_eq!(
            sessions["result"]["value"].as_array().unwrap().len(),
            4,
            "two sessions, padded"
        );
    }

    #[test]
    fn faults_fire_once() {
        let mut w = world();
        let p = create(&mut w, 1, json!({"type":"MediaPipeline"}));
        w.inject(Fault::ReleaseBeforeInvoke {
            operation: "getName".into(),
        });
        let reply = call(
            &mut w,
            1,
            req(2, "invoke", json!({"object":p,"operation":"getName"})),
        );
        assert_eq!(reply["error"]["code"], codes::MEDIA_OBJECT_NOT_FOUND);
        w.inject(Fault::DropConnectionsAfter { requests: 1 });
        assert!(
            !serve_frame(&mut w, 1, &req(3, "ping", json!({})).to_string(), T0).drop_connections
        );
        assert!(
            serve_frame(&mut w, 1, &req(4, "ping", json!({})).to_string(), T0).drop_connections
        );
        assert!(
            !serve_frame(&mut w, 1, &req(5, "ping", json!({})).to_string(), T0).drop_connections
        );
        w.inject(Fault::DropNextReply);
        assert_eq!(
            serve_frame(&mut w, 1, &req(6, "ping", json!({})).to_string(), T0).reply,
            None
        );
        w.inject(Fault::GarbageBeforeNextReply);
        assert!(serve_frame(&mut w, 1, &req(7, "ping", json!({})).to_string(), T0).garbage_first);
    }

    #[test]
    fn used_cpu_blocks_for_its_interval() {
        let mut w = world();
        let served = serve_frame(&mut w, 1, &req(1, "invoke", json!({"object":"manager_ServerManager","operation":"getUsedCpu","operationParams":{"interval":250}})).to_string(), T0);
        assert_eq!(served.delay_ms, 250);
    }

    #[test]
    fn dialect_6_names_and_aliases() {
        let scenario =
            Scenario::from_toml_str("[server]\ndialect = \"6\"\nversion = \"6.18.0\"").unwrap();
        let mut w = World::new(&scenario, T0, 0);
        let p = create(&mut w, 1, json!({"type":"MediaPipeline"}));
        let e = create(
            &mut w,
            2,
            json!({"type":"WebRtcEndpoint","constructorParams":{"mediaPipeline":p}}),
        );
        let childs = call(
            &mut w,
            1,
            req(3, "invoke", json!({"object":p,"operation":"getChilds"})),
        );
        assert_eq!(childs["result"]["value"], json!([e]));
        let sub = call(
            &mut w,
            1,
            req(4, "subscribe", json!({"object":e,"type":"OnIceCandidate"})),
        );
        assert!(sub["result"]["value"].is_string());
        let offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        let answer = call(
            &mut w,
            1,
            req(
                41,
                "invoke",
                json!({"object":e,"operation":"processOffer","operationParams":{"offer":offer}}),
            ),
        );
        assert!(
            answer["result"]["value"]
                .as_str()
                .unwrap()
                .contains("typ host")
        );
        w.outbox.clear();
        call(
            &mut w,
            1,
            req(
                5,
                "invoke",
                json!({"object":e,"operation":"gatherCandidates"}),
            ),
        );
        let (_, frame) = w.outbox.first().unwrap().clone();
        let event: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(event["params"]["value"]["type"], "OnIceCandidate");
        assert!(event["params"]["value"]["data"]["timestamp"].is_string());
        let info = call(
            &mut w,
            1,
            req(
                6,
                "invoke",
                json!({"object":"manager_ServerManager","operation":"getInfo"}),
            ),
        );
        assert_eq!(info["result"]["value"]["version"], "6.18.0");
    }

    #[test]
    fn demo_world_is_lively() {
        let mut w = World::new(&Scenario::demo(), T0, 0);
        assert!(w.pipeline_ids().len() >= 8);
        let relay = w
            .object_ids()
            .into_iter()
            .filter(|id| id.ends_with("WebRtcEndpoint"))
            .any(|id| {
                let pairs = call(
                    &mut w,
                    1,
                    req(
                        1,
                        "invoke",
                        json!({"object":id,"operation":"getICECandidatePairs"}),
                    ),
                );
                pairs["result"]["value"].to_string().contains("typ relay")
            });
        assert!(relay, "some participant goes through TURN");
        let before = w.pipeline_ids().len();
        w.advance(T0 + 60_000);
        assert!(w.pipeline_ids().len() > before, "churn adds meetings");
    }

    #[test]
    fn filters_of_the_magic_mirror_class() {
        let mut w = world();
        let p = create(&mut w, 1, json!({"type":"MediaPipeline"}));
        let try_create =
            |w: &mut World, id: u64, params: Value| call(w, 1, req(id, "create", params));
        let face = create(
            &mut w,
            2,
            json!({"type":"FaceOverlayFilter","constructorParams":{"mediaPipeline":p}}),
        );
        let image = create(
            &mut w,
            3,
            json!({"type":"kurento.ImageOverlayFilter","constructorParams":{"mediaPipeline":p}}),
        );
        let gst = create(
            &mut w,
            4,
            json!({"type":"GStreamerFilter","constructorParams":{"mediaPipeline":p,
                "command":"videobalance saturation=0.0","filterType":"VIDEO"}}),
        );
        let zbar = create(
            &mut w,
            5,
            json!({"type":"ZBarFilter","constructorParams":{"mediaPipeline":p}}),
        );
        let inv = |w: &mut World, object: &str, op: &str, params: Value| {
            call(
                w,
                1,
                req(
                    6,
                    "invoke",
                    json!({"object":object,"operation":op,"operationParams":params}),
                ),
            )
        };
        let void = [
            (
                &face,
                "setOverlayedImage",
                json!({"uri":"http://files/mario-wings.png","offsetXPercent":-0.35,
                    "offsetYPercent":-1.2,"widthPercent":1.6,"heightPercent":1.6}),
            ),
            (&face, "unsetOverlayedImage", json!({})),
            (
                &image,
                "addImage",
                json!({"id":"logo","uri":"http://files/logo.png","offsetXPercent":0.1,
                    "offsetYPercent":0.1,"widthPercent":0.2,"heightPercent":0.2,
                    "keepAspectRatio":true,"center":false}),
            ),
            (&image, "removeImage", json!({"id":"logo"})),
            (
                &gst,
                "setElementProperty",
                json!({"propertyName":"saturation","propertyValue":"0.5"}),
            ),
        ];
        for (object, op, params) in void {
            let reply = inv(&mut w, object, op, params);
            assert!(reply.get("error").is_none(), "{op}: {reply}");
            assert_eq!(reply["result"]["value"], Value::Null, "{op} is void");
        }
        assert_eq!(
            inv(&mut w, &gst, "getCommand", json!({}))["result"]["value"],
            "videobalance saturation=0.0"
        );
        // The kmd has no filterType property (it is a constructor parameter only): KMS
        // answers as for any unknown method.
        assert_eq!(
            inv(&mut w, &gst, "getFilterType", json!({}))["error"]["code"],
            codes::MALFORMED_TRANSACTION
        );
        let bad = [
            (
                &face,
                "setOverlayedImage",
                json!({"uri":"u"}),
                "'offsetXPercent' parameter is required",
            ),
            (
                &image,
                "addImage",
                json!({"id":"x","uri":"u","offsetXPercent":0,"offsetYPercent":0,
                "widthPercent":1,"heightPercent":1,"keepAspectRatio":"yes","center":true}),
                "'keepAspectRatio' parameter should be a boolean",
            ),
            (
                &image,
                "removeImage",
                json!({}),
                "'id' parameter is required",
            ),
            (
                &face,
                "addImage",
                json!({}),
                "Method 'addImage' with 0 parameters not found",
            ),
        ];
        for (object, op, params, message) in bad {
            assert_eq!(
                inv(&mut w, object, op, params)["error"]["message"],
                message,
                "{op}"
            );
        }
        let no_command = try_create(
            &mut w,
            7,
            json!({"type":"GStreamerFilter","constructorParams":{"mediaPipeline":p}}),
        );
        assert_eq!(no_command["error"]["code"], codes::MARSHALL_ERROR);
        let bad_type = try_create(
            &mut w,
            8,
            json!({"type":"GStreamerFilter","constructorParams":{"mediaPipeline":p,
                "command":"capsfilter","filterType":"DATA"}}),
        );
        assert_eq!(bad_type["error"]["code"], codes::MARSHALL_ERROR);
        // ZBarFilter's CodeFound can be subscribed; other filters do not have it.
        let sub = call(
            &mut w,
            1,
            req(9, "subscribe", json!({"object":zbar,"type":"CodeFound"})),
        );
        assert!(sub["result"]["value"].is_string(), "{sub}");
        let sub = call(
            &mut w,
            1,
            req(10, "subscribe", json!({"object":face,"type":"CodeFound"})),
        );
        assert_eq!(sub["error"]["message"], "Event 'CodeFound' not supported");
    }
}
