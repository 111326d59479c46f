//! Property tests of the frame decoders: any text decodes without panicking, the raw decoder
//! agrees with the `Value` one, and replies built with [`Response`] come back as they were sent.

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::kurento::proptest_support::{config, float, json_value, key, scalar};

/// Number literals a `Value` cannot hold exactly or at all: past u64/i64, beyond f64 (jsoncpp
/// writes an infinite double as `1e+9999`), negative zero, subnormals.
fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &[
                "0",
                "-0",
                "-0.0",
                "18446744073709551615",
                "18446744073709551616",
                "-9223372036854775809",
                "123456789012345678901234567890",
                "1e400",
                "-1e400",
                "1e+9999",
                "-1e+9999",
                "5e-324",
                "1e-400",
                "1.0",
                "1E2",
            ][..]
        )
        .prop_map(str::to_owned),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        float().prop_map(|f| Value::from(f).to_string()),
    ]
}

/// JSON text, nested, whose numbers include [`number_literal`]s.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![scalar().prop_map(|v| v.to_string()), number_literal(),];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(","))),
            proptest::collection::vec((key(), inner), 0..5).prop_map(|members| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{}:{v}", Value::from(k)))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// An `id` member's value: what our client sends, and everything it does not.
fn id_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<u64>().prop_map(|n| format!("\"{n}\"")),
        1 => number_literal(),
        1 => json_text(),
    ]
}

/// A well-formed `error` member, or anything in its place.
fn error_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            any::<i64>(),
            any::<String>(),
            proptest::option::of(json_value())
        )
            .prop_map(|(code, message, data)| {
                let error = RpcError {
                    code,
                    data,
                    message,
                };
                serde_json::to_string(&error).unwrap_or_default()
            }),
        json_text(),
    ]
}

/// A JSON-RPC envelope with each member present or not, of the right type or not, in any order,
/// plus stray members.
fn envelope() -> impl Strategy<Value = String> {
    let member = |name: &'static str, value: BoxedStrategy<String>| {
        proptest::option::of(value.prop_map(move |v| format!("\"{name}\":{v}")))
    };
    (
        member("id", id_text().boxed()),
        member("jsonrpc", Just("\"2.0\"".to_owned()).boxed()),
        member(
            "method",
            prop_oneof![
                Just("\"onEvent\"".to_owned()),
                any::<String>().prop_map(|m| Value::from(m).to_string()),
                json_text()
            ]
            .boxed(),
        ),
        member("params", json_text().boxed()),
        member("result", json_text().boxed()),
        member("error", error_text().boxed()),
        proptest::collection::vec(
            (key(), json_text()).prop_map(|(k, v)| format!("{}:{v}", Value::from(k))),
            0..3,
        ),
    )
        .prop_flat_map(|(id, jsonrpc, method, params, result, error, extra)| {
            let members: Vec<String> = [id, jsonrpc, method, params, result, error]
                .into_iter()
                .flatten()
                .chain(extra)
                .collect();
            Just(members).prop_shuffle()
        })
        .prop_map(|members| format!("{{{}}}", members.join(",")))
}

/// What a socket could deliver: envelopes (whole, batched or cut short), JSON, JSON-ish noise and
/// arbitrary text.
fn frame() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => envelope(),
        1 => proptest::collection::vec(envelope(), 0..3)
            .prop_map(|items| format!("[{}]", items.join(","))),
        2 => (envelope(), any::<proptest::sample::Index>()).prop_map(|(text, cut)| {
            let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            text[..ends[cut.index(ends.len())]].to_owned()
        }),
        1 => json_text(),
        1 => "[{}\\[\\]\":, 0-9a-z.eE+-]{0,48}",
        1 => any::<String>(),
    ]
}

/// The raw decoder's outcome in the `Value` decoder's terms.
fn raw_as_value(text: &str) -> Result<Incoming, DecodeError> {
    decode_incoming_raw(text).map(|incoming| match incoming {
        RawIncoming::Response { id, outcome } => Incoming::Response {
            id,
            outcome: outcome.map(|raw| raw_to_value(&raw)),
        },
        RawIncoming::Notification { method, params } => Incoming::Notification { method, params },
    })
}

/// The one frame the two decoders may answer differently: JSON whose number does not fit a
/// double, which a `Value` cannot hold but the raw decoder passes on as text.
fn out_of_range(value: &Result<Incoming, DecodeError>) -> bool {
    matches!(value, Err(DecodeError::Json(m)) if m.starts_with("number out of range"))
}

