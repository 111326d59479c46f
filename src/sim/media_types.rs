//! The media vocabulary the simulator's profiles, peers, SDP and stats share: media types, RTP
//! totals and the silence after which media counts as disconnected.

use std::collections::BTreeMap;

/// AUDIO, VIDEO or DATA, as KMS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MediaType {
    Audio,
    Video,
    Data,
}

impl MediaType {
    pub fn parse(text: &str) -> Option<MediaType> {
        match text {
            "AUDIO" => Some(MediaType::Audio),
            "VIDEO" => Some(MediaType::Video),
            "DATA" => Some(MediaType::Data),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "AUDIO",
            MediaType::Video => "VIDEO",
            MediaType::Data => "DATA",
        }
    }

    /// `"audio"` / `"video"` / `"data"` (the keys of [`RtpTotals`] maps).
    pub fn lower(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
            MediaType::Data => "data",
        }
    }
}

/// mediaState turns DISCONNECTED after this long without RTCP (docs/kms-protocol.md §11).
pub const DISCONNECT_AFTER_MS: u64 = 5_000;

/// Sums of RTP counters over streams, as `getStats` reports them (inbound: bytesReceived and
/// packetsReceived; outbound: bytesSent and packetsSent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtpTotals {
    pub bytes: u64,
    pub packets: u64,
    pub packets_lost: i64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
}

/// `(media, direction)` → totals, e.g. `("video", "inbound")`.
pub type TotalsMap = BTreeMap<(String, String), RtpTotals>;

/// The four keys of a [`TotalsMap`], all zero.
pub fn empty_totals() -> TotalsMap {
    let mut map = TotalsMap::new();
    for media in ["audio", "video"] {
        for direction in ["inbound", "outbound"] {
            map.insert(
                (media.to_owned(), direction.to_owned()),
                RtpTotals::default(),
            );
        }
    }
    map
}
