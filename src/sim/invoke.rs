//! The vocabulary of `invoke` handlers: what an invoke returns, KMS's errors for missing or
//! malformed parameters, parameter parsing, and small shared values.

use serde_json::{Map, Value, json};

use super::classes::{Class, Kind};
use super::media_types::MediaType;
use super::sdp;
use crate::kurento::protocol::{RpcError, codes};

/// What an `invoke` produced: its `value`, and how long the connection is blocked before the
/// reply (only `getUsedCpu` sleeps).
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeOutcome {
    pub value: Value,
    pub delay_ms: u64,
}

pub(super) fn done(value: Value) -> Result<InvokeOutcome, RpcError> {
    Ok(InvokeOutcome { value, delay_ms: 0 })
}

pub(super) fn not_found(id: &str) -> RpcError {
    RpcError::kms(
        codes::MEDIA_OBJECT_NOT_FOUND,
        format!("Object '{id}' not found"),
    )
}

pub(super) fn marshall(message: impl Into<String>) -> RpcError {
    RpcError::kms(codes::MARSHALL_ERROR, message)
}

/// A required operation parameter of one JSON type, with KMS's 40001 messages.
pub(super) fn typed_param<'a, T>(
    params: &'a Map<String, Value>,
    name: &str,
    kind: &str,
    get: impl FnOnce(&'a Value) -> Option<T>,
) -> Result<T, RpcError> {
    match params.get(name) {
        None | Some(Value::Null) => Err(marshall(format!("'{name}' parameter is required"))),
        Some(v) => get(v).ok_or_else(|| marshall(format!("'{name}' parameter should be a {kind}"))),
    }
}

pub(super) fn str_param<'a>(
    params: &'a Map<String, Value>,
    name: &str,
) -> Result<&'a str, RpcError> {
    typed_param(params, name, "string", Value::as_str)
}

pub(super) fn opt_str<'a>(params: &'a Map<String, Value>, name: &str, default: &'a str) -> &'a str {
    params.get(name).and_then(Value::as_str).unwrap_or(default)
}

pub(super) fn media_param(
    params: &Map<String, Value>,
    required: bool,
) -> Result<Option<MediaType>, RpcError> {
    match params.get("mediaType") {
        None | Some(Value::Null) if required => Err(marshall("'mediaType' parameter is required")),
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(MediaType::parse)
            .map(Some)
            .ok_or_else(|| marshall("Invalid value for 'MediaType'")),
    }
}

/// AUDIO or VIDEO only (DATA gives 40107, as in `isMediaFlowingIn`).
pub(super) fn audio_or_video(params: &Map<String, Value>) -> Result<MediaType, RpcError> {
    match media_param(params, true)? {
        Some(MediaType::Data) | None => Err(RpcError::kms(
            codes::MEDIA_OBJECT_ILLEGAL_PARAM_ERROR,
            "MediaType DATA is not supported for this operation; use AUDIO or VIDEO",
        )),
        Some(m) => Ok(m),
    }
}

/// `getDtlsConnectionState` with one bundled connection in `state` (7.x).
pub(super) fn dtls_connection(state: &str) -> Value {
    json!([{"__module__":"kurento","__type__":"DtlsConnection","componentId":"1",
        "connectionId":"1","state":state,"streamId":"1"}])
}

pub(super) fn flavour(class: &Class) -> sdp::Flavour {
    if class.kind == Kind::WebRtc {
        sdp::Flavour::WebRtc
    } else {
        sdp::Flavour::Rtp
    }
}
