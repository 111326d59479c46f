//! Talking to KMS: wire protocol, JSON-RPC client, reconnect policy, connection pool and typed
//! operations. Knows KMS, not Prometheus.

pub mod client;
pub mod kinds;
pub mod ops;
pub mod pool;
pub mod protocol;
pub mod reconnect;
pub mod redact;
pub mod stats;

pub use client::{ClientError, ClientOptions, Connection, RequestCounter, RequestIds};
pub use ops::{Kms, KmsError, KmsOptions, Op, OpOutcome};
pub use reconnect::{Backoff, wait_before_retry};
