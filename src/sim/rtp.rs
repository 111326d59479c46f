//! RTP as the simulator's peers speak it: header parsing, per-SSRC receive accounting (RFC 3550
//! A.1 sequence numbers, A.3 loss, A.8 jitter) and packets the simulated KMS sends back. Pure.

/// The fixed part of an RTP header (RFC 3550 §5.1), without CSRCs or extensions.
pub const HEADER_LEN: usize = 12;

/// What the simulator reads from a datagram that looks like RTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Payload bytes (after CSRCs, the extension and before padding): what KMS counts in
    /// `bytesReceived` (GStreamer's `octets-received`).
    pub payload_len: usize,
}

/// Parses an RTP packet; `None` for anything else (RTCP, STUN, plain bytes).
pub fn parse(datagram: &[u8]) -> Option<RtpHeader> {
    if datagram.len() < HEADER_LEN || datagram[0] >> 6 != 2 {
        return None;
    }
    let payload_type = datagram[1] & 0x7f;
    // RTCP shares the port under rtcp-mux; its packet types 200-204 read as PT 72-76 (RFC 5761).
    if (72..=76).contains(&payload_type) {
        return None;
    }
    let csrc_count = usize::from(datagram[0] & 0x0f);
    let mut offset = HEADER_LEN + 4 * csrc_count;
    if datagram[0] & 0x10 != 0 {
        let words = datagram.get(offset + 2..offset + 4)?;
        offset += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
    }
    let mut end = datagram.len();
    if datagram[0] & 0x20 != 0 {
        end = end.checked_sub(usize::from(*datagram.last()?))?;
    }
    Some(RtpHeader {
        payload_type,
        sequence: u16::from_be_bytes([datagram[2], datagram[3]]),
        timestamp: u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]),
        ssrc: u32::from_be_bytes([datagram[8], datagram[9], datagram[10], datagram[11]]),
        payload_len: end.checked_sub(offset)?,
    })
}

/// Whether a datagram is RTCP (version 2, packet type 200–204), which shares the port under
/// rtcp-mux: it proves the peer is there but carries no media.
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 8 && datagram[0] >> 6 == 2 && (200..=204).contains(&datagram[1])
}

/// One RTP packet with a zero-filled payload of `payload_len` bytes.
pub fn packet(
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    ssrc: u32,
    payload_len: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload_len);
    out.push(0x80);
    out.push(payload_type & 0x7f);
    out.extend_from_slice(&sequence.to_be_bytes());
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.resize(HEADER_LEN + payload_len, 0);
    out
}

/// Receive statistics of one remote SSRC, as KMS keeps them for `inboundrtp`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiveStats {
    pub ssrc: u32,
    pub packets: u64,
    pub bytes: u64,
    base_seq: u32,
    /// Extended highest sequence number (cycles in the upper 16 bits).
    max_seq: u32,
    /// Interarrival jitter in timestamp units, scaled by 16 as RFC 3550 A.8 does.
    jitter_x16: u64,
    last_transit: Option<i64>,
    /// `expected` and `packets` at the last interval boundary, for `fractionLost`.
    prior_expected: u64,
    prior_received: u64,
    fraction_lost: u8,
    interval_started_ms: u64,
}

/// `fractionLost` covers roughly one RTCP interval.
const LOSS_INTERVAL_MS: u64 = 1_000;

impl ReceiveStats {
    pub fn new(first: &RtpHeader, now_ms: u64) -> ReceiveStats {
        let seq = u32::from(first.sequence);
        ReceiveStats {
            ssrc: first.ssrc,
            packets: 0,
            bytes: 0,
            base_seq: seq,
            max_seq: seq,
            jitter_x16: 0,
            last_transit: None,
            prior_expected: 0,
            prior_received: 0,
            fraction_lost: 0,
            interval_started_ms: now_ms,
        }
    }

    /// Accounts one packet that arrived at `now_ms`; `clock_rate` is the codec's (Hz).
    pub fn receive(&mut self, h: &RtpHeader, now_ms: u64, clock_rate: u32) {
        let seq = u32::from(h.sequence);
        let cycles = self.max_seq & 0xffff_0000;
        let low = self.max_seq & 0xffff;
        // A sequence number "ahead" within half the space is newer, possibly after a wrap.
        let delta = seq.wrapping_sub(low) & 0xffff;
        if delta != 0 && delta < 0x8000 {
            let wrapped = seq < low;
            self.max_seq = if wrapped {
                cycles.wrapping_add(0x1_0000)
            } else {
                cycles
            } | seq;
        }
        self.packets += 1;
        self.bytes += h.payload_len as u64;
        let arrival = (now_ms as i64) * i64::from(clock_rate) / 1000;
        let transit = arrival - i64::from(h.timestamp);
        if let Some(last) = self.last_transit {
            let d = (transit - last).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16 (RFC 3550 A.8).
            self.jitter_x16 = self.jitter_x16 + d - ((self.jitter_x16 + 8) >> 4);
        }
        self.last_transit = Some(transit);
        if now_ms >= self.interval_started_ms + LOSS_INTERVAL_MS {
            let expected = self.expected();
            let expected_interval = expected.saturating_sub(self.prior_expected);
            let received_interval = self.packets.saturating_sub(self.prior_received);
            let lost_interval = expected_interval.saturating_sub(received_interval);
            self.fraction_lost = (lost_interval << 8)
                .checked_div(expected_interval)
                .map_or(0, |f| f.min(255) as u8);
            self.prior_expected = expected;
            self.prior_received = self.packets;
            self.interval_started_ms = now_ms;
        }
    }

