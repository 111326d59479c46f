//! The KMS class catalogue the simulator knows: hierarchy, kind and events (docs/kms-protocol.md
//! §7).

use super::dialect::Dialect;

/// What an object is, as far as the simulator's behaviour goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ServerManager,
    Pipeline,
    /// Composite, Dispatcher, …: not a MediaElement (no stats, no flow events).
    Hub,
    HubPort,
    WebRtc,
    Rtp,
    Player,
    Recorder,
    HttpPost,
    PassThrough,
    Filter,
}

/// One concrete class.
#[derive(Debug)]
pub struct Class {
    pub name: &'static str,
    pub kind: Kind,
    /// Ancestors, nearest first, without the class itself (as `describe` returns them).
    pub hierarchy: &'static [&'static str],
    /// The kmd module that provides the factory (for `getInfo`).
    pub module: &'static str,
}

const OBJ: &[&str] = &["kurento.MediaObject"];
const RTP: &[&str] = &[
    "kurento.BaseRtpEndpoint",
    "kurento.SdpEndpoint",
    "kurento.SessionEndpoint",
    "kurento.Endpoint",
    "kurento.MediaElement",
    "kurento.MediaObject",
];
const URI: &[&str] = &[
    "kurento.UriEndpoint",
    "kurento.Endpoint",
    "kurento.MediaElement",
    "kurento.MediaObject",
];
const HTTP: &[&str] = &[
    "kurento.HttpEndpoint",
    "kurento.SessionEndpoint",
    "kurento.Endpoint",
    "kurento.MediaElement",
    "kurento.MediaObject",
];
const HUB: &[&str] = &["kurento.Hub", "kurento.MediaObject"];
const ELEMENT: &[&str] = &["kurento.MediaElement", "kurento.MediaObject"];
const FILTER: &[&str] = &[
    "kurento.Filter",
    "kurento.MediaElement",
    "kurento.MediaObject",
];

macro_rules! class {
    ($name:literal, $kind:ident, $hier:ident, $module:literal) => {
        Class {
            name: $name,
            kind: Kind::$kind,
            hierarchy: $hier,
            module: $module,
        }
    };
}

/// Every class the simulator can describe; all but ServerManager have a factory.
pub static CLASSES: &[Class] = &[
    class!("ServerManager", ServerManager, OBJ, "core"),
    class!("MediaPipeline", Pipeline, OBJ, "core"),
    class!("HubPort", HubPort, ELEMENT, "core"),
    class!("PassThrough", PassThrough, ELEMENT, "core"),
    class!("WebRtcEndpoint", WebRtc, RTP, "elements"),
    class!("RtpEndpoint", Rtp, RTP, "elements"),
    class!("PlayerEndpoint", Player, URI, "elements"),
    class!("RecorderEndpoint", Recorder, URI, "elements"),
    class!("HttpPostEndpoint", HttpPost, HTTP, "elements"),
    class!("Composite", Hub, HUB, "elements"),
    class!("Dispatcher", Hub, HUB, "elements"),
    class!("DispatcherOneToMany", Hub, HUB, "elements"),
    class!("AlphaBlending", Hub, HUB, "elements"),
    class!("Mixer", Hub, HUB, "elements"),
    class!("GStreamerFilter", Filter, FILTER, "filters"),
    class!("FaceOverlayFilter", Filter, FILTER, "filters"),
    class!("ImageOverlayFilter", Filter, FILTER, "filters"),
    class!("ZBarFilter", Filter, FILTER, "filters"),
];

/// The class of a `create` type (`WebRtcEndpoint` or `kurento.WebRtcEndpoint`).
pub fn factory(type_name: &str) -> Option<&'static Class> {
    let short = type_name.strip_prefix("kurento.").unwrap_or(type_name);
    CLASSES
        .iter()
        .find(|c| c.name == short && c.kind != Kind::ServerManager)
}

/// The ServerManager class.
pub fn server_manager() -> &'static Class {
    &CLASSES[0]
}

impl Class {
    pub fn qualified(&self) -> String {
        format!("kurento.{}", self.name)
    }

    /// True for MediaElements (everything with media pads; hubs are not).
    pub fn is_element(&self) -> bool {
        !matches!(self.kind, Kind::ServerManager | Kind::Pipeline | Kind::Hub)
    }

    pub fn is_rtp(&self) -> bool {
        matches!(self.kind, Kind::WebRtc | Kind::Rtp)
    }

    pub fn is_uri(&self) -> bool {
        matches!(self.kind, Kind::Player | Kind::Recorder)
    }

