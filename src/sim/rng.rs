//! Seeded, dependency-free randomness so a scenario replays identically (SplitMix64).

/// A SplitMix64 generator: tiny, fast and good enough for ids and jitter.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A version-4 UUID drawn from this generator.
    pub fn uuid(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

/// The SplitMix64 finaliser: a stateless hash of one word.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic number in [0, 1) from a few words (for values that wobble over time).
pub fn unit(words: &[u64]) -> f64 {
    let h = words
        .iter()
        .fold(0x5EED_u64, |acc, w| mix(acc ^ w.wrapping_mul(0x9E37_79B9)));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        assert_eq!(a.uuid(), b.uuid());
        assert_ne!(Rng::new(1).uuid(), Rng::new(2).uuid());
        let id = Rng::new(3).uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn unit_is_in_range_and_deterministic() {
        for i in 0..1000 {
            let u = unit(&[i, 7]);
            assert!((0.0..1.0).contains(&u));
            assert_eq!(u, unit(&[i, 7]));
        }
    }
}
