//! Element kinds: what an element answers, decided by its KMS class name.

/// What an element answers, by its class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementKind {
    /// WebRtcEndpoint: RTP reads plus ICE.
    WebRtc,
    /// RtpEndpoint (and other BaseRtpEndpoints).
    Rtp,
    /// PlayerEndpoint, RecorderEndpoint: flow states plus the UriEndpoint state.
    Uri,
    /// Any other MediaElement: filters, PassThrough, HubPort, HttpPostEndpoint, custom modules.
    Plain,
    /// Hubs are not MediaElements ([docs/kms-protocol.md §7](../../docs/kms-protocol.md)): nothing
    /// to read.
    Hub,
}

impl ElementKind {
    /// The classes of [`ElementKind::Uri`].
    pub const URI_CLASSES: [&'static str; 2] = ["PlayerEndpoint", "RecorderEndpoint"];

    pub fn of(element_type: &str) -> ElementKind {
        match element_type {
            "WebRtcEndpoint" => ElementKind::WebRtc,
            "RtpEndpoint" => ElementKind::Rtp,
            t if Self::URI_CLASSES.contains(&t) => ElementKind::Uri,
            "Composite" | "Dispatcher" | "DispatcherOneToMany" | "AlphaBlending" | "Mixer" => {
                ElementKind::Hub
            }
            _ => ElementKind::Plain,
        }
    }
}
