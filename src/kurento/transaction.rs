//! `transaction`: many `invoke`s in one request, one round trip (docs/kms-protocol.md §6).
//!
//! Nearly all of the exporter's JSON goes through here (about 13 reads per WebRTC endpoint every
//! cycle), so both directions avoid needless passes: the request is written straight from the
//! ops, and the reply is read once, each op's `value` decoded by the caller's [`OpDecoder`] as
//! the reply is read. A reply in any other layout than KMS's goes through the `Value` decoder,
//! the reference, which also names what is wrong with it.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use serde::de::{
    DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::Value;
use serde_json::value::RawValue;

use super::client::{ClientError, ResultText};
use super::protocol::{self, RpcError};
use super::replies::{decode_err, invoke_value};

/// One `invoke` inside a transaction.
#[derive(Debug, Clone)]
pub struct Op {
    /// Shared, not copied per op (the poller reads each element with about ten ops per cycle).
    pub object: Arc<str>,
    pub operation: &'static str,
    /// The same few parameter sets every cycle (`{"mediaType":"AUDIO"}`…), written once.
    pub params: Option<&'static RawValue>,
}

/// The outcome of one op of a transaction: `None` when KMS stopped before it, else its decoded
/// `value` or KMS's error.
pub type OpOutcome<T> = Option<Result<T, RpcError>>;

/// Decodes the `value` each op of a transaction answered.
pub trait OpDecoder {
    type Value;

    /// Op `index`'s value, read during the one pass over the reply. An error (a value this
    /// decoder cannot take in one pass) sends the whole reply to the reference decoder, which
    /// then calls [`OpDecoder::decode_text`].
    fn decode<'de, D: Deserializer<'de>>(
        &self,
        index: usize,
        value: D,
    ) -> Result<Self::Value, D::Error>;

    /// Op `index`'s value from its JSON text.
    fn decode_text(&self, index: usize, value: &RawValue) -> Self::Value;
}

/// The params of a transaction of `ops` in `session_id`, as JSON text: byte for byte what
/// serialising them as `Value`s would write (keys in order), without building any. The ops carry
/// no `sessionId` of their own: KMS runs each in the transaction's session, overwriting theirs
/// (docs/kms-protocol.md §6), so it would be 50 bytes per op for nothing.
pub(super) fn encode_params(ops: &[Op], session_id: &str) -> String {
    // About 150 bytes per op.
    let mut out = String::with_capacity(64 + ops.len() * 150);
    out.push_str("{\"operations\":[");
    for (id, op) in ops.iter().enumerate() {
        if id > 0 {
            out.push(',');
        }
        out.push_str("{\"id\":");
        out.push_str(itoa::Buffer::new().format(id));
        out.push_str(",\"jsonrpc\":\"2.0\",\"method\":\"invoke\",\"params\":{\"object\":");
        push_json_str(&mut out, &op.object);
        out.push_str(",\"operation\":");
        push_json_str(&mut out, op.operation);
        if let Some(params) = op.params {
            out.push_str(",\"operationParams\":");
            out.push_str(params.get());
        }
        out.push_str("}}");
    }
    out.push_str("],\"sessionId\":");
    push_json_str(&mut out, session_id);
    out.push('}');
    out
}

/// `s` as a JSON string. Object and session ids never need escaping; checking that is a quick
/// scan (written without an early exit, so that it is vectorised), after which the text is
/// copied whole. serde_json's writer escapes byte by byte, which was most of the cost of writing
/// a transaction.
fn push_json_str(out: &mut String, s: &str) {
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{}", Value::from(s));
    }
}

/// Decodes a transaction's reply (`{"sessionId":…,"value":[responses]}`) into one outcome per
/// op: in one pass where the reply has KMS's layout, else through the reference decoder.
pub(super) fn decode_reply<O: OpDecoder>(
    reply: ResultText,
    len: usize,
    decoder: &O,
) -> Result<Vec<OpOutcome<O::Value>>, ClientError> {
    if let Some(outcomes) = decode_in_one_pass(reply.text(), len, decoder) {
        return Ok(outcomes);
    }
    let result = reply.into_raw()?;
    let responses = invoke_value(protocol::raw_to_value(&result))?;
    let outcomes = decode_responses(responses, len)?
        .into_iter()
        .enumerate()
        .map(|(index, outcome)| outcome.map(|r| r.map(|raw| decoder.decode_text(index, &raw))))
        .collect();
    Ok(outcomes)
}

