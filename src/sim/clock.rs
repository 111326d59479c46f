//! The media clock: the time media stats evolve on. It follows the wall clock unless a test
//! freezes it (`Simulator::freeze_media`) and moves it by hand (`Simulator::advance_media`).

/// Media time = wall time + offset, or a fixed instant while frozen (epoch milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MediaClock {
    offset_ms: i64,
    frozen_at: Option<u64>,
}

impl MediaClock {
    pub fn now(&self, wall_ms: u64) -> u64 {
        self.frozen_at
            .unwrap_or_else(|| wall_ms.saturating_add_signed(self.offset_ms))
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen_at.is_some()
    }

    pub fn freeze(&mut self, wall_ms: u64) {
        self.frozen_at = Some(self.now(wall_ms));
    }

    /// Runs on from where it stands (no jump to the wall clock).
    pub fn resume(&mut self, wall_ms: u64) {
        if let Some(at) = self.frozen_at.take() {
            self.offset_ms = at as i64 - wall_ms as i64;
        }
    }

    /// Moves media time forward by `by_ms` (frozen or not).
    pub fn advance(&mut self, by_ms: u64) {
        match &mut self.frozen_at {
            Some(at) => *at += by_ms,
            None => self.offset_ms += by_ms as i64,
        }
    }

    /// The wall instant at which media time reaches `media_ms`; `None` while frozen.
    pub fn wall_at(&self, media_ms: u64) -> Option<u64> {
        if self.frozen_at.is_some() {
            return None;
        }
        Some(media_ms.saturating_add_signed(-self.offset_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freeze_advance_resume() {
        let mut c = MediaClock::default();
        assert_eq!(c.now(1_000), 1_000);
        c.freeze(1_000);
        assert_eq!(c.now(5_000), 1_000, "frozen");
        assert_eq!(c.wall_at(2_000), None);
        c.advance(250);
        assert_eq!(c.now(9_000), 1_250);
        c.resume(10_000);
        assert_eq!(c.now(10_000), 1_250, "resumes where it stood");
        assert_eq!(c.now(10_100), 1_350);
        assert_eq!(c.wall_at(1_350), Some(10_100));
        c.advance(50);
        assert_eq!(c.now(10_100), 1_400);
    }
}
