//! What each element answered last cycle to the reads whose answers rarely change, by a digest
//! of the answer's text, so that an answer that has not changed is not decoded again. The links
//! of a pipeline change when the application connects or disconnects something, and an
//! endpoint's selected candidate pairs when ICE restarts, not every cycle; in a meeting the sink
//! connections are a fifth of the reply bytes of every WebRTC endpoint, and the candidate lines
//! take parsing (BENCHMARKS.md, the fleet case).
//!
//! Only the digest is kept, never the text (at 10,000 endpoints the texts would be about 15 MB);
//! what was decoded is shared with the reading that shows it.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use foldhash::HashMap;
use foldhash::quality::FixedState;

use crate::poll::plan::Read;

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

/// The last decoded answer `A` of each element to each remembered read, with its digest.
#[derive(Debug)]
pub struct AnswerMemory<A>(HashMap<(Arc<str>, Read), (Digest, A)>);

impl<A> Default for AnswerMemory<A> {
    fn default() -> Self {
        AnswerMemory(HashMap::default())
    }
}

impl<A: Clone> AnswerMemory<A> {
    /// What `element` answered to `read` before, if that answer had this digest.
    pub fn recall(&self, element: &Arc<str>, read: Read, digest: Digest) -> Option<A> {
        // The key is looked up by its parts' values: cloning the `Arc` only bumps a count.
        self.0
            .get(&(Arc::clone(element), read))
            .filter(|(remembered, _)| *remembered == digest)
            .map(|(_, answer)| answer.clone())
    }

    pub fn remember(&mut self, element: Arc<str>, read: Read, digest: Digest, answer: A) {
        self.0.insert((element, read), (digest, answer));
    }

    /// Adds what another part of the cycle remembered.
    pub fn extend(&mut self, other: AnswerMemory<A>) {
        self.0.extend(other.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_answer_is_recalled_and_a_changed_one_is_not() {
        let answer = r#"[{"source":"p/a","sink":"p/b","type":"AUDIO"}]"#;
        let element: Arc<str> = Arc::from("p/a");
        let decoded: Arc<[&str]> = vec!["p/b"].into();
        let mut memory = AnswerMemory::default();
        let read = Read::SinkConnections;
        memory.remember(
            Arc::clone(&element),
            read,
            Digest::of(answer),
            Arc::clone(&decoded),
        );
        let recalled = memory.recall(&element, read, Digest::of(answer)).unwrap();
        assert!(Arc::ptr_eq(&recalled, &decoded), "shared, not copied");
        let changed = r#"[{"source":"p/a","sink":"p/c","type":"AUDIO"}]"#;
        assert_eq!(changed.len(), answer.len());
        assert!(memory.recall(&element, read, Digest::of(changed)).is_none());
        assert!(
            memory
                .recall(&Arc::from("p/b"), read, Digest::of(answer))
                .is_none()
        );
        let other_read = Read::CandidatePairs;
        assert!(
            memory
                .recall(&element, other_read, Digest::of(answer))
                .is_none()
        );
        assert_ne!(Digest::of("[]"), Digest::of("[ ]"));
    }
}
