//! `getSinkConnections` / `getSourceConnections` answers: the links between media elements
//! (`ElementConnectionData`, docs/kms-protocol.md §10). The inspection API draws them as the
//! edges of a pipeline's graph.

use serde_json::Value;

/// One link: media of `media` type flows from `source` into `sink`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ElementConnection {
    pub source: String,
    pub sink: String,
    /// KMS's `type`: `AUDIO`, `VIDEO` or `DATA` (kept as KMS spells it: the API shows it).
    pub media: String,
    pub source_description: String,
    pub sink_description: String,
}

/// Decodes a list of `ElementConnectionData`; entries without a source or sink are skipped
/// (KMS always sends both), missing descriptions read as empty.
pub fn decode_connections(value: &Value) -> Vec<ElementConnection> {
    let text = |entry: &Value, key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|entry| {
                    Some(ElementConnection {
                        source: text(entry, "source")?,
                        sink: text(entry, "sink")?,
                        media: text(entry, "type").unwrap_or_default(),
                        source_description: text(entry, "sourceDescription").unwrap_or_default(),
                        sink_description: text(entry, "sinkDescription").unwrap_or_default(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connection_data_decodes_and_malformed_entries_are_skipped() {
        let answer = json!([
            {"__module__": "kurento", "__type__": "ElementConnectionData",
             "source": "p/a", "sink": "p/b", "type": "VIDEO",
             "sourceDescription": "default", "sinkDescription": "default"},
            {"source": "p/a", "sink": "p/c", "type": "AUDIO"},
            {"sink": "p/d", "type": "AUDIO"},
            "not an object",
        ]);
        let links = decode_connections(&answer);
        assert_eq!(links.len(), 2);
        assert_eq!(
            (
                links[0].sink.as_str(),
                links[0].media.as_str(),
                links[0].sink_description.as_str()
            ),
            ("p/b", "VIDEO", "default")
        );
        assert_eq!(
            (links[1].sink.as_str(), links[1].source_description.as_str()),
            ("p/c", "")
        );
        assert!(decode_connections(&json!(null)).is_empty());
    }
}
