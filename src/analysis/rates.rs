//! Per-stream rates between two cycles (bitrate, packets, NACK/PLI/FIR per second) for the
//! inspection API: the change of each stream's cumulative counters over the time between the
//! readings. Pure: the poller keeps the last sample and hands in each new cycle's readings.

use std::collections::HashMap;

use super::model::{Direction, ElementReading, RtpStream};

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

/// A stream's identity across cycles: its element, stats id and direction.
type StreamKey = (String, String, Option<Direction>);

/// The cumulative counters of a stream when last read.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at_unix_seconds: f64,
    bytes: u64,
    packets: u64,
    nacks: u64,
    plis: u64,
    firs: u64,
}

impl Sample {
    fn of(stream: &RtpStream, at_unix_seconds: f64) -> Sample {
        Sample {
            at_unix_seconds,
            bytes: stream.bytes,
            packets: stream.packets,
            nacks: stream.nacks,
            plis: stream.plis,
            firs: stream.firs,
        }
    }
}

/// The last sample of every live stream.
#[derive(Debug, Clone, Default)]
pub struct StreamSamples {
    last: HashMap<StreamKey, Sample>,
}

impl StreamSamples {
    /// The rates of every stream of `readings` (in the order of each reading's streams), read at
    /// `now`; remembers these samples and forgets streams that are gone.
    pub fn observe(&mut self, readings: &[ElementReading], now: f64) -> Vec<Vec<StreamRates>> {
        let mut next = HashMap::with_capacity(self.last.len());
        let rates = readings
            .iter()
            .map(|reading| {
                reading
                    .streams
                    .iter()
                    .map(|stream| {
                        let key = (
                            reading.id.clone(),
                            stream.stats_id.clone(),
                            stream.direction,
                        );
                        let sample = Sample::of(stream, now);
                        let rates = self
                            .last
                            .get(&key)
                            .map(|before| rates_between(before, &sample))
                            .unwrap_or_default();
                        next.insert(key, sample);
                        rates
                    })
                    .collect()
            })
            .collect();
        self.last = next;
        rates
    }

    /// Forgets everything (the connection to KMS is gone: the next readings start afresh).
    pub fn clear(&mut self) {
        self.last.clear();
    }
}

fn rates_between(before: &Sample, after: &Sample) -> StreamRates {
    let seconds = after.at_unix_seconds - before.at_unix_seconds;
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

    fn reading(id: &str, streams: &[(&str, u64, u64)]) -> ElementReading {
        ElementReading {
            id: id.to_owned(),
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
        let mut samples = StreamSamples::default();
        let first = samples.observe(&[reading("e", &[("s1", 1_000, 100)])], 100.0);
        assert_eq!(
            first,
            vec![vec![StreamRates::default()]],
            "nothing to compare yet"
        );
        let second = samples.observe(&[reading("e", &[("s1", 21_000, 300)])], 110.0);
        let r = second[0][0];
        // 20,000 bytes in 10 s = 16 kbit/s; 200 packets in 10 s.
        assert_eq!(r.bits_per_second, Some(16_000.0));
        assert_eq!(r.packets_per_second, Some(20.0));
        assert_eq!(r.nacks_per_second, Some(0.2));
    }

    #[test]
    fn a_counter_going_back_or_no_time_passing_gives_no_rate() {
        let mut samples = StreamSamples::default();
        samples.observe(&[reading("e", &[("s1", 5_000, 50)])], 100.0);
        let back = samples.observe(&[reading("e", &[("s1", 10, 1)])], 110.0);
        assert_eq!(back[0][0].bits_per_second, None);
        let same_time = samples.observe(&[reading("e", &[("s1", 20, 2)])], 110.0);
        assert_eq!(same_time[0][0], StreamRates::default());
    }

    #[test]
    fn a_stream_that_left_starts_afresh_when_it_comes_back() {
        let mut samples = StreamSamples::default();
        samples.observe(&[reading("e", &[("s1", 1_000, 10)])], 100.0);
        samples.observe(&[reading("e", &[])], 110.0);
        let back = samples.observe(&[reading("e", &[("s1", 9_000, 90)])], 120.0);
        assert_eq!(back[0][0], StreamRates::default());
        // Another element's stream with the same stats id is another stream.
        let other = samples.observe(
            &[
                reading("e", &[("s1", 9_000, 90)]),
                reading("f", &[("s1", 0, 0)]),
            ],
            130.0,
        );
        assert_eq!(other[0][0].bits_per_second, Some(0.0));
        assert_eq!(other[1][0], StreamRates::default());
    }
}
