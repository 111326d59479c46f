//! `getSinkConnections` answers: where an element's media goes (`ElementConnectionData`,
//! docs/kms-protocol.md §10). The inspection API draws them as the edges of a pipeline's graph.
//!
//! Every element's sink connections are kept from one cycle to the next, so they are stored
//! compactly: the source is the element that was asked (not stored again), the sink's id is the
//! inventory's, and the usual media types and descriptions take no room.

use std::sync::Arc;

use serde::Deserialize;

use super::lenient::{self, MaybeStr};

/// One link out of an element: media of `media` type flows from it into `sink`.
///
/// 32 bytes: the usual media types are a tag and the usual descriptions (`default`) are implied;
/// anything else is boxed apart, since nearly no connection has it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SinkConnection {
    /// Shared with the inventory when it knows the sink (see `sink_connections_from`).
    pub sink: Arc<str>,
    media: UsualMedia,
    unusual: Option<Box<Unusual>>,
}

/// KMS's media types of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum UsualMedia {
    Audio,
    Video,
    Data,
}

impl UsualMedia {
    const ALL: [UsualMedia; 3] = [UsualMedia::Audio, UsualMedia::Video, UsualMedia::Data];

    fn name(self) -> &'static str {
        match self {
            UsualMedia::Audio => "AUDIO",
            UsualMedia::Video => "VIDEO",
            UsualMedia::Data => "DATA",
        }
    }
}

/// A connection's names when one of them is not the usual one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Unusual {
    media: Box<str>,
    source_description: Box<str>,
    sink_description: Box<str>,
}

const DEFAULT_DESCRIPTION: &str = "default";

impl SinkConnection {
    /// A connection of `media` (as KMS spells it) between pads with these descriptions.
    pub fn with_names(
        sink: Arc<str>,
        media: &str,
        source_description: &str,
        sink_description: &str,
    ) -> SinkConnection {
        let usual = UsualMedia::ALL.into_iter().find(|m| m.name() == media);
        match usual {
            Some(usual)
                if source_description == DEFAULT_DESCRIPTION
                    && sink_description == DEFAULT_DESCRIPTION =>
            {
                SinkConnection {
                    sink,
                    media: usual,
                    unusual: None,
                }
            }
            _ => SinkConnection {
                sink,
                media: UsualMedia::Audio,
                unusual: Some(Box::new(Unusual {
                    media: media.into(),
                    source_description: source_description.into(),
                    sink_description: sink_description.into(),
                })),
            },
        }
    }

    /// A connection of `media` between the default pads.
    pub fn new(sink: &str, media: &str) -> SinkConnection {
        Self::with_names(sink.into(), media, DEFAULT_DESCRIPTION, DEFAULT_DESCRIPTION)
    }

    /// KMS's `type`: `AUDIO`, `VIDEO` or `DATA` (kept as KMS spells it: the API shows it).
    pub fn media(&self) -> &str {
        match &self.unusual {
            Some(unusual) => &unusual.media,
            None => self.media.name(),
        }
    }

    pub fn source_description(&self) -> &str {
        self.unusual
            .as_ref()
            .map_or(DEFAULT_DESCRIPTION, |u| &u.source_description)
    }

    pub fn sink_description(&self) -> &str {
        self.unusual
            .as_ref()
            .map_or(DEFAULT_DESCRIPTION, |u| &u.sink_description)
    }
}

/// The members of `ElementConnectionData` read here.
#[derive(Deserialize, Default)]
#[serde(default)]
struct ConnectionData<'a> {
    #[serde(borrow)]
    source: MaybeStr<'a>,
    #[serde(borrow)]
    sink: MaybeStr<'a>,
    #[serde(borrow, rename = "type")]
    media: MaybeStr<'a>,
    #[serde(borrow, rename = "sourceDescription")]
    source_description: MaybeStr<'a>,
    #[serde(borrow, rename = "sinkDescription")]
    sink_description: MaybeStr<'a>,
}

/// A member's text, empty when absent.
fn name<'a>(field: &'a MaybeStr<'_>) -> &'a str {
    field.as_deref().unwrap_or_default()
}

/// Decodes `source`'s `getSinkConnections` answer (one value of a larger reply); entries without
/// a sink, or whose source is not `source` (KMS always names the element asked), are skipped;
/// missing descriptions read as empty. `shared_id` gives the shared copy of a sink's id (the
/// inventory's).
pub fn sink_connections_from<'de, D: serde::Deserializer<'de>>(
    source: &str,
    deserializer: D,
    shared_id: impl Fn(&str) -> Arc<str>,
) -> Result<Vec<SinkConnection>, D::Error> {
    let mut links = Vec::new();
    lenient::for_each_object(deserializer, |c: ConnectionData| {
        if c.source.as_deref() == Some(source)
            && let Some(sink) = c.sink.as_deref()
        {
            links.push(SinkConnection::with_names(
                shared_id(sink),
                name(&c.media),
                name(&c.source_description),
                name(&c.sink_description),
            ));
        }
    })?;
    // Kept until the next cycle (the topology): no slack from growing.
    links.shrink_to_fit();
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_sink_connections(
        source: &str,
        text: &str,
        shared_id: impl Fn(&str) -> Arc<str>,
    ) -> Vec<SinkConnection> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        sink_connections_from(source, &mut deserializer, shared_id).unwrap()
    }

    #[test]
    fn connection_data_decodes_and_malformed_entries_are_skipped() {
        let answer = r#"[
            {"__module__": "kurento", "__type__": "ElementConnectionData",
             "source": "p/a", "sink": "p/b", "type": "VIDEO",
             "sourceDescription": "default", "sinkDescription": "default"},
            {"source": "p/a", "sink": "p/c", "type": "AUDIO", "sinkDescription": "custom"},
            {"sink": "p/d", "type": "AUDIO"},
            {"source": "p/other", "sink": "p/e", "type": "AUDIO"},
            {"source": "p/a", "sink": 3, "type": "AUDIO"},
            "not an object"
        ]"#;
        let known: Arc<str> = Arc::from("p/b");
        let links = decode_sink_connections("p/a", answer, |id| {
            if id == &*known {
                Arc::clone(&known)
            } else {
                Arc::from(id)
            }
        });
        assert_eq!(
            links,
            [
                SinkConnection::new("p/b", "VIDEO"),
                SinkConnection::with_names("p/c".into(), "AUDIO", "", "custom"),
            ]
        );
        let names = |c: &SinkConnection| {
            (
                c.media().to_owned(),
                c.source_description().to_owned(),
                c.sink_description().to_owned(),
            )
        };
        assert_eq!(
            names(&links[0]),
            ("VIDEO".into(), "default".into(), "default".into())
        );
        assert!(links[0].unusual.is_none(), "usual names take no room");
        assert_eq!(
            names(&links[1]),
            ("AUDIO".into(), "".into(), "custom".into())
        );
        assert_eq!(std::mem::size_of::<SinkConnection>(), 32);
        assert!(
            Arc::ptr_eq(&links[0].sink, &known),
            "a known sink's id is shared"
        );
        assert!(decode_sink_connections("p/a", "null", |id| Arc::from(id)).is_empty());
    }
}