/// The reference decoder: the per-op outcomes of a transaction's responses (the responses of the
/// ops that ran, each naming its op by `id`; the last one may be an error).
fn decode_responses(
    responses: Value,
    len: usize,
) -> Result<Vec<OpOutcome<Box<RawValue>>>, ClientError> {
    let Value::Array(list) = responses else {
        return Err(decode_err("a list of transaction responses", &responses));
    };
    let mut outcomes: Vec<OpOutcome<Box<RawValue>>> = vec![None; len];
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

/// The one-pass decoder, for replies as KMS writes them: the responses in the order of the ops,
/// each `{"id":<its position>,…,"result":{…,"value":…}}` or with an `error`. `None` for anything
/// else (ids out of order, a member twice, a result without `value`, a value the decoder cannot
/// take in one pass…): the reference decoder then decides.
fn decode_in_one_pass<O: OpDecoder>(
    text: &str,
    len: usize,
    decoder: &O,
) -> Option<Vec<OpOutcome<O::Value>>> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let outcomes = ValueMember(ResponsesSeed { decoder, len })
        .deserialize(&mut deserializer)
        .ok()?;
    deserializer.end().ok()?;
    Some(outcomes)
}

/// An object whose `value` member goes to the seed `S` (other members are skipped): the
/// transaction's result (`value` = the responses) and each op's `invoke` result (`value` = what
/// the op answered). `value` must come exactly once.
struct ValueMember<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for ValueMember<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for ValueMember<S> {
    type Value = S::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with a `value`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seed = Some(self.0);
        let mut value = None;
        while let Some(key) = map.next_key::<&str>()? {
            if key != "value" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let Some(seed) = seed.take() else {
                return Err(A::Error::duplicate_field("value"));
            };
            value = Some(map.next_value_seed(seed)?);
        }
        value.ok_or_else(|| A::Error::missing_field("value"))
    }
}

/// The list of responses, one per op that ran, in order.
struct ResponsesSeed<'a, O> {
    decoder: &'a O,
    len: usize,
}

impl<'de, O: OpDecoder> DeserializeSeed<'de> for ResponsesSeed<'_, O> {
    type Value = Vec<OpOutcome<O::Value>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, O: OpDecoder> Visitor<'de> for ResponsesSeed<'_, O> {
    type Value = Vec<OpOutcome<O::Value>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of transaction responses")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut outcomes = Vec::with_capacity(self.len);
        loop {
            let index = outcomes.len();
            if index == self.len {
                // Nothing may follow the last op's response.
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(index + 1, &self));
                }
                break;
            }
            let seed = ResponseSeed {
                decoder: self.decoder,
                index,
            };
            match seq.next_element_seed(seed)? {
                Some(outcome) => outcomes.push(Some(outcome)),
                None => break,
            }
        }
        outcomes.resize_with(self.len, || None);
        Ok(outcomes)
    }
}

/// One response, `{"id":…,"jsonrpc":"2.0","result":{…}}` or with `error`, for the op at `index`.
struct ResponseSeed<'a, O> {
    decoder: &'a O,
    index: usize,
}

impl<'de, O: OpDecoder> DeserializeSeed<'de> for ResponseSeed<'_, O> {
    type Value = Result<O::Value, RpcError>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, O: OpDecoder> Visitor<'de> for ResponseSeed<'_, O> {
    type Value = Result<O::Value, RpcError>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "the response of operation {}", self.index)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id_seen = false;
        let mut outcome = None;
        while let Some(key) = map.next_key::<&str>()? {
            match key {
                "id" if !id_seen => {
                    id_seen = true;
                    if map.next_value::<u64>()? != self.index as u64 {
                        return Err(A::Error::custom("a response out of order"));
                    }
                }
                "result" if outcome.is_none() => {
                    // `{"sessionId":…,"value":…}`: the value goes to the decoder.
                    let seed = ValueMember(ValueSeed {
                        decoder: self.decoder,
                        index: self.index,
                    });
                    outcome = Some(Ok(map.next_value_seed(seed)?));
                }
                "error" if outcome.is_none() => outcome = Some(Err(map.next_value::<RpcError>()?)),
                "id" | "result" | "error" => return Err(A::Error::custom("a member twice")),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        match (id_seen, outcome) {
            (true, Some(outcome)) => Ok(outcome),
            _ => Err(A::Error::custom(
                "a response without an id, a result or an error",
            )),
        }
    }
}

