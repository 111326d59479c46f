//! The `rate_limit` of the exporter-toolkit web configuration: a token bucket over all requests
//! (one token per `interval`, at most `burst` saved up, full at start), like Go's
//! `rate.Limiter.Allow`. A request without a token gets 429. Pure: time is passed in.

use std::time::Duration;

use tokio::time::Instant;

/// Rate-limit settings; validated by the configuration (`interval > 0`, `burst >= 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub interval: Duration,
    pub burst: u32,
}

#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(limit: RateLimit, now: Instant) -> Self {
        TokenBucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
        }
    }

    /// Takes a token if one is available at `now`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = self.last.max(now);
        if !self.limit.interval.is_zero() {
            let earned = elapsed.as_secs_f64() / self.limit.interval.as_secs_f64();
            self.tokens = (self.tokens + earned).min(f64::from(self.limit.burst));
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut bucket = TokenBucket::new(
            RateLimit {
                interval: Duration::from_millis(100),
                burst: 2,
            },
            t0,
        );
        // (time in ms, allowed)
        let steps = [
            (0, true),
            (0, true),
            (0, false),
            (50, false),
            (100, true),
            (150, false),
            (1_000, true),
            (1_000, true),
            (1_000, false),
        ];
        for (at, want) in steps {
            assert_eq!(bucket.allow(ms(at)), want, "at {at} ms");
        }
    }
}
