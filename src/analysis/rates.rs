//! Per-stream rates between two cycles (bitrate, packets, NACK/PLI/FIR per second) for the
//! inspection API: the change of each stream's cumulative counters since the same element's
//! reading of the previous cycle (which the topology keeps anyway, so no other state is held).
//! Pure.

use super::model::{ElementReading, RtpStream};

/// Rates of one stream since the previous cycle; `None` on its first cycle, after a counter
/// went backwards (a new SSRC reusing the id, a KMS restart) or when no time passed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StreamRates {
    pub bits_per_second: Option<f64>,
    pub packets_per_second: Option<f64>,
    pub nacks_per_second: Option<f64>,
    pub plis_per_second: Option<f64>,
    pub firs_per_second: Option<f64>,
}

/// The rates of every stream of `reading` (in order) against `previous`, the same element's
/// reading `seconds` earlier (`None` when the element was not read then). A stream is the same
/// stream when its stats id and direction are (a new SSRC gets a new stats id).
pub fn stream_rates(
    reading: &ElementReading,
    previous: Option<&ElementReading>,
    seconds: f64,
) -> Vec<StreamRates> {
    reading
        .streams
        .iter()
        .map(|stream| {
            previous
                .and_then(|p| {
                    p.streams.iter().find(|before| {
                        before.stats_id == stream.stats_id && before.direction == stream.direction
                    })
                })
                .map(|before| rates_between(before, stream, seconds))
                .unwrap_or_default()
        })
        .collect()
}

fn rates_between(before: &RtpStream, after: &RtpStream, seconds: f64) -> StreamRates {
    // NaN (a clock read wrong) fails too.
    if seconds.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return StreamRates::default();
    }
    let per_second = |b: u64, a: u64| a.checked_sub(b).map(|d| d as f64 / seconds);
    StreamRates {
        bits_per_second: per_second(before.bytes, after.bytes).map(|b| b * 8.0),
        packets_per_second: per_second(before.packets, after.packets),
        nacks_per_second: per_second(before.nacks, after.nacks),
        plis_per_second: per_second(before.plis, after.plis),
        firs_per_second: per_second(before.firs, after.firs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::model::Direction;

    fn reading(id: &str, streams: &[(&str, u64, u64)]) -> ElementReading {
        ElementReading {
            id: id.into(),
            streams: streams
                .iter()
                .map(|(stats_id, bytes, packets)| RtpStream {
                    stats_id: (*stats_id).to_owned(),
                    direction: Some(Direction::Inbound),
                    bytes: *bytes,
                    packets: *packets,
                    nacks: packets / 100,
                    ..RtpStream::default()
                })
                .collect(),
            ..ElementReading::default()
        }
    }

    #[test]
    fn rates_are_counter_deltas_over_the_time_between_cycles() {
        let first = reading("e", &[("s1", 1_000, 100)]);
        assert_eq!(
            stream_rates(&first, None, 10.0),
            vec![StreamRates::default()],
            "nothing to compare yet"
        );
        let second = reading("e", &[("s1", 21_000, 300)]);
        let r = stream_rates(&second, Some(&first), 10.0)[0];
        // 20,000 bytes in 10 s = 16 kbit/s; 200 packets in 10 s.
        assert_eq!(r.bits_per_second, Some(16_000.0));
        assert_eq!(r.packets_per_second, Some(20.0));
        assert_eq!(r.nacks_per_second, Some(0.2));
    }

    #[test]
    fn a_counter_going_back_or_no_time_passing_gives_no_rate() {
        let before = reading("e", &[("s1", 5_000, 50)]);
        let back = stream_rates(&reading("e", &[("s1", 10, 1)]), Some(&before), 10.0);
        assert_eq!(back[0].bits_per_second, None);
        assert_eq!(back[0].nacks_per_second, Some(0.0), "0 NACKs then and now");
        let same_time = stream_rates(&reading("e", &[("s1", 6_000, 60)]), Some(&before), 0.0);
        assert_eq!(same_time[0], StreamRates::default());
        let nan = stream_rates(&reading("e", &[("s1", 6_000, 60)]), Some(&before), f64::NAN);
        assert_eq!(nan[0], StreamRates::default());
    }

    #[test]
    fn a_stream_is_matched_by_stats_id_and_direction() {
        let before = reading("e", &[("s1", 1_000, 10), ("s2", 0, 0)]);
        let mut now = reading(
            "e",
            &[("s2", 800, 20), ("s3", 5_000, 50), ("s1", 2_000, 20)],
        );
        now.streams[2].direction = Some(Direction::Outbound);
        let rates = stream_rates(&now, Some(&before), 1.0);
        assert_eq!(
            rates[0].bits_per_second,
            Some(6_400.0),
            "s2 matched out of order"
        );
        assert_eq!(rates[1], StreamRates::default(), "s3 is new");
        assert_eq!(
            rates[2],
            StreamRates::default(),
            "s1 outbound is another stream"
        );
    }
}
