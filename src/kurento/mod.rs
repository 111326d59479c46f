//! Talking to KMS: wire protocol, JSON-RPC client, reconnect policy, connection pool and typed
//! operations. Knows KMS, not Prometheus.

pub(crate) mod bad_frames;
pub mod client;
pub(crate) mod connections;
pub mod deadline;
pub(crate) mod descriptors;
pub mod health;
pub(crate) mod kinds;
pub(crate) mod lenient;
pub(crate) mod ops;
pub mod pool;
#[cfg(test)]
pub(crate) mod proptest_support;
pub mod protocol;
pub(crate) mod reconnect;
pub(crate) mod redact;
pub(crate) mod replies;
pub mod sdp;
pub(crate) mod stats;
pub(crate) mod transaction;

pub use client::{ClientError, ClientOptions, Connection, RequestCounter, RequestIds, ResultText};
pub use ops::{Kms, KmsError, KmsOptions};
pub use reconnect::{Backoff, wait_before_retry};
pub use transaction::{Op, OpDecoder, OpOutcome};