    /// Packets the sequence numbers say were sent (RFC 3550 A.3).
    pub fn expected(&self) -> u64 {
        u64::from(self.max_seq.wrapping_sub(self.base_seq).wrapping_add(1))
    }

    /// Cumulative loss; negative when duplicates outnumber gaps, as RTCP allows.
    pub fn lost(&self) -> i64 {
        self.expected() as i64 - self.packets as i64
    }

    /// Interarrival jitter in seconds.
    pub fn jitter_seconds(&self, clock_rate: u32) -> f64 {
        (self.jitter_x16 >> 4) as f64 / f64::from(clock_rate.max(1))
    }

    /// The 8-bit RTCP loss fraction of the last interval (0–255).
    pub fn fraction_lost(&self) -> u8 {
        self.fraction_lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(seq: u16, ts: u32) -> RtpHeader {
        parse(&packet(96, seq, ts, 77, 100)).unwrap()
    }

    #[test]
    fn parses_what_it_builds_and_rejects_non_rtp() {
        let h = header(65_000, 9_000);
        assert_eq!(
            (
                h.payload_type,
                h.sequence,
                h.timestamp,
                h.ssrc,
                h.payload_len
            ),
            (96, 65_000, 9_000, 77, 100)
        );
        assert_eq!(parse(b"hello peer"), None, "not version 2");
        let report = [0x81, 201, 0, 1, 0, 0, 0, 9];
        assert_eq!(parse(&report), None, "an RTCP receiver report is not RTP");
        assert!(is_rtcp(&report) && !is_rtcp(&packet(96, 1, 0, 1, 10)) && !is_rtcp(b"hello peer"));
        assert_eq!(parse(&[0x80, 96, 0]), None, "too short");
        let mut with_csrc = packet(111, 1, 0, 5, 20);
        with_csrc[0] |= 0x02;
        assert_eq!(
            parse(&with_csrc).unwrap().payload_len,
            12,
            "two CSRCs come off the payload"
        );
    }

    #[test]
    fn gaps_count_as_loss_and_wraps_do_not() {
        let mut s = ReceiveStats::new(&header(65_530, 0), 0);
        for seq in [65_530u16, 65_531, 65_533, 65_535, 0, 1, 3] {
            s.receive(&header(seq, 0), 0, 90_000);
        }
        assert_eq!(s.packets, 7);
        assert_eq!(s.expected(), 10, "65530..=65535 then 0..=3");
        assert_eq!(s.lost(), 3);
        assert_eq!(s.bytes, 700);
        s.receive(&header(1, 0), 0, 90_000);
        assert_eq!(s.lost(), 2, "a duplicate offsets a loss, as RTCP counts it");
    }

    #[test]
    fn steady_packets_have_no_jitter_and_late_ones_do() {
        let mut s = ReceiveStats::new(&header(0, 0), 0);
        for i in 0..50u16 {
            s.receive(&header(i, u32::from(i) * 1_800), u64::from(i) * 20, 90_000);
        }
        assert_eq!(s.jitter_seconds(90_000), 0.0);
        for i in 50..100u16 {
            let late = if i % 2 == 0 { 10 } else { 0 };
            s.receive(
                &header(i, u32::from(i) * 1_800),
                u64::from(i) * 20 + late,
                90_000,
            );
        }
        let j = s.jitter_seconds(90_000);
        assert!(
            j > 0.005 && j < 0.011,
            "alternating 10 ms lateness: jitter {j}"
        );
    }

    #[test]
    fn fraction_lost_covers_the_last_interval() {
        let mut s = ReceiveStats::new(&header(0, 0), 0);
        // First second: every other packet lost; the boundary packet closes the interval.
        for i in (0..100u16).step_by(2) {
            s.receive(&header(i, 0), u64::from(i) * 10, 90_000);
        }
        s.receive(&header(100, 0), 1_000, 90_000);
        assert_eq!(
            s.fraction_lost(),
            126,
            "50 of 101 expected were lost: 50*256/101"
        );
        for i in 101..=200u16 {
            s.receive(&header(i, 0), 1_000 + u64::from(i - 100) * 10, 90_000);
        }
        assert_eq!(s.fraction_lost(), 0, "no loss in the second interval");
    }
}
