//! What to read of each element every cycle: the getters each element type answers
//! ([`plan`]), each as the `invoke` it is sent as. Pure.

use std::sync::{Arc, LazyLock};

use serde_json::json;
use serde_json::value::RawValue;

use crate::analysis::model::{Media, Scope};
use crate::kurento::kinds::ElementKind;
use crate::kurento::{Op, protocol};

/// An element to read this cycle.
#[derive(Debug, Clone)]
pub struct Target {
    /// The inventory's copy of the id, shared.
    pub id: Arc<str>,
    pub element_type: String,
    pub scope: Scope,
}

/// One getter of one element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Read {
    /// `getStats(mediaType)`; without a media type only latency entries matter (non-RTP
    /// elements answer `null` unless the application enabled latency stats).
    Stats(Option<Media>),
    FlowingIn(Media),
    FlowingOut(Media),
    Transcoding(Media),
    MediaState,
    ConnectionState,
    IceStates,
    CandidatePairs,
    UriState,
    SinkConnections,
}

/// `{"mediaType": …}` of each media, written once.
static MEDIA_PARAMS: LazyLock<[Box<RawValue>; 2]> =
    LazyLock::new(|| Media::ALL.map(|media| protocol::to_raw(&json!({"mediaType": media.kms()}))));

impl Read {
    /// The `invoke` that reads this of `object`.
    pub fn op(self, object: &Arc<str>) -> Op {
        let media = |media: Media| Some(&*MEDIA_PARAMS[media as usize]);
        let (operation, params) = match self {
            Read::Stats(Some(m)) => ("getStats", media(m)),
            Read::Stats(None) => ("getStats", None),
            Read::FlowingIn(m) => ("isMediaFlowingIn", media(m)),
            Read::FlowingOut(m) => ("isMediaFlowingOut", media(m)),
            Read::Transcoding(m) => ("isMediaTranscoding", media(m)),
            Read::MediaState => ("getMediaState", None),
            Read::ConnectionState => ("getConnectionState", None),
            Read::IceStates => ("getIceConnectionState", None),
            Read::CandidatePairs => ("getICECandidatePairs", None),
            Read::UriState => ("getState", None),
            Read::SinkConnections => ("getSinkConnections", None),
        };
        Op {
            object: Arc::clone(object),
            operation,
            params,
        }
    }
}

/// The reads of one element per cycle.
pub fn plan(kind: ElementKind) -> Vec<Read> {
    let mut reads = Vec::new();
    if kind == ElementKind::Hub {
        return reads;
    }
    let rtp = matches!(kind, ElementKind::WebRtc | ElementKind::Rtp);
    if rtp {
        reads.extend(Media::ALL.map(|m| Read::Stats(Some(m))));
    } else {
        reads.push(Read::Stats(None));
    }
    for media in Media::ALL {
        reads.extend([
            Read::FlowingIn(media),
            Read::FlowingOut(media),
            Read::Transcoding(media),
        ]);
    }
    // Not `getSourceConnections`: every source connection is another element's sink connection
    // (see `count_connections`), and in a mesh the list is as long as all stats together.
    reads.push(Read::SinkConnections);
    if rtp {
        reads.extend([Read::MediaState, Read::ConnectionState]);
    }
    if kind == ElementKind::WebRtc {
        reads.extend([Read::IceStates, Read::CandidatePairs]);
    }
    if kind == ElementKind::Uri {
        reads.push(Read::UriState);
    }
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_per_element_kind() {
        assert_eq!(plan(ElementKind::of("WebRtcEndpoint")).len(), 13);
        assert_eq!(plan(ElementKind::of("RtpEndpoint")).len(), 11);
        assert_eq!(plan(ElementKind::of("RecorderEndpoint")).len(), 9);
        assert_eq!(plan(ElementKind::of("HubPort")).len(), 8);
        assert!(plan(ElementKind::of("Composite")).is_empty());
        let ops: Vec<&str> = plan(ElementKind::WebRtc)
            .iter()
            .map(|r| r.op(&Arc::from("x")).operation)
            .collect();
        assert!(
            ops.iter()
                .all(|op| op.starts_with("get") || op.starts_with("is"))
        );
    }
}
