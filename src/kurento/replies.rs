//! Typed decoding of the results of KMS's plain calls (`connect`, `invoke` and the getters the
//! exporter reads one at a time), with errors that show what KMS sent.

use serde_json::Value;

use super::client::ClientError;
use super::protocol::{self, ServerInfo};

/// A decode error naming what was expected and showing (the start of) what came.
pub(super) fn decode_err(expected: &str, got: &Value) -> ClientError {
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

/// `connect`'s result: (serverId, sessionId), both non-empty.
pub(super) fn decode_connect(result: &Value) -> Result<(String, String), ClientError> {
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

/// A list of object ids; `null` is an empty list.
pub(super) fn decode_ids(value: &Value) -> Result<Vec<String>, ClientError> {
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

pub(super) fn decode_integer(value: &Value) -> Result<i64, ClientError> {
    protocol::integer(value).ok_or_else(|| decode_err("an integer", value))
}

pub(super) fn decode_number(value: &Value) -> Result<f64, ClientError> {
    protocol::number(value).ok_or_else(|| decode_err("a number", value))
}

/// `getInfo`, tolerating `null` members (treated as absent).
pub(super) fn decode_info(mut value: Value) -> Result<ServerInfo, ClientError> {
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
    fn long_bad_values_are_truncated_in_errors() {
        let big = Value::String("é".repeat(500));
        let ClientError::Decode(text) = decode_err("a number", &big) else {
            panic!("not a decode error")
        };
        assert!(text.chars().count() < 150, "{text}");
    }
}
