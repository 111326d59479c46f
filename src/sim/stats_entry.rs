//! One `RTCInboundRTPStreamStats` / `RTCOutboundRTPStreamStats` entry, field for field as KMS
//! writes it (docs/kms-protocol.md §9), from whatever produced the numbers (a profile or a real
//! peer).

use serde_json::{Map, Value};

use super::dialect::Dialect;

/// A double as jsoncpp prints it in KMS captures: whole values without a decimal point.
pub fn double(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        Value::from(x)
    }
}

/// The numbers of one RTP stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RtpEntry {
    pub inbound: bool,
    pub stats_id: String,
    pub ssrc: u32,
    /// Received (inbound) or sent (outbound) counters.
    pub packets: u64,
    pub bytes: u64,
    pub packets_lost: i64,
    /// Raw RTCP value 0–255.
    pub fraction_lost: f64,
    pub nacks: u64,
    pub plis: u64,
    pub firs: u64,
    /// bps.
    pub remb: i64,
    /// Inbound only: seconds.
    pub jitter: f64,
    /// Outbound only: seconds (0 before the first receiver report).
    pub round_trip_time: f64,
    /// Outbound only: bps.
    pub target_bitrate: f64,
}

impl RtpEntry {
    /// The entry's JSON at media time `now_ms` (epoch ms) in `dialect`.
    pub fn to_json(&self, now_ms: u64, dialect: Dialect) -> Value {
        let mut e = Map::new();
        e.insert("__module__".into(), "kurento".into());
        e.insert("associateStatsId".into(), "".into());
        e.insert("codecId".into(), "".into());
        e.insert("firCount".into(), self.firs.into());
        e.insert("fractionLost".into(), double(self.fraction_lost));
        e.insert("id".into(), self.stats_id.clone().into());
        e.insert("isRemote".into(), false.into());
        e.insert("mediaTrackId".into(), "".into());
        e.insert("nackCount".into(), self.nacks.into());
        e.insert("packetsLost".into(), self.packets_lost.into());
        e.insert("pliCount".into(), self.plis.into());
        e.insert("remb".into(), self.remb.into());
        e.insert("sliCount".into(), 0.into());
        e.insert("ssrc".into(), self.ssrc.to_string().into());
        e.insert("timestampMillis".into(), now_ms.into());
        e.insert("transportId".into(), "".into());
        if dialect == Dialect::V6 {
            // Stats.timestamp is a double set from time(): whole seconds.
            e.insert("timestamp".into(), double((now_ms / 1000) as f64));
        }
        if self.inbound {
            e.insert("__type__".into(), "RTCInboundRTPStreamStats".into());
            e.insert("bytesReceived".into(), self.bytes.into());
            e.insert("packetsReceived".into(), self.packets.into());
            e.insert("jitter".into(), double(self.jitter));
            e.insert("type".into(), "inboundrtp".into());
        } else {
            e.insert("__type__".into(), "RTCOutboundRTPStreamStats".into());
            e.insert("bytesSent".into(), self.bytes.into());
            e.insert("packetsSent".into(), self.packets.into());
            e.insert("roundTripTime".into(), double(self.round_trip_time));
            e.insert("targetBitrate".into(), double(self.target_bitrate));
            e.insert("type".into(), "outboundrtp".into());
        }
        Value::Object(e)
    }
}
