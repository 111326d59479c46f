//! What a connection does with frames it cannot decode: count them, log them without flooding the
//! log, and give up on a connection that keeps sending them. One KMS sending 20,000 bad frames
//! once wrote 4.6 MB of log lines, one per frame. Pure: time is passed in.

use std::time::Duration;

use tokio::time::Instant;

use super::deadline;

/// A connection that sends more bad frames than this is dropped (and reconnected by the poller):
/// KMS never sends them, so whatever sends them is not a KMS worth reading.
pub const MAX_BAD_FRAMES: u64 = 100;
/// At most one log line per connection this often; the lines in between are counted.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// What to do about one more bad frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Log it, saying how many were not logged since the last line.
    Log { suppressed: u64 },
    /// Count it only.
    Quiet,
    /// Too many: drop the connection.
    Drop,
}

/// The bad frames of one connection.
#[derive(Debug, Default)]
pub struct BadFrames {
    seen: u64,
    next_log: Option<Instant>,
    suppressed: u64,
}

impl BadFrames {
    /// Records one bad frame received at `now`.
    pub fn record(&mut self, now: Instant) -> Verdict {
        self.seen += 1;
        if self.seen > MAX_BAD_FRAMES {
            return Verdict::Drop;
        }
        match self.next_log {
            Some(at) if now < at => {
                self.suppressed += 1;
                Verdict::Quiet
            }
            _ => {
                self.next_log = Some(deadline::after(now, LOG_EVERY));
                Verdict::Log {
                    suppressed: std::mem::take(&mut self.suppressed),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_a_minute_then_the_connection_is_dropped() {
        let start = Instant::now();
        let mut bad = BadFrames::default();
        let second = Duration::from_secs(1);
        // 100 frames over 100 s: logged at 0 s and at 60 s (saying 59 were not), the rest quiet.
        let verdicts: Vec<Verdict> = (0..100).map(|i| bad.record(start + second * i)).collect();
        let logged: Vec<(usize, Verdict)> = verdicts
            .into_iter()
            .enumerate()
            .filter(|(_, v)| *v != Verdict::Quiet)
            .collect();
        assert_eq!(
            logged,
            vec![
                (0, Verdict::Log { suppressed: 0 }),
                (60, Verdict::Log { suppressed: 59 })
            ]
        );
        assert_eq!(bad.record(start + second * 100), Verdict::Drop);
    }
}
