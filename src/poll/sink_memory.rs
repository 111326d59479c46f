//! The sink connections each element answered last cycle, by a digest of the answer's text, so
//! an answer that has not changed is not decoded again: the links of a pipeline change when the
//! application connects or disconnects something, not every cycle, and in a meeting they are a
//! fifth of the reply bytes of every WebRTC endpoint (BENCHMARKS.md, the fleet case).
//!
//! Only the digest is kept, never the text (at 10,000 endpoints the texts would be about 15 MB);
//! the decoded connections are shared with the topology that shows them.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use foldhash::HashMap;
use foldhash::quality::FixedState;

use crate::kurento::connections::SinkConnection;

/// An answer's length and two 64-bit hashes of it under different seeds. Two different texts of
/// one length share a digest with odds of about 2⁻¹²⁸; it would show last cycle's links for as
/// long as both answers kept coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    len: usize,
    hashes: [u64; 2],
}

impl Digest {
    pub fn of(text: &str) -> Digest {
        let hash = |seed: u64| {
            let mut hasher = FixedState::with_seed(seed).build_hasher();
            hasher.write(text.as_bytes());
            hasher.finish()
        };
        Digest {
            len: text.len(),
            hashes: [hash(0x6b75_7265_6e74_6f31), hash(0x6b75_7265_6e74_6f32)],
        }
    }
}

/// What one element's sink connections answered, decoded.
#[derive(Debug, Clone)]
struct Remembered {
    digest: Digest,
    sinks: Arc<[SinkConnection]>,
}

/// The last decoded sink connections of each element, by element id.
#[derive(Debug, Default)]
pub struct SinkMemory(HashMap<Arc<str>, Remembered>);

impl SinkMemory {
    /// The connections `element` answered before, if its answer had this digest.
    pub fn recall(&self, element: &str, digest: Digest) -> Option<Arc<[SinkConnection]>> {
        self.0
            .get(element)
            .filter(|r| r.digest == digest)
            .map(|r| Arc::clone(&r.sinks))
    }

    pub fn remember(&mut self, element: Arc<str>, digest: Digest, sinks: Arc<[SinkConnection]>) {
        self.0.insert(element, Remembered { digest, sinks });
    }

    /// Adds what another part of the cycle remembered.
    pub fn extend(&mut self, other: SinkMemory) {
        self.0.extend(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_answer_is_recalled_and_a_changed_one_is_not() {
        let answer = r#"[{"source":"p/a","sink":"p/b","type":"AUDIO"}]"#;
        let sinks: Arc<[SinkConnection]> = vec![SinkConnection::new("p/b", "AUDIO")].into();
        let mut memory = SinkMemory::default();
        memory.remember(Arc::from("p/a"), Digest::of(answer), Arc::clone(&sinks));
        let recalled = memory.recall("p/a", Digest::of(answer)).unwrap();
        assert!(Arc::ptr_eq(&recalled, &sinks), "shared, not copied");
        let changed = r#"[{"source":"p/a","sink":"p/c","type":"AUDIO"}]"#;
        assert_eq!(changed.len(), answer.len());
        assert!(memory.recall("p/a", Digest::of(changed)).is_none());
        assert!(memory.recall("p/b", Digest::of(answer)).is_none());
        assert_ne!(Digest::of("[]"), Digest::of("[ ]"));
    }
}
