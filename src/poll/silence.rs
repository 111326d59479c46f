//! The silence detector of one poll cycle. The first read of a cycle that gets no reply within
//! its timeout means KMS has gone silent (a hung process, a half-open socket): the rest of the
//! cycle is abandoned at once, instead of waiting out one more timeout per round of reads still to
//! send, so the cycle can publish `up 0` one timeout after KMS stopped answering.

use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

use crate::kurento::{ClientError, KmsError};

/// Whether a read failed for want of a reply (as opposed to an answer that was an error).
pub fn is_timeout(err: &KmsError) -> bool {
    matches!(err.source, ClientError::Timeout { .. })
}

/// Shared by the concurrent reads of one cycle.
#[derive(Debug, Default)]
pub struct Silence {
    fired: CancellationToken,
    /// The read that timed out first.
    first: Mutex<Option<KmsError>>,
}

impl Silence {
    pub fn new() -> Self {
        Self::default()
    }

    /// Passes a read's result through; a timeout in it declares KMS silent.
    pub fn check<T>(&self, result: Result<T, KmsError>) -> Result<T, KmsError> {
        if let Err(err) = &result
            && is_timeout(err)
        {
            // Only a `take` or a `get_or_insert` runs under this lock: a poisoned lock still
            // holds a consistent value.
            let mut first = self.first.lock().unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert_with(|| err.clone());
            self.fired.cancel();
        }
        result
    }

    /// Runs `reads` unless KMS is found silent first (then `None`: they are dropped, and their
    /// calls with them).
    pub async fn unless_silent<F: Future>(&self, reads: F) -> Option<F::Output> {
        self.fired.run_until_cancelled(reads).await
    }

    pub fn is_silent(&self) -> bool {
        self.fired.is_cancelled()
    }

    /// The read that timed out first, if any did.
    pub fn first_timeout(&self) -> Option<KmsError> {
        self.first
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(operation: &str, source: ClientError) -> Result<(), KmsError> {
        Err(KmsError {
            operation: operation.into(),
            object: None,
            source,
        })
    }

    fn timeout() -> ClientError {
        ClientError::Timeout {
            method: "invoke".into(),
        }
    }

    #[tokio::test]
    async fn the_first_timeout_abandons_the_other_reads() {
        let silence = Silence::new();
        assert!(silence.check(Ok(1)).is_ok());
        let _ = silence.check(failed("getName", ClientError::Disconnected));
        assert!(
            !silence.is_silent(),
            "an answer that is an error is not silence"
        );
        assert_eq!(silence.unless_silent(async { 7 }).await, Some(7));

        let _ = silence.check(failed("getUsedMemory", timeout()));
        let _ = silence.check(failed("getSessions", timeout()));
        assert!(silence.is_silent());
        assert_eq!(
            silence.first_timeout().map(|e| e.operation),
            Some("getUsedMemory".to_owned())
        );
        let never = std::future::pending::<()>();
        assert_eq!(silence.unless_silent(never).await, None);
    }
}