proptest! {
    #![proptest_config(config(256))]

    /// No frame panics a decoder, and the raw decoder (the one the client uses) answers exactly
    /// as the reference `Value` decoder does, out-of-range numbers aside.
    #[test]
    fn any_frame_decodes_without_panic_and_raw_agrees(text in frame()) {
        let value = decode_incoming(&text);
        let raw = raw_as_value(&text);
        if !(out_of_range(&value) && raw.is_ok()) {
            prop_assert_eq!(raw, value.clone(), "frame: {}", text);
        }
        let _ = reply_ids(&text);
        // Where the layout shortcut finds a result that parses, it is the frame's result.
        if let Some((id, range)) = kms_reply_layout(&text)
            && let Ok(result) = serde_json::from_str::<Value>(&text[range])
        {
            let want = Incoming::Response { id: Some(id), outcome: Ok(result) };
            prop_assert_eq!(value, Ok(want), "frame: {}", text);
        }
    }

    /// A reply as the simulator (and KMS) writes it decodes to the id and result it was built
    /// from, through both decoders, and `reply_ids` names that id, even in a frame cut short.
    #[test]
    fn ok_reply_round_trips(id in any::<u64>(), result in json_value(), cut in any::<proptest::sample::Index>()) {
        let text = serde_json::to_string(&Response::ok(Value::from(id), result.clone()))
            .unwrap_or_default();
        let want = Incoming::Response { id: Some(id), outcome: Ok(result.clone()) };
        prop_assert_eq!(decode_incoming(&text), Ok(want.clone()));
        prop_assert_eq!(raw_as_value(&text), Ok(want));
        prop_assert_eq!(reply_ids(&text), vec![id]);
        // KMS's layout: the client reads it without decoding the frame first.
        let (layout_id, range) = kms_reply_layout(&text).expect("KMS's layout");
        prop_assert_eq!(layout_id, id);
        prop_assert_eq!(serde_json::from_str::<Value>(&text[range]).ok(), Some(result.clone()));

        // Any strict prefix that still holds `{"id":N,` is invalid JSON, but names its id.
        let head = format!("{{\"id\":{id},");
        let ends: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .filter(|&i| i >= head.len())
            .collect();
        let truncated = &text[..ends[cut.index(ends.len())]];
        prop_assert!(decode_incoming(truncated).is_err());
        prop_assert_eq!(reply_ids(truncated), vec![id], "frame: {}", truncated);
    }

    /// An error reply decodes to the error it was built from (`"data":null` reads as no data).
    #[test]
    fn error_reply_round_trips(
        id in any::<u64>(),
        code in any::<i64>(),
        message in any::<String>(),
        data in proptest::option::of(json_value()),
    ) {
        let error = RpcError { code, data, message };
        let text = serde_json::to_string(&Response::err(Value::from(id), error.clone()))
            .unwrap_or_default();
        let want_error = RpcError {
            data: error.data.clone().filter(|d| !d.is_null()),
            ..error
        };
        let want = Incoming::Response { id: Some(id), outcome: Err(want_error) };
        prop_assert_eq!(decode_incoming(&text), Ok(want.clone()));
        prop_assert_eq!(raw_as_value(&text), Ok(want));
        prop_assert_eq!(reply_ids(&text), vec![id]);
    }

}

proptest! {
    #![proptest_config(config(128))]

    /// A KMS error as `RpcError::kms` builds it keeps its code's type name.
    #[test]
    fn kms_error_reply_round_trips(id in any::<u64>(), code in any::<i64>(), message in any::<String>()) {
        let error = RpcError::kms(code, message);
        let text = serde_json::to_string(&Response::err(Value::from(id), error.clone()))
            .unwrap_or_default();
        prop_assert_eq!(
            decode_incoming(&text),
            Ok(Incoming::Response { id: Some(id), outcome: Err(error) })
        );
    }

    /// An `onEvent` notification decodes to its event; frames with a `method` never name a reply.
    #[test]
    fn notification_round_trips(object in any::<String>(), event_type in any::<String>(), data in json_value()) {
        let event = Event { object, event_type, data };
        let text = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "onEvent",
            "params": event.to_params(),
        })
        .to_string();
        let Ok(Incoming::Notification { method, params }) = decode_incoming(&text) else {
            return Err(TestCaseError::fail(format!("not a notification: {text}")));
        };
        prop_assert_eq!(method, "onEvent");
        prop_assert_eq!(Event::from_params(&params), Some(event));
        prop_assert!(reply_ids(&text).is_empty());
    }

    /// The id helpers take any text.
    #[test]
    fn object_ids_of_any_text(id in any::<String>()) {
        let _ = object_type(&id);
        prop_assert!(id.starts_with(pipeline_id(&id)));
        if let Some(parent) = parent_id(&id) {
            prop_assert!(parent.len() < id.len());
        }
    }
}