    /// Whether `event` can be subscribed on this class (40106 otherwise).
    pub fn has_event(&self, event: &str, dialect: Dialect) -> bool {
        const OBJECT: &[&str] = &["Error"];
        const MANAGER: &[&str] = &["ObjectCreated", "ObjectDestroyed"];
        const ELEMENT: &[&str] = &[
            "ElementConnected",
            "ElementDisconnected",
            "MediaFlowInStateChanged",
            "MediaFlowOutStateChanged",
            "MediaTranscodingStateChanged",
        ];
        const ELEMENT_6: &[&str] = &[
            "MediaFlowInStateChange",
            "MediaFlowOutStateChange",
            "MediaTranscodingStateChange",
        ];
        const SESSION: &[&str] = &["MediaSessionStarted", "MediaSessionTerminated"];
        const BASE_RTP: &[&str] = &["MediaStateChanged", "ConnectionStateChanged"];
        const WEBRTC: &[&str] = &[
            "IceCandidateFound",
            "IceGatheringDone",
            "IceComponentStateChanged",
            "NewCandidatePairSelected",
            "DataChannelOpened",
            "DataChannelClosed",
        ];
        const WEBRTC_7: &[&str] = &["DtlsConnectionStateChange"];
        const WEBRTC_6: &[&str] = &[
            "OnIceCandidate",
            "OnIceGatheringDone",
            "OnIceComponentStateChanged",
            "IceComponentStateChange",
            "OnDataChannelOpened",
            "DataChannelOpen",
            "OnDataChannelClosed",
            "DataChannelClose",
        ];
        let v6 = dialect == Dialect::V6;
        let mut lists: Vec<&[&str]> = vec![OBJECT];
        match self.kind {
            Kind::ServerManager => lists.push(MANAGER),
            Kind::Pipeline | Kind::Hub => {}
            _ => {
                lists.push(ELEMENT);
                if v6 {
                    lists.push(ELEMENT_6);
                }
            }
        }
        match self.kind {
            Kind::WebRtc | Kind::Rtp => {
                lists.extend([SESSION, BASE_RTP]);
                if self.kind == Kind::WebRtc {
                    lists.push(WEBRTC);
                    lists.push(if v6 { WEBRTC_6 } else { WEBRTC_7 });
                } else {
                    lists.push(&["OnKeySoftLimit"]);
                }
            }
            Kind::HttpPost => lists.extend([SESSION, &["EndOfStream"][..]]),
            Kind::Player => lists.push(&["UriEndpointStateChanged", "EndOfStream"]),
            Kind::Recorder => {
                lists.push(&["UriEndpointStateChanged", "Recording", "Paused", "Stopped"])
            }
            _ => {}
        }
        if self.name == "ZBarFilter" {
            lists.push(&["CodeFound"]);
        }
        lists.iter().any(|l| l.contains(&event))
    }
}

/// 6.x names under which a 7.x event is also delivered (6.x sends both to their subscribers).
pub fn legacy_event_names(event: &str) -> &'static [&'static str] {
    match event {
        "MediaFlowInStateChanged" => &["MediaFlowInStateChange"],
        "MediaFlowOutStateChanged" => &["MediaFlowOutStateChange"],
        "MediaTranscodingStateChanged" => &["MediaTranscodingStateChange"],
        "IceCandidateFound" => &["OnIceCandidate"],
        "IceGatheringDone" => &["OnIceGatheringDone"],
        "IceComponentStateChanged" => &["OnIceComponentStateChanged", "IceComponentStateChange"],
        "DataChannelOpened" => &["OnDataChannelOpened", "DataChannelOpen"],
        "DataChannelClosed" => &["OnDataChannelClosed", "DataChannelClose"],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factories_accept_short_and_qualified_names() {
        let cases = [
            ("WebRtcEndpoint", Some("WebRtcEndpoint")),
            ("kurento.MediaPipeline", Some("MediaPipeline")),
            ("ServerManager", None),
            ("NoSuchThing", None),
        ];
        for (name, expected) in cases {
            assert_eq!(factory(name).map(|c| c.name), expected, "{name}");
        }
    }

    #[test]
    fn events_per_class_and_dialect() {
        let web = factory("WebRtcEndpoint").unwrap();
        let hub = factory("Composite").unwrap();
        let cases = [
            (web, "IceCandidateFound", Dialect::V7, true),
            (web, "OnIceCandidate", Dialect::V7, false),
            (web, "OnIceCandidate", Dialect::V6, true),
            (web, "DtlsConnectionStateChange", Dialect::V6, false),
            (web, "MediaFlowInStateChanged", Dialect::V7, true),
            (hub, "MediaFlowInStateChanged", Dialect::V7, false),
            (hub, "Error", Dialect::V7, true),
            (server_manager(), "ObjectCreated", Dialect::V7, true),
        ];
        for (class, event, dialect, expected) in cases {
            assert_eq!(
                class.has_event(event, dialect),
                expected,
                "{} {event} {dialect:?}",
                class.name
            );
        }
    }
}