/// An op's `value`, handed to the decoder.
struct ValueSeed<'a, O> {
    decoder: &'a O,
    index: usize,
}

impl<'de, O: OpDecoder> DeserializeSeed<'de> for ValueSeed<'_, O> {
    type Value = O::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.decoder.decode(self.index, deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::Deserialize;
    use serde_json::json;

    use crate::kurento::proptest_support::{config, json_value};

    /// Decodes each value as its canonical JSON text; fails in one pass on the ops in `refuse`.
    #[derive(Default)]
    struct Canonical {
        refuse: Vec<usize>,
    }

    impl OpDecoder for Canonical {
        type Value = String;

        fn decode<'de, D: Deserializer<'de>>(
            &self,
            index: usize,
            value: D,
        ) -> Result<String, D::Error> {
            let value = Value::deserialize(value)?;
            if self.refuse.contains(&index) {
                return Err(D::Error::custom("refused"));
            }
            Ok(value.to_string())
        }

        fn decode_text(&self, _: usize, value: &RawValue) -> String {
            protocol::raw_to_value(value).to_string()
        }
    }

    fn reply(text: &str) -> ResultText {
        ResultText::Decoded(RawValue::from_string(text.to_owned()).unwrap())
    }

    /// The reference decoder's outcomes, as the one-pass decoder gives them.
    fn reference(text: &str, len: usize) -> Result<Vec<OpOutcome<String>>, ClientError> {
        let value = invoke_value(serde_json::from_str(text).unwrap())?;
        Ok(decode_responses(value, len)?
            .into_iter()
            .map(|o| o.map(|r| r.map(|raw| protocol::raw_to_value(&raw).to_string())))
            .collect())
    }

    #[test]
    fn transaction_replies_stop_at_the_first_failure() {
        let text = r#"{"sessionId":"s","value":[
            {"id":0,"jsonrpc":"2.0","result":{"sessionId":"s","value":"CONNECTED"}},
            {"id":1,"jsonrpc":"2.0","error":{"code":40101,"data":{"type":"MEDIA_OBJECT_NOT_FOUND"},"message":"Object 'x' not found"}}
        ]}"#;
        let one_pass = decode_in_one_pass(text, 3, &Canonical::default()).unwrap();
        assert_eq!(one_pass, reference(text, 3).unwrap());
        assert_eq!(one_pass[0], Some(Ok("\"CONNECTED\"".to_owned())));
        assert_eq!(
            one_pass[1].as_ref().unwrap().as_ref().unwrap_err().code,
            40101
        );
        assert!(one_pass[2].is_none());
    }

    #[test]
    fn replies_in_another_layout_are_left_to_the_reference_decoder() {
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
            r#"{"value":[{"id":0,"result":{"value":1}},{"id":1,"result":{"value":1}},{"id":2,"result":{"value":1}},{"id":3,"result":{"value":1}}]}"#,
            r#"{"value":null}"#,
            r#"{"value":{}}"#,
            r#"{"sessionId":"s"}"#,
            r#"[{"value":[]}]"#,
            r#"null"#,
        ];
        for text in malformed {
            assert!(
                decode_in_one_pass(text, 3, &Canonical::default()).is_none(),
                "{text}"
            );
            let slow = decode_reply(reply(text), 3, &Canonical::default());
            assert!(
                matches!(slow.unwrap_err(), ClientError::Decode(_)),
                "{text}"
            );
        }
        // Well formed, but not in KMS's order: the reference decoder reads it (the last of two
        // responses naming one op wins, as in a `Value` map).
        let unusual = [
            r#"{"sessionId":"s","value":[{"id":1,"result":{"value":null}},{"id":1,"result":{"value":{"a":[1]}}}]}"#,
            r#"{"value":[{"result":{"value":7},"id":0}],"value":[{"id":0,"result":{"value":8}}]}"#,
            r#"{"value":[{"id":0,"result":{"value":7,"value":8}}]}"#,
        ];
        for text in unusual {
            assert!(
                decode_in_one_pass(text, 2, &Canonical::default()).is_none(),
                "{text}"
            );
            let slow = decode_reply(reply(text), 2, &Canonical::default()).unwrap();
            assert_eq!(slow, reference(text, 2).unwrap(), "{text}");
        }
        let slow = decode_reply(reply(unusual[0]), 2, &Canonical::default()).unwrap();
        assert_eq!(slow, vec![None, Some(Ok(r#"{"a":[1]}"#.to_owned()))]);
    }

    #[test]
    fn members_may_come_in_any_order_and_unknown_ones_are_skipped() {
        let text = r#"{"value":[{"result":{"value":[1,{"b":2}],"x":{}},"jsonrpc":"2.0","id":0},
            {"error":{"message":"m","code":1},"id":1}],"sessionId":"s","extra":[null]}"#;
        let one_pass = decode_in_one_pass(text, 2, &Canonical::default()).unwrap();
        assert_eq!(one_pass, reference(text, 2).unwrap());
        assert_eq!(one_pass[0], Some(Ok(r#"[1,{"b":2}]"#.to_owned())));
    }

    #[test]
    fn a_value_the_decoder_refuses_in_one_pass_is_decoded_from_its_text() {
        let text =
            r#"{"value":[{"id":0,"result":{"value":1}},{"id":1,"result":{"value":{"k":"v"}}}]}"#;
        let decoder = Canonical { refuse: vec![1] };
        assert!(decode_in_one_pass(text, 2, &decoder).is_none());
        let outcomes = decode_reply(reply(text), 2, &decoder).unwrap();
        assert_eq!(outcomes, reference(text, 2).unwrap());
    }

    /// A transaction reply: the responses of the first `ran` ops, the last possibly an error.
    fn transaction_reply() -> impl Strategy<Value = (String, usize)> {
        (1usize..6)
            .prop_flat_map(|len| {
                (
                    Just(len),
                    proptest::collection::vec(json_value(), 0..=len),
                    any::<bool>(),
                )
            })
            .prop_map(|(len, values, last_failed)| {
                let ran = values.len();
                let responses: Vec<Value> = values
                    .into_iter()
                    .enumerate()
                    .map(|(id, value)| {
                        if last_failed && id + 1 == ran {
                            json!({"id": id, "jsonrpc": "2.0", "error": {"code": 40101, "message": value.to_string()}})
                        } else {
                            json!({"id": id, "jsonrpc": "2.0", "result": {"sessionId": "s", "value": value}})
                        }
                    })
                    .collect();
                (json!({"sessionId": "s", "value": responses}).to_string(), len)
            })
    }

    proptest! {
        #![proptest_config(config(256))]

        /// On replies as KMS writes them, one pass agrees with the reference decoder.
        #[test]
        fn one_pass_agrees_with_the_reference((text, len) in transaction_reply()) {
            let one_pass = decode_in_one_pass(&text, len, &Canonical::default());
            prop_assert_eq!(one_pass, Some(reference(&text, len).unwrap()));
        }
    }

    #[test]
    fn transaction_params_are_written_as_json_values_would_be() {
        let ops = [
            Op {
                object: "P/E_kurento.WebRtcEndpoint".into(),
                operation: "getStats",
                params: Some(Box::leak(protocol::to_raw(&json!({"mediaType": "AUDIO"})))),
            },
            Op {
                object: "P/E\"x\\y\u{1}é".into(),
                operation: "getMediaState",
                params: None,
            },
        ];
        for session in ["s1", "s\"2"] {
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
                            op.params.map(protocol::raw_to_value),
                            None,
                        ),
                    })
                })
                .collect();
            let expected = json!({ "operations": operations, "sessionId": session });
            assert_eq!(encode_params(&ops, session), expected.to_string());
        }
        assert_eq!(
            encode_params(&[], "s"),
            r#"{"operations":[],"sessionId":"s"}"#
        );
    }
}
